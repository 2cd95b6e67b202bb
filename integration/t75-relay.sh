# The Veil relay (veil relay) and the tunnel route (veil run --route tunnel): curl -> Veil
# (intercept) -> TLS to the relay, pinned by fingerprint, authenticated by a shared secret ->
# origin. A 16 MiB download through the tunnel; a capture of the Veil<->relay link shows
# neither the target's name (even with --sni real) nor a CONNECT request, and ClientHellos
# without SNI (the tunnel's, and the RESOLVE that asks for the ECH config); Veil resolves nothing itself (--resolver static with no entry for the name).
# Refusals: a wrong secret (407 at the relay, 502 at Veil, logged without the secret), a wrong
# pinned fingerprint (502 naming the fingerprint, nothing sent), private targets and other
# ports at a relay without --allow-private, repeated wrong secrets (429 for that address while
# another address is still served).

RL_NAME=relay-hidden-target.test
RL_SECRET=relay-test-secret-$RANDOM$RANDOM
RL_WRONG=not-the-secret-$RANDOM$RANDOM
make_leaf relay-origin "DNS:$RL_NAME,DNS:localhost" || fail "harness/relay certificate" "make_leaf"
RL_PIDS=()
free_port RL_ORIGIN; free_port RL_PORT; free_port RL_PORT2; free_port RL_PORT3
NGINX_CERT=$LEAF_CERT NGINX_KEY=$LEAF_KEY start_nginx relay "$DOCROOT" "$RL_ORIGIN:TLSv1.3:h2" && RL_PIDS+=("$NGINX_PID") ||
    fail "harness/relay nginx" "did not start"

# rcurl PORT SECRET CURL-ARGS...: curl straight to a relay (as a relay client), trusting the
# test CA for the origin; --proxy-insecure: curl cannot pin a certificate fingerprint.
rcurl() {
    local port=$1 secret=$2; shift 2
    curl -sS --max-time 20 -x "https://127.0.0.1:$port" --proxy-insecure \
        --proxy-header "Proxy-Authorization: Bearer $secret" --cacert "$TESTCA" "$@"
}

relay_log_new() { tail -n "+$((RL_MARK + 1))" "$1" 2>/dev/null; }

