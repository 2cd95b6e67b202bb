# Bad input: each case gets the right HTTP status (or close), a summary line with
# the right close= token, and veil keeps serving afterwards.

PC=(python3 "$TOOLS/proxyclient.py")

# kv KEY OUTPUT: value of a key=value line printed by proxyclient.py
kv() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

# bad_case NAME WANT_STATUS CLOSE_REGEX PROXYCLIENT-ARGS...
bad_case() {
    local name=$1 want=$2 close=$3; shift 3
    local out
    log_mark
    out=$("${PC[@]}" "$@" --port "$VEIL_PORT" 2>&1)
    if [[ -n "$want" ]]; then
        expect_eq "$name/status" "$want" "$(kv status "$out")"
    fi
    summary_for "$(kv local "$out")" 6
    expect_summary "$name/summary close" close "$close"
    still_works "$name/veil still serves"
    BAD_OUT=$out
}

# The connect-timeout target (full accept queue) and an origin that never answers.
start_pc_listener blackhole BH_PORT || BH_PORT=9
BH_PID=$PC_LISTENER_PID
start_pc_listener sink SINK_PORT || SINK_PORT=9
SINK_PID=$PC_LISTENER_PID
free_port CLOSED_PORT   # bound and closed again: connections are refused

if veil_or_fail bad-input --mode passthrough --resolver static --connect-timeout 2 \
    --resolve "localhost:$NGX12:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1" \
    --resolve "localhost:$SS12:127.0.0.1" --resolve "localhost:$CLOSED_PORT:127.0.0.1" --resolve "localhost:$BH_PORT:127.0.0.1" \
    --resolve "localhost:$SINK_PORT:127.0.0.1"; then

    bad_case "bad/malformed CONNECT (bad port)" 400 bad-request \
        raw --data 'CONNECT localhost:notaport HTTP/1.1\r\nHost: localhost\r\n\r\n'
    bad_case "bad/malformed CONNECT (no target)" 400 bad-request \
        raw --data 'CONNECT  HTTP/1.1\r\n\r\n'
    bad_case "bad/GET for the proxy itself (origin-form)" 400 bad-request \
        raw --data 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
    bad_case "bad/lower-case connect" 405 method-not-allowed \
        raw --data 'connect localhost:443 HTTP/1.1\r\nHost: x\r\n\r\n'
    bad_case "bad/headers over 8 KiB" 431 header-too-large \
        raw --data "CONNECT localhost:$NGX12 HTTP/1.1\r\nHost: localhost\r\n\r\n" --pad-header 9000
    bad_case "bad/garbage after 200" 200 not-tls \
        tunnel --target "localhost:$NGX12" --after garbage
    expect_match "bad/garbage after 200/veil closes" '^(eof|reset)$' "$(kv closed "$BAD_OUT")"
    bad_case "bad/plain HTTP inside the tunnel" 200 not-tls \
        tunnel --target "localhost:$NGX12" --after plain-http
    # Bytes sent in the same write as the CONNECT head (pipelined) reach the handshake relay
    # before it has read anything: a bad first record there once took the whole process down.
    bad_case "bad/pipelined garbage after CONNECT" 200 not-tls \
        raw --data "CONNECT localhost:$NGX12 HTTP/1.1\r\nHost: localhost\r\n\r\nhello"
    bad_case "bad/pipelined malformed ClientHello" 200 'not-tls|handshake-failed' \
        raw --data "CONNECT localhost:$NGX12 HTTP/1.1\r\n\r\n\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"
    bad_case "bad/truncated ClientHello, client closes" 200 'client-gone|not-tls' \
        tunnel --target "localhost:$NGX12" --after truncated-hello
    # The origin never answers: the client gives up before any ServerHello.
    bad_case "bad/client leaves before ServerHello" 200 client-gone \
        tunnel --target "localhost:$SINK_PORT" --after abandon-handshake --pause 0.5
    # The ServerHello has gone by, the rest of the handshake has not: any of these
    # is a fair account; the point is a summary line and a veil that keeps going.
    bad_case "bad/client leaves after ServerHello" 200 'client-gone|handshake-failed|ok' \
        tunnel --target "localhost:$NGX13" --after abandon-handshake --pause 2
    bad_case "bad/connection refused" 502 unreachable \
        raw --data "CONNECT localhost:$CLOSED_PORT HTTP/1.1\r\nHost: localhost:$CLOSED_PORT\r\n\r\n"
    bad_case "bad/unknown name, static resolver" 502 resolve-failed \
        raw --data 'CONNECT nosuchhost.invalid:443 HTTP/1.1\r\nHost: nosuchhost.invalid:443\r\n\r\n'
    t0=$SECONDS
    bad_case "bad/connect timeout" 504 connect-timeout \
        raw --data "CONNECT localhost:$BH_PORT HTTP/1.1\r\nHost: localhost:$BH_PORT\r\n\r\n" --timeout 15
    if ((SECONDS - t0 <= 8)); then pass "bad/connect timeout/within ~2 s"; else
        fail "bad/connect timeout/within ~2 s" "took $((SECONDS - t0)) s with --connect-timeout 2"; fi
    bad_case "bad/SNI differs from CONNECT host" 200 sni-mismatch \
        sni --target "localhost:$NGX13" --sni origin.test --cafile "$TESTCA"
    expect_match "bad/SNI differs from CONNECT host/handshake refused" '^failed' "$(kv handshake "$BAD_OUT")"

    # The client refuses the origin's certificate with a (plaintext, TLS 1.2) alert: the summary
    # blames the client, whichever side closes first.
    log_mark
    got=$(curl -sS --max-time 10 -x "http://127.0.0.1:$VEIL_PORT" -o /dev/null -w '%{local_port}' \
        "https://localhost:$SS12/index.html" 2>/dev/null)
    summary_for "$got" 6
    expect_summary "bad/client alert blamed on the client" close handshake-failed
    expect_match "bad/client alert blamed on the client/reason" 'reason="client sent alert fatal' "$SUMMARY"

    # Error answers carry a one-line text body with the reason.
    out=$("${PC[@]}" raw --port "$VEIL_PORT" --data "CONNECT localhost:$CLOSED_PORT HTTP/1.1\r\n\r\n")
    expect_match "bad/502 has a reason body" '.+' "$(kv body "$out")"
    stop_veil 10
