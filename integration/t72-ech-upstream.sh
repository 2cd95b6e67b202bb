# ECH on Veil's upstream leg, end to end: real curl -> Veil (intercepting) -> an independent
# ECH server, BoringSSL's `bssl-tool server -www` (it binds every interface, so it runs in a
# network namespace of its own with only lo; socat carries its port to a Unix socket and a
# second socat listens on 127.0.0.1: Veil's upstream leg is a real loopback TCP connection,
# captured with tshark on its port). The server's page says what it saw ("Encrypted
# ClientHello: yes", "Client sent SNI: origin.test"). The config comes from unbound's HTTPS
# record over DoH and over DoT, and from --ech-config. Cases: accepted (summary ech=accepted
# outer_sni=public.test; the record log's outer ClientHello names public.test with ech=yes; the
# capture has origin.test in no packet), HelloRetryRequest (server P-256 only), rejection (the
# server holds another key: curl's handshake fails, close=ech-rejected, origin.test not on the
# wire), GREASE to nginx without a config (works, ech=grease, 0xfe0d present), --ech require
# without a config (502, close=ech-required, no connect), --ech off (ech=off, no 0xfe0d),
# pass-through (ech=off), a session resumed inside ECH, the key log (RFC 9850), --sni omit with
# a config, and a stale cached config: dropped, fetched afresh, the connection retried once.

EU_DIR=$WORK/ech-upstream
mkdir -p "$EU_DIR"
EU_PIDS=()
EU_UP=1
make_leaf ech-origin "DNS:origin.test,DNS:public.test,DNS:rotated.test,DNS:port.test" || fail "harness/ech origin certificate" "make_leaf"
EU_CERT=$LEAF_CERT EU_KEY=$LEAF_KEY
if (cd "$EU_DIR" &&
    bssl-tool generate-ech -out-ech-config-list list.bin -out-ech-config config.bin -out-private-key key.bin \
        -public-name public.test -config-id 7 &&
    bssl-tool generate-ech -out-ech-config-list other-list.bin -out-ech-config other-config.bin \
        -out-private-key other-key.bin -public-name public.test -config-id 7) >"$EU_DIR/gen.log" 2>&1; then
    pass "harness/ech-upstream: bssl-tool generate-ech"
else
    fail "harness/ech-upstream: bssl-tool generate-ech" "$(tail -n 3 "$EU_DIR/gen.log" | tr '\n' ' ')"
    EU_UP=0
fi

# eu_server NAME PORTVAR [bssl server args...]: bssl-tool server -www in a netns, reachable on
# 127.0.0.1:$PORTVAR (set here) through socat.
eu_server() {
    local name=$1 var=$2 d=$EU_DIR/$1 i; shift 2
    mkdir -p "$d"
    free_port "$var"
    local port=${!var}
    env --default-signal unshare --net bash -c "
        cd '$d'; ip link set lo up
        bssl-tool server -accept 4433 -cert '$EU_CERT' -key '$EU_KEY' $* -www -loop >server.log 2>&1 & b=\$!
        until ss -ltn | grep -q ':4433 '; do sleep 0.05; done
        socat UNIX-LISTEN:'$d/server.sock',fork TCP:127.0.0.1:4433 & s=\$!
        trap 'kill \$b \$s 2>/dev/null; exit 0' TERM INT
        wait" >"$d/ns.log" 2>&1 &
    bg_register $!
    EU_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do [[ -S "$d/server.sock" ]] && break; sleep 0.05; done
    socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$d/server.sock" >"$d/socat.log" 2>&1 &
    bg_register $!
    EU_PIDS+=($!)
    if wait_port "$port" 10; then pass "harness/ech-upstream: bssl-tool server $name on :$port"; else
        fail "harness/ech-upstream: bssl-tool server $name" "$(tail -n 3 "$d/server.log" "$d/ns.log" 2>/dev/null | tr '\n' ' ')"
        EU_UP=0
    fi
}
if [[ $EU_UP == 1 ]]; then
    eu_server ech EU_ECH -ech-config "$EU_DIR/config.bin" -ech-key "$EU_DIR/key.bin"
    eu_server hrr EU_HRR -ech-config "$EU_DIR/config.bin" -ech-key "$EU_DIR/key.bin" -curves P-256
    eu_server stale EU_STALE -ech-config "$EU_DIR/other-config.bin" -ech-key "$EU_DIR/other-key.bin"
