# ECH configs from DNS: Debian's unbound serves HTTPS records (type 65) with an `ech=` that
# bssl-tool generate-ech made, over DoH and DoT, as t70 sets it up. `veil resolve` prints, after
# the address lines, each name's HTTPS records and whether it publishes ECH (public name, config
# id, suites), through a CNAME and from the cache; a malformed record (an empty ech, which
# unbound serves from generic RDATA) and an ech that is no ECHConfigList are errors for that
# name only. --ech-config HOST=@FILE (binary list, base64 file) wins over DNS; a bad one is a
# start-up error naming the host, for veil resolve and veil run. `veil run --ech require` is
# accepted (the upstream leg does ECH: t72). Through the relay: RESOLVE with Veil-Want: https carries the
# records, from a relay whose own resolver is DoH to unbound.

EC_DIR=$WORK/ech-dns
mkdir -p "$EC_DIR"
make_leaf ech-resolver "DNS:dns.test,IP:127.0.0.1" || fail "harness/ech resolver certificate" "make_leaf"
EC_CERT=$LEAF_CERT EC_KEY=$LEAF_KEY
EC_PIDS=()
free_port EC_DOH; free_port EC_DOT; free_port EC_RELAY

EC_UP=0
if bssl-tool generate-ech -out-ech-config-list "$EC_DIR/list.bin" -out-ech-config "$EC_DIR/config.bin" \
        -out-private-key "$EC_DIR/key.bin" -public-name public.test -config-id 7 >"$EC_DIR/bssl.log" 2>&1 &&
    bssl-tool generate-ech -out-ech-config-list "$EC_DIR/other.bin" -out-ech-config "$EC_DIR/other-config.bin" \
        -out-private-key "$EC_DIR/other-key.bin" -public-name cover.example -config-id 9 >>"$EC_DIR/bssl.log" 2>&1; then
    pass "harness/bssl-tool generate-ech"
else
    fail "harness/bssl-tool generate-ech" "$(tail -n 3 "$EC_DIR/bssl.log" | tr '\n' ' ')"
fi
EC_B64=$(base64 -w0 "$EC_DIR/list.bin")
base64 -w0 "$EC_DIR/other.bin" >"$EC_DIR/other.b64"
head -c 40 /dev/urandom >"$EC_DIR/garbage.bin"

UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)
cat >"$EC_DIR/unbound.conf" <<UB
server:
    interface: 127.0.0.1@$EC_DOH
    interface: 127.0.0.1@$EC_DOT
    https-port: $EC_DOH
    tls-port: $EC_DOT
    tls-service-key: $EC_KEY
    tls-service-pem: $EC_CERT
    port: $EC_DOT
    do-daemonize: no
    username: ""
    chroot: ""
    directory: $EC_DIR
    pidfile: $EC_DIR/unbound.pid
    use-syslog: no
    logfile: $EC_DIR/unbound.log
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "test." static
    local-data: "origin.test. 300 IN A 127.0.0.1"
    local-data: "origin.test. 300 IN HTTPS 1 . alpn=h2 ech=$EC_B64"
    local-data: "_8443._https.origin.test. 300 IN HTTPS 1 . ech=$(cat "$EC_DIR/other.b64")"
    local-data: "alias.test. 120 IN CNAME origin.test."
    local-data: "aliased.test. 300 IN A 127.0.0.1"
    local-data: "aliased.test. 300 IN HTTPS 0 svc.test."
    local-data: "svc.test. 300 IN HTTPS 1 . alpn=h2 ech=$(cat "$EC_DIR/other.b64")"
    local-data: "plain.test. 300 IN A 127.0.0.1"
    local-data: "bad.test. 300 IN A 127.0.0.1"
    local-data: "bad.test. 300 IN TYPE65 \\# 7 0001 00 0005 0000"
    local-data: "garbage.test. 300 IN A 127.0.0.1"
    local-data: "garbage.test. 300 IN HTTPS 1 . alpn=h2 ech=AAECAwQF"
