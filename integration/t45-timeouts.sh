# Timeouts: header, handshake and idle timeouts close the connection with the
# right close= token.

PC=(python3 "$TOOLS/proxyclient.py")

start_pc_listener sink TO_SINK_PORT || TO_SINK_PORT=9
TO_SINK_PID=$PC_LISTENER_PID

if veil_or_fail timeouts --mode passthrough --resolver static \
    --header-timeout 2 --handshake-timeout 2 --idle-timeout 3 \
    --resolve "localhost:$NGX12:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1" \
    --resolve "localhost:$TO_SINK_PORT:127.0.0.1"; then

    # Header timeout: half a request line, then silence.
    log_mark
    out=$("${PC[@]}" raw --port "$VEIL_PORT" --data 'CONNECT localhost:' --timeout 10)
    expect_match "timeouts/header: veil closes" '^(eof|reset)$' "$(sed -n 's/^closed=//p' <<<"$out")"
    summary_for "$(sed -n 's/^local=//p' <<<"$out")" 3
    expect_summary "timeouts/header: summary close" close header-timeout

    # Handshake timeout: CONNECT accepted, then no ClientHello ever comes.
    log_mark
    out=$("${PC[@]}" tunnel --port "$VEIL_PORT" --target "localhost:$NGX12" --after silent --timeout 10)
    expect_match "timeouts/handshake: veil closes" '^(eof|reset)$' "$(sed -n 's/^closed=//p' <<<"$out")"
    summary_for "$(sed -n 's/^local=//p' <<<"$out")" 3
    expect_summary "timeouts/handshake: summary close" close handshake-timeout

    # Handshake timeout: the ClientHello goes out, the origin never answers.
    log_mark
    out=$("${PC[@]}" tunnel --port "$VEIL_PORT" --target "localhost:$TO_SINK_PORT" --after hello-wait --timeout 10)
    expect_match "timeouts/handshake, silent origin: veil closes" '^(eof|reset)$' "$(sed -n 's/^closed=//p' <<<"$out")"
    summary_for "$(sed -n 's/^local=//p' <<<"$out")" 3
    expect_summary "timeouts/handshake, silent origin: summary close" close handshake-timeout

    # Idle timeout: a finished TLS handshake, then nothing in either direction.
    log_mark
    "${PC[@]}" hold --port "$VEIL_PORT" --target "localhost:$NGX13" --sni localhost \
        --cafile "$TESTCA" --count 1 --hold-seconds 10 >"$WORK/idle-hold.log" 2>&1 &
    hold_pid=$!
    bg_register "$hold_pid"
    wait_summary 9
    expect_summary "timeouts/idle: summary close" close idle-timeout
    stop_pid "$hold_pid" 2
    expect_eq "timeouts/idle: tunnel had been opened" "opened=1" "$(grep '^opened=' "$WORK/idle-hold.log")"

    still_works "timeouts/veil still serves"
    stop_veil 10
fi
stop_pid "$TO_SINK_PID" 2
