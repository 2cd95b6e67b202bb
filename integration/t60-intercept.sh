# Intercept: veil terminates TLS on both legs with its own CA (VEIL_HOME, fresh per run).
# `veil ca path|export` and the CA files; real curl through veil (trusting only Veil's CA)
# to nginx and openssl s_server: HTTP/1.1 and HTTP/2, TLS 1.2-only and TLS 1.3-only
# origins, each AES-GCM / ChaCha20 cipher forced at the origin, 16 MiB down and up
# (nginx WebDAV PUT) byte for byte; the origin's CA alone no longer works (proof of
# interception) and the leaf veil shows is minted by its CA; upstream session
# resumption confirmed by nginx ($ssl_session_reused); the record log's four
# directions; --passthrough hosts and --mode passthrough keep the client's own TLS.

IC_CIPHER_RE='TLS_[A-Z0-9_]+'

# ic_download NAME PORT HTTP_VERSION TLS_VERSION ALPN_RE [CIPHER_RE]: 16 MiB through the
# running (intercepting) veil, checked against the origin's file and the summary.
ic_download() {
    local name=$1 port=$2 ver=$3 tls=$4 alpn=$5 cipher=${6:-$IC_CIPHER_RE} out=$WORK/ic-$2.bin got
    log_mark
    got=$(vcurl -o "$out" -w '%{http_connect} %{http_code} %{http_version} %{local_port}' "https://localhost:$port/big.bin" 2>&1)
    expect_eq "$name/curl status (Veil CA)" "200 200 $ver" "${got% *}"
    expect_eq "$name/sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$out")"
    rm -f "$out"
    summary_for "${got##* }"
    expect_summary "$name/summary mode" mode intercept
    expect_summary "$name/summary target" target "localhost:$port"
    expect_summary "$name/summary sni" sni localhost
    expect_summary "$name/summary upstream_sni" upstream_sni localhost
    expect_summary "$name/summary tls (upstream)" tls "$tls"
    expect_summary "$name/summary cipher (upstream)" cipher "$cipher"
    expect_summary "$name/summary alpn" alpn "$alpn"
    expect_summary "$name/summary client_tls" client_tls 'TLSv1\.[23]'
    expect_summary "$name/summary client_cipher" client_cipher "$IC_CIPHER_RE"
    expect_summary "$name/summary path" path "$IC_PATH_RE"
    expect_summary "$name/summary records (Veil's own record layer in userspace)" records "$IC_RECORDS_RE"
    expect_summary "$name/summary close" close ok
    local down
    down=$(field bytes_down "$SUMMARY")
    if [[ "$down" =~ ^[0-9]+$ ]] && ((down >= BIG_SIZE)); then
        pass "$name/summary bytes_down >= 16 MiB"
    else
        fail "$name/summary bytes_down >= 16 MiB" "bytes_down='$down'"
    fi
}

# ic_still_works NAME: a small download through the running intercepting veil.
ic_still_works() {
    local got
    log_mark
    got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "$1" 200 "${got%% *}"
    summary_for "${got##* }" 5
}

# ic_curl_rc CURL-ARGS...: curl's exit status (output discarded), e.g. 60 for an untrusted certificate.
ic_curl_rc() {
    curl -sS --max-time 20 -o /dev/null "$@" 2>"$WORK/ic-curl.err"
    echo $?
}

# ------------------------------------------------------------------- the CA

IC_HOME=$WORK/ca-home
rm -rf "$IC_HOME"
got=$(VEIL_HOME=$IC_HOME timeout 20 "$VEIL_BIN" ca path 2>"$WORK/ca-path.err"); rc=$?
expect_eq "ca/'veil ca path' exits 0" 0 "$rc"
expect_eq "ca/'veil ca path' prints \$VEIL_HOME/ca.pem" "$IC_HOME/ca.pem" "$(tail -n 1 <<<"$got")"
check "ca/ca.pem is a CA certificate (CA:TRUE)" \
    bash -c "openssl x509 -in '$IC_HOME/ca.pem' -noout -ext basicConstraints | grep -q 'CA:TRUE'"
