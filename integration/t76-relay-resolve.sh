# Name resolution served by the Veil relay (--resolver relay): the relay answers
# `RESOLVE host:port` with its own resolver chain over its pinned, authenticated TLS channel.
# A name only the relay knows (its --resolve entry) resolves through it, the second lookup
# comes from the client's cache; a wrong secret (407) and a wrong fingerprint (nothing sent)
# fail clearly; `veil run --resolver relay` (route direct) reaches an origin by that name;
# veil run without a relay still answers 405 to RESOLVE.

RR_NAME=relay-only-name.test
RR_SECRET=relay-resolve-secret-$RANDOM$RANDOM
RR_WRONG=not-the-resolve-secret-$RANDOM$RANDOM
make_leaf relay-resolve-origin "DNS:$RR_NAME" || fail "harness/relay-resolve certificate" "make_leaf"
RR_PIDS=()
free_port RR_ORIGIN; free_port RR_PORT
NGINX_CERT=$LEAF_CERT NGINX_KEY=$LEAF_KEY start_nginx relay-resolve "$DOCROOT" "$RR_ORIGIN:TLSv1.3:h2" && RR_PIDS+=("$NGINX_PID") ||
    fail "harness/relay-resolve nginx" "did not start"

start_relay resolve "$RR_PORT" --secret "$RR_SECRET" --allow-private --allow-port "$RR_ORIGIN" \
    --resolver static --resolve "$RR_NAME:$RR_ORIGIN:127.0.0.1"
RR_LOG=$RL_LOG RR_PID=$RL_PID RR_FP=$RL_FP
RR_PIDS+=("$RR_PID")
if [[ -z "$RR_FP" ]]; then
    fail "relay-resolve/relay starts" "$(tail -n 5 "$RR_LOG" | tr '\n' ' ')"
