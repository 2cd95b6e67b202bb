#!/usr/bin/env bash
# Passthrough benchmark (not a test): a 1 GiB TLS download from nginx on loopback,
#   (a) direct, (b) through veil --mode passthrough, (c) through socat as a plain
#   TCP relay, ROUNDS times (default 3, medians reported); wall time, MB/s, relay CPU seconds per GiB, veil peak RSS; then veil's
#   RSS cost per idle tunnelled TLS connection (200 of them).
#
#   bench/passthrough.sh            (VEIL_BIN defaults to .build/release/veil)
#   BENCH_MIB=256 bench/passthrough.sh   smaller file;  HOLD_CONNS=500 for the memory part
# The data file is made once and cached in bench/.work/data. Loopback only.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/run
source "$BENCH_DIR/../integration/lib.sh"

BENCH_MIB=${BENCH_MIB:-1024}
HOLD_CONNS=${HOLD_CONNS:-200}
TCK=$(getconf CLK_TCK)

setup_work
make_certs || exit 1
mkdir -p "$WORK_ROOT/data" "$WORK/www"
DATA=$WORK_ROOT/data/random-${BENCH_MIB}MiB.bin
if [[ ! -s "$DATA" ]]; then
    echo "making $DATA (once)..."
    head -c "${BENCH_MIB}M" /dev/urandom >"$DATA.tmp" && mv "$DATA.tmp" "$DATA"
fi
ln -s "$DATA" "$WORK/www/data.bin"
echo ok >"$WORK/www/index.html"
cat "$DATA" >/dev/null   # warm the page cache

free_port ORIGIN
start_nginx bench "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
URL=https://localhost:$ORIGIN/data.bin

# cpu_ticks PID: utime+stime (all threads, in clock ticks) from /proc/PID/stat.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# fetch LABEL CURL-ARGS...: sets WALL (s) and SIZE (bytes); fails on a short download.
fetch() {
    local label=$1; shift
    local w
    w=$(curl -sS --max-time 600 --cacert "$TESTCA" -o /dev/null -w '%{time_total} %{size_download} %{http_code}' "$@" "$URL") || {
        echo "$label: curl failed: $w"; return 1; }
    read -r WALL SIZE code <<<"$w"
    [[ "$code" == 200 && "$SIZE" == $((BENCH_MIB * 1048576)) ]] || { echo "$label: got $w"; return 1; }
}

row() { printf '%-22s %8s %9s %16s %12s\n' "$@"; }
secs() { printf '%.2f' "$1"; }
mbps() { awk -v s="$1" -v t="$2" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
per_gib() { awk -v c="$1" -v s="$2" 'BEGIN { printf "%.3f", c / (s / 1073741824) }'; }

echo "nginx TLS1.3 origin on 127.0.0.1:$ORIGIN, ${BENCH_MIB} MiB, $(nproc) cores, curl -o /dev/null"
echo "veil: $VEIL_BIN; socat: socat ${SOCAT_OPTS:+$SOCAT_OPTS }TCP-LISTEN:p,reuseaddr TCP:127.0.0.1:$ORIGIN"
echo

# ROUNDS rounds, each: (a) direct, (b) through veil, (c) through socat; the table shows the
# median of each column, so one noisy transfer on a shared machine does not decide the ratio.
ROUNDS=${ROUNDS:-3}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "") }'; }

D_WALLS=() V_WALLS=() V_CPUS=() S_WALLS=() S_CPUS=() V_HWM="" S_RSS=""
VEIL_UP=0
if start_veil bench --mode passthrough --resolver static --resolve "localhost:$ORIGIN:127.0.0.1"; then
    VEIL_UP=1
else
    echo "veil did not start ($VEIL_BIN); skipping its rows"