expect_eq "ca/ca-key.pem mode 0600" 600 "$(stat -c %a "$IC_HOME/ca-key.pem" 2>&1)"
expect_eq "ca/VEIL_HOME dir mode 0700" 700 "$(stat -c %a "$IC_HOME" 2>&1)"
expect_eq "ca/ca-key.pem is the key of ca.pem" \
    "$(openssl x509 -in "$IC_HOME/ca.pem" -noout -pubkey 2>&1)" "$(openssl pkey -in "$IC_HOME/ca-key.pem" -pubout 2>&1)"
VEIL_HOME=$IC_HOME timeout 20 "$VEIL_BIN" ca export >"$WORK/ca-export.pem" 2>"$WORK/ca-export.err"; rc=$?
expect_eq "ca/'veil ca export' exits 0" 0 "$rc"
check "ca/'veil ca export' prints exactly ca.pem" cmp "$WORK/ca-export.pem" "$IC_HOME/ca.pem"
ca_sha=$(sha_of "$IC_HOME/ca.pem") key_sha=$(sha_of "$IC_HOME/ca-key.pem")
VEIL_HOME=$IC_HOME timeout 20 "$VEIL_BIN" ca path >/dev/null 2>&1
expect_eq "ca/a second run reuses the CA (ca.pem, ca-key.pem unchanged)" "$ca_sha $key_sha" \
    "$(sha_of "$IC_HOME/ca.pem") $(sha_of "$IC_HOME/ca-key.pem")"
rm -rf "$WORK/ca-home2"
got=$(timeout 20 "$VEIL_BIN" ca path --home "$WORK/ca-home2" 2>&1)
expect_eq "ca/'veil ca path --home DIR' uses DIR" "$WORK/ca-home2/ca.pem" "$(tail -n 1 <<<"$got")"
check "ca/--home DIR: CA created there" test -s "$WORK/ca-home2/ca.pem"

# A corrupt ca.pem: veil run refuses to start, says why, and leaves the file alone.
cp "$IC_HOME/ca.pem" "$WORK/ca-good.pem"
printf -- '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' >"$IC_HOME/ca.pem"
bad_sha=$(sha_of "$IC_HOME/ca.pem")
free_port IC_BADPORT
VEIL_HOME=$IC_HOME timeout 15 "$VEIL_BIN" run --listen "127.0.0.1:$IC_BADPORT" --mode intercept \
    --resolver static >"$WORK/ca-corrupt.log" 2>&1; rc=$?
if [[ $rc != 0 && $rc != 124 ]]; then pass "ca/corrupt ca.pem: veil run fails at start-up"; else
    fail "ca/corrupt ca.pem: veil run fails at start-up" "exit status $rc (124: still running after 15 s)"; fi
if grep -qi 'ca\.pem' "$WORK/ca-corrupt.log" && ! grep -q 'listening on' "$WORK/ca-corrupt.log"; then
    pass "ca/corrupt ca.pem: the message names ca.pem"
else
    fail "ca/corrupt ca.pem: the message names ca.pem" "output: $(head -c 400 "$WORK/ca-corrupt.log" | tr '\n' ' ')"
fi
expect_eq "ca/corrupt ca.pem is not replaced" "$bad_sha" "$(sha_of "$IC_HOME/ca.pem")"
cp "$WORK/ca-good.pem" "$IC_HOME/ca.pem"

# ---------------------------------------------------------------- origins

