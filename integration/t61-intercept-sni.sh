# Intercept, upstream SNI: --sni omit and --sni cover:NAME against a TLS 1.3 origin that
# accepts any SNI (s_server without -servername). A tshark capture of the upstream leg
# shows no server_name extension / exactly the cover name, and the real name's bytes
# never appear anywhere in it (TLS 1.3 encrypts the certificate, so the ClientHello is
# the only place it could leak). Veil still verifies the certificate against the real
# name: an origin whose certificate names only the cover (or another) name is refused.
# --sni real is the control that proves the capture checks can fail; --sni-rule picks
# the policy per host.

SNI_REAL=real-target.test
SNI_COVER=cover.example
PCAPCHECK=(python3 "$TOOLS/pcapcheck.py")

make_leaf sni-real "DNS:$SNI_REAL,DNS:a.rule.test,DNS:cover.zone.test" || fail "harness/sni certificates" "make_leaf"
SNI_REAL_CERT=$LEAF_CERT SNI_REAL_KEY=$LEAF_KEY
make_leaf sni-cover "DNS:$SNI_COVER" || fail "harness/sni certificates" "make_leaf cover"
SNI_COVER_CERT=$LEAF_CERT SNI_COVER_KEY=$LEAF_KEY

# Origins (TLS 1.3 only, no -servername: any SNI or none is accepted).
free_port SNI_OK; free_port SNI_BADCERT
SNI_PIDS=()
S_SERVER_CERT=$SNI_REAL_CERT S_SERVER_KEY=$SNI_REAL_KEY \
    start_s_server sni-ok "$SNI_OK" "$DOCROOT" -tls1_3 && SNI_PIDS+=("$S_SERVER_PID")
S_SERVER_CERT=$SNI_COVER_CERT S_SERVER_KEY=$SNI_COVER_KEY \
    start_s_server sni-coveronly "$SNI_BADCERT" "$DOCROOT" -tls1_3 && SNI_PIDS+=("$S_SERVER_PID")

SNI_RESOLVE=(--resolve "$SNI_REAL:$SNI_OK:127.0.0.1" --resolve "$SNI_REAL:$SNI_BADCERT:127.0.0.1"
    --resolve "a.rule.test:$SNI_OK:127.0.0.1" --resolve "cover.zone.test:$SNI_OK:127.0.0.1")

# Harness: the origin takes a ClientHello without SNI and with a foreign one.
sni_direct() { # SERVERNAME|-: s_client with that SNI (or -noservername), verifying the real name
    local sn=(-servername "$1"); [[ $1 == - ]] && sn=(-noservername)
    printf 'GET /index.html HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$SNI_OK" \
        "${sn[@]}" -CAfile "$TESTCA" -verify_hostname "$SNI_REAL" -verify_return_error -ign_eof 2>&1 |
        grep -q 'hello from the veil test origin'
}
check "harness/sni origin accepts no SNI" sni_direct -
check "harness/sni origin accepts a foreign SNI" sni_direct "$SNI_COVER"

# sni_fetch NAME HOST PORT: curl through veil while tshark captures the upstream port.
# Sets SNI_GOT ("code local_port"), SNI_PCAP.
sni_fetch() {
    local name=$1 host=$2 port=$3
    SNI_PCAP=$WORK/sni-$name.pcap
    log_mark
    capture_start "$SNI_PCAP" "tcp port $port" || { SNI_GOT="capture-failed"; return 1; }
    SNI_GOT=$(vcurl -o "$WORK/sni-$name.out" -w '%{http_code} %{local_port}' "https://$host:$port/index.html" 2>&1)
    capture_stop
}

# sni_hellos PCAP PORT: "sni=... ext0=..." per ClientHello sent to PORT.
sni_hellos() { "${PCAPCHECK[@]}" hellos "$1" --port "$2" 2>&1 | sed 's/^stream=[0-9]* //'; }

