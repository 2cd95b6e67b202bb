/* The keys of a TLS session's records (see key_schedule.h). */
#include "key_schedule.h"
#include <pthread.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

/* Digests fetched once: EVP_KDF and implicit fetches cost more than the few hashes a key
 * derivation needs (about 20,000 instructions per HKDF-Expand-Label call). */
static EVP_MD *sha256_md, *sha384_md;
static pthread_once_t digests_once = PTHREAD_ONCE_INIT;
static void fetch_digests(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha384_md = EVP_MD_fetch(NULL, "SHA384", NULL);
}

/* HMAC(key, a || b || c), key no longer than the digest's block: two hashes. */
static int hmac3(const EVP_MD *md, EVP_MD_CTX *ctx, const uint8_t *key, size_t key_len,
                 const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                 const uint8_t *c, size_t c_len, uint8_t *out) {
    uint8_t pad[128], inner[EVP_MAX_MD_SIZE];
    size_t block = (size_t)EVP_MD_get_block_size(md);
    unsigned int n = 0;
    if (key_len > block || block > sizeof pad) return 0;
    memset(pad, 0x36, block);
    for (size_t i = 0; i < key_len; i++) pad[i] ^= key[i];
    int ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, pad, block) == 1
        && EVP_DigestUpdate(ctx, a, a_len) == 1 && EVP_DigestUpdate(ctx, b, b_len) == 1
        && EVP_DigestUpdate(ctx, c, c_len) == 1 && EVP_DigestFinal_ex(ctx, inner, &n) == 1;
    memset(pad, 0x5c, block);
    for (size_t i = 0; i < key_len; i++) pad[i] ^= key[i];
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, pad, block) == 1
        && EVP_DigestUpdate(ctx, inner, n) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1;
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    return ok;
}

static const EVP_MD *digest_named(const char *digest) {
    pthread_once(&digests_once, fetch_digests);
    return strcmp(digest, "SHA256") == 0 ? sha256_md : strcmp(digest, "SHA384") == 0 ? sha384_md : NULL;
}

int veil_hkdf_expand_label(const char *digest, const uint8_t *secret, size_t secret_len,
                           const char *label, uint8_t *out, size_t out_len) {
    uint8_t info[2 + 1 + 255 + 1];
    size_t label_len = strlen(label);
    if (label_len + 6 > 255 || out_len > 0xffff) return 0;
    size_t n = 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)(out_len & 0xff);
    info[n++] = (uint8_t)(6 + label_len);
    memcpy(info + n, "tls13 ", 6); n += 6;
    memcpy(info + n, label, label_len); n += label_len;
    info[n++] = 0;  /* empty context */
    return veil_hkdf_expand(digest, secret, secret_len, info, n, out, out_len);
}

int veil_hkdf_extract(const char *digest, const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len, uint8_t *out) {
    const EVP_MD *md = digest_named(digest);
    if (!md) return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return 0;
    /* PRK = HMAC(salt, IKM); an empty key is HMAC's zero-padded key, the RFC's default salt. */
    int ok = hmac3(md, ctx, salt, salt_len, ikm, ikm_len, NULL, 0, NULL, 0, out);
    EVP_MD_CTX_free(ctx);
    return ok;
}

int veil_hkdf_expand(const char *digest, const uint8_t *prk, size_t prk_len,
                     const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) {
    const EVP_MD *md = digest_named(digest);
    if (!md) return 0;
    size_t hash_len = (size_t)EVP_MD_get_size(md);
    if (out_len > 255 * hash_len) return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return 0;
    /* T(i) = HMAC(PRK, T(i-1) || info || i). */
    uint8_t t[EVP_MAX_MD_SIZE];
    size_t t_len = 0, done = 0;
    int ok = 1;
    for (uint8_t i = 1; ok && done < out_len; i++) {
        ok = hmac3(md, ctx, prk, prk_len, t, t_len, info, info_len, &i, 1, t);
        t_len = hash_len;
        size_t take = out_len - done < hash_len ? out_len - done : hash_len;
        if (ok) memcpy(out + done, t, take);
        done += take;
    }
    OPENSSL_cleanse(t, sizeof t);
    EVP_MD_CTX_free(ctx);
    return ok;
}

int veil_traffic_secret(const char *line, uint8_t *out, size_t *out_len) {
    int which;
    if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) which = 1;
    else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) which = 2;
    else return 0;
    const char *p = strchr(line + 24, ' ');  /* after the client random */
    if (!p) return 0;
    p++;
    size_t n = 0;
    while (p[0] && p[1] && n < 64) {
        int hi = p[0] <= '9' ? p[0] - '0' : (p[0] | 0x20) - 'a' + 10;
        int lo = p[1] <= '9' ? p[1] - '0' : (p[1] | 0x20) - 'a' + 10;
        if (hi < 0 || hi > 15 || lo < 0 || lo > 15) return 0;
        out[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    if (*p || n == 0) return 0;
    *out_len = n;
    return which;
}

int veil_tls12_key_block(const char *digest, const uint8_t *master, size_t master_len,
                         const uint8_t client_random[32], const uint8_t server_random[32],
                         uint8_t *out, size_t out_len) {
    uint8_t seed[13 + 64];
    memcpy(seed, "key expansion", 13);
    memcpy(seed + 13, server_random, 32);
    memcpy(seed + 45, client_random, 32);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    if (!kdf) return 0;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx) return 0;
    OSSL_PARAM params[4];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, master_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof seed);
    params[3] = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok;
}
