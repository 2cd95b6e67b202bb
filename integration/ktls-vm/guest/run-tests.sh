#!/bin/sh
# guest/run-tests.sh - runs INSIDE the kTLS VM (busybox sh, as /init's child).
# Ends with exactly one "N passed, M failed" line, which run.sh on the host reads.
#
#   sh /guest/run-tests.sh [WORD...]   only the groups whose name contains a WORD:
#                                      kernel probe direct nginx veil
# (from the host: integration/ktls-vm/run.sh veil probe)
#
# Adding a case: one veil_case call in the "veil" group, e.g.
#   veil_case "veil/intercept s_server tls1.3 ktls" "--ktls require" \
#       "https://localhost:$SS13/big.bin" "mode=intercept tls=TLSv1\.3 path=ktls close=ok"
# (see veil_case in guest/lib.sh for what it checks, VC_SHA / VC_STATUS for uploads).
cd /guest || exit 1
. /guest/lib.sh

ONLY="$*"
want() {
    [ -z "$ONLY" ] && return 0
    for _w in $ONLY; do case $1 in *"$_w"*) return 0 ;; esac; done
    return 1
}
group() { echo; echo "=== $1 (at $(uptime_s)s)"; }

T_START=$(uptime_s)
trap cleanup_all EXIT

# ------------------------------------------------------------------ set-up

DOCROOT=/tmp/www
mkdir -p "$DOCROOT/up"
echo "hello from the ktls vm" >"$DOCROOT/index.html"
BIG_SIZE=4194304    # 4 MiB: TCG runs at a few MB/s
head -c "$BIG_SIZE" /dev/urandom >"$DOCROOT/big.bin"
BIG_SHA=$(sha_of "$DOCROOT/big.bin")
echo "payload: $BIG_SIZE bytes, sha256 $BIG_SHA"

# ------------------------------------------------------------------ kernel

if want kernel; then
    group kernel
    echo "tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
    check "kernel/tls in tcp_available_ulp" grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp
    check "kernel/io_uring not disabled" sh -c '! [ -e /proc/sys/kernel/io_uring_disabled ] || [ "$(cat /proc/sys/kernel/io_uring_disabled)" = 0 ]'
fi

# ---------------------------------------------------- kTLS without Veil

if want probe; then
    group probe
    _t=$(uptime_s)
    timeout 300 ktls-probe >"$W/probe.out" 2>&1
    echo "ktls-probe exited $? after $(since "$_t")s"
    fold_results "$W/probe.out"
fi

# ----------------------------------------------------------------- origins

alloc_port SS13; alloc_port SS12; alloc_port SSCHACHA; alloc_port SSAES128; alloc_port NGX; alloc_port NGX12
ORIGINS_OK=1
if want direct || want nginx || want veil; then
    group origins
    start_s_server s13 "$SS13" -tls1_3 || ORIGINS_OK=0
    start_s_server s12 "$SS12" -tls1_2 || ORIGINS_OK=0
    start_s_server s13chacha "$SSCHACHA" -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 || ORIGINS_OK=0
    start_s_server s13aes128 "$SSAES128" -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 || ORIGINS_OK=0
    NGINX_OK=1
    start_nginx main "$NGX" "TLSv1.2 TLSv1.3" "$DOCROOT" || NGINX_OK=0
    start_nginx tls12 "$NGX12" "TLSv1.2" "$DOCROOT" || NGINX_OK=0
    echo "s_server tls1.3 :$SS13, tls1.2 :$SS12, tls1.3 chacha20 :$SSCHACHA, tls1.3 aes128 :$SSAES128;" \
        "nginx h1/h2 + PUT tls1.2+1.3 :$NGX, tls1.2 :$NGX12 (up: $NGINX_OK)"
    [ "$ORIGINS_OK" = 1 ] && pass "origins/openssl s_server x4 listen" || fail "origins/s_server" "did not start"
    [ "$NGINX_OK" = 1 ] && pass "origins/nginx listens" || fail "origins/nginx" "did not start"
fi

# direct_get NAME PORT WANT_HTTP_VERSION [curl args]: big.bin without a proxy.
direct_get() {
    local name=$1 port=$2 ver=$3 t got; shift 3
    t=$(uptime_s)
    got=$(curl -sS --max-time "$CURL_MAX_TIME" --cacert "$TESTCA" -o "$W/direct.bin" \
        -w '%{http_code} %{http_version}' "$@" "https://localhost:$port/big.bin" 2>&1)
    expect_eq "$name/status" "200 $ver" "$got"
    expect_eq "$name/sha256 of 4 MiB" "$BIG_SHA" "$(sha_of "$W/direct.bin")"
    rm -f "$W/direct.bin"
    say "$name: $(since "$t")s"
}

if want direct; then
    group direct
    direct_get "direct/curl -> s_server tls1.3" "$SS13" 1 --tlsv1.3
    direct_get "direct/curl -> s_server tls1.2" "$SS12" 1 --tlsv1.2 --tls-max 1.2
fi

