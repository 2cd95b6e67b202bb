#ifndef CVEILSHIMS_H
#define CVEILSHIMS_H
// One-line wrappers for C macros and inline helpers that Swift cannot call.
#include <features.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <signal.h>

/// Number of CQEs ready, and a pointer to the i-th (ring-relative) without consuming it.
struct io_uring;
struct io_uring_cqe;
unsigned veil_uring_peek_batch(struct io_uring *ring, struct io_uring_cqe **cqes, unsigned count);

#endif
