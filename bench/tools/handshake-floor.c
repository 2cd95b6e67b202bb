// handshake-floor: what the two OpenSSL handshakes of one intercepted connection cost by
// themselves, in memory (no sockets, no event loop), with Veil's OpenSSL configuration.
//
//   cc -O2 -o handshake-floor bench/tools/handshake-floor.c -lssl -lcrypto
//   handshake-floor [N] [TICKETS]      N handshake pairs (default 400); TICKETS: what the
//                                      client-facing side issues (default: Veil's, 1)
//
// Per connection Veil runs, and this program times (thread CPU time, proxy side only):
//   server: SSL_new + a full TLS 1.3 handshake as the server towards a curl-like client
//           (ECDSA P-256 leaf signed by a CA, groups X25519:P-256:P-384, stateless tickets,
//           ALPN selection), one byte each way, close_notify, SSL_free;
//   client: SSL_new + a resumed TLS 1.3 handshake (PSK with (EC)DHE) as the client towards an
//           nginx-like server (2 tickets, each handed to the new-session callback as Veil's
//           session cache does), SNI, ALPN, verify mode PEER with the CA in the store and the
//           host name set, one byte each way, close_notify, SSL_free.
// Both sides use Veil's TLS 1.3 suite order (Sources/VeilTLS/Engine/TLSContext.swift; FLOOR_SUITES=...
// overrides it), the server side with server preference. Keep the two in step.
// The peers' work (the curl-like client, the nginx-like server) is not counted.
// Prints one line per side and "floor_us_per_connection=X" (both sides) for bench/intercept.sh.
//
// Instructions instead of seconds (repeatable on a noisy machine; compare with
// bench/tools/conn-profile.sh, which counts Veil's whole process per connection):
//   cc -O2 -DFLOOR_CALLGRIND -o handshake-floor-cg bench/tools/handshake-floor.c -lssl -lcrypto
//   valgrind --tool=callgrind --collect-atstart=no handshake-floor-cg 50   # "Collected" / 50
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef FLOOR_CALLGRIND
// Built with -DFLOOR_CALLGRIND and run under valgrind --tool=callgrind --collect-atstart=no:
// only the proxy side's calls are counted (instructions per connection, repeatable).
#include <valgrind/callgrind.h>
#define COLLECT() CALLGRIND_TOGGLE_COLLECT
#else
#define COLLECT() ((void)0)
#endif

