# veil relay over HTTP/2 (RFC 9113 section 8.5): a standard HTTP/2 CONNECT client (Python's h2,
# integration/tools/h2connect.py) negotiates ALPN h2 with the relay and opens several CONNECT
# streams on one connection, each through the same gate as HTTP/1.1 CONNECT: a 16 MiB download
# over the origin's own TLS inside a stream (body intact), a wrong secret answered 407 on its
# stream while the other streams on the connection succeed, a target the rules deny answered
# 403; one summary line per stream. HTTP/1.1 clients (curl) are still served on the same listener.

H2_SECRET=relay-h2-secret-$RANDOM$RANDOM
H2_NAME=relay-h2-target.test
make_leaf relay-h2-origin "DNS:$H2_NAME,DNS:localhost" || fail "harness/relay-h2 certificate" "make_leaf"
H2_PIDS=()
free_port H2_ORIGIN; free_port H2_PORT; free_port H2_DENIED
NGINX_CERT=$LEAF_CERT NGINX_KEY=$LEAF_KEY start_nginx relay-h2 "$DOCROOT" "$H2_ORIGIN:TLSv1.3:h1" && H2_PIDS+=("$NGINX_PID") ||
    fail "harness/relay-h2 nginx" "did not start"

if start_relay h2 "$H2_PORT" --secret "$H2_SECRET" --allow-private --allow-port "$H2_ORIGIN" \
        --resolver static --resolve "$H2_NAME:$H2_ORIGIN:127.0.0.1"; then
    H2_PIDS+=("$RL_PID")
    H2_LOG=$RL_LOG
    out=$(/usr/bin/python3 "$TOOLS/h2connect.py" --port "$H2_PORT" --fingerprint "$RL_FP" --cafile "$TESTCA" \
        "big,$H2_NAME:$H2_ORIGIN,$H2_SECRET,/big.bin" \
        "wrong,$H2_NAME:$H2_ORIGIN,not-the-secret" \
        "denied,127.0.0.1:$H2_DENIED,$H2_SECRET" \
        "small,$H2_NAME:$H2_ORIGIN,$H2_SECRET,/index.html" \
        "resolve,RESOLVE $H2_NAME:$H2_ORIGIN,$H2_SECRET" "resolve-wrong,RESOLVE $H2_NAME:$H2_ORIGIN,not-the-secret" 2>&1); rc=$?
    line() { grep -m1 "^$1 " <<<"$out"; }
    expect_eq "relay-h2/the relay selects ALPN h2" "alpn=h2" "$(grep -m1 '^alpn=' <<<"$out")"
    expect_eq "relay-h2/client run completes" 0 "$rc"
    expect_eq "relay-h2/CONNECT stream: 200" 200 "$(field status "$(line big)")"
    expect_eq "relay-h2/CONNECT stream: 16 MiB through the origin's TLS, intact" "$BIG_SHA" "$(field body_sha256 "$(line big)")"
    expect_eq "relay-h2/CONNECT stream ends at the origin's close_notify" tls-close "$(field end "$(line big)")"
    expect_eq "relay-h2/wrong secret: 407 on its stream" 407 "$(field status "$(line wrong)")"
    expect_eq "relay-h2/denied target: 403 on its stream" 403 "$(field status "$(line denied)")"
    expect_eq "relay-h2/a second tunnel on the same connection: 200" 200 "$(field status "$(line small)")"
    expect_eq "relay-h2/second tunnel's body" "$(sha_of "$DOCROOT/index.html")" "$(field body_sha256 "$(line small)")"
    expect_eq "relay-h2/RESOLVE on a stream: 200" 200 "$(field status "$(line resolve)")"
    expect_eq "relay-h2/RESOLVE on a stream: the relay's addresses" 127.0.0.1 "$(field veil_addresses "$(line resolve)")"
    expect_eq "relay-h2/RESOLVE with a wrong secret: 407" 407 "$(field status "$(line resolve-wrong)")"
    [[ $rc == 0 ]] || echo "    h2connect: $(tr '\n' ' ' <<<"$out" | cut -c1-600)"
    sleep 0.5
    check "relay-h2/summary lines: both tunnels, on h2 streams, close=ok" \
        test "$(grep -cE "front_alpn=h2 h2_stream=[0-9]+ .*target=$H2_NAME:$H2_ORIGIN upstream=127\.0\.0\.1:$H2_ORIGIN .*close=ok" "$H2_LOG")" = 2
    check "relay-h2/summary line: the HTTP/2 connection itself, 6 streams" \
        grep -qE "front_alpn=h2 .*target=- .*close=ok reason=\"6 HTTP/2 streams\"" "$H2_LOG"
    check "relay-h2/summary line: the 407, auth-failed" grep -qE "close=auth-failed" "$H2_LOG"
    check "relay-h2/summary line: the 403" grep -qE "target=127\.0\.0\.1:$H2_DENIED .*close=forbidden" "$H2_LOG"
    check "relay-h2/the secret is not in the relay's log" bash -c "! grep -qF '$H2_SECRET' '$H2_LOG'"
    got=$(curl -sS --max-time 20 -x "https://127.0.0.1:$H2_PORT" --proxy-insecure \
        --proxy-header "Proxy-Authorization: Bearer $H2_SECRET" --cacert "$TESTCA" -o /dev/null -w '%{http_code}' \
        "https://$H2_NAME:$H2_ORIGIN/index.html" 2>&1)
    expect_eq "relay-h2/HTTP/1.1 CONNECT still served on the same listener" 200 "$got"