fi
# eu_rot SERVER: 127.0.0.1:$EU_ROT leads to bssl-tool server SERVER (ech: key 1, stale: key 2):
# the key-rotation case moves the site from one to the other behind the same port.
free_port EU_ROT
EU_ROT_PID=
eu_rot() {
    [[ -n "$EU_ROT_PID" ]] && stop_pid "$EU_ROT_PID" 5
    socat "TCP-LISTEN:$EU_ROT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$EU_DIR/$1/server.sock" >"$EU_DIR/rot-$1.log" 2>&1 &
    EU_ROT_PID=$!
    bg_register $!
    wait_port "$EU_ROT" 10
}
[[ $EU_UP == 1 ]] && { eu_rot ech || { fail "harness/ech-upstream: socat :$EU_ROT" "$(cat "$EU_DIR/rot-ech.log")"; EU_UP=0; }; }

# unbound: origin.test's HTTPS record carries the ECHConfigList (DoH and DoT, as t71).
free_port EU_DOH; free_port EU_DOT; free_port EU_UDP
make_leaf ech-up-resolver "DNS:dns.test,IP:127.0.0.1" || fail "harness/ech-upstream resolver certificate" "make_leaf"
cat >"$EU_DIR/unbound.conf" <<UB
server:
    interface: 127.0.0.1@$EU_DOH
    interface: 127.0.0.1@$EU_DOT
    interface: 127.0.0.1@$EU_UDP
    https-port: $EU_DOH
    tls-port: $EU_DOT
    tls-service-key: $LEAF_KEY
    tls-service-pem: $LEAF_CERT
    port: $EU_DOT
    do-daemonize: no
    username: ""
    chroot: ""
    directory: $EU_DIR
    pidfile: $EU_DIR/unbound.pid
    use-syslog: no
    logfile: $EU_DIR/unbound.log
    verbosity: 1
    log-queries: yes
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "test." static
    local-data: "origin.test. 300 IN A 127.0.0.1"
    local-data: "origin.test. 300 IN HTTPS 1 . alpn=http/1.1 ech=$(base64 -w0 "$EU_DIR/list.bin" 2>/dev/null)"
    local-data: "_$EU_ECH._https.origin.test. 300 IN HTTPS 1 . alpn=http/1.1 ech=$(base64 -w0 "$EU_DIR/list.bin" 2>/dev/null)"
    local-data: "_$EU_HRR._https.origin.test. 300 IN HTTPS 1 . alpn=http/1.1 ech=$(base64 -w0 "$EU_DIR/list.bin" 2>/dev/null)"
    local-data: "_$EU_STALE._https.origin.test. 300 IN HTTPS 1 . alpn=http/1.1 ech=$(base64 -w0 "$EU_DIR/list.bin" 2>/dev/null)"
    local-data: "plain.test. 300 IN A 127.0.0.1"
    local-data: "rotated.test. 300 IN A 127.0.0.1"
    local-data: "_$EU_ROT._https.rotated.test. 300 IN HTTPS 1 . ech=$(base64 -w0 "$EU_DIR/list.bin" 2>/dev/null)"
    local-data: "port.test. 300 IN A 127.0.0.1"
    local-data: "port.test. 300 IN HTTPS 1 . ech=$(base64 -w0 "$EU_DIR/other-list.bin" 2>/dev/null)"
    local-data: "_$EU_ECH._https.port.test. 300 IN HTTPS 1 . ech=$(base64 -w0 "$EU_DIR/list.bin" 2>/dev/null)"
remote-control:
    control-enable: yes
    control-interface: $EU_DIR/unbound.ctl
UB
UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)
"$UNBOUND" -c "$EU_DIR/unbound.conf" >"$EU_DIR/unbound.out" 2>&1 &
bg_register $!
EU_PIDS+=($!)
if wait_port "$EU_DOH" 10 && wait_port "$EU_DOT" 10; then pass "harness/ech-upstream: unbound DoH :$EU_DOH DoT :$EU_DOT"; else
    fail "harness/ech-upstream: unbound" "$(tail -n 3 "$EU_DIR/unbound.log" "$EU_DIR/unbound.out" 2>/dev/null | tr '\n' ' ')"
    EU_UP=0
