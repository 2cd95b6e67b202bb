#!/usr/bin/env bash
# Tunnel benchmark (not a test; prints figures): what --route tunnel adds.
#   nginx TLS 1.3 origin on loopback; the same download ROUNDS times (medians) through
#   (a) veil intercept, direct route, and (b) veil intercept --route tunnel through a veil relay
#   on loopback (pinned fingerprint, secret). Figures: wall, veil CPU s/GiB, relay CPU s/GiB,
#   and the CPU the tunnel adds per GiB ((veil + relay) with the tunnel - veil direct), as a
#   ratio of the direct route's CPU. All in one run.
#
#   bench/tunnel.sh                      (VEIL_BIN defaults to .build/release/veil; 1 GiB)
#   BENCH_MIB=256 ROUNDS=1 bench/tunnel.sh
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/tunnel-run
source "$BENCH_DIR/../integration/lib.sh"

BENCH_MIB=${BENCH_MIB:-1024}
ROUNDS=${ROUNDS:-3}
TCK=$(getconf CLK_TCK)
PROCTREE=(python3 "$BENCH_DIR/tools/proctree.py")

setup_work
make_certs || exit 1
mkdir -p "$WORK/www"
head -c "${BENCH_MIB}M" /dev/urandom >"$WORK/www/data.bin"
free_port ORIGIN
start_nginx bench "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
URL=https://localhost:$ORIGIN/data.bin
WANT=$((BENCH_MIB * 1048576))

cpu() { [[ -n "${1:-}" ]] && "${PROCTREE[@]}" cpu "$1" || echo 0; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
per_gib() { awk -v d="$1" -v t="$TCK" -v s="$WANT" 'BEGIN { printf "%.3f", d / t / (s / 1073741824) }'; }

# bulk LABEL RELAY_PID CURL-ARGS...: medians -> WALL, VCPU (veil s/GiB), RCPU (relay s/GiB)
declare -A WALL VCPU RCPU
bulk() {
    local label=$1 rpid=$2 walls=() vc=() rc=() r v0 v1 r0 r1 out; shift 2
    for r in $(seq "$ROUNDS"); do
        v0=$(cpu "$VEIL_PID"); r0=$(cpu "$rpid")
        out=$(curl -sS --http1.1 --max-time 900 -o /dev/null -w '%{time_total} %{size_download}' "$@" "$URL") ||
            { echo "$label: curl failed: $out"; return 1; }
        v1=$(cpu "$VEIL_PID"); r1=$(cpu "$rpid")
        [[ "${out#* }" == "$WANT" ]] || { echo "$label: short download: $out"; return 1; }
        walls+=("${out% *}"); vc+=("$(per_gib $((v1 - v0)))"); rc+=("$(per_gib $((r1 - r0)))")
    done
    WALL[$label]=$(median "${walls[@]}"); VCPU[$label]=$(median "${vc[@]}"); RCPU[$label]=$(median "${rc[@]}")
}

echo "nginx TLS1.3 HTTP/1.1 on :$ORIGIN; ${BENCH_MIB} MiB x $ROUNDS rounds (medians); $(nproc) cores; veil and relay --workers 1"

# (a) direct route
if start_veil direct --workers 1 --resolver static --upstream-ca "$TESTCA" --resolve "localhost:$ORIGIN:127.0.0.1" && veil_ca; then
    bulk direct "" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA"
    stop_veil 10
fi

# (b) through the relay
free_port RELAY_PORT
SECRET=bench-secret-$RANDOM$RANDOM
RELAY_LOG=$WORK/relay.log
"$VEIL_BIN" relay --listen "127.0.0.1:$RELAY_PORT" --home "$WORK/relay-home" --workers 1 --secret "$SECRET" \
    --allow-private --allow-port "$ORIGIN" --resolver static --resolve "localhost:$ORIGIN:127.0.0.1" >"$RELAY_LOG" 2>&1 &
RELAY_PID=$!
bg_register "$RELAY_PID"
wait_log "$RELAY_LOG" "fingerprint" 10
FP=$(sed -n 's/^veil relay: certificate SHA-256 fingerprint //p' "$RELAY_LOG")
if [[ -n "$FP" ]] && start_veil tunnel --workers 1 --resolver static --upstream-ca "$TESTCA" --route tunnel \
        --relay "127.0.0.1:$RELAY_PORT" --relay-fingerprint "$FP" --relay-secret "$SECRET" && veil_ca; then
    log_mark
    bulk tunnel "$RELAY_PID" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA"
    grep -q "route=tunnel" <(log_new) || echo "warning: no summary line with route=tunnel"
    stop_veil 10
else
    echo "relay or veil did not start: $(tail -n 3 "$RELAY_LOG")"
fi
stop_pid "$RELAY_PID" 5

echo
printf '%-22s %8s %16s %16s\n' "" "wall s" "veil CPU s/GiB" "relay CPU s/GiB"
printf '%-22s %8s %16s %16s\n' "intercept, direct" "${WALL[direct]:--}" "${VCPU[direct]:--}" "-"
printf '%-22s %8s %16s %16s\n' "intercept, tunnel" "${WALL[tunnel]:--}" "${VCPU[tunnel]:--}" "${RCPU[tunnel]:--}"
awk -v d="${VCPU[direct]:-0}" -v v="${VCPU[tunnel]:-0}" -v r="${RCPU[tunnel]:-0}" 'BEGIN {
    if (d <= 0) { print "no direct figure"; exit }
    printf "tunnel adds %.3f s/GiB on the client machine (veil: %.2fx the direct route)\n", v - d, v / d
    printf "tunnel adds %.3f s/GiB in all (veil + relay: %.2fx the direct route)\n", v + r - d, (v + r) / d
}'
cleanup_all
