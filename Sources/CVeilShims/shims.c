#include "CVeilShims.h"
#include <liburing.h>

unsigned veil_uring_peek_batch(struct io_uring *ring, struct io_uring_cqe **cqes, unsigned count) {
    return io_uring_peek_batch_cqe(ring, cqes, count);
}