# sni_absent NAME PCAP NEEDLE: NEEDLE occurs nowhere in the capture's TCP payload (exit 1 of grep).
sni_absent() {
    local out rc
    out=$("${PCAPCHECK[@]}" grep "$2" "$3"); rc=$?
    if [[ $rc == 1 ]]; then pass "$1"; else fail "$1" "pcapcheck grep exit $rc: $(tr '\n' ' ' <<<"$out")"; fi
}

# sni_verify_refused NAME: the origin's certificate names only $SNI_COVER: veil must refuse it.
sni_verify_refused() {
    local got
    log_mark
    got=$(vcurl -o /dev/null -w '%{local_port}' "https://$SNI_REAL:$SNI_BADCERT/index.html" 2>/dev/null)
    if [[ $? != 0 ]]; then pass "$1/curl fails"; else fail "$1/curl fails" "curl succeeded"; fi
    summary_for "$got"
    expect_summary "$1/summary close" close upstream-cert
}

# Control: --sni real puts the name on the wire, and the checks below see it.
if veil_or_fail sni-real --resolver static --upstream-ca "$TESTCA" --sni real "${SNI_RESOLVE[@]}" && veil_ca; then
    sni_fetch real "$SNI_REAL" "$SNI_OK"
    expect_eq "sni-real/curl status" 200 "${SNI_GOT%% *}"
    expect_eq "sni-real/upstream ClientHello carries the real name" "sni=$SNI_REAL ext0=yes" "$(sni_hellos "$SNI_PCAP" "$SNI_OK")"
    check "sni-real/capture check finds the real name (control)" "${PCAPCHECK[@]}" grep "$SNI_PCAP" "$SNI_REAL"
    summary_for "${SNI_GOT##* }"
    expect_summary "sni-real/summary sni" sni "$SNI_REAL"
    expect_summary "sni-real/summary upstream_sni" upstream_sni "$SNI_REAL"
    stop_veil 10
fi

if veil_or_fail sni-omit --resolver static --upstream-ca "$TESTCA" --sni omit --record-log records \
    "${SNI_RESOLVE[@]}" && veil_ca; then
    sni_fetch omit "$SNI_REAL" "$SNI_OK"
    expect_eq "sni-omit/curl status" 200 "${SNI_GOT%% *}"
    check "sni-omit/body" cmp -s "$WORK/sni-omit.out" "$DOCROOT/index.html"
    expect_eq "sni-omit/upstream ClientHello has no server_name extension" "sni=- ext0=no" \
        "$(sni_hellos "$SNI_PCAP" "$SNI_OK")"
    sni_absent "sni-omit/real name nowhere in the upstream capture" "$SNI_PCAP" "$SNI_REAL"
    summary_for "${SNI_GOT##* }"
    expect_summary "sni-omit/summary sni (client's)" sni "$SNI_REAL"
    expect_summary "sni-omit/summary upstream_sni" upstream_sni -
    expect_summary "sni-omit/summary tls" tls TLSv1.3
    expect_summary "sni-omit/summary close" close ok
    conn=$(field conn "$SUMMARY"); [[ -n "$conn" ]] || conn='.*'
    check "sni-omit/record proxy->upstream ClientHello sni=-" python3 "$TOOLS/logcheck.py" find "$VEIL_LOG" \
        --since "$LOG_MARK" --event record "conn=$conn" 'dir=proxy->upstream' type=handshake 'msgs=ClientHello .*\bsni=-(\s.*)?'
    check "sni-omit/record client->proxy ClientHello sni=$SNI_REAL" python3 "$TOOLS/logcheck.py" find "$VEIL_LOG" \
        --since "$LOG_MARK" --event record "conn=$conn" 'dir=client->proxy' type=handshake "msgs=ClientHello .*\\bsni=${SNI_REAL//./\\.}\\b.*"
    sni_verify_refused "sni-omit/certificate for another name refused (verified against the real name)"
    stop_veil 10
fi

