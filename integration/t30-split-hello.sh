# --split-hello: the ClientHello goes to the origin as two TLS records, each in its
# own TCP segment, split inside the server_name; a capture on lo proves it. The
# same check on a direct (unsplit) connection must fail: that keeps the check honest.

# capture_to PORT PCAP CMD...: run CMD while tshark captures tcp port PORT on lo.
capture_to() {
    local port=$1 pcap=$2; shift 2
    local tlog=$pcap.log pid
    tshark -i lo -f "tcp port $port" -w "$pcap" >"$tlog" 2>&1 &
    pid=$!
    bg_register "$pid"
    if ! wait_log "$tlog" "Capturing on" 10; then
        echo "tshark did not start capturing: $(tail -n 3 "$tlog")"
        stop_pid "$pid" 2
        return 1
    fi
    sleep 0.5
    "$@"
    local rc=$?
    sleep 0.5
    stop_pid "$pid" 5 INT
    return $rc
}

# segments_to PORT PCAP: data segments towards PORT as "frame stream len payload".
segments_to() {
    tshark -r "$2" -Y "tcp.dstport==$1 && tcp.len>0" -T fields \
        -e frame.number -e tcp.stream -e tcp.len -e tcp.payload 2>/dev/null
}

SPLIT_NAME=origin.test

# Negative control: curl straight to the origin sends an unsplit ClientHello.
if capture_to "$NGX13" "$WORK/direct.pcap" \
    curl -sS --max-time 20 -o /dev/null --cacert "$TESTCA" --resolve "$SPLIT_NAME:$NGX13:127.0.0.1" \
    "https://$SPLIT_NAME:$NGX13/index.html"; then
    segments_to "$NGX13" "$WORK/direct.pcap" >"$WORK/direct.fields"
    check "harness/splitcheck flags an unsplit ClientHello" \
        bash -c "! python3 '$TOOLS/splitcheck.py' '$WORK/direct.fields' $SPLIT_NAME"
else
    fail "harness/capture on lo" "tshark capture or direct curl failed"
fi

if veil_or_fail split-hello --mode passthrough --resolver static --split-hello \
    --resolve "$SPLIT_NAME:$NGX13:127.0.0.1" --resolve "localhost:$NGX12:127.0.0.1"; then
    log_mark
    split_get() {
        SPLIT_GOT=$(pcurl -o "$WORK/split-index.html" -w '%{http_code} %{http_version} %{local_port}' \
            "https://$SPLIT_NAME:$NGX13/index.html" 2>&1)
    }
    capture_to "$NGX13" "$WORK/split.pcap" split_get
    expect_eq "split-hello/curl status (h2)" "200 2" "${SPLIT_GOT% *}"
    check "split-hello/body" cmp -s "$WORK/split-index.html" "$DOCROOT/index.html"
    segments_to "$NGX13" "$WORK/split.pcap" >"$WORK/split.fields"
    check "split-hello/two records in two segments, name split" \
        python3 "$TOOLS/splitcheck.py" "$WORK/split.fields" "$SPLIT_NAME"
    got=$(tshark -r "$WORK/split.pcap" -Y "tcp.dstport==$NGX13 && tls.handshake.type==1" -T fields \
        -e tls.handshake.extensions_server_name 2>/dev/null | head -n 1)
    expect_eq "split-hello/tshark reassembles ClientHello sni" "$SPLIT_NAME" "$got"
    summary_for "${SPLIT_GOT##* }"
    expect_summary "split-hello/summary sni" sni "$SPLIT_NAME"
    expect_summary "split-hello/summary close" close ok

    got=$(pcurl -o "$WORK/split-big.bin" -w '%{http_code}' "https://$SPLIT_NAME:$NGX13/big.bin" 2>&1)
    expect_eq "split-hello/16 MiB download status" 200 "$got"
    expect_eq "split-hello/16 MiB sha256" "$BIG_SHA" "$(sha_of "$WORK/split-big.bin")"
    rm -f "$WORK/split-big.bin"
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "split-hello/TLS1.2 origin" 200 "$got"
    stop_veil 10
fi
