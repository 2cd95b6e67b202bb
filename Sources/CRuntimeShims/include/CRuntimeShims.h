#ifndef CRUNTIMESHIMS_H
#define CRUNTIMESHIMS_H
// The runtime's C: one-line wrappers for what Swift cannot call (GNU-only constants, pipe and
// signal set-up, a liburing helper) and the kTLS socket calls (ktls_socket.h). Only VeilRuntime
// imports this. No OpenSSL here: the TLS layer's C is COpenSSLShims and CRecordCrypto.
// features.h first: liburing.h (included by the .c files and by CLibURing) defines
// _XOPEN_SOURCE before the libc headers, which breaks a clean build if it comes first.
#include <features.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <signal.h>
#include <pthread.h>
#include <sys/eventfd.h>

/// eventfd(2) with close-on-exec (blocking, so io_uring arms a poll for reads).
int veil_eventfd(void);
/// pipe2(2) with O_NONBLOCK | O_CLOEXEC. Returns 0 or -errno; the pipe's capacity in *capacity.
int veil_pipe(int fds[2], int *capacity);
/// F_SETPIPE_SZ: returns the new capacity, or -errno (EPERM past the per-user pipe limits).
int veil_pipe_resize(int fd, int size);
/// splice(2) of at most `count` bytes between a socket and a pipe, now, with SPLICE_F_NONBLOCK
/// and SPLICE_F_MOVE: the bytes moved, 0 at the end of the stream, or -errno.
int veil_splice_now(int fd_in, int fd_out, unsigned count);
/// Blocks SIGINT, SIGTERM, SIGHUP and SIGPIPE in the calling thread (threads created later inherit it).
void veil_block_signals(void);
/// Waits for SIGINT, SIGTERM or SIGHUP (blocked beforehand); returns the signal number.
int veil_wait_signal(void);

/// mallopt(M_MMAP_THRESHOLD, bytes): a fixed threshold (glibc stops moving it); 1 on success.
int veil_fix_mmap_threshold(int bytes);
/// malloc_trim(0): free pages of every arena back to the kernel; 1 if any memory was released.
int veil_malloc_trim(void);

/// Number of CQEs ready, and a pointer to the i-th (ring-relative) without consuming it.
struct io_uring;
struct io_uring_cqe;
unsigned veil_uring_peek_batch(struct io_uring *ring, struct io_uring_cqe **cqes, unsigned count);


/// GNU-only constants (need _GNU_SOURCE, which Swift's Glibc import does not define).
extern const short veil_pollrdhup;
/// IOSQE_IO_HARDLINK (a macro over an enum, not imported by Swift).
extern const unsigned veil_iosqe_io_hardlink;

#include "ktls_socket.h"

#endif
