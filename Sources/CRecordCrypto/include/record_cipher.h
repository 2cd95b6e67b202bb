#ifndef VEIL_RECORD_CIPHER_H
#define VEIL_RECORD_CIPHER_H
// Veil's own TLS record protection after the handshake (userspace, where the kernel has no kTLS):
// one direction of one session, sealing or opening whole records in place, with no copies.
#include <stdint.h>
#include <stddef.h>

struct veil_record_cipher;

/// seal != 0: this direction writes records; else it reads them. version 0x0303 or 0x0304.
/// cipher: 0 AES-128-GCM, 1 AES-256-GCM, 2 ChaCha20-Poly1305; key: 16/32/32 bytes.
/// iv: 12 bytes (TLS 1.2 AES-GCM: only the 4-byte salt in iv[0..4] is used; the explicit nonce
/// is the sequence number). seq: the next record's sequence number. NULL on failure.
struct veil_record_cipher *veil_record_cipher_new(int seal, uint16_t version, int cipher,
                                                  const uint8_t *key, const uint8_t iv[12], uint64_t seq);
void veil_record_cipher_free(struct veil_record_cipher *c);
/// New key and IV (a TLS 1.3 KeyUpdate); the sequence number starts again at 0. 1 on success.
int veil_record_cipher_rekey(struct veil_record_cipher *c, const uint8_t *key, const uint8_t iv[12]);
uint64_t veil_record_cipher_sequence(const struct veil_record_cipher *c);

/// Most a record adds to its plaintext: header 5, TLS 1.2 explicit nonce 8, TLS 1.3 inner type 1,
/// tag 16.
#define VEIL_RECORD_MAX_OVERHEAD 30

/// Seals `length` bytes (at most 16384) of content `type` as one whole record, header included,
/// at `out` (room for length + VEIL_RECORD_MAX_OVERHEAD; must not overlap `in`). Returns the
/// record's length, or -1.
long veil_record_seal(struct veil_record_cipher *c, uint8_t type, const uint8_t *in, size_t length, uint8_t *out);

/// Opens one whole record (header included, `length` bytes) in place. Returns the plaintext's
/// length, with its content type in *type (TLS 1.3: the inner type) and its offset from the
/// record's start in *offset; or, for the fatal alert the sender gets (RFC 8446 5.2, 5.4):
/// -1 the record does not authenticate (bad_record_mac), -2 it is malformed: too short, or its
/// length does not match its header (decode_error), -3 it is too long (record_overflow), -4 TLS 1.3
/// outer type not application_data, or no inner content type (unexpected_message).
long veil_record_open(struct veil_record_cipher *c, uint8_t *record, size_t length, uint8_t *type, size_t *offset);

/// Opens one record's AEAD body on its own, with no state (the check, in tests and diagnostics,
/// that keys handed to the kernel are right): cipher as above, 12-byte nonce; ciphertext
/// includes the 16-byte tag. Returns the plaintext's length, or -1.
long veil_aead_open(int cipher, const uint8_t *key, const uint8_t nonce[12], const uint8_t *aad,
                    size_t aad_len, const uint8_t *ciphertext, size_t length, uint8_t *out);

/// Seals `length` bytes on their own, with no state (HPKE's AEAD, RFC 9180 5.2): cipher as above,
/// 12-byte nonce; writes the ciphertext and its 16-byte tag to `out` (room for length + 16; may
/// not overlap `plaintext`). Returns length + 16, or -1.
long veil_aead_seal(int cipher, const uint8_t *key, const uint8_t nonce[12], const uint8_t *aad,
                    size_t aad_len, const uint8_t *plaintext, size_t length, uint8_t *out);

#endif
