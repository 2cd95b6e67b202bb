#ifndef COPENSSLSHIMS_H
#define COPENSSLSHIMS_H
// One-line wrappers for OpenSSL macros Swift cannot call (SSL_CTX_set_* and BIO_* macros,
// SSL_OP_* constants, the sk_GENERAL_NAME_* stack macros, deprecated EC_KEY calls), for VeilTLS.
#include "ssl_shims.h"
#include "x509_shims.h"
#endif
