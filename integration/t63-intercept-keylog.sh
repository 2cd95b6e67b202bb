# Intercept, key log: --keylog FILE (created 0600) gets NSS key-log lines for both legs.
# tshark captures both legs while curl fetches a distinctively named path; with the key
# log tshark decrypts the request on the upstream leg and on the client leg (inside the
# CONNECT tunnel), without it the path is nowhere in the capture. TLS 1.3 + h2 (nginx)
# and TLS 1.2 + HTTP/1.1 (nginx). SSLKEYLOGFILE does the same as --keylog.

KL_PROBE=keylog-probe-$RANDOM$RANDOM.txt
echo "keylog probe" >"$DOCROOT/$KL_PROBE"
PCAPCHECK=(python3 "$TOOLS/pcapcheck.py")

# kl_paths PCAP PORT DISSECT_AS [KEYLOG]: request paths tshark sees on tcp port PORT
# (decoded as DISSECT_AS: tls upstream, http on the proxy port so the CONNECT tunnel is
# followed), decrypting with KEYLOG if given. HTTP/1.x and HTTP/2 both.
kl_paths() {
    local pcap=$1 port=$2 as=$3 keys=${4:-} opts=()
    [[ -n "$keys" ]] && opts=(-o "tls.keylog_file:$keys")
    tshark -r "$pcap" -d "tcp.port==$port,$as" "${opts[@]}" \
        -Y "tcp.port==$port && (http.request || http2.type == 1)" \
        -T fields -e http.request.uri -e http2.headers.path 2>/dev/null | tr '\t' '\n' | grep '^/' | sort -u
}

# Harness: curl's own SSLKEYLOGFILE decrypts a direct capture (the tshark side works).
kl_direct() { # PORT
    local pcap=$WORK/kl-direct-$1.pcap keys=$WORK/kl-direct-$1.keys
    rm -f "$keys"
    capture_start "$pcap" "tcp port $1" || return 1
    SSLKEYLOGFILE=$keys curl -sS --max-time 20 --cacert "$TESTCA" -o /dev/null "https://localhost:$1/$KL_PROBE"
    capture_stop
    kl_paths "$pcap" "$1" tls "$keys" | grep -qx "/$KL_PROBE" && ! kl_paths "$pcap" "$1" tls | grep -q "$KL_PROBE"
}
check "harness/tshark decrypts TLS1.3 h2 with a key log (and not without)" kl_direct "$NGX13"
check "harness/tshark decrypts TLS1.2 h1 with a key log (and not without)" kl_direct "$NGX12"

KL_RESOLVE=(--resolve "localhost:$NGX13:127.0.0.1" --resolve "localhost:$NGX12:127.0.0.1")
KL_LINE_RE='^(CLIENT_RANDOM|CLIENT_EARLY_TRAFFIC_SECRET|CLIENT_HANDSHAKE_TRAFFIC_SECRET|SERVER_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0|SERVER_TRAFFIC_SECRET_0|EXPORTER_SECRET|EARLY_EXPORTER_SECRET) [0-9a-f]{64} [0-9a-f]+$'

# kl_case NAME PORT HTTP_VERSION KEYLOG: fetch the probe while capturing both legs, decrypt.
kl_case() {
    local name=$1 port=$2 ver=$3 keys=$4 pcap=$WORK/kl-$1-$2.pcap got
    name=keylog/$name
    log_mark
    capture_start "$pcap" "tcp port $port or tcp port $VEIL_PORT" || { fail "$name/capture" "tshark"; return; }
    got=$(vcurl -o /dev/null -w '%{http_code} %{http_version}' "https://localhost:$port/$KL_PROBE" 2>&1)
    capture_stop
    expect_eq "$name/curl status" "200 $ver" "$got"
    expect_eq "$name/upstream leg decrypts with the key log" "/$KL_PROBE" "$(kl_paths "$pcap" "$port" tls "$keys")"
    expect_eq "$name/client leg decrypts with the key log" "/$KL_PROBE" "$(kl_paths "$pcap" "$VEIL_PORT" http "$keys")"
    expect_eq "$name/upstream leg without the key log: no request seen" "" "$(kl_paths "$pcap" "$port" tls)"
    expect_eq "$name/client leg without the key log: no request seen" "" "$(kl_paths "$pcap" "$VEIL_PORT" http)"
    local out rc
    out=$("${PCAPCHECK[@]}" grep "$pcap" "$KL_PROBE"); rc=$?
    if [[ $rc == 1 ]]; then pass "$name/path nowhere in the capture in clear"; else
        fail "$name/path nowhere in the capture in clear" "pcapcheck grep exit $rc: $(tr '\n' ' ' <<<"$out")"; fi
}

KL_FILE=$WORK/veil-keylog.txt
rm -f "$KL_FILE"
if veil_or_fail keylog --resolver static --upstream-ca "$TESTCA" --keylog "$KL_FILE" "${KL_RESOLVE[@]}" && veil_ca; then
    kl_case "TLS1.3 h2" "$NGX13" 2 "$KL_FILE"
    expect_eq "keylog/file mode 0600" 600 "$(stat -c %a "$KL_FILE" 2>&1)"
    kl_case "TLS1.2 h1" "$NGX12" 1.1 "$KL_FILE"
    check "keylog/every line is an NSS key-log line" bash -c "[[ -s '$KL_FILE' ]] && ! grep -vE '$KL_LINE_RE|^#|^\$' '$KL_FILE'"
    # Both legs: two connections' worth of TLS1.3 client secrets (client leg, upstream leg) per fetch.
    n=$(grep -c '^CLIENT_TRAFFIC_SECRET_0 ' "$KL_FILE")
    if ((n >= 2)); then pass "keylog/TLS1.3 secrets of both legs ($n CLIENT_TRAFFIC_SECRET_0)"; else
        fail "keylog/TLS1.3 secrets of both legs" "$n CLIENT_TRAFFIC_SECRET_0 lines"; fi
    stop_veil 10
fi

# SSLKEYLOGFILE in veil's environment does the same (curl here does not see it).
KL_ENV_FILE=$WORK/veil-sslkeylogfile.txt
rm -f "$KL_ENV_FILE"
if SSLKEYLOGFILE=$KL_ENV_FILE veil_or_fail keylog-env --resolver static --upstream-ca "$TESTCA" "${KL_RESOLVE[@]}" && veil_ca; then
    kl_case "SSLKEYLOGFILE TLS1.3 h2" "$NGX13" 2 "$KL_ENV_FILE"
    expect_eq "keylog/SSLKEYLOGFILE file mode 0600" 600 "$(stat -c %a "$KL_ENV_FILE" 2>&1)"
    stop_veil 10
fi

rm -f "$DOCROOT/$KL_PROBE"
