# The HTTPS proxy listener (--listen-tls): curl speaks TLS to Veil itself
# (-x https://127.0.0.1:PORT --proxy-cacert <Veil CA>), the CONNECT request and the inner
# TLS travel inside it. Downloads and uploads of 16 MiB (h2 over TLS 1.3 from nginx, HTTP/1.1
# over TLS 1.2 from s_server), a pass-through host through the listener, one summary line per
# connection with front_tls/front_path; a capture of the client<->proxy link shows neither the
# target's name nor the inner ClientHello (the plain listener's capture is the control that
# shows the name); the key log decrypts the outer session to the CONNECT request. Bad input on
# the TLS port: plain HTTP gets a readable 400, garbage and an untrusting client are refused
# with a summary line, and the proxy keeps serving.

PCAPCHECK=(python3 "$TOOLS/pcapcheck.py")
FT_NAME=front-secret-target.test
make_leaf front-origin "DNS:$FT_NAME" || fail "harness/https-listener certificate" "make_leaf"
FT_PIDS=()
free_port FT_DAV; free_port FT_SS12; free_port FT_PT
FT_DAVROOT=$WORK/ft-dav
mkdir -p "$FT_DAVROOT/up"
cp "$DOCROOT/index.html" "$DOCROOT/big.bin" "$FT_DAVROOT/"
NGINX_SERVER_EXTRA="dav_methods PUT; client_max_body_size 64m; create_full_put_path on;" \
    start_nginx ftdav "$FT_DAVROOT" "$FT_DAV:TLSv1.3:h2" && FT_PIDS+=("$NGINX_PID") ||
    fail "harness/https-listener nginx" "did not start"
S_SERVER_CERT=$LEAF_CERT S_SERVER_KEY=$LEAF_KEY \
    start_s_server ft12 "$FT_SS12" "$DOCROOT" -tls1_2 && FT_PIDS+=("$S_SERVER_PID")
start_s_server ftpt "$FT_PT" "$DOCROOT" -tls1_3 && FT_PIDS+=("$S_SERVER_PID")

FT_KEYLOG=$WORK/ft-keylog.txt
rm -f "$FT_KEYLOG"
free_port FT_PORT
FT_ARGS=(--listen-tls "127.0.0.1:$FT_PORT" --resolver static --upstream-ca "$TESTCA" --keylog "$FT_KEYLOG"
    --resolve "localhost:$FT_DAV:127.0.0.1" --resolve "$FT_NAME:$FT_SS12:127.0.0.1"
    --resolve "localhost:$FT_PT:127.0.0.1" --passthrough "localhost:$FT_PT")

# hcurl CURL-ARGS...: curl through the HTTPS listener, trusting Veil's CA for the proxy and
# for the sites.
hcurl() {
    curl -sS --max-time "${CURL_MAX_TIME:-60}" -x "https://127.0.0.1:$FT_PORT" --proxy-cacert "$VEIL_CA" \
        --cacert "$VEIL_CA" "$@"
}

# ft_summary NAME: checks of the summary line in SUMMARY common to every listener case.
ft_summary() {
    expect_summary "$1/summary front_tls" front_tls 'TLSv1\.3'
    expect_summary "$1/summary front_cipher" front_cipher 'TLS_[A-Z0-9_]+'
    expect_summary "$1/summary front_path" front_path "${FT_PATH_RE:-userspace}"
    expect_summary "$1/summary close" close ok
}

