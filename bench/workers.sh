#!/usr/bin/env bash
# Worker balance benchmark (not a test): 8 parallel TLS downloads (BENCH_MIB each, default
# 256) from nginx on loopback through veil --workers 2, pass-through and intercept; each
# worker thread's share of Veil's CPU during the downloads, from /proc/PID/task/*/stat
# (utime+stime per thread, before and after). Target: each worker 35-65%.
# OLD_VEIL_BIN (optional) runs the same rounds with another binary in the same run, e.g. main's.
#
#   bench/workers.sh                                   (VEIL_BIN defaults to .build/release/veil)
#   OLD_VEIL_BIN=/tmp/main/veil ROUNDS=3 PARALLEL=8 bench/workers.sh
# With one listener per worker (SO_REUSEPORT) the kernel places connections by a hash of the
# 4-tuple: with only 8 connections a 5:3 or 6:2 split happens, so the rounds show the spread.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/run
source "$BENCH_DIR/../integration/lib.sh"

BENCH_MIB=${BENCH_MIB:-256}
ROUNDS=${ROUNDS:-3}
PARALLEL=${PARALLEL:-8}
WORKERS=${WORKERS:-2}

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

# task_ticks PID: "TID OWNER TICKS" per thread (utime+stime in clock ticks). OWNER is the
# thread itself, or for an io_uring io-wq worker (comm iou-wrk-TID: the kernel thread that runs
# a ring's blocking operations, such as splice) the ring's thread, which its CPU is counted to.
task_ticks() {
    local t comm owner
    for t in /proc/"$1"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        owner=${t##*/}
        [[ $comm == iou-wrk-* ]] && owner=${comm#iou-wrk-}
        awk -v tid="${t##*/}" -v owner="$owner" '{ sub(/.*\) /, ""); print tid, owner, $12 + $13 }' "$t/stat" 2>/dev/null
    done
}

# one_round LABEL CAFILE: PARALLEL downloads through the running veil; prints the threads'
# shares of the CPU Veil used meanwhile (a ring thread with its io-wq workers; under 1% left
# out), biggest first: the first two are the workers.
one_round() {
    local label=$1 cafile=$2 before after i pids=() bad=0 t0 t1
    before=$(task_ticks "$VEIL_PID")
    t0=$(date +%s.%N)
    for ((i = 0; i < PARALLEL; i++)); do
        curl -sS --max-time 600 -x "http://127.0.0.1:$VEIL_PORT" --cacert "$cafile" -o /dev/null \
            -w '%{http_code} %{size_download}\n' "$URL?$i" >"$WORK/dl-$i.out" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || bad=1; done
    t1=$(date +%s.%N)
    for ((i = 0; i < PARALLEL; i++)); do
        [[ "$(cat "$WORK/dl-$i.out")" == "200 $((BENCH_MIB * 1048576))" ]] || bad=1
    done
    after=$(task_ticks "$VEIL_PID")
    awk -v label="$label" -v bad="$bad" -v mib=$((BENCH_MIB * PARALLEL)) -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v tck="$(getconf CLK_TCK)" '
        NR == FNR { b[$1] = $3; next }
        { v = $3 - ($1 in b ? b[$1] : 0); d[$2] += v; total += v }
        END {
            n = 0
            for (t in d) if (total > 0 && d[t] / total >= 0.01) s[++n] = sprintf("%.0f", 100 * d[t] / total)
            # biggest first
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] + 0 > s[i] + 0) { x = s[i]; s[i] = s[j]; s[j] = x }
            line = ""
            for (i = 1; i <= n; i++) line = line (i > 1 ? " / " : "") s[i] "%"
            printf "%-34s %7.1f s CPU %7.0f MB/s aggregate   threads: %s%s\n", label, total / tck, mib * 1048576 / secs / 1e6, line, bad ? "   (A DOWNLOAD FAILED)" : ""
        }' <(echo "$before") <(echo "$after")
}

echo "nginx TLS1.3 origin on 127.0.0.1:$ORIGIN; $PARALLEL parallel downloads of $BENCH_MIB MiB; veil --workers $WORKERS; $(nproc) cores"
echo "each row: Veil's CPU during the downloads and each thread's share of it (a worker's ring thread"
echo "with its io-wq threads, which run its splices; threads >= 1%), biggest first"
echo
for bin in "$VEIL_BIN" ${OLD_VEIL_BIN:+"$OLD_VEIL_BIN"}; do
    VEIL_BIN=$bin
    export VEIL_HOME=$WORK/veil-home-$(echo "$bin" | md5sum | cut -c1-8)
    for mode in passthrough intercept; do
        if ! start_veil "$mode" --mode "$mode" --workers "$WORKERS" --resolver static --upstream-ca "$TESTCA" \
            --resolve "localhost:$ORIGIN:127.0.0.1"; then
            echo "veil $bin did not start"; continue
        fi
        ca=$TESTCA
        if [[ $mode == intercept ]]; then veil_ca || { stop_veil; continue; }; ca=$VEIL_CA; fi
        for r in $(seq "$ROUNDS"); do one_round "$mode round $r ($(basename "$(dirname "$bin")")/$(basename "$bin"))" "$ca"; done
        stop_veil 10
    done
done
