#!/usr/bin/env bash
# Relay multiplexing benchmark (not a test; prints figures): --relay-mux on vs off through the
# same relay, in one run. nginx TLS 1.3 origin on loopback <- the relay <- veil intercept
# --route tunnel --workers 1. The relay is `veil relay --workers 1` (RELAY=veil, the default:
# HTTP/2 CONNECT streams with mux on, one TLS connection and HTTP/1.1 CONNECT per tunnel with
# mux off), or nghttpx --http2-proxy in front of squid (RELAY=nghttpx). The same download ROUNDS
# times (medians): wall, veil CPU s/GiB, relay CPU s/GiB; then 8 parallel downloads at once
# (aggregate MB/s).
#
#   bench/relay-mux.sh                      (VEIL_BIN defaults to .build/release/veil; 1 GiB)
#   BENCH_MIB=256 ROUNDS=1 RELAY=nghttpx bench/relay-mux.sh
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/relay-mux-run
source "$BENCH_DIR/../integration/lib.sh"

BENCH_MIB=${BENCH_MIB:-1024}
ROUNDS=${ROUNDS:-3}
PARALLEL=${PARALLEL:-8}
TCK=$(getconf CLK_TCK)
PROCTREE=(python3 "$BENCH_DIR/tools/proctree.py")
RELAY_KIND=${RELAY:-veil}
[[ $RELAY_KIND == veil ]] || command -v nghttpx >/dev/null && command -v squid >/dev/null ||
    { echo "RELAY=nghttpx needs nghttpx (nghttp2-proxy) and squid: make deps"; exit 1; }

setup_work
make_certs || exit 1
mkdir -p "$WORK/www"
head -c "${BENCH_MIB}M" /dev/urandom >"$WORK/www/data.bin"
PAR_MIB=$(( BENCH_MIB / PARALLEL > 0 ? BENCH_MIB / PARALLEL : 1 ))
head -c "${PAR_MIB}M" /dev/urandom >"$WORK/www/part.bin"
free_port ORIGIN; free_port SQUID; free_port RELAY
start_nginx bench "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
URL=https://localhost:$ORIGIN/data.bin
WANT=$((BENCH_MIB * 1048576))

if [[ $RELAY_KIND == veil ]]; then
    start_relay bench "$RELAY" --secret bench --allow-private --allow-port "$ORIGIN" --workers 1 --resolver static \
        --resolve "localhost:$ORIGIN:127.0.0.1" || exit 1
    RELAY_PID=$RL_PID FP=$RL_FP RELAY_NAME="veil relay"
else
    D=$WORK/relay && mkdir -p "$D" && chmod 777 "$D"
    cat >"$D/squid.conf" <<SQ
http_port 127.0.0.1:$SQUID
acl bench_port port $ORIGIN
http_access allow CONNECT bench_port
http_access deny all
cache deny all
access_log none
cache_log $D/squid-cache.log
pid_filename $D/squid.pid
coredump_dir $D
shutdown_lifetime 0 seconds
SQ
    squid -N -f "$D/squid.conf" >"$D/squid.out" 2>&1 &
    SQUID_PID=$!; bg_register "$SQUID_PID"
    wait_port "$SQUID" 15 || { echo "squid did not start"; exit 1; }
    make_leaf bench-relay "DNS:relay.bench" || exit 1
    nghttpx --conf=/dev/null --http2-proxy -f "127.0.0.1,$RELAY" -b "127.0.0.1,$SQUID" --workers=1 --backend-read-timeout=2s \
        --errorlog-file="$D/nghttpx-error.log" --accesslog-file=/dev/null "$LEAF_KEY" "$LEAF_CERT" >"$D/nghttpx.out" 2>&1 &
    RELAY_PID=$!; bg_register "$RELAY_PID"
    wait_port "$RELAY" 10 || { echo "nghttpx did not start"; exit 1; }
    FP=$(openssl x509 -in "$LEAF_CERT" -noout -fingerprint -sha256 | sed 's/.*=//')
    RELAY_NAME=nghttpx
