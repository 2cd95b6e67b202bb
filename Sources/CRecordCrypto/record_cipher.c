#include "record_cipher.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

struct veil_record_cipher {
    EVP_CIPHER_CTX *ctx;
    uint64_t seq;
    uint16_t version;
    int cipher;
    int seal;
    uint8_t iv[12];
};

/* Ciphers fetched once: EVP_aes_128_gcm() and friends are fetched again at every init. */
static EVP_CIPHER *ciphers[3];
static pthread_once_t ciphers_once = PTHREAD_ONCE_INIT;
static void fetch_ciphers(void) {
    ciphers[0] = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    ciphers[1] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    ciphers[2] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

static const EVP_CIPHER *aead(int cipher) {
    if (cipher < 0 || cipher > 2) return NULL;
    pthread_once(&ciphers_once, fetch_ciphers);
    return ciphers[cipher];
}

static int set_key(struct veil_record_cipher *c, const uint8_t *key, const uint8_t iv[12]) {
    memcpy(c->iv, iv, 12);
    return EVP_CipherInit_ex(c->ctx, NULL, NULL, key, NULL, c->seal) == 1;
}

struct veil_record_cipher *veil_record_cipher_new(int seal, uint16_t version, int cipher,
                                                  const uint8_t *key, const uint8_t iv[12], uint64_t seq) {
    const EVP_CIPHER *evp = aead(cipher);
    if (!evp || (version != 0x0303 && version != 0x0304)) return NULL;
    struct veil_record_cipher *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ctx = EVP_CIPHER_CTX_new();
    c->seq = seq;
    c->version = version;
    c->cipher = cipher;
    c->seal = seal ? 1 : 0;
    if (!c->ctx || EVP_CipherInit_ex(c->ctx, evp, NULL, NULL, NULL, c->seal) != 1
        || EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 || !set_key(c, key, iv)) {
        veil_record_cipher_free(c);
        return NULL;
    }
    return c;
}

void veil_record_cipher_free(struct veil_record_cipher *c) {
    if (!c) return;
    EVP_CIPHER_CTX_free(c->ctx);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

int veil_record_cipher_rekey(struct veil_record_cipher *c, const uint8_t *key, const uint8_t iv[12]) {
    c->seq = 0;
    return set_key(c, key, iv);
}

uint64_t veil_record_cipher_sequence(const struct veil_record_cipher *c) { return c->seq; }

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

/// TLS 1.3 and ChaCha20 (both versions): the IV XOR the sequence number. TLS 1.2 AES-GCM: the
/// salt, then the explicit nonce (which the record carries).
static int uses_xor_nonce(const struct veil_record_cipher *c) { return c->version == 0x0304 || c->cipher == 2; }

static void xor_nonce(const struct veil_record_cipher *c, uint8_t nonce[12]) {
    uint8_t seq[8];
    put64(seq, c->seq);
    memcpy(nonce, c->iv, 12);
    for (int i = 0; i < 8; i++) nonce[4 + i] ^= seq[i];
}

/// TLS 1.2 additional data: seq_num + type + version + plaintext length.
static void tls12_aad(const struct veil_record_cipher *c, uint8_t aad[13], uint8_t type, size_t length) {
    put64(aad, c->seq);
    aad[8] = type;
    aad[9] = 3;
    aad[10] = 3;
    aad[11] = (uint8_t)(length >> 8);
    aad[12] = (uint8_t)length;
}

long veil_record_seal(struct veil_record_cipher *c, uint8_t type, const uint8_t *in, size_t length, uint8_t *out) {
    if (!c->seal || length > 16384) return -1;
    EVP_CIPHER_CTX *ctx = c->ctx;
    uint8_t nonce[12];
    int n = 0;
    size_t body;          /* ciphertext bytes after the header, tag included */
    uint8_t *cipher_out;  /* where the encrypted plaintext starts */
    if (c->version == 0x0304) {
        body = length + 1 + 16;
        out[0] = 23;
        cipher_out = out + 5;
    } else {
        body = (uses_xor_nonce(c) ? 0 : 8) + length + 16;
        out[0] = type;
        cipher_out = out + 5 + (uses_xor_nonce(c) ? 0 : 8);
    }
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(body >> 8);
    out[4] = (uint8_t)body;
    if (uses_xor_nonce(c)) {
        xor_nonce(c, nonce);
    } else {
        memcpy(nonce, c->iv, 4);
        put64(nonce + 4, c->seq);
        memcpy(out + 5, nonce + 4, 8);
    }
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 1) != 1) return -1;
    if (c->version == 0x0304) {
        if (EVP_EncryptUpdate(ctx, NULL, &n, out, 5) != 1
            || EVP_EncryptUpdate(ctx, cipher_out, &n, in, (int)length) != 1
            || EVP_EncryptUpdate(ctx, cipher_out + length, &n, &type, 1) != 1) return -1;
        length += 1;
    } else {
        uint8_t aad[13];
        tls12_aad(c, aad, type, length);
        if (EVP_EncryptUpdate(ctx, NULL, &n, aad, 13) != 1
            || EVP_EncryptUpdate(ctx, cipher_out, &n, in, (int)length) != 1) return -1;
    }
    if (EVP_EncryptFinal_ex(ctx, cipher_out + length, &n) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, cipher_out + length) != 1) return -1;
    c->seq++;
    return (long)(5 + body);
}

