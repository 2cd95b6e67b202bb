# Shutdown: after SIGTERM new clients are answered 503 (with a summary line each), an
# in-flight download finishes within the grace period and veil exits 0; a connection
# outliving the grace is closed (close=shutdown) and veil still exits 0; connections still
# setting up (request half sent, connect under way) are answered 503; SIGINT with nothing
# open exits 0 quickly; SIGHUP never stops veil. --max-connections counts across workers
# and answers 503 past the limit.

SD_RESOLVE=(--resolve "localhost:$NGX12:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1")

if veil_or_fail shutdown --mode passthrough --resolver static --grace 20 "${SD_RESOLVE[@]}"; then
    log_mark
    out=$WORK/slow.bin
    rm -f "$out"
    # 16 MiB at 4 MiB/s: about 4 s in flight.
    pcurl --limit-rate 4M -o "$out" -w '%{http_code}' "https://localhost:$NGX12/big.bin" >"$WORK/slow.code" 2>"$WORK/slow.err" &
    curl_pid=$!
    for _ in $(seq 50); do [[ -s "$out" ]] && break; sleep 0.1; done
    sleep 0.5
    t0=$SECONDS
    kill -TERM "$VEIL_PID"
    sleep 0.5
    got=$(curl -sS --max-time 3 -x "http://127.0.0.1:$VEIL_PORT" --cacert "$TESTCA" -o /dev/null \
        -w '%{http_connect} %{local_port}' "https://localhost:$NGX13/index.html" 2>/dev/null)
    expect_eq "shutdown/a new CONNECT after SIGTERM is answered 503" 503 "${got%% *}"
    summary_for "${got##* }" 3
    expect_summary "shutdown/the refused client has a summary" close shutdown
    wait "$curl_pid"; crc=$?
    expect_eq "shutdown/in-flight download completes" "0 200" "$crc $(cat "$WORK/slow.code")"
    expect_eq "shutdown/in-flight download sha256" "$BIG_SHA" "$(sha_of "$out")"
    rm -f "$out"
    wait_exit "$VEIL_PID" 25
    expect_eq "shutdown/veil exits 0 after draining" 0 "$STOP_RC"
    if ((SECONDS - t0 <= 15)); then pass "shutdown/exits soon after the last connection"; else
        fail "shutdown/exits soon after the last connection" "took $((SECONDS - t0)) s"; fi
    wait_summary 1 "target=\"?localhost:$NGX12\"?"
    expect_summary "shutdown/in-flight summary close" close ok
    VEIL_PID=""
fi

if veil_or_fail shutdown-grace --mode passthrough --resolver static --grace 2 "${SD_RESOLVE[@]}"; then
    log_mark
    python3 "$TOOLS/proxyclient.py" hold --port "$VEIL_PORT" --target "localhost:$NGX13" --sni localhost \
        --cafile "$TESTCA" --count 1 --hold-seconds 30 --ready-file "$WORK/grace.ready" >"$WORK/grace-hold.log" 2>&1 &
    hold_pid=$!
    bg_register "$hold_pid"
    for _ in $(seq 50); do [[ -s "$WORK/grace.ready" ]] && break; sleep 0.1; done
    expect_eq "shutdown-grace/tunnel open" "1 0" "$(cat "$WORK/grace.ready" 2>/dev/null)"
    t0=$SECONDS
    kill -TERM "$VEIL_PID"
    wait_exit "$VEIL_PID" 10
    expect_eq "shutdown-grace/veil exits 0 after the grace" 0 "$STOP_RC"
    if ((SECONDS - t0 <= 6)); then pass "shutdown-grace/grace of 2 s honoured"; else
        fail "shutdown-grace/grace of 2 s honoured" "took $((SECONDS - t0)) s"; fi
    wait_summary 1
    expect_summary "shutdown-grace/summary close" close shutdown
    VEIL_PID=""
    stop_pid "$hold_pid" 2
fi

if veil_or_fail shutdown-sigint --mode passthrough --resolver static "${SD_RESOLVE[@]}"; then
    kill -INT "$VEIL_PID"
    wait_exit "$VEIL_PID" 5
    expect_eq "shutdown-sigint/idle veil exits 0 on SIGINT" 0 "$STOP_RC"
    VEIL_PID=""
