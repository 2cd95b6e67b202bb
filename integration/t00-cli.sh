# CLI basics: --version, --help, a bad option is refused; value errors show the subcommand's
# usage; --listen localhost:PORT; conf/veil.conf is the default; the --help example works.

cli_bad_option() {
    local rc
    timeout 5 "$VEIL_BIN" run --no-such-option --listen 127.0.0.1:1 >/dev/null 2>&1; rc=$?
    [[ $rc != 0 && $rc != 124 ]]   # 124: still running after 5 s, i.e. the option was ignored
}

check "cli/--version exits 0" timeout 5 "$VEIL_BIN" --version
check "cli/--help mentions run" bash -c "timeout 5 '$VEIL_BIN' --help 2>&1 | grep -q run"
check "cli/unknown option is refused" cli_bad_option

# Value errors come with the subcommand's usage, not the top-level one (exit 64).
cli_usage() { # NAME WANT-USAGE ARGS...
    local name=$1 want=$2 out rc; shift 2
    out=$(timeout 10 "$VEIL_BIN" "$@" 2>&1); rc=$?
    expect_eq "cli/$name: exit 64" 64 "$rc"
    expect_match "cli/$name: shows '$want'" "Usage: $want" "$out"
}
cli_usage "veil run --workers abc" "veil run <options>" run --workers abc
cli_usage "veil run --listen 1.2.3.4" "veil run <options>" run --listen 1.2.3.4
cli_usage "veil run --config missing" "veil run <options>" run --config "$WORK/no-such.conf"
cli_usage "veil relay --allow-port x" "veil relay <options>" relay --home "$WORK/cli-relay-home" --allow-port x
cli_usage "veil relay --max-per-client 0" "veil relay <options>" relay --home "$WORK/cli-relay-home" --max-per-client 0
check "cli/veil relay: a value error creates nothing (no secret, no certificate)" test ! -e "$WORK/cli-relay-home"
cli_usage "veil resolve --resolver-timeout x" "veil resolve " resolve --resolver-timeout x example.com

# --listen takes localhost:PORT (127.0.0.1); the HTTPS listener given so is certified for
# localhost; any other name is refused with the reason.
free_port CLI_LH; free_port CLI_LHT
"$VEIL_BIN" run --listen "localhost:$CLI_LH" --listen-tls "localhost:$CLI_LHT" --mode passthrough --workers 1 \
    --resolve "localhost:$NGX12:127.0.0.1" >"$WORK/cli-localhost.log" 2>&1 &
CLI_LH_PID=$!; bg_register "$CLI_LH_PID"
if wait_log "$WORK/cli-localhost.log" "listening on 127\.0\.0\.1:$CLI_LH " 10; then
    pass "cli/--listen localhost:PORT listens on 127.0.0.1:PORT"
    expect_match "cli/--listen-tls localhost:PORT: certificate for localhost" "HTTPS proxy listener on 127\.0\.0\.1:$CLI_LHT \(certificate for localhost " "$(cat "$WORK/cli-localhost.log")"
    veil_ca
    got=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -x "https://localhost:$CLI_LHT" --proxy-cacert "$VEIL_CA" \
        --cacert "$TESTCA" "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "cli/--listen-tls localhost:PORT: curl -x https://localhost:PORT verifies and gets through" 200 "$got"
else
    fail "cli/--listen localhost:PORT listens on 127.0.0.1:PORT" "$(tail -n 3 "$WORK/cli-localhost.log" | tr '\n' ' ')"
fi
stop_pid "$CLI_LH_PID" 10
out=$(timeout 10 "$VEIL_BIN" run --listen proxy.example:8080 2>&1)
expect_match "cli/--listen NAME:PORT refused: not looked up" "'proxy\.example' is not an IP address.*Names other than localhost are not looked up" "$out"

# conf/veil.conf starts the default Veil: the same start-up lines as no config at all.
veil_ca
cli_startup() { # LOG ARGS...: the start-up lines, the port replaced by PORT
    local log=$1 port pid; shift
    free_port port
    "$VEIL_BIN" run --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    pid=$!; bg_register "$pid"
    wait_log "$log" "listening on" 10 && sleep 0.5
    stop_pid "$pid" 10
    sed -n '/listening on/,/^veil: SIG/p' "$log" | grep -v '^veil: SIG' | sed "s/:$port\b/:PORT/g"
}
CLI_DEFAULT=$(cli_startup "$WORK/cli-default.log")
CLI_CONF=$(cli_startup "$WORK/cli-conf.log" --config "$REPO_DIR/conf/veil.conf")
if [[ -n "$CLI_DEFAULT" && "$CLI_DEFAULT" == "$CLI_CONF" ]]; then
    pass "cli/--config conf/veil.conf starts the default Veil ($(wc -l <<<"$CLI_DEFAULT") start-up lines alike)"
else
    fail "cli/--config conf/veil.conf starts the default Veil" "default: $(head -c 300 <<<"$CLI_DEFAULT" | tr '\n' '|') ; with conf/veil.conf: $(head -c 300 <<<"$CLI_CONF" | tr '\n' '|')"
fi

# veil --help's example works as printed: veil run in one shell (here: started and waited for
# like every test's veil), then its curl line, run by bash with veil on PATH, only the address
# (a free port instead of 8080) and the URL (a local origin, not example.com) changed.
CLI_CURL=$("$VEIL_BIN" --help 2>&1 | grep -E '^ *curl -x ' | head -n 1 | sed 's/^ *//')
expect_match "cli/--help shows a curl example" '^curl -x http://127\.0\.0\.1:8080 .*https://example\.com/$' "$CLI_CURL"
if [[ -n "$CLI_CURL" ]] && veil_or_fail cli-help-example --upstream-ca "$TESTCA" --resolve "localhost:$NGX12:127.0.0.1"; then
    cmd=${CLI_CURL//127.0.0.1:8080/127.0.0.1:$VEIL_PORT}
    cmd=${cmd//https:\/\/example.com\//https://localhost:$NGX12/index.html}
    got=$(PATH="$(dirname "$VEIL_BIN"):$PATH" timeout 20 bash -c "$cmd -sS" 2>&1)
    expect_eq "cli/--help's curl example works as printed (\$(veil ca path) trusted)" "hello from the veil test origin" "$got"
    stop_veil 10
fi
