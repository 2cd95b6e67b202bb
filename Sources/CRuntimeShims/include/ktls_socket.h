#ifndef VEIL_KTLS_SOCKET_H
#define VEIL_KTLS_SOCKET_H
// Kernel TLS sockets (linux/tls.h): attach the ULP, install keys (socket options), and move
// whole records with their type (recvmsg/sendmsg with a cmsg) through io_uring. The keys come
// from the TLS layer; nothing here does cryptography.
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

struct io_uring_sqe;
/// One TLS record with its type, for io_uring recvmsg/sendmsg on a kTLS socket.
struct veil_tls_message;
struct veil_tls_message *veil_tls_message_new(void);
void veil_tls_message_free(struct veil_tls_message *m);
/// Prepares a recvmsg of one record (at most 16 KiB + 256) with a control buffer for its type;
/// `flags`: recvmsg flags (0: wait for a record; MSG_DONTWAIT: only one already there).
void veil_prep_tls_recvmsg(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m, int flags);
/// The record type of the last recvmsg (23 when the kernel gave no cmsg).
uint8_t veil_tls_message_type(const struct veil_tls_message *m);
uint8_t *veil_tls_message_data(struct veil_tls_message *m);
/// Prepares a sendmsg of `length` bytes of `data` (copied in) as one record of `type`.
void veil_prep_tls_sendmsg(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m, uint8_t type,
                           const uint8_t *data, size_t length);
#endif
