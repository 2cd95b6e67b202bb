#!/usr/bin/env bash
# The wire proof: what an observer on the user's own link sees, configuration by configuration.
#
#   netns C ("client side"): curl and veil          10.99.0.1/24  vc0
#        |  veth: the observed link (tshark on vc0)
#   netns I ("internet"):    Debian's unbound (plain DNS :53, DoH :8443) and the Veil relay
#                            (:9443)                        10.99.0.2/24  vi0
#                            the origin (openssl s_server, TLS 1.3), on a third address
#                                                           10.99.0.3/24  vi0
#
# For each configuration curl fetches https://$NAME/ through veil while the link is captured,
# then the capture is searched: DNS packets, the name's bytes anywhere (segments, reassembled
# streams, the raw file, so DNS labels count too), the name whole inside one TCP segment, the
# origin's address (and, for the tunnel, the relay's). Each expectation is an assertion; the table goes to docs/WIRE-PROOF.md.
# Needs root (ip netns), iproute2, tshark, unbound, openssl; ends with "N passed, M failed".
#
#   VEIL_BIN=.build/release/veil integration/netns/run.sh
set -uo pipefail
NETNS_DIR=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-$NETNS_DIR/../.work/netns}
source "$NETNS_DIR/../lib.sh"
PCAPCHECK=(python3 "$TOOLS/pcapcheck.py")
TABLE=${WIRE_TABLE:-$REPO_DIR/docs/WIRE-PROOF.md}

setup_work
if [[ $(id -u) != 0 ]]; then
    fail "netns/root" "network namespaces need root here; run as root (CI does)"
    finish; exit 1
fi
for tool in ip tshark openssl; do command -v "$tool" >/dev/null || fail "netns/$tool" "$tool is not installed"; done
UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)
[[ -x "$UNBOUND" ]] || fail "netns/unbound" "unbound is not installed"
((FAILED == 0)) || { finish; exit 1; }
make_certs || { fail "netns/certificates" "make_certs"; finish; exit 1; }

NAME=secret-site.test
LABEL=secret-site       # what a DNS packet carries (labels are length-prefixed)
COVER=cover.example
C=veilc$$ I=veili$$
CIP=10.99.0.1 IIP=10.99.0.2 OIP=10.99.0.3
RELAY_PORT=9443
cleanup_netns() {
    cleanup_all
    ip netns del "$C" 2>/dev/null
    ip netns del "$I" 2>/dev/null
    rm -rf "/etc/netns/$C" "/etc/netns/$I"
}
trap cleanup_netns EXIT

ip netns add "$C" && ip netns add "$I" &&
    ip link add vc0 netns "$C" type veth peer name vi0 netns "$I" &&
    ip -n "$C" addr add "$CIP/24" dev vc0 && ip -n "$I" addr add "$IIP/24" dev vi0 &&
    ip -n "$I" addr add "$OIP/24" dev vi0 &&
    ip -n "$C" link set vc0 up && ip -n "$I" link set vi0 up &&
    ip -n "$C" link set lo up && ip -n "$I" link set lo up
# getaddrinfo inside C reads this resolv.conf (ip netns exec bind-mounts /etc/netns/C/*).
mkdir -p "/etc/netns/$C" "/etc/netns/$I"
echo "nameserver $IIP" >"/etc/netns/$C/resolv.conf"
echo "nameserver $IIP" >"/etc/netns/$I/resolv.conf"   # the relay's system resolver
inC() { ip netns exec "$C" "$@"; }
inI() { ip netns exec "$I" "$@"; }

# ----------------------------------------------------------------- internet side

make_leaf netns-origin "DNS:$NAME" || fail "netns/origin certificate" "make_leaf"
ORIGIN_CERT=$LEAF_CERT ORIGIN_KEY=$LEAF_KEY
make_leaf netns-dns "IP:$IIP" || fail "netns/resolver certificate" "make_leaf"
DNS_CERT=$LEAF_CERT DNS_KEY=$LEAF_KEY
mkdir -p "$WORK/www"
echo "hello from the netns origin" >"$WORK/www/index.html"
(cd "$WORK/www" && exec ip netns exec "$I" openssl s_server -accept "$OIP:443" -cert "$ORIGIN_CERT" \
    -key "$ORIGIN_KEY" -tls1_3 -WWW -quiet) >"$WORK/origin.log" 2>&1 &
