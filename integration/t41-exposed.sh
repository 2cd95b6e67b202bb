# Listening beyond loopback (--listen 0.0.0.0:PORT; traffic here still only goes over
# loopback): the proxy host's own addresses are refused as targets (403 with the reason),
# literal or through a name, unless an allow rule names them; a loopback listener keeps
# reaching them. Also: key and record log files that exist with a looser mode become 0600
# (with a warning).

PC=(python3 "$TOOLS/proxyclient.py")
kv() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

# start_exposed NAME ARGS...: veil on 0.0.0.0:<free port> (start_veil binds 127.0.0.1).
start_exposed() {
    local name=$1 i; shift
    free_port VEIL_PORT
    VEIL_LOG=$WORK/veil-$name.log
    LOG_MARK=0
    "$VEIL_BIN" run --listen "0.0.0.0:$VEIL_PORT" --allow-open-proxy "$@" >"$VEIL_LOG" 2>&1 &
    VEIL_PID=$!
    bg_register "$VEIL_PID"
    for ((i = 0; i < 100; i++)); do
        grep -q "listening on" "$VEIL_LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "$name/start" "veil did not start"
    return 1
}

# connect_status NAME TARGET WANT [BODY_REGEX]
connect_status() {
    local out
    out=$("${PC[@]}" raw --port "$VEIL_PORT" --data "CONNECT $2 HTTP/1.1\r\nHost: $2\r\n\r\n" --timeout 5)
    expect_eq "$1" "$3" "$(kv status "$out")"
    [[ -n "${4:-}" ]] && expect_match "$1/reason" "$4" "$(kv body "$out")"
}

EX_RESOLVE=(--resolve "inside.test:$NGX13:127.0.0.1" --resolve "localhost:$NGX12:127.0.0.1")
if start_exposed exposed --mode passthrough --resolver static "${EX_RESOLVE[@]}"; then
    expect_match "exposed/start-up says so" 'own addresses .* are refused' "$(cat "$VEIL_LOG")"
    connect_status "exposed/127.0.0.1 refused" "127.0.0.1:$NGX13" 403 'address of the proxy host itself'
    connect_status "exposed/127.9.9.9 refused" "127.9.9.9:$NGX13" 403
    connect_status "exposed/0.0.0.0 refused" "0.0.0.0:$NGX13" 403
    connect_status "exposed/[::1] refused" "[::1]:$NGX13" 403
    connect_status "exposed/[::ffff:127.0.0.1] refused" "[::ffff:127.0.0.1]:$NGX13" 403
    connect_status "exposed/a name resolving to loopback refused" "inside.test:$NGX13" 403 'resolves to 127.0.0.1'
    stop_veil 10
fi

if start_exposed exposed-allowed --mode passthrough --resolver static "${EX_RESOLVE[@]}" \
    --allow "127.0.0.1:$NGX13" --allow inside.test; then
    connect_status "exposed-allowed/an allow rule naming 127.0.0.1" "127.0.0.1:$NGX13" 200
    connect_status "exposed-allowed/an allow rule naming the name" "inside.test:$NGX13" 200
    connect_status "exposed-allowed/other loopback still refused" "127.0.0.2:$NGX13" 403
    stop_veil 10
fi

if veil_or_fail loopback-listener --mode passthrough --resolver static "${EX_RESOLVE[@]}"; then
    connect_status "loopback-listener/127.0.0.1 reachable" "127.0.0.1:$NGX13" 200
    stop_veil 10
fi

# Private files: a key log and a record log that already exist readable by others.
: >"$WORK/loose.keylog"; chmod 644 "$WORK/loose.keylog"
: >"$WORK/loose.records"; chmod 644 "$WORK/loose.records"
if veil_or_fail private-files --resolver static --keylog "$WORK/loose.keylog" \
    --record-log-file "$WORK/loose.records" "${EX_RESOLVE[@]}"; then
    expect_eq "private-files/key log made 0600" 600 "$(stat -c %a "$WORK/loose.keylog")"
    expect_eq "private-files/record log made 0600" 600 "$(stat -c %a "$WORK/loose.records")"
    expect_match "private-files/warned" 'key log .* was mode 644' "$(cat "$VEIL_LOG")"
    stop_veil 10
fi

# A secret given on the command line is blanked in /proc/PID/cmdline, with a warning; with no
# secret the relay keeps a generated one in its home (0600) and prints the path, not the secret.
free_port EX_RL_PORT
EX_SECRET=cmdline-secret-$RANDOM$RANDOM
if start_relay cmdline "$EX_RL_PORT" --secret "$EX_SECRET"; then
    if tr '\0' ' ' <"/proc/$RL_PID/cmdline" | grep -q "$EX_SECRET"; then
        fail "relay-secret/blanked in /proc/PID/cmdline" "$(tr '\0' ' ' <"/proc/$RL_PID/cmdline")"
    else
        pass "relay-secret/blanked in /proc/PID/cmdline"
    fi
    expect_match "relay-secret/warned" 'warning: --secret on the command line' "$(cat "$RL_LOG")"
    stop_pid "$RL_PID" 5
fi
free_port EX_RL_PORT2
if start_relay generated "$EX_RL_PORT2"; then
    gen=$WORK/relay-home-generated/relay-secret
    expect_eq "relay-secret/generated file is 0600" 600 "$(stat -c %a "$gen" 2>/dev/null)"
    if [[ -s "$gen" ]] && ! grep -qF "$(cat "$gen")" "$RL_LOG"; then pass "relay-secret/generated secret not printed"; else
        fail "relay-secret/generated secret not printed" "$(cat "$RL_LOG")"; fi
    first=$(cat "$gen")
    stop_pid "$RL_PID" 5
    if start_relay generated "$EX_RL_PORT2"; then
        expect_eq "relay-secret/kept across restarts" "$first" "$(cat "$gen")"
    else
        fail "relay-secret/kept across restarts" "the relay did not start again: $(tail -n 5 "$RL_LOG")"
    fi
    stop_pid "$RL_PID" 5
fi
