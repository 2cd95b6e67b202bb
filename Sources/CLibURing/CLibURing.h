#ifndef CLIBURING_H
#define CLIBURING_H
// liburing.h defines _XOPEN_SOURCE before the libc headers; pull in features.h and the socket
// headers first so that a clean build that also imports Glibc sees one consistent fd_set.
#include <features.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <liburing.h>
#endif
