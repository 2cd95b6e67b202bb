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