UB
if [[ -x "$UNBOUND" ]]; then
    "$UNBOUND" -c "$EC_DIR/unbound.conf" >"$EC_DIR/stdout.log" 2>&1 &
    bg_register $!
    EC_PIDS+=($!)
    wait_port "$EC_DOH" 10 && wait_port "$EC_DOT" 10 && EC_UP=1
fi
if [[ $EC_UP == 1 ]]; then pass "harness/unbound serves HTTPS records over DoH :$EC_DOH and DoT :$EC_DOT"; else
    fail "harness/unbound (ech)" "not listening ($(tail -n 3 "$EC_DIR/unbound.log" "$EC_DIR/stdout.log" 2>/dev/null | tr '\n' ' '))"; fi

EC_URL=https://127.0.0.1:$EC_DOH/dns-query
EC_ARGS=(--resolver-ca "$TESTCA" --doh-url "$EC_URL" --dot-server "127.0.0.1:$EC_DOT")
EC_SUITES='HKDF-SHA256/AES-128-GCM,HKDF-SHA256/ChaCha20-Poly1305'
# ec_resolve ARGS...: veil resolve output (EC_OUT) and exit status (EC_RC).
ec_resolve() { EC_OUT=$(timeout 30 "$VEIL_BIN" resolve "${EC_ARGS[@]}" "$@" 2>&1); EC_RC=$?; }
# ec_line PREFIX [N]: the Nth line of EC_OUT starting with PREFIX.
ec_line() { grep -F -- "$1" <<<"$EC_OUT" | sed -n "${2:-1}p"; }

# DoH: the record, the ECH config, the cache, a CNAME, a name without a record.
ec_resolve --resolver doh origin.test origin.test alias.test plain.test bad.test garbage.test
expect_eq "ech-dns/doh: veil resolve exits 0 (every name has addresses)" 0 "$EC_RC"
expect_match "ech-dns/doh: address lines come first, one per name (t70 reads them by number)" \
    "^garbage\.test: 127\.0\.0\.1 from doh " "$(sed -n 7p <<<"$EC_OUT")"
expect_match "ech-dns/doh: the HTTPS record" \
    "^origin\.test: https: 1 \. alpn=h2 ech=\($(stat -c %s "$EC_DIR/list.bin") bytes\) from doh $EC_URL in " "$(ec_line 'origin.test: https:')"
expect_match "ech-dns/doh: ECH published: public name, config id, suites" \
    "^origin\.test: ech: public_name=public\.test config_id=7 suites=$EC_SUITES using=AES-128-GCM configs=1 from doh $EC_URL\$" \
    "$(ec_line 'origin.test: ech:')"
expect_match "ech-dns/doh: the second lookup comes from the cache" \
    "^origin\.test: ech: public_name=public\.test config_id=7 .* from doh $EC_URL \(cache\)\$" "$(ec_line 'origin.test: ech:' 2)"
expect_match "ech-dns/doh: through a CNAME" \
    "^alias\.test: ech: public_name=public\.test config_id=7 .* via CNAME origin\.test" "$(ec_line 'alias.test: ech:')"
expect_match "ech-dns/doh: no HTTPS record: ech none" "^plain\.test: ech: none \(no HTTPS record \(doh " "$(ec_line 'plain.test: ech:')"
expect_match "ech-dns/doh: a malformed record is that name's error" \
    "^bad\.test: https: FAILED: malformed HTTPS record for bad\.test: empty ech \(from doh $EC_URL\)" "$(ec_line 'bad.test: https:')"
expect_match "ech-dns/doh: ... and its ECH lookup fails with it" "^bad\.test: ech: FAILED: malformed HTTPS record for bad\.test" "$(ec_line 'bad.test: ech:')"
expect_match "ech-dns/doh: ... while its addresses resolve" "^bad\.test: 127\.0\.0\.1 from doh " "$(ec_line 'bad.test: 127')"
expect_match "ech-dns/doh: an ech that is no ECHConfigList" \
    "^garbage\.test: ech: FAILED: HTTPS record for garbage\.test from doh .*: malformed ECHConfigList" "$(ec_line 'garbage.test: ech:')"