# Per-cipher s_server origins (one cipher each), and an nginx with WebDAV PUT and an
# access log that says whether the TLS session was resumed.
IC_SUITES13=(TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256)
IC_CIPHERS12=(ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305)
IC_IANA12=(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
IC_PORTS13=() IC_PORTS12=() IC_PIDS=()
for i in 0 1 2; do
    free_port IC_P; IC_PORTS13+=("$IC_P")
    start_s_server "ic13-$i" "$IC_P" "$DOCROOT" -tls1_3 -ciphersuites "${IC_SUITES13[$i]}" && IC_PIDS+=("$S_SERVER_PID")
    free_port IC_P; IC_PORTS12+=("$IC_P")
    start_s_server "ic12-$i" "$IC_P" "$DOCROOT" -tls1_2 -cipher "${IC_CIPHERS12[$i]}" && IC_PIDS+=("$S_SERVER_PID")
done

IC_DAVROOT=$WORK/davroot
mkdir -p "$IC_DAVROOT"
cp "$DOCROOT/index.html" "$IC_DAVROOT/"
IC_ACCESS=$WORK/ic-access.log
free_port IC_DAV13; free_port IC_DAV12
NGINX_HTTP_EXTRA="log_format tlsres '\$server_port \$request_method \$request_uri \$status reused=\$ssl_session_reused \$ssl_protocol'; ssl_session_cache shared:ICRES:1m;" \
NGINX_SERVER_EXTRA="access_log $IC_ACCESS tlsres; dav_methods PUT; client_max_body_size 64m; create_full_put_path on;" \
    start_nginx icdav "$IC_DAVROOT" "$IC_DAV13:TLSv1.3:h2" "$IC_DAV12:TLSv1.2:h1" && IC_PIDS+=("$NGINX_PID") ||
    fail "harness/nginx with WebDAV" "did not start"

# Harness: the origins do what the checks below assume, without veil.
ic_direct_cipher() { # PORT WANT (curl -v says "SSL connection using TLSv1.x / CIPHER")
    curl -sS -v --max-time 20 --cacert "$TESTCA" -o /dev/null "https://localhost:$1/index.html" 2>&1 |
        grep -q "SSL connection using .* / $2\$"
}
check "harness/s_server forces ${IC_SUITES13[2]}" ic_direct_cipher "${IC_PORTS13[2]}" "${IC_SUITES13[2]}"
check "harness/s_server forces ${IC_CIPHERS12[2]}" ic_direct_cipher "${IC_PORTS12[2]}" "${IC_CIPHERS12[2]}"
ic_direct_resume() { # PORT: two connections in one curl; nginx logs '.' then 'r'
    curl -sS --max-time 20 --cacert "$TESTCA" --http1.1 -H 'Connection: close' -o /dev/null -o /dev/null \
        "https://localhost:$1/index.html?direct=1" "https://localhost:$1/index.html?direct=2" || return 1
    grep -q "^$1 GET /index.html?direct=1 200 reused=\. " "$IC_ACCESS" &&
        grep -q "^$1 GET /index.html?direct=2 200 reused=r " "$IC_ACCESS"
}
check "harness/nginx logs session resumption (TLS1.3)" ic_direct_resume "$IC_DAV13"
check "harness/nginx logs session resumption (TLS1.2)" ic_direct_resume "$IC_DAV12"
ic_direct_put() {
    curl -sS --max-time 60 --cacert "$TESTCA" -T "$DOCROOT/big.bin" -o /dev/null -w '%{http_code}' \
        "https://localhost:$IC_DAV13/up/direct.bin" | grep -qE '^(201|204)$' &&
        [[ "$(sha_of "$IC_DAVROOT/up/direct.bin")" == "$BIG_SHA" ]]
}
check "harness/nginx WebDAV PUT stores 16 MiB intact" ic_direct_put
rm -f "$IC_DAVROOT/up/direct.bin"

IC_RESOLVE=()
for p in "$NGX12" "$NGX13" "$NGX12H2" "$SS12" "$SS13" "$IC_DAV13" "$IC_DAV12" "${IC_PORTS13[@]}" "${IC_PORTS12[@]}"; do
    IC_RESOLVE+=(--resolve "localhost:$p:127.0.0.1")
done

# ---------------------------------------------------------- intercepting veil

veil_ca || fail "intercept/veil ca path" "no CA path; the checks below will fail"
VEIL_CA=${VEIL_CA:-$VEIL_HOME/ca.pem}

if veil_or_fail intercept --mode intercept --resolver static --upstream-ca "$TESTCA" "${IC_RESOLVE[@]}"; then
    # Userspace OpenSSL relays intercepted data unless the kernel offers kTLS (--ktls auto);
    # veil says which just after "listening on".
    IC_PATH_RE=userspace
    IC_RECORDS_RE=veil
    wait_log "$VEIL_LOG" 'kTLS' 3
    grep -qi 'kTLS not available' "$VEIL_LOG" || { IC_PATH_RE='userspace|ktls[-a-z]*'; IC_RECORDS_RE='veil|-'; }
    # Resumption first: these are the first connections veil makes to this nginx.
    ic_resume() { # NAME PORT
        local name=$1 port=$2 got1 got2 i
        log_mark
        got1=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$port/index.html?veil=1" 2>&1)
        summary_for "${got1##* }"
        expect_summary "$name/1st connection: summary resumed=false" resumed false
        log_mark
        got2=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$port/index.html?veil=2" 2>&1)
        expect_eq "$name/both requests 200" "200 200" "${got1%% *} ${got2%% *}"
        summary_for "${got2##* }"
        expect_summary "$name/2nd connection: summary resumed=true" resumed true
        for i in $(seq 20); do grep -q "GET /index.html?veil=2 " "$IC_ACCESS" && break; sleep 0.1; done
        expect_eq "$name/nginx: 1st not resumed, 2nd resumed" "reused=. reused=r" \
            "$(grep "^$port GET /index.html?veil=1 " "$IC_ACCESS" | awk '{ print $5 }') $(grep "^$port GET /index.html?veil=2 " "$IC_ACCESS" | awk '{ print $5 }')"
    }
    ic_resume "intercept/resumption TLS1.3" "$IC_DAV13"
    ic_resume "intercept/resumption TLS1.2" "$IC_DAV12"

    ic_download "intercept/nginx-tls1.2-h1" "$NGX12" 1.1 TLSv1.2 'http/1.1|-'
    ic_download "intercept/nginx-tls1.3-h2" "$NGX13" 2 TLSv1.3 h2
    ic_download "intercept/nginx-tls1.2-h2" "$NGX12H2" 2 TLSv1.2 h2
    # s_server -WWW speaks no ALPN and HTTP/1.0: veil must not offer curl h2 there.
    ic_download "intercept/s_server-tls1.2" "$SS12" 1 TLSv1.2 -
    ic_download "intercept/s_server-tls1.3" "$SS13" 1 TLSv1.3 -
    for i in 0 1 2; do
        ic_download "intercept/TLS1.3 ${IC_SUITES13[$i]}" "${IC_PORTS13[$i]}" 1 TLSv1.3 - "${IC_SUITES13[$i]}"
        ic_download "intercept/TLS1.2 ${IC_CIPHERS12[$i]}" "${IC_PORTS12[$i]}" 1 TLSv1.2 - "${IC_IANA12[$i]}"
    done

    # 16 MiB uploads (WebDAV PUT), h2 over TLS1.3 and HTTP/1.1 over TLS1.2.
    ic_upload() { # NAME PORT HTTP_VERSION
        local name=$1 port=$2 ver=$3 got f=$IC_DAVROOT/up/veil-$2.bin
        rm -f "$f"
        log_mark
        got=$(vcurl -T "$DOCROOT/big.bin" -o /dev/null -w '%{http_code} %{http_version} %{local_port}' \
            "https://localhost:$port/up/veil-$port.bin" 2>&1)
        expect_match "$name/PUT status" "^(201|204) $ver\$" "${got% *}"
        expect_eq "$name/stored file sha256" "$BIG_SHA" "$(sha_of "$f")"
        summary_for "${got##* }"
        expect_summary "$name/summary close" close ok
        expect_summary "$name/summary records" records "$IC_RECORDS_RE"
        local up
        up=$(field bytes_up "$SUMMARY")
        if [[ "$up" =~ ^[0-9]+$ ]] && ((up >= BIG_SIZE)); then pass "$name/summary bytes_up >= 16 MiB"; else
            fail "$name/summary bytes_up >= 16 MiB" "bytes_up='$up'"; fi
        rm -f "$f"
    }
    ic_upload "intercept/upload 16 MiB h2 TLS1.3" "$IC_DAV13" 2
    ic_upload "intercept/upload 16 MiB h1 TLS1.2" "$IC_DAV12" 1.1

    # Pauses on one connection: curl --rate waits 500 ms between its requests, more than the
    # relay's 200 ms after which an idle connection gives its buffers back (OpenSSL's, the
    # engines', the plaintext buffer's pages); small, 16 MiB, small, 16 MiB: a release before
    # and after Veil's record layer takes over, and whole bodies after each.
    log_mark
    got=$(vcurl --http1.1 --rate 2/s -w '%{http_code} %{num_connects} %{local_port}\n' \
        -o "$WORK/pause1.html" -o "$WORK/pause2.bin" -o "$WORK/pause3.html" -o "$WORK/pause4.bin" \
        "https://localhost:$NGX13/index.html" "https://localhost:$NGX13/big.bin" \
        "https://localhost:$NGX13/index.html" "https://localhost:$NGX13/big.bin" 2>&1)
    port=$(head -1 <<<"$got" | awk '{ print $3 }')
    expect_eq "intercept/pauses: 4 x 200 on one connection" "200 1 $port|200 0 $port|200 0 $port|200 0 $port" "$(paste -sd'|' <<<"$got")"
    expect_eq "intercept/pauses: both 16 MiB bodies intact" "$BIG_SHA $BIG_SHA" "$(sha_of "$WORK/pause2.bin") $(sha_of "$WORK/pause4.bin")"
    expect_eq "intercept/pauses: both small bodies intact" "$(sha_of "$DOCROOT/index.html") $(sha_of "$DOCROOT/index.html")" \
        "$(sha_of "$WORK/pause1.html") $(sha_of "$WORK/pause3.html")"
    rm -f "$WORK"/pause*
    summary_for "$port"
    expect_summary "intercept/pauses: summary close" close ok
    expect_summary "intercept/pauses: summary records" records "$IC_RECORDS_RE"

    # Proof of interception: the origin's own CA no longer verifies what curl sees...
    expect_eq "intercept/curl trusting only the origin's CA fails (60)" 60 \
        "$(ic_curl_rc -x "http://127.0.0.1:$VEIL_PORT" --cacert "$TESTCA" "https://localhost:$NGX13/index.html")"
    # ...because the leaf is minted by veil's CA for the name curl asked for.
    timeout 20 openssl s_client -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$NGX13" -servername localhost \
        -showcerts </dev/null 2>/dev/null | sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p;/-END CERTIFICATE-/q' \
        >"$WORK/ic-minted.pem"
    check "intercept/minted leaf verifies against Veil's CA for 'localhost'" \
        openssl verify -CAfile "$VEIL_CA" -verify_hostname localhost "$WORK/ic-minted.pem"
    expect_eq "intercept/minted leaf issuer is Veil's CA" \
        "$(openssl x509 -in "$VEIL_CA" -noout -subject 2>&1 | sed 's/^subject=//')" \
        "$(openssl x509 -in "$WORK/ic-minted.pem" -noout -issuer 2>&1 | sed 's/^issuer=//')"
    check "intercept/4 parallel 16 MiB downloads" bash -c '
        for i in 1 2 3 4; do
            curl -sS --max-time 60 -x "http://127.0.0.1:'"$VEIL_PORT"'" --cacert "'"$VEIL_CA"'" \
                -o "'"$WORK"'/icpar-$i.bin" "https://localhost:'"$NGX13"'/big.bin" &
        done
        wait
        for i in 1 2 3 4; do
            [[ "$(sha256sum "'"$WORK"'/icpar-$i.bin" | cut -d" " -f1)" == "'"$BIG_SHA"'" ]] || exit 1
            rm -f "'"$WORK"'/icpar-$i.bin"
        done'
    stop_veil 10
    expect_eq "intercept/exit status after SIGTERM" 0 "$STOP_RC"
fi

# The default mode is intercept.
if veil_or_fail intercept-default --resolver static --upstream-ca "$TESTCA" "${IC_RESOLVE[@]}"; then
    log_mark
    got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "intercept-default/curl with Veil's CA" 200 "${got%% *}"
    summary_for "${got##* }"
    expect_summary "intercept-default/summary mode" mode intercept
    stop_veil 10
fi

# --record-log records: record lines for all four directions, the ClientHello veil wrote upstream.
if veil_or_fail intercept-records --mode intercept --resolver static --upstream-ca "$TESTCA" \
    --record-log records "${IC_RESOLVE[@]}"; then
    log_mark
    got=$(vcurl -o "$WORK/icr.bin" -w '%{http_code} %{local_port}' "https://localhost:$NGX13/big.bin" 2>&1)
    expect_eq "intercept-records/curl status" 200 "${got%% *}"
    expect_eq "intercept-records/sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$WORK/icr.bin")"
    rm -f "$WORK/icr.bin"
    summary_for "${got##* }"
    expect_summary "intercept-records/summary close" close ok
    conn=$(field conn "$SUMMARY"); [[ -n "$conn" ]] || conn='.*'
    LC=(python3 "$TOOLS/logcheck.py" find "$VEIL_LOG" --since "$LOG_MARK" --event record "conn=$conn")
    check "intercept-records/client->proxy ClientHello sni=localhost" "${LC[@]}" 'dir=client->proxy' \
        type=handshake 'msgs=ClientHello .*\bsni=localhost\b.*'
    check "intercept-records/proxy->upstream ClientHello sni=localhost" "${LC[@]}" 'dir=proxy->upstream' \
        type=handshake 'msgs=ClientHello .*\bsni=localhost\b.*'
    check "intercept-records/upstream->proxy ServerHello TLSv1.3" "${LC[@]}" 'dir=upstream->proxy' \
        type=handshake 'msgs=ServerHello version=TLSv1\.3\b.*'
    check "intercept-records/proxy->client ServerHello" "${LC[@]}" 'dir=proxy->client' \
        type=handshake 'msgs=ServerHello\b.*'
    for d in 'client->proxy' 'proxy->upstream' 'upstream->proxy' 'proxy->client'; do
        check "intercept-records/application_data $d" "${LC[@]}" "dir=$d" type=application_data
    done
    stop_veil 10
