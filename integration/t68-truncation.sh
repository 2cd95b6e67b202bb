# An end that was not authenticated is never passed on as one that was (issue 10, defect 2), and
# a record Veil refuses is answered with a fatal alert (defect 11). Real TLS peers
# (tools/truncpeer.py: Python's ssl over memory BIOs, so every byte on the wire is chosen here)
# end their side with close_notify, a bare FIN, half a record then FIN, or a record with a
# flipped bit: the origin ("down") and the client ("up"). The other peer's own TLS says what
# reached it: close_notify, eof (an end without close_notify: what a truncation must look like)
# or the alert; the summary says how each side ended (client_end=, upstream_end=, front_end=,
# tunnel_end=). On: Veil's own record layer after the takeover (records=veil), OpenSSL's
# (--record-layer openssl), the HTTPS listener (inner and outer sessions, intercepted and
# passed through) and a relay tunnel; plus an openssl s_client -msg trace. kTLS (the splice path
# and the mixed relay): integration/ktls-vm.

TR_DIR=$WORK/truncation
mkdir -p "$TR_DIR"
TR_LOG=$TR_DIR/origin.log
: >"$TR_LOG"
free_port TR_ORIGIN
python3 "$TOOLS/truncpeer.py" origin --port "$TR_ORIGIN" --cert "$SERVER_CERT" --key "$SERVER_KEY" \
    --log "$TR_LOG" >"$TR_DIR/origin.out" 2>&1 &
bg_register $!
wait_log "$TR_DIR/origin.out" "listening on" 10 || fail "harness/truncation origin" "$(cat "$TR_DIR/origin.out")"
TR_N=0
TR_BIG=200000   # more than the 64 KiB after which Veil's own record layer takes over

# tr_client ARGS...: the client tool through the proxy port TR_PORT (default the plain
# listener) to TR_TARGET trusting TR_CA (default localhost:TR_ORIGIN, Veil's CA). Sets TR_OUT
# (its key=value lines) and TR_TAG (the origin logs the connection under it).
tr_client() {
    TR_N=$((TR_N + 1))
    TR_TAG=c$TR_N
    TR_OUT=$(python3 "$TOOLS/truncpeer.py" client --proxy-port "${TR_PORT:-$VEIL_PORT}" --tag "$TR_TAG" \
        --target "${TR_TARGET:-localhost:$TR_ORIGIN}" --ca "${TR_CA:-$VEIL_CA}" "$@" 2>&1)
}
tr_kv() { sed -n "s/^$1=//p" <<<"$TR_OUT" | head -n 1; }
# tr_origin_saw: how the origin's TLS saw the client's side end, for the last connection.
tr_origin_saw() {
    wait_log "$TR_LOG" "^tag=$TR_TAG " 10
    sed -n "s/^tag=$TR_TAG .* seen=//p" "$TR_LOG" | head -n 1
}

# tr_down NAME MODE SIZE CLIENT_SEES UPSTREAM_END [client args]: the origin sends SIZE bytes
# then ends as MODE says; the client must receive them all and see CLIENT_SEES.
tr_down() {
    local name=$1 mode=$2 size=$3 sees=$4 end=$5; shift 5
    log_mark
    tr_client --mode "$mode" --size "$size" "$@"
    expect_eq "$name: the client received all $size bytes" "$size" "$(tr_kv got)"
    expect_eq "$name: the client's TLS saw" "$sees" "$(tr_kv seen)"
    summary_for "$(tr_kv local)"
    expect_summary "$name: summary upstream_end" upstream_end "$end"
}

# tr_up NAME MODE ORIGIN_SEES CLIENT_END [client args]: the client reads TR_BIG bytes, sends
# 1000 and ends as MODE says; the origin must see ORIGIN_SEES.
tr_up() {
    local name=$1 mode=$2 sees=$3 end=$4; shift 4
    log_mark
    tr_client --up "$mode" --size "$TR_BIG" "$@"
    expect_eq "$name: the origin's TLS saw" "$sees" "$(tr_origin_saw)"
    summary_for "$(tr_kv local)"
    expect_summary "$name: summary client_end" client_end "$end"
}

