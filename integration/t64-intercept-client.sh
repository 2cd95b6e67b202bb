# Intercept, the client's side: clients resume their TLS session with Veil (openssl s_client
# -sess_out / -sess_in), and a slow reader never makes Veil buffer the upstream body (RSS stays
# bounded while curl reads a 16 MiB body at 256 KiB/s).

if veil_or_fail intercept-client --resolver static --upstream-ca "$TESTCA" \
    --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    sess=$WORK/client-session.pem
    rm -f "$sess"
    s_client_get() {
        (printf 'GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'; sleep 1) |
            timeout 10 openssl s_client -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$NGX13" \
                -servername localhost -CAfile "$VEIL_CA" "$@" 2>&1
    }
    first=$(s_client_get -sess_out "$sess")
    second=$(s_client_get -sess_in "$sess")
    expect_match "intercept-client/first handshake is new" "^New, TLSv1.3" "$(grep -E '^(New|Reused),' <<<"$first")"
    expect_match "intercept-client/second handshake resumes with Veil" "^Reused, TLSv1.3" \
        "$(grep -E '^(New|Reused),' <<<"$second")"
    expect_match "intercept-client/certificate verified against Veil's CA" "Verify return code: 0" \
        "$(grep 'Verify return code' <<<"$second" | tail -n 1)"
    wait_summary 2 >/dev/null
    if grep -q 'client_resumed=true' "$VEIL_LOG"; then
        pass "intercept-client/summary client_resumed=true"
    else
        fail "intercept-client/summary client_resumed=true" "no summary with client_resumed=true"
    fi

    # Slow reader: without back-pressure Veil would pull the whole body from nginx at once.
    rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$VEIL_PID/status"; }
    before=$(rss)
    vcurl --limit-rate 256K -o /dev/null "https://localhost:$NGX13/big.bin" 2>/dev/null &
    slow=$!
    bg_register "$slow"
    sleep 4
    during=$(rss)
    stop_pid "$slow" 2
    grown=$((during - before))
    if ((grown < 8192)); then
        pass "intercept-client/slow reader: RSS grew ${grown} KiB (< 8 MiB) while 16 MiB waited upstream"
    else
        fail "intercept-client/slow reader: RSS bounded" "RSS grew ${grown} KiB (before ${before}, during ${during})"
    fi
    sleep 0.5
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "intercept-client/still serving after the slow reader left" 200 "$got"
    stop_veil 10
fi
