# Workers share the load: with --workers 2 each worker accepts on its own listening socket
# (an SO_REUSEPORT group), so 200 connections spread over both, on the plain (CONNECT)
# listener, the HTTPS listener and `veil relay`'s listener: each worker's count in /metrics
# (veil_accepted_total{worker,listener}) is at least 20% of them. With one shared listener
# (before), one worker took nearly all. And SIGTERM while clients sit in the listeners'
# queues (veil stopped with SIGSTOP while they connect) loses none: every client gets an
# answer and a summary line. (Here the workers take the queued clients as soon as veil
# resumes; the main thread's drain of every worker's listener after the workers stop,
# ShutdownBacklog, is proved on real sockets by Tests/VeilProxyTests/ShutdownBacklogTests.)

WK_N=200
WK_MIN=$((WK_N / 5))
free_port WK_MX; free_port WK_TLS; free_port WK_RELAY; free_port WK_RMX

# wk_accepted METRICS-PORT WORKER LISTENER: veil_accepted_total for that worker and listener.
wk_accepted() {
    curl -sS --max-time 5 "http://127.0.0.1:$1/metrics" | /usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
want = {"worker": sys.argv[1], "listener": sys.argv[2]}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.name == "veil_accepted_total" and all(s.labels.get(k) == v for k, v in want.items()):
            print(int(s.value)); sys.exit(0)
print("absent")' "$2" "$3"
}

# wk_fair NAME METRICS-PORT LISTENER: both workers accepted at least WK_MIN of the WK_N.
wk_fair() {
    local name=$1 a b
    a=$(wk_accepted "$2" 0 "$3"); b=$(wk_accepted "$2" 1 "$3")
    if [[ "$a" =~ ^[0-9]+$ && "$b" =~ ^[0-9]+$ ]] && ((a + b >= WK_N && a >= WK_MIN && b >= WK_MIN)); then
        pass "$name (worker 0: $a, worker 1: $b)"
    else
        fail "$name" "each of 2 workers should accept >= $WK_MIN of $WK_N; worker 0: $a, worker 1: $b"
    fi
}

# wk_many N CMD...: runs CMD N times, 4 at a time; prints how many printed 200.
wk_many() {
    local n=$1; shift
    seq "$n" | xargs -P 4 -I{} "$@" 2>/dev/null | grep -c '^200$'
}

if veil_or_fail workers --workers 2 --mode passthrough --resolver static --metrics "127.0.0.1:$WK_MX" \
    --listen-tls "127.0.0.1:$WK_TLS" --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    ok=$(wk_many "$WK_N" curl -sS --max-time 20 -x "http://127.0.0.1:$VEIL_PORT" --cacert "$TESTCA" \
        -o /dev/null -w '%{http_code}\n' "https://localhost:$NGX13/index.html")
    expect_eq "workers/connect listener: $WK_N downloads" "$WK_N" "$ok"
    wk_fair "workers/connect listener: both workers accept a fair share" "$WK_MX" connect
    ok=$(wk_many "$WK_N" curl -sS --max-time 20 -x "https://127.0.0.1:$WK_TLS" --proxy-cacert "$VEIL_CA" \
        --cacert "$TESTCA" -o /dev/null -w '%{http_code}\n' "https://localhost:$NGX13/index.html")
    expect_eq "workers/https listener: $WK_N downloads" "$WK_N" "$ok"
    wk_fair "workers/https listener: both workers accept a fair share" "$WK_MX" https
    stop_veil 10
    expect_eq "workers/exits 0" 0 "$STOP_RC"
fi

WK_SECRET=workers-secret-$RANDOM$RANDOM
if start_relay workers "$WK_RELAY" --secret "$WK_SECRET" --allow-private --allow-port "$NGX13" \
    --resolver static --resolve "localhost:$NGX13:127.0.0.1" --metrics "127.0.0.1:$WK_RMX"; then
    ok=$(wk_many "$WK_N" curl -sS --max-time 20 -x "https://127.0.0.1:$WK_RELAY" --proxy-insecure \
        --proxy-header "Proxy-Authorization: Bearer $WK_SECRET" --cacert "$TESTCA" \
        -o /dev/null -w '%{http_code}\n' "https://localhost:$NGX13/index.html")
    expect_eq "workers/relay: $WK_N downloads" "$WK_N" "$ok"
    wk_fair "workers/relay: both workers accept a fair share" "$WK_RMX" https
    stop_pid "$RL_PID" 10
    expect_eq "workers/relay exits 0" 0 "$STOP_RC"
else
    fail "workers/relay start" "see $WORK/relay-workers.log"
fi

# SIGTERM with clients queued: veil is stopped (SIGSTOP) while WK_Q clients connect and send
# CONNECT, so they wait in the two listeners' queues; then SIGTERM and SIGCONT. Each client
# must read an answer (200 if a worker took it before the shutdown began, else 503), none a
# reset or nothing, and the log must have one summary line per client.
WK_Q=60
if veil_or_fail workers-queued --workers 2 --mode passthrough --resolver static --grace 5 \
    --resolve "localhost:$NGX13:127.0.0.1"; then
    log_mark
    rm -f "$WORK/wk-queued.ready"
    /usr/bin/python3 - "$VEIL_PORT" "$WK_Q" "localhost:$NGX13" "$WORK/wk-queued.ready" >"$WORK/wk-queued.out" 2>&1 <<'EOF' &
import socket, sys, time
port, n, target, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    socks.append(s)
open(ready, "w").write("ready\n")
for s in socks:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        print(data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.") else "nothing")
    except OSError as e:
        print(type(e).__name__)
    s.close()
EOF
    q_pid=$!
    bg_register "$q_pid"
    kill -STOP "$VEIL_PID"
    for _ in $(seq 100); do [[ -s "$WORK/wk-queued.ready" ]] && break; sleep 0.1; done
    queued=$(ss -Htln "( sport = :$VEIL_PORT )" | awk '{s += $2} END {print s + 0}')
    kill -TERM "$VEIL_PID"
    kill -CONT "$VEIL_PID"
    wait "$q_pid"
    if ((queued >= WK_Q / 2)); then pass "workers-queued/clients wait in the listeners' queues ($queued)"; else
        fail "workers-queued/clients wait in the listeners' queues" "only $queued of $WK_Q queued"; fi
    answered=$(grep -cE '^(200|503)$' "$WORK/wk-queued.out")
    expect_eq "workers-queued/every queued client is answered" "$WK_Q" "$answered"
    wait_exit "$VEIL_PID" 15
    expect_eq "workers-queued/veil exits 0" 0 "$STOP_RC"
    expect_eq "workers-queued/one summary line per client" "$WK_Q" "$(log_new | grep -cE "$SUMMARY_RE")"
    VEIL_PID=""
fi
