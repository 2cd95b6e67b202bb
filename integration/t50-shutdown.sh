# Shutdown: SIGTERM stops accepting, lets an in-flight download finish within the
# grace period and exits 0; a connection outliving the grace is closed
# (close=shutdown) and veil still exits 0; SIGINT with nothing open exits 0 quickly.

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
        -w '%{http_connect}' "https://localhost:$NGX13/index.html" 2>/dev/null)
    if [[ "$got" != 200 ]]; then pass "shutdown/no new tunnels after SIGTERM"; else
        fail "shutdown/no new tunnels after SIGTERM" "a new CONNECT got 200 after SIGTERM"; fi
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
