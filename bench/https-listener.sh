#!/usr/bin/env bash
# HTTPS proxy listener benchmark (not a test; prints figures): what the outer TLS session costs.
#   The same veil (one worker) serves both listeners; nginx TLS 1.3 HTTP/1.1 origin on loopback.
#   Bulk: BENCH_MIB (default 256) downloaded ROUNDS times (default 3, medians) through
#     -x http://  (plain listener) and -x https:// (HTTPS listener), in intercept mode and in
#     pass-through mode: wall time, veil CPU seconds per GiB, and the HTTPS/plain CPU ratio.
#   Connections: CONNS (default 100) sequential fresh connections fetching 1 KiB through each
#     listener (intercept): veil CPU ms per connection and the ratio.
# Without kTLS on this kernel the outer session runs in userspace OpenSSL (front_path says).
#
#   bench/https-listener.sh          (VEIL_BIN defaults to .build/release/veil)
#   BENCH_MIB=64 ROUNDS=1 CONNS=50 bench/https-listener.sh
#   VEIL_ARGS="--record-layer openssl" bench/https-listener.sh    extra flags for veil run
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/https-listener-run
source "$BENCH_DIR/../integration/lib.sh"

BENCH_MIB=${BENCH_MIB:-256}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-100}
TCK=$(getconf CLK_TCK)
PROCTREE=(python3 "$BENCH_DIR/tools/proctree.py")

setup_work
make_certs || exit 1
mkdir -p "$WORK/www"
head -c "${BENCH_MIB}M" /dev/urandom >"$WORK/www/data.bin"
head -c 1024 /dev/urandom >"$WORK/www/small.bin"
free_port ORIGIN
start_nginx bench "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
URL=https://localhost:$ORIGIN/data.bin
WANT=$((BENCH_MIB * 1048576))

cpu() { "${PROCTREE[@]}" cpu "$VEIL_PID"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# bulk LABEL CURL-ARGS...: medians of ROUNDS downloads -> WALL[LABEL], CPUG[LABEL] (s/GiB)
declare -A WALL CPUG CONNMS
bulk() {
    local label=$1 walls=() cpus=() r c0 c1 out; shift
    for r in $(seq "$ROUNDS"); do
        c0=$(cpu)
        out=$(curl -sS --http1.1 --max-time 900 -o /dev/null -w '%{time_total} %{size_download}' "$@" "$URL") ||
            { echo "$label: curl failed: $out"; return 1; }
        c1=$(cpu)
        [[ "${out#* }" == "$WANT" ]] || { echo "$label: short download: $out"; return 1; }
        walls+=("${out% *}")
        cpus+=("$(awk -v d=$((c1 - c0)) -v t="$TCK" -v s="$WANT" 'BEGIN { printf "%.3f", d / t / (s / 1073741824) }')")
    done
    WALL[$label]=$(median "${walls[@]}")
    CPUG[$label]=$(median "${cpus[@]}")
}

# conns LABEL CURL-ARGS...: CONNS fresh connections -> CONNMS[LABEL] (veil CPU ms each)
conns() {
    local label=$1 args=() i c0 c1 ok; shift
    for ((i = 1; i <= CONNS; i++)); do args+=(-o /dev/null "https://localhost:$ORIGIN/small.bin?c=$i"); done
    c0=$(cpu)
    ok=$(curl -sS --http1.1 --max-time 600 --no-sessionid -H 'Connection: close' -w '%{http_code}\n' \
        "$@" "${args[@]}" 2>/dev/null | grep -c '^200$')
    c1=$(cpu)
    [[ "$ok" == "$CONNS" ]] || echo "$label: only $ok/$CONNS requests succeeded"
    CONNMS[$label]=$(awk -v d=$((c1 - c0)) -v t="$TCK" -v n="$CONNS" 'BEGIN { printf "%.2f", d / t / n * 1000 }')
}

run_mode() { # MODE: one veil with both listeners
    local mode=$1
    free_port TLS_PORT
    start_veil "bench-$mode" --workers 1 --mode "$mode" --resolver static --upstream-ca "$TESTCA" \
        --resolve "localhost:$ORIGIN:127.0.0.1" --listen-tls "127.0.0.1:$TLS_PORT" ${VEIL_ARGS:-} && veil_ca || return 1
    local ca=$VEIL_CA
    [[ $mode == passthrough ]] && ca=$TESTCA
    bulk "$mode-plain" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$ca"
    bulk "$mode-https" -x "https://127.0.0.1:$TLS_PORT" --proxy-cacert "$VEIL_CA" --cacert "$ca"
    if [[ $mode == intercept ]]; then
        conns "$mode-plain" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$ca"
        conns "$mode-https" -x "https://127.0.0.1:$TLS_PORT" --proxy-cacert "$VEIL_CA" --cacert "$ca"
    fi
    FRONT_PATH=$(grep -m 1 -oE 'front_path=[a-z-]+' "$VEIL_LOG")
    stop_veil 10
}

echo "nginx TLS1.3 HTTP/1.1 on :$ORIGIN; ${BENCH_MIB} MiB x $ROUNDS rounds (medians); $(nproc) cores; veil --workers 1"
run_mode intercept || echo "intercept run failed"
run_mode passthrough || echo "passthrough run failed"
echo "outer session: $FRONT_PATH"
echo
printf '%-24s %10s %14s\n' "" "wall s" "veil CPU s/GiB"
for l in intercept-plain intercept-https passthrough-plain passthrough-https; do
    printf '%-24s %10s %14s\n' "$l" "${WALL[$l]:--}" "${CPUG[$l]:--}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "intercept: HTTPS listener / plain listener CPU per GiB: $(ratio "${CPUG[intercept-https]:-0}" "${CPUG[intercept-plain]:-0}")"
echo "pass-through: HTTPS listener adds $(awk -v a="${CPUG[passthrough-https]:-0}" -v b="${CPUG[passthrough-plain]:-0}" 'BEGIN { printf "%.3f", a - b }') s/GiB of veil CPU (plain: ${CPUG[passthrough-plain]:--})"
echo "fresh connections (intercept): plain ${CONNMS[intercept-plain]:--} ms, HTTPS ${CONNMS[intercept-https]:--} ms of veil CPU each: ratio $(ratio "${CONNMS[intercept-https]:-0}" "${CONNMS[intercept-plain]:-0}")"
cleanup_all
