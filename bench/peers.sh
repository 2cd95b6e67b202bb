#!/usr/bin/env bash
# Peers benchmark (not a test; prints figures and ratios from one run): Veil beside the relays
# it is measured against, all on loopback, one nginx origin (TLS 1.3, HTTP/1.1), curl clients.
#   direct                 curl -> nginx
#   haproxy splice         Debian's HAProxy 2.6, mode tcp, option splice-auto, the origin as its
#                          server (it cannot do CONNECT: curl --connect-to sends it there)
#   squid CONNECT          Debian's squid-openssl, a plain CONNECT tunnel (no bump)
#   veil pass-through      veil run --mode passthrough (curl -x)
#   veil intercept         veil run --mode intercept --upstream-ca <test CA> (curl -x, --cacert
#                          Veil's CA)
# All five are up at once and the rounds are interleaved (direct, haproxy, squid, veil
# pass-through, veil intercept, then again), so a busy moment on the shared machine falls on
# every row alike. Figures:
#   bulk       SIZE MiB (1024) downloaded RUNS times (5): median wall, MB/s, proxy CPU s/GiB
#              (utime+stime of the proxy's processes and threads from /proc, before/after)
#   conns      CONNS (200) sequential new connections (one curl, --no-sessionid, Connection:
#              close), 1 KiB each: proxy CPU ms per connection, requests/s
#   parallel   PAR (8) concurrent PAR_MIB (256) MiB downloads (one curl each), PAR_RUNS (3)
#              times: median aggregate MB/s, proxy CPU s/GiB; for Veil (--workers WORKERS, 2)
#              each worker thread's share of the CPU its worker threads used, its io_uring
#              io-wq threads (iou-wrk-TID) counted with it (bench/tools/threadcpu.py)
#   peak RSS   VmHWM summed over the proxy's processes, after bulk + conns and after parallel
# Then the ratios of issue 13's targets.
#
#   bench/peers.sh                          (VEIL_BIN defaults to .build/release/veil; make bench-peers)
#   SIZE=256 RUNS=3 PAR_MIB=64 bench/peers.sh     quicker
#   SKIP=haproxy,squid bench/peers.sh        leave peers out (names: haproxy squid passthrough intercept)
#   VEIL_ARGS="--record-layer openssl" bench/peers.sh    extra flags for both veils
# Installs haproxy and squid-openssl (apt, as root) when missing. Data files are made once and
# cached in bench/.work/data. Well under 10 minutes on 2 cores with the defaults.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/peers-run
source "$BENCH_DIR/lib.sh"

SIZE=${SIZE:-1024}
RUNS=${RUNS:-5}
CONNS=${CONNS:-200}
PAR=${PAR:-8}
PAR_MIB=${PAR_MIB:-256}
PAR_RUNS=${PAR_RUNS:-3}
WORKERS=${WORKERS:-2}
SKIP=${SKIP:-}
VEIL_ARGS=${VEIL_ARGS:-}

skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

# ------------------------------------------------------------- dependencies

