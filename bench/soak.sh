#!/usr/bin/env bash
# Soak with shutdown (prints figures; exits 1 on any failure): CONCURRENCY (200) clients
# download a 1 MiB file over and over through one veil, half intercepted (localhost) and half
# passed through (origin.test, --passthrough), each body checked by SHA-256, for DURATION
# seconds (120) in two rounds, each followed by a pause (RSS and fd count of the idle
# process); then TAIL seconds (3) more and veil gets SIGTERM with transfers in flight.
# Printed (bench/tools/soakclient.py): corrupt bodies, short bodies that ended with
# close_notify, connections without (or with more than one) summary line, accepted
# connections never answered, in-flight transfers that failed within the grace period,
# transfers that failed before the SIGTERM, what connections opened after the SIGTERM got
# (503, or a refused TCP connection), whether veil exited in time, RSS and fd count at start,
# peak, idle after each round (ROUNDS, 2) and just before SIGTERM. Fails also when the idle
# fd count is not back at the start value; idle RSS is reported (glibc keeps freed memory in
# its arenas after the peak: see docs/PERFORMANCE.md).
#
#   bench/soak.sh                              200 clients, 2 minutes
#   DURATION=20 bench/soak.sh                  the short run integration/t52-soak.sh makes
#   GRACE=10 VEIL_ARGS="--record-layer openssl" bench/soak.sh
# One nginx origin (TLS 1.3, HTTP/1.1) on loopback; veil with 2 workers (WORKERS).
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=${SOAK_WORK_ROOT:-$BENCH_DIR/.work}
WORK=$WORK_ROOT/soak-run
source "$BENCH_DIR/../integration/lib.sh"

DURATION=${DURATION:-120}
CONCURRENCY=${CONCURRENCY:-200}
TAIL=${TAIL:-3}
GRACE=${GRACE:-10}
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-2}
VEIL_ARGS=${VEIL_ARGS:-}

setup_work
make_certs >/dev/null || exit 1
mkdir -p "$WORK/www"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"
SHA=$(sha256sum "$WORK/www/1m.bin" | cut -d' ' -f1)
free_port ORIGIN
NGINX_HTTP_EXTRA="keepalive_requests 1000000;" start_nginx soak "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
# shellcheck disable=SC2086
start_veil soak --workers "$WORKERS" --grace "$GRACE" --resolver static --upstream-ca "$TESTCA" \
    --resolve "localhost:$ORIGIN:127.0.0.1" --resolve "origin.test:$ORIGIN:127.0.0.1" \
    --passthrough origin.test $VEIL_ARGS || exit 1
veil_ca || exit 1
echo "soak: veil $("$VEIL_BIN" --version 2>/dev/null) pid $VEIL_PID, $CONCURRENCY clients, ${DURATION}s + ${TAIL}s, grace ${GRACE}s; log $VEIL_LOG"
python3 "$BENCH_DIR/tools/soakclient.py" --port "$VEIL_PORT" --pid "$VEIL_PID" --log "$VEIL_LOG" \
    --sha "$SHA" --size 1048576 --path /1m.bin --concurrency "$CONCURRENCY" --duration "$DURATION" \
    --tail "$TAIL" --grace "$GRACE" --rounds "$ROUNDS" \
    --target "intercept=localhost:$ORIGIN:$VEIL_CA" --target "passthrough=origin.test:$ORIGIN:$TESTCA"
rc=$?
wait_exit "$VEIL_PID" 5
echo "soak: veil exit status $STOP_RC"
[[ "$STOP_RC" == 0 ]] || rc=1
VEIL_PID=""
exit $rc
