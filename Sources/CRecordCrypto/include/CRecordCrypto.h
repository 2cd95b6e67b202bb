#ifndef CRECORDCRYPTO_H
#define CRECORDCRYPTO_H
// Veil's own TLS cryptography in C over libcrypto (OpenSSL 3's EVP): not wrappers, code of
// Veil's own, kept in C because it runs per record or per handshake and must not allocate.
// - record_cipher.h: sealing and opening whole TLS records after the handshake (the userspace
//   record layer where the kernel has no kTLS), and opening one record as a check.
// - key_schedule.h: the keys a session's records are protected with (TLS 1.3
//   HKDF-Expand-Label, the TLS 1.2 key block, traffic secrets from OpenSSL's key log lines).
// Used by VeilTLS only.
#include "record_cipher.h"
#include "key_schedule.h"
#endif
