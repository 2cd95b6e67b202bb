#!/usr/bin/env bash
# A/B comparison of two veil builds' CPU per new intercepted connection (not a test; prints
# figures). One nginx origin (TLS 1.3, HTTP/1.1), both veils running side by side (intercept,
# default workers), then PAIRS rounds, each driving CONNS sequential fresh connections
# (curl --no-sessionid, 1 KiB each, as bench/intercept.sh) through A and then B, alternating
# which goes first. CPU is utime+stime of each veil process over its batch. Interleaving makes
# the two see the same machine load, which a single bench run cannot promise.
#
#   bench/tools/conn-ab.sh OLD_BIN NEW_BIN [PAIRS (12)] [CONNS (300)]
#   A_ARGS="--record-layer openssl" bench/tools/conn-ab.sh BIN BIN   one build, two settings
#   BULK_MIB=256 bench/tools/conn-ab.sh A B [PAIRS]   one BULK_MIB download per batch instead:
#                                                      CPU seconds per GiB
#   MODE=passthrough bench/tools/conn-ab.sh A B ...   both in pass-through (curl trusts the
#                                                      origin's CA instead of Veil's)
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "$0")/.." && pwd)
WORK=$BENCH_DIR/.work/conn-ab
source "$BENCH_DIR/../integration/lib.sh"
A=${1:?usage: conn-ab.sh A_BIN B_BIN [PAIRS] [CONNS]} B=${2:?usage: conn-ab.sh A_BIN B_BIN [PAIRS] [CONNS]}
PAIRS=${3:-12} CONNS=${4:-300} BULK_MIB=${BULK_MIB:-0}
A_ARGS=${A_ARGS:-} B_ARGS=${B_ARGS:-} MODE=${MODE:-intercept}
TCK=$(getconf CLK_TCK)

setup_work
make_certs >/dev/null || exit 1
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/small.bin"
((BULK_MIB > 0)) && head -c "${BULK_MIB}M" /dev/urandom >"$WORK/www/bulk.bin"
free_port ORIGIN
start_nginx ab "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
declare -A PORT PID
for side in A B; do
    VEIL_BIN=${!side}
    args_var=${side}_ARGS
    # shellcheck disable=SC2086
    start_veil "$side" --mode "$MODE" --resolver static --upstream-ca "$TESTCA" \
        --resolve "localhost:$ORIGIN:127.0.0.1" ${!args_var} || exit 1
    PORT[$side]=$VEIL_PORT PID[$side]=$VEIL_PID
done
if [[ $MODE == passthrough ]]; then VEIL_CA=$TESTCA; else veil_ca || exit 1; fi
urls=()
for ((i = 1; i <= CONNS; i++)); do urls+=(-o /dev/null "https://localhost:$ORIGIN/small.bin?c=$i"); done
UNIT=ms/conn
((BULK_MIB > 0)) && UNIT=s/GiB
batch() { # SIDE -> CPU ms per connection (or s per GiB)
    local side=$1 u0 s0 u1 s1
    read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/${PID[$side]}/stat")
    if ((BULK_MIB > 0)); then
        curl -sS --http1.1 -x "http://127.0.0.1:${PORT[$side]}" --cacert "$VEIL_CA" -o /dev/null \
            "https://localhost:$ORIGIN/bulk.bin" || echo "curl failed through $side" >&2
    else
        curl -sS --http1.1 --no-sessionid -H 'Connection: close' -x "http://127.0.0.1:${PORT[$side]}" \
            --cacert "$VEIL_CA" "${urls[@]}" || echo "curl failed through $side" >&2
    fi
    read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/${PID[$side]}/stat")
    if ((BULK_MIB > 0)); then
        awk -v d=$((u1 - u0 + s1 - s0)) -v t="$TCK" -v m="$BULK_MIB" 'BEGIN { printf "%.3f", d / t / (m / 1024) }'
    else
        awk -v d=$((u1 - u0 + s1 - s0)) -v t="$TCK" -v n="$CONNS" 'BEGIN { printf "%.3f", d / t / n * 1000 }'
    fi
}
for side in A B; do batch "$side" >/dev/null; done  # warm-up: mint, cache the upstream session
RA=() RB=()
for ((r = 1; r <= PAIRS; r++)); do
    if ((r % 2)); then RA+=("$(batch A)"); RB+=("$(batch B)"); else RB+=("$(batch B)"); RA+=("$(batch A)"); fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "A ($A${A_ARGS:+ $A_ARGS}): ${RA[*]} $UNIT; median $(median "${RA[@]}")"
echo "B ($B${B_ARGS:+ $B_ARGS}): ${RB[*]} $UNIT; median $(median "${RB[@]}")"
awk -v a="$(median "${RA[@]}")" -v b="$(median "${RB[@]}")" 'BEGIN { printf "B / A (medians): %.3f\n", b / a }'
# Each pair ran back to back, so its own ratio sees one load; their spread says how far to trust
# the medians.
ratios=()
for ((i = 0; i < PAIRS; i++)); do ratios+=("$(awk -v a="${RA[i]}" -v b="${RB[i]}" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "nan" }')"); done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "B / A per pair: median %.3f, quartiles %.3f-%.3f, range %.3f-%.3f\n", m, v[int((NR + 3) / 4)], v[int((3 * NR + 3) / 4)], v[1], v[NR] }'
for side in A B; do stop_pid "${PID[$side]}" 10; done
