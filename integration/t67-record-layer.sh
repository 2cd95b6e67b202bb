# Veil's own record layer (userspace, no kTLS): after 64 KiB through OpenSSL, Veil seals and
# opens both legs' records itself (summary records=veil). What only that layer handles, with
# real peers: TLS 1.3 KeyUpdate from the origin (openssl s_server "K": Veil must update its
# receive keys and answer with its own KeyUpdate before sending more), KeyUpdate from the client
# (openssl s_client "K"), data both ways after each, and close_notify. A KeyUpdate before the
# takeover keeps the connection on OpenSSL (records=openssl, records_note says why). Then
# --record-layer openssl: the same 16 MiB through SSL_read/SSL_write (records=openssl).
# --ktls off throughout: where the kernel has kTLS, intercepted data would go there instead.

RL_DIR=$WORK/record-layer
mkdir -p "$RL_DIR"

# rl_wait FILE PATTERN [SECONDS]: until FILE holds PATTERN.
rl_wait() {
    local i
    for ((i = 0; i < ${3:-10} * 10; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# rl_start NAME: an interactive s_server (TLS 1.3) on RL_ORIGIN and an s_client through veil,
# each reading a fifo (fd 7 feeds the origin, fd 8 the client): lines are sent to the peer, "K"
# sends a KeyUpdate asking the peer to update too. -msg on both ends logs the handshake
# messages each receives ("<<< ... KeyUpdate") to RL_DIR/NAME-server.msg and -client.msg.
rl_start() {
    local n=$1 i
    rm -f "$RL_DIR/$n-"*
    mkfifo "$RL_DIR/$n-server.in" "$RL_DIR/$n-client.in"
    openssl s_server -accept "127.0.0.1:$RL_ORIGIN" -cert "$SERVER_CERT" -key "$SERVER_KEY" -tls1_3 \
        -msg -msgfile "$RL_DIR/$n-server.msg" <"$RL_DIR/$n-server.in" >"$RL_DIR/$n-server.out" 2>&1 &
    RL_SERVER=$!
    bg_register "$RL_SERVER"
    exec 7>"$RL_DIR/$n-server.in"
    for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$RL_ORIGIN" | grep -q LISTEN && break; sleep 0.1; done
    openssl s_client -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$RL_ORIGIN" -servername localhost \
        -CAfile "$VEIL_CA" -msg -msgfile "$RL_DIR/$n-client.msg" <"$RL_DIR/$n-client.in" >"$RL_DIR/$n-client.out" 2>&1 &
    RL_CLIENT=$!
    bg_register "$RL_CLIENT"
    exec 8>"$RL_DIR/$n-client.in"
    log_mark
    if rl_wait "$RL_DIR/$n-client.out" 'Verify return code: 0' 10; then
        pass "record-layer/$n: s_client through veil verifies Veil's certificate"
    else
        fail "record-layer/$n: s_client through veil verifies Veil's certificate" "$(tail -n 5 "$RL_DIR/$n-client.out")"
    fi
}

# rl_stop: the client quits (close_notify through veil), then both ends are stopped.
rl_stop() {
    printf 'Q\n' >&8
    exec 8>&-
    wait_summary 10
    exec 7>&-
    stop_pid "$RL_CLIENT" 3
    stop_pid "$RL_SERVER" 3
}

# rl_bulk N: N lines of 100 bytes from the origin, then a marker; checks they all arrive intact.
rl_bulk() {
    local n=$1 lines i
    for ((i = 0; i < $2; i++)); do printf 'x%099d\n' "$i"; done >&7
    printf 'bulk-done\n' >&7
    check "record-layer/$n: $(($2 / 10)) KiB from the origin arrive" rl_wait "$RL_DIR/$n-client.out" 'bulk-done' 10
    lines=$(grep -c '^x[0-9]\{99\}$' "$RL_DIR/$n-client.out")
    expect_eq "record-layer/$n: all $2 lines, intact" "$2" "$lines"
}

free_port RL_ORIGIN
if veil_or_fail record-layer --ktls off --resolver static --upstream-ca "$TESTCA" \
    --resolve "localhost:$RL_ORIGIN:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    rl_start after-takeover
    # 80 KiB from the origin first: the takeover happens after 64 KiB.
    rl_bulk after-takeover 800

    # The origin updates its keys and asks Veil to update too.
    printf 'K\n' >&7
    sleep 0.5
    printf 'server-after-its-keyupdate\n' >&7
    check "record-layer/origin KeyUpdate: data after it reaches the client" \
        rl_wait "$RL_DIR/after-takeover-client.out" 'server-after-its-keyupdate' 10
    printf 'client-after-origin-keyupdate\n' >&8
    check "record-layer/origin KeyUpdate: the origin reads what Veil sends next" \
        rl_wait "$RL_DIR/after-takeover-server.out" 'client-after-origin-keyupdate' 10
    check "record-layer/origin KeyUpdate: Veil answered with its own" \
        rl_wait "$RL_DIR/after-takeover-server.msg" '^<<< TLS 1.3, Handshake.*KeyUpdate' 1
    check "record-layer/origin KeyUpdate: not passed on to the client" \
        sh -c "! grep -q '^<<< TLS 1.3, Handshake.*KeyUpdate' '$RL_DIR/after-takeover-client.msg'"

    # The client updates its keys and asks Veil to update too.
    printf 'K\n' >&8
    sleep 0.5
    printf 'client-after-its-keyupdate\n' >&8
    check "record-layer/client KeyUpdate: data after it reaches the origin" \
        rl_wait "$RL_DIR/after-takeover-server.out" 'client-after-its-keyupdate' 10
    printf 'server-after-client-keyupdate\n' >&7
    check "record-layer/client KeyUpdate: the client reads what Veil sends next" \
        rl_wait "$RL_DIR/after-takeover-client.out" 'server-after-client-keyupdate' 10
    check "record-layer/client KeyUpdate: Veil answered with its own" \
        rl_wait "$RL_DIR/after-takeover-client.msg" '^<<< TLS 1.3, Handshake.*KeyUpdate' 1

    # The client quits: close_notify through Veil's record layer, one summary line.
    rl_stop
    expect_summary "record-layer/after-takeover: summary records" records veil
    expect_summary "record-layer/after-takeover: summary close" close ok
    expect_summary "record-layer/after-takeover: summary reason" reason 'both sides closed'

    # A KeyUpdate before the takeover goes through OpenSSL, which then holds newer keys than
    # the key log gave: the connection stays on OpenSSL's record layer and says why.
    rl_start before-takeover
    printf 'K\n' >&7
    sleep 0.5
    printf 'server-after-early-keyupdate\n' >&7
    check "record-layer/before-takeover: data after the KeyUpdate reaches the client" \
        rl_wait "$RL_DIR/before-takeover-client.out" 'server-after-early-keyupdate' 10
    rl_bulk before-takeover 800
    printf 'client-after-early-keyupdate\n' >&8
    check "record-layer/before-takeover: the origin reads what Veil sends" \
        rl_wait "$RL_DIR/before-takeover-server.out" 'client-after-early-keyupdate' 10
    rl_stop
    expect_summary "record-layer/before-takeover: summary records" records openssl
    expect_summary "record-layer/before-takeover: summary records_note" records_note '.*KeyUpdate.*'
    expect_summary "record-layer/before-takeover: summary close" close ok

    # (Records that do not authenticate, are malformed or too long after the takeover: the
    # RecordCipher unit tests; the fatal alert their sender gets, and ends without close_notify:
    # t68-truncation.)
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "record-layer/still serving" 200 "$got"
    stop_veil 10
fi

# The same 16 MiB with OpenSSL's record layer throughout.
if veil_or_fail record-layer-openssl --record-layer openssl --ktls off --resolver static --upstream-ca "$TESTCA" \
    --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    log_mark
    got=$(vcurl -o "$RL_DIR/big.bin" -w '%{http_code} %{local_port}' "https://localhost:$NGX13/big.bin" 2>&1)
    expect_eq "record-layer/openssl: curl status" 200 "${got% *}"
    expect_eq "record-layer/openssl: sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$RL_DIR/big.bin")"
    rm -f "$RL_DIR/big.bin"
    summary_for "${got##* }"
    expect_summary "record-layer/openssl: summary records" records openssl
    expect_summary "record-layer/openssl: summary close" close ok
    stop_veil 10
fi
