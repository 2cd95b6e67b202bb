#define _GNU_SOURCE
#include "CVeilShims.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/tls.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

int veil_ktls_attach(int fd) {
    if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) return -errno;
    return 0;
}

static void put_seq(unsigned char *out, uint64_t seq) {
    for (int i = 7; i >= 0; i--) { out[i] = (unsigned char)(seq & 0xff); seq >>= 8; }
}

/* AES-GCM crypto_info: the 12-byte write IV splits into the 4-byte salt and the 8-byte nonce part. */
#define VEIL_FILL_AES_GCM(ci, type_const)                 \
    do {                                                  \
        memset(&(ci), 0, sizeof(ci));                     \
        (ci).info.version = version;                      \
        (ci).info.cipher_type = (type_const);             \
        memcpy((ci).key, key, sizeof((ci).key));          \
        memcpy((ci).salt, iv, sizeof((ci).salt));         \
        memcpy((ci).iv, iv + 4, sizeof((ci).iv));         \
        put_seq((ci).rec_seq, seq);                       \
    } while (0)

int veil_ktls_install(int fd, int tx, uint16_t version, int cipher,
                      const uint8_t *key, const uint8_t *iv, uint64_t seq) {
    int opt = tx ? TLS_TX : TLS_RX;
    int rc;
    if (cipher == 0) {
        struct tls12_crypto_info_aes_gcm_128 ci;
        VEIL_FILL_AES_GCM(ci, TLS_CIPHER_AES_GCM_128);
        rc = setsockopt(fd, SOL_TLS, opt, &ci, sizeof ci);
    } else if (cipher == 1) {
        struct tls12_crypto_info_aes_gcm_256 ci;
        VEIL_FILL_AES_GCM(ci, TLS_CIPHER_AES_GCM_256);
        rc = setsockopt(fd, SOL_TLS, opt, &ci, sizeof ci);
    } else if (cipher == 2) {
        /* ChaCha20-Poly1305: all 12 IV bytes, no salt. */
        struct tls12_crypto_info_chacha20_poly1305 ci;
        memset(&ci, 0, sizeof ci);
        ci.info.version = version;
        ci.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
        memcpy(ci.key, key, sizeof ci.key);
        memcpy(ci.iv, iv, sizeof ci.iv);
        put_seq(ci.rec_seq, seq);
        rc = setsockopt(fd, SOL_TLS, opt, &ci, sizeof ci);
    } else {
        return -EINVAL;
    }
    return rc == 0 ? 0 : -errno;
}

long veil_ktls_recv_record(int fd, void *buffer, size_t length, uint8_t *type) {
    char control[CMSG_SPACE(sizeof(unsigned char))];
    struct iovec iov = { .iov_base = buffer, .iov_len = length };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) return -errno;
    *type = 23;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE) {
            *type = *(unsigned char *)CMSG_DATA(c);
        }
    }
    return n;
}

long veil_ktls_send_record(int fd, const void *buffer, size_t length, uint8_t type) {
    char control[CMSG_SPACE(sizeof(unsigned char))];
    memset(control, 0, sizeof control);
    struct iovec iov = { .iov_base = (void *)buffer, .iov_len = length };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_SET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *(unsigned char *)CMSG_DATA(c) = type;
    ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
}

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <pthread.h>

/* Digests fetched once: EVP_KDF and implicit fetches cost more than the few hashes a key
 * derivation needs (about 20,000 instructions per HKDF-Expand-Label call). */
static EVP_MD *sha256_md, *sha384_md;
static pthread_once_t digests_once = PTHREAD_ONCE_INIT;
static void fetch_digests(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha384_md = EVP_MD_fetch(NULL, "SHA384", NULL);
}

/* HMAC(key, a || b || c), key no longer than the digest's block: two hashes. */
static int hmac3(const EVP_MD *md, EVP_MD_CTX *ctx, const uint8_t *key, size_t key_len,
                 const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                 const uint8_t *c, size_t c_len, uint8_t *out) {
    uint8_t pad[128], inner[EVP_MAX_MD_SIZE];
    size_t block = (size_t)EVP_MD_get_block_size(md);
    unsigned int n = 0;
    if (key_len > block || block > sizeof pad) return 0;
    memset(pad, 0x36, block);
    for (size_t i = 0; i < key_len; i++) pad[i] ^= key[i];
    int ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, pad, block) == 1
        && EVP_DigestUpdate(ctx, a, a_len) == 1 && EVP_DigestUpdate(ctx, b, b_len) == 1
        && EVP_DigestUpdate(ctx, c, c_len) == 1 && EVP_DigestFinal_ex(ctx, inner, &n) == 1;
    memset(pad, 0x5c, block);
    for (size_t i = 0; i < key_len; i++) pad[i] ^= key[i];
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, pad, block) == 1
        && EVP_DigestUpdate(ctx, inner, n) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1;
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    return ok;
}

