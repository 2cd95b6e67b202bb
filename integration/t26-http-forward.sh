# Plain http:// proxying: absolute-form requests (GET http://host/path HTTP/1.1) are
# forwarded through the same resolvers and rules: origin-form request line, Host from the
# URL, hop-by-hop fields (Proxy-Authorization, Proxy-Connection, Connection and what it
# names, Keep-Alive, TE, Upgrade) removed, Connection: close; exactly the body (Content-Length
# or chunked) and never a second request pipelined after it; the response spliced back.

EF=$WORK/echo-origin.port
python3 "$TOOLS/echo_origin.py" --port-file "$EF" --lifetime 900 >"$EF.log" 2>&1 &
bg_register $!
for _ in $(seq 50); do [[ -s "$EF" ]] && break; sleep 0.1; done
EO=$(cat "$EF" 2>/dev/null)
FW_RESOLVE=(--resolve "plain.test:$EO:127.0.0.1" --resolve "denied.test:$EO:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1")

# jget JSON KEY: a value from the echo origin's answer.
jget() { python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"o": o}))' "$1" "$2"; }

fw() { curl -sS --max-time 20 -x "http://127.0.0.1:$VEIL_PORT" "$@"; }

if veil_or_fail http-forward --resolver static "${FW_RESOLVE[@]}" --deny denied.test \
    --upstream-ca "$TESTCA" && veil_ca; then
    log_mark
    out=$(fw -H 'Proxy-Connection: keep-alive' -H 'Connection: X-Secret-Hop' -H 'X-Secret-Hop: 1' \
        -H 'X-Kept: yes' -H 'Host: wrong.example' --proxy-user 'u:p' "http://plain.test:$EO/a/b?c=d")
    expect_eq "http-forward/GET: origin-form path" "/a/b?c=d" "$(jget "$out" 'o["path"]')"
    expect_eq "http-forward/GET: HTTP/1.1" "HTTP/1.1" "$(jget "$out" 'o["version"]')"
    hdrs=$(jget "$out" '"|".join(n.lower()+"="+v for n, v in o["headers"])')
    expect_match "http-forward/GET: Host from the URL" "(^|\|)host=plain\.test:$EO(\||$)" "$hdrs"
    expect_match "http-forward/GET: Connection: close" '(^|\|)connection=close(\||$)' "$hdrs"
    expect_match "http-forward/GET: end-to-end fields kept" '(^|\|)x-kept=yes(\||$)' "$hdrs"
    if [[ "$hdrs" =~ proxy-|x-secret-hop|keep-alive|wrong\.example ]]; then
        fail "http-forward/GET: hop-by-hop fields removed" "$hdrs"
    else pass "http-forward/GET: hop-by-hop fields removed"; fi
    wait_summary 5
    expect_summary "http-forward/summary mode" mode http
    expect_summary "http-forward/summary target" target "plain.test:$EO"
    expect_summary "http-forward/summary close" close ok

    # A body by Content-Length and a chunked one arrive whole; nothing after them.
    head -c 300000 /dev/urandom >"$WORK/post.bin"
    want=$(sha_of "$WORK/post.bin")
    out=$(fw --data-binary "@$WORK/post.bin" "http://plain.test:$EO/upload")
    expect_eq "http-forward/POST Content-Length: body intact" "$want 300000" "$(jget "$out" 'o["body_sha256"]+" "+str(o["body_length"])')"
    out=$(fw -H 'Transfer-Encoding: chunked' --data-binary "@$WORK/post.bin" "http://plain.test:$EO/chunked")
    expect_eq "http-forward/POST chunked: body intact" "$want 300000" "$(jget "$out" 'o["body_sha256"]+" "+str(o["body_length"])')"
    out=$(python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --data "POST http://plain.test:$EO/one HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET http://denied.test:$EO/two HTTP/1.1\r\n\r\n")
    expect_match "http-forward/pipelined second request never forwarded" '"extra": ""' "$(sed -n 's/^body=//p' <<<"$out")"

    # A big response, spliced.
    got=$(fw -D "$WORK/big.hdr" -o "$WORK/big.out" -w '%{http_code}' "http://plain.test:$EO/big?n=16777216")
    expect_eq "http-forward/16 MiB response" 200 "$got"
    expect_eq "http-forward/16 MiB response sha256" "$(tr -d '\r' <"$WORK/big.hdr" | sed -n 's/^X-Body-Sha256: //p')" "$(sha_of "$WORK/big.out")"
    rm -f "$WORK/big.out"

    # Same rules as CONNECT; bad URLs are 400 with a reason.
    got=$(fw -o /dev/null -w '%{http_code}' "http://denied.test:$EO/" 2>&1)
    expect_eq "http-forward/deny rule: 403" 403 "$got"
    out=$(python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --data "GET https://plain.test/ HTTP/1.1\r\n\r\n")
    expect_eq "http-forward/https:// URL: 400" 400 "$(sed -n 's/^status=//p' <<<"$out")"
    out=$(python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --data "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect_match "http-forward/origin-form to the proxy: 400 with advice" 'send absolute URLs' "$(sed -n 's/^body=//p' <<<"$out")"
    out=$(python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --data "POST http://plain.test:$EO/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
    expect_eq "http-forward/Content-Length with Transfer-Encoding: 400" 400 "$(sed -n 's/^status=//p' <<<"$out")"
    # https still works beside it.
    got=$(vcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "http-forward/https through the same proxy" 200 "$got"
    stop_veil 10
fi

# With --auth, plain-http requests need credentials too, and they are not forwarded.
if veil_or_fail http-forward-auth --resolver static "${FW_RESOLVE[@]}" --auth "u:pw-fw"; then
    got=$(fw -o /dev/null -w '%{http_code}' "http://plain.test:$EO/" 2>&1)
    expect_eq "http-forward-auth/without credentials: 407" 407 "$got"
    out=$(fw --proxy-user u:pw-fw "http://plain.test:$EO/")
    hdrs=$(jget "$out" '"|".join(n.lower() for n, v in o["headers"])')
    if [[ "$hdrs" == *proxy-authorization* ]]; then fail "http-forward-auth/credentials not forwarded" "$hdrs"
    else pass "http-forward-auth/credentials not forwarded"; fi
    stop_veil 10
fi

# Chromium (headless, Debian's) set to use Veil loads an http:// page whose scripts come over
# http:// and https:// (Veil's CA in the NSS database Chromium reads).
CR_ROOT=$WORK/chromium-www
mkdir -p "$CR_ROOT"
free_port CR_HTTP
cat >"$CR_ROOT/page.html" <<HTML
<html><body><div id="out">loading</div>
<script src="http://www.page.test:$CR_HTTP/plain.js"></script>
<script src="https://localhost:$NGX13/secure.js"></script>
<script>document.getElementById('out').textContent = 'plain=' + (window.plainOK || 0) + ' secure=' + (window.secureOK || 0);</script>
</body></html>
HTML
echo 'window.plainOK = 1;' >"$CR_ROOT/plain.js"
echo 'window.secureOK = 1;' >"$DOCROOT/secure.js"
if start_nginx chromium-www "$CR_ROOT" "$CR_HTTP:TLSv1.3:http" &&
    veil_or_fail chromium --resolver static --upstream-ca "$TESTCA" --resolve "www.page.test:$CR_HTTP:127.0.0.1" \
        --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    CR_HOME=$WORK/chromium-home
    rm -rf "$CR_HOME"; mkdir -p "$CR_HOME/.pki/nssdb"
    certutil -d "sql:$CR_HOME/.pki/nssdb" -N --empty-password
    certutil -d "sql:$CR_HOME/.pki/nssdb" -A -t "C,," -n veil-test-ca -i "$VEIL_CA"
    log_mark
    dom=$(HOME=$CR_HOME timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$CR_HOME/profile" --proxy-server="http://127.0.0.1:$VEIL_PORT" \
        --proxy-bypass-list='<-loopback>' --virtual-time-budget=10000 --dump-dom \
        "http://www.page.test:$CR_HTTP/page.html" 2>"$WORK/chromium.err")
    expect_match "chromium/http page with http and https scripts" 'plain=1 secure=1' "$dom"
    n=$(log_new | grep -E "$SUMMARY_RE" | grep -c 'mode=http')
    if ((n >= 2)); then pass "chromium/page and script went through as http"; else
        fail "chromium/page and script went through as http" "$n http summaries"; fi
    expect_match "chromium/the https script was intercepted" 'mode=intercept' "$(log_new | grep -E "$SUMMARY_RE")"
    stop_veil 10
fi
