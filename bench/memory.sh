#!/usr/bin/env bash
# Memory benchmark (not a test; prints figures beside issue 13's targets): what Veil holds per
# connection, and whether its RSS comes back down after a burst. For each mode (intercept, and
# pass-through as the reference row), a fresh veil (--workers WORKERS, 2) and one nginx origin
# (TLS 1.3, HTTP/1.1) on loopback:
#   idle   IDLE (1000) concurrent idle connections (CONNECT, TLS handshake through Veil, then
#          nothing; integration/tools/proxyclient.py hold): (RSS with them - RSS before) / IDLE,
#          in KiB per connection
#   burst  another fresh veil, 20 warm-up downloads, its RSS (the start value); then BURST (1000)
#          concurrent 1 MiB downloads (bench/tools/shortconns.py --kind get --together: one
#          thread each, in 4 processes; each thread's connection is made, TLS included, before
#          its process's GETs start together), peak RSS and peak open descriptors while it runs,
#          then RSS after SETTLE (10) seconds of idleness, against the start value
# Targets (issue 13): intercept <= 64 KiB per idle connection; after the burst, RSS within 10 s
# back to within 2x the start value.
#
#   bench/memory.sh                     (VEIL_BIN defaults to .build/release/veil; make bench-memory)
#   IDLE=500 BURST=500 bench/memory.sh  smaller;  MODES=intercept bench/memory.sh
# Raises the open-files limit (ulimit -n) for itself and what it starts: a pass-through
# connection takes 6 descriptors in Veil (two sockets, two pipes). --max-connections is set
# above the load so that no client gets a 503.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/memory-run
source "$BENCH_DIR/lib.sh"

IDLE=${IDLE:-1000}
BURST=${BURST:-1000}
SETTLE=${SETTLE:-10}
WORKERS=${WORKERS:-2}
MODES=${MODES:-intercept passthrough}
VEIL_ARGS=${VEIL_ARGS:-}
MAX_CONNS=$(((IDLE > BURST ? IDLE : BURST) + 500))

want_fds=$((MAX_CONNS * 8 + 1024))
if (($(ulimit -n) < want_fds)); then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

setup_work
make_certs >/dev/null || exit 1
mkdir -p "$WORK/www"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"
free_port ORIGIN
NGINX_HTTP_EXTRA="keepalive_requests 1000000;" start_nginx memory "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1

echo "nginx TLS 1.3 origin on 127.0.0.1:$ORIGIN; veil $VEIL_BIN ($("$VEIL_BIN" --version 2>/dev/null)), --workers $WORKERS --max-connections $MAX_CONNS${VEIL_ARGS:+ $VEIL_ARGS}"
echo "ulimit -n $(ulimit -n); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# mode_veil MODE LABEL: a fresh veil in MODE; sets CA (what the clients trust).
mode_veil() {
    local mode=$1 label=$2 extra=()
    [[ $mode == intercept ]] && extra=(--upstream-ca "$TESTCA")
    # shellcheck disable=SC2086
    start_veil "$label" --mode "$mode" --workers "$WORKERS" --max-connections "$MAX_CONNS" \
        --resolver static --resolve "localhost:$ORIGIN:127.0.0.1" "${extra[@]}" $VEIL_ARGS || return 1
    CA=$TESTCA
    if [[ $mode == intercept ]]; then veil_ca || return 1; CA=$VEIL_CA; fi
}

# peak_watch PID OUT: every 0.1 s, the largest VmRSS (KiB) and descriptor count so far -> OUT.
peak_watch() {
    local pid=$1 out=$2 r f mr=0 mf=0
    while kill -0 "$pid" 2>/dev/null; do
        r=$(status_kib "$pid" VmRSS) f=$(fd_count "$pid")
        ((r > mr)) && mr=$r
        ((f > mf)) && mf=$f
        echo "$mr $mf" >"$out.tmp" && mv "$out.tmp" "$out"
        sleep 0.1
    done
}

