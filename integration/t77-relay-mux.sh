# --relay-mux on (issue 15, items 1-2): tunnels as HTTP/2 CONNECT streams over one TLS
# connection to a standard HTTP/2 forward proxy: curl -> Veil (intercept, --route tunnel
# --relay-mux on) -> nghttpx --http2-proxy (pinned by its certificate's fingerprint) -> squid
# -> nginx. 20 sequential requests to different names: bodies intact, one TCP connection to the
# relay on the capture, every summary with the same relay_conn=; 8 parallel 16 MiB downloads on
# it; a slow client beside a fast download on it; nghttpx killed mid-transfer: that transfer fails with the reason in Veil's log (relay
# down) and in its summary, and a new request succeeds once nghttpx is back (reconnect after
# the backoff, a second relay up line; meanwhile a new tunnel gets 502 within connect-timeout);
# nghttpx stopped (SIGSTOP): PINGs unanswered, the
# connection declared dead and replaced; nghttpx's graceful stop (GOAWAY): the transfer under
# way finishes, the next tunnel goes on a new connection; a relay that completes TLS and then
# never acknowledges Veil's SETTINGS (openssl s_server): lost at the first keepalive (RFC 9113
# 6.5.3).

MX_DOMAIN=mux.test
MX_SECRET=mux-secret-$RANDOM$RANDOM
MX_PIDS=()
free_port MX_ORIGIN; free_port MX_SQUID; free_port MX_NGHTTPX
make_leaf mux-origin "DNS:*.$MX_DOMAIN" || fail "relay-mux/harness origin certificate" "make_leaf"
NGINX_CERT=$LEAF_CERT NGINX_KEY=$LEAF_KEY start_nginx mux "$DOCROOT" "$MX_ORIGIN:TLSv1.3:h2" && MX_PIDS+=("$NGINX_PID") ||
    fail "relay-mux/harness nginx" "did not start"
make_leaf mux-relay "DNS:relay.$MX_DOMAIN" || fail "relay-mux/harness relay certificate" "make_leaf"
MX_RELAY_CERT=$LEAF_CERT MX_RELAY_KEY=$LEAF_KEY
MX_FP=$(openssl x509 -in "$MX_RELAY_CERT" -noout -fingerprint -sha256 | sed 's/.*=//')

# squid resolves the test names from its own hosts file (nothing leaves loopback).
MX_DIR=$WORK/relay-mux
mkdir -p "$MX_DIR" && chmod 777 "$MX_DIR"
for i in $(seq 1 40); do echo "127.0.0.1 n$i.$MX_DOMAIN"; done >"$MX_DIR/hosts"
cat >"$MX_DIR/squid.conf" <<SQ
http_port 127.0.0.1:$MX_SQUID
acl mux_port port $MX_ORIGIN
http_access allow CONNECT mux_port
http_access deny all
hosts_file $MX_DIR/hosts
cache deny all
access_log stdio:$MX_DIR/squid-access.log
cache_log $MX_DIR/squid-cache.log
pid_filename $MX_DIR/squid.pid
coredump_dir $MX_DIR
shutdown_lifetime 0 seconds
SQ
squid -N -f "$MX_DIR/squid.conf" >"$MX_DIR/squid.out" 2>&1 &
MX_SQUID_PID=$!
bg_register "$MX_SQUID_PID"; MX_PIDS+=("$MX_SQUID_PID")
wait_port "$MX_SQUID" 15 || fail "relay-mux/harness squid" "did not start: $(tail -n 5 "$MX_DIR/squid.out" "$MX_DIR/squid-cache.log" 2>/dev/null | tr '\n' ' ')"