# A port other than 443 (RFC 9460 section 2.3): the HTTPS record of _8443._https.origin.test
# (config id 9), not origin.test's (id 7); the cache keeps the two apart.
ec_resolve --resolver doh --port 8443 origin.test origin.test
expect_match "ech-dns/port 8443: the record of _8443._https.origin.test" \
    "^origin\.test: ech: public_name=cover\.example config_id=9 .* from doh $EC_URL\$" "$(ec_line 'origin.test: ech:')"
expect_match "ech-dns/port 8443: ... cached under its own name" \
    "^origin\.test: ech: public_name=cover\.example config_id=9 .* \(cache\)\$" "$(ec_line 'origin.test: ech:' 2)"

# AliasMode (priority 0, RFC 9460 section 2.4.2): the alias target's record is followed once.
ec_resolve --resolver doh aliased.test
expect_match "ech-dns/AliasMode: the ECH config of the alias target" \
    "^aliased\.test: ech: public_name=cover\.example config_id=9 .* from doh $EC_URL via alias svc\.test" "$(ec_line 'aliased.test: ech:')"

# DoT.
ec_resolve --resolver dot origin.test plain.test
expect_match "ech-dns/dot: ECH published" \
    "^origin\.test: ech: public_name=public\.test config_id=7 suites=$EC_SUITES .* from dot 127\.0\.0\.1:$EC_DOT\$" "$(ec_line 'origin.test: ech:')"
expect_match "ech-dns/dot: no record" "^plain\.test: ech: none \(no HTTPS record \(dot " "$(ec_line 'plain.test: ech:')"

# The system resolver cannot ask (and says so); the static map alone has none.
ec_resolve --resolver static --resolve origin.test:443:127.0.0.1 origin.test
expect_match "ech-dns/static: none, with the reason" "^origin\.test: ech: none \(no resolver asks for HTTPS records" "$(ec_line 'origin.test: ech:')"

# --ech-config: a binary file wins over DNS; a base64 file for a name without a record.
ec_resolve --resolver doh --ech-config "origin.test=@$EC_DIR/other.bin" --ech-config "plain.test=@$EC_DIR/other.b64" origin.test plain.test
expect_match "ech-dns/--ech-config @FILE (binary) wins over the HTTPS record" \
    "^origin\.test: ech: public_name=cover\.example config_id=9 .* from --ech-config\$" "$(ec_line 'origin.test: ech:')"
expect_match "ech-dns/--ech-config @FILE (base64) for a name without a record" \
    "^plain\.test: ech: public_name=cover\.example config_id=9 .* from --ech-config\$" "$(ec_line 'plain.test: ech:')"
ec_resolve --resolver doh --ech-config "plain.test=@$EC_DIR/garbage.bin" plain.test
expect_eq "ech-dns/a bad --ech-config stops veil resolve (usage error 64)" 64 "$EC_RC"
expect_match "ech-dns/a bad --ech-config names the host" "ech-config for plain\.test: .*garbage\.bin is neither an ECHConfigList" "$EC_OUT"
out=$(VEIL_ECH_CONFIG="plain.test=AAECAwQF" timeout 10 "$VEIL_BIN" run --listen 127.0.0.1:0 "${EC_ARGS[@]}" 2>&1); rc=$?
expect_match "ech-dns/veil run: a bad ech-config is a start-up error naming the host" \
    "environment VEIL_ECH_CONFIG: ech-config for plain\.test: malformed ECHConfigList" "$out"
expect_eq "ech-dns/veil run: ... and it does not start (usage error 64)" 64 "$rc"
# `--ech require` starts now that the upstream leg does ECH (t72-ech-upstream checks what it does).
if veil_or_fail ech-require --ech require "${EC_ARGS[@]}" --ech-config "origin.test=@$EC_DIR/list.bin"; then
    if grep -Eq "not yet|does not send Encrypted Client Hello" "$VEIL_LOG"; then
        fail "ech-dns/veil run --ech require starts (no refusal, no 'not yet used' warning)" "$(grep -E 'not yet|does not send' "$VEIL_LOG")"
    else
        pass "ech-dns/veil run --ech require starts (no refusal, no 'not yet used' warning)"
    fi
    stop_veil 10
