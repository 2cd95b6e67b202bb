# What the client-facing TLS offers (issue 10, defect 9): towards clients (minted certificates
# on the intercepted client leg, the HTTPS listener, the relay's listener) TLS 1.2 is ECDHE
# with an AEAD only. openssl s_client -tls1_2 with each of the four ECDHE-ECDSA CBC suites
# OpenSSL's default list offers is refused; each AEAD suite is accepted and negotiated. (The
# relay's listener speaks TLS 1.3 only: every TLS 1.2 suite is refused there.) testssl.sh
# against the HTTPS listener lists no CBC suite and does not report LUCKY13.

CS_CBC=(ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA ECDHE-ECDSA-AES128-SHA256 ECDHE-ECDSA-AES256-SHA384)
CS_AEAD=(ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305)

# cs_try SUITE S_CLIENT-ARGS...: the cipher s_client negotiated with -tls1_2 -cipher SUITE, or
# "refused" when the handshake failed.
cs_try() {
    local suite=$1 out; shift
    out=$(timeout 10 openssl s_client -tls1_2 -cipher "$suite" "$@" </dev/null 2>&1)
    # "New, TLSv1.0, Cipher is X": the version there is the suite's, not the session's.
    if [[ $? == 0 ]] && grep -qE '^ +Protocol +: TLSv1\.2$' <<<"$out" && grep -q '^New, .*, Cipher is ' <<<"$out"; then
        sed -n 's/^New, .*, Cipher is //p' <<<"$out" | head -n 1
    else
        echo refused
    fi
}

# cs_check NAME [cbc-only] S_CLIENT-ARGS...
cs_check() {
    local name=$1 s cbc_only=0; shift
    [[ $1 == cbc-only ]] && { cbc_only=1; shift; }
    for s in "${CS_CBC[@]}"; do
        expect_eq "$name: CBC suite $s refused" refused "$(cs_try "$s" "$@")"
    done
    ((cbc_only)) && return
    for s in "${CS_AEAD[@]}"; do
        expect_eq "$name: AEAD suite $s accepted" "$s" "$(cs_try "$s" "$@")"
    done
}

free_port CS_TLS_PORT
if veil_or_fail client-suites --listen-tls "127.0.0.1:$CS_TLS_PORT" --resolver static --upstream-ca "$TESTCA" \
        --resolve "localhost:$NGX12:127.0.0.1" && veil_ca; then
    cs_check "client-suites/intercepted client leg" -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$NGX12" \
        -servername localhost -CAfile "$VEIL_CA" -verify_return_error
    cs_check "client-suites/HTTPS listener" -connect "127.0.0.1:$CS_TLS_PORT" -CAfile "$VEIL_CA" -verify_return_error
    # testssl.sh (Debian's testssl.sh package; about 25 s on loopback) against the HTTPS
    # listener: no CBC suite in its per-protocol list, LUCKY13 not reported.
    if command -v testssl >/dev/null; then
        CS_TESTSSL=$(timeout 300 testssl --quiet --color 0 --warnings off -E --lucky13 "127.0.0.1:$CS_TLS_PORT" 2>&1)
        echo "$CS_TESTSSL" >"$WORK/cs-testssl.txt"
        expect_match "client-suites/testssl: LUCKY13 not vulnerable" 'not vulnerable' \
            "$(grep 'LUCKY13 (CVE' <<<"$CS_TESTSSL")"
        # Suite rows: hexcode, OpenSSL name, "ECDH 253", encryption (AES = CBC), bits, IANA name.
        expect_eq "client-suites/testssl: no CBC suite listed" "" \
            "$(awk '$1 ~ /^x[0-9a-f]+$/ && $5 !~ /GCM|ChaCha20|CCM/ { print $2 }' <<<"$CS_TESTSSL" | tr '\n' ' ')"
        expect_match "client-suites/testssl: the AEAD suites listed" 'ECDHE-ECDSA-AES128-GCM-SHA256' "$CS_TESTSSL"
    else
        fail "client-suites/testssl" "testssl is not installed (make deps installs testssl.sh)"
    fi
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "client-suites/veil still serves" 200 "$got"
    stop_veil 10
fi

free_port CS_RELAY_PORT
echo "client-suites-secret-$RANDOM$RANDOM" >"$WORK/cs-relay-secret"
if start_relay client-suites "$CS_RELAY_PORT" --secret-file "$WORK/cs-relay-secret"; then
    # The relay speaks TLS 1.3 only (Veil's relay client offers nothing older): no TLS 1.2
    # suite at all, CBC included; TLS 1.3 is served.
    cs_check "client-suites/relay listener" cbc-only -connect "127.0.0.1:$CS_RELAY_PORT"
    expect_match "client-suites/relay listener: TLS 1.3 accepted" '^TLS_' \
        "$(timeout 10 openssl s_client -tls1_3 -connect "127.0.0.1:$CS_RELAY_PORT" </dev/null 2>&1 | sed -n 's/^New, TLSv1.3, Cipher is //p')"
    stop_pid "$RL_PID" 10
else
    fail "client-suites/relay start" "the relay did not start"
fi
