#ifndef VEIL_KTLS_SHIMS_H
#define VEIL_KTLS_SHIMS_H
// Kernel TLS (linux/tls.h): attach the ULP, install keys, and move control records.
#include <stdint.h>
#include <stddef.h>

/// Attaches the "tls" ULP to an ESTABLISHED TCP socket. 0 or -errno (ENOENT: no kTLS).
int veil_ktls_attach(int fd);

/// Installs one direction (tx != 0: transmit, else receive) of kTLS on `fd`.
/// version: 0x0303 or 0x0304. cipher: 0 AES-128-GCM, 1 AES-256-GCM, 2 ChaCha20-Poly1305.
/// key: 16/32/32 bytes. iv: the 12-byte write IV (AES-GCM: salt = iv[0..4], iv = iv[4..12] for
/// TLS 1.3; for TLS 1.2 AES-GCM, salt = iv[0..4] and the explicit nonce starts at iv[4..12]).
/// seq: the next record's sequence number. Returns 0 or -errno.
int veil_ktls_install(int fd, int tx, uint16_t version, int cipher,
                      const uint8_t *key, const uint8_t *iv, uint64_t seq);

/// recvmsg one record from a kTLS RX socket with its content type (TLS_GET_RECORD_TYPE).
/// Returns bytes read or -errno; *type gets the record type (23 for application data).
long veil_ktls_recv_record(int fd, void *buffer, size_t length, uint8_t *type);

/// sendmsg one record of `type` (e.g. 21 alert) on a kTLS TX socket. Returns bytes or -errno.
long veil_ktls_send_record(int fd, const void *buffer, size_t length, uint8_t type);

#endif

#ifndef VEIL_KTLS_KDF
#define VEIL_KTLS_KDF
/// TLS 1.3 HKDF-Expand-Label(secret, "tls13 " + label, "", out_len) with `digest` ("SHA256",
/// "SHA384"). Returns 1 on success.
int veil_hkdf_expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
                           const char *label, uint8_t *out, size_t out_len);
/// A key log line's TLS 1.3 application traffic secret: 1 for CLIENT_TRAFFIC_SECRET_0, 2 for
/// SERVER_TRAFFIC_SECRET_0 (the secret, hex-decoded, in out[0..*out_len], at most 64 bytes),
/// 0 for any other line.
int veil_traffic_secret(const char *line, uint8_t *out, size_t *out_len);
/// TLS 1.2 key block: PRF(master, "key expansion", server_random + client_random). 1 on success.
int veil_tls12_key_block(const char *digest, const uint8_t *master, size_t master_len,
                         const uint8_t client_random[32], const uint8_t server_random[32],
                         uint8_t *out, size_t out_len);
/// AEAD open (for tests and diagnostics): cipher 0 AES-128-GCM, 1 AES-256-GCM, 2 ChaCha20-Poly1305;
/// 12-byte nonce; ciphertext includes the 16-byte tag. Returns plaintext length or -1.
long veil_aead_open(int cipher, const uint8_t *key, const uint8_t nonce[12], const uint8_t *aad,
                    size_t aad_len, const uint8_t *ciphertext, size_t length, uint8_t *out);
#endif

#ifndef VEIL_KTLS_MESSAGES
#define VEIL_KTLS_MESSAGES
struct io_uring_sqe;
/// One TLS record with its type, for io_uring recvmsg/sendmsg on a kTLS socket.
struct veil_tls_message;
struct veil_tls_message *veil_tls_message_new(void);
void veil_tls_message_free(struct veil_tls_message *m);
/// Prepares a recvmsg of one record (at most 16 KiB + 256) with a control buffer for its type.
void veil_prep_tls_recvmsg(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m);
/// The same with recvmsg flags of the caller's choice (0: wait for a record).
void veil_prep_tls_recvmsg_flags(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m, int flags);
/// The record type of the last recvmsg (23 when the kernel gave no cmsg).
uint8_t veil_tls_message_type(const struct veil_tls_message *m);
uint8_t *veil_tls_message_data(struct veil_tls_message *m);
/// Prepares a sendmsg of `length` bytes of `data` (copied in) as one record of `type`.
void veil_prep_tls_sendmsg(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m, uint8_t type,
                           const uint8_t *data, size_t length);
#endif
