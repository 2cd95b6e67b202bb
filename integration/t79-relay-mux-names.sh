# --relay-mux on against veil relay (issue 15, item 1: "name resolution through the relay uses
# the same connection"): the relay's RESOLVE rides the multiplexed HTTP/2 connection as a stream
# beside the CONNECT streams, so lookups show an observer no relay connection of their own.
# - route direct, --resolver relay: 6 names only the relay knows, each resolved on a RESOLVE
#   stream, one TCP connection to the relay on the capture; a name the relay cannot resolve: 502
#   with the relay's own reason (carried as veil-reason).
# - route tunnel (intercept, --ech auto): each new name's ECH config is asked on a RESOLVE stream
#   and the tunnel is a CONNECT stream on the same connection: 20 names, one TCP connection; a
#   CONNECT the relay refuses: 502 with the relay's reason.

RN_DOMAIN=names.test
RN_SECRET=relay-names-secret-$RANDOM$RANDOM
RN_PIDS=()
free_port RN_ORIGIN; free_port RN_RELAY
make_leaf relay-names-origin "DNS:*.$RN_DOMAIN" || fail "relay-names/harness certificate" "make_leaf"
NGINX_CERT=$LEAF_CERT NGINX_KEY=$LEAF_KEY start_nginx relay-names "$DOCROOT" "$RN_ORIGIN:TLSv1.3:h1" && RN_PIDS+=("$NGINX_PID") ||
    fail "relay-names/harness nginx" "did not start"