if veil_or_fail sni-cover --resolver static --upstream-ca "$TESTCA" --sni "cover:$SNI_COVER" --record-log records \
    "${SNI_RESOLVE[@]}" && veil_ca; then
    sni_fetch cover "$SNI_REAL" "$SNI_OK"
    expect_eq "sni-cover/curl status" 200 "${SNI_GOT%% *}"
    check "sni-cover/body" cmp -s "$WORK/sni-cover.out" "$DOCROOT/index.html"
    expect_eq "sni-cover/upstream ClientHello carries exactly the cover name" "sni=$SNI_COVER ext0=yes" \
        "$(sni_hellos "$SNI_PCAP" "$SNI_OK")"
    sni_absent "sni-cover/real name nowhere in the upstream capture" "$SNI_PCAP" "$SNI_REAL"
    check "sni-cover/cover name is in the capture" "${PCAPCHECK[@]}" grep "$SNI_PCAP" "$SNI_COVER"
    summary_for "${SNI_GOT##* }"
    expect_summary "sni-cover/summary sni (client's)" sni "$SNI_REAL"
    expect_summary "sni-cover/summary upstream_sni" upstream_sni "$SNI_COVER"
    expect_summary "sni-cover/summary close" close ok
    conn=$(field conn "$SUMMARY"); [[ -n "$conn" ]] || conn='.*'
    check "sni-cover/record proxy->upstream ClientHello sni=$SNI_COVER" python3 "$TOOLS/logcheck.py" find "$VEIL_LOG" \
        --since "$LOG_MARK" --event record "conn=$conn" 'dir=proxy->upstream' type=handshake "msgs=ClientHello .*\\bsni=${SNI_COVER//./\\.}\\b.*"
    # The origin presents a certificate for the cover name only: right for the wire name,
    # wrong for the real one, so veil must refuse it.
    sni_verify_refused "sni-cover/certificate naming only the cover refused (verified against the real name)"
    stop_veil 10
fi

# --sni-rule: first match wins over --sni (default real here).
if veil_or_fail sni-rule --resolver static --upstream-ca "$TESTCA" --sni-rule '*.rule.test=omit' \
    --sni-rule "cover.zone.test=cover:$SNI_COVER" "${SNI_RESOLVE[@]}" && veil_ca; then
    rule_fetches() {
        local h
        RULE_GOT=()
        for h in a.rule.test cover.zone.test "$SNI_REAL"; do
            RULE_GOT+=("$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://$h:$SNI_OK/index.html" 2>&1)")
        done
    }
    log_mark
    capture_start "$WORK/sni-rule.pcap" "tcp port $SNI_OK" && { rule_fetches; capture_stop; }
    expect_eq "sni-rule/curl status x3" "200 200 200" "${RULE_GOT[0]%% *} ${RULE_GOT[1]%% *} ${RULE_GOT[2]%% *}"
    expect_eq "sni-rule/upstream ClientHellos: omitted, cover, real" \
        "sni=- ext0=no|sni=$SNI_COVER ext0=yes|sni=$SNI_REAL ext0=yes" \
        "$(sni_hellos "$WORK/sni-rule.pcap" "$SNI_OK" | paste -sd '|')"
    rule_hosts=(a.rule.test cover.zone.test "$SNI_REAL") rule_want=(- "$SNI_COVER" "$SNI_REAL")
    for i in 0 1 2; do
        summary_for "${RULE_GOT[$i]##* }"
        expect_summary "sni-rule/${rule_hosts[$i]} summary upstream_sni" upstream_sni "${rule_want[$i]//./\\.}"
    done
    sni_absent "sni-rule/a.rule.test nowhere upstream" "$WORK/sni-rule.pcap" a.rule.test
    sni_absent "sni-rule/cover.zone.test nowhere upstream" "$WORK/sni-rule.pcap" cover.zone.test
    stop_veil 10
fi

for p in "${SNI_PIDS[@]}"; do stop_pid "$p" 5; done