# mx_nghttpx_start: nghttpx as an HTTP/2 forward proxy in front of squid.
mx_nghttpx_start() {
    nghttpx --conf=/dev/null --http2-proxy -f "127.0.0.1,$MX_NGHTTPX" -b "127.0.0.1,$MX_SQUID" --workers=1 --backend-read-timeout=2s \
        --errorlog-file="$MX_DIR/nghttpx-error.log" --accesslog-file="$MX_DIR/nghttpx-access.log" \
        "$MX_RELAY_KEY" "$MX_RELAY_CERT" >>"$MX_DIR/nghttpx.out" 2>&1 &
    MX_NGHTTPX_PID=$!
    bg_register "$MX_NGHTTPX_PID"
    wait_port "$MX_NGHTTPX" 10
}
mx_nghttpx_start || fail "relay-mux/harness nghttpx" "did not start: $(tail -n 5 "$MX_DIR/nghttpx.out" | tr '\n' ' ')"

# mx_get N PATH [OUT]: one request through Veil to nN.mux.test; prints "status local_port".
mx_get() {
    vcurl -o "${3:-/dev/null}" -w '%{http_code} %{local_port}' "https://n$1.$MX_DOMAIN:$MX_ORIGIN$2" 2>&1
}

MX_ARGS=(--route tunnel --relay-mux on --relay "127.0.0.1:$MX_NGHTTPX" --relay-fingerprint "$MX_FP"
    --resolver static --upstream-ca "$TESTCA" --relay-keepalive 1 --relay-dead-after 2 --connect-timeout 5 --workers 1)
