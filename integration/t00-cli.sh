# CLI basics: --version, --help, a bad option is refused.

cli_bad_option() {
    local rc
    timeout 5 "$VEIL_BIN" run --no-such-option --listen 127.0.0.1:1 >/dev/null 2>&1; rc=$?
    [[ $rc != 0 && $rc != 124 ]]   # 124: still running after 5 s, i.e. the option was ignored
}

check "cli/--version exits 0" timeout 5 "$VEIL_BIN" --version
check "cli/--help mentions run" bash -c "timeout 5 '$VEIL_BIN' --help 2>&1 | grep -q run"
check "cli/unknown option is refused" cli_bad_option
