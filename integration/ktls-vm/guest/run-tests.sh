#!/bin/sh
# guest/run-tests.sh - runs INSIDE the kTLS VM (busybox sh, as /init's child).
# Ends with exactly one "N passed, M failed" line, which run.sh on the host reads.
#
#   sh /guest/run-tests.sh [WORD...]   only the groups whose name contains a WORD:
#                                      kernel probe direct nginx veil
# (from the host: integration/ktls-vm/run.sh veil probe)
#
# Adding a case: one veil_case call in the "veil" group, e.g.
#   veil_case "veil/intercept s_server tls1.3 ktls" "--ktls require" \
#       "https://localhost:$SS13/big.bin" "mode=intercept tls=TLSv1\.3 path=ktls close=ok"
# (see veil_case in guest/lib.sh for what it checks, VC_SHA / VC_STATUS for uploads).
cd /guest || exit 1
. /guest/lib.sh

ONLY="$*"
want() {
    [ -z "$ONLY" ] && return 0
    for _w in $ONLY; do case $1 in *"$_w"*) return 0 ;; esac; done
    return 1
}
group() { echo; echo "=== $1 (at $(uptime_s)s)"; }
# Groups that run only when named (benchmarks are not tests).
explicit() { for _w in $ONLY; do [ "$_w" = "$1" ] && return 0; done; return 1; }

T_START=$(uptime_s)
trap cleanup_all EXIT

# ------------------------------------------------------------------ set-up

DOCROOT=/tmp/www
mkdir -p "$DOCROOT/up"
echo "hello from the ktls vm" >"$DOCROOT/index.html"
BIG_SIZE=4194304    # 4 MiB: TCG runs at a few MB/s
head -c "$BIG_SIZE" /dev/urandom >"$DOCROOT/big.bin"
BIG_SHA=$(sha_of "$DOCROOT/big.bin")
echo "payload: $BIG_SIZE bytes, sha256 $BIG_SHA"

# ------------------------------------------------------------------ kernel

if want kernel; then
    group kernel
    echo "tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
    check "kernel/tls in tcp_available_ulp" grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp
    check "kernel/io_uring not disabled" sh -c '! [ -e /proc/sys/kernel/io_uring_disabled ] || [ "$(cat /proc/sys/kernel/io_uring_disabled)" = 0 ]'
fi

# ---------------------------------------------------- kTLS without Veil

if want probe; then
    group probe
    _t=$(uptime_s)
    timeout 300 ktls-probe >"$W/probe.out" 2>&1
    echo "ktls-probe exited $? after $(since "$_t")s"
    fold_results "$W/probe.out"
fi

# ----------------------------------------------------------------- origins

alloc_port SS13; alloc_port SS12; alloc_port SSCHACHA; alloc_port SSAES128; alloc_port NGX; alloc_port NGX12
alloc_port SSCBC
ORIGINS_OK=1
if want direct || want nginx || want veil || explicit bench; then
    group origins
    start_s_server s13 "$SS13" -tls1_3 || ORIGINS_OK=0
    start_s_server s12 "$SS12" -tls1_2 || ORIGINS_OK=0
    start_s_server s13chacha "$SSCHACHA" -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256 || ORIGINS_OK=0
    start_s_server s13aes128 "$SSAES128" -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256 || ORIGINS_OK=0
    # TLS 1.2 with a CBC suite: no kernel offload, so that leg stays in userspace.
    start_s_server s12cbc "$SSCBC" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 || ORIGINS_OK=0
    NGINX_OK=1
    start_nginx main "$NGX" "TLSv1.2 TLSv1.3" "$DOCROOT" || NGINX_OK=0
    start_nginx tls12 "$NGX12" "TLSv1.2" "$DOCROOT" || NGINX_OK=0
    echo "s_server tls1.3 :$SS13, tls1.2 :$SS12, tls1.3 chacha20 :$SSCHACHA, tls1.3 aes128 :$SSAES128;" \
        "nginx h1/h2 + PUT tls1.2+1.3 :$NGX, tls1.2 :$NGX12 (up: $NGINX_OK)"
    [ "$ORIGINS_OK" = 1 ] && pass "origins/openssl s_server x4 listen" || fail "origins/s_server" "did not start"
    [ "$NGINX_OK" = 1 ] && pass "origins/nginx listens" || fail "origins/nginx" "did not start"
