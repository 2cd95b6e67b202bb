#include "COpenSSLShims.h"

void veil_BIO_set_retry_read(BIO *b) { BIO_set_retry_read(b); }
void veil_BIO_set_retry_write(BIO *b) { BIO_set_retry_write(b); }
void veil_BIO_clear_retry_flags(BIO *b) { BIO_clear_retry_flags(b); }
int veil_SSL_set_tlsext_host_name(SSL *s, const char *name) { return (int)SSL_set_tlsext_host_name(s, name); }
int veil_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) { return (int)SSL_CTX_set_min_proto_version(ctx, v); }
int veil_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int v) { return (int)SSL_CTX_set_max_proto_version(ctx, v); }
int veil_SSL_set_max_proto_version(SSL *s, int v) { return (int)SSL_set_max_proto_version(s, v); }
long veil_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
int veil_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
long veil_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
int veil_SSL_get_ex_new_index(void) { return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL); }
uint64_t veil_ssl_default_options(void) {
    return SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
}
uint64_t veil_ssl_server_preference_options(void) {
    return SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA;
}
const long veil_ssl_mode_release_buffers = SSL_MODE_RELEASE_BUFFERS;
const long veil_ssl_mode_partial_write = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
const long veil_ssl_sess_cache_client_only = SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE;
const int veil_bio_type_veil = 0x80 | BIO_TYPE_SOURCE_SINK;
