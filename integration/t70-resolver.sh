# Out-of-band resolution: Debian's unbound serves DoH (https-port, HTTP/2) and DoT (tls-port)
# with local-data for the test names, on a certificate from the test CA (IP SAN 127.0.0.1).
# `veil resolve` answers through DoH and DoT, follows a CNAME, shows the second lookup coming
# from the cache, says NXDOMAIN; a pinned name that the certificate lacks is refused. Through the
# proxy (--resolver doh): curl reaches an origin known only to unbound, with no packet to port 53
# on any interface. A DoH server that is down, silent, or answering garbage gives a 502 with the
# reason, quickly; --resolver doh,dot falls back to DoT when DoH cannot answer. Every failure
# (DoH, DoT, relay, static, system, no such name) says how to fix it, naming the flags.

RS_NAME=origin.test
make_leaf resolver "DNS:dns.test,IP:127.0.0.1" || fail "harness/resolver certificate" "make_leaf"
RS_CERT=$LEAF_CERT RS_KEY=$LEAF_KEY
make_leaf rs-origin "DNS:$RS_NAME,DNS:alias.test" || fail "harness/resolver origin certificate" "make_leaf"
RS_PIDS=()
free_port RS_ORIGIN; free_port RS_DOH; free_port RS_DOT; free_port RS_GARBAGE; free_port RS_DOWN
S_SERVER_CERT=$LEAF_CERT S_SERVER_KEY=$LEAF_KEY start_s_server rs-origin "$RS_ORIGIN" "$DOCROOT" -tls1_3 &&
    RS_PIDS+=("$S_SERVER_PID")
# A TLS server with the resolver's certificate that answers a DoH POST with anything but DNS.
python3 "$TOOLS/doh_garbage.py" "$RS_GARBAGE" "$RS_CERT" "$RS_KEY" >"$WORK/doh-garbage.log" 2>&1 &
bg_register $!
RS_PIDS+=($!)
wait_port "$RS_GARBAGE" 10 || fail "harness/garbage DoH server" "not listening"

UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)
RS_DIR=$WORK/unbound
mkdir -p "$RS_DIR"
cat >"$RS_DIR/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$RS_DOH
    interface: 127.0.0.1@$RS_DOT
    https-port: $RS_DOH
    tls-port: $RS_DOT
    tls-service-key: $RS_KEY
    tls-service-pem: $RS_CERT
    port: $RS_DOT
    do-daemonize: no
    username: ""
    chroot: ""
    directory: $RS_DIR
    pidfile: $RS_DIR/unbound.pid
    use-syslog: no
    logfile: $RS_DIR/unbound.log
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "test." static
    local-data: "$RS_NAME. 300 IN A 127.0.0.1"
    local-data: "alias.test. 120 IN CNAME $RS_NAME."
EOF
RS_UP=0
if [[ -x "$UNBOUND" ]]; then
    "$UNBOUND" -c "$RS_DIR/unbound.conf" >"$RS_DIR/stdout.log" 2>&1 &
    bg_register $!
    RS_PIDS+=($!)
    wait_port "$RS_DOH" 10 && wait_port "$RS_DOT" 10 && RS_UP=1
fi
if [[ $RS_UP == 1 ]]; then pass "harness/unbound serves DoH :$RS_DOH and DoT :$RS_DOT"; else
    fail "harness/unbound" "not listening ($UNBOUND; $(tail -n 3 "$RS_DIR/unbound.log" "$RS_DIR/stdout.log" 2>/dev/null | tr '\n' ' '))"; fi

RS_DOH_URL=https://127.0.0.1:$RS_DOH/dns-query
RS_ARGS=(--resolver-ca "$TESTCA" --doh-url "$RS_DOH_URL" --dot-server "127.0.0.1:$RS_DOT")

# vresolve ARGS...: veil resolve output (RS_OUT) and exit status (RS_RC).
vresolve() {
    RS_OUT=$(timeout 30 "$VEIL_BIN" resolve "${RS_ARGS[@]}" "$@" 2>&1); RS_RC=$?
}