# tr_cases PREFIX SIZE RECORDS: the ends both ways, and bad records both ways, through the
# plain listener; RECORDS is what the summary must say protected the relay (veil or openssl).
tr_cases() {
    local p=$1 size=$2 records=$3
    tr_down "$p/origin close_notify" close_notify "$size" close_notify close_notify
    expect_summary "$p/origin close_notify: summary records" records "$records"
    expect_summary "$p/origin close_notify: summary close" close ok
    tr_down "$p/origin FIN without close_notify" fin "$size" eof fin
    expect_summary "$p/origin FIN without close_notify: summary records" records "$records"
    tr_down "$p/origin FIN in the middle of a record" mid-record "$size" eof fin-mid-record
    tr_up "$p/client close_notify" close_notify close_notify close_notify
    tr_up "$p/client FIN without close_notify" fin eof fin
    expect_summary "$p/client FIN without close_notify: summary records" records "$records"
    tr_up "$p/client FIN in the middle of a record" mid-record eof fin-mid-record

    # A record with a flipped bit: its sender gets bad_record_mac, sealed with its leg's keys.
    log_mark
    tr_client --mode bad-record --size "$size"
    expect_eq "$p/origin's bad record: the origin got the alert" alert:bad_record_mac "$(tr_origin_saw)"
    summary_for "$(tr_kv local)"
    expect_summary "$p/origin's bad record: summary upstream_end" upstream_end bad-record
    expect_summary "$p/origin's bad record: summary close" close upstream-gone
    log_mark
    tr_client --up bad-record --size "$TR_BIG"
    expect_eq "$p/client's bad record: the client got the alert" alert:bad_record_mac "$(tr_kv seen)"
    summary_for "$(tr_kv local)"
    expect_summary "$p/client's bad record: summary client_end" client_end bad-record
    expect_summary "$p/client's bad record: summary records" records "$records"
}

TR_VEIL=(--ktls off --resolver static --upstream-ca "$TESTCA" --resolve "localhost:$TR_ORIGIN:127.0.0.1")

# Veil's own record layer (the default): TR_BIG bytes move first, so it has taken over.
if veil_or_fail truncation-veil "${TR_VEIL[@]}" && veil_ca; then
    tr_cases truncation/veil-records "$TR_BIG" veil
    expect_summary "truncation/veil-records/client's bad record: summary reason" reason '.*sent alert fatal bad_record_mac.*'

    # openssl s_client's own trace: an origin's FIN is no close_notify, its close_notify is.
    for mode in fin close_notify; do
        TR_N=$((TR_N + 1))
        (printf 's%s %s 1000\n' "$TR_N" "$mode"; sleep 2) | timeout 15 openssl s_client -proxy "127.0.0.1:$VEIL_PORT" \
            -connect "localhost:$TR_ORIGIN" -servername localhost -CAfile "$VEIL_CA" -msg -ign_eof \
            >"$TR_DIR/s_client-$mode.trace" 2>&1
    done
    check "truncation/s_client -msg: origin FIN: no close_notify received" \
        sh -c "! grep -a '^<<< .*close_notify' '$TR_DIR/s_client-fin.trace'"
    check "truncation/s_client -msg: origin FIN: unexpected eof" grep -aq 'unexpected eof while reading' "$TR_DIR/s_client-fin.trace"
    check "truncation/s_client -msg: origin close_notify: received as close_notify" \
        grep -aq '^<<< TLS 1.3, Alert .*close_notify' "$TR_DIR/s_client-close_notify.trace"
    stop_veil 10
fi

# OpenSSL's record layer throughout (SSL_read / SSL_write), small and large bodies.
if veil_or_fail truncation-openssl "${TR_VEIL[@]}" --record-layer openssl && veil_ca; then
    tr_down "truncation/openssl-records/small: origin FIN" fin 1000 eof fin
    tr_down "truncation/openssl-records/small: origin FIN mid-record" mid-record 1000 eof fin-mid-record
    # Veil ended its upstream sessions with a bare FIN (the client's end passed on): OpenSSL must
    # not take that for a broken session, so the ticket cached from them still resumes.
    tr_down "truncation/openssl-records/small: after bare FINs" close_notify 1000 close_notify close_notify
    expect_summary "truncation/openssl-records/small: after bare FINs: the upstream session resumed" resumed true
    tr_cases truncation/openssl-records "$TR_BIG" openssl
    stop_veil 10
fi

