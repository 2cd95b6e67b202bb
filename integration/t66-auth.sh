# Client authentication (--auth-file, --auth): Proxy-Authorization: Basic on both listeners.
# curl --proxy-user and Python requests get through with the right credentials; no
# credentials get 407 with a Proxy-Authenticate challenge; wrong ones get 407 and, after
# five, 429 for that address; bcrypt (htpasswd -B) and SHA-256-crypt (openssl passwd -5) hashes
# and a plain --auth entry all work; the password appears in no log and not in
# /proc/PID/cmdline. A listener beyond loopback without users refuses to start unless
# --allow-open-proxy.

AU_PASS=pw-$RANDOM$RANDOM
AU_FILE=$WORK/users.htpasswd
htpasswd -nbB alice "$AU_PASS" >"$AU_FILE"
echo "bob:$(openssl passwd -5 "$AU_PASS-b")" >>"$AU_FILE"
echo "# a comment, then a blank line" >>"$AU_FILE"; echo >>"$AU_FILE"
free_port AU_TLS

aucurl() { # USER:PASS CURL-ARGS...: through the plain listener
    local cred=$1; shift
    curl -sS --max-time 20 -x "http://127.0.0.1:$VEIL_PORT" ${cred:+--proxy-user "$cred"} --cacert "$VEIL_CA" "$@"
}

if veil_or_fail auth --resolver static --auth-file "$AU_FILE" --auth "carol:$AU_PASS-c" \
    --listen-tls "127.0.0.1:$AU_TLS" --upstream-ca "$TESTCA" \
    --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    if tr '\0' ' ' <"/proc/$VEIL_PID/cmdline" | grep -q -- "$AU_PASS"; then
        fail "auth/password blanked in /proc/PID/cmdline" "$(tr '\0' ' ' <"/proc/$VEIL_PID/cmdline")"
    else pass "auth/password blanked in /proc/PID/cmdline"; fi

    for who in "alice:$AU_PASS" "bob:$AU_PASS-b" "carol:$AU_PASS-c"; do
        log_mark
        got=$(aucurl "$who" -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
        expect_eq "auth/${who%%:*}: curl --proxy-user gets through" 200 "${got%% *}"
        summary_for "${got##* }"
        expect_summary "auth/${who%%:*}: summary names the user" user "${who%%:*}"
    done

    out=$(curl -sS --max-time 10 -x "http://127.0.0.1:$VEIL_PORT" --proxy-header "X: y" -o /dev/null \
        -D - "https://localhost:$NGX13/index.html" 2>&1)
    expect_match "auth/no credentials: 407" 'HTTP/1.1 407' "$out"
    expect_match "auth/no credentials: challenge" 'Proxy-Authenticate: Basic realm="veil"' "$out"

    # Through the HTTPS listener.
    got=$(curl -sS --max-time 20 -x "https://127.0.0.1:$AU_TLS" --proxy-cacert "$VEIL_CA" --proxy-user "alice:$AU_PASS" \
        --cacert "$VEIL_CA" -o /dev/null -w '%{http_code}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "auth/HTTPS listener with credentials" 200 "$got"
    got=$(curl -sS --max-time 20 -x "https://127.0.0.1:$AU_TLS" --proxy-cacert "$VEIL_CA" \
        --cacert "$VEIL_CA" -o /dev/null -w '%{http_connect}' "https://localhost:$NGX13/index.html" 2>/dev/null)
    expect_eq "auth/HTTPS listener without credentials: 407" 407 "$got"

    # Python requests (Debian's python3-requests).
    got=$(/usr/bin/python3 - "$VEIL_PORT" "$AU_PASS" "$VEIL_CA" "$NGX13" <<'PY' 2>&1
import sys, requests
port, pw, ca, origin = sys.argv[1:]
proxies = {"https": f"http://alice:{pw}@127.0.0.1:{port}"}
r = requests.get(f"https://localhost:{origin}/index.html", proxies=proxies, verify=ca, timeout=20)
print(r.status_code)
PY
)
    expect_eq "auth/python requests with credentials" 200 "$got"

    # Wrong passwords: 407 each, then the address is refused (429), even with the right one.
    for i in 1 2 3 4 5; do
        got=$(aucurl "alice:wrong-$i" -o /dev/null -w '%{http_connect}' "https://localhost:$NGX13/index.html" 2>/dev/null)
        expect_eq "auth/wrong password $i: 407" 407 "$got"
    done
    got=$(aucurl "alice:$AU_PASS" -o /dev/null -w '%{http_connect}' "https://localhost:$NGX13/index.html" 2>/dev/null)
    expect_eq "auth/after five wrong passwords: 429" 429 "$got"
    if grep -qF -- "$AU_PASS" "$VEIL_LOG" || grep -q 'wrong-[0-9]' "$VEIL_LOG"; then
        fail "auth/no password in the log" "found in $VEIL_LOG"
    else pass "auth/no password in the log"; fi
    stop_veil 10
fi

# A listener beyond loopback (0.0.0.0; traffic here stays on loopback) needs users or
# --allow-open-proxy.
free_port AU_OPEN
out=$(timeout 10 "$VEIL_BIN" run --listen "0.0.0.0:$AU_OPEN" --resolver static 2>&1); rc=$?
expect_eq "open-proxy/refuses to start without users" 1 "$rc"
expect_match "open-proxy/says why" 'no --auth or --auth-file.*--allow-open-proxy' "$out"