# Only the relay knows the names (its static map).
rn_resolve=()
for i in $(seq 1 30); do rn_resolve+=(--resolve "n$i.$RN_DOMAIN:$RN_ORIGIN:127.0.0.1"); done
if start_relay names "$RN_RELAY" --secret "$RN_SECRET" --allow-private --allow-port "$RN_ORIGIN" \
        --resolver static "${rn_resolve[@]}"; then
    RN_PIDS+=("$RL_PID")
    RN_LOG=$RL_LOG RN_FP=$RL_FP
    RN_ARGS=(--relay "127.0.0.1:$RN_RELAY" --relay-fingerprint "$RN_FP" --relay-mux on --upstream-ca "$TESTCA" --workers 1)
    rn_get() { vcurl -o "${3:-/dev/null}" -w '%{http_code} %{local_port}' "https://$1.$RN_DOMAIN:$RN_ORIGIN$2"; }
    rn_syns() { tshark -r "$1" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == $RN_RELAY" 2>/dev/null | wc -l; }
    rn_relay_mark() { RN_MARK=$(wc -l <"$RN_LOG"); }
    rn_relay_new() { tail -n "+$((RN_MARK + 1))" "$RN_LOG" 2>/dev/null; }

    # Route direct: the relay only names; Veil connects to the origin itself.
    if VEIL_RELAY_SECRET=$RN_SECRET veil_or_fail relay-names-direct --resolver relay "${RN_ARGS[@]}" && veil_ca; then
        RN_PCAP=$WORK/relay-names-direct.pcap
        rn_relay_mark
        if capture_start "$RN_PCAP" "tcp port $RN_RELAY"; then
            ok=0
            for i in $(seq 1 6); do
                got=$(rn_get "n$i" /index.html "$WORK/rn-$i.html")
                [[ "${got%% *}" == 200 ]] && cmp -s "$WORK/rn-$i.html" "$DOCROOT/index.html" && ok=$((ok + 1))
                rm -f "$WORK/rn-$i.html"
            done
            log_mark
            got=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://nowhere.$RN_DOMAIN:$RN_ORIGIN/" 2>/dev/null)
            summary_for "${got##* }"
            rn_unknown=$SUMMARY
            capture_stop
            expect_eq "relay-names/direct: 6 names only the relay knows: all 200, bodies intact" 6 "$ok"
            expect_eq "relay-names/direct: capture: one TCP connection to the relay for 7 names" 1 "$(rn_syns "$RN_PCAP")"
            sleep 0.3
            # Addresses and HTTPS records (for ECH) are asked side by side: RESOLVE streams, each
            # name resolved by the relay on HTTP/2.
            expect_eq "relay-names/direct: the relay resolved the 6 names on HTTP/2 streams" 6 \
                "$(rn_relay_new | grep -E "front_alpn=h2 h2_stream=[0-9]+ .*close=ok reason=\"resolved to 127\.0\.0\.1" |
                    grep -oE "target=n[0-9]+\.$RN_DOMAIN:$RN_ORIGIN " | sort -u | wc -l)"
            expect_eq "relay-names/direct: an unknown name: CONNECT answered 502" 502 "${got%% *}"
            expect_match "relay-names/direct: with the relay's own reason (veil-reason on the stream)" \
                "relay 127\.0\.0\.1:$RN_RELAY: 502 cannot resolve nowhere\.$RN_DOMAIN: no --resolve entry" "$(field reason "$rn_unknown")"
            check "relay-names/direct: one relay up line" test "$(grep -c "relay up: 127\.0\.0\.1:$RN_RELAY " "$VEIL_LOG")" = 1
        else
            fail "relay-names/direct capture" "tshark did not start"
        fi
        stop_veil 10
        expect_eq "relay-names/direct: veil clean exit" 0 "$STOP_RC"
    fi

    # Route tunnel: the ECH config lookups and the tunnels on the one connection.
    if VEIL_RELAY_SECRET=$RN_SECRET veil_or_fail relay-names-tunnel --route tunnel --resolver static "${RN_ARGS[@]}" && veil_ca; then
        RN_PCAP=$WORK/relay-names-tunnel.pcap
        rn_relay_mark
        if capture_start "$RN_PCAP" "tcp port $RN_RELAY"; then
            ok=0; conns=(); ports=()
            for i in $(seq 11 30); do
                got=$(rn_get "n$i" /index.html "$WORK/rn-$i.html")
                [[ "${got%% *}" == 200 ]] && cmp -s "$WORK/rn-$i.html" "$DOCROOT/index.html" && ok=$((ok + 1))
                ports+=("${got##* }")
                rm -f "$WORK/rn-$i.html"
            done
            capture_stop
            log_mark
            LOG_MARK=0
            for p in "${ports[@]}"; do summary_for "$p" 10 && conns+=("$(field relay_conn "$SUMMARY")"); done
            expect_eq "relay-names/tunnel: 20 names: all 200, bodies intact" 20 "$ok"
            expect_eq "relay-names/tunnel: capture: one TCP connection to the relay for 20 lookups and 20 tunnels" 1 "$(rn_syns "$RN_PCAP")"
            expect_eq "relay-names/tunnel: one relay_conn= for all 20" 1 "$(printf '%s\n' "${conns[@]}" | grep -v '^$' | sort -u | wc -l)"
            sleep 0.3
            rn_streams=$(rn_relay_new | grep -E "front_alpn=h2 h2_stream=[0-9]+ .*target=n[0-9]+\.$RN_DOMAIN:$RN_ORIGIN ")
            expect_eq "relay-names/tunnel: the relay answered 20 RESOLVE streams (ECH configs) on HTTP/2" 20 \
                "$(grep -c 'close=ok reason="resolved to' <<<"$rn_streams")"
            expect_eq "relay-names/tunnel: and carried 20 CONNECT streams" 20 "$(grep -vc 'reason="resolved to' <<<"$rn_streams")"
            # A CONNECT the relay refuses (a port it does not allow): 502 with the relay's reason.
            log_mark
            got=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://n11.$RN_DOMAIN:1/" 2>/dev/null)
            summary_for "${got##* }"
            expect_eq "relay-names/tunnel: a refused CONNECT stream: 502" 502 "${got%% *}"
            expect_summary "relay-names/tunnel: with the relay's reason (veil-reason)" reason \
                "relay 127\.0\.0\.1:$RN_RELAY: CONNECT n11\.$RN_DOMAIN:1 answered 403: port 1 is not allowed.*"
        else
            fail "relay-names/tunnel capture" "tshark did not start"
        fi
        stop_veil 10
        expect_eq "relay-names/tunnel: veil clean exit" 0 "$STOP_RC"
    fi
    check "relay-names/the secret is not in the relay's log" bash -c "! grep -qF '$RN_SECRET' '$RN_LOG'"
else
    fail "relay-names/relay starts" "$(tail -n 5 "$RL_LOG" | tr '\n' ' ')"
fi
for p in "${RN_PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${RN_PIDS[@]}"; do wait "$p" 2>/dev/null; done
