#!/usr/bin/env bash
# CPU per new intercepted connection with ECH against without, in one run (issue 14's target:
# ECH adds at most 15%). Not a test; prints figures.
#
# One ECH server, BoringSSL's `bssl-tool server -www` with a config from `bssl-tool
# generate-ech` (it binds every interface, so it runs in `unshare --net` behind socat, as in
# integration/t72), and three veils side by side (intercept, --resolver static):
#   accepted  --ech-config origin.test=@list.bin   (ECH accepted by the server)
#   off       --ech off                             (the reference)
#   grease    the default --ech auto, no config     (a GREASE ECH extension)
# then ROUNDS rounds, each driving CONNS sequential fresh connections (curl --no-sessionid,
# Connection: close) through every veil, the order rotating per round so a busy moment falls on
# each. CPU is utime+stime of each veil process over its batch; wall is the batch's. Printed:
# per veil the per-round figures and their median, and per round the ratio to `off` (median,
# quartiles).
#
#   bench/ech.sh                       (VEIL_BIN defaults to .build/release/veil)
#   ROUNDS=9 CONNS=200 bench/ech.sh
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK=$BENCH_DIR/.work/ech
source "$BENCH_DIR/lib.sh"
ROUNDS=${ROUNDS:-9} CONNS=${CONNS:-200}
VEIL_BIN=${VEIL_BIN:-$BENCH_DIR/../.build/release/veil}
command -v bssl-tool >/dev/null || { echo "bssl-tool missing (apt-get install android-boringssl, or make deps)"; exit 1; }

setup_work
make_certs >/dev/null || exit 1
make_leaf ech-origin "DNS:origin.test,DNS:public.test" >/dev/null || exit 1
D=$WORK/ech-server
mkdir -p "$D"
(cd "$D" && bssl-tool generate-ech -out-ech-config-list list.bin -out-ech-config config.bin -out-private-key key.bin \
    -public-name public.test -config-id 7) >"$D/gen.log" 2>&1 || { cat "$D/gen.log"; exit 1; }
env --default-signal unshare --net bash -c "
    cd '$D'; ip link set lo up
    bssl-tool server -accept 4433 -cert '$LEAF_CERT' -key '$LEAF_KEY' -ech-config config.bin -ech-key key.bin \
        -www -loop >server.log 2>&1 & b=\$!
    until ss -ltn | grep -q ':4433 '; do sleep 0.05; done
    socat UNIX-LISTEN:'$D/server.sock',fork TCP:127.0.0.1:4433 & s=\$!
    trap 'kill \$b \$s 2>/dev/null; exit 0' TERM INT
    wait" >"$D/ns.log" 2>&1 &
bg_register $!
for ((i = 0; i < 100; i++)); do [[ -S "$D/server.sock" ]] && break; sleep 0.05; done
free_port ORIGIN
socat "TCP-LISTEN:$ORIGIN,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$D/server.sock" >"$D/socat.log" 2>&1 &
bg_register $!
wait_port "$ORIGIN" 10 || { echo "the ECH server did not come up"; tail -n 5 "$D"/*.log; exit 1; }

SIDES=(accepted off grease)
declare -A PORT PID EXTRA=([accepted]="--ech-config origin.test=@$D/list.bin" [off]="--ech off" [grease]="")
for side in "${SIDES[@]}"; do
    # shellcheck disable=SC2086
    start_veil "$side" --mode intercept --resolver static --upstream-ca "$TESTCA" \
        --resolve "origin.test:$ORIGIN:127.0.0.1" ${EXTRA[$side]} || exit 1
    PORT[$side]=$VEIL_PORT PID[$side]=$VEIL_PID
done
veil_ca || exit 1
urls=()
for ((i = 1; i <= CONNS; i++)); do urls+=(-o /dev/null "https://origin.test:$ORIGIN/?c=$i"); done

batch() { # SIDE -> "CPU_MS_PER_CONN WALL_MS_PER_CONN"
    local side=$1 u0 s0 u1 s1 t0 t1 n
    read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/${PID[$side]}/stat")
    t0=$(now)
    n=$(curl -sS --http1.1 --no-sessionid -H 'Connection: close' -x "http://127.0.0.1:${PORT[$side]}" \
        --cacert "$VEIL_CA" -w '%{http_code}\n' "${urls[@]}" 2>>"$WORK/curl-$side.err" | grep -c '^200')
    t1=$(now)
    read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/${PID[$side]}/stat")
    ((n == CONNS)) || echo "$side: only $n of $CONNS connections succeeded" >&2
    awk -v d=$((u1 - u0 + s1 - s0)) -v t="$TCK" -v n="$CONNS" -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        'BEGIN { printf "%.3f %.3f", d / t / n * 1000, w / n * 1000 }'
}
# The page must say ECH was accepted through `accepted` and not through the others.
for side in "${SIDES[@]}"; do
    page=$(curl -sS --http1.1 -x "http://127.0.0.1:${PORT[$side]}" --cacert "$VEIL_CA" "https://origin.test:$ORIGIN/")
    echo "$side: the server says: $(grep -o 'Encrypted ClientHello: [a-z]*' <<<"$page")"
    batch "$side" >/dev/null  # warm-up: the certificate is minted
done
grep -ho 'ech=[a-z]*' "$WORK"/veil-{accepted,off,grease}.log | sort | uniq -c | sed 's/^/  summary lines: /'

declare -A CPU WALL
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < 3; k++)); do
        side=${SIDES[(r + k) % 3]}
        read -r c w < <(batch "$side")
        CPU[$side]+="$c " WALL[$side]+="$w "
    done
done
quart() { # values... -> "median q1-q3"
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f (%.3f-%.3f)", m, v[int((NR + 3) / 4)], v[int((3 * NR + 3) / 4)] }'
}
echo
echo "veil $("$VEIL_BIN" --version 2>/dev/null | head -n 1); $ROUNDS rounds x $CONNS connections; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %-34s %-26s %-26s %s\n' "" "CPU ms/conn: median (quartiles)" "x off per round" "wall ms/conn" "x off per round"
read -ra off_c <<<"${CPU[off]}"; read -ra off_w <<<"${WALL[off]}"
for side in "${SIDES[@]}"; do
    read -ra c <<<"${CPU[$side]}"; read -ra w <<<"${WALL[$side]}"
    rc=() rw=()
    for ((r = 0; r < ROUNDS; r++)); do
        rc+=("$(awk -v a="${c[r]}" -v b="${off_c[r]}" 'BEGIN { print (b > 0 ? a / b : 0) }')")
        rw+=("$(awk -v a="${w[r]}" -v b="${off_w[r]}" 'BEGIN { print (b > 0 ? a / b : 0) }')")
    done
    printf '%-9s %-34s %-26s %-26s %s\n' "$side" "$(quart "${c[@]}")" "$(quart "${rc[@]}")" "$(quart "${w[@]}")" "$(quart "${rw[@]}")"
done
echo "per round, CPU ms/conn: accepted ${CPU[accepted]}| off ${CPU[off]}| grease ${CPU[grease]}"
for side in "${SIDES[@]}"; do stop_pid "${PID[$side]}" 10; done
