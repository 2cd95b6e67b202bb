# Logs: with --log-format json every line Veil writes to its stream is JSON (start-up lines,
# warnings, summaries, shutdown figures), with numbers and booleans typed as such; SIGHUP
# reopens --record-log-file (logrotate: mv, then kill -HUP) while transfers go on, none fails,
# and later lines land in the new file.

if veil_or_fail json-log --resolver system --log-format json --upstream-ca "$TESTCA" \
    --passthrough "localhost:$NGX12" && veil_ca; then
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "json-log/intercepted request" 200 "$got"
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "json-log/passed-through request" 200 "$got"
    wait_summary 5 '"mode":"passthrough"'
    stop_veil 10
    expect_eq "json-log/exits 0" 0 "$STOP_RC"
    check "json-log/every line is JSON, typed" python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert len(lines) >= 6, len(lines)
events, levels = set(), set()
for l in lines:
    o = json.loads(l)
    events.add(o["event"])
    if o["event"] == "veil":
        levels.add(o["level"])
    if o["event"] == "summary":
        assert isinstance(o["bytes_up"], int) and isinstance(o["duration"], float), o
        if o["mode"] == "intercept":
            assert isinstance(o["resumed"], bool) and isinstance(o["client_resumed"], bool), o
assert {"veil", "summary"} <= events, events
assert "warning" in levels, levels   # --resolver system warns
assert any("stopped" in json.loads(l).get("msg", "") for l in lines)
' "$VEIL_LOG"
fi

RL_FILE=$WORK/records.log
rm -f "$RL_FILE" "$RL_FILE.1"
if veil_or_fail sighup-reopen --mode passthrough --resolver static --record-log-file "$RL_FILE" \
    --resolve "localhost:$NGX12:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1"; then
    out=$WORK/reopen.bin
    pcurl --limit-rate 8M -o "$out" -w '%{http_code}' "https://localhost:$NGX12/big.bin" >"$WORK/reopen.code" 2>&1 &
    curl_pid=$!
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "sighup-reopen/before" 200 "$got"
    sleep 0.5
    mv "$RL_FILE" "$RL_FILE.1"
    kill -HUP "$VEIL_PID"
    sleep 0.5
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "sighup-reopen/after" 200 "$got"
    wait "$curl_pid"
    expect_eq "sighup-reopen/transfer under way completes" 200 "$(cat "$WORK/reopen.code")"
    expect_eq "sighup-reopen/its sha256" "$BIG_SHA" "$(sha_of "$out")"
    rm -f "$out"
    sleep 0.5
    expect_match "sighup-reopen/said so" 'SIGHUP: reopened record log' "$(cat "$VEIL_LOG")"
    expect_eq "sighup-reopen/the old file has the first summary" 1 "$(grep -c 'summary conn=' "$RL_FILE.1")"
    expect_eq "sighup-reopen/the new file has the later ones" 2 "$(grep -c 'summary conn=' "$RL_FILE" 2>/dev/null)"
    expect_eq "sighup-reopen/the new file is 0600" 600 "$(stat -c %a "$RL_FILE" 2>/dev/null)"
    stop_veil 10
fi