if VEIL_RELAY_SECRET=$MX_SECRET veil_or_fail relay-mux "${MX_ARGS[@]}" && veil_ca; then
    # 20 sequential requests to 20 names.
    MX_PCAP=$WORK/relay-mux.pcap
    log_mark
    if capture_start "$MX_PCAP" "tcp port $MX_NGHTTPX"; then
        ok=0; conns=(); ports=()
        for i in $(seq 1 20); do
            got=$(mx_get "$i" /index.html "$MX_DIR/seq-$i.html")
            [[ "${got%% *}" == 200 ]] && cmp -s "$MX_DIR/seq-$i.html" "$DOCROOT/index.html" && ok=$((ok + 1))
            ports+=("${got##* }")
        done
        capture_stop
        # A summary comes once both ends are over: nghttpx does not pass a stream's END_STREAM
        # on to its HTTP/1.1 backend as a FIN, so the origin's end comes with nghttpx's
        # backend-read-timeout (2 s here) resetting the stream.
        for p in "${ports[@]}"; do summary_for "$p" 15 && conns+=("$(field relay_conn "$SUMMARY")"); done
        expect_eq "relay-mux/20 sequential requests to 20 names: all 200 with the body intact" 20 "$ok"
        expect_eq "relay-mux/20 summaries, each with a relay_conn=" 20 "$(printf '%s\n' "${conns[@]}" | grep -c '^[0-9][0-9]*$')"
        MX_FIRST_CONN=${conns[0]:-}
        expect_eq "relay-mux/one relay_conn= for all 20" 1 "$(printf '%s\n' "${conns[@]}" | sort -u | wc -l)"
        syns=$(tshark -r "$MX_PCAP" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == $MX_NGHTTPX" 2>/dev/null | wc -l)
        expect_eq "relay-mux/capture: one TCP connection to the relay for 20 requests" 1 "$syns"
        summary_for "${ports[0]}"
        expect_summary "relay-mux/summary route" route tunnel
        expect_summary "relay-mux/summary close" close ok
        expect_summary "relay-mux/summary relay_streams (open on the connection when answered)" relay_streams 1
        check "relay-mux/relay up line" grep -qE "relay up: 127\.0\.0\.1:$MX_NGHTTPX relay_conn=${MX_FIRST_CONN:-none} " "$VEIL_LOG"
        check "relay-mux/nghttpx saw HTTP/2 CONNECT" grep -q "CONNECT n1.$MX_DOMAIN:$MX_ORIGIN HTTP/2" "$MX_DIR/nghttpx-access.log"
        # ECH configs are asked through the relay (RESOLVE streams); nghttpx resets them
        # (PROTOCOL_ERROR: not a veil relay), which is remembered for the connection: once.
        expect_eq "relay-mux/nghttpx does not answer RESOLVE: noticed once for 20 names" 1 \
            "$(grep -c "relay_conn=${MX_FIRST_CONN:-none}: the relay does not answer RESOLVE (it reset the stream: PROTOCOL_ERROR)" "$VEIL_LOG")"
        check "relay-mux/the secret is not in Veil's log" bash -c "! grep -q '$MX_SECRET' '$VEIL_LOG'"
    else
        fail "relay-mux/capture" "tshark did not start"
    fi

    # 8 parallel 16 MiB downloads over the one connection.
    log_mark
    pids=()
    for i in $(seq 21 28); do
        (mx_get "$i" /big.bin "$MX_DIR/par-$i.bin" >"$MX_DIR/par-$i.out") &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    ok=0; conns=()
    for i in $(seq 21 28); do
        got=$(cat "$MX_DIR/par-$i.out")
        [[ "${got%% *}" == 200 && "$(sha_of "$MX_DIR/par-$i.bin")" == "$BIG_SHA" ]] && ok=$((ok + 1))
        summary_for "${got##* }" 10 && conns+=("$(field relay_conn "$SUMMARY")")
        rm -f "$MX_DIR/par-$i.bin"
    done
    expect_eq "relay-mux/8 parallel 16 MiB downloads intact" 8 "$ok"
    expect_eq "relay-mux/8 parallel: all on the same relay connection as the 20 before" "${MX_FIRST_CONN:-none} 1" \
        "${conns[0]:-none} $(printf '%s\n' "${conns[@]}" | sort -u | wc -l)"

    # A slow client (curl reading 100 KB/s) stops only its own stream: a download beside it on
    # the same relay connection runs at full speed.
    log_mark
    (CURL_MAX_TIME=20 vcurl --limit-rate 100K -o /dev/null -w '%{http_code} %{local_port}' \
        "https://n36.$MX_DOMAIN:$MX_ORIGIN/big.bin" >"$MX_DIR/slow.out" 2>/dev/null) &
    slowpid=$!
    sleep 1
    t0=$(date +%s.%N)
    got=$(CURL_MAX_TIME=20 mx_get 37 /big.bin "$MX_DIR/fast.bin")
    t1=$(date +%s.%N)
    check "relay-mux/slow stream: 16 MiB beside it arrive intact" \
        bash -c "[[ '${got%% *}' == 200 && '$(sha_of "$MX_DIR/fast.bin")' == '$BIG_SHA' ]]"
    check "relay-mux/slow stream: ... within 5 s (the slow one would take 160 s)" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5) }'
    kill $(pgrep -P "$slowpid") "$slowpid" 2>/dev/null; wait "$slowpid" 2>/dev/null
    rm -f "$MX_DIR/fast.bin"

    # nghttpx killed mid-transfer.
    log_mark
    (CURL_MAX_TIME=30 vcurl --limit-rate 2M -o "$MX_DIR/cut.bin" -w '%{http_code} %{local_port}' \
        "https://n30.$MX_DOMAIN:$MX_ORIGIN/big.bin" >"$MX_DIR/cut.out" 2>"$MX_DIR/cut.err"; echo $? >"$MX_DIR/cut.rc") &
    cutpid=$!
    sleep 2
    # nghttpx is a master and a worker process: both die at once.
    kill -KILL $(pgrep -P "$MX_NGHTTPX_PID") "$MX_NGHTTPX_PID" 2>/dev/null
    wait "$MX_NGHTTPX_PID" 2>/dev/null
    wait "$cutpid"
    check "relay-mux/kill: the transfer under way fails (curl exit not 0)" test "$(cat "$MX_DIR/cut.rc")" != 0
    check "relay-mux/kill: it did not get the whole file" test "$(sha_of "$MX_DIR/cut.bin")" != "$BIG_SHA"
    check "relay-mux/kill: relay down line with the reason" bash -c "grep -qE 'relay down: 127\.0\.0\.1:$MX_NGHTTPX .*reason=.+' '$VEIL_LOG'"
    summary_for "$(awk '{print $2}' "$MX_DIR/cut.out")" 10 || wait_summary 10 "target=n30\.$MX_DOMAIN"
    expect_summary "relay-mux/kill: the summary names the relay failure" relay_error ".*relay.*"
    # While the relay is down, a new tunnel waits at most connect-timeout (5 s), then 502 with
    # the reason.
    log_mark
    t0=$(date +%s.%N)
    got=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://n35.$MX_DOMAIN:$MX_ORIGIN/index.html" 2>/dev/null)
    t1=$(date +%s.%N)
    expect_eq "relay-mux/down: a new tunnel is answered 502" 502 "${got%% *}"
    check "relay-mux/down: within connect-timeout (5 s) and a little" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 7) }'
    summary_for "${got##* }" 10
    expect_summary "relay-mux/down: summary close" close relay-failed
    expect_summary "relay-mux/down: summary reason names the relay" reason ".*relay.*"
    mx_nghttpx_start || fail "relay-mux/harness nghttpx restart" "did not start"
    log_mark
    # The relay failed several times while down, so its backoff may be longer (up to 8 s after
    # five failures, with jitter) than a tunnel's connect-timeout (5 s): a request soon after
    # the restart may still get 502; one within the backoff and a little succeeds.
    t0=$(date +%s)
    for attempt in 1 2 3; do
        got=$(mx_get 31 /index.html "$MX_DIR/after.html" 2>/dev/null)
        [[ "${got%% *}" == 200 ]] && break
    done
    echo "    (after the restart: $attempt request(s), $(($(date +%s) - t0)) s)"
    check "relay-mux/kill: a new request after the restart succeeds (reconnect after the backoff)" \
        bash -c "[[ '${got%% *}' == 200 ]] && cmp -s '$MX_DIR/after.html' '$DOCROOT/index.html'"
    check "relay-mux/kill: relay up again" bash -c "log_new() { tail -n +$((LOG_MARK + 1)) '$VEIL_LOG'; }; log_new | grep -q 'relay up:'"

    # A relay that stops answering (SIGSTOP): PINGs (1 s apart, dead after 2) go unanswered.
    log_mark
    MX_STOPPED="$(pgrep -P "$MX_NGHTTPX_PID") $MX_NGHTTPX_PID"
    kill -STOP $MX_STOPPED
    wait_log_new() { local i; for ((i = 0; i < 100; i++)); do log_new | grep -qE "$1" && return 0; sleep 0.1; done; return 1; }
    check "relay-mux/stopped relay: declared dead for unanswered PINGs" wait_log_new "relay down: .*PINGs unanswered"
    kill -CONT $MX_STOPPED
    got=$(mx_get 32 /index.html "$MX_DIR/after2.html")
    expect_eq "relay-mux/stopped relay: a new request succeeds on a new connection" 200 "${got%% *}"
    summary_for "${got##* }" 15
    check "relay-mux/stopped relay: the new request is on another relay connection" \
        test "$(field relay_conn "$SUMMARY")" != "${MX_FIRST_CONN:-}"

    # GOAWAY from the relay (nghttpx's graceful stop, SIGQUIT): the transfer under way finishes
    # intact on the draining connection; the next tunnel goes on a new one.
    log_mark
    (CURL_MAX_TIME=30 vcurl --limit-rate 4M -o "$MX_DIR/drain.bin" -w '%{http_code} %{local_port}' \
        "https://n33.$MX_DOMAIN:$MX_ORIGIN/big.bin" >"$MX_DIR/drain.out" 2>"$MX_DIR/drain.err") &
    drainpid=$!
    sleep 1.5
    kill -QUIT "$MX_NGHTTPX_PID"
    wait "$drainpid"
    got=$(cat "$MX_DIR/drain.out")
    check "relay-mux/goaway: the transfer under way finishes intact" \
        bash -c "[[ '${got%% *}' == 200 && '$(sha_of "$MX_DIR/drain.bin")' == '$BIG_SHA' ]]"
    check "relay-mux/goaway: logged" bash -c "grep -q 'relay goaway: 127\.0\.0\.1:$MX_NGHTTPX' '$VEIL_LOG'"
    summary_for "${got##* }" 15
    drained_conn=$(field relay_conn "$SUMMARY")
    stop_pid "$MX_NGHTTPX_PID" 10
    mx_nghttpx_start || fail "relay-mux/harness nghttpx restart" "did not start"
    got=$(mx_get 34 /index.html "$MX_DIR/after3.html")
    expect_eq "relay-mux/goaway: a new tunnel after it succeeds" 200 "${got%% *}"
    summary_for "${got##* }" 15
    check "relay-mux/goaway: the new tunnel is on a new relay connection" test "$(field relay_conn "$SUMMARY")" != "${drained_conn:-none}"
    stop_veil

    # A relay that completes TLS (ALPN h2, the pinned certificate) and then says nothing:
    # openssl s_server, its stdin a FIFO it holds open itself (no EOF, so no close_notify; the
    # redirection is on the command itself, else a background job's stdin is /dev/null).
    # Veil's SETTINGS are never acknowledged: the connection is lost at the first keepalive
    # deadline with that reason (RFC 9113 section 6.5.3, SETTINGS_TIMEOUT), not 2 PINGs later.
    free_port MX_MUTE
    rm -f "$MX_DIR/mute.in"; mkfifo -m 600 "$MX_DIR/mute.in"
    openssl s_server -accept "127.0.0.1:$MX_MUTE" -cert "$MX_RELAY_CERT" -key "$MX_RELAY_KEY" -alpn h2 -quiet \
        <>"$MX_DIR/mute.in" >"$MX_DIR/mute.log" 2>&1 &
    MX_MUTE_PID=$!
    bg_register "$MX_MUTE_PID"
    # s_server serves one connection at a time: wait for its socket rather than probe it.
    for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$MX_MUTE" | grep -q LISTEN && break; sleep 0.1; done
    if VEIL_RELAY_SECRET=$MX_SECRET veil_or_fail relay-mux-mute --route tunnel --relay-mux on --relay "127.0.0.1:$MX_MUTE" \
        --relay-fingerprint "$MX_FP" --resolver static --upstream-ca "$TESTCA" --relay-keepalive 1 --relay-dead-after 2 \
        --connect-timeout 5 --workers 1 && veil_ca; then
        log_mark
        got=$(vcurl -o /dev/null -w '%{http_connect} %{local_port}' "https://n38.$MX_DOMAIN:$MX_ORIGIN/index.html" 2>/dev/null)
        expect_eq "relay-mux/SETTINGS never acknowledged: the tunnel is answered 502" 502 "${got%% *}"
        summary_for "${got##* }" 10
        check "relay-mux/SETTINGS never acknowledged: lost at the first keepalive with that reason" \
            grep -qE "relay down: 127\.0\.0\.1:$MX_MUTE relay_conn=[0-9]+ streams=1 reason=relay 127\.0\.0\.1:$MX_MUTE: SETTINGS not acknowledged within 1\.0 s" "$VEIL_LOG"
        expect_summary "relay-mux/SETTINGS never acknowledged: the summary's reason" reason "relay 127\.0\.0\.1:$MX_MUTE: SETTINGS not acknowledged within 1\.0 s"
        stop_veil
    fi
    stop_pid "$MX_MUTE_PID" 2
else
    dump_veil_log
fi
stop_pid "$MX_NGHTTPX_PID" 2
for p in "${MX_PIDS[@]}"; do stop_pid "$p" 5; done