fi

# Connections still setting up at SIGTERM get an answer: one that sent half a request, one
# whose upstream connect hangs (a listener whose accept queue is full).
start_pc_listener blackhole SD_BH_PORT || SD_BH_PORT=9
SD_BH_PID=$PC_LISTENER_PID
if veil_or_fail shutdown-setup --mode passthrough --resolver static --connect-timeout 20 \
    "${SD_RESOLVE[@]}" --resolve "localhost:$SD_BH_PORT:127.0.0.1"; then
    log_mark
    python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --data 'CONNECT localhost:' --timeout 10 \
        >"$WORK/sd-half.out" 2>&1 &
    half_pid=$!
    python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --timeout 10 \
        --data "CONNECT localhost:$SD_BH_PORT HTTP/1.1\r\n\r\n" >"$WORK/sd-connecting.out" 2>&1 &
    connecting_pid=$!
    # Both clients connected, and Veil's connect towards the full accept queue under way.
    for _ in $(seq 100); do
        (($(ss -Htn state established "( dport = :$VEIL_PORT )" | wc -l) >= 2)) &&
            (($(ss -Htn state syn-sent "( dport = :$SD_BH_PORT )" | wc -l) >= 1)) && break
        sleep 0.1
    done
    kill -TERM "$VEIL_PID"
    wait "$half_pid" "$connecting_pid"
    expect_eq "shutdown-setup/half a request: 503" 503 "$(sed -n 's/^status=//p' "$WORK/sd-half.out")"
    expect_eq "shutdown-setup/connect under way: 503" 503 "$(sed -n 's/^status=//p' "$WORK/sd-connecting.out")"
    wait_exit "$VEIL_PID" 10
    expect_eq "shutdown-setup/veil exits 0" 0 "$STOP_RC"
    n=$(log_new | grep -cE "$SUMMARY_RE")
    expect_eq "shutdown-setup/two summary lines" 2 "$n"
    VEIL_PID=""
fi
stop_pid "$SD_BH_PID" 2

# SIGHUP (a logrotate postrotate) is harmless: veil keeps serving and still exits 0 later.
if veil_or_fail sighup --mode passthrough --resolver static "${SD_RESOLVE[@]}"; then
    kill -HUP "$VEIL_PID"
    sleep 0.5
    if kill -0 "$VEIL_PID" 2>/dev/null; then pass "sighup/veil survives SIGHUP"; else
        fail "sighup/veil survives SIGHUP" "veil exited"; fi
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "sighup/still serves" 200 "$got"
    stop_veil 10
    expect_eq "sighup/exits 0 on SIGTERM afterwards" 0 "$STOP_RC"
fi

# --max-connections is one limit across all workers; past it, 503 with the reason.
if veil_or_fail max-connections --mode passthrough --resolver static --workers 2 --max-connections 4 \
    "${SD_RESOLVE[@]}"; then
    python3 "$TOOLS/proxyclient.py" hold --port "$VEIL_PORT" --target "localhost:$NGX13" --sni localhost \
        --cafile "$TESTCA" --count 4 --hold-seconds 30 --ready-file "$WORK/limit.ready" >"$WORK/limit-hold.log" 2>&1 &
    hold_pid=$!
    bg_register "$hold_pid"
    for _ in $(seq 100); do [[ -s "$WORK/limit.ready" ]] && break; sleep 0.1; done
    expect_eq "max-connections/4 of 4 open on 2 workers" "4 0" "$(cat "$WORK/limit.ready" 2>/dev/null)"
    log_mark
    out=$(python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --data "CONNECT localhost:$NGX13 HTTP/1.1\r\n\r\n")
    expect_eq "max-connections/the fifth is answered 503" 503 "$(sed -n 's/^status=//p' <<<"$out")"
    expect_match "max-connections/with the reason" 'max-connections' "$(sed -n 's/^body=//p' <<<"$out")"
    summary_for "$(sed -n 's/^local=//p' <<<"$out")" 3
    expect_summary "max-connections/summary close" close overloaded
    stop_pid "$hold_pid" 5
    sleep 0.5
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "max-connections/room again once they close" 200 "$got"
    stop_veil 10
fi