vresolve --resolver doh "$RS_NAME" "$RS_NAME" alias.test nope.test
expect_eq "resolver/veil resolve exits 2 when a name fails" 2 "$RS_RC"
expect_match "resolver/doh: answer from unbound" "^$RS_NAME: 127\\.0\\.0\\.1 from doh $RS_DOH_URL in " "$(sed -n 2p <<<"$RS_OUT")"
expect_match "resolver/doh: second lookup from the cache" "^$RS_NAME: 127\\.0\\.0\\.1 from doh .*\\(cache\\)" "$(sed -n 3p <<<"$RS_OUT")"
expect_match "resolver/doh: CNAME followed" "^alias.test: 127\\.0\\.0\\.1 from doh .* via CNAME $RS_NAME" "$(sed -n 4p <<<"$RS_OUT")"
expect_match "resolver/doh: NXDOMAIN" "^nope.test: FAILED: .*no such name \\(NXDOMAIN" "$(sed -n 5p <<<"$RS_OUT")"

vresolve --resolver dot "$RS_NAME"
expect_match "resolver/dot: answer from unbound" "^$RS_NAME: 127\\.0\\.0\\.1 from dot 127\\.0\\.0\\.1:$RS_DOT in " "$(sed -n 2p <<<"$RS_OUT")"
RS_ARGS=(--resolver-ca "$TESTCA" --dot-server "127.0.0.1:$RS_DOT#other.test")
vresolve --resolver dot "$RS_NAME"
expect_match "resolver/dot: a certificate without the pinned name is refused" "FAILED: .*hostname mismatch" "$RS_OUT"
RS_ARGS=(--dot-server "127.0.0.1:$RS_DOT")
vresolve --resolver dot "$RS_NAME"
expect_match "resolver/dot: an untrusted certificate is refused" "FAILED: .*certificate" "$RS_OUT"
RS_ARGS=(--resolver-ca "$TESTCA" --doh-url "https://127.0.0.1:$RS_DOWN/dns-query" --dot-server "127.0.0.1:$RS_DOT")
vresolve --resolver doh,dot "$RS_NAME"
expect_match "resolver/doh,dot: DoH down, DoT answers" "^$RS_NAME: 127\\.0\\.0\\.1 from dot " "$(sed -n 2p <<<"$RS_OUT")"
RS_ARGS=(--resolver-ca "$TESTCA" --doh-url "$RS_DOH_URL" --dot-server "127.0.0.1:$RS_DOT")