# The HTTPS listener: the client's CONNECT and inner TLS travel inside an outer session with
# Veil. The outer session ends with close_notify only when the end it mirrors was authenticated
# (an intercepted leg's close_notify passed on); a FIN passed through, or an end without
# close_notify, becomes a bare FIN there too. An outer end is never taken for an inner one.
free_port TR_FRONT
if veil_or_fail truncation-listener "${TR_VEIL[@]}" --listen-tls "127.0.0.1:$TR_FRONT" \
        --resolve "origin.test:$TR_ORIGIN:127.0.0.1" --passthrough origin.test && veil_ca; then
    TR_PORT=$TR_FRONT
    TRF=(--front --front-ca "$VEIL_CA")
    tr_down "truncation/listener/origin close_notify" close_notify "$TR_BIG" close_notify close_notify "${TRF[@]}"
    expect_eq "truncation/listener/origin close_notify: the outer session ended with close_notify" close_notify "$(tr_kv outer_seen)"
    expect_summary "truncation/listener/origin close_notify: summary front_records" front_records veil
    tr_down "truncation/listener/origin FIN" fin "$TR_BIG" eof fin "${TRF[@]}"
    expect_eq "truncation/listener/origin FIN: the outer session ended without close_notify" eof "$(tr_kv outer_seen)"
    tr_down "truncation/listener/origin FIN mid-record" mid-record 1000 eof fin-mid-record "${TRF[@]}"
    expect_eq "truncation/listener/origin FIN mid-record: the outer session ended without close_notify" eof "$(tr_kv outer_seen)"

    tr_up "truncation/listener/client FIN on both sessions" fin eof fin "${TRF[@]}"
    expect_summary "truncation/listener/client FIN on both sessions: summary front_end" front_end fin
    tr_up "truncation/listener/client inner close_notify, outer FIN" close_notify close_notify close_notify "${TRF[@]}"
    expect_summary "truncation/listener/client inner close_notify, outer FIN: summary front_end" front_end fin
    tr_up "truncation/listener/client inner FIN, outer close_notify" fin eof fin "${TRF[@]}" --outer-up close_notify
    expect_summary "truncation/listener/client inner FIN, outer close_notify: summary front_end" front_end close_notify

    # A bad record on the outer session (after the takeover): the client gets bad_record_mac.
    log_mark
    tr_client --up fin --outer-up bad-record --size "$TR_BIG" "${TRF[@]}"
    expect_eq "truncation/listener/client's bad outer record: the client got the alert" alert:bad_record_mac "$(tr_kv outer_seen)"
    summary_for "$(tr_kv local)"
    expect_summary "truncation/listener/client's bad outer record: summary front_end" front_end bad-record
    expect_summary "truncation/listener/client's bad outer record: summary close" close client-gone

    # Passed through inside the listener: the origin's close_notify reaches the client end to
    # end; Veil only saw a FIN, so the outer session ends with a bare FIN.
    TR_TARGET=origin.test:$TR_ORIGIN TR_CA=$TESTCA \
        tr_down "truncation/listener/pass-through: origin close_notify" close_notify "$TR_BIG" close_notify tcp-fin "${TRF[@]}"
    expect_eq "truncation/listener/pass-through: the outer session ended without close_notify" eof "$(tr_kv outer_seen)"
    expect_summary "truncation/listener/pass-through: summary mode" mode passthrough
    unset TR_PORT
    stop_veil 10
fi

# A relay tunnel (--route tunnel): Veil intercepts, its upstream leg runs inside TLS to a veil
# relay, which passes it through to the origin. The relay can only pass on FINs (it never sees
# the inner TLS), so its side of the tunnel ends with a bare FIN (tunnel_end=fin); Veil's own
# close_notify to the relay means its upstream leg's end was authenticated.
TR_SECRET=truncation-secret-$RANDOM$RANDOM
free_port TR_RELAY
if start_relay truncation "$TR_RELAY" --secret "$TR_SECRET" --allow-private --allow-port "$TR_ORIGIN" \
        --resolver static --resolve "localhost:$TR_ORIGIN:127.0.0.1"; then
    TR_RELAY_LOG=$RL_LOG
    # tr_relay_end: front_end= of the relay's next summary line (how Veil ended the tunnel).
    tr_relay_end() {
        local i line
        for ((i = 0; i < 50; i++)); do
            line=$(tail -n "+$((TR_RELAY_MARK + 1))" "$TR_RELAY_LOG" | grep -m1 'summary conn=')
            [[ -n "$line" ]] && break
            sleep 0.1
        done
        field front_end "$line"
    }
    if veil_or_fail truncation-tunnel --ktls off --resolver static --upstream-ca "$TESTCA" --route tunnel \
            --relay "127.0.0.1:$TR_RELAY" --relay-fingerprint "$RL_FP" --relay-secret "$TR_SECRET" && veil_ca; then
        tr_down "truncation/tunnel/origin close_notify" close_notify "$TR_BIG" close_notify close_notify
        expect_summary "truncation/tunnel/origin close_notify: summary tunnel_end" tunnel_end fin
        tr_down "truncation/tunnel/origin FIN" fin "$TR_BIG" eof fin
        expect_summary "truncation/tunnel/origin FIN: summary route" route tunnel
        tr_down "truncation/tunnel/origin FIN mid-record" mid-record 1000 eof fin-mid-record
        TR_RELAY_MARK=$(wc -l <"$TR_RELAY_LOG")
        tr_up "truncation/tunnel/client close_notify" close_notify close_notify close_notify
        expect_eq "truncation/tunnel/client close_notify: the tunnel ended with close_notify at the relay" close_notify "$(tr_relay_end)"
        TR_RELAY_MARK=$(wc -l <"$TR_RELAY_LOG")
        tr_up "truncation/tunnel/client FIN" fin eof fin
        expect_eq "truncation/tunnel/client FIN: the tunnel ended with a bare FIN at the relay" fin "$(tr_relay_end)"
        tr_up "truncation/tunnel/client FIN mid-record" mid-record eof fin-mid-record
        stop_veil 10
    fi
    stop_pid "$RL_PID" 5
else
    fail "truncation/tunnel/relay starts" "$(tail -n 5 "$RL_LOG")"
fi