static void die(const char *what) {
    fprintf(stderr, "handshake-floor: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static int timing;   // inside a timed (proxy-side) region
static int counting; // not the warm-up round (callgrind counts only these)

static double cpu_now(void) {
    timing = !timing;
    if (timing && counting) COLLECT();  // on entering
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    if (!timing && counting) COLLECT();  // on leaving
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca) {
    X509 *x = X509_new();
    if (!x) die("X509_new");
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    X509_set_pubkey(x, key);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
        {"keyUsage", ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {"subjectKeyIdentifier", "hash"},
        {ca ? NULL : "extendedKeyUsage", "serverAuth"},
        {ca ? NULL : "subjectAltName", "DNS:localhost"},
        {ca ? NULL : "authorityKeyIdentifier", "keyid:always"},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        if (!exts[i][0]) continue;
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        if (!e || !X509_add_ext(x, e, -1)) die("extension");
        X509_EXTENSION_free(e);
    }
    if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) die("X509_sign");
    // Encoded and decoded again, as a server that loads its certificate has it (and as Veil's
    // minter does): OpenSSL then sends the stored encoding instead of re-encoding the certificate.
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    const unsigned char *p = der;
    X509 *decoded = len > 0 ? d2i_X509(NULL, &p, len) : NULL;
    if (!decoded) die("certificate round trip");
    OPENSSL_free(der);
    X509_free(x);
    return decoded;
}

// Veil's common context settings (TLSContext.common).
#define VEIL_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
static void veil_common(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_SSLv3 |
                                 SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384")) die("groups");
    if (!SSL_CTX_set_ciphersuites(ctx, getenv("FLOOR_SUITES") ? getenv("FLOOR_SUITES") : VEIL_SUITES))
        die("ciphersuites");
}

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)s; (void)arg;
    for (unsigned i = 0; i < inlen; i += 1 + in[i]) {
        if (in[i] == 8 && i + 9 <= inlen && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_SESSION *cached;  // the upstream session cache (one entry, the newest ticket)
static int new_session(SSL *s, SSL_SESSION *sess) {
    (void)s;
    if (cached) SSL_SESSION_free(cached);
    cached = sess;
    return 1;  // keep the reference
}

// Runs one handshake pair over a BIO pair; times only `timed`'s calls. Returns its CPU seconds.
static double pair(SSL *timed, SSL *peer, double *acc) {
    BIO *a, *b;
    if (!BIO_new_bio_pair(&a, 0, &b, 0)) die("BIO_new_bio_pair");
    SSL_set_bio(timed, a, a);
    SSL_set_bio(peer, b, b);
    int timed_done = 0, peer_done = 0;
    for (int rounds = 0; !(timed_done && peer_done); rounds++) {
        if (rounds > 100) die("handshake does not progress");
        if (!timed_done) {
            double t0 = cpu_now();
            int rc = SSL_do_handshake(timed);
            *acc += cpu_now() - t0;
            if (rc == 1) timed_done = 1;
            else if (SSL_get_error(timed, rc) != SSL_ERROR_WANT_READ) die("proxy-side handshake");
        }
        if (!peer_done) {
            int rc = SSL_do_handshake(peer);
            if (rc == 1) peer_done = 1;
            else if (SSL_get_error(peer, rc) != SSL_ERROR_WANT_READ) die("peer handshake");
        }
    }
    // Post-handshake messages: the server's tickets reach the client, the client's last flight
    // is read by the server. One byte each way makes both sides process everything queued.
    char byte = 'x';
    size_t n;
    SSL *server = SSL_is_server(timed) ? timed : peer;
    SSL *client = SSL_is_server(timed) ? peer : timed;
    double t0 = cpu_now();
    if (timed == server && !SSL_write_ex(server, &byte, 1, &n)) die("server write");
    if (timed == client && !SSL_write_ex(client, &byte, 1, &n)) die("client write");
    *acc += cpu_now() - t0;
    if (timed == server && !SSL_write_ex(client, &byte, 1, &n)) die("client write");
    if (timed == client && !SSL_write_ex(server, &byte, 1, &n)) die("server write");
    t0 = cpu_now();
    if (!SSL_read_ex(timed, &byte, 1, &n)) die("proxy-side read");
    *acc += cpu_now() - t0;
    if (!SSL_read_ex(peer, &byte, 1, &n)) die("peer read");
    return *acc;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 400;
    int tickets = argc > 2 ? atoi(argv[2]) : 1;  /* Veil's client-facing context issues one */
    if (n <= 0) die("N must be positive");

    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *leaf_key = EVP_EC_gen("P-256"), *origin_key = EVP_EC_gen("P-256");
    if (!ca_key || !leaf_key || !origin_key) die("EVP_EC_gen");
    X509 *ca = make_cert(ca_key, "floor CA", NULL, NULL, 1);
    X509 *leaf = make_cert(leaf_key, "localhost", ca, ca_key, 0);      // what Veil mints
    X509 *origin = make_cert(origin_key, "localhost", ca, ca_key, 0);  // what nginx presents

    // Veil's client-facing context (TLSContext.clientFacing), the minted certificate on it.
    SSL_CTX *facing = SSL_CTX_new(TLS_server_method());
    if (!facing) die("SSL_CTX_new");
    veil_common(facing);
    SSL_CTX_set_session_cache_mode(facing, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(facing, (size_t)tickets);
    SSL_CTX_set_options(facing, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    SSL_CTX_set_session_id_context(facing, (const unsigned char *)"veil", 4);
    SSL_CTX_set_alpn_select_cb(facing, alpn_select, NULL);
    if (SSL_CTX_use_certificate(facing, leaf) != 1 || SSL_CTX_use_PrivateKey(facing, leaf_key) != 1)
        die("client-facing certificate");

    // Veil's upstream context (TLSContext.upstream).
    SSL_CTX *up = SSL_CTX_new(TLS_client_method());
    if (!up) die("SSL_CTX_new");
    veil_common(up);
    SSL_CTX_set_verify(up, SSL_VERIFY_PEER, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(up), ca);
    SSL_CTX_set_session_cache_mode(up, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(up, new_session);

    // Peers: a curl-like client (verifies Veil's leaf), an nginx-like server (2 tickets).
    SSL_CTX *curl = SSL_CTX_new(TLS_client_method());
    SSL_CTX *nginx = SSL_CTX_new(TLS_server_method());
    if (!curl || !nginx) die("SSL_CTX_new");
    SSL_CTX_set_verify(curl, SSL_VERIFY_PEER, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(curl), ca);
    SSL_CTX_set_session_cache_mode(curl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_min_proto_version(nginx, TLS1_3_VERSION);
    SSL_CTX_set_alpn_select_cb(nginx, alpn_select, NULL);
    SSL_CTX_set_session_id_context(nginx, (const unsigned char *)"nginx", 5);
    if (SSL_CTX_use_certificate(nginx, origin) != 1 || SSL_CTX_use_PrivateKey(nginx, origin_key) != 1)
        die("origin certificate");
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";

    double server_cpu = 0, client_cpu = 0;
    int resumed = 0;
    for (int i = -1; i < n; i++) {  // i == -1: warm-up, and the first (full) upstream handshake
        double acc = 0, t0;
        counting = i >= 0;
        // Client-facing leg: Veil is the server.
        t0 = cpu_now();
        SSL *s = SSL_new(facing);
        acc += cpu_now() - t0;
        SSL *c = SSL_new(curl);
        if (!s || !c) die("SSL_new");
        SSL_set_accept_state(s);
        SSL_set_connect_state(c);
        SSL_set_tlsext_host_name(c, "localhost");
        SSL_set1_host(c, "localhost");
        SSL_set_alpn_protos(c, alpn, sizeof alpn - 1);
        pair(s, c, &acc);
        t0 = cpu_now();
        SSL_shutdown(s);  // close_notify, as Veil sends at the end
        SSL_free(s);
        acc += cpu_now() - t0;
        SSL_free(c);
        if (i >= 0) server_cpu += acc;

        // Upstream leg: Veil is the client, resuming its cached session.
        acc = 0;
        t0 = cpu_now();
        SSL *u = SSL_new(up);
        if (!u) die("SSL_new");
        SSL_set_connect_state(u);
        SSL_set_tlsext_host_name(u, "localhost");
        SSL_set1_host(u, "localhost");
        SSL_set_alpn_protos(u, alpn, sizeof alpn - 1);
        if (cached) SSL_set_session(u, cached);
        acc += cpu_now() - t0;
        SSL *o = SSL_new(nginx);
        if (!o) die("SSL_new");
        SSL_set_accept_state(o);
        pair(u, o, &acc);
        if (i >= 0 && SSL_session_reused(u)) resumed++;
        t0 = cpu_now();
        SSL_shutdown(u);  // also keeps the session resumable (SSL_free would mark it bad)
        SSL_free(u);
        acc += cpu_now() - t0;
        SSL_free(o);
        if (i >= 0) client_cpu += acc;
    }
    double s_us = server_cpu / n * 1e6, c_us = client_cpu / n * 1e6;
    printf("server side: full TLS 1.3 handshake, ECDSA P-256 leaf, %d ticket(s): %.0f us\n", tickets, s_us);
    printf("client side: TLS 1.3 handshake, %d/%d resumed (PSK-DHE), 2 tickets received: %.0f us\n", resumed, n, c_us);
    printf("floor_us_per_connection=%.0f (%s, %d pairs, %s)\n", s_us + c_us, OpenSSL_version(OPENSSL_VERSION), n,
           "proxy side only, thread CPU time");
    return 0;
}
