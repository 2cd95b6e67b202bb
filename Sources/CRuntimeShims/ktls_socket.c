#define _GNU_SOURCE
#include "CRuntimeShims.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/tls.h>
#include <liburing.h>

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

/* Records with their type on a kTLS socket, by io_uring recvmsg/sendmsg. */

struct veil_tls_message {
    struct msghdr msg;
    struct iovec iov;
    union { uint64_t align; char buf[64]; } control;  /* >= CMSG_SPACE(1), cmsghdr-aligned */
    uint8_t data[16384 + 256];
};

struct veil_tls_message *veil_tls_message_new(void) { return calloc(1, sizeof(struct veil_tls_message)); }
void veil_tls_message_free(struct veil_tls_message *m) { free(m); }
uint8_t *veil_tls_message_data(struct veil_tls_message *m) { return m->data; }

void veil_prep_tls_recvmsg(struct io_uring_sqe *sqe, int fd, struct veil_tls_message *m, int flags) {
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
