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

int veil_ktls_install(int fd, int tx, uint16_t version, int cipher,
                      const uint8_t *key, const uint8_t *iv, uint64_t seq) {
    int opt = tx ? TLS_TX : TLS_RX;
    int rc;
    if (cipher == 0) {
        struct tls12_crypto_info_aes_gcm_128 ci;
        memset(&ci, 0, sizeof ci);
        ci.info.version = version;
        ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
        memcpy(ci.key, key, sizeof ci.key);
        memcpy(ci.salt, iv, sizeof ci.salt);
        memcpy(ci.iv, iv + 4, sizeof ci.iv);
        put_seq(ci.rec_seq, seq);
        rc = setsockopt(fd, SOL_TLS, opt, &ci, sizeof ci);
    } else if (cipher == 1) {
        struct tls12_crypto_info_aes_gcm_256 ci;
        memset(&ci, 0, sizeof ci);
        ci.info.version = version;
        ci.info.cipher_type = TLS_CIPHER_AES_GCM_256;
        memcpy(ci.key, key, sizeof ci.key);
        memcpy(ci.salt, iv, sizeof ci.salt);
        memcpy(ci.iv, iv + 4, sizeof ci.iv);
        put_seq(ci.rec_seq, seq);
        rc = setsockopt(fd, SOL_TLS, opt, &ci, sizeof ci);
    } else if (cipher == 2) {
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