bg_register $!
# The ECH origin: BoringSSL's bssl-tool server (it binds every address of I) on port 4443, for
# ECH_NAME; its ECHConfigList (public name ECH_PUBLIC) is in unbound's HTTPS records (for a port
# other than 443 Veil asks _PORT._https.NAME, RFC 9460 section 2.3).
ECH_NAME=ech-site.test ECH_LABEL=ech-site ECH_PUBLIC=public-ech.example ECH_PORT=4443
make_leaf netns-ech "DNS:$ECH_NAME" || fail "netns/ech origin certificate" "make_leaf"
ECH_CERT=$LEAF_CERT ECH_KEY=$LEAF_KEY
(cd "$WORK" && bssl-tool generate-ech -out-ech-config-list ech-list.bin -out-ech-config ech-config.bin \
    -out-private-key ech-key.bin -public-name "$ECH_PUBLIC" -config-id 3) >"$WORK/ech-gen.log" 2>&1 ||
    fail "netns/bssl-tool generate-ech" "$(tail -n 2 "$WORK/ech-gen.log")"
(cd "$WORK/www" && exec ip netns exec "$I" bssl-tool server -accept "$ECH_PORT" -cert "$ECH_CERT" -key "$ECH_KEY" \
    -ech-config "$WORK/ech-config.bin" -ech-key "$WORK/ech-key.bin" -www -loop) >"$WORK/ech-origin.log" 2>&1 &
bg_register $!
cat >"$WORK/unbound.conf" <<EOF
server:
    interface: $IIP@53
    interface: $IIP@8443
    https-port: 8443
    tls-service-key: $DNS_KEY
    tls-service-pem: $DNS_CERT
    do-daemonize: no
    username: ""
    chroot: ""
    directory: $WORK
    pidfile: $WORK/unbound.pid
    use-syslog: no
    logfile: $WORK/unbound.log
    access-control: 10.99.0.0/24 allow
    module-config: "iterator"
    local-zone: "test." static
    local-data: "$NAME. 300 IN A $OIP"
    local-data: "$ECH_NAME. 300 IN A $OIP"
    local-data: "$ECH_NAME. 300 IN HTTPS 1 . ech=$(base64 -w0 "$WORK/ech-list.bin" 2>/dev/null)"
    local-data: "_$ECH_PORT._https.$ECH_NAME. 300 IN HTTPS 1 . ech=$(base64 -w0 "$WORK/ech-list.bin" 2>/dev/null)"
EOF
ip netns exec "$I" "$UNBOUND" -c "$WORK/unbound.conf" >"$WORK/unbound.out" 2>&1 &
bg_register $!
up=0
for ((i = 0; i < 100; i++)); do
    inI ss -Hltn | grep -q "$IIP:8443" && inI ss -Hltn | grep -q "$OIP:443" && inI ss -Hltn | grep -q ":$ECH_PORT " && { up=1; break; }
    sleep 0.1
done
if [[ $up == 1 ]]; then pass "netns/origin :443 and unbound (DNS :53, DoH :8443) up in $I"; else
    fail "netns/services" "$(tail -n 3 "$WORK/unbound.log" "$WORK/origin.log" 2>/dev/null | tr '\n' ' ')"; fi
expect_eq "netns/topology: curl in $C reaches the origin in $I directly" 200 \
    "$(inC curl -sS --max-time 10 --cacert "$TESTCA" --resolve "$NAME:443:$OIP" -o /dev/null -w '%{http_code}' "https://$NAME/index.html" 2>&1)"

export VEIL_HOME=$WORK/veil-home
VEIL_CA=$("$VEIL_BIN" ca path 2>/dev/null | tail -n 1)
DOH=(--resolver doh --doh-url "https://$IIP:8443/dns-query" --resolver-ca "$TESTCA")

# ----------------------------------------------------------------- one configuration