want=()
skipped haproxy || want+=(haproxy)
skipped squid || want+=(squid-openssl)
((${#want[@]})) && bench_install "$WORK_ROOT/apt-peers.log" "${want[@]}"

# ------------------------------------------------------------------- origin

setup_work
make_certs >/dev/null || exit 1
mkdir -p "$WORK/www"
ln -s "$(data_file "$SIZE")" "$WORK/www/data.bin"
ln -s "$(data_file "$PAR_MIB")" "$WORK/www/par.bin"
head -c 1024 /dev/urandom >"$WORK/www/small.bin"
cat "$WORK/www/data.bin" "$WORK/www/par.bin" >/dev/null   # warm the page cache

free_port ORIGIN
start_nginx peers "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
URL=https://localhost:$ORIGIN/data.bin

# ------------------------------------------------------------------- peers
# PEERS: the labels that came up, in table order; PID[label] the process to measure,
# ARGS[label] curl's arguments to go through it; NAME[label] the row's name.

declare -A PID ARGS NAME
PEERS=(direct)
PID[direct]="" ARGS[direct]="--cacert $TESTCA" NAME[direct]="direct"

if ! skipped haproxy && command -v haproxy >/dev/null; then
    free_port HA_PORT
    cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 4096
    log stderr format short local0 notice
defaults
    mode tcp
    option splice-auto
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend peers
    bind 127.0.0.1:$HA_PORT
    default_backend origin
backend origin
    server origin 127.0.0.1:$ORIGIN
EOF
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
    HA_PID=$!
    bg_register "$HA_PID"
    if wait_port "$HA_PORT" 10; then
        PEERS+=(haproxy) PID[haproxy]=$HA_PID NAME[haproxy]="haproxy splice"
        ARGS[haproxy]="--cacert $TESTCA --connect-to localhost:$ORIGIN:127.0.0.1:$HA_PORT"
        HA_VERSION=$(haproxy -v 2>&1); HA_VERSION=${HA_VERSION%%$'\n'*}
    else
        echo "haproxy did not start:"; tail -n 5 "$WORK/haproxy.log"
    fi
elif ! skipped haproxy; then
    echo "haproxy: not run (apt-get install haproxy)"
fi

if ! skipped squid && [[ $(id -u) == 0 ]] && command -v squid >/dev/null; then
    if start_squid connect; then
        PEERS+=(squid) PID[squid]=$SQUID_PID NAME[squid]="squid CONNECT"
        ARGS[squid]="--cacert $TESTCA -x http://127.0.0.1:$SQUID_PORT"
    fi
elif ! skipped squid; then
    echo "squid: not run (needs root and squid-openssl)"
fi

# veil_peer LABEL ARGS...: a veil with WORKERS workers; its log is $WORK/veil-LABEL.log.
veil_peer() {
    local label=$1; shift
    # shellcheck disable=SC2086
    if start_veil "$label" --workers "$WORKERS" --resolver static --resolve "localhost:$ORIGIN:127.0.0.1" \
        "$@" $VEIL_ARGS; then
        PEERS+=("$label") PID[$label]=$VEIL_PID
        return 0
    fi
    echo "veil ($label) did not start ($VEIL_BIN)"
    return 1
}
if ! skipped passthrough && veil_peer passthrough --mode passthrough; then
    NAME[passthrough]="veil pass-through"
    ARGS[passthrough]="--cacert $TESTCA -x http://127.0.0.1:$VEIL_PORT"
fi
if ! skipped intercept && veil_peer intercept --mode intercept --upstream-ca "$TESTCA" && veil_ca; then
    NAME[intercept]="veil intercept"
    ARGS[intercept]="--cacert $VEIL_CA -x http://127.0.0.1:$VEIL_PORT"
fi

echo "nginx TLS 1.3 HTTP/1.1 origin on 127.0.0.1:$ORIGIN; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "veil: $VEIL_BIN ($("$VEIL_BIN" --version 2>/dev/null)), --workers $WORKERS${VEIL_ARGS:+ $VEIL_ARGS}"
[[ -n "${HA_VERSION:-}" ]] &&
    echo "haproxy: $HA_VERSION (mode tcp, option splice-auto; $(ls "/proc/$HA_PID/task" | wc -l) threads, its default)"
[[ -n "${SQUID_VERSION:-}" ]] &&
    echo "squid: $SQUID_VERSION (plain CONNECT, server_persistent_connections off; $("${PROCTREE[@]}" pids "$SQUID_PID" | wc -l) process(es))"
echo "peers: ${PEERS[*]}"
awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { if (l > n) printf "note: load average %s on %d cores: other work is running, wall times and ratios are noisy\n", l, n }'
echo

# ----------------------------------------------------------------- measure

# shellcheck disable=SC2086 # ARGS[label] holds curl arguments without spaces inside them
for r in $(seq "$RUNS"); do
    echo "bulk round $r/$RUNS..."
    for l in "${PEERS[@]}"; do
        bulk_one "$l" "${PID[$l]}" "$URL" "$SIZE" ${ARGS[$l]} || echo "$l: bulk transfer failed"
    done
done
# shellcheck disable=SC2086
for l in "${PEERS[@]}"; do
    bulk_done "$l" "${PID[$l]}"
    echo "$CONNS new connections: $l..."
    conns "$l" "${PID[$l]}" ${ARGS[$l]}
done

# parallel LABEL PID CURL-ARGS...: PAR concurrent downloads of par.bin; appends the aggregate
# MB/s and the proxy's CPU seconds to P_RATES[LABEL], P_CPUS[LABEL]; P_BAD[LABEL] counts failures.
declare -A P_RATES P_CPUS P_BAD P_RATE P_CPU P_HWM
parallel() {
    local label=$1 pid=$2; shift 2
    local i t0 t1 c0 c1 ok=0 pids=() want=$((PAR_MIB * 1048576))
    c0=$(cpu_ticks "$pid"); t0=$(now)
    for ((i = 1; i <= PAR; i++)); do
        curl -sS --http1.1 --max-time 900 -o /dev/null -w '%{http_code} %{size_download}\n' "$@" \
            "https://localhost:$ORIGIN/par.bin?p=$i" >"$WORK/par-$label-$i.out" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    t1=$(now); c1=$(cpu_ticks "$pid")
    for ((i = 1; i <= PAR; i++)); do
        [[ "$(cat "$WORK/par-$label-$i.out")" == "200 $want" ]] && ((ok++))
    done
    P_BAD[$label]=$((${P_BAD[$label]:-0} + PAR - ok))
    P_RATES[$label]+="$(awk -v n="$ok" -v s="$want" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n * s / (b - a) / 1e6 }') "
    P_CPUS[$label]+="$(awk -v d=$((c1 - c0)) -v t="$TCK" 'BEGIN { printf "%.3f", d / t }') "
}

# Veil's threads are sampled over all its parallel rounds (bench/tools/threadcpu.py).
declare -A SAMPLER
for l in passthrough intercept; do
    [[ -n "${PID[$l]:-}" ]] || continue
    python3 "$BENCH_DIR/tools/threadcpu.py" "${PID[$l]}" "$WORK/threads-$l.txt" &
    SAMPLER[$l]=$!
    bg_register "${SAMPLER[$l]}"
done
# shellcheck disable=SC2086
for r in $(seq "$PAR_RUNS"); do
    echo "parallel round $r/$PAR_RUNS ($PAR x $PAR_MIB MiB)..."
    for l in "${PEERS[@]}"; do
        parallel "$l" "${PID[$l]}" ${ARGS[$l]}
    done
done
for l in "${!SAMPLER[@]}"; do
    stop_pid "${SAMPLER[$l]}" 5 TERM
done
for l in "${PEERS[@]}"; do
    # shellcheck disable=SC2086
    P_RATE[$l]=$(median ${P_RATES[$l]})
    # shellcheck disable=SC2086
    P_CPU[$l]=$(median ${P_CPUS[$l]})
    P_HWM[$l]=$(hwm_kib "${PID[$l]}")
done

# shares LABEL: SH="w1 51% / w2 49%  (...)" from threadcpu.py's file; SHARES_OK=0 when a
# worker's share is outside 35-65%.
SHARES_OK=1
shares() {
    local f=$WORK/threads-$1.txt
    [[ -s "$f" ]] || { SH=n/a; SHARES_OK=0; return; }
    SH=$(awk -v lo=35 -v hi=65 '
        $1 == "ring" { n++; t[n] = $3 + $4; own += $3; wq += $4; sum += $3 + $4 }
        $1 == "total" { total = $2 }
        END {
            if (sum == 0) { print "no worker CPU"; exit 1 }
            bad = 0
            for (i = 1; i <= n; i++) {
                p = 100 * t[i] / sum
                printf "%sw%d %.0f%%", (i > 1 ? " / " : ""), i, p
                if (p < lo || p > hi) bad = 1
            }
            printf "  (workers %.1f s = %.0f%% of veil; io-wq part %.0f%%)", sum / tck, (total ? 100 * sum / total : 0), 100 * wq / sum
            exit bad
        }' tck="$TCK" "$f") || SHARES_OK=0
}

# ------------------------------------------------------------------ report

echo
echo "== ${SIZE} MiB HTTPS download, median of $RUNS; $CONNS sequential new connections, 1 KiB each"
fmt='%-18s %7s %7s %9s %10s %12s %7s %9s\n'
printf "$fmt" "" "wall s" "MB/s" "x direct" "CPU s/GiB" "CPU ms/conn" "req/s" "peak RSS"
for l in "${PEERS[@]}"; do
    if [[ -z "${B_WALL[$l]:-}" ]]; then
        printf "$fmt" "${NAME[$l]}" n/a n/a n/a n/a "${C_CPU[$l]:-n/a}" "${C_RATE[$l]:-n/a}" n/a
        continue
    fi
    cpu=- cms=- rss=-
    if [[ $l != direct ]]; then
        cpu=$(per_gib "${B_CPU[$l]}" "${B_SIZE[$l]}") cms=${C_CPU[$l]:-n/a} rss="$((${B_HWM[$l]:-0} / 1024)) MiB"
    fi
    printf "$fmt" "${NAME[$l]}" "$(secs "${B_WALL[$l]}")" "$(mbps "${B_SIZE[$l]}" "${B_WALL[$l]}")" \
        "$(ratio "${B_WALL[$l]}" "${B_WALL[direct]:-}")" "$cpu" "$cms" "${C_RATE[$l]:-n/a}" "$rss"
done
for l in "${PEERS[@]}"; do
    echo "  $l: ${B_ALL[$l]:-no bulk figures}; conns ${C_NOTE[$l]:-none}"
done
awk -v t="$TCK" -v n="$CONNS" 'BEGIN { printf "  (CPU is counted in clock ticks: CPU ms/conn moves in steps of %.3f ms; CONNS=1000 for finer)\n", 1000 / t / n }'

echo
echo "== $PAR parallel ${PAR_MIB} MiB downloads, median of $PAR_RUNS; veil --workers $WORKERS"
fmt='%-18s %9s %9s %10s %9s   %s\n'
printf "$fmt" "" "agg MB/s" "x direct" "CPU s/GiB" "peak RSS" "worker threads' shares of their CPU"
for l in "${PEERS[@]}"; do
    cpu=- rss=- sh=""
    if [[ $l != direct ]]; then
        cpu=$(per_gib "${P_CPU[$l]}" $((PAR * PAR_MIB * 1048576))) rss="$((${P_HWM[$l]:-0} / 1024)) MiB"
    fi
    if [[ $l == passthrough || $l == intercept ]]; then shares "$l"; sh=$SH; fi
    printf "$fmt" "${NAME[$l]}" "${P_RATE[$l]}" "$(ratio "${P_RATE[$l]}" "${P_RATE[direct]}")" "$cpu" "$rss" "$sh"
done
for l in "${PEERS[@]}"; do
    echo "  $l: MB/s ${P_RATES[$l]% }; cpu ${P_CPUS[$l]% }${P_BAD[$l]:+; failed downloads ${P_BAD[$l]}}"
done
for l in passthrough intercept; do
    [[ -s "$WORK/threads-$l.txt" ]] && echo "  $l threads (ticks: ring TID own io-wq / other TID comm / total): $(tr '\n' ';' <"$WORK/threads-$l.txt")"
done

# target NAME VALUE OP LIMIT: one line of the ratios, "met" or "NOT met".
target() {
    local name=$1 v=$2 op=$3 lim=$4 ok
    [[ "$v" == - || -z "$v" ]] && { printf '%-52s %6s\n' "$name" "n/a"; return; }
    ok=$(awk -v v="$v" -v l="$lim" -v op="$op" 'BEGIN { print ((op == "<=" ? v <= l : v >= l) ? "met" : "NOT met") }')
    printf '%-52s %6s  (target %s %s: %s)\n' "$name" "$v" "$op" "$lim" "$ok"
}
tput_of() { [[ -n "${B_WALL[$1]:-}" ]] && awk -v s="${B_SIZE[$1]}" -v t="${B_WALL[$1]}" 'BEGIN { print s / t }'; }
cpu_of() { [[ -n "${B_CPU[$1]:-}" ]] && per_gib "${B_CPU[$1]}" "${B_SIZE[$1]}"; }
best_peer=$(for l in haproxy squid; do t=$(tput_of "$l") && echo "$t"; done | sort -g | tail -n 1)

echo
echo "== issue 13 targets (ratios from this run)"
target "pass-through wall / direct wall" "$(ratio "${B_WALL[passthrough]:-}" "${B_WALL[direct]:-}")" "<=" 1.10
target "pass-through MB/s / best of haproxy and squid" "$(ratio "$(tput_of passthrough)" "$best_peer")" ">=" 1.00
target "pass-through CPU/GiB / haproxy splice's" "$(ratio "$(cpu_of passthrough)" "$(cpu_of haproxy)")" "<=" 1.00
target "pass-through CPU/connection / squid CONNECT's" "$(ratio "${C_CPU[passthrough]:-}" "${C_CPU[squid]:-}")" "<=" 1.00
target "$PAR parallel: pass-through aggregate / direct" "$(ratio "${P_RATE[passthrough]:-}" "${P_RATE[direct]:-}")" ">=" 0.90
if [[ -n "${B_WALL[intercept]:-}" ]]; then
    printf '%-52s %6s  (issue 13 measured 1.73 on main before it; not to regress)\n' "intercept wall / direct wall" \
        "$(ratio "${B_WALL[intercept]}" "${B_WALL[direct]:-}")"
    printf '%-52s %6s  (issue 13 measured 1.28 s; not to grow)\n' "intercept CPU s/GiB" "$(cpu_of intercept)"
fi
if [[ -n "${SAMPLER[passthrough]:-}${SAMPLER[intercept]:-}" ]]; then
    echo "each worker's share between 35% and 65% (--workers $WORKERS): $( ((SHARES_OK)) && echo met || echo NOT met)"
fi
echo "(a shared 2-core machine: other builds may run beside this; load average now $(cut -d' ' -f1-3 /proc/loadavg))"

for l in passthrough intercept; do
    [[ -n "${PID[$l]:-}" ]] && stop_pid "${PID[$l]}" 10
done
[[ -n "${HA_PID:-}" ]] && stop_pid "$HA_PID" 5
[[ -n "${SQUID_PID:-}" ]] && stop_squid
exit 0