fi

# The same pipelined bytes for a --passthrough host of an intercepting Veil.
if veil_or_fail bad-input-intercept --resolver static --passthrough localhost \
    --resolve "localhost:$NGX12:127.0.0.1"; then
    bad_case "bad/intercept, --passthrough host: pipelined garbage" 200 not-tls \
        raw --data "CONNECT localhost:$NGX12 HTTP/1.1\r\n\r\nhello"
    bad_case "bad/intercept, --passthrough host: pipelined malformed ClientHello" 200 'not-tls|handshake-failed' \
        raw --data "CONNECT localhost:$NGX12 HTTP/1.1\r\n\r\n\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"
    stop_veil 10
fi

# --deny: 403 for the denied port, others still allowed.
if veil_or_fail deny --mode passthrough --resolver static --deny "*:$NGX12" \
    --resolve "localhost:$NGX12:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1"; then
    log_mark
    got=$(pcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://localhost:$NGX12/index.html" 2>/dev/null)
    expect_eq "deny/CONNECT answered 403" 403 "${got%% *}"
    summary_for "${got##* }"
    expect_summary "deny/summary close" close forbidden
    got=$(pcurl -o /dev/null -w '%{http_connect} %{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "deny/other port still allowed" "200 200" "$got"
    stop_veil 10
fi

stop_pid "$BH_PID" 2
stop_pid "$SINK_PID" 2