fi

# Through the relay: its resolver is DoH to unbound; the client asks with Veil-Want: https.
EC_SECRET=ech-relay-secret-$RANDOM$RANDOM
start_relay ech "$EC_RELAY" --secret "$EC_SECRET" --allow-private --resolver doh --doh-url "$EC_URL" --resolver-ca "$TESTCA"
EC_RLOG=$RL_LOG
EC_PIDS+=("$RL_PID")
if [[ -z "$RL_FP" ]]; then
    fail "ech-dns/relay starts" "$(tail -n 5 "$EC_RLOG" | tr '\n' ' ')"
else
    EC_ARGS=(--resolver relay --relay "127.0.0.1:$EC_RELAY" --relay-fingerprint "$RL_FP")
    EC_OUT=$(VEIL_RELAY_SECRET=$EC_SECRET timeout 30 "$VEIL_BIN" resolve "${EC_ARGS[@]}" origin.test origin.test plain.test bad.test 2>&1); EC_RC=$?
    expect_eq "ech-dns/relay: veil resolve exits 0" 0 "$EC_RC"
    # The address lookup asks for the HTTPS records too (one round trip): the ech lines come
    # from the client's cache, and the relay served one RESOLVE for the name.
    expect_match "ech-dns/relay: the HTTPS record through RESOLVE" \
        "^origin\.test: https: 1 \. alpn=h2 ech=\($(stat -c %s "$EC_DIR/list.bin") bytes\) from relay 127\.0\.0\.1:$EC_RELAY \[doh $EC_URL\] \(cache\) in " "$(ec_line 'origin.test: https:')"
    expect_match "ech-dns/relay: ECH published" \
        "^origin\.test: ech: public_name=public\.test config_id=7 suites=$EC_SUITES .* from relay 127\.0\.0\.1:$EC_RELAY \[doh $EC_URL\] \(cache\)\$" "$(ec_line 'origin.test: ech:')"
    sleep 0.3
    expect_eq "ech-dns/relay: addresses and HTTPS records in one RESOLVE" 1 "$(grep -c "target=origin\.test:443 .*close=ok" "$EC_RLOG")"
    expect_match "ech-dns/relay: no record" "^plain\.test: ech: none \(no HTTPS record \(relay " "$(ec_line 'plain.test: ech:')"
    expect_match "ech-dns/relay: a malformed record is that name's error" \
        "^bad\.test: https: FAILED: relay 127\.0\.0\.1:$EC_RELAY: malformed HTTPS record for bad\.test: empty ech \(from doh $EC_URL\)" "$(ec_line 'bad.test: https:')"
    # An older client (no Veil-Want) gets exactly the old answer: no Veil-HTTPS header.
    got=$(python3 - "$EC_RELAY" "$EC_SECRET" <<'PY' 2>&1
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5))
s.sendall(("RESOLVE origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\nProxy-Authorization: Bearer %s\r\n\r\n" % sys.argv[2]).encode())
data = b""
while b"\r\n\r\n" not in data:
    more = s.recv(4096)
    if not more: break
    data += more
print(data.decode().replace("\r\n", "|"))
PY
)
    expect_match "ech-dns/relay: an old client's RESOLVE gets the old answer" "^HTTP/1\.1 200 OK\|Veil-Addresses: 127\.0\.0\.1\|" "$got"
    check "ech-dns/relay: ... without Veil-HTTPS" bash -c "! grep -q Veil-HTTPS <<<'$got'"
    expect_eq "ech-dns/relay: no secret in the relay log" 0 "$(grep -cF "$EC_SECRET" "$EC_RLOG")"
fi

for p in "${EC_PIDS[@]}"; do stop_pid "$p" 5; done