fi

# direct_get NAME PORT WANT_HTTP_VERSION [curl args]: big.bin without a proxy.
direct_get() {
    local name=$1 port=$2 ver=$3 t got; shift 3
    t=$(uptime_s)
    got=$(curl -sS --max-time "$CURL_MAX_TIME" --cacert "$TESTCA" -o "$W/direct.bin" \
        -w '%{http_code} %{http_version}' "$@" "https://localhost:$port/big.bin" 2>&1)
    expect_eq "$name/status" "200 $ver" "$got"
    expect_eq "$name/sha256 of 4 MiB" "$BIG_SHA" "$(sha_of "$W/direct.bin")"
    rm -f "$W/direct.bin"
    say "$name: $(since "$t")s"
}

if want direct; then
    group direct
    direct_get "direct/curl -> s_server tls1.3" "$SS13" 1 --tlsv1.3
    direct_get "direct/curl -> s_server tls1.2" "$SS12" 1 --tlsv1.2 --tls-max 1.2
fi

if want nginx; then
    group nginx
    direct_get "nginx/GET h2 tls1.3" "$NGX" 2 --http2 --tlsv1.3
    direct_get "nginx/GET http1.1 tls1.2" "$NGX12" 1.1 --http1.1
    _got=$(curl -sS --max-time "$CURL_MAX_TIME" --cacert "$TESTCA" -o /dev/null -w '%{http_code}' \
        -T "$DOCROOT/big.bin" "https://localhost:$NGX/up/direct.bin" 2>&1)
    expect_match "nginx/PUT 4 MiB status" '^(201|204)$' "$_got"
    expect_eq "nginx/PUT 4 MiB stored intact" "$BIG_SHA" "$(sha_of "$DOCROOT/up/direct.bin")"
fi

# -------------------------------------------------------------------- veil

