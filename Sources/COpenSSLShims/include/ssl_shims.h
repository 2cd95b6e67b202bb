#ifndef VEIL_SSL_SHIMS_H
#define VEIL_SSL_SHIMS_H
// OpenSSL SSL/BIO macros as functions, for the handshake engine.
#include <openssl/ssl.h>

void veil_BIO_set_retry_read(BIO *b);
void veil_BIO_set_retry_write(BIO *b);
void veil_BIO_clear_retry_flags(BIO *b);
int veil_SSL_set_tlsext_host_name(SSL *s, const char *name);
int veil_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int veil_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
int veil_SSL_set_max_proto_version(SSL *s, int version);
long veil_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
int veil_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
long veil_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
int veil_SSL_get_ex_new_index(void);
/// Options Veil sets on every context: no compression, no renegotiation, no TLS < 1.2.
uint64_t veil_ssl_default_options(void);
/// The client-facing context picks the TLS 1.3 suite by its own order (cheaper SHA-256 key
/// schedule first), except that a client preferring ChaCha20 (no AES hardware) gets ChaCha20.
uint64_t veil_ssl_server_preference_options(void);
extern const long veil_ssl_mode_release_buffers;
extern const long veil_ssl_mode_partial_write;
extern const long veil_ssl_sess_cache_client_only;
extern const int veil_bio_type_veil;

#endif
