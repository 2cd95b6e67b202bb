# The README's ways of trusting Veil's CA, each checked with the real tool and a real client
# through Veil, in scratch directories (this system's trust store is not touched):
# - Debian's store: the CA copied as veil.crt into the local certificates directory, then
#   update-ca-certificates (pointed at scratch directories): curl trusts the bundle it writes;
# - NSS (Chromium's ~/.pki/nssdb, Firefox's profile): certutil -A -t "C,,", then NSS's own
#   vfychain accepts the certificate Veil minted for a site (and refuses it without the import);
# - Python: requests with REQUESTS_CA_BUNDLE, ssl (urllib) with SSL_CERT_FILE (and both fail
#   without: Debian's requests uses the system bundle, which lacks Veil's CA).

TR=$WORK/trust
mkdir -p "$TR/local" "$TR/etc" "$TR/hooks" "$TR/share"
: >"$TR/ca-certificates.conf"
TR_URL=https://localhost:$NGX13/index.html
if veil_or_fail trust --upstream-ca "$TESTCA" --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    # Debian: sudo cp "$(veil ca path)" /usr/local/share/ca-certificates/veil.crt && sudo update-ca-certificates
    cp "$VEIL_CA" "$TR/local/veil.crt"
    update-ca-certificates --certsconf "$TR/ca-certificates.conf" --certsdir "$TR/share" --localcertsdir "$TR/local" \
        --etccertsdir "$TR/etc" --hooksdir "$TR/hooks" >"$TR/update.log" 2>&1
    TR_BUNDLE=$TR/etc/ca-certificates.crt
    expect_match "trust/update-ca-certificates adds veil.crt" "1 added" "$(cat "$TR/update.log")"
    expect_eq "trust/curl through Veil with the bundle update-ca-certificates wrote" 200 \
        "$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$VEIL_PORT" --cacert "$TR_BUNDLE" "$TR_URL")"

    # NSS: certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "Veil CA" -i "$(veil ca path)"
    TR_LEAF=$TR/leaf.pem
    openssl s_client -proxy "127.0.0.1:$VEIL_PORT" -connect "localhost:$NGX13" -servername localhost </dev/null 2>/dev/null |
        sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' >"$TR_LEAF"
    mkdir -p "$TR/nssdb" "$TR/nssdb-empty"
    certutil -d "sql:$TR/nssdb" -N --empty-password && certutil -d "sql:$TR/nssdb-empty" -N --empty-password
    certutil -d "sql:$TR/nssdb" -A -t "C,," -n "Veil CA" -i "$VEIL_CA"
    expect_match "trust/certutil lists Veil CA as trusted for TLS servers" "Veil CA +C,," "$(certutil -d "sql:$TR/nssdb" -L 2>&1)"
    expect_match "trust/NSS (vfychain) accepts the certificate Veil minted for localhost" "Chain is good" \
        "$(vfychain -d "sql:$TR/nssdb" -u 1 -a "$TR_LEAF" 2>&1)"
    expect_match "trust/NSS without the import refuses it" "Chain is bad" \
        "$(vfychain -d "sql:$TR/nssdb-empty" -u 1 -a "$TR_LEAF" 2>&1)"

    # Python (Debian's python3 and python3-requests).
    TR_PY=/usr/bin/python3
    tr_requests() {
        "$TR_PY" - "$VEIL_PORT" "$TR_URL" <<'EOF' 2>&1 | tail -n 1
import sys, requests
try:
    r = requests.get(sys.argv[2], proxies={"https": "http://127.0.0.1:" + sys.argv[1]}, timeout=20)
    print(r.status_code)
except requests.exceptions.SSLError:
    print("SSLError")
EOF
    }
    tr_urllib() {
        "$TR_PY" - "$VEIL_PORT" "$TR_URL" <<'EOF' 2>&1 | tail -n 1
import ssl, sys, urllib.request, urllib.error
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({"https": "http://127.0.0.1:" + sys.argv[1]}),
    urllib.request.HTTPSHandler(context=ssl.create_default_context()))
try:
    print(opener.open(sys.argv[2], timeout=20).status)
except urllib.error.URLError as e:
    print("SSLError" if isinstance(e.reason, ssl.SSLError) else e)
EOF
    }
    expect_eq "trust/python requests without REQUESTS_CA_BUNDLE: certificate refused" SSLError "$(unset REQUESTS_CA_BUNDLE SSL_CERT_FILE; tr_requests)"
    expect_eq "trust/python requests with REQUESTS_CA_BUNDLE" 200 "$(REQUESTS_CA_BUNDLE=$TR_BUNDLE tr_requests)"
    expect_eq "trust/python ssl (urllib) without SSL_CERT_FILE: certificate refused" SSLError "$(unset SSL_CERT_FILE; tr_urllib)"
    expect_eq "trust/python ssl (urllib) with SSL_CERT_FILE" 200 "$(SSL_CERT_FILE=$TR_BUNDLE tr_urllib)"
    stop_veil 10
fi
