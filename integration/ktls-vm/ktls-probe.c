/*
 * ktls-probe: proves the running kernel's kTLS works, independently of Veil.
 *
 * Everything runs over 127.0.0.1 TCP connections made inside this process (one
 * listener, connect + accept). The same fixed key/iv/salt/rec_seq is installed on both
 * ends, so one end's kTLS TX produces records the other end's kTLS RX decrypts.
 *
 * Prints one line per check: "PASS <name>" or "FAIL <name>: <why>", plus "INFO ..."
 * lines for observed kernel behaviour that is not asserted. Exit status: 0 if every
 * check passed, 1 otherwise, 2 on usage errors.
 *
 *   ktls-probe [-q] [CHECK...]     CHECK: ulp pair wire splice control rekey (default: all)
 *
 * Built static on the host (gcc -O2 -static) and run inside the kTLS VM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static int failures;
static int passes;

static void pass(const char *name) {
    passes++;
    printf("PASS ktls-probe/%s\n", name);
    fflush(stdout);
}

static void fail(const char *name, const char *fmt, ...) {
    va_list ap;
    failures++;
    printf("FAIL ktls-probe/%s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void info(const char *fmt, ...) {
    va_list ap;
    printf("INFO ktls-probe: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ sockets */

/* A connected TCP pair over loopback: *a is the connecting end, *b the accepted one. */
static int tcp_pair(int *a, int *b) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) return -1;
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0) {
        close(l);
        return -1;
    }
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(l);
        return -1;
    }
    *b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    close(l);
    if (*b < 0) return -1;
    int one = 1;
    setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

/* ------------------------------------------------------------------- crypto */

enum cipher { AES128GCM, AES256GCM, CHACHA20 };

struct suite {
    const char *name;
    unsigned version;      /* TLS_1_2_VERSION / TLS_1_3_VERSION */
    enum cipher cipher;
};

union crypto_info {
    struct tls_crypto_info info;
    struct tls12_crypto_info_aes_gcm_128 gcm128;
    struct tls12_crypto_info_aes_gcm_256 gcm256;
    struct tls12_crypto_info_chacha20_poly1305 chacha;
};

static void fill(unsigned char *p, size_t n, unsigned char seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + 7 * i);
}

/* Fixed key material (same on both ends); rec_seq starts at `seq`. */
static socklen_t make_info(const struct suite *s, union crypto_info *ci, uint64_t seq) {
    memset(ci, 0, sizeof *ci);
    ci->info.version = s->version;
    unsigned char rs[8];
    for (int i = 0; i < 8; i++) rs[i] = (unsigned char)(seq >> (56 - 8 * i));
    switch (s->cipher) {
    case AES128GCM:
        ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
        fill(ci->gcm128.key, sizeof ci->gcm128.key, 0x11);
        fill(ci->gcm128.iv, sizeof ci->gcm128.iv, 0x22);
        fill(ci->gcm128.salt, sizeof ci->gcm128.salt, 0x33);
        memcpy(ci->gcm128.rec_seq, rs, 8);
        return sizeof ci->gcm128;
    case AES256GCM:
        ci->info.cipher_type = TLS_CIPHER_AES_GCM_256;
        fill(ci->gcm256.key, sizeof ci->gcm256.key, 0x44);
        fill(ci->gcm256.iv, sizeof ci->gcm256.iv, 0x55);
        fill(ci->gcm256.salt, sizeof ci->gcm256.salt, 0x66);
        memcpy(ci->gcm256.rec_seq, rs, 8);
        return sizeof ci->gcm256;
    case CHACHA20:
        ci->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
        fill(ci->chacha.key, sizeof ci->chacha.key, 0x77);
        fill(ci->chacha.iv, sizeof ci->chacha.iv, 0x88);
        memcpy(ci->chacha.rec_seq, rs, 8);
        return sizeof ci->chacha;
    }
    return 0;
}

static int set_ulp(int fd) {
    return setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls");
}

/* TCP_ULP "tls" plus TLS_TX (dir = TLS_TX) or TLS_RX. Returns 0 or -errno. */
static int install(int fd, int dir, const struct suite *s, int need_ulp) {
    union crypto_info ci;
    socklen_t len = make_info(s, &ci, 0);
    if (need_ulp && set_ulp(fd) < 0) return -errno;
    if (setsockopt(fd, SOL_TLS, dir, &ci, len) < 0) return -errno;
    return 0;
}

