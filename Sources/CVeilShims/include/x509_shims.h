#ifndef VEIL_X509_SHIMS_H
#define VEIL_X509_SHIMS_H
// OpenSSL X509/EVP macros as functions, for the certificate authority and minting.
#include <openssl/x509v3.h>
#include <openssl/evp.h>

/// sk_GENERAL_NAME_new_null(): an empty GENERAL_NAMES stack (free with GENERAL_NAMES_free).
GENERAL_NAMES *veil_sk_GENERAL_NAME_new_null(void);
/// sk_GENERAL_NAME_push(): appends (takes ownership of) name; returns the new count, 0 on failure.
int veil_sk_GENERAL_NAME_push(GENERAL_NAMES *names, GENERAL_NAME *name);
/// sk_GENERAL_NAME_num().
int veil_sk_GENERAL_NAME_num(const GENERAL_NAMES *names);
/// sk_GENERAL_NAME_value() (borrowed pointer).
GENERAL_NAME *veil_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index);

#endif