if veil_or_fail https-listener "${FT_ARGS[@]}" && veil_ca; then
    check "https-listener/start-up line names the listener" grep -q "HTTPS proxy listener on 127.0.0.1:$FT_PORT" "$VEIL_LOG"

    # 16 MiB down, h2 over TLS 1.3 (nginx).
    log_mark
    got=$(hcurl -o "$WORK/ft-down.bin" -w '%{http_code} %{http_version} %{local_port}' "https://localhost:$FT_DAV/big.bin" 2>&1)
    expect_eq "https-listener/h2 download status" "200 2" "${got% *}"
    expect_eq "https-listener/h2 download sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$WORK/ft-down.bin")"
    rm -f "$WORK/ft-down.bin"
    summary_for "${got##* }"
    ft_summary https-listener/h2-down
    expect_summary "https-listener/h2-down/summary mode" mode intercept
    expect_summary "https-listener/h2-down/summary target" target "localhost:$FT_DAV"
    expect_summary "https-listener/h2-down/summary alpn" alpn h2
    # Without kTLS the outer session moves onto Veil's own record layer after 64 KiB.
    [[ "${FT_PATH_RE:-userspace}" == userspace ]] &&
        expect_summary "https-listener/h2-down/summary front_records" front_records veil
    expect_eq "https-listener/h2-down/one summary line for the connection" 1 \
        "$(log_new | grep -cE "summary conn=.*client=\"?127\.0\.0\.1:${got##* }[\" ]")"

    # 16 MiB up (WebDAV PUT).
    log_mark
    got=$(hcurl -T "$DOCROOT/big.bin" -o /dev/null -w '%{http_code} %{http_version} %{local_port}' \
        "https://localhost:$FT_DAV/up/ft.bin" 2>&1)
    expect_match "https-listener/h2 upload status" "^(201|204) 2\$" "${got% *}"
    expect_eq "https-listener/h2 upload sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$FT_DAVROOT/up/ft.bin")"
    summary_for "${got##* }"
    ft_summary https-listener/h2-up
    [[ "${FT_PATH_RE:-userspace}" == userspace ]] &&
        expect_summary "https-listener/h2-up/summary front_records" front_records veil

    # HTTP/1.1 over TLS 1.2 (s_server), while capturing the client<->proxy link.
    FT_PCAP=$WORK/ft-front.pcap
    log_mark
    if capture_start "$FT_PCAP" "tcp port $FT_PORT"; then
        got=$(hcurl -o "$WORK/ft-12.bin" -w '%{http_code} %{local_port}' "https://$FT_NAME:$FT_SS12/big.bin" 2>&1)
        capture_stop
        expect_eq "https-listener/TLS1.2 origin status" 200 "${got%% *}"
        expect_eq "https-listener/TLS1.2 origin sha256" "$BIG_SHA" "$(sha_of "$WORK/ft-12.bin")"
        rm -f "$WORK/ft-12.bin"
        summary_for "${got##* }"
        ft_summary https-listener/tls12
        expect_summary "https-listener/tls12/summary tls (upstream)" tls 'TLSv1\.2'
        out=$("${PCAPCHECK[@]}" grep "$FT_PCAP" "$FT_NAME"); rc=$?
        if [[ $rc == 1 ]]; then pass "https-listener/capture: target name nowhere on the client<->proxy link"; else
            fail "https-listener/capture: target name nowhere on the client<->proxy link" "pcapcheck grep exit $rc: $(tr '\n' ' ' <<<"$out")"; fi
        out=$("${PCAPCHECK[@]}" grep "$FT_PCAP" "CONNECT "); rc=$?
        if [[ $rc == 1 ]]; then pass "https-listener/capture: no CONNECT request in clear"; else
            fail "https-listener/capture: no CONNECT request in clear" "pcapcheck grep exit $rc"; fi
        # The only ClientHello on the link is curl's to the proxy (SNI-less: an IP address).
        expect_eq "https-listener/capture: one ClientHello, the outer one, without SNI" "sni=- ext0=no" \
            "$("${PCAPCHECK[@]}" hellos "$FT_PCAP" --port "$FT_PORT" 2>&1 | sed 's/^stream=[0-9]* //')"
        # The key log has the outer session's secrets: tshark decrypts the CONNECT request.
        connect=$(tshark -r "$FT_PCAP" -o "tls.keylog_file:$FT_KEYLOG" -d "tcp.port==$FT_PORT,tls" \
            -Y 'http.request.method == "CONNECT"' -T fields -e http.request.uri 2>/dev/null | head -n 1)
        expect_eq "https-listener/key log decrypts the outer session to the CONNECT request" "$FT_NAME:$FT_SS12" "$connect"
    else
        fail "https-listener/capture" "tshark did not start"
    fi

    # A pass-through host through the listener: the client's own TLS reaches the origin.
    log_mark
    got=$(curl -sS --max-time 30 -x "https://127.0.0.1:$FT_PORT" --proxy-cacert "$VEIL_CA" --cacert "$TESTCA" \
        -o "$WORK/ft-pt.bin" -w '%{http_code} %{local_port}' "https://localhost:$FT_PT/big.bin" 2>&1)
    expect_eq "https-listener/pass-through host status (origin CA)" 200 "${got%% *}"
    expect_eq "https-listener/pass-through sha256" "$BIG_SHA" "$(sha_of "$WORK/ft-pt.bin")"
    rm -f "$WORK/ft-pt.bin"
    summary_for "${got##* }"
    ft_summary https-listener/passthrough
    expect_summary "https-listener/passthrough/summary mode" mode passthrough
    expect_summary "https-listener/passthrough/summary path" path splice

    # Bad input on the TLS port.
    log_mark
    got=$(curl -sS --max-time 10 -x "http://127.0.0.1:$FT_PORT" -o /dev/null -w '%{http_connect}' \
        "https://localhost:$FT_DAV/" 2>"$WORK/ft-plain.err")
    expect_eq "https-listener/plain HTTP to the TLS port gets 400" 400 "$got"
    wait_summary 5 'close=not-tls'
    expect_summary "https-listener/plain HTTP/summary reason" reason ".*plain HTTP"
    log_mark
    head -c 300 /dev/urandom | timeout 5 socat -u - "TCP:127.0.0.1:$FT_PORT" 2>/dev/null
    wait_summary 5
    expect_summary "https-listener/garbage/summary close" close 'not-tls|handshake-failed'
    log_mark
    rc=$(curl -sS --max-time 10 -x "https://127.0.0.1:$FT_PORT" --cacert "$VEIL_CA" -o /dev/null \
        "https://localhost:$FT_DAV/" 2>/dev/null; echo $?)
    expect_eq "https-listener/client without --proxy-cacert refuses the proxy (curl 60)" 60 "$rc"
    wait_summary 5
    expect_summary "https-listener/untrusting client/summary close" close handshake-failed
    expect_summary "https-listener/untrusting client/summary reason" reason '.*unknown ca.*'
    got=$(hcurl -o /dev/null -w '%{http_code}' "https://localhost:$FT_DAV/index.html" 2>&1)
    expect_eq "https-listener/still serving after bad input" 200 "$got"
    # The plain listener still works beside it.
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://localhost:$FT_DAV/index.html" 2>&1)
    expect_eq "https-listener/plain listener serves beside it" 200 "$got"
    stop_veil 10
    expect_eq "https-listener/clean exit" 0 "$STOP_RC"
fi

# Control: through the plain listener the CONNECT request, and with it the name, is on the wire.
if veil_or_fail https-listener-control "${FT_ARGS[@]}" && veil_ca; then
    FT_PCAP=$WORK/ft-plain.pcap
    if capture_start "$FT_PCAP" "tcp port $VEIL_PORT"; then
        vcurl -o /dev/null "https://$FT_NAME:$FT_SS12/index.html" 2>/dev/null
        capture_stop
        check "https-listener/control: the plain listener's capture shows the name" \
            "${PCAPCHECK[@]}" grep "$FT_PCAP" "$FT_NAME"
    fi
    stop_veil 10
fi

for p in "${FT_PIDS[@]}"; do stop_pid "$p" 5; done