else
    pass "relay-resolve/relay starts"
    RR_ARGS=(--resolver relay --relay "127.0.0.1:$RR_PORT" --relay-fingerprint "$RR_FP")
    rr_new() { tail -n "+$((RR_MARK + 1))" "$RR_LOG" 2>/dev/null; }

    # Only the relay knows the name.
    out=$("$VEIL_BIN" resolve --resolver static --port "$RR_ORIGIN" "$RR_NAME" 2>&1); rc=$?
    expect_eq "relay-resolve/without the relay the name does not resolve (exit 2)" 2 "$rc"

    RR_MARK=$(wc -l <"$RR_LOG")
    out=$(VEIL_RELAY_SECRET=$RR_SECRET "$VEIL_BIN" resolve "${RR_ARGS[@]}" --port "$RR_ORIGIN" "$RR_NAME" "$RR_NAME" 2>&1); rc=$?
    expect_eq "relay-resolve/veil resolve exits 0" 0 "$rc"
    expect_eq "relay-resolve/resolver line" "resolver: static+relay 127.0.0.1:$RR_PORT" "$(sed -n 1p <<<"$out")"
    expect_match "relay-resolve/answer from the relay" "^$RR_NAME: 127\.0\.0\.1 from relay 127\.0\.0\.1:$RR_PORT \[static\] in " "$(sed -n 2p <<<"$out")"
    expect_match "relay-resolve/second lookup from the cache" "^$RR_NAME: 127\.0\.0\.1 from relay 127\.0\.0\.1:$RR_PORT \[static\] \(cache\) in " "$(sed -n 3p <<<"$out")"
    sleep 0.3
    expect_eq "relay-resolve/the relay served exactly one RESOLVE (close=ok)" 1 \
        "$(rr_new | grep -c "target=$RR_NAME:$RR_ORIGIN .*close=ok")"

    # A name the relay cannot resolve: its reason comes back.
    out=$("$VEIL_BIN" resolve "${RR_ARGS[@]}" --relay-secret "$RR_SECRET" --port "$RR_ORIGIN" nowhere.test 2>&1); rc=$?
    expect_eq "relay-resolve/unknown name exits 2" 2 "$rc"
    expect_match "relay-resolve/unknown name: the relay's reason" "nowhere\.test: FAILED: cannot resolve nowhere\.test: relay 127\.0\.0\.1:$RR_PORT: 502 cannot resolve nowhere\.test: no --resolve entry" "$out"

    # Wrong secret: the relay refuses (407); the secret is logged nowhere.
    RR_MARK=$(wc -l <"$RR_LOG")
    out=$("$VEIL_BIN" resolve "${RR_ARGS[@]}" --relay-secret "$RR_WRONG" --port "$RR_ORIGIN" "$RR_NAME" 2>&1); rc=$?
    expect_eq "relay-resolve/wrong secret exits 2" 2 "$rc"
    expect_match "relay-resolve/wrong secret: clear failure" "FAILED: cannot resolve $RR_NAME: relay 127\.0\.0\.1:$RR_PORT: 407 wrong relay secret" "$out"
    sleep 0.3
    expect_eq "relay-resolve/wrong secret: the relay logs auth-failed" 1 "$(rr_new | grep -c 'close=auth-failed reason="wrong relay secret"')"

    # Wrong fingerprint: nothing is sent (the relay logs no request).
    RR_MARK=$(wc -l <"$RR_LOG")
    out=$("$VEIL_BIN" resolve --resolver relay --relay "127.0.0.1:$RR_PORT" --relay-fingerprint "$(printf '%064d' 0)" \
        --relay-secret "$RR_SECRET" --port "$RR_ORIGIN" "$RR_NAME" 2>&1); rc=$?
    expect_eq "relay-resolve/wrong fingerprint exits 2" 2 "$rc"
    expect_match "relay-resolve/wrong fingerprint: clear failure" "certificate fingerprint mismatch at 127\.0\.0\.1:$RR_PORT \(got $RR_FP, pinned 00:00:" "$out"
    sleep 0.3
    expect_eq "relay-resolve/wrong fingerprint: no request reached the relay" 0 "$(rr_new | grep -c "target=$RR_NAME")"

    # Missing relay settings are a start-up error.
    out=$("$VEIL_BIN" resolve --resolver relay "$RR_NAME" 2>&1); rc=$?
    expect_match "relay-resolve/--resolver relay without --relay is refused" "resolver relay needs relay IP:PORT" "$out"
    out=$("$VEIL_BIN" relay --resolver relay --listen-tls 127.0.0.1:1 2>&1); rc=$?
    expect_eq "relay-resolve/veil relay --resolver relay is a usage error (64)" 64 "$rc"
    expect_match "relay-resolve/veil relay --resolver relay: says why" "veil relay resolves target names itself" "$out"

    # veil run --resolver relay, route direct: the relay names, Veil connects itself.
    if veil_or_fail relay-resolver "${RR_ARGS[@]}" --relay-secret "$RR_SECRET" --upstream-ca "$TESTCA" && veil_ca; then
        log_mark
        got=$(vcurl -o "$WORK/rr-down.bin" -w '%{http_code} %{local_port}' "https://$RR_NAME:$RR_ORIGIN/big.bin" 2>&1)
        expect_eq "relay-resolve/veil run: download by a name only the relay knows" "200 $BIG_SHA" "${got%% *} $(sha_of "$WORK/rr-down.bin")"
        rm -f "$WORK/rr-down.bin"
        summary_for "${got##* }"
        expect_summary "relay-resolve/veil run: direct route (no route field)" route ""
        expect_summary "relay-resolve/veil run: upstream" upstream "127\.0\.0\.1:$RR_ORIGIN"
        expect_summary "relay-resolve/veil run: close" close ok
        # A plain veil run is not a relay: RESOLVE is 405.
        got=$(python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),5)
s.sendall(b"RESOLVE example.com:443 HTTP/1.1\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())' "$VEIL_PORT" 2>&1)
        expect_match "relay-resolve/veil run answers 405 to RESOLVE" "^HTTP/1\.1 405 " "$got"
        stop_veil 10
        expect_eq "relay-resolve/veil clean exit" 0 "$STOP_RC"
    fi
    expect_eq "relay-resolve/no secret in the relay log" 0 "$(grep -cF -e "$RR_WRONG" -e "$RR_SECRET" "$RR_LOG")"
fi

for p in "${RR_PIDS[@]}"; do stop_pid "$p" 5; done