else
    fail "relay-h2/relay starts" "$(tail -n 5 "$RL_LOG" | tr '\n' ' ')"
fi

# Drain: a relay told to stop (SIGTERM) sends GOAWAY; a tunnel already open on the connection
# goes on (its GET is sent only after the GOAWAY) and ends normally within the grace period;
# then the relay ends the HTTP/2 connection (close_notify) and exits.
free_port H2_PORT2
if start_relay h2-drain "$H2_PORT2" --secret "$H2_SECRET" --allow-private --allow-port "$H2_ORIGIN" \
        --resolver static --resolve "$H2_NAME:$H2_ORIGIN:127.0.0.1" --max-connections 1; then
    H2_DRAIN_PID=$RL_PID H2_DRAIN_LOG=$RL_LOG
    rm -f "$WORK/h2-ready"
    /usr/bin/python3 "$TOOLS/h2connect.py" --port "$H2_PORT2" --fingerprint "$RL_FP" --cafile "$TESTCA" \
        --hold held --ready-file "$WORK/h2-ready" "held,$H2_NAME:$H2_ORIGIN,$H2_SECRET,/big.bin" >"$WORK/h2-drain.out" 2>&1 &
    H2_CLIENT=$!
    for ((i = 0; i < 100; i++)); do [[ -e "$WORK/h2-ready" ]] && break; sleep 0.1; done
    # Over --max-connections (1, held by the connection above): an HTTP/2 client hears GOAWAY
    # with the reason, not an HTTP/1.1 503 inside its HTTP/2 connection.
    over=$(/usr/bin/python3 "$TOOLS/h2connect.py" --port "$H2_PORT2" --fingerprint "$RL_FP" --cafile "$TESTCA" \
        "over,$H2_NAME:$H2_ORIGIN,$H2_SECRET" 2>&1)
    expect_match "relay-h2/over --max-connections: GOAWAY before any stream" "goaway last_stream=0 code=0" "$over"
    expect_eq "relay-h2/over --max-connections: its stream is refused" refused-by-goaway "$(field end "$(grep -m1 '^over ' <<<"$over")")"
    kill -TERM "$H2_DRAIN_PID"
    wait "$H2_CLIENT"; rc=$?
    out=$(cat "$WORK/h2-drain.out")
    expect_eq "relay-h2/drain: client run completes" 0 "$rc"
    expect_match "relay-h2/drain: the relay sends GOAWAY (last stream 1, NO_ERROR)" "goaway last_stream=1 code=0" "$out"
    expect_eq "relay-h2/drain: the open tunnel still delivers 16 MiB intact" "$BIG_SHA" "$(field body_sha256 "$(grep -m1 '^held ' <<<"$out")")"
    expect_eq "relay-h2/drain: the tunnel ends at the origin's close_notify" tls-close "$(field end "$(grep -m1 '^held ' <<<"$out")")"
    for ((i = 0; i < 50; i++)); do kill -0 "$H2_DRAIN_PID" 2>/dev/null || break; sleep 0.1; done
    check "relay-h2/drain: the relay exits once the connection has drained" bash -c "! kill -0 $H2_DRAIN_PID 2>/dev/null"
    check "relay-h2/drain: the HTTP/2 connection's summary line, close=ok" \
        grep -qE "front_alpn=h2 .*target=- .*close=ok reason=\"1 HTTP/2 stream\"" "$H2_DRAIN_LOG"
    [[ $rc == 0 ]] || echo "    h2connect: $(tr '\n' ' ' <<<"$out" | cut -c1-600)"
else
    fail "relay-h2/drain relay starts" "$(tail -n 5 "$RL_LOG" | tr '\n' ' ')"
fi
kill "$H2_DRAIN_PID" 2>/dev/null; wait "$H2_DRAIN_PID" 2>/dev/null
for p in "${H2_PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${H2_PIDS[@]}"; do wait "$p" 2>/dev/null; done
