#!/usr/bin/env bash
# Short-connection soak (leak check; prints figures beside a reference from the same run).
#   For each workload a fresh veil (2 workers) and one nginx origin (TLS 1.3, HTTP/1.1): WARM
#   connections (default 10,000), then VmRSS and the fd count; then connections up to TOTAL
#   (default 100,000), then again. The reference is the process itself after the warm-up:
#   growth over the next TOTAL-WARM connections must stay within MAX_GROWTH_PCT (10%) of it
#   (issue 10: "after the first 10,000 connections, another 90,000 must not grow RSS by more
#   than 10%"). Also prints bytes per connection of that growth.
# Workloads (MODE:KIND; bench/tools/shortconns.py, 2 processes x 8 threads):
#   intercept:connect-close    CONNECT, 200, close (no TLS)
#   intercept:handshake-close  CONNECT, full TLS handshake with Veil (no ticket), close
#   intercept:get              CONNECT, handshake, GET 1 KiB, Connection: close
#   intercept:bad-hello        CONNECT, 200, then a malformed ClientHello (five kinds)
#   passthrough:connect-close, passthrough:get, passthrough:bad-hello   the same, spliced
#
#   bench/soak-short.sh                                 all workloads, 10,000 + 90,000 each
#   WARM=2000 TOTAL=20000 bench/soak-short.sh            quicker
#   KINDS="intercept:connect-close intercept:get" bench/soak-short.sh
#   REF_BIN=/path/to/old/veil bench/soak-short.sh        also the same workloads on REF_BIN,
#                                                       side by side (before/after a fix)
# Exits 1 when a workload grows more than allowed or more than 0.1% of connections fail.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/soak-short-run
source "$BENCH_DIR/../integration/lib.sh"

WARM=${WARM:-10000}
TOTAL=${TOTAL:-100000}
MAX_GROWTH_PCT=${MAX_GROWTH_PCT:-10}
KINDS=${KINDS:-intercept:connect-close intercept:handshake-close intercept:get intercept:bad-hello passthrough:connect-close passthrough:get passthrough:bad-hello}
REF_BIN=${REF_BIN:-}
SC=(python3 "$BENCH_DIR/tools/shortconns.py" --procs 2 --threads 8)

setup_work
make_certs >/dev/null || exit 1
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/small.bin"
free_port ORIGIN
NGINX_HTTP_EXTRA="keepalive_requests 1000000;" start_nginx soak "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

BAD=0
printf '%-10s %-28s %-16s %9s %9s %9s %8s %8s %6s %s\n' binary workload conns rss_warm rss_end growth B/conn fds rate verdict
# one BIN LABEL MODE KIND
one() {
    local bin=$1 label=$2 mode=$3 kind=$4 ca r1 r2 f1 f2 out1 out2 verdict rate
    VEIL_BIN=$bin start_veil "$label-$mode-$kind" --workers 2 --mode "$mode" --resolver static \
        --upstream-ca "$TESTCA" --resolve "localhost:$ORIGIN:127.0.0.1" --record-log summary \
        --record-log-file "$WORK/summary-$label-$mode-$kind.log" || { BAD=1; return; }
    VEIL_BIN=$bin veil_ca || { BAD=1; return; }
    ca=$VEIL_CA
    [[ $mode == passthrough ]] && ca=$TESTCA
    out1=$("${SC[@]}" --port "$VEIL_PORT" --target "localhost:$ORIGIN" --kind "$kind" --cafile "$ca" --count "$WARM" 2>&1) || BAD=1
    sleep 1
    r1=$(rss_kib "$VEIL_PID"); f1=$(fds "$VEIL_PID")
    # The rest in three parts, RSS after each: a leak grows in steps, an allocator settles.
    local part=$(((TOTAL - WARM) / 3)) steps="" i n
    out2=""
    for i in 1 2 3; do
        n=$part; ((i == 3)) && n=$((TOTAL - WARM - 2 * part))
        out2+=$("${SC[@]}" --port "$VEIL_PORT" --target "localhost:$ORIGIN" --kind "$kind" --cafile "$ca" --count "$n" 2>&1)$'\n' || BAD=1
        sleep 1
        steps+="$(rss_kib "$VEIL_PID")K "
    done
    r2=$(rss_kib "$VEIL_PID"); f2=$(fds "$VEIL_PID")
    if [[ -z "$r2" ]]; then
        echo "$label $mode:$kind: veil died: $(grep -m1 'runtime failure' "$VEIL_LOG")"
        BAD=1; stop_veil 2; return
    fi
    rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$out2" | tail -n 1)
    if ((r2 * 100 > r1 * (100 + MAX_GROWTH_PCT))); then verdict="FAIL (> ${MAX_GROWTH_PCT}%)"; BAD=1; else verdict=ok; fi
    if grep -q 'failed=[1-9]' <<<"$out1"$'\n'"$out2"; then
        verdict+=" [$(grep -o 'failed=[0-9]*' <<<"$out1"$'\n'"$out2" | tr '\n' ' ')]"
    fi
    printf '%-10s %-28s %-16s %8sK %8sK %8s%% %8s %4s->%-3s %6s %s\n' "$label" "$mode:$kind" "$WARM+$((TOTAL - WARM))" \
        "$r1" "$r2" "$(awk -v a="$r1" -v b="$r2" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')" \
        "$(awk -v a="$r1" -v b="$r2" -v n=$((TOTAL - WARM)) 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')" \
        "$f1" "$f2" "$rate" "$verdict"
    echo "    RSS after each third of the rest: $steps"
    grep -h 'shortconns:' <<<"$out1$out2" | head -n 2 | sed 's/^/    /'
    stop_veil 10
}

for w in $KINDS; do
    [[ -n "$REF_BIN" ]] && one "$REF_BIN" ref "${w%%:*}" "${w#*:}"
    one "$VEIL_BIN" veil "${w%%:*}" "${w#*:}"
done
((BAD == 0)) && echo "soak-short: all workloads within ${MAX_GROWTH_PCT}% after the warm-up" || echo "soak-short: FAILED"
exit $BAD