long veil_record_open(struct veil_record_cipher *c, uint8_t *record, size_t length, uint8_t *type, size_t *offset) {
    if (c->seal || length < 5) return -2;
    size_t body = ((size_t)record[3] << 8) | record[4];
    if (body + 5 != length) return -2;
    EVP_CIPHER_CTX *ctx = c->ctx;
    uint8_t nonce[12];
    int n = 0;
    size_t start = 5, plain;
    if (c->version == 0x0304) {
        if (record[0] != 23) return -4;
        if (body > 16384 + 256) return -3;
        if (body < 17) return -2;
        plain = body - 16;
        xor_nonce(c, nonce);
    } else if (uses_xor_nonce(c)) {
        if (body > 16384 + 2048) return -3;
        if (body < 16) return -2;
        plain = body - 16;
        xor_nonce(c, nonce);
    } else {
        if (body > 16384 + 2048) return -3;
        if (body < 8 + 16) return -2;
        plain = body - 8 - 16;
        memcpy(nonce, c->iv, 4);
        memcpy(nonce + 4, record + 5, 8);
        start = 5 + 8;
    }
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) != 1) return -1;
    if (c->version == 0x0304) {
        if (EVP_DecryptUpdate(ctx, NULL, &n, record, 5) != 1) return -1;
    } else {
        uint8_t aad[13];
        tls12_aad(c, aad, record[0], plain);
        if (EVP_DecryptUpdate(ctx, NULL, &n, aad, 13) != 1) return -1;
    }
    uint8_t *p = record + start;
    if (EVP_DecryptUpdate(ctx, p, &n, p, (int)plain) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, p + plain) != 1
        || EVP_DecryptFinal_ex(ctx, p + plain, &n) != 1) return -1;
    c->seq++;
    *offset = start;
    if (c->version == 0x0304) {
        while (plain > 0 && p[plain - 1] == 0) plain--;   /* padding */
        if (plain == 0) return -4;                        /* no inner content type */
        plain--;
        *type = p[plain];
    } else {
        *type = record[0];
    }
    return (long)plain;
}

long veil_aead_open(int cipher, const uint8_t *key, const uint8_t nonce[12], const uint8_t *aad,
                    size_t aad_len, const uint8_t *ciphertext, size_t length, uint8_t *out) {
    const EVP_CIPHER *c = aead(cipher);
    if (!c || length < 16 || length > 0x7fffffff || aad_len > 0x7fffffff) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    long result = -1;
    int n = 0, m = 0;
    size_t body = length - 16;
    if (ctx && EVP_DecryptInit_ex(ctx, c, NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1
        && EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) == 1
        && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1
        && EVP_DecryptUpdate(ctx, out, &n, ciphertext, (int)body) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(ciphertext + body)) == 1
        && EVP_DecryptFinal_ex(ctx, out + n, &m) == 1) {
        result = n + m;
    }
    EVP_CIPHER_CTX_free(ctx);
    return result;
}


long veil_aead_seal(int cipher, const uint8_t *key, const uint8_t nonce[12], const uint8_t *aad,
                    size_t aad_len, const uint8_t *plaintext, size_t length, uint8_t *out) {
    const EVP_CIPHER *c = aead(cipher);
    if (!c || length > 0x7fffffef || aad_len > 0x7fffffff) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    long result = -1;
    int n = 0, m = 0;
    if (ctx && EVP_EncryptInit_ex(ctx, c, NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1
        && EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1
        && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1
        && EVP_EncryptUpdate(ctx, out, &n, plaintext, (int)length) == 1
        && EVP_EncryptFinal_ex(ctx, out + n, &m) == 1
        && (size_t)(n + m) == length
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + length) == 1) {
        result = (long)length + 16;
    }
    EVP_CIPHER_CTX_free(ctx);
    return result;
}