fi

# The same in JSON Lines: intercept keys present, every line parses.
if veil_or_fail intercept-json --mode intercept --resolver static --upstream-ca "$TESTCA" \
    --record-log records --log-format json "${IC_RESOLVE[@]}"; then
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "intercept-json/curl status" 200 "$got"
    check "intercept-json/summary event with the intercept fields" python3 "$TOOLS/logcheck.py" find "$VEIL_LOG" \
        --wait 5 --event summary mode=intercept sni=localhost upstream_sni=localhost tls=TLSv1.3 alpn=h2 \
        'client_tls=TLSv1\.[23]' 'client_cipher=TLS_[A-Z0-9_]+' 'resumed=true|false' path=userspace close=ok
    check "intercept-json/proxy->upstream ClientHello record" python3 "$TOOLS/logcheck.py" find "$VEIL_LOG" \
        --event record 'dir=proxy->upstream' type=handshake 'msgs=ClientHello .*\bsni=localhost\b.*'
    check "intercept-json/every JSON line parses, keys typed" python3 "$TOOLS/logcheck.py" validate-json "$VEIL_LOG"
    stop_veil 10
fi

# --passthrough PATTERN: that host keeps the client's own TLS end to end; others are intercepted.
if veil_or_fail intercept-passthrough-host --mode intercept --resolver static --upstream-ca "$TESTCA" \
    --passthrough origin.test --resolve "origin.test:$NGX13:127.0.0.1" "${IC_RESOLVE[@]}"; then
    log_mark
    got=$(pcurl -o "$WORK/icp.bin" -w '%{http_code} %{http_version} %{local_port}' "https://origin.test:$NGX13/big.bin" 2>&1)
    expect_eq "passthrough-host/curl with the origin's CA" "200 2" "${got% *}"
    expect_eq "passthrough-host/sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$WORK/icp.bin")"
    rm -f "$WORK/icp.bin"
    summary_for "${got##* }"
    expect_summary "passthrough-host/summary mode" mode passthrough
    expect_summary "passthrough-host/summary path" path splice
    expect_summary "passthrough-host/summary close" close ok
    expect_eq "passthrough-host/curl with Veil's CA fails (60)" 60 \
        "$(ic_curl_rc -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" "https://origin.test:$NGX13/index.html")"
    expect_eq "passthrough-host/other hosts still intercepted (Veil's CA works)" 0 \
        "$(ic_curl_rc -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" "https://localhost:$NGX13/index.html")"
    expect_eq "passthrough-host/other hosts still intercepted (origin CA fails)" 60 \
        "$(ic_curl_rc -x "http://127.0.0.1:$VEIL_PORT" --cacert "$TESTCA" "https://localhost:$NGX13/index.html")"
    stop_veil 10
fi

# --mode passthrough still relays the client's TLS as before.
if veil_or_fail intercept-mode-passthrough --mode passthrough --resolver static "${IC_RESOLVE[@]}"; then
    log_mark
    got=$(pcurl -o /dev/null -w '%{http_code} %{http_version} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "mode-passthrough/curl with the origin's CA" "200 2" "${got% *}"
    summary_for "${got##* }"
    expect_summary "mode-passthrough/summary mode" mode passthrough
    expect_summary "mode-passthrough/summary path" path splice
    expect_eq "mode-passthrough/curl with Veil's CA fails (60)" 60 \
        "$(ic_curl_rc -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" "https://localhost:$NGX13/index.html")"
    stop_veil 10
fi

for p in "${IC_PIDS[@]}"; do stop_pid "$p" 5; done