/* --------------------------------------------------------------- data check */

static unsigned char pattern(uint64_t i) {
    return (unsigned char)((i * 131) ^ (i >> 8) ^ (i >> 17));
}

/* Write `total` pattern bytes to fd in varying chunk sizes (exercises record boundaries). */
static int write_pattern(int fd, size_t total) {
    static const size_t sizes[] = {1, 100, 4096, 16384, 16385, 70000, 777, 65536};
    static unsigned char buf[70000];
    size_t off = 0, k = 0;
    while (off < total) {
        size_t n = sizes[k++ % (sizeof sizes / sizeof sizes[0])];
        if (n > total - off) n = total - off;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(off + i);
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w < 0) {
                if (errno == EINTR) continue;
                fprintf(stderr, "write at %zu: %s\n", off + done, strerror(errno));
                return -1;
            }
            done += (size_t)w;
        }
        off += n;
    }
    return 0;
}

/* Read until EOF; returns bytes read, or -1 (with *why filled) on error or mismatch. */
static long long read_verify(int fd, char *why, size_t whylen) {
    static unsigned char buf[65536];
    uint64_t off = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) continue;
            snprintf(why, whylen, "read at offset %llu: %s", (unsigned long long)off, strerror(errno));
            return -1;
        }
        if (r == 0) return (long long)off;
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != pattern(off + i)) {
                snprintf(why, whylen, "byte %llu differs (got 0x%02x, want 0x%02x)",
                         (unsigned long long)(off + i), buf[i], pattern(off + i));
                return -1;
            }
        }
        off += r;
    }
}