if start_relay main "$RL_PORT" --secret "$RL_SECRET" --allow-private --allow-port "$RL_ORIGIN,$NGX13" \
        --resolver static --resolve "$RL_NAME:$RL_ORIGIN:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1" --auth-failures 3 --auth-block 60; then
    pass "relay/starts and prints its fingerprint"
    RL_MAIN_LOG=$RL_LOG
    want=$(openssl x509 -in "$WORK/relay-home-main/ca.pem" -noout -fingerprint -sha256 | sed 's/.*=//')
    expect_eq "relay/printed fingerprint is the SHA-256 of its certificate" "$want" "$RL_FP"
    expect_eq "relay/home is 0700" 700 "$(stat -c %a "$WORK/relay-home-main")"
    RL_ARGS=(--route tunnel --relay "127.0.0.1:$RL_PORT" --relay-fingerprint "$RL_FP" --resolver static
        --upstream-ca "$TESTCA" --sni real --passthrough "localhost:$NGX13")

    if veil_or_fail relay-tunnel "${RL_ARGS[@]}" --relay-secret "$RL_SECRET" && veil_ca; then
        check "relay/veil start-up line names the route and the pin" grep -q "route tunnel; tunnels through the relay at 127.0.0.1:$RL_PORT, pinned to certificate $RL_FP" "$VEIL_LOG"
        RL_PCAP=$WORK/relay-link.pcap
        log_mark
        RL_MARK=$(wc -l <"$RL_MAIN_LOG")
        if capture_start "$RL_PCAP" "tcp port $RL_PORT"; then
            got=$(vcurl -o "$WORK/rl-down.bin" -w '%{http_code} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/big.bin" 2>&1)
            capture_stop
            expect_eq "relay/tunnel download status" 200 "${got%% *}"
            expect_eq "relay/tunnel download sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$WORK/rl-down.bin")"
            rm -f "$WORK/rl-down.bin"
            summary_for "${got##* }"
            expect_summary "relay/tunnel/summary route" route tunnel
            expect_summary "relay/tunnel/summary relay" relay "127\.0\.0\.1:$RL_PORT"
            expect_summary "relay/tunnel/summary mode" mode intercept
            expect_summary "relay/tunnel/summary upstream_sni (real)" upstream_sni "$RL_NAME"
            expect_summary "relay/tunnel/summary close" close ok
            # Without kTLS the tunnel's TLS moves onto Veil's own record layer after 64 KiB, at
            # both ends.
            if [[ "$(field tunnel_path "$SUMMARY")" == userspace ]]; then
                expect_summary "relay/tunnel/summary tunnel_records" tunnel_records veil
                check "relay/tunnel: the relay's end is on Veil's record layer too" \
                    grep -qE "target=$RL_NAME:$RL_ORIGIN .*front_records=veil|front_records=veil.*target=$RL_NAME:$RL_ORIGIN" "$RL_MAIN_LOG"
            fi
            check "relay/tunnel: the relay logged the tunnel to the target" \
                grep -qE "target=$RL_NAME:$RL_ORIGIN upstream=127\.0\.0\.1:$RL_ORIGIN .*mode=passthrough.*close=ok" "$RL_MAIN_LOG"
            out=$(python3 "$TOOLS/pcapcheck.py" grep "$RL_PCAP" "$RL_NAME"); rc=$?
            if [[ $rc == 1 ]]; then pass "relay/capture: target name nowhere on the veil<->relay link (--sni real)"; else
                fail "relay/capture: target name nowhere on the veil<->relay link (--sni real)" "pcapcheck grep exit $rc: $(tr '\n' ' ' <<<"$out")"; fi
            out=$(python3 "$TOOLS/pcapcheck.py" grep "$RL_PCAP" "CONNECT "); rc=$?
            if [[ $rc == 1 ]]; then pass "relay/capture: no CONNECT request in clear"; else
                fail "relay/capture: no CONNECT request in clear" "pcapcheck grep exit $rc"; fi
            # Two connections to the relay: the tunnel, and (once the tunnel is up) the RESOLVE
            # with Veil-Want: https that asks for the target's ECH config through the relay.
            expect_eq "relay/capture: two ClientHellos (the tunnel, the ECH config's RESOLVE), both without SNI" \
                "sni=- ext0=no sni=- ext0=no" \
                "$(python3 "$TOOLS/pcapcheck.py" hellos "$RL_PCAP" --port "$RL_PORT" 2>&1 | sed 's/^stream=[0-9]* //' | tr '\n' ' ' | sed 's/ $//')"
        else
            fail "relay/capture" "tshark did not start"
        fi

        # A pass-through host through the tunnel: the client's own TLS reaches the origin.
        log_mark
        got=$(curl -sS --max-time 30 -x "http://127.0.0.1:$VEIL_PORT" --cacert "$TESTCA" -o "$WORK/rl-pt.bin" \
            -w '%{http_code} %{local_port}' "https://localhost:$NGX13/big.bin" 2>&1)
        expect_eq "relay/pass-through through the tunnel status" 200 "${got%% *}"
        expect_eq "relay/pass-through through the tunnel sha256" "$BIG_SHA" "$(sha_of "$WORK/rl-pt.bin")"
        rm -f "$WORK/rl-pt.bin"
        summary_for "${got##* }"
        expect_summary "relay/pass-through/summary mode" mode passthrough
        expect_summary "relay/pass-through/summary route" route tunnel
        expect_summary "relay/pass-through/summary close" close ok
        stop_veil 10
        expect_eq "relay/veil clean exit" 0 "$STOP_RC"
    fi

    # Wrong secret: the relay refuses (407), Veil answers 502 with the relay's reason.
    if veil_or_fail relay-wrong-secret "${RL_ARGS[@]}" --relay-secret "$RL_WRONG" && veil_ca; then
        log_mark
        RL_MARK=$(wc -l <"$RL_MAIN_LOG")
        code=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null)
        expect_eq "relay/wrong secret: curl gets 502" 502 "${code%% *}"
        summary_for "${code##* }"
        expect_summary "relay/wrong secret/summary close" close auth-failed
        expect_summary "relay/wrong secret/summary reason" reason "relay: 407 wrong relay secret"
        sleep 0.3
        expect_eq "relay/wrong secret: the relay logs one refusal (auth-failed)" 1 \
            "$(relay_log_new "$RL_MAIN_LOG" | grep -c 'close=auth-failed reason="wrong relay secret"')"
        expect_eq "relay/wrong secret: the secret appears in no log" 0 \
            "$(cat "$RL_MAIN_LOG" "$VEIL_LOG" | grep -cF -e "$RL_WRONG" -e "$RL_SECRET")"
        stop_veil 10
    fi

    # Wrong pin: the handshake completes, the fingerprint differs, nothing is sent.
    if veil_or_fail relay-wrong-pin --route tunnel --relay "127.0.0.1:$RL_PORT" --resolver static \
            --relay-fingerprint "$(printf '%064d' 0)" --relay-secret "$RL_SECRET" && veil_ca; then
        log_mark
        RL_MARK=$(wc -l <"$RL_MAIN_LOG")
        code=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null)
        expect_eq "relay/wrong fingerprint: curl gets 502" 502 "${code%% *}"
        summary_for "${code##* }"
        expect_summary "relay/wrong fingerprint/summary close" close relay-failed
        expect_summary "relay/wrong fingerprint/summary reason" reason "relay certificate fingerprint mismatch \(got $RL_FP, pinned 00:00:.*\)"
        sleep 0.3
        expect_eq "relay/wrong fingerprint: no CONNECT reached the relay" 0 \
            "$(relay_log_new "$RL_MAIN_LOG" | grep -c "target=$RL_NAME")"
        stop_veil 10
    fi

    # The relay still serves the right client after those failures; this Veil routes only
    # *.test through the relay (--route-rule), from a secret file.
    echo "$RL_SECRET" >"$WORK/relay-secret.txt"
    if veil_or_fail relay-after --route-rule "*.test=tunnel" --relay "127.0.0.1:$RL_PORT" --relay-fingerprint "${RL_FP//:/}" \
            --relay-secret-file "$WORK/relay-secret.txt" --resolver static --upstream-ca "$TESTCA" \
            --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
        log_mark
        got=$(vcurl -o "$WORK/rl-after.bin" -w '%{http_code} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/big.bin" 2>&1)
        expect_eq "relay/still serves the right client after refusals" "200 $BIG_SHA" "${got%% *} $(sha_of "$WORK/rl-after.bin")"
        rm -f "$WORK/rl-after.bin"
        summary_for "${got##* }"
        expect_summary "relay/route-rule: *.test goes through the relay" route tunnel
        log_mark
        got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
        expect_eq "relay/route-rule: other hosts go direct" 200 "${got%% *}"
        summary_for "${got##* }"
        expect_summary "relay/route-rule: direct summary has no route field" route ""
        expect_summary "relay/route-rule: direct summary upstream" upstream "127\.0\.0\.1:$NGX13"
        stop_veil 10
    fi

    # The connection token: HOME/relay-token (0600) holds address, pin and secret in one value;
    # the log names the file, never the token; --relay-token @FILE and VEIL_RELAY_TOKEN stand
    # for --relay, --relay-fingerprint and the secret.
    RL_TOKEN_FILE=$WORK/relay-home-main/relay-token
    expect_eq "relay/token: HOME/relay-token is 0600" 600 "$(stat -c %a "$RL_TOKEN_FILE" 2>&1)"
    expect_eq "relay/token: holds the pin, the secret and the address" "VR1${RL_FP//:/}::$RL_SECRET@127.0.0.1:$RL_PORT" \
        "$(cat "$RL_TOKEN_FILE" 2>&1)"
    check "relay/token: the log names the file" grep -qF "connection token for 127.0.0.1:$RL_PORT in $RL_TOKEN_FILE (mode 0600" "$RL_MAIN_LOG"
    RL_TOKEN_ARGS=(--route tunnel --resolver static --upstream-ca "$TESTCA" --sni real)
    for how in file variable; do
        if [[ $how == file ]]; then
            veil_or_fail relay-token-file "${RL_TOKEN_ARGS[@]}" --relay-token "@$RL_TOKEN_FILE"
        else
            VEIL_RELAY_TOKEN=$(cat "$RL_TOKEN_FILE") veil_or_fail relay-token-env "${RL_TOKEN_ARGS[@]}"
        fi && veil_ca && {
            log_mark
            got=$(vcurl -o "$WORK/rl-token.bin" -w '%{http_code} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/big.bin" 2>&1)
            expect_eq "relay/token ($how): download through the tunnel" "200 $BIG_SHA" "${got%% *} $(sha_of "$WORK/rl-token.bin")"
            rm -f "$WORK/rl-token.bin"
            summary_for "${got##* }"
            expect_summary "relay/token ($how): summary relay" relay "127\.0\.0\.1:$RL_PORT"
            check "relay/token ($how): start-up line names the relay and the pin from the token" \
                grep -q "tunnels through the relay at 127.0.0.1:$RL_PORT, pinned to certificate $RL_FP" "$VEIL_LOG"
            expect_eq "relay/token ($how): the secret appears in no log" 0 "$(cat "$RL_MAIN_LOG" "$VEIL_LOG" | grep -cF "$RL_SECRET")"
            stop_veil 10
        }
    done
    # A damaged token: a clear start-up error (exit 64) that does not echo the token.
    bad="VR1${RL_FP//:/}::$RL_SECRET@not-an-address"
    out=$("$VEIL_BIN" run --listen 127.0.0.1:0 --route tunnel --relay-token "$bad" 2>&1); rc=$?
    expect_eq "relay/token: a bad token exits 64" 64 "$rc"
    check "relay/token: the error says what is wrong" grep -q "relay token: the relay's address is not IP:PORT" <<<"$out"
    expect_eq "relay/token: the error does not echo the secret" 0 "$(grep -cF "$RL_SECRET" <<<"$out")"

    # Mutual TLS: a relay with --client-fingerprint asks for a certificate (inside TLS 1.3) and
    # refuses clients whose certificate is not pinned (403); veil run made its own on first use in
    # VEIL_HOME/relay-client and printed its fingerprint.
    RL_MY_FP=$(openssl x509 -in "$VEIL_HOME/relay-client/ca.pem" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//')
    check "relay/mtls: veil printed its client certificate's fingerprint" grep -qF "relay client certificate SHA-256 $RL_MY_FP in $VEIL_HOME/relay-client" "$WORK/veil-relay-tunnel.log"
    expect_eq "relay/mtls: the client key is 0600" 600 "$(stat -c %a "$VEIL_HOME/relay-client/ca-key.pem" 2>&1)"
    free_port RL_PORT_M
    RL_MAIN_PID=$RL_PID
    for auth in both certificate; do
        start_relay "mtls-$auth" "$RL_PORT_M" --secret "$RL_SECRET" --allow-private --allow-port "$RL_ORIGIN" --resolver static \
            --resolve "$RL_NAME:$RL_ORIGIN:127.0.0.1" --client-fingerprint "$(printf '%064d' 7)" \
            --client-fingerprint "$RL_MY_FP" --client-auth "$auth" || { fail "relay/mtls-$auth/start" "relay did not start"; continue; }
        RL_M_LOG=$RL_LOG
        secret=$RL_SECRET; [[ $auth == certificate ]] && secret=$RL_WRONG
        if veil_or_fail "relay-mtls-$auth" --route tunnel --relay "127.0.0.1:$RL_PORT_M" --relay-fingerprint "$RL_FP" \
                --relay-secret "$secret" --resolver static --upstream-ca "$TESTCA" && veil_ca; then
            log_mark
            got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>&1)
            expect_eq "relay/mtls ($auth): a pinned client certificate is served${secret:+ (secret: $([[ $auth == both ]] && echo right || echo wrong))}" 200 "${got%% *}"
            stop_veil 10
        fi
        # Another client certificate (a fresh VEIL_HOME makes a new one): 403 with the reason.
        if VEIL_HOME=$WORK/veil-home-other veil_or_fail "relay-mtls-other-$auth" --route tunnel --relay "127.0.0.1:$RL_PORT_M" \
                --relay-fingerprint "$RL_FP" --relay-secret "$RL_SECRET" --resolver static --upstream-ca "$TESTCA" && veil_ca; then
            log_mark
            code=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null)
            expect_eq "relay/mtls ($auth): another client certificate gets 502" 502 "${code%% *}"
            summary_for "${code##* }"
            expect_summary "relay/mtls ($auth): reason" reason "relay: 403 client certificate [0-9A-F:]+ is not pinned \(--client-fingerprint\)"
            stop_veil 10
        fi
        # No client certificate at all (curl): 403 with the reason, and the relay logs it.
        code=$(rcurl "$RL_PORT_M" "$RL_SECRET" -o /dev/null -w '%{http_connect}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null)
        expect_eq "relay/mtls ($auth): a client without a certificate gets 403" 403 "$code"
        check "relay/mtls ($auth): logged as auth-failed, certificate missing" wait_log "$RL_M_LOG" 'close=auth-failed reason="client certificate missing' 5
        stop_pid "$RL_PID" 10
    done
    RL_PID=$RL_MAIN_PID

    # Two relays (issue 15 item 3): new tunnels are spread over both; with one down (nothing
    # listening), every request still succeeds through the other, and the log says why.
    free_port RL_PORT_S; free_port RL_DOWN; free_port RL_DEAD2
    RL_MAIN_PID=$RL_PID
    if start_relay spare "$RL_PORT_S" --secret "$RL_SECRET" --allow-private --allow-port "$RL_ORIGIN" --resolver static \
            --resolve "$RL_NAME:$RL_ORIGIN:127.0.0.1"; then
        RL_S_FP=$RL_FP RL_S_PID=$RL_PID
        RL_FP=$(sed -n 's/^veil relay: certificate SHA-256 fingerprint //p' "$RL_MAIN_LOG")
        if veil_or_fail relay-two --workers 1 --route tunnel --relay "127.0.0.1:$RL_PORT" --relay-fingerprint "$RL_FP" \
                --relay "127.0.0.1:$RL_PORT_S" --relay-fingerprint "$RL_S_FP" --relay-secret "$RL_SECRET" \
                --resolver static --upstream-ca "$TESTCA" && veil_ca; then
            check "relay/two: the start-up names the second relay" grep -q "also the relay at 127.0.0.1:$RL_PORT_S, pinned to certificate $RL_S_FP" "$VEIL_LOG"
            used=""
            for i in 1 2 3 4; do
                got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>&1)
                [[ ${got%% *} == 200 ]] || used+="fail:$got "
                summary_for "${got##* }"
                used+="$(grep -o ' relay=[^ ]*' <<<"$SUMMARY") "
            done
            expect_eq "relay/two: four tunnels spread over both relays, in turn" \
                " relay=127.0.0.1:$RL_PORT  relay=127.0.0.1:$RL_PORT_S  relay=127.0.0.1:$RL_PORT  relay=127.0.0.1:$RL_PORT_S " "$used"
            stop_veil 10
        fi
        if veil_or_fail relay-one-down --workers 1 --route tunnel --relay "127.0.0.1:$RL_DOWN" --relay-fingerprint "$RL_FP" \
                --relay "127.0.0.1:$RL_PORT_S" --relay-fingerprint "$RL_S_FP" --relay-secret "$RL_SECRET" \
                --resolver static --upstream-ca "$TESTCA" && veil_ca; then
            codes="" relays=""
            for i in 1 2 3 4; do
                got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>&1)
                codes+="${got%% *} "
                summary_for "${got##* }"
                relays+="$(grep -o ' relay=[^ ]*' <<<"$SUMMARY")"
            done
            expect_eq "relay/one down: every request succeeds" "200 200 200 200 " "$codes"
            expect_eq "relay/one down: all through the relay that is up" \
                " relay=127.0.0.1:$RL_PORT_S relay=127.0.0.1:$RL_PORT_S relay=127.0.0.1:$RL_PORT_S relay=127.0.0.1:$RL_PORT_S" "$relays"
            check "relay/one down: the log says which relay failed and where the connection went" \
                grep -q "relay 127.0.0.1:$RL_DOWN failed (relay 127.0.0.1:$RL_DOWN: .*); connection [0-9]* tries relay 127.0.0.1:$RL_PORT_S" "$VEIL_LOG"
            # (its first backoff is 0.5-1 s; four requests take less, but leave room for a slow machine)
            n=$(grep -c "relay 127.0.0.1:$RL_DOWN failed" "$VEIL_LOG")
            expect_eq "relay/one down: the dead relay is left alone for its backoff (tried $n times for 4 requests)" yes \
                "$( ((n >= 1 && n <= 2)) && echo yes || echo no)"
            stop_veil 10
        fi
        # Both down: 502 with the last relay's reason.
        if veil_or_fail relay-both-down --workers 1 --route tunnel --relay "127.0.0.1:$RL_DOWN" --relay-fingerprint "$RL_FP" \
                --relay "127.0.0.1:$RL_DEAD2" --relay-fingerprint "$RL_S_FP" --relay-secret "$RL_SECRET" \
                --resolver static --upstream-ca "$TESTCA" && veil_ca; then
            code=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null)
            expect_eq "relay/both down: 502" 502 "${code%% *}"
            summary_for "${code##* }"
            expect_summary "relay/both down: close" close relay-failed
            stop_veil 10
        fi
        stop_pid "$RL_S_PID" 10
    fi
    RL_PID=$RL_MAIN_PID

    # Rate limit (--auth-failures 3): the earlier wrong secret counts too.
    codes=""
    for i in 1 2 3; do
        codes+="$(rcurl "$RL_PORT" "$RL_WRONG" -o /dev/null -w '%{http_connect}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null) "
    done
    expect_eq "relay/rate limit: 407 until the limit, then 429" "407 407 429 " "$codes"
    code=$(rcurl "$RL_PORT" "$RL_SECRET" -o /dev/null -w '%{http_connect}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null)
    expect_eq "relay/rate limit: the blocked address is refused even with the right secret" 429 "$code"
    check "relay/rate limit: logged as rate-limited" wait_log "$RL_MAIN_LOG" 'close=rate-limited reason="too many wrong secrets from 127\.0\.0\.1' 5
    got=$(rcurl "$RL_PORT" "$RL_SECRET" --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>&1)
    expect_eq "relay/rate limit: another address is still served" 200 "$got"
    expect_eq "relay/no secret in the relay log" 0 "$(grep -cF -e "$RL_WRONG" -e "$RL_SECRET" "$RL_MAIN_LOG")"
fi

# A relay without --allow-private and with the default port list (443).
if start_relay strict "$RL_PORT2" --secret "$RL_SECRET" --resolver static --resolve "$RL_NAME:443:127.0.0.1" \
        --resolve "public.test:443:192.0.2.1"; then
    code=$(rcurl "$RL_PORT2" "$RL_SECRET" -o /dev/null -w '%{http_connect}' "https://$RL_NAME/" 2>/dev/null)
    expect_eq "relay/strict: a name resolving to loopback is refused (403)" 403 "$code"
    code=$(rcurl "$RL_PORT2" "$RL_SECRET" -o /dev/null -w '%{http_connect}' "https://127.0.0.1/" 2>/dev/null)
    expect_eq "relay/strict: a loopback address is refused (403)" 403 "$code"
    code=$(rcurl "$RL_PORT2" "$RL_SECRET" -o /dev/null -w '%{http_connect}' "https://10.1.2.3/" 2>/dev/null)
    expect_eq "relay/strict: a private address is refused (403)" 403 "$code"
    code=$(rcurl "$RL_PORT2" "$RL_SECRET" -o /dev/null -w '%{http_connect}' "https://public.test:$RL_ORIGIN/" 2>/dev/null)
    expect_eq "relay/strict: a port not allowed is refused (403)" 403 "$code"
    check "relay/strict: reasons logged" wait_log "$RL_LOG" "resolves to 127\.0\.0\.1, denied by rule 'deny 127\.0\.0\.0/8'" 5
    check "relay/strict: port reason logged" wait_log "$RL_LOG" "port $RL_ORIGIN is not allowed on this relay" 5
    code=$(curl -sS --max-time 10 -x "https://127.0.0.1:$RL_PORT2" --proxy-insecure -o /dev/null -w '%{http_connect}' "https://$RL_NAME/" 2>/dev/null)
    expect_eq "relay/strict: no secret at all gets 407" 407 "$code"
    code=$(curl -sS --max-time 10 -x "http://127.0.0.1:$RL_PORT2" -o /dev/null -w '%{http_connect}' "https://$RL_NAME/" 2>/dev/null)
    expect_eq "relay/strict: plain HTTP to the relay gets 400" 400 "$code"
    stop_pid "$RL_PID" 10
    expect_eq "relay/strict: clean exit" 0 "$STOP_RC"
fi

# --max-per-client 1: while one tunnel is open (a rate-limited download), a second one from
# the same address gets 429; another address is served.
if start_relay perclient "$RL_PORT3" --secret "$RL_SECRET" --allow-private --allow-port "$RL_ORIGIN" \
        --resolver static --resolve "$RL_NAME:$RL_ORIGIN:127.0.0.1" --max-per-client 1; then
    rcurl "$RL_PORT3" "$RL_SECRET" --limit-rate 2M -o /dev/null "https://$RL_NAME:$RL_ORIGIN/big.bin" 2>/dev/null &
    RL_HOLD=$!
    sleep 1   # let the first tunnel open
    code=$(rcurl "$RL_PORT3" "$RL_SECRET" -o /dev/null -w '%{http_connect}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>/dev/null)
    expect_eq "relay/max-per-client: a second connection from the same address gets 429" 429 "$code"
    got=$(rcurl "$RL_PORT3" "$RL_SECRET" --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>&1)
    expect_eq "relay/max-per-client: another address is served meanwhile" 200 "$got"
    check "relay/max-per-client: logged" wait_log "$RL_LOG" 'close=rate-limited reason="127\.0\.0\.1 already has 1 connections' 5
    wait "$RL_HOLD"
    expect_eq "relay/max-per-client: the held download completes" 0 "$?"
    got=$(rcurl "$RL_PORT3" "$RL_SECRET" -o /dev/null -w '%{http_code}' "https://$RL_NAME:$RL_ORIGIN/index.html" 2>&1)
    expect_eq "relay/max-per-client: the slot is given back" 200 "$got"
fi

# Relays that fail at each step of the tunnel's set-up, over real sockets: nothing listening
# (refused), a listener that ends its side after the ClientHello (closed during the handshake),
# one that answers the ClientHello in plain text (TLS handshake failure), one that never
# answers (connect-timeout: 504). Each: curl gets the status, the summary the reason.
free_port RL_DEAD
# rl_fake MODE: a fake relay on RL_DEAD (shut: reads, then ends its side; plain: answers in
# plain text; silent: accepts and holds). Sets RL_FAKE_PID; stops by itself after 30 s.
rl_fake() {
    python3 - "$RL_DEAD" "$1" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
s.settimeout(0.5)
held, end = [], time.time() + 30
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    try:
        if sys.argv[2] == "silent":
            held.append(c)
            continue
        c.settimeout(2)
        c.recv(4096)
        if sys.argv[2] == "plain":
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        c.shutdown(socket.SHUT_WR)
        held.append(c)
    except OSError:
        c.close()
EOF
    RL_FAKE_PID=$!
    wait_port "$RL_DEAD" 10
}
# rl_fail_case NAME STATUS CLOSE REASON-REGEX: one request through the failing tunnel.
rl_fail_case() {
    local code
    log_mark
    code=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://$RL_NAME/index.html" 2>/dev/null)
    expect_eq "relay/$1: curl gets $2" "$2" "${code%% *}"
    summary_for "${code##* }"
    expect_summary "relay/$1/summary close" close "$3"
    expect_summary "relay/$1/summary reason" reason "$4"
}
if veil_or_fail relay-dead --route tunnel --relay "127.0.0.1:$RL_DEAD" --resolver static \
        --relay-fingerprint "$(printf '%064d' 0)" --relay-secret "$RL_SECRET" --connect-timeout 1 && veil_ca; then
    rl_fail_case "unreachable relay" 502 relay-failed "relay 127\.0\.0\.1:$RL_DEAD: Connection refused"
    rl_fake shut
    rl_fail_case "relay ends during the handshake" 502 relay-failed \
        "relay 127\.0\.0\.1:$RL_DEAD closed the connection during the TLS handshake"
    stop_pid "$RL_FAKE_PID" 5
    rl_fake plain
    rl_fail_case "relay answers in plain text" 502 relay-failed "relay 127\.0\.0\.1:$RL_DEAD: TLS handshake: .+"
    stop_pid "$RL_FAKE_PID" 5
    rl_fake silent
    rl_fail_case "silent relay" 504 relay-failed \
        "relay 127\.0\.0\.1:$RL_DEAD did not answer within 1s \(connect, TLS handshake and CONNECT\)"
    stop_pid "$RL_FAKE_PID" 5
    stop_veil 10
    expect_eq "relay/failing relays: clean exit" 0 "$STOP_RC"
fi

for p in "${RL_PIDS[@]}"; do stop_pid "$p" 5; done