ROWS=()
# wire_case LABEL CURL_CA VEIL-ARGS...: veil in C, one curl, the link captured. Sets PCAP, GOT,
# and the observations DNSN (DNS packets), NAMEHIT (0 found / 1 not), WHOLE (segments holding
# the whole name), ADDR (packets to the origin's address), COVERHIT.
wire_case() {
    local label=$1 ca=$2 log port name=${WC_NAME:-$NAME} label_bytes=${WC_LABEL:-$LABEL} oport=${WC_PORT:-443}; shift 2
    PCAP=$WORK/$(tr -c 'a-z0-9\n' '-' <<<"$label").pcap
    log=$PCAP.veil.log
    ip netns exec "$C" tshark -i vc0 -w "$PCAP" >"$PCAP.tshark" 2>&1 &
    local cap=$!
    bg_register "$cap"
    wait_log "$PCAP.tshark" "Capturing on" 10 || fail "$label/capture" "tshark did not start"
    sleep 0.3
    port=18080
    ip netns exec "$C" "$VEIL_BIN" run --listen "127.0.0.1:$port" --upstream-ca "$TESTCA" "$@" >"$log" 2>&1 &
    local veil=$!
    bg_register "$veil"
    wait_log "$log" "listening on" 10 || fail "$label/veil starts" "$(tail -n 3 "$log")"
    GOT=$(inC curl -sS --max-time 20 -x "http://127.0.0.1:$port" --cacert "$ca" -o /dev/null -w '%{http_code}' \
        "https://$name:$oport/index.html" 2>&1)
    sleep 0.5
    stop_pid "$veil" 5
    stop_pid "$cap" 5 INT
    expect_eq "$label/curl through veil" 200 "$GOT"
    DNSN=$(tshark -r "$PCAP" -Y dns 2>/dev/null | wc -l)
    "${PCAPCHECK[@]}" grep "$PCAP" "$label_bytes" >"$PCAP.grep" 2>&1; NAMEHIT=$?
    "${PCAPCHECK[@]}" grep "$PCAP" "$COVER" >/dev/null 2>&1; COVERHIT=$?
    WHOLE=$(tshark -r "$PCAP" -Y "tcp.len > 0" -T fields -e tcp.payload 2>/dev/null |
        grep -ci "$(python3 -c 'import sys; print(sys.argv[1].encode().hex())' "$name")")
    ADDR=$(tshark -r "$PCAP" -Y "ip.addr == $OIP && tcp" 2>/dev/null | wc -l)
    RELAYSEEN=$(tshark -r "$PCAP" -Y "ip.addr == $IIP && tcp.port == $RELAY_PORT" 2>/dev/null | wc -l)
    # What a TLS-reassembling observer (tshark) reads as server_name in ClientHellos to the origin.
    SNI=$(tshark -r "$PCAP" -d "tcp.port==$oport,tls" -Y "tls.handshake.type == 1 && tcp.dstport == $oport" -T fields -e tls.handshake.extensions_server_name 2>/dev/null |
        sed 's/^$/(none)/' | sort -u | paste -sd, -)
}

yes_no() { [[ $1 == 0 ]] && echo yes || echo no; }
row() { # CONFIG EXPECTATION
    ROWS+=("| $1 | $DNSN | $(yes_no "$NAMEHIT") | $WHOLE | ${SNI:--} | $([[ $ADDR -gt 0 ]] && echo "yes ($OIP)" || echo no) | $2 |")
}

# 1. Baseline: plain DNS and the real SNI. Proves the capture sees what it should.
wire_case "system resolver + sni real" "$VEIL_CA" --resolver system --sni real
check "system+real/DNS query for the name on the link" [ "$DNSN" -gt 0 ]
expect_eq "system+real/name in the captured bytes" 0 "$NAMEHIT"
row "\`--resolver system --sni real\`" "name visible in DNS and SNI (baseline)"

# 2. DoH: no DNS on the link; the SNI still names the site.
wire_case "doh + sni real" "$VEIL_CA" "${DOH[@]}" --sni real
expect_eq "doh+real/no DNS packet on the link" 0 "$DNSN"
expect_eq "doh+real/name still in the bytes" 0 "$NAMEHIT"
expect_eq "doh+real/SNI names the site" "$NAME" "$SNI"
row "\`--resolver doh --sni real\`" "no DNS; name in the SNI"

# 3. DoH + SNI omitted / cover name, TLS 1.3: the name is nowhere; the address is.
wire_case "doh + sni omit" "$VEIL_CA" "${DOH[@]}" --sni omit
expect_eq "doh+omit/no DNS packet on the link" 0 "$DNSN"
expect_eq "doh+omit/name nowhere in the capture (pcapcheck exit 1)" 1 "$NAMEHIT"
expect_eq "doh+omit/no server_name in the ClientHello" "(none)" "$SNI"
check "doh+omit/origin address visible" [ "$ADDR" -gt 0 ]
row "\`--resolver doh --sni omit\`" "name absent; address visible"

wire_case "doh + sni cover" "$VEIL_CA" "${DOH[@]}" --sni "cover:$COVER"
expect_eq "doh+cover/no DNS packet on the link" 0 "$DNSN"
expect_eq "doh+cover/name nowhere in the capture (pcapcheck exit 1)" 1 "$NAMEHIT"
expect_eq "doh+cover/cover name on the wire" 0 "$COVERHIT"
expect_eq "doh+cover/SNI is the cover name" "$COVER" "$SNI"
check "doh+cover/origin address visible" [ "$ADDR" -gt 0 ]
row "\`--resolver doh --sni cover:$COVER\`" "name absent (cover name shown); address visible"