fi
EU_DOH_ARGS=(--resolver doh --doh-url "https://127.0.0.1:$EU_DOH/dns-query" --resolver-ca "$TESTCA")
EU_DOT_ARGS=(--resolver dot --dot-server "127.0.0.1:$EU_DOT" --resolver-ca "$TESTCA")
EU_COMMON=(--mode intercept --upstream-ca "$TESTCA" --record-log records)

# eu_get NAME PORT [curl args...]: GET https://origin.test:PORT/ through veil; sets EU_BODY,
# EU_RC (curl's exit), EU_CODE (%{http_connect}), SUMMARY, EU_CONN.
eu_get() {
    local name=$1 port=$2 lp; shift 2
    log_mark
    EU_BODY=$(vcurl -w '\n%{http_connect} %{local_port}' "$@" "https://origin.test:$port/" 2>"$EU_DIR/$name.curl.err")
    EU_RC=$?
    local last=${EU_BODY##*$'\n'}
    EU_CODE=${last%% *}; lp=${last##* }
    summary_for "$lp" 10 || wait_summary 5 "target=\"?origin\.test:$port"
    EU_CONN=$(field conn "$SUMMARY")
}

# eu_hello DIR: the record log's ClientHello line of the current connection in DIR.
eu_hello() { log_new | grep -E "record conn=$EU_CONN .*dir=$1 .*ClientHello" | head -n 1; }

# eu_wire NAME PCAP: origin.test in no byte of the upstream leg's capture, public.test in it.
eu_wire() {
    local name=$1 pcap=$2
    if [[ ! -s "$pcap" ]]; then fail "$name/capture" "no capture file"; return; fi
    expect_eq "$name/capture: origin.test in no packet of the upstream leg" 0 "$(grep -a -c 'origin\.test' "$pcap")"
    check "$name/capture: the outer ClientHello names public.test" grep -a -q 'public\.test' "$pcap"
}

# eu_queries: how many HTTPS queries for origin.test unbound answered so far.
eu_queries() { grep -c 'origin\.test\. HTTPS IN' "$EU_DIR/unbound.log" 2>/dev/null; }

if [[ $EU_UP == 1 ]] && veil_ca && veil_or_fail ech-doh "${EU_COMMON[@]}" "${EU_DOH_ARGS[@]}" --keylog "$EU_DIR/keys.log"; then
    # Accepted, config from DoH, capture of the upstream leg.
    capture_start "$EU_DIR/accepted.pcap" "tcp port $EU_ECH" || fail "ech-doh/capture start" "tshark"
    eu_get accepted "$EU_ECH"
    capture_stop
    expect_eq "ech-doh/curl gets the page" "0 200" "$EU_RC $EU_CODE"
    expect_match "ech-doh/the server saw ECH" "Encrypted ClientHello: yes" "$EU_BODY"
    expect_match "ech-doh/the server saw the real name inside" "SNI: origin\.test" "$EU_BODY"
    expect_summary "ech-doh/summary ech" ech accepted
    expect_summary "ech-doh/summary outer_sni" outer_sni 'public\.test'
    expect_summary "ech-doh/summary upstream_sni (the inner name)" upstream_sni 'origin\.test'
    expect_summary "ech-doh/summary tls" tls TLSv1.3
    expect_summary "ech-doh/summary close" close ok
    expect_match "ech-doh/record log: the outer ClientHello (public name, ECH)" \
        'sni=public\.test .*ech=yes' "$(eu_hello 'proxy->upstream')"
    eu_wire ech-doh "$EU_DIR/accepted.pcap"
    # The key log (RFC 9850): with ECH accepted the secrets go under the ClientHelloInner's
    # random, which is on no wire; the outer random (the capture's) is not used. The client leg
    # and the upstream leg each have their handshake secrets.
    outer=$(tshark -r "$EU_DIR/accepted.pcap" -d "tcp.port==$EU_ECH,tls" -Y tls.handshake.type==1 \
        -T fields -e tls.handshake.random 2>/dev/null | head -n 1)
    expect_match "ech-doh/keylog: the capture shows the outer random" '^[0-9a-f]{64}$' "$outer"
    expect_eq "ech-doh/keylog: two legs' handshake secrets" 2 \
        "$(awk '$1 == "CLIENT_HANDSHAKE_TRAFFIC_SECRET" {print $2}' "$EU_DIR/keys.log" | sort -u | wc -l)"
    expect_eq "ech-doh/keylog: TLS secrets not under the outer random (the inner one, RFC 9850)" 0 \
        "$(grep -v '^ECH_' "$EU_DIR/keys.log" | grep -c -- "${outer:-none}")"
    # ECH's own lines (RFC 9850 section 2.3) go under the outer random: the KEM shared secret
    # (32 bytes for X25519) and the ECHConfig bssl-tool made (config.bin).
    expect_match "ech-doh/keylog: ECH_SECRET under the outer random" "^ECH_SECRET ${outer:-none} [0-9a-f]{64}\$" \
        "$(grep '^ECH_SECRET ' "$EU_DIR/keys.log")"
    expect_eq "ech-doh/keylog: ECH_CONFIG is the server's ECHConfig, under the outer random" \
        "ECH_CONFIG ${outer:-none} $(od -An -v -tx1 "$EU_DIR/config.bin" | tr -d ' \n')" \
        "$(grep '^ECH_CONFIG ' "$EU_DIR/keys.log")"

    # HelloRetryRequest: the server takes P-256 only, Veil offers X25519 first.
    eu_get hrr "$EU_HRR"
    expect_eq "ech-hrr/curl gets the page" "0 200" "$EU_RC $EU_CODE"
    expect_match "ech-hrr/the server saw ECH" "Encrypted ClientHello: yes" "$EU_BODY"
    expect_match "ech-hrr/... over P-256 (after a HelloRetryRequest)" "ECDHE curve: P-256" "$EU_BODY"
    expect_summary "ech-hrr/summary ech" ech accepted
    expect_summary "ech-hrr/summary outer_sni" outer_sni 'public\.test'

    # A port other than 443 (RFC 9460 section 2.3): the record of _PORT._https.port.test (key 1,
    # which the server holds) is used, not port.test's own (key 2).
    log_mark
    got=$(vcurl -w '\n%{http_connect} %{local_port}' "https://port.test:$EU_ECH/" 2>&1)
    summary_for "${got##* }" 10
    expect_match "ech-port/the server saw ECH (config of _$EU_ECH._https.port.test)" "Encrypted ClientHello: yes" "$got"
    expect_summary "ech-port/summary ech" ech accepted
    check "ech-port/unbound was asked for _$EU_ECH._https.port.test" grep -q "_$EU_ECH\._https\.port\.test\. HTTPS IN" "$EU_DIR/unbound.log"

    # Rejection: the server holds another key (the config is stale).
    EU_Q0=$(eu_queries)
    capture_start "$EU_DIR/rejected.pcap" "tcp port $EU_STALE" || fail "ech-rejected/capture start" "tshark"
    eu_get rejected "$EU_STALE"
    capture_stop
    if [[ $EU_RC != 0 ]]; then pass "ech-rejected/curl fails (handshake_failure from Veil)"; else
        fail "ech-rejected/curl fails" "curl exit 0: $EU_BODY"; fi
    expect_summary "ech-rejected/summary close" close ech-rejected
    expect_summary "ech-rejected/summary ech" ech rejected
    expect_summary "ech-rejected/summary outer_sni" outer_sni 'public\.test'
    expect_match "ech-rejected/the reason says what happened and what to do" \
        'did not accept Encrypted Client Hello .*not sent in clear.*stale' "$(field reason "$SUMMARY")"
    eu_wire ech-rejected "$EU_DIR/rejected.pcap"
    expect_match "ech-rejected/the config came from the cache and was dropped" 'cached HTTPS record was dropped' "$(field reason "$SUMMARY")"
    expect_match "ech-rejected/... retried once with a fresh config (the same, rejected again)" \
        'retried once with a fresh config from DNS' "$(field reason "$SUMMARY")"
    expect_eq "ech-rejected/two HTTPS queries: the first for _$EU_STALE._https, the retry's fresh one" "$((EU_Q0 + 2))" "$(eu_queries)"
    eu_get after-rejection "$EU_ECH"
    expect_summary "ech-rejected/the next connection: ech" ech accepted
    expect_eq "ech-rejected/another port's cached record was not dropped (the cache is per port)" "$((EU_Q0 + 2))" "$(eu_queries)"

    # Key rotation: Veil caches rotated.test's config (key 1) for port EU_ROT; the site moves to
    # key 2 (DNS changed, the port now leads to the server holding key 2): the cached config is
    # rejected, dropped, fetched afresh, and the same client connection succeeds on the one retry.
    EU_BODY=$(vcurl "https://rotated.test:$EU_ROT/" 2>&1)
    expect_match "ech-retry/key 1 accepted and cached" "Encrypted ClientHello: yes" "$EU_BODY"
    eu_rot stale || fail "ech-retry/socat :$EU_ROT to the key-2 server" "$(cat "$EU_DIR/rot-stale.log")"
    unbound-control -c "$EU_DIR/unbound.conf" local_data_remove "_$EU_ROT._https.rotated.test" >"$EU_DIR/ctl.log" 2>&1 &&
        unbound-control -c "$EU_DIR/unbound.conf" local_data "_$EU_ROT._https.rotated.test. 300 IN HTTPS 1 . ech=$(base64 -w0 "$EU_DIR/other-list.bin")" >>"$EU_DIR/ctl.log" 2>&1 ||
        fail "ech-retry/unbound-control changes the record" "$(cat "$EU_DIR/ctl.log")"
    log_mark
    got=$(vcurl -w '\n%{http_connect} %{local_port}' "https://rotated.test:$EU_ROT/" 2>&1)
    expect_match "ech-retry/the client gets the page from the key-2 server" "Encrypted ClientHello: yes" "$got"
    summary_for "${got##* }" 10
    expect_summary "ech-retry/summary ech" ech accepted
    expect_summary "ech-retry/summary ech_retry" ech_retry yes
    expect_summary "ech-retry/summary close" close ok

    # GREASE: nginx (no ECH), no config for localhost.
    log_mark
    got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "ech-grease/curl status (nginx, no config)" 200 "${got%% *}"
    summary_for "${got##* }" 10
    EU_CONN=$(field conn "$SUMMARY")
    expect_summary "ech-grease/summary ech" ech grease
    expect_summary "ech-grease/summary outer_sni (no config: the SNI policy's name)" outer_sni localhost
    expect_match "ech-grease/record log: a GREASE 0xfe0d in the ClientHello" 'sni=localhost .*ech=yes' "$(eu_hello 'proxy->upstream')"

    # Pass-through: the client writes its own ClientHello.
    stop_veil 10
fi

if [[ $EU_UP == 1 ]] && veil_or_fail ech-dot "${EU_COMMON[@]}" "${EU_DOT_ARGS[@]}" --passthrough "localhost"; then
    eu_get dot "$EU_ECH"
    expect_eq "ech-dot/curl gets the page (config over DoT)" "0 200" "$EU_RC $EU_CODE"
    expect_match "ech-dot/the server saw ECH" "Encrypted ClientHello: yes" "$EU_BODY"
    expect_summary "ech-dot/summary ech" ech accepted
    log_mark
    got=$(pcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "ech-passthrough/curl status" 200 "${got%% *}"
    summary_for "${got##* }" 10
    expect_summary "ech-passthrough/summary mode" mode passthrough
    expect_summary "ech-passthrough/summary ech (the client's own hello)" ech off
    stop_veil 10
fi

# --ech-config (no DNS), and a session resumed inside ECH.
EU_STATIC=(--resolver static --resolve "origin.test:$EU_ECH:127.0.0.1" --resolve "origin.test:$EU_STALE:127.0.0.1"
    --resolve "plain.test:$EU_ECH:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1")
if [[ $EU_UP == 1 ]] && veil_or_fail ech-config "${EU_COMMON[@]}" "${EU_STATIC[@]}" \
        --ech-config "origin.test=@$EU_DIR/list.bin"; then
    EU_KEYLINES=$(wc -l <"$EU_DIR/keys.log" 2>/dev/null || echo 0)
    eu_get config "$EU_ECH"
    expect_eq "ech-config/curl gets the page" "0 200" "$EU_RC $EU_CODE"
    expect_match "ech-config/the server saw ECH" "Encrypted ClientHello: yes" "$EU_BODY"
    expect_summary "ech-config/summary ech" ech accepted
    expect_summary "ech-config/summary outer_sni" outer_sni 'public\.test'
    eu_get config-again "$EU_ECH"
    expect_match "ech-config/second connection: ECH again" "Encrypted ClientHello: yes" "$EU_BODY"
    expect_summary "ech-config/second connection: summary ech" ech accepted
    expect_summary "ech-config/second connection: the session is resumed inside ECH" resumed true
    # No key log asked here: ECH's lines go nowhere (not to the earlier veil's key log, not
    # into this veil's output).
    expect_eq "ech-config/no key log: the earlier key log did not grow" "$EU_KEYLINES" "$(wc -l <"$EU_DIR/keys.log")"
    expect_eq "ech-config/no key log: no ECH_SECRET in Veil's output" 0 "$(grep -c 'ECH_SECRET' "$VEIL_LOG")"
    stop_veil 10
fi

# --sni omit with a config: the outer hello names the public name, the inner one the real name
# (it is encrypted); --sni applies to connections without a config.
if [[ $EU_UP == 1 ]] && veil_or_fail ech-sni-omit "${EU_COMMON[@]}" "${EU_STATIC[@]}" --sni omit \
        --ech-config "origin.test=@$EU_DIR/list.bin"; then
    eu_get sni-omit "$EU_ECH"
    expect_match "ech-sni-omit/the server saw ECH and the real name inside" "SNI: origin\.test" "$EU_BODY"
    expect_summary "ech-sni-omit/summary ech" ech accepted
    expect_summary "ech-sni-omit/summary outer_sni (the public name)" outer_sni 'public\.test'
    expect_summary "ech-sni-omit/summary upstream_sni (the inner name)" upstream_sni 'origin\.test'
    log_mark
    got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
    summary_for "${got##* }" 10
    expect_summary "ech-sni-omit/no config: GREASE and no server_name" outer_sni '-'
    expect_summary "ech-sni-omit/no config: ech" ech grease
    stop_veil 10
fi

# --ech require: a name without a config is answered 502 and not connected.
if [[ $EU_UP == 1 ]] && veil_or_fail ech-require "${EU_COMMON[@]}" "${EU_STATIC[@]}" --ech require \
        --ech-config "origin.test=@$EU_DIR/list.bin"; then
    log_mark
    capture_start "$EU_DIR/require.pcap" "tcp port $EU_ECH" || fail "ech-require/capture start" "tshark"
    got=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://plain.test:$EU_ECH/" 2>&1)
    capture_stop
    expect_eq "ech-require/no config: 502" 502 "$(tail -n 1 <<<"$got" | cut -d' ' -f1)"
    wait_summary 5 'target="?plain\.test'
    expect_summary "ech-require/summary close" close ech-required
    expect_match "ech-require/reason" '--ech require: plain\.test has no usable ECH config' "$(field reason "$SUMMARY")"
    expect_summary "ech-require/not connected (upstream=-)" upstream '-?'
    expect_eq "ech-require/no packet to the target's port (capture)" 0 "$(tshark -r "$EU_DIR/require.pcap" 2>/dev/null | wc -l)"
    eu_get require-ok "$EU_ECH"
    expect_summary "ech-require/with a config: ech" ech accepted
    stop_veil 10
fi

# --ech off: no 0xfe0d at all.
if [[ $EU_UP == 1 ]] && veil_or_fail ech-off "${EU_COMMON[@]}" "${EU_STATIC[@]}" --ech off \
        --ech-config "origin.test=@$EU_DIR/list.bin"; then
    eu_get off "$EU_ECH"
    expect_eq "ech-off/curl gets the page" "0 200" "$EU_RC $EU_CODE"
    expect_match "ech-off/the server saw no ECH" "Encrypted ClientHello: no" "$EU_BODY"
    expect_summary "ech-off/summary ech" ech off
    expect_summary "ech-off/summary outer_sni (the real name: --sni real)" outer_sni 'origin\.test'
    expect_match "ech-off/record log: no 0xfe0d" 'sni=origin\.test .*ech=no' "$(eu_hello 'proxy->upstream')"
    stop_veil 10
fi

# --route tunnel: the relay resolves the target, so its ECH config comes through the relay too
# (RESOLVE with Veil-Want: https, answered by the relay's DoH resolver, unbound here); this
# Veil has no resolver of its own for the name (static map without it). The summary says
# route=tunnel ech=accepted; the origin saw ECH and the real name inside.
free_port EU_RELAY
EU_RSECRET=ech-tunnel-secret-$RANDOM$RANDOM
if [[ $EU_UP == 1 ]] && start_relay ech-tunnel "$EU_RELAY" --secret "$EU_RSECRET" --allow-private --allow-port "$EU_ECH" \
        "${EU_DOH_ARGS[@]}"; then
    EU_PIDS+=("$RL_PID")
    EU_RLOG=$RL_LOG
    if veil_or_fail ech-tunnel "${EU_COMMON[@]}" --resolver static --route tunnel --relay "127.0.0.1:$EU_RELAY" \
            --relay-fingerprint "$RL_FP" --relay-secret "$EU_RSECRET"; then
        eu_get tunnel "$EU_ECH"
        expect_eq "ech-tunnel/curl gets the page through the relay" "0 200" "$EU_RC $EU_CODE"
        expect_match "ech-tunnel/the server saw ECH" "Encrypted ClientHello: yes" "$EU_BODY"
        expect_match "ech-tunnel/... and the real name inside" "SNI: origin\.test" "$EU_BODY"
        expect_summary "ech-tunnel/summary route" route tunnel
        expect_summary "ech-tunnel/summary ech" ech accepted
        expect_summary "ech-tunnel/summary outer_sni" outer_sni 'public\.test'
        check "ech-tunnel/the relay answered a RESOLVE for origin.test:$EU_ECH" \
            grep -q "target=\"\?origin\.test:$EU_ECH\"\? .*close=ok reason=\"resolved to" "$EU_RLOG"
        eu_get tunnel-again "$EU_ECH"
        expect_summary "ech-tunnel/second connection: ech (config from this Veil's cache)" ech accepted
        expect_eq "ech-tunnel/one RESOLVE for two connections (cached)" 1 \
            "$(grep -c "target=\"\?origin\.test:$EU_ECH\"\? .*reason=\"resolved to" "$EU_RLOG")"
        stop_veil 10
    fi
    # The same with --relay-mux on: the RESOLVE is an HTTP/2 stream beside the CONNECT stream on
    # the one relay connection (not a TLS connection of its own).
    if veil_or_fail ech-tunnel-mux "${EU_COMMON[@]}" --resolver static --route tunnel --relay "127.0.0.1:$EU_RELAY" \
            --relay-fingerprint "$RL_FP" --relay-secret "$EU_RSECRET" --relay-mux on; then
        eu_get tunnel-mux "$EU_ECH"
        expect_eq "ech-tunnel-mux/curl gets the page through the multiplexed relay connection" "0 200" "$EU_RC $EU_CODE"
        expect_match "ech-tunnel-mux/the server saw ECH" "Encrypted ClientHello: yes" "$EU_BODY"
        expect_summary "ech-tunnel-mux/summary ech" ech accepted
        expect_summary "ech-tunnel-mux/summary relay_conn" relay_conn '[0-9]+'
        check "ech-tunnel-mux/the relay answered the RESOLVE on an HTTP/2 stream" \
            grep -qE "front_alpn=h2 h2_stream=[0-9]+ .*target=\"?origin\.test:$EU_ECH\"? .*close=ok reason=\"resolved to" "$EU_RLOG"
        stop_veil 10
    fi
    stop_pid "$RL_PID" 5
else
    [[ $EU_UP == 1 ]] && fail "ech-tunnel/relay starts" "$(tail -n 5 "$RL_LOG" 2>/dev/null | tr '\n' ' ')"
fi

# A late HTTPS record: a DoH server that answers A/AAAA at once and holds type 65 for the
# seconds in a file (tools/doh_slow.py, passing queries on to unbound over UDP). The connect
# timeout is 2 s. Under `auto` the addresses wait at most 0.5 s for the HTTPS answer: 0.2 s late
# is still ECH; 4 s late goes on with GREASE well before the connect timeout, ech_note saying
# why. Under `require` the connection waits up to the connect timeout, then 504 close=ech-required.
free_port EU_SLOW
echo 0 >"$EU_DIR/slow.delay"
python3 "$TOOLS/doh_slow.py" "$EU_SLOW" "$LEAF_CERT" "$LEAF_KEY" "$EU_UDP" "$EU_DIR/slow.delay" >"$EU_DIR/slow.log" 2>&1 &
bg_register $!
EU_PIDS+=($!)
wait_port "$EU_SLOW" 10 || { fail "harness/ech-upstream: slow DoH stub" "$(tail -n 3 "$EU_DIR/slow.log" | tr '\n' ' ')"; EU_UP=0; }
EU_SLOW_ARGS=(--resolver doh --doh-url "https://127.0.0.1:$EU_SLOW/dns-query" --resolver-ca "$TESTCA" --connect-timeout 2)
# eu_timed NAME PORT: eu_get, EU_MS = how long curl took (ms).
eu_timed() { local t0; t0=$(date +%s%N); eu_get "$@"; EU_MS=$((($(date +%s%N) - t0) / 1000000)); }
if [[ $EU_UP == 1 ]] && veil_or_fail ech-late-short "${EU_COMMON[@]}" "${EU_SLOW_ARGS[@]}"; then
    echo 0.2 >"$EU_DIR/slow.delay"
    eu_timed late-short "$EU_ECH"
    expect_eq "ech-late/0.2 s late: curl gets the page" "0 200" "$EU_RC $EU_CODE"
    expect_summary "ech-late/0.2 s late: still ECH (within the 0.5 s bound)" ech accepted
    stop_veil 10
fi
if [[ $EU_UP == 1 ]] && veil_or_fail ech-late-auto "${EU_COMMON[@]}" "${EU_SLOW_ARGS[@]}"; then
    echo 4 >"$EU_DIR/slow.delay"
    eu_timed late-auto "$EU_ECH"
    expect_eq "ech-late/auto, 4 s late: curl gets the page (not 504)" "0 200" "$EU_RC $EU_CODE"
    expect_match "ech-late/auto: the server saw no ECH" "Encrypted ClientHello: no" "$EU_BODY"
    expect_summary "ech-late/auto: summary ech" ech grease
    expect_summary "ech-late/auto: ech_note says the lookup was late" ech_note 'HTTPS record lookup late: no answer 0\.5s after the addresses'
    expect_summary "ech-late/auto: close" close ok
    if ((EU_MS < 1800)); then pass "ech-late/auto: answered in ${EU_MS} ms, before the 2 s connect timeout"; else
        fail "ech-late/auto: answered before the connect timeout" "took ${EU_MS} ms"; fi
    check "ech-late/auto: the DoH stub held an HTTPS query for origin.test" grep -q 'qtype=65 name=.*origin\.test delayed=4' "$EU_DIR/slow.log"
    stop_veil 10
fi
if [[ $EU_UP == 1 ]] && veil_or_fail ech-late-require "${EU_COMMON[@]}" "${EU_SLOW_ARGS[@]}" --ech require; then
    echo 4 >"$EU_DIR/slow.delay"
    eu_timed late-require "$EU_ECH"
    expect_eq "ech-late/require, 4 s late: 504" 504 "$EU_CODE"
    expect_summary "ech-late/require: close" close ech-required
    expect_match "ech-late/require: the reason names the ECH lookup and the timeout" \
        '--ech require: the ECH config lookup for origin\.test .*did not answer within 2s; not connected' "$(field reason "$SUMMARY")"
    expect_summary "ech-late/require: not connected (upstream=-)" upstream '-?'
    if ((EU_MS >= 1900)); then pass "ech-late/require: waited the connect timeout (${EU_MS} ms)"; else
        fail "ech-late/require: waited the connect timeout" "took ${EU_MS} ms"; fi
    stop_veil 10
fi

[[ -n "$EU_ROT_PID" ]] && stop_pid "$EU_ROT_PID" 5
for p in "${EU_PIDS[@]}"; do stop_pid "$p" 5; done