if want veil; then
    group veil
    check "veil/--version" veil --version
    veil --version 2>&1 | head -n 1
    if veil_ca; then pass "veil/ca path: $VEIL_CA"; else fail "veil/ca path" "$(cat "$W/veil-ca.err")"; fi
    VEIL_COMMON="--upstream-ca $TESTCA --grace 2"
    for _p in $SS13 $SS12 $SSCHACHA $SSAES128 $SSCBC $NGX $NGX12; do
        VEIL_COMMON="$VEIL_COMMON --resolve localhost:$_p:127.0.0.1"
    done

    veil_case "veil/passthrough s_server tls1.3" "--mode passthrough" \
        "https://localhost:$SS13/big.bin" \
        "mode=passthrough target=localhost:$SS13 sni=localhost tls=TLSv1\.3 path=splice close=ok bytes_down=[0-9]{7,}"
    veil_case "veil/passthrough s_server tls1.2" "--mode passthrough" \
        "https://localhost:$SS12/big.bin" \
        "mode=passthrough target=localhost:$SS12 tls=TLSv1\.2 path=splice close=ok"

    # Intercept with userspace OpenSSL (--ktls off): the baseline.
    veil_case "veil/intercept s_server tls1.3 ktls=off" "--ktls off" \
        "https://localhost:$SS13/big.bin" \
        "mode=intercept target=localhost:$SS13 upstream_sni=localhost tls=TLSv1\.3 client_tls=TLSv1\.3 path=userspace close=ok bytes_down=[0-9]{7,}"
    veil_case "veil/intercept s_server tls1.2 ktls=off" "--ktls off" \
        "https://localhost:$SS12/big.bin" \
        "mode=intercept target=localhost:$SS12 tls=TLSv1\.2 client_tls=TLSv1\.[23] path=userspace close=ok"

    # Intercept, default --ktls auto: this kernel has kTLS, so both legs should move to it.
    veil_case "veil/intercept s_server tls1.3 ktls=auto" "" \
        "https://localhost:$SS13/big.bin" \
        "mode=intercept tls=TLSv1\.3 client_tls=TLSv1\.3 client_path=ktls-splice upstream_path=ktls-splice close=ok bytes_down=[0-9]{7,}"
    check "veil/start-up line: kTLS available" grep -q "kTLS available" "$VEIL_LOG"
    veil_case "veil/intercept s_server tls1.2 ktls=auto" "" \
        "https://localhost:$SS12/big.bin" \
        "mode=intercept tls=TLSv1\.2 client_tls=TLSv1\.[23] client_path=ktls-splice upstream_path=ktls-splice close=ok"
    veil_case "veil/intercept s_server tls1.3 chacha20 ktls=auto" "" \
        "https://localhost:$SSCHACHA/big.bin" \
        "mode=intercept cipher=TLS_CHACHA20_POLY1305_SHA256 client_path=ktls-splice upstream_path=ktls-splice close=ok"
    veil_case "veil/intercept s_server tls1.3 aes128 ktls=require" "--ktls require" \
        "https://localhost:$SSAES128/big.bin" \
        "mode=intercept cipher=TLS_AES_128_GCM_SHA256 client_path=ktls-splice upstream_path=ktls-splice close=ok"

    # Encrypted Client Hello on the upstream leg, then both legs on kTLS: BoringSSL's bssl-tool
    # server holds the ECH key (config from --ech-config); its -www page says what it saw.
    echo; say "veil/intercept ECH to bssl-tool server"
    alloc_port BSSL
    if (cd "$W" && bssl-tool generate-ech -out-ech-config-list ech-list.bin -out-ech-config ech-config.bin \
            -out-private-key ech-key.bin -public-name public.test -config-id 7) >"$W/bssl-gen.log" 2>&1; then
        (cd "$W" && exec bssl-tool server -accept "$BSSL" -cert "$SERVER_CERT" -key "$SERVER_KEY" \
            -ech-config ech-config.bin -ech-key ech-key.bin -www -loop) </dev/null >"$W/bssl-server.log" 2>&1 &
        bg_register $!
        if wait_listen "$BSSL" 20; then
            VC_SHA=-
            veil_case "veil/intercept ECH accepted ktls=auto" \
                "--ech-config origin.test=@$W/ech-list.bin --resolve origin.test:$BSSL:127.0.0.1" \
                "https://origin.test:$BSSL/" \
                "mode=intercept tls=TLSv1\.3 client_tls=TLSv1\.3 upstream_sni=origin\.test client_path=ktls(-splice)? upstream_path=ktls(-splice)? close=ok ech=accepted outer_sni=public\.test" \
                'grep -q "Encrypted ClientHello: yes" "$_vc_out" && grep -q "SNI: origin.test" "$_vc_out"'
        else
            fail "veil/ECH/bssl-tool server listens" "$(tail -n 5 "$W/bssl-server.log")"
        fi
    else
        fail "veil/ECH/bssl-tool generate-ech" "$(tail -n 5 "$W/bssl-gen.log")"
    fi

    # --route tunnel through a veil relay (both in the VM): the TLS to the relay moves onto kTLS
    # on both ends (tunnel_path=ktls here, the relay's front_path=ktls there). An intercepted
    # connection keeps its client leg on kTLS; its upstream leg is the tunnel's socketpair.
    echo; say "veil/tunnel through a veil relay"
    alloc_port RELAY_PORT
    veil relay --listen "127.0.0.1:$RELAY_PORT" --home "$W/relay-home" --secret vm-relay-secret --allow-private \
        --allow-port "$SS13,$SS12" --resolver static --resolve "localhost:$SS13:127.0.0.1" \
        --resolve "localhost:$SS12:127.0.0.1" </dev/null >"$W/relay.log" 2>&1 &
    bg_register $!
    wait_log "$W/relay.log" "fingerprint" 30
    RELAY_FP=$(sed -n 's/^veil relay: certificate SHA-256 fingerprint //p' "$W/relay.log")
    if [ -n "$RELAY_FP" ]; then
        RELAY_ARGS="--route tunnel --relay 127.0.0.1:$RELAY_PORT --relay-fingerprint $RELAY_FP --relay-secret vm-relay-secret"
        veil_case "veil/tunnel intercept tls1.3" "$RELAY_ARGS" \
            "https://localhost:$SS13/big.bin" \
            "route=tunnel tunnel_path=ktls mode=intercept client_path=ktls upstream_path=userspace ktls=upstream.leg:.*socketpair.* close=ok bytes_down=[0-9]{7,}"
        veil_case "veil/tunnel passthrough tls1.2" "--mode passthrough $RELAY_ARGS" \
            "https://localhost:$SS12/big.bin" \
            "route=tunnel tunnel_path=ktls mode=passthrough path=splice close=ok bytes_down=[0-9]{7,}"
        check "veil/tunnel: the relay's side of the tunnel is on kTLS too" grep -q "front_path=ktls" "$W/relay.log"
    else
        fail "veil/tunnel/relay starts" "$(tail -n 5 "$W/relay.log")"
    fi

    # Per leg: a CBC suite on one leg keeps that leg in userspace; the other still gets kTLS.
    veil_case "veil/intercept mixed: upstream tls1.2 CBC userspace, client ktls" "" \
        "https://localhost:$SSCBC/big.bin" \
        "mode=intercept tls=TLSv1\.2 cipher=TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 client_path=ktls upstream_path=userspace ktls=upstream.leg:.*offload.* close=ok bytes_down=[0-9]{7,}"
    # Veil offers clients no suite without kernel offload (no CBC: LUCKY13), so the other direction
    # of the mixed relay is reached through a failed install on the client leg (fault injection).
    export VEIL_FAULT_KTLS_REFUSE=client
    veil_case "veil/intercept mixed: client leg install failed, userspace; upstream ktls" "" \
        "--tls-max 1.2 https://localhost:$SS13/big.bin" \
        "mode=intercept tls=TLSv1\.3 client_tls=TLSv1\.2 client_path=userspace upstream_path=ktls ktls=client.leg:.*VEIL_FAULT_KTLS_REFUSE.* close=ok bytes_down=[0-9]{7,}"
    unset VEIL_FAULT_KTLS_REFUSE
    echo; say "veil/intercept mixed: --ktls require refuses"
    if start_veil require-mixed --ktls require; then
        _got=$(curl -sS --max-time "$CURL_MAX_TIME" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" \
            -o /dev/null -w '%{local_port}' "https://localhost:$SSCBC/big.bin" 2>"$W/require-mixed.err")
        check "veil/intercept mixed --ktls require: curl fails" [ $? != 0 ]
        summary_for "$_got" 10
        expect_summary "veil/intercept mixed --ktls require" "close=ktls-unavailable reason=.*require.*upstream.leg.*"
        stop_veil
    else
        fail "veil/intercept mixed --ktls require/veil starts" "see $VEIL_LOG"
    fi

    if [ "${NGINX_OK:-0}" = 1 ]; then
        veil_case "veil/intercept nginx h2 tls1.3 GET ktls=auto" "" \
            "--http2 https://localhost:$NGX/big.bin" \
            "mode=intercept tls=TLSv1\.3 alpn=h2 client_path=ktls-splice upstream_path=ktls-splice close=ok"
        veil_case "veil/intercept nginx http1.1 tls1.2 GET ktls=auto" "" \
            "--http1.1 https://localhost:$NGX12/big.bin" \
            "mode=intercept tls=TLSv1\.2 alpn=http/1\.1 client_path=ktls-splice upstream_path=ktls-splice close=ok"
        rm -f "$DOCROOT/up/veil.bin"
        VC_STATUS='201|204' VC_SHA=-
        veil_case "veil/intercept nginx PUT 4 MiB ktls=auto" "" \
            "-T $DOCROOT/big.bin https://localhost:$NGX/up/veil.bin" \
            "mode=intercept client_path=ktls-splice upstream_path=ktls-splice close=ok bytes_up=[0-9]{7,}" \
            '[ "$(sha_of "$DOCROOT/up/veil.bin")" = "$BIG_SHA" ]'
    fi

    # The HTTPS proxy listener: curl speaks TLS to Veil; that outer session moves to kTLS
    # (front_path=ktls). Inside it, a pass-through tunnel is spliced; an intercepted one keeps
    # its inner client TLS in userspace (one socket carries one kTLS session), and says why;
    # there Veil's own record layer protects both inner legs (records=veil).
    VC_FRONT=1
    veil_case "veil/https listener passthrough tls1.3" "--mode passthrough" \
        "https://localhost:$SS13/big.bin" \
        "front_tls=TLSv1\.3 front_path=ktls mode=passthrough tls=TLSv1\.3 path=splice close=ok bytes_down=[0-9]{7,}"
    VC_FRONT=1
    veil_case "veil/https listener intercept tls1.2 ktls=auto" "" \
        "https://localhost:$SS12/big.bin" \
        "front_tls=TLSv1\.3 front_path=ktls mode=intercept tls=TLSv1\.2 client_path=userspace upstream_path=userspace ktls=.*HTTPS.listener.* records=veil close=ok"
    VC_FRONT=1
    veil_case "veil/https listener ktls=off" "--ktls off" \
        "https://localhost:$SS13/big.bin" \
        "front_path=userspace mode=intercept path=userspace records=veil close=ok"
    if [ "${NGINX_OK:-0}" = 1 ]; then
        rm -f "$DOCROOT/up/front.bin"
        VC_FRONT=1 VC_STATUS='201|204' VC_SHA=-
        veil_case "veil/https listener intercept nginx h2 PUT 4 MiB" "" \
            "--http2 -T $DOCROOT/big.bin https://localhost:$NGX/up/front.bin" \
            "front_path=ktls mode=intercept alpn=h2 close=ok bytes_up=[0-9]{7,}" \
            '[ "$(sha_of "$DOCROOT/up/front.bin")" = "$BIG_SHA" ]'
    fi
fi

# ------------------------------------------------ kTLS: after the handshake

# s_server in interactive mode, its stdin fed from a fifo: lines go to the client, "k" sends a
# TLS 1.3 KeyUpdate. Options after the port replace the default -tls1_3. Sets IS_PID; write
# commands with `is_say TEXT`.
start_interactive_s_server() {
    local port=$1; shift
    [ $# -gt 0 ] || set -- -tls1_3
    rm -f "$W/is.in"; mkfifo "$W/is.in"
    openssl s_server -accept "127.0.0.1:$port" -cert "$SERVER_CERT" -key "$SERVER_KEY" "$@" \
        <"$W/is.in" >"$W/is.out" 2>&1 &
    IS_PID=$!
    bg_register "$IS_PID"
    exec 7>"$W/is.in"
    wait_listen "$port" 20
}
is_say() { printf '%s\n' "$1" >&7; }
stop_interactive_s_server() { exec 7>&-; stop_pid "$IS_PID" 3; }

if want veil; then
    group "veil: kTLS after the handshake"

    # Session tickets arrive right after the upstream handshake: they must reach the cache
    # before the switch, so the second connection resumes (and still runs on kTLS).
    echo; say "veil/kTLS tickets before the switch"
    if start_veil tickets; then
        for _i in 1 2; do
            _got=$(curl -sS --max-time "$CURL_MAX_TIME" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" \
                -o /dev/null -w '%{local_port}' "https://localhost:$SS13/index.html" 2>&1)
            summary_for "$_got" 10
            expect_summary "veil/kTLS tickets conn $_i" "client_path=ktls-splice upstream_path=ktls-splice close=ok resumed=$([ $_i = 1 ] && echo false || echo true)"
        done
        stop_veil
    else
        fail "veil/kTLS tickets/veil starts" "see $VEIL_LOG"
    fi

    # An upstream KeyUpdate after the switch: Linux 6.1 cannot rekey kTLS, so the connection
    # must end promptly with that reason (not hang, not pass garbage on).
    echo; say "veil/kTLS upstream KeyUpdate"
    alloc_port SSKU
    if start_interactive_s_server "$SSKU" && start_veil keyupdate --resolve "localhost:$SSKU:127.0.0.1"; then
        ( sleep 30 ) | timeout 40 openssl s_client -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$SSKU" \
            -servername localhost -CAfile "$VEIL_CA" -quiet >"$W/ku-client.out" 2>&1 &
        _cpid=$!
        bg_register "$_cpid"
        sleep 6
        is_say "before-keyupdate"
        sleep 3
        is_say "k"
        sleep 2
        is_say "after-keyupdate"
        _i=0
        while [ "$_i" -lt 150 ] && ! grep -q "summary conn=" "$VEIL_LOG"; do sleep 0.2; _i=$((_i + 1)); done
        SUMMARY=$(grep "summary conn=" "$VEIL_LOG" | head -n 1)
        expect_summary "veil/kTLS upstream KeyUpdate" "client_path=ktls-splice upstream_path=ktls-splice close=error reason=.*KeyUpdate.*"
        check "veil/kTLS upstream KeyUpdate: data before it reached the client" grep -q "before-keyupdate" "$W/ku-client.out"
        check "veil/kTLS upstream KeyUpdate: nothing after it did" sh -c "! grep -q after-keyupdate '$W/ku-client.out'"
        stop_pid "$_cpid" 3
        stop_veil
    else
        fail "veil/kTLS upstream KeyUpdate/set-up" "s_server or veil did not start"
    fi
    stop_interactive_s_server

    # close_notify in the middle of a connection: the client closes cleanly; Veil passes the
    # close_notify on as its own record (sendmsg with TLS_SET_RECORD_TYPE) and the origin sees it.
    echo; say "veil/kTLS close_notify mid-stream"
    alloc_port SSCN
    if start_interactive_s_server "$SSCN" && start_veil closenotify --resolve "localhost:$SSCN:127.0.0.1"; then
        ( sleep 4; echo "hello-from-client"; sleep 2; echo "Q"; sleep 2 ) | timeout 30 openssl s_client \
            -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$SSCN" -servername localhost -CAfile "$VEIL_CA" \
            >"$W/cn-client.out" 2>&1
        _i=0
        while [ "$_i" -lt 100 ] && ! grep -q "summary conn=" "$VEIL_LOG"; do sleep 0.2; _i=$((_i + 1)); done
        SUMMARY=$(grep "summary conn=" "$VEIL_LOG" | head -n 1)
        expect_summary "veil/kTLS close_notify" "client_path=ktls-splice upstream_path=ktls-splice close=ok"
        check "veil/kTLS close_notify: origin read the client's data" grep -q "hello-from-client" "$W/is.out"
        stop_veil
    else
        fail "veil/kTLS close_notify/set-up" "s_server or veil did not start"
    fi
    stop_interactive_s_server

    # An end without close_notify after the switch must reach the other peer without one too
    # (issue 10): a peer is killed, so its socket closes with a bare FIN, on the splice path
    # (both legs on kTLS: the EOF becomes shutdown(SHUT_WR), which on a kTLS socket writes no
    # close_notify) and on the mixed relay (a TLS 1.2 CBC origin keeps the upstream leg in
    # userspace); a close_notify is still passed on as one there. -msg makes both openssl ends
    # print every alert they receive ("<<< ... close_notify").
    # end_case NAME END EXPECT S_SERVER-ARGS...: END: origin-fin (the origin is killed),
    # client-fin (the client is killed) or close_notify (the client sends Q).
    end_case() {
        local name=$1 how=$2 expect=$3 port cpid i; shift 3
        echo; say "$name"
        alloc_port port
        if start_interactive_s_server "$port" -msg "$@" && start_veil "$(slug "$name")" --resolve "localhost:$port:127.0.0.1"; then
            rm -f "$W/ec.in"; mkfifo "$W/ec.in"
            openssl s_client -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$port" -servername localhost \
                -CAfile "$VEIL_CA" -msg <"$W/ec.in" >"$W/ec-client.out" 2>&1 &
            cpid=$!
            bg_register "$cpid"
            exec 6>"$W/ec.in"
            sleep 6
            is_say "from-the-origin"
            printf 'from-the-client\n' >&6
            sleep 3
            case $how in
                origin-fin) kill -KILL "$IS_PID" ;;
                client-fin) kill -KILL "$cpid" ;;
                close_notify) printf 'Q\n' >&6 ;;
            esac
            i=0
            while [ "$i" -lt 100 ] && ! grep -q "summary conn=" "$VEIL_LOG"; do sleep 0.2; i=$((i + 1)); done
            SUMMARY=$(grep "summary conn=" "$VEIL_LOG" | head -n 1)
            expect_summary "$name" "$expect"
            check "$name: the client read the origin's data" grep -q from-the-origin "$W/ec-client.out"
            check "$name: the origin read the client's data" grep -q from-the-client "$W/is.out"
            case $how in
                origin-fin) check "$name: no close_notify reached the client" \
                    sh -c "! grep -a '^<<< .*close_notify' '$W/ec-client.out'" ;;
                client-fin) check "$name: no close_notify reached the origin" \
                    sh -c "! grep -a '^<<< .*close_notify' '$W/is.out'" ;;
                close_notify) check "$name: the origin received close_notify" \
                    grep -aq '^<<< .*close_notify' "$W/is.out" ;;
            esac
            exec 6>&-
            stop_pid "$cpid" 3
            stop_veil
        else
            fail "$name/set-up" "s_server or veil did not start"
        fi
        stop_interactive_s_server
    }
    end_case "veil/kTLS splice: client close_notify" close_notify \
        "client_path=ktls-splice upstream_path=ktls-splice client_end=close_notify close=ok" -tls1_3
    end_case "veil/kTLS splice: origin FIN without close_notify" origin-fin \
        "client_path=ktls-splice upstream_path=ktls-splice upstream_end=fin" -tls1_3
    end_case "veil/kTLS splice: client FIN without close_notify" client-fin \
        "client_path=ktls-splice upstream_path=ktls-splice client_end=fin" -tls1_3
    end_case "veil/kTLS mixed relay: origin FIN without close_notify" origin-fin \
        "client_path=ktls upstream_path=userspace upstream_end=fin" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256
    end_case "veil/kTLS mixed relay: client FIN without close_notify" client-fin \
        "client_path=ktls upstream_path=userspace client_end=fin" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256
    end_case "veil/kTLS mixed relay: client close_notify" close_notify \
        "client_path=ktls upstream_path=userspace client_end=close_notify close=ok" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256

    # A wrong transmit sequence number (fault injected) must make the transfer fail fast, with a
    # reason in the summary, not hang: the proof that the test above would catch a bad install.
    echo; say "veil/kTLS wrong sequence number fails fast"
    export VEIL_FAULT_KTLS_SEQUENCE=1
    if start_veil faultseq; then
        unset VEIL_FAULT_KTLS_SEQUENCE
        _t=$(uptime_s)
        _got=$(curl -sS --max-time 60 -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" \
            -o /dev/null -w '%{local_port}' "https://localhost:$SS13/big.bin" 2>"$W/faultseq.err")
        _rc=$?
        _took=$(since "$_t")
        check "veil/kTLS wrong sequence: curl fails (exit $_rc)" [ "$_rc" != 0 ]
        check "veil/kTLS wrong sequence: within 30 s (took ${_took}s)" awk -v t="$_took" 'BEGIN { exit !(t < 30) }'
        _i=0
        while [ "$_i" -lt 100 ] && ! grep -q "summary conn=" "$VEIL_LOG"; do sleep 0.2; _i=$((_i + 1)); done
        SUMMARY=$(grep "summary conn=" "$VEIL_LOG" | head -n 1)
        expect_summary "veil/kTLS wrong sequence" "client_path=ktls-splice close=(client-gone|upstream-gone|error)"
        stop_veil
    else
        unset VEIL_FAULT_KTLS_SEQUENCE
        fail "veil/kTLS wrong sequence/veil starts" "see $VEIL_LOG"
    fi
fi

# --------------------------------------------------------------- benchmark

# bench (only when named: run.sh bench): the same download through Veil with --ktls off and
# --ktls auto, Veil's CPU seconds per MiB for each (utime+stime of all its threads, io_uring
# workers included: that is where kTLS encrypts and decrypts), and the ratio.
if explicit bench; then
    group bench
    veil_ca || fail "bench/veil ca path" "$(cat "$W/veil-ca.err")"
    BENCH_MIB=${BENCH_MIB:-16}
    head -c $((BENCH_MIB * 1048576)) /dev/urandom >"$DOCROOT/bench.bin"
    cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
    TCK=100
    VEIL_COMMON="--upstream-ca $TESTCA --grace 2 --resolve localhost:$NGX:127.0.0.1"
    for _mode in off auto; do
        for _round in 1 2; do
            start_veil "bench-$_mode-$_round" --ktls "$_mode" || { fail "bench/veil starts" "$_mode"; continue; }
            _t=$(uptime_s)
            _c0=$(cpu_ticks "$VEIL_PID")
            _got=$(curl -sS --max-time 600 -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" \
                -o /dev/null -w '%{http_code} %{size_download} %{local_port}' "https://localhost:$NGX/bench.bin" 2>&1)
            _c1=$(cpu_ticks "$VEIL_PID")
            _wall=$(since "$_t")
            summary_for "${_got##* }" 10
            _path=$(field upstream_path "$SUMMARY")
            echo "bench: ktls=$_mode round $_round: $_got wall ${_wall}s veil_cpu_ticks $((_c1 - _c0)) path=$_path"
            eval "CPU_${_mode}_${_round}=$((_c1 - _c0)) WALL_${_mode}_${_round}=$_wall"
            stop_veil
        done
    done
    # Best of two rounds each (the VM is emulated and the host is shared).
    best() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
    OFF=$(best "$CPU_off_1" "$CPU_off_2"); AUTO=$(best "$CPU_auto_1" "$CPU_auto_2")
    awk -v off="$OFF" -v auto="$AUTO" -v mib="$BENCH_MIB" -v tck="$TCK" 'BEGIN {
        printf "bench: %d MiB download, nginx TLS 1.3 -> veil (intercept) -> curl, inside the VM\n", mib
        printf "bench: veil CPU, --ktls off  (userspace OpenSSL): %.3f s  = %.4f s/MiB\n", off / tck, off / tck / mib
        printf "bench: veil CPU, --ktls auto (kTLS + splice):     %.3f s  = %.4f s/MiB\n", auto / tck, auto / tck / mib
        printf "bench: kTLS / userspace CPU ratio: %.2f (target <= 0.70)\n", (off > 0 ? auto / off : 0)
    }'
    # Which implementation the kernel uses matters more than anything Veil does here.
    awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ { if (n == "gcm(aes)" || n == "rfc4106(gcm(aes))" || n == "ghash" || n == "rfc7539(chacha20,poly1305)") print "bench: kernel crypto " n " -> " d " (priority " $3 ")" }' /proc/crypto | sort -u
    grep -m1 -o 'aes\|avx2\|pclmulqdq\|vaes' /proc/cpuinfo >/dev/null && echo "bench: guest CPU flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(aes|avx|avx2|pclmulqdq|vaes|vpclmulqdq)$' | tr '\n' ' ')"
    pass "bench/completed"
fi

echo
echo "guest tests took $(since "$T_START")s"
cleanup_all
finish
