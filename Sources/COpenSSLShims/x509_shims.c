// EC_KEY functions are deprecated in OpenSSL 3.0; the wrappers below exist to call them quietly.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "COpenSSLShims.h"
#include <openssl/ec.h>

GENERAL_NAMES *veil_sk_GENERAL_NAME_new_null(void) { return sk_GENERAL_NAME_new_null(); }
int veil_sk_GENERAL_NAME_push(GENERAL_NAMES *names, GENERAL_NAME *name) { return sk_GENERAL_NAME_push(names, name); }
int veil_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
GENERAL_NAME *veil_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) { return sk_GENERAL_NAME_value(names, index); }

struct ec_key_st *veil_EVP_PKEY_get1_EC_KEY(EVP_PKEY *pkey) { return EVP_PKEY_get1_EC_KEY(pkey); }
int veil_EVP_PKEY_assign_EC_KEY(EVP_PKEY *pkey, struct ec_key_st *key) { return EVP_PKEY_assign_EC_KEY(pkey, key); }
void veil_EC_KEY_free(struct ec_key_st *key) { EC_KEY_free(key); }
