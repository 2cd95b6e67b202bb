#ifndef VEIL_KEY_SCHEDULE_H
#define VEIL_KEY_SCHEDULE_H
// The keys of a TLS session's records after the handshake, for Veil's record layer and for the
// kernel (kTLS): OpenSSL has no public API that returns them.
#include <stdint.h>
#include <stddef.h>

/// TLS 1.3 HKDF-Expand-Label(secret, "tls13 " + label, "", out_len) with `digest` ("SHA256",
/// "SHA384"). Returns 1 on success.
int veil_hkdf_expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
                           const char *label, uint8_t *out, size_t out_len);
/// HKDF-Extract(salt, ikm) (RFC 5869) with `digest`: digest-size bytes into `out` (salt at most
/// the digest's block size; an empty salt is the RFC's zero salt). Returns 1 on success.
int veil_hkdf_extract(const char *digest, const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len, uint8_t *out);
/// HKDF-Expand(prk, info, out_len) (RFC 5869) with `digest`; out_len at most 255 digest sizes.
/// Returns 1 on success.
int veil_hkdf_expand(const char *digest, const uint8_t *prk, size_t prk_len,
                     const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);
/// A key log line's TLS 1.3 application traffic secret: 1 for CLIENT_TRAFFIC_SECRET_0, 2 for
/// SERVER_TRAFFIC_SECRET_0 (the secret, hex-decoded, in out[0..*out_len], at most 64 bytes),
/// 0 for any other line.
int veil_traffic_secret(const char *line, uint8_t *out, size_t *out_len);
/// TLS 1.2 key block: PRF(master, "key expansion", server_random + client_random). 1 on success.
int veil_tls12_key_block(const char *digest, const uint8_t *master, size_t master_len,
                         const uint8_t client_random[32], const uint8_t server_random[32],
                         uint8_t *out, size_t out_len);

#endif