static int child_status_ok(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* --------------------------------------------------------------------- checks */

static const struct suite SUITES[] = {
    {"tls1.3-aes128gcm", TLS_1_3_VERSION, AES128GCM},
    {"tls1.2-aes128gcm", TLS_1_2_VERSION, AES128GCM},
    {"tls1.3-aes256gcm", TLS_1_3_VERSION, AES256GCM},
    {"tls1.2-aes256gcm", TLS_1_2_VERSION, AES256GCM},
    {"tls1.3-chacha20poly1305", TLS_1_3_VERSION, CHACHA20},
    {"tls1.2-chacha20poly1305", TLS_1_2_VERSION, CHACHA20},
};

static void check_ulp(void) {
    int a, b;
    if (tcp_pair(&a, &b) < 0) {
        fail("ulp", "loopback pair: %s", strerror(errno));
        return;
    }
    if (set_ulp(a) < 0) {
        fail("ulp", "setsockopt(TCP_ULP, \"tls\") on an established socket: %s", strerror(errno));
    } else {
        char name[16] = {0};
        socklen_t len = sizeof name;
        if (getsockopt(a, SOL_TCP, TCP_ULP, name, &len) < 0 || strcmp(name, "tls") != 0)
            fail("ulp", "getsockopt(TCP_ULP) gave '%s' (%s)", name, strerror(errno));
        else
            pass("ulp: TCP_ULP tls on an established socket");
    }
    close(a);
    close(b);
    /* Not asserted: the documented ENOTCONN on a socket that is not connected. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0) {
        int rc = set_ulp(s);
        info("TCP_ULP on an unconnected socket: %s", rc == 0 ? "accepted" : strerror(errno));
        close(s);
    }
}

/* a: TX, b: RX; `total` bytes from a child writer, verified by the parent. */
static void check_pair(const struct suite *s, size_t total) {
    char name[96], why[160];
    snprintf(name, sizeof name, "pair %s %zu KiB TX->RX", s->name, total / 1024);
    int a, b, rc;
    if (tcp_pair(&a, &b) < 0) {
        fail(name, "loopback pair: %s", strerror(errno));
        return;
    }
    if ((rc = install(a, TLS_TX, s, 1)) < 0) {
        fail(name, "TLS_TX: %s", strerror(-rc));
        goto out;
    }
    if ((rc = install(b, TLS_RX, s, 1)) < 0) {
        fail(name, "TLS_RX: %s", strerror(-rc));
        goto out;
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        close(b);
        int r = write_pattern(a, total);
        close(a);
        _exit(r == 0 ? 0 : 1);
    }
    close(a);
    a = -1;
    long long got = read_verify(b, why, sizeof why);
    int child_ok = child_status_ok(pid);
    double dt = now_s() - t0;
    if (got < 0)
        fail(name, "%s", why);
    else if ((size_t)got != total)
        fail(name, "received %lld bytes, want %zu", got, total);
    else if (!child_ok)
        fail(name, "writer failed");
    else {
        pass(name);
        info("%s: %.1f MB/s", name, total / dt / 1e6);
    }
out:
    if (a >= 0) close(a);
    close(b);
}

/* TX only on a, b stays plain: the bytes on the wire are TLS records, not the plaintext. */
static void check_wire(const struct suite *s) {
    char name[96];
    snprintf(name, sizeof name, "wire %s: records on the wire", s->name);
    int a, b, rc;
    unsigned char msg[100], rec[256];
    if (tcp_pair(&a, &b) < 0) {
        fail(name, "loopback pair: %s", strerror(errno));
        return;
    }
    if ((rc = install(a, TLS_TX, s, 1)) < 0) {
        fail(name, "TLS_TX: %s", strerror(-rc));
        goto out;
    }
    memset(msg, 'A', sizeof msg);
    if (write(a, msg, sizeof msg) != (ssize_t)sizeof msg) {
        fail(name, "write: %s", strerror(errno));
        goto out;
    }
    size_t body = sizeof msg + 16;                          /* AEAD tag */
    if (s->version == TLS_1_3_VERSION) body += 1;           /* inner content type */
    else if (s->cipher != CHACHA20) body += 8;              /* TLS 1.2 GCM explicit nonce */
    size_t want = 5 + body, have = 0;
    while (have < want) {
        ssize_t r = read(b, rec + have, want - have);
        if (r <= 0) {
            fail(name, "read: %s", r == 0 ? "EOF" : strerror(errno));
            goto out;
        }
        have += r;
    }
    unsigned char hdr[5] = {0x17, 0x03, 0x03, (unsigned char)(body >> 8), (unsigned char)body};
    if (memcmp(rec, hdr, 5) != 0)
        fail(name, "header %02x %02x %02x %02x %02x, want 17 03 03 %02x %02x", rec[0], rec[1], rec[2],
             rec[3], rec[4], hdr[3], hdr[4]);
    else if (memmem(rec + 5, body, msg, 16) != NULL)
        fail(name, "plaintext visible in the record body");
    else
        pass(name);
out:
    close(a);
    close(b);
}

/* a(TX) -> b(RX) -> splice -> pipe -> splice -> c(TX) -> d(RX). */
static void check_splice(const struct suite *s, size_t total) {
    char name[96], why[160];
    snprintf(name, sizeof name, "splice %s %zu KiB kTLS-RX -> pipe -> kTLS-TX", s->name, total / 1024);
    int a, b, c, d, p[2], rc;
    if (tcp_pair(&a, &b) < 0 || tcp_pair(&c, &d) < 0 || pipe2(p, O_CLOEXEC) < 0) {
        fail(name, "setup: %s", strerror(errno));
        return;
    }
    if ((rc = install(a, TLS_TX, s, 1)) < 0 || (rc = install(b, TLS_RX, s, 1)) < 0 ||
        (rc = install(c, TLS_TX, s, 1)) < 0 || (rc = install(d, TLS_RX, s, 1)) < 0) {
        fail(name, "install: %s", strerror(-rc));
        close(a); close(b); close(c); close(d); close(p[0]); close(p[1]);
        return;
    }
    double t0 = now_s();
    pid_t writer = fork();
    if (writer == 0) {
        close(b); close(c); close(d); close(p[0]); close(p[1]);
        int r = write_pattern(a, total);
        close(a);
        _exit(r == 0 ? 0 : 1);
    }
    close(a);
    pid_t reader = fork();
    if (reader == 0) {
        close(b); close(c); close(p[0]); close(p[1]);
        long long got = read_verify(d, why, sizeof why);
        if (got < 0) {
            fprintf(stderr, "splice reader: %s\n", why);
            _exit(1);
        }
        if ((size_t)got != total) {
            fprintf(stderr, "splice reader: %lld bytes, want %zu\n", got, total);
            _exit(1);
        }
        _exit(0);
    }
    close(d);
    size_t moved = 0, calls = 0;
    const char *err = NULL;
    for (;;) {
        ssize_t n = splice(b, NULL, p[1], NULL, 1 << 20, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = "splice socket->pipe";
            break;
        }
        if (n == 0) break;
        calls++;
        while (n > 0) {
            ssize_t m = splice(p[0], NULL, c, NULL, (size_t)n, 0);
            if (m < 0) {
                if (errno == EINTR) continue;
                err = "splice pipe->socket";
                break;
            }
            n -= m;
            moved += (size_t)m;
        }
        if (err) break;
    }
    int saved = errno;
    shutdown(c, SHUT_WR);
    close(c);
    close(b);
    close(p[0]);
    close(p[1]);
    int wok = child_status_ok(writer), rok = child_status_ok(reader);
    double dt = now_s() - t0;
    if (err)
        fail(name, "%s after %zu bytes: %s", err, moved, strerror(saved));
    else if (moved != total)
        fail(name, "spliced %zu bytes, want %zu", moved, total);
    else if (!wok || !rok)
        fail(name, "%s failed (see stderr)", !rok ? "reader" : "writer");
    else {
        pass(name);
        info("%s: %zu socket->pipe splices (%.1f KiB each), %.1f MB/s", name, calls,
             calls ? moved / 1024.0 / calls : 0.0, total / dt / 1e6);
    }
}

/* A non-application record on a kTLS RX socket: what read, recvmsg and splice do. */
static void check_control(const struct suite *s) {
    char name[96];
    int a, b, rc, p[2];
    if (tcp_pair(&a, &b) < 0 || pipe2(p, O_CLOEXEC) < 0) {
        fail("control", "setup: %s", strerror(errno));
        return;
    }
    if ((rc = install(a, TLS_TX, s, 1)) < 0 || (rc = install(b, TLS_RX, s, 1)) < 0) {
        fail("control", "install: %s", strerror(-rc));
        goto out;
    }
    /* sendmsg with TLS_SET_RECORD_TYPE = 21 (alert): close_notify is 01 00. */
    unsigned char alert[2] = {1, 0};
    char cbuf[CMSG_SPACE(sizeof(unsigned char))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {alert, sizeof alert};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_TLS;
    cm->cmsg_type = TLS_SET_RECORD_TYPE;
    cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *CMSG_DATA(cm) = 21;
    snprintf(name, sizeof name, "control %s: sendmsg TLS_SET_RECORD_TYPE alert", s->name);
    if (sendmsg(a, &mh, 0) != (ssize_t)sizeof alert) {
        fail(name, "sendmsg: %s", strerror(errno));
        goto out;
    }
    pass(name);
    if (write(a, "after", 5) != 5) {
        fail("control", "write after the alert: %s", strerror(errno));
        goto out;
    }
    usleep(200 * 1000); /* both records are queued on b now */

    unsigned char buf[64];
    /* splice with a control record at the head: EINVAL expected (6.1), record stays queued. */
    ssize_t n = splice(b, NULL, p[1], NULL, 4096, SPLICE_F_NONBLOCK);
    snprintf(name, sizeof name, "control %s: splice refuses a control record (EINVAL)", s->name);
    if (n < 0 && errno == EINVAL) pass(name);
    else fail(name, "splice returned %zd (%s)", n, n < 0 ? strerror(errno) : "moved data");

    /* read() without a control buffer: EIO expected. */
    n = recv(b, buf, sizeof buf, MSG_DONTWAIT);
    snprintf(name, sizeof name, "control %s: recv without cmsg fails with EIO", s->name);
    if (n < 0 && errno == EIO) pass(name);
    else fail(name, "recv returned %zd (%s)", n, n < 0 ? strerror(errno) : "data");

    /* recvmsg with a control buffer returns the record and its type. */
    memset(cbuf, 0, sizeof cbuf);
    iov.iov_base = buf;
    iov.iov_len = sizeof buf;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    mh.msg_flags = 0;
    n = recvmsg(b, &mh, MSG_DONTWAIT);
    cm = CMSG_FIRSTHDR(&mh);
    int type = (cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE) ? *CMSG_DATA(cm) : -1;
    snprintf(name, sizeof name, "control %s: recvmsg gives the alert with TLS_GET_RECORD_TYPE", s->name);
    if (n == 2 && type == 21 && buf[0] == 1 && buf[1] == 0) pass(name);
    else fail(name, "recvmsg returned %zd, record type %d (%s)", n, type, n < 0 ? strerror(errno) : "");

    /* The application record behind it is readable again (plain read, and splice would work). */
    n = recv(b, buf, sizeof buf, MSG_DONTWAIT);
    snprintf(name, sizeof name, "control %s: application data after the alert", s->name);
    if (n == 5 && memcmp(buf, "after", 5) == 0) pass(name);
    else fail(name, "recv returned %zd (%s)", n, n < 0 ? strerror(errno) : "wrong data");

    /* A pitfall worth knowing: msg_controllen must cover exactly the cmsgs. A larger,
     * zero-padded control buffer makes the kernel walk into an empty cmsghdr: EINVAL. */
    {
        union { uint64_t align; char buf[64]; } big;
        memset(&big, 0, sizeof big);
        struct msghdr m2 = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = big.buf, .msg_controllen = sizeof big.buf};
        iov.iov_base = alert;
        iov.iov_len = sizeof alert;
        struct cmsghdr *c2 = CMSG_FIRSTHDR(&m2);
        c2->cmsg_level = SOL_TLS;
        c2->cmsg_type = TLS_SET_RECORD_TYPE;
        c2->cmsg_len = CMSG_LEN(sizeof(unsigned char));
        *CMSG_DATA(c2) = 21;
        n = sendmsg(a, &m2, 0);
        snprintf(name, sizeof name, "control %s: sendmsg with a zero-padded 64-byte control buffer", s->name);
        info("%s: %s", name, n < 0 ? strerror(errno) : "accepted");
    }
out:
    close(a);
    close(b);
    close(p[0]);
    close(p[1]);
}

/* Not asserted (kernel-version dependent): installing TLS_TX/TLS_RX a second time. */
static void check_rekey(const struct suite *s) {
    int a, b;
    if (tcp_pair(&a, &b) < 0) return;
    if (install(a, TLS_TX, s, 1) == 0 && install(b, TLS_RX, s, 1) == 0) {
        int tx = install(a, TLS_TX, s, 0), rx = install(b, TLS_RX, s, 0);
        info("second TLS_TX: %s; second TLS_RX: %s (6.1 has no TLS 1.3 rekey: EBUSY)",
             tx == 0 ? "accepted" : strerror(-tx), rx == 0 ? "accepted" : strerror(-rx));
    }
    close(a);
    close(b);
}

static int wanted(int argc, char **argv, int first, const char *what) {
    if (first >= argc) return 1;
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], what) == 0 || strcmp(argv[i], "all") == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    int first = 1;
    signal(SIGPIPE, SIG_IGN);
    alarm(600);
    static const char *known[] = {"all", "ulp", "pair", "wire", "splice", "control", "rekey"};
    for (int i = first; i < argc; i++) {
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= strcmp(argv[i], known[k]) == 0;
        if (!ok) {
            fprintf(stderr, "usage: %s [all|ulp|pair|wire|splice|control|rekey]...\n", argv[0]);
            return 2;
        }
    }
    if (wanted(argc, argv, first, "ulp")) check_ulp();
    if (wanted(argc, argv, first, "pair")) {
        check_pair(&SUITES[0], 1 << 20);                   /* the one the brief asks for: 1 MiB */
        for (size_t i = 1; i < sizeof SUITES / sizeof SUITES[0]; i++) check_pair(&SUITES[i], 256 << 10);
    }
    if (wanted(argc, argv, first, "wire"))
        for (size_t i = 0; i < sizeof SUITES / sizeof SUITES[0]; i++) check_wire(&SUITES[i]);
    if (wanted(argc, argv, first, "splice")) {
        check_splice(&SUITES[0], 512 << 10);
        check_splice(&SUITES[1], 256 << 10);
        check_splice(&SUITES[4], 256 << 10);
    }
    if (wanted(argc, argv, first, "control")) {
        check_control(&SUITES[0]);
        check_control(&SUITES[1]);
    }
    if (wanted(argc, argv, first, "rekey")) check_rekey(&SUITES[0]);
    printf("ktls-probe: %d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