fi
for round in $(seq "$ROUNDS"); do
    fetch direct || exit 1
    D_WALLS+=("$WALL")
    D_SIZE=$SIZE

    if ((VEIL_UP)); then
        c0=$(cpu_ticks "$VEIL_PID")
        if fetch veil -x "http://127.0.0.1:$VEIL_PORT"; then
            c1=$(cpu_ticks "$VEIL_PID")
            V_WALLS+=("$WALL")
            V_CPUS+=("$(awk -v d=$((c1 - c0)) -v t="$TCK" 'BEGIN { printf "%.3f", d / t }')")
            V_HWM=$(status_kib "$VEIL_PID" VmHWM)
        fi
    fi

    # socat serves one connection, then exits; its rusage comes from wait4.
    free_port SOCAT_PORT
    python3 "$BENCH_DIR/tools/rusage.py" "$WORK/socat.rusage" \
        socat ${SOCAT_OPTS:-} "TCP-LISTEN:$SOCAT_PORT,reuseaddr,bind=127.0.0.1" "TCP:127.0.0.1:$ORIGIN" &
    SOCAT_PID=$!
    bg_register "$SOCAT_PID"
    for _ in $(seq 50); do ss -Hltn "sport = :$SOCAT_PORT" | grep -q LISTEN && break; sleep 0.1; done
    if fetch socat --connect-to "localhost:$ORIGIN:127.0.0.1:$SOCAT_PORT"; then
        S_WALLS+=("$WALL")
        wait_exit "$SOCAT_PID" 10
        read -r su ss_ S_RSS <"$WORK/socat.rusage"
        S_CPUS+=("$(awk -v u="$su" -v s="$ss_" 'BEGIN { printf "%.3f", u + s }')")
    fi
    stop_pid "$SOCAT_PID" 2
done
((VEIL_UP)) && stop_veil 10

D_WALL=$(median "${D_WALLS[@]}")
V_WALL=$(median "${V_WALLS[@]}") V_CPU=$(median "${V_CPUS[@]}")
S_WALL=$(median "${S_WALLS[@]}") S_CPU=$(median "${S_CPUS[@]}")
echo "median of $ROUNDS rounds (direct walls: ${D_WALLS[*]}; veil: ${V_WALLS[*]}; socat: ${S_WALLS[*]})"
echo

row "" "wall s" "MB/s" "relay CPU s/GiB" "peak RSS"
row "direct" "$(secs "$D_WALL")" "$(mbps "$D_SIZE" "$D_WALL")" "-" "-"
if [[ -n "$V_WALL" ]]; then
    row "veil passthrough" "$(secs "$V_WALL")" "$(mbps "$D_SIZE" "$V_WALL")" "$(per_gib "$V_CPU" "$D_SIZE")" "$((V_HWM / 1024)) MiB"
else
    row "veil passthrough" "n/a" "n/a" "n/a" "n/a"
fi
if [[ -n "$S_WALL" ]]; then
    row "socat relay" "$(secs "$S_WALL")" "$(mbps "$D_SIZE" "$S_WALL")" "$(per_gib "$S_CPU" "$D_SIZE")" "$((S_RSS / 1024)) MiB"
else
    row "socat relay" "n/a" "n/a" "n/a" "n/a"
fi
echo
if [[ -n "$V_WALL" ]]; then
    awk -v v="$V_WALL" -v d="$D_WALL" 'BEGIN { printf "veil wall / direct wall:        %.2f  (target <= 1.10)\n", v / d }'
    [[ -n "$S_CPU" ]] && awk -v v="$V_CPU" -v s="$S_CPU" \
        'BEGIN { printf "veil CPU/GiB / socat CPU/GiB:  %s  (target < 1)\n", (s > 0 ? sprintf("%.2f", v / s) : "n/a") }'
fi

# Memory: RSS per idle tunnelled TLS connection.
echo
if start_veil bench-mem --mode passthrough --resolver static --resolve "localhost:$ORIGIN:127.0.0.1"; then
    sleep 0.5
    r0=$(status_kib "$VEIL_PID" VmRSS)
    hold_conns idle "localhost:$ORIGIN" "$TESTCA" "$HOLD_CONNS"
    r1=$(status_kib "$VEIL_PID" VmRSS) opened=$HOLD_OPENED failed=$HOLD_FAILED
    echo "veil memory: VmRSS $r0 KiB idle, $r1 KiB with $opened idle TLS tunnels open ($failed failed)"
    ((opened > 0)) && awk -v a="$r0" -v b="$r1" -v n="$opened" \
        'BEGIN { printf "veil RSS per idle tunnelled TLS connection: %.1f KiB\n", (b - a) / n }'
    stop_pid "$HOLD_PID" 5
    stop_veil 10
else
    echo "veil did not start; no memory figure"
fi