if want nginx; then
    group nginx
    direct_get "nginx/GET h2 tls1.3" "$NGX" 2 --http2 --tlsv1.3
    direct_get "nginx/GET http1.1 tls1.2" "$NGX12" 1.1 --http1.1
    _got=$(curl -sS --max-time "$CURL_MAX_TIME" --cacert "$TESTCA" -o /dev/null -w '%{http_code}' \
        -T "$DOCROOT/big.bin" "https://localhost:$NGX/up/direct.bin" 2>&1)
    expect_match "nginx/PUT 4 MiB status" '^(201|204)$' "$_got"
    expect_eq "nginx/PUT 4 MiB stored intact" "$BIG_SHA" "$(sha_of "$DOCROOT/up/direct.bin")"
fi

# -------------------------------------------------------------------- veil

if want veil; then
    group veil
    check "veil/--version" veil --version
    veil --version 2>&1 | head -n 1
    if veil_ca; then pass "veil/ca path: $VEIL_CA"; else fail "veil/ca path" "$(cat "$W/veil-ca.err")"; fi
    VEIL_COMMON="--upstream-ca $TESTCA --grace 2"
    for _p in $SS13 $SS12 $SSCHACHA $SSAES128 $NGX $NGX12; do
        VEIL_COMMON="$VEIL_COMMON --resolve localhost:$_p:127.0.0.1"
    done

    veil_case "veil/passthrough s_server tls1.3" "--mode passthrough" \
        "https://localhost:$SS13/big.bin" \
        "mode=passthrough target=localhost:$SS13 sni=localhost tls=TLSv1\.3 path=splice close=ok bytes_down=[0-9]{7,}"
    veil_case "veil/passthrough s_server tls1.2" "--mode passthrough" \
        "https://localhost:$SS12/big.bin" \
        "mode=passthrough target=localhost:$SS12 tls=TLSv1\.2 path=splice close=ok"

    # Intercept with userspace OpenSSL (--ktls off): the baseline.
    veil_case "veil/intercept s_server tls1.3 ktls=off" "--ktls off" \
        "https://localhost:$SS13/big.bin" \
        "mode=intercept target=localhost:$SS13 upstream_sni=localhost tls=TLSv1\.3 client_tls=TLSv1\.3 path=userspace close=ok bytes_down=[0-9]{7,}"
    veil_case "veil/intercept s_server tls1.2 ktls=off" "--ktls off" \
        "https://localhost:$SS12/big.bin" \
        "mode=intercept target=localhost:$SS12 tls=TLSv1\.2 client_tls=TLSv1\.[23] path=userspace close=ok"

    # Intercept, default --ktls auto: this kernel has kTLS, so both legs should move to it.
    veil_case "veil/intercept s_server tls1.3 ktls=auto" "" \
        "https://localhost:$SS13/big.bin" \
        "mode=intercept tls=TLSv1\.3 client_tls=TLSv1\.3 client_path=ktls-splice upstream_path=ktls-splice close=ok bytes_down=[0-9]{7,}"
    check "veil/start-up line: kTLS available" grep -q "kTLS available" "$VEIL_LOG"
    veil_case "veil/intercept s_server tls1.2 ktls=auto" "" \
        "https://localhost:$SS12/big.bin" \
        "mode=intercept tls=TLSv1\.2 client_tls=TLSv1\.[23] client_path=ktls-splice upstream_path=ktls-splice close=ok"
    veil_case "veil/intercept s_server tls1.3 chacha20 ktls=auto" "" \
        "https://localhost:$SSCHACHA/big.bin" \
        "mode=intercept cipher=TLS_CHACHA20_POLY1305_SHA256 client_path=ktls-splice upstream_path=ktls-splice close=ok"
    veil_case "veil/intercept s_server tls1.3 aes128 ktls=require" "--ktls require" \
        "https://localhost:$SSAES128/big.bin" \
        "mode=intercept cipher=TLS_AES_128_GCM_SHA256 client_path=ktls-splice upstream_path=ktls-splice close=ok"

    if [ "${NGINX_OK:-0}" = 1 ]; then
        veil_case "veil/intercept nginx h2 tls1.3 GET ktls=auto" "" \
            "--http2 https://localhost:$NGX/big.bin" \
            "mode=intercept tls=TLSv1\.3 alpn=h2 client_path=ktls-splice upstream_path=ktls-splice close=ok"
        veil_case "veil/intercept nginx http1.1 tls1.2 GET ktls=auto" "" \
            "--http1.1 https://localhost:$NGX12/big.bin" \
            "mode=intercept tls=TLSv1\.2 alpn=http/1\.1 client_path=ktls-splice upstream_path=ktls-splice close=ok"
        rm -f "$DOCROOT/up/veil.bin"
        VC_STATUS='201|204' VC_SHA=-
        veil_case "veil/intercept nginx PUT 4 MiB ktls=auto" "" \
            "-T $DOCROOT/big.bin https://localhost:$NGX/up/veil.bin" \
            "mode=intercept client_path=ktls-splice upstream_path=ktls-splice close=ok bytes_up=[0-9]{7,}" \
            '[ "$(sha_of "$DOCROOT/up/veil.bin")" = "$BIG_SHA" ]'
    fi
fi

echo
echo "guest tests took $(since "$T_START")s"
cleanup_all
finish
