#!/usr/bin/env bash
# Relay round trips (not a test; prints figures): the time to first byte of a NEW tunnelled
# HTTPS request on a link with 25 ms of delay each way (RTT 50 ms), through
#   (a) veil, direct route (the reference: TCP + TLS + request = 3 round trips),
#   (b) veil --route tunnel --relay-mux off (TCP + TLS to the relay, CONNECT, then the same:
#       5 round trips),
#   (c) veil --route tunnel --relay-mux on (one HTTP/2 connection kept up: a CONNECT stream,
#       then TLS and the request: 3 round trips once the connection is up),
# each to N different names in turn (a new upstream connection every time), medians.
#
#   netns C: curl and veil                10.98.0.1/24 vc0   (netem delay 25ms)
#   netns I: veil relay :9443             10.98.0.2/24 vi0   (netem delay 25ms)
#            the origin (openssl s_server) 10.98.0.3:443
#
#   VEIL_BIN=.build/release/veil bench/relay-rtt.sh        (root: network namespaces, tc)
#   N=20 DELAY_MS=25 bench/relay-rtt.sh
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/relay-rtt
source "$BENCH_DIR/../integration/lib.sh"
N=${N:-10}
DELAY_MS=${DELAY_MS:-25}

setup_work
[[ $(id -u) == 0 ]] || { echo "relay-rtt: needs root (network namespaces, tc)"; exit 1; }
for tool in ip tc openssl curl; do command -v "$tool" >/dev/null || { echo "relay-rtt: $tool missing"; exit 1; }; done
make_certs || exit 1
C=rttc$$ I=rtti$$
CIP=10.98.0.1 IIP=10.98.0.2 OIP=10.98.0.3
cleanup_rtt() { cleanup_all; ip netns del "$C" 2>/dev/null; ip netns del "$I" 2>/dev/null; }
trap cleanup_rtt EXIT
# The link: veth with netem where the kernel has it; else two TAP devices joined by
# tools/delaylink.py, which delays every frame (SYNs included) by DELAY_MS in userspace.
ip netns add "$C" && ip netns add "$I" || { echo "relay-rtt: ip netns add failed"; exit 1; }
LINK=netem
if ip link add vc0 netns "$C" type veth peer name vi0 netns "$I" &&
        ip netns exec "$C" tc qdisc add dev vc0 root netem delay "${DELAY_MS}ms" 2>/dev/null &&
        ip netns exec "$I" tc qdisc add dev vi0 root netem delay "${DELAY_MS}ms" 2>/dev/null; then :; else
    LINK="userspace (delaylink.py: this kernel has no sch_netem)"
    ip -n "$C" link del vc0 2>/dev/null
    python3 "$BENCH_DIR/tools/delaylink.py" "vc0r$$" "vi0r$$" "$DELAY_MS" >"$WORK/delaylink.log" 2>&1 &
    bg_register $!
    wait_log "$WORK/delaylink.log" ready 10 || { echo "relay-rtt: delaylink: $(cat "$WORK/delaylink.log")"; exit 1; }
    ip link set "vc0r$$" netns "$C" && ip link set "vi0r$$" netns "$I" &&
        ip -n "$C" link set "vc0r$$" name vc0 && ip -n "$I" link set "vi0r$$" name vi0 ||
        { echo "relay-rtt: moving the TAP devices failed"; exit 1; }
fi
ip -n "$C" addr add "$CIP/24" dev vc0 && ip -n "$I" addr add "$IIP/24" dev vi0 &&
    ip -n "$I" addr add "$OIP/24" dev vi0 &&
    ip -n "$C" link set vc0 up && ip -n "$I" link set vi0 up &&
    ip -n "$C" link set lo up && ip -n "$I" link set lo up || { echo "relay-rtt: netns set-up failed"; exit 1; }
echo "link: $LINK"
inC() { ip netns exec "$C" "$@"; }
inI() { ip netns exec "$I" "$@"; }

make_leaf rtt-origin "DNS:*.rtt.test" || exit 1
mkdir -p "$WORK/www"; echo "first byte" >"$WORK/www/index.html"
(cd "$WORK/www" && exec ip netns exec "$I" openssl s_server -accept "$OIP:443" -cert "$LEAF_CERT" -key "$LEAF_KEY" \
    -tls1_3 -WWW -quiet -naccept 100000) >"$WORK/origin.log" 2>&1 &