# 3b. DoH + ECH (the name's HTTPS record has an ECH config), --sni real: the ClientHelloOuter
#     names the public name, the real name is only inside the encrypted ClientHelloInner.
WC_NAME=$ECH_NAME WC_LABEL=$ECH_LABEL WC_PORT=$ECH_PORT wire_case "doh + ech" "$VEIL_CA" "${DOH[@]}" --sni real
expect_eq "doh+ech/no DNS packet on the link" 0 "$DNSN"
expect_eq "doh+ech/the real name in no packet (pcapcheck exit 1)" 1 "$NAMEHIT"
expect_eq "doh+ech/the outer SNI is the config's public name" "$ECH_PUBLIC" "$SNI"
check "doh+ech/veil's summary: ech=accepted outer_sni=$ECH_PUBLIC" grep -qE "target=$ECH_NAME:$ECH_PORT .*close=ok .*ech=accepted outer_sni=$ECH_PUBLIC" "$PCAP.veil.log"
row "\`--resolver doh --sni real\`, ECH config in the HTTPS record (port $ECH_PORT)" "no DNS; the real name in no packet; the outer SNI is the public name"

# 4. Split ClientHello (pass-through): the name is there, but never whole in one segment.
wire_case "doh + split-hello" "$TESTCA" "${DOH[@]}" --mode passthrough --split-hello
expect_eq "split-hello/no DNS packet on the link" 0 "$DNSN"
# The name is split by a TLS record header: not in the raw stream, but a TLS-reassembling
# observer (tshark) still reads it.
expect_eq "split-hello/tshark still reads the name from the split ClientHello" "$NAME" "$SNI"
expect_eq "split-hello/no TCP segment holds the whole name" 0 "$WHOLE"
row "\`--resolver doh --mode passthrough --split-hello\`" "name present (split by a record header, tshark reassembles it), never whole in one TCP segment"

# 5. --route tunnel through the Veil relay (in I, on the DNS server's address; the origin is on a
#    third one): no DNS, no name, no origin address on the link, only TLS to the relay.
RELAY_SECRET=netns-relay-secret-$RANDOM$RANDOM
RELAY_LOG=$WORK/relay.log
ip netns exec "$I" "$VEIL_BIN" relay --listen "$IIP:$RELAY_PORT" --home "$WORK/relay-home" --secret "$RELAY_SECRET" \
    --allow-private --resolver system >"$RELAY_LOG" 2>&1 &
bg_register $!
wait_log "$RELAY_LOG" "listening on" 10 || fail "tunnel/relay starts" "$(tail -n 3 "$RELAY_LOG")"
RELAY_FP=$(sed -n 's/^veil relay: certificate SHA-256 fingerprint //p' "$RELAY_LOG")
wire_case "route tunnel" "$VEIL_CA" --route tunnel --relay "$IIP:$RELAY_PORT" --relay-fingerprint "$RELAY_FP" \
    --relay-secret "$RELAY_SECRET" --resolver static --sni real
expect_eq "tunnel/no DNS packet on the link" 0 "$DNSN"
expect_eq "tunnel/name nowhere in the capture, with --sni real (pcapcheck exit 1)" 1 "$NAMEHIT"
expect_eq "tunnel/origin address $OIP never on the link" 0 "$ADDR"
check "tunnel/only the relay's address is seen ($IIP:$RELAY_PORT)" [ "$RELAYSEEN" -gt 0 ]
expect_eq "tunnel/no other TCP peer on the link" 0 \
    "$(tshark -r "$PCAP" -Y "tcp && !(ip.addr == $IIP && tcp.port == $RELAY_PORT)" 2>/dev/null | wc -l)"
check "tunnel/the relay resolved and reached the origin" grep -qE "target=$NAME:443 upstream=$OIP:443 .*close=ok" "$RELAY_LOG"
row "\`--route tunnel\` (relay at $IIP:$RELAY_PORT)" "no DNS; name and origin address absent; only TLS to the relay"

{
    echo "# Wire proof: what an observer on the local link sees"
    echo
    echo "Written by \`integration/netns/run.sh\` (part of \`make test\`) on $(date -u +%F): curl and Veil in"
    echo "one network namespace; in another, the origin (openssl s_server, TLS 1.3; for the ECH row BoringSSL's bssl-tool server with an ECH key, port $ECH_PORT, name \`$ECH_NAME\`) on its own address,"
    echo "Debian's unbound (plain DNS, DoH) and the Veil relay on a second one; tshark on the veth link between them. \"Name\" is \`$NAME\`; \"in the bytes\" searches"
    echo "every segment, every reassembled TCP stream and the raw capture (DNS labels included)."
    echo
    echo "| configuration | DNS packets | name in the bytes | segments holding the whole name | SNI tshark decodes | origin address seen | what it shows |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Each row's expectations are assertions of the test; a row that does not hold fails \`make test\`."
} >"$TABLE"
echo "table written to $TABLE"
cat "$TABLE"
finish