int veil_hkdf_expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
                           const char *label, uint8_t *out, size_t out_len) {
    uint8_t info[2 + 1 + 255 + 1];
    size_t label_len = strlen(label);
    if (label_len + 6 > 255 || out_len > 0xffff) return 0;
    size_t n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)(out_len & 0xff);
    info[n++] = (uint8_t)(6 + label_len);
    memcpy(info + n, "tls13 ", 6); n += 6;
    memcpy(info + n, label, label_len); n += label_len;
    info[n++] = 0;  /* empty context */
    pthread_once(&digests_once, fetch_digests);
    const EVP_MD *md = strcmp(digest, "SHA256") == 0 ? sha256_md : strcmp(digest, "SHA384") == 0 ? sha384_md : NULL;
    if (!md) return 0;
    size_t hash_len = (size_t)EVP_MD_get_size(md);
    if (out_len > 255 * hash_len) return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return 0;
    /* HKDF-Expand (RFC 5869): T(i) = HMAC(secret, T(i-1) || info || i). */
    uint8_t t[EVP_MAX_MD_SIZE];
    size_t t_len = 0, done = 0;
    int ok = 1;
    for (uint8_t i = 1; ok && done < out_len; i++) {
        ok = hmac3(md, ctx, secret, secret_len, t, t_len, info, n, &i, 1, t);
        t_len = hash_len;
        size_t take = out_len - done < hash_len ? out_len - done : hash_len;
        if (ok) memcpy(out + done, t, take);
        done += take;
    }
    OPENSSL_cleanse(t, sizeof t);
    EVP_MD_CTX_free(ctx);
    return ok;
}

int veil_traffic_secret(const char *line, uint8_t *out, size_t *out_len) {
    int which;
    if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) which = 1;
    else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) which = 2;
    else return 0;
    const char *p = strchr(line + 24, ' ');  /* after the client random */
    if (!p) return 0;
    p++;
    size_t n = 0;
    while (p[0] && p[1] && n < 64) {
        int hi = p[0] <= '9' ? p[0] - '0' : (p[0] | 0x20) - 'a' + 10;
        int lo = p[1] <= '9' ? p[1] - '0' : (p[1] | 0x20) - 'a' + 10;
        if (hi < 0 || hi > 15 || lo < 0 || lo > 15) return 0;
        out[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    if (*p || n == 0) return 0;
    *out_len = n;
    return which;
}

int veil_tls12_key_block(const char *digest, const uint8_t *master, size_t master_len,
                         const uint8_t client_random[32], const uint8_t server_random[32],
                         uint8_t *out, size_t out_len) {
    uint8_t seed[13 + 64];
    memcpy(seed, "key expansion", 13);
    memcpy(seed + 13, server_random, 32);
    memcpy(seed + 45, client_random, 32);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    if (!kdf) return 0;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx) return 0;
    OSSL_PARAM params[4];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, master_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof seed);
    params[3] = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok;
}

long veil_aead_open(int cipher, const uint8_t *key, const uint8_t nonce[12], const uint8_t *aad,
                    size_t aad_len, const uint8_t *ciphertext, size_t length, uint8_t *out) {
    if (length < 16) return -1;
    const EVP_CIPHER *c = cipher == 0 ? EVP_aes_128_gcm() : cipher == 1 ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
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

#include <stdlib.h>
#include <liburing.h>

struct veil_tls_message {
    struct msghdr msg;
    struct iovec iov;
    union { uint64_t align; char buf[64]; } control;  /* >= CMSG_SPACE(1), cmsghdr-aligned */
    uint8_t data[16384 + 256];
};

struct veil_tls_message *veil_tls_message_new(void) { return calloc(1, sizeof(struct veil_tls_message)); }
void veil_tls_message_free(struct veil_tls_message *m) { free(m); }
uint8_t *veil_tls_message_data(struct veil_tls_message *m) { return m->data; }

void veil_prep_tls_recvmsg(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m) {
    veil_prep_tls_recvmsg_flags(sqe, fd, m, MSG_DONTWAIT);
}

void veil_prep_tls_recvmsg_flags(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m, int flags) {
    memset(&m->msg, 0, sizeof m->msg);
    memset(&m->control, 0, sizeof m->control);
    m->iov.iov_base = m->data;
    m->iov.iov_len = sizeof m->data;
    m->msg.msg_iov = &m->iov;
    m->msg.msg_iovlen = 1;
    m->msg.msg_control = m->control.buf;
    m->msg.msg_controllen = sizeof m->control.buf;
    io_uring_prep_recvmsg(sqe, fd, &m->msg, flags);
}

uint8_t veil_tls_message_type(const struct veil_tls_message *m) {
    uint8_t type = 23;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)&m->msg); c; c = CMSG_NXTHDR((struct msghdr *)&m->msg, c)) {
        if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE) type = *(unsigned char *)CMSG_DATA(c);
    }
    return type;
}

void veil_prep_tls_sendmsg(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m, uint8_t type,
                           const uint8_t *data, size_t length) {
    if (length > sizeof m->data) length = sizeof m->data;
    memmove(m->data, data, length);
    memset(&m->msg, 0, sizeof m->msg);
    memset(&m->control, 0, sizeof m->control);
    m->iov.iov_base = m->data;
    m->iov.iov_len = length;
    m->msg.msg_iov = &m->iov;
    m->msg.msg_iovlen = 1;
    m->msg.msg_control = m->control.buf;
    m->msg.msg_controllen = CMSG_SPACE(sizeof(unsigned char));  /* exactly one cmsg: a zeroed tail is EINVAL */
    struct cmsghdr *c = CMSG_FIRSTHDR(&m->msg);
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_SET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *(unsigned char *)CMSG_DATA(c) = type;
    io_uring_prep_sendmsg(sqe, fd, &m->msg, MSG_NOSIGNAL);
}
