#define _GNU_SOURCE
#include "CRuntimeShims.h"
#include <fcntl.h>
#include <errno.h>
#include <unistd.h>
#include <liburing.h>
#include <poll.h>
#include <malloc.h>

const short veil_pollrdhup = POLLRDHUP;
const unsigned veil_iosqe_io_hardlink = IOSQE_IO_HARDLINK;

unsigned veil_uring_peek_batch(struct io_uring *ring, struct io_uring_cqe **cqes, unsigned count) {
    return io_uring_peek_batch_cqe(ring, cqes, count);
}

int veil_eventfd(void) { return eventfd(0, EFD_CLOEXEC); }

int veil_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
int veil_malloc_trim(void) { return malloc_trim(0); }

int veil_pipe(int fds[2], int *capacity) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -errno;
    *capacity = fcntl(fds[0], F_GETPIPE_SZ);
    return 0;
}

int veil_splice_now(int fd_in, int fd_out, unsigned count) {
    ssize_t n = splice(fd_in, NULL, fd_out, NULL, count, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    return n < 0 ? -errno : (int)n;
}

int veil_pipe_resize(int fd, int size) {
    int r = fcntl(fd, F_SETPIPE_SZ, size);
    return r < 0 ? -errno : r;
}

/* The signals the main thread takes with sigwait: SIGINT and SIGTERM (shut down) and SIGHUP
 * (log files reopened; never fatal, so a logrotate postrotate `kill -HUP` is safe). */
static sigset_t control_set(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

void veil_block_signals(void) {
    sigset_t set = control_set();
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int veil_wait_signal(void) {
    sigset_t set = control_set();
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {}
    return sig;
}