bg_register $!
RESOLVE=()
for i in $(seq "$N"); do RESOLVE+=(--resolve "n$i.rtt.test:443:$OIP"); done
ip netns exec "$I" "$VEIL_BIN" relay --listen "$IIP:9443" --home "$WORK/relay-home" --workers 1 --allow-private \
    --resolver static "${RESOLVE[@]}" >"$WORK/relay.log" 2>&1 &
bg_register $!
for ((i = 0; i < 100; i++)); do [[ -s "$WORK/relay-home/relay-token" ]] && inI ss -Hltn | grep -q "$OIP:443" && break; sleep 0.1; done
[[ -s "$WORK/relay-home/relay-token" ]] || { echo "relay-rtt: the relay did not start: $(tail -n 3 "$WORK/relay.log")"; exit 1; }
export VEIL_HOME=$WORK/veil-home
VEIL_CA=$("$VEIL_BIN" ca path 2>/dev/null | tail -n 1)

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A FIRST REST
# run LABEL VEIL-ARGS...: veil in C; one request to each name; FIRST = the first's TTFB (ms),
# REST = the median of the others.
PORT=18080
run() {
    local label=$1 i t times=() log=$WORK/veil-$1.log; shift
    PORT=$((PORT + 1))
    ip netns exec "$C" "$VEIL_BIN" run --listen "127.0.0.1:$PORT" --workers 1 --upstream-ca "$TESTCA" "$@" >"$log" 2>&1 &
    local pid=$!
    bg_register "$pid"
    wait_log "$log" "listening on" 10 || { echo "$label: veil did not start: $(tail -n 3 "$log")"; return 1; }
    for i in $(seq "$N"); do
        t=$(inC curl -sS --max-time 20 -x "http://127.0.0.1:$PORT" --cacert "$VEIL_CA" -o /dev/null \
            -w '%{time_starttransfer}' "https://n$i.rtt.test/index.html") || { echo "$label: request $i failed"; break; }
        times+=("$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')")
    done
    stop_pid "$pid" 10
    FIRST[$label]=${times[0]:-nan}
    REST[$label]=$(median "${times[@]:1}")
}

TOKEN="@$WORK/relay-home/relay-token"
# ECH: with --ech auto a tunnelled target's HTTPS record is fetched through the relay before the
# ClientHello (mux off: on a TLS connection of its own; mux on: a RESOLVE stream), which adds its
# round trips to every new name; the default compares the tunnels alone (ECH=auto to see them).
ECH_ARGS=(--ech "${ECH:-off}")
run direct "${ECH_ARGS[@]}" --resolver static "${RESOLVE[@]}"
run mux-off "${ECH_ARGS[@]}" --route tunnel --relay-token "$TOKEN" --relay-mux off
run mux-on "${ECH_ARGS[@]}" --route tunnel --relay-token "$TOKEN" --relay-mux on

RTT=$((2 * DELAY_MS))
echo
echo "time to first byte of a new HTTPS request through veil (--ech ${ECH:-off}); link RTT ${RTT} ms (${DELAY_MS} ms each way, $LINK); $N names"
printf '%-26s %10s %16s %10s %10s\n' route "first ms" "median next ms" "x direct" "RTTs"
for l in direct mux-off mux-on; do
    [[ -n "${REST[$l]:-}" ]] || { printf '%-26s %10s\n' "$l" failed; continue; }
    printf '%-26s %10s %16s %10s %10s\n' "$l" "${FIRST[$l]}" "${REST[$l]}" \
        "$(awk -v a="${REST[$l]}" -v b="${REST[direct]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
        "$(awk -v a="${REST[$l]}" -v r="$RTT" 'BEGIN { printf "%.1f", a / r }')"
done
[[ -n "${REST[mux-off]:-}" && -n "${REST[mux-on]:-}" ]] &&
    echo "mux on saves $(awk -v a="${REST[mux-off]}" -v b="${REST[mux-on]}" -v r="$RTT" 'BEGIN { printf "%.1f", (a - b) / r }') round trips per new connection after the first"