# rs_502 NAME CASE-ARGS...: veil with a broken DoH server: curl gets 502 quickly, with the reason.
rs_502() {
    local name=$1 t0 got took; shift
    if veil_or_fail "resolver-$name" --resolver doh --resolver-ca "$TESTCA" --resolver-timeout 2 "$@" && veil_ca; then
        log_mark
        t0=$(date +%s.%N)
        got=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://$RS_NAME:$RS_ORIGIN/index.html" 2>/dev/null)
        took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        expect_eq "resolver/$name: 502" 502 "${got%% *}"
        check "resolver/$name: answered in ${took}s (< 8 s)" awk -v t="$took" 'BEGIN { exit !(t < 8) }'
        summary_for "${got##* }"
        expect_summary "resolver/$name/summary close" close resolve-failed
        expect_summary "resolver/$name/summary reason" reason "$RS_WHY"
        if ((${#RS_FIX[@]} > 0)); then
            rs_advice "$name: the 502 body says how to fix it" "$(rs_body "$RS_NAME:$RS_ORIGIN")" "${RS_FIX[@]}"
        fi
        stop_veil 10
    fi
}
# rs_body TARGET: the body of the answer to a raw CONNECT (the error line curl does not show).
rs_body() {
    timeout 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$VEIL_PORT; printf 'CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' '$1' '$1' >&3; cat <&3" 2>/dev/null | tail -n 1
}
# rs_advice NAME TEXT FLAG...: TEXT has "; to fix: " and, after it, every FLAG.
rs_advice() {
    local name=$1 text=$2 advice missing="" f; shift 2
    advice=${text#*; to fix: }
    [[ "$advice" != "$text" ]] || { fail "resolver/$name" "no '; to fix: ' in: $text"; return; }
    for f in "$@"; do [[ "$advice" == *"$f"* ]] || missing+=" '$f'"; done
    if [[ -z "$missing" ]]; then pass "resolver/$name"; else fail "resolver/$name" "missing$missing in: $text"; fi
}
RS_WHY=".*connect 127\\.0\\.0\\.1:$RS_DOWN: Connection refused.*"
RS_FIX=(--doh-url "--resolver dot" "--resolve $RS_NAME:$RS_ORIGIN:ADDR" "--resolver system")
rs_502 "doh down" --doh-url "https://127.0.0.1:$RS_DOWN/dns-query"
RS_FIX=(--dot-server "--resolver doh" "--resolve $RS_NAME:$RS_ORIGIN:ADDR" "--resolver system")
rs_502 "dot down" --resolver dot --dot-server "127.0.0.1:$RS_DOWN"
RS_FIX=()
RS_WHY=".*answer is not a DNS message.*"
rs_502 "doh garbage" --doh-url "https://127.0.0.1:$RS_GARBAGE/dns-query"
if start_pc_listener blackhole RS_HOLE; then
    RS_PIDS+=("$PC_LISTENER_PID")
    RS_WHY=".*timed out.*"
    rs_502 "doh silent" --doh-url "https://127.0.0.1:$RS_HOLE/dns-query"
else
    fail "harness/blackhole listener" "did not start"
fi

# Every resolver's failure says how to fix it, naming the flags (veil resolve prints the same
# reason as the 502 body and the summary line).
RS_ARGS=(--resolver-ca "$TESTCA" --doh-url "$RS_DOH_URL" --dot-server "127.0.0.1:$RS_DOT")
vresolve --resolver static --port "$RS_ORIGIN" "$RS_NAME"
rs_advice "static: how to fix" "$RS_OUT" "--resolve $RS_NAME:$RS_ORIGIN:ADDR" "--resolver doh"
vresolve --resolver doh nope.test
rs_advice "no such name: how to fix" "$RS_OUT" "--resolve nope.test:443:ADDR"
RS_ARGS=(--doh-url "https://127.0.0.1:$RS_DOH/dns-query")
vresolve --resolver doh "$RS_NAME"
rs_advice "doh untrusted certificate: how to fix" "$RS_OUT" "--resolver-ca FILE" --doh-url "--resolver dot"
echo "relay-secret-for-the-advice-test-0123456789" >"$WORK/rs-relay-secret"; chmod 600 "$WORK/rs-relay-secret"
RS_ARGS=(--relay "127.0.0.1:$RS_DOWN" --relay-fingerprint "$(printf '%064d' 0)" --relay-secret-file "$WORK/rs-relay-secret")
vresolve --resolver relay "$RS_NAME"
rs_advice "relay down: how to fix" "$RS_OUT" "--relay IP:PORT" --relay-fingerprint "--resolver relay,doh" "--resolve $RS_NAME:443:ADDR"
# The system resolver in a network namespace of its own (nothing but a down lo): getaddrinfo
# fails without a packet leaving.
RS_OUT=$(timeout 30 unshare -n "$VEIL_BIN" resolve --resolver system "$RS_NAME" 2>&1)
rs_advice "system: how to fix" "$RS_OUT" "--resolve $RS_NAME:443:ADDR" "--resolver doh" "/etc/resolv.conf"
RS_ARGS=(--resolver-ca "$TESTCA" --doh-url "$RS_DOH_URL" --dot-server "127.0.0.1:$RS_DOT")

# Through the proxy: the name is known only to unbound; no plain DNS anywhere.
if veil_or_fail resolver-proxy --resolver doh "${RS_ARGS[@]}" --upstream-ca "$TESTCA" && veil_ca; then
    RS_PCAP=$WORK/rs-dns.pcap
    tshark -i any -f "port 53" -w "$RS_PCAP" >"$RS_PCAP.log" 2>&1 &
    RS_TSHARK=$!
    bg_register "$RS_TSHARK"
    wait_log "$RS_PCAP.log" "Capturing on" 10 && sleep 0.5
    log_mark
    got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://$RS_NAME:$RS_ORIGIN/index.html" 2>&1)
    expect_eq "resolver/proxy: curl through veil reaches a name only unbound knows" 200 "${got%% *}"
    summary_for "${got##* }"
    expect_summary "resolver/proxy/summary close" close ok
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://alias.test:$RS_ORIGIN/index.html" 2>&1)
    expect_eq "resolver/proxy: a CNAME target through veil" 200 "$got"
    sleep 0.5
    stop_pid "$RS_TSHARK" 5 INT
    n=$(tshark -r "$RS_PCAP" 2>/dev/null | wc -l)
    if grep -q "Capturing on" "$RS_PCAP.log"; then
        expect_eq "resolver/proxy: no packet to or from port 53 on any interface" 0 "$n"
    else
        fail "resolver/proxy: port 53 capture" "tshark -i any did not start: $(tail -n 2 "$RS_PCAP.log")"
    fi
    stop_veil 10
fi

for p in "${RS_PIDS[@]}"; do stop_pid "$p" 5; done