declare -A IDLE_R0 IDLE_R1 IDLE_N IDLE_FAIL B_START B_PEAK B_FDS B_AFTER B_RESULT B_FD0 B_FD1
for mode in $MODES; do
    # ---- idle connections
    if mode_veil "$mode" "idle-$mode"; then
        sleep 0.5
        IDLE_R0[$mode]=$(status_kib "$VEIL_PID" VmRSS)
        hold_conns "$mode" "localhost:$ORIGIN" "$CA" "$IDLE"
        sleep 1
        IDLE_R1[$mode]=$(status_kib "$VEIL_PID" VmRSS) IDLE_N[$mode]=$HOLD_OPENED IDLE_FAIL[$mode]=$HOLD_FAILED
        echo "$mode: $IDLE idle connections: VmRSS ${IDLE_R0[$mode]} -> ${IDLE_R1[$mode]} KiB (${IDLE_N[$mode]} open, ${IDLE_FAIL[$mode]:-?} failed)"
        stop_pid "$HOLD_PID" 10
        stop_veil 10
    fi

    # ---- burst
    if mode_veil "$mode" "burst-$mode"; then
        python3 "$BENCH_DIR/tools/shortconns.py" --port "$VEIL_PORT" --target "localhost:$ORIGIN" \
            --kind get --path /1m.bin --count 20 --procs 1 --threads 4 --cafile "$CA" >"$WORK/warm-$mode.log" 2>&1
        sleep 1
        B_START[$mode]=$(status_kib "$VEIL_PID" VmRSS) B_FD0[$mode]=$(fd_count "$VEIL_PID")
        peak_watch "$VEIL_PID" "$WORK/peak-$mode" &
        WATCH_PID=$!
        bg_register "$WATCH_PID"
        B_RESULT[$mode]=$(python3 "$BENCH_DIR/tools/shortconns.py" --port "$VEIL_PORT" --target "localhost:$ORIGIN" \
            --kind get --path /1m.bin --count "$BURST" --procs 4 --threads $(((BURST + 3) / 4)) --together --cafile "$CA" \
            2>"$WORK/burst-$mode.err")
        stop_pid "$WATCH_PID" 2
        read -r B_PEAK[$mode] B_FDS[$mode] <"$WORK/peak-$mode" 2>/dev/null
        sleep "$SETTLE"
        B_AFTER[$mode]=$(status_kib "$VEIL_PID" VmRSS) B_FD1[$mode]=$(fd_count "$VEIL_PID")
        echo "$mode: burst of $BURST: ${B_RESULT[$mode]}; VmRSS ${B_START[$mode]} -> peak ${B_PEAK[$mode]} -> ${B_AFTER[$mode]} KiB after ${SETTLE}s idle"
        stop_veil 10
    fi
done

# ------------------------------------------------------------------ report
echo
echo "== $IDLE concurrent idle connections (TLS handshake done, no data)"
fmt='%-14s %12s %14s %16s %8s\n'
printf "$fmt" "" "RSS before" "RSS with them" "KiB/connection" "open"
for mode in $MODES; do
    [[ -n "${IDLE_R1[$mode]:-}" ]] || { printf "$fmt" "$mode" n/a n/a n/a n/a; continue; }
    printf "$fmt" "$mode" "$(mib "${IDLE_R0[$mode]}") MiB" "$(mib "${IDLE_R1[$mode]}") MiB" \
        "$(awk -v a="${IDLE_R0[$mode]}" -v b="${IDLE_R1[$mode]}" -v n="${IDLE_N[$mode]}" 'BEGIN { printf (n ? "%.1f" : "n/a"), (b - a) / n }')" \
        "${IDLE_N[$mode]}"
done

echo
echo "== burst of $BURST concurrent 1 MiB downloads (one client thread each), then ${SETTLE}s idle"
fmt='%-14s %10s %10s %10s %12s %12s   %s\n'
printf "$fmt" "" "start" "peak" "peak fds" "after idle" "after/start" "downloads; fds start -> after"
for mode in $MODES; do
    [[ -n "${B_AFTER[$mode]:-}" ]] || { printf "$fmt" "$mode" n/a n/a n/a n/a n/a ""; continue; }
    printf "$fmt" "$mode" "$(mib "${B_START[$mode]}") MiB" "$(mib "${B_PEAK[$mode]:-0}") MiB" "${B_FDS[$mode]:-?}" \
        "$(mib "${B_AFTER[$mode]}") MiB" "$(ratio "${B_AFTER[$mode]}" "${B_START[$mode]}")" \
        "${B_RESULT[$mode]:-failed}; ${B_FD0[$mode]} -> ${B_FD1[$mode]}"
done

echo
echo "== issue 13 targets"
if [[ -n "${IDLE_R1[intercept]:-}" && "${IDLE_N[intercept]:-0}" -gt 0 ]]; then
    awk -v a="${IDLE_R0[intercept]}" -v b="${IDLE_R1[intercept]}" -v n="${IDLE_N[intercept]}" \
        'BEGIN { v = (b - a) / n; printf "intercept KiB per idle connection:        %7.1f  (target <= 64: %s)\n", v, (v <= 64 ? "met" : "NOT met") }'
fi
if [[ -n "${B_AFTER[intercept]:-}" ]]; then
    awk -v a="${B_AFTER[intercept]}" -v s="${B_START[intercept]}" -v t="$SETTLE" \
        'BEGIN { v = a / s; printf "intercept RSS %ds after the burst / start: %7.2f  (target <= 2: %s)\n", t, v, (v <= 2 ? "met" : "NOT met") }'
fi
echo "(a shared 2-core machine: other builds may run beside this; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
exit 0
