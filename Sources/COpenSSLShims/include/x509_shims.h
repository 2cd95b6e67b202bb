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

// Legacy (EC_KEY-backed) EVP_PKEYs. OpenSSL 3.0's X509_set_pubkey runs the provider encoder and
// decoder for a provider-native key (about 0.4 ms, most of a mint); for a legacy key it encodes
// the point directly. The minter builds one legacy copy of its leaf key for X509_set_pubkey.
// These functions are deprecated in 3.0 (warnings in Swift) or macros, hence the wrappers.
struct ec_key_st;
/// EVP_PKEY_get1_EC_KEY(): the key's EC_KEY with a new reference (NULL if not EC).
struct ec_key_st *veil_EVP_PKEY_get1_EC_KEY(EVP_PKEY *pkey);
/// EVP_PKEY_assign_EC_KEY(): pkey takes over the reference to key; 1 on success.
int veil_EVP_PKEY_assign_EC_KEY(EVP_PKEY *pkey, struct ec_key_st *key);
/// EC_KEY_free().
void veil_EC_KEY_free(struct ec_key_st *key);

#endif
