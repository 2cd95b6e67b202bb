#!/usr/bin/env bash
# Run Veil's integration tests against a built binary (VEIL_BIN, default
# .build/release/veil). Shared origins are started once; each t*.sh file is one
# topic and is sourced in order. Ends with exactly one "N passed, M failed" line.
#
#   integration/run-all.sh                 # everything
#   integration/run-all.sh split bad       # only files whose name contains a word
set -uo pipefail
source "$(dirname "$0")/lib.sh"

echo "veil binary: $VEIL_BIN"
echo "work dir:    $WORK"
setup_work
make_certs || { echo "could not make test certificates"; FAILED=1; finish; exit 1; }
make_docroot "$WORK/www"

# Shared origins: nginx (TLS1.2 HTTP/1.1, TLS1.3 h2, TLS1.2 h2), openssl s_server -WWW (1.2, 1.3).
free_port NGX12; free_port NGX13; free_port NGX12H2; free_port SS12; free_port SS13
start_nginx main "$DOCROOT" "$NGX12:TLSv1.2:h1" "$NGX13:TLSv1.3:h2" "$NGX12H2:TLSv1.2:h2" || { FAILED=1; finish; exit 1; }
start_s_server s12 "$SS12" "$DOCROOT" -tls1_2 || { FAILED=1; finish; exit 1; }
start_s_server s13 "$SS13" "$DOCROOT" -tls1_3 || { FAILED=1; finish; exit 1; }
echo "origins: nginx tls1.2/h1 :$NGX12, nginx tls1.3/h2 :$NGX13, nginx tls1.2/h2 :$NGX12H2, s_server tls1.2 :$SS12, s_server tls1.3 :$SS13"

# Sanity: the origins work directly (this validates the harness, not veil).
direct_get() { # PORT EXPECT_VERSION -> checks sha of big.bin fetched without a proxy
    local port=$1 want=$2 out=$WORK/direct-$1.bin got
    got=$(curl -sS --max-time 60 --cacert "$TESTCA" -o "$out" -w '%{http_code} %{http_version}' \
        "https://localhost:$port/big.bin") || return 1
    [[ "$got" == "200 $want" && "$(sha_of "$out")" == "$BIG_SHA" ]] || { echo "got '$got'"; return 1; }
    rm -f "$out"
}
check "harness/direct nginx tls1.2 h1" direct_get "$NGX12" 1.1
check "harness/direct nginx tls1.3 h2" direct_get "$NGX13" 2
check "harness/direct nginx tls1.2 h2" direct_get "$NGX12H2" 2
check "harness/direct s_server tls1.2" direct_get "$SS12" 1
check "harness/direct s_server tls1.3" direct_get "$SS13" 1

if [[ ! -x "$VEIL_BIN" ]]; then
    fail "veil binary" "$VEIL_BIN does not exist; build with: swift build -c release"
    finish; exit $?
fi

# start_veil plus a recorded failure when it does not come up.
veil_or_fail() {
    local name=$1
    start_veil "$@" && return 0
    fail "$name/start" "veil did not start (args: ${*:2})"
    return 1
}

# still_works NAME: a small download through the running veil from nginx.
still_works() {
    local got
    got=$(pcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "$1" 200 "${got%% *}"
    summary_for "${got##* }" 5   # let its summary be written before the next case
}

for f in "$LIB_DIR"/t*.sh; do
    base=$(basename "$f" .sh)
    if (($# > 0)); then
        want=0
        for w in "$@"; do [[ "$base" == *"$w"* ]] && want=1; done
        ((want)) || continue
    fi
    echo
    echo "=== $base"
    source "$f"
    [[ -n "$VEIL_PID" ]] && stop_veil 5
done

finish
