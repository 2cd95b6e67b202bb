#!/usr/bin/env bash
# Callgrind profile of Veil's per-connection cost (not a test; prints figures).
#   Starts nginx (TLS 1.3, HTTP/1.1) and `veil run --workers 1` (intercept) under callgrind,
#   makes WARMUP (20) warm-up connections (mints the certificate), zeroes the counters, then drives
#   CONNS sequential fresh connections (curl --no-sessionid, 1 KiB each, as bench/intercept.sh)
#   and dumps the profile: instructions per connection for the whole process.
#
#   bench/tools/conn-profile.sh                      (VEIL_BIN defaults to .build/release/veil)
#   CONNS=50 VEIL_ARGS="--record-log off" bench/tools/conn-profile.sh
#   BULK_MIB=64 bench/tools/conn-profile.sh          one download of 64 MiB instead: instructions
#                                                    per MiB of bulk intercept transfer
#   FLOOR=0 bench/tools/conn-profile.sh              skip the handshake floor
#   MODE=passthrough bench/tools/conn-profile.sh     Veil in pass-through (curl trusts the
#                                                    origin's CA; no handshake floor)
# Connections mode also counts bench/tools/handshake-floor.c (Veil's two OpenSSL handshakes in
# memory, proxy side only) under callgrind and prints Veil's instructions per connection
# against it. Output: bench/.work/profile/callgrind.out.* (callgrind_annotate it).
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "$0")/.." && pwd)
WORK=$BENCH_DIR/.work/profile
source "$BENCH_DIR/../integration/lib.sh"
CONNS=${CONNS:-50}
BULK_MIB=${BULK_MIB:-0}
FLOOR=${FLOOR:-1}
VEIL_ARGS=${VEIL_ARGS:-}
MODE=${MODE:-intercept}
[[ $MODE == passthrough ]] && FLOOR=0

setup_work
make_certs || exit 1
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/small.bin"
((BULK_MIB > 0)) && head -c "${BULK_MIB}M" /dev/urandom >"$WORK/www/bulk.bin"
free_port ORIGIN
start_nginx prof "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1

OUT=$WORK/callgrind.out
# valgrind 3.19 cannot read the DWARF 5 the Swift toolchain emits: profile a copy without it
# (function names stay, from the symbol table).
strip --strip-debug -o "$WORK/veil" "$VEIL_BIN" || exit 1
free_port VEIL_PORT
VEIL_LOG=$WORK/veil.log
# --fair-sched: without it the mint thread may not run while the worker waits in io_uring.
# shellcheck disable=SC2086
valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$OUT.%p" --dump-instr=no \
    "$WORK/veil" run --listen "127.0.0.1:$VEIL_PORT" --workers 1 --mode "$MODE" --resolver static \
    --upstream-ca "$TESTCA" --resolve "localhost:$ORIGIN:127.0.0.1" $VEIL_ARGS >"$VEIL_LOG" 2>&1 &
VEIL_PID=$!
bg_register "$VEIL_PID"
for ((i = 0; i < 300; i++)); do grep -q "listening on" "$VEIL_LOG" 2>/dev/null && break; sleep 0.1; done
if [[ $MODE == passthrough ]]; then VEIL_CA=$TESTCA; else veil_ca || exit 1; fi
# Warm-up: mints the certificate and uses it often enough to get its decoded copy (see
# MintedCertificate.decodeAfterUses), so the count is the steady state for a known host.
for ((i = 0; i < ${WARMUP:-20}; i++)); do
    curl -sS --http1.1 --no-sessionid -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" -o /dev/null \
        "https://localhost:$ORIGIN/small.bin" || { echo "warm-up failed"; tail "$VEIL_LOG"; exit 1; }
done
sleep 0.5
callgrind_control -z "$VEIL_PID" >/dev/null
args=()
if ((BULK_MIB > 0)); then
    CONNS=1
    args=(-o /dev/null "https://localhost:$ORIGIN/bulk.bin")
else
    for ((i = 1; i <= CONNS; i++)); do args+=(-o /dev/null "https://localhost:$ORIGIN/small.bin?c=$i"); done
fi
out=$(curl -sS --http1.1 --no-sessionid -H 'Connection: close' -w '%{http_code}\n' \
    -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" "${args[@]}")
sleep 1
callgrind_control -d "$VEIL_PID" >/dev/null
sleep 0.5
ok=$(grep -c '^200' <<<"$out")
f=$(ls -t "$OUT".* | head -n 1)
total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
if ((BULK_MIB > 0)); then
    echo "$ok/1 ok; $total instructions; $(awk -v t="$total" -v n="$BULK_MIB" 'BEGIN { printf "%.0f", t / n }') per MiB"
else
    echo "$ok/$CONNS ok; $total instructions; $(awk -v t="$total" -v n="$CONNS" 'BEGIN { printf "%.0f", t / n }') per connection"
fi
echo "profile: $f"
stop_pid "$VEIL_PID" 20

if ((BULK_MIB == 0 && FLOOR)) && cc -O2 -DFLOOR_CALLGRIND -o "$WORK/handshake-floor-cg" \
    "$BENCH_DIR/tools/handshake-floor.c" -lssl -lcrypto; then
    floor=$(valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$WORK/floor.out" \
        "$WORK/handshake-floor-cg" 50 2>&1 | awk '/Collected :/ { print $NF }')
    awk -v f="$floor" -v t="$total" -v n="$CONNS" 'BEGIN {
        printf "handshake floor: %.0f instructions per connection; veil / floor = %.3f\n", f / 50, (t / n) / (f / 50) }'
fi