fi

cpu() { [[ -n "${1:-}" ]] && "${PROCTREE[@]}" cpu "$1" || echo 0; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
per_gib() { awk -v d="$1" -v t="$TCK" -v s="$2" 'BEGIN { printf "%.3f", d / t / (s / 1073741824) }'; }

declare -A WALL VCPU RCPU PAR
bulk() {
    local label=$1 walls=() vc=() rc=() r v0 v1 r0 r1 out; shift
    for r in $(seq "$ROUNDS"); do
        v0=$(cpu "$VEIL_PID"); r0=$(cpu "$RELAY_PID")
        out=$(curl -sS --http1.1 --max-time 900 -o /dev/null -w '%{time_total} %{size_download}' "$@" "$URL") ||
            { echo "$label: curl failed: $out"; return 1; }
        v1=$(cpu "$VEIL_PID"); r1=$(cpu "$RELAY_PID")
        [[ "${out#* }" == "$WANT" ]] || { echo "$label: short download: $out"; return 1; }
        walls+=("${out% *}"); vc+=("$(per_gib $((v1 - v0)) "$WANT")"); rc+=("$(per_gib $((r1 - r0)) "$WANT")")
    done
    WALL[$label]=$(median "${walls[@]}"); VCPU[$label]=$(median "${vc[@]}"); RCPU[$label]=$(median "${rc[@]}")
}
# parallel LABEL CURL-ARGS...: PARALLEL downloads of part.bin at once -> PAR (aggregate MB/s)
parallel() {
    local label=$1 i t0 t1 pids=() bad=0; shift
    t0=$(date +%s.%N)
    for i in $(seq "$PARALLEL"); do
        curl -sS --http1.1 --max-time 900 -o "$WORK/par-$i.bin" "$@" "https://localhost:$ORIGIN/part.bin" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || bad=1; done
    t1=$(date +%s.%N)
    for i in $(seq "$PARALLEL"); do [[ $(stat -c %s "$WORK/par-$i.bin") == $((PAR_MIB * 1048576)) ]] || bad=1; rm -f "$WORK/par-$i.bin"; done
    [[ $bad == 0 ]] || { echo "$label: a parallel download failed"; return 1; }
    PAR[$label]=$(awk -v a="$t0" -v b="$t1" -v s="$((PAR_MIB * 1048576 * PARALLEL))" 'BEGIN { printf "%.0f", s / (b - a) / 1e6 }')
}

echo "nginx TLS1.3 :$ORIGIN <- $([[ $RELAY_KIND == veil ]] && echo "veil relay --workers 1" || echo "squid <- nghttpx --http2-proxy") <- veil intercept --route tunnel --workers 1"
echo "${BENCH_MIB} MiB x $ROUNDS rounds (medians); $PARALLEL x ${PAR_MIB} MiB at once; $(nproc) cores"
for mode in off on; do
    if VEIL_RELAY_SECRET=bench start_veil "mux-$mode" --workers 1 --resolver static --upstream-ca "$TESTCA" --route tunnel \
            --relay-mux "$mode" --relay "127.0.0.1:$RELAY" --relay-fingerprint "$FP" && veil_ca; then
        bulk "$mode" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA"
        parallel "$mode" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA"
        stop_veil 10
    fi
done

echo
printf '%-16s %8s %16s %18s %14s\n' "" "wall s" "veil CPU s/GiB" "$RELAY_NAME CPU s/GiB" "${PARALLEL}x MB/s"
for mode in off on; do
    printf '%-16s %8s %16s %18s %14s\n' "relay-mux $mode" "${WALL[$mode]:--}" "${VCPU[$mode]:--}" "${RCPU[$mode]:--}" "${PAR[$mode]:--}"
done
awk -v a="${VCPU[off]:-0}" -v b="${VCPU[on]:-0}" 'BEGIN { if (a > 0) printf "veil CPU per GiB, mux on / off: %.2fx\n", b / a }'
cleanup_all
