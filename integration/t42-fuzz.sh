# Fuzz: thousands of mutated ClientHellos (and CONNECT/RESOLVE requests around them), pipelined
# in the CONNECT head's write or sent after the answer, in one write or many, ended by a close,
# a half-close, a reset (also mid-way) or follow-up records (tools/hellofuzz.py). Targets:
# pass-through mode and intercept mode (with a --passthrough host) on the plain listener and
# inside the HTTPS listener's TLS, the HTTPS listener's own handshake, the Veil relay (its own
# TLS listener, and CONNECT/RESOLVE inside it) and Veil routed through the relay. After every
# batch: the process is alive, every connection got exactly one summary line, curl is served.
#
# Seeded and reproducible: FUZZ_SEED=N integration/run-all.sh fuzz runs the same cases again;
# a failure prints the hellofuzz.py command that replays the case (--only) or prints it (--dump).
# FUZZ_SCALE multiplies the number of cases (default 1: about 5000 in all).

FUZZ_SEED=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
FUZZ_SCALE=${FUZZ_SCALE:-1}
FUZZ_CASES_LOG=$WORK/fuzz-cases.log
say "fuzz seed $FUZZ_SEED (again: FUZZ_SEED=$FUZZ_SEED integration/run-all.sh fuzz); every case in $FUZZ_CASES_LOG"
FUZZ_RESOLVE=(--resolver static --resolve "localhost:$NGX13:127.0.0.1" --resolve "localhost:$NGX12:127.0.0.1"
    --resolve "origin.test:$NGX12:127.0.0.1")
FUZZ_TARGETS=(--target "localhost:$NGX13" --target "localhost:$NGX12" --target "origin.test:$NGX12")
FUZZ_TIMEOUTS=(--header-timeout 5 --handshake-timeout 5)

# fuzz_veil NAME VEIL-ARGS...: start_veil with an HTTPS listener as well (FUZZ_TLS_PORT);
# remembers the arguments for a restart (FUZZ_VEIL_ARGS).
fuzz_veil() {
    local name=$1; shift
    free_port FUZZ_TLS_PORT
    FUZZ_VEIL_NAME=$name
    FUZZ_VEIL_ARGS=(--listen-tls "127.0.0.1:$FUZZ_TLS_PORT" "$@")
    veil_or_fail "$name" "${FUZZ_VEIL_ARGS[@]}" && veil_ca
}

# fuzz_check_cmd CACERT: curl through both listeners of the running veil.
fuzz_check_cmd() {
    local ca=$1
    printf '%s' "curl -sS --max-time 20 -x http://127.0.0.1:$VEIL_PORT --cacert $ca -o /dev/null -w '%{http_code}' https://localhost:$NGX12/index.html | grep -qx 200 &&
curl -sS --max-time 20 -x https://127.0.0.1:$FUZZ_TLS_PORT --proxy-cacert $VEIL_CA --cacert $ca -o /dev/null -w '%{http_code}' https://localhost:$NGX13/index.html | grep -qx 200"
}

# fuzz NAME PID LOG CHECK RESTART PORTVAR CASES FIRST HELLOFUZZ-ARGS...: one fuzz run against
# port ${!PORTVAR}; three results (survives, one summary per connection, still serves). When
# the process died, RESTART (a function) starts it again (setting FUZZ_PID, FUZZ_LOG and
# PORTVAR) and the batch is replayed one case at a time to name the case that kills it.
fuzz() {
    local name=$1 pid=$2 log=$3 chk=$4 restart=$5 portvar=$6 cases=$7 first=$8; shift 8
    local base=(python3 "$TOOLS/hellofuzz.py" --seed "$FUZZ_SEED" "$@") out rc only culprit
    out=$("${base[@]}" --port "${!portvar}" --label "$name" --cases $((cases * FUZZ_SCALE)) --first "$first" \
        --concurrency 24 --batch 200 --pid "$pid" --log "$log" --check "$chk" --cases-log "$FUZZ_CASES_LOG" 2>&1); rc=$?
    sed 's/^/    /' <<<"$out"
    if [[ $rc != 0 && $rc != 20 && $rc != 21 && $rc != 22 ]]; then
        fail "$name: hellofuzz.py ran" "exit $rc"
        return
    fi
    if [[ $rc == 20 ]]; then
        fail "$name: the process survives" "$(grep -m1 'FAIL' <<<"$out")"
        grep -m3 -E 'Fatal error|runtime failure|Connection.*\+ [0-9]+ in' "$log" | cut -c1-300 | sed 's/^/    | /'
        only=$(sed -n 's/.* --only \([0-9,-]*\).*/\1/p' <<<"$out" | head -n 1)
        if [[ -n "$only" ]] && "$restart"; then
            say "replaying cases $only one at a time against a fresh process (log $FUZZ_LOG)"
            out=$("${base[@]}" --port "${!portvar}" --label "$name/replay" --only "$only" --pid "$FUZZ_PID" --log "$FUZZ_LOG" 2>&1)
            grep -E 'FAIL|reproducer' <<<"$out" | head -n 3 | sed 's/^/    /'
            grep -m3 -E 'runtime failure|Connection.*\+ [0-9]+ in' "$FUZZ_LOG" | cut -c1-300 | sed 's/^/    | /'
            culprit=$(sed -n 's/.*reproducer: case=\([0-9]*\) .*/\1/p' <<<"$out")
            if [[ -n "$culprit" ]]; then
                say "replay: python3 integration/tools/hellofuzz.py --seed $FUZZ_SEED $* --port PORT --only $culprit --pid PID"
                say "print:  python3 integration/tools/hellofuzz.py --seed $FUZZ_SEED $* --port 1 --dump $culprit"
            else
                say "replay: no single case killed it alone (a race between cases?)"
            fi
        fi
        return
    fi
    pass "$name: the process survives"
    if grep -q 'FAIL: .*summary' <<<"$out"; then fail "$name: one summary line per connection" "$(grep -m1 'FAIL: .*summary' <<<"$out")"; else
        pass "$name: one summary line per connection"; fi
    if grep -q 'FAIL: check' <<<"$out"; then fail "$name: curl still served after every batch" "$(grep -m1 'FAIL: check' <<<"$out")"; else
        pass "$name: curl still served after every batch"; fi
}

# Restart functions for the replay: FUZZ_PID and FUZZ_LOG of the fresh process, on the same
# ports (the plain port is the one thing start_veil picks anew: VEIL_PORT).
FUZZ_RESTARTS=0
fuzz_veil_again() {
    FUZZ_RESTARTS=$((FUZZ_RESTARTS + 1))
    veil_or_fail "$FUZZ_VEIL_NAME-restart$FUZZ_RESTARTS" "${FUZZ_VEIL_ARGS[@]}"
}
fuzz_restart_veil() {
    stop_veil 2
    fuzz_veil_again && FUZZ_PID=$VEIL_PID && FUZZ_LOG=$VEIL_LOG
}

# fuzz_veil_set NAME FIRST CACERT: the plain, HTTPS-listener and outer-handshake runs against
# the running veil (restarted first if an earlier run killed it).
fuzz_veil_set() {
    local name=$1 first=$2 ca=$3 chk
    for kind in plain front outer; do
        if ! kill -0 "$VEIL_PID" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$VEIL_PID/stat" 2>/dev/null)" == Z ]]; then
            stop_veil 1; fuzz_veil_again || return
        fi
        chk=$(fuzz_check_cmd "$ca")
        case $kind in
        plain) fuzz "fuzz/$name/plain" "$VEIL_PID" "$VEIL_LOG" "$chk" fuzz_restart_veil VEIL_PORT 1000 "$first" \
                   --kind plain "${FUZZ_TARGETS[@]}" ;;
        front) fuzz "fuzz/$name/inside the HTTPS listener" "$VEIL_PID" "$VEIL_LOG" "$chk" fuzz_restart_veil FUZZ_TLS_PORT 400 $((first + 10000)) \
                   --kind front --cafile "$VEIL_CA" "${FUZZ_TARGETS[@]}" ;;
        outer) fuzz "fuzz/$name/the HTTPS listener's handshake" "$VEIL_PID" "$VEIL_LOG" "$chk" fuzz_restart_veil FUZZ_TLS_PORT 300 $((first + 20000)) \
                   --kind outer ;;
        esac
    done
}

if fuzz_veil fuzz-passthrough --mode passthrough "${FUZZ_RESOLVE[@]}" "${FUZZ_TIMEOUTS[@]}"; then
    fuzz_veil_set passthrough 0 "$TESTCA"
    stop_veil 10
fi

if fuzz_veil fuzz-intercept --passthrough origin.test --upstream-ca "$TESTCA" "${FUZZ_RESOLVE[@]}" "${FUZZ_TIMEOUTS[@]}"; then
    fuzz_veil_set intercept 100000 "$VEIL_CA"
    stop_veil 10
fi

# The relay: its own TLS handshake, then CONNECT and RESOLVE (with the right secret, a wrong one
# or none) and a mutated ClientHello inside. Then a Veil routed through it.
FUZZ_SECRET_FILE=$WORK/fuzz-relay-secret
echo "fuzz-relay-secret-$RANDOM$RANDOM" >"$FUZZ_SECRET_FILE"
FUZZ_RELAY_ARGS=(--secret-file "$FUZZ_SECRET_FILE" --allow-private --allow-port "$NGX13,$NGX12"
    --auth-failures 1000000 --max-per-client 100000 "${FUZZ_RESOLVE[@]}")
free_port FUZZ_RELAY_PORT
fuzz_restart_relay() {
    stop_pid "$RL_PID" 2
    FUZZ_RESTARTS=$((FUZZ_RESTARTS + 1)); start_relay "fuzz-restart$FUZZ_RESTARTS" "$FUZZ_RELAY_PORT" "${FUZZ_RELAY_ARGS[@]}" && FUZZ_PID=$RL_PID && FUZZ_LOG=$RL_LOG
}
if start_relay fuzz "$FUZZ_RELAY_PORT" "${FUZZ_RELAY_ARGS[@]}"; then
    chk="curl -sS --max-time 20 -x https://127.0.0.1:$FUZZ_RELAY_PORT --proxy-insecure --proxy-header \"Proxy-Authorization: Bearer \$(head -n1 $FUZZ_SECRET_FILE)\" --cacert $TESTCA -o /dev/null -w '%{http_code}' https://localhost:$NGX13/index.html | grep -qx 200"
    fuzz "fuzz/relay/inside the relay's TLS" "$RL_PID" "$RL_LOG" "$chk" fuzz_restart_relay FUZZ_RELAY_PORT 600 200000 \
        --kind front --secret-file "$FUZZ_SECRET_FILE" "${FUZZ_TARGETS[@]}"
    kill -0 "$RL_PID" 2>/dev/null || fuzz_restart_relay "${FUZZ_RELAY_ARGS[@]}"
    fuzz "fuzz/relay/the relay's handshake" "$RL_PID" "$RL_LOG" "$chk" fuzz_restart_relay FUZZ_RELAY_PORT 300 210000 \
        --kind outer
    kill -0 "$RL_PID" 2>/dev/null || fuzz_restart_relay "${FUZZ_RELAY_ARGS[@]}"

    # Veil through the relay: intercepted and passed-through hosts, the mutated hellos go
    # into the tunnel.
    if fuzz_veil fuzz-tunnel --route tunnel --relay "127.0.0.1:$FUZZ_RELAY_PORT" --relay-fingerprint "$RL_FP" \
            --relay-secret-file "$FUZZ_SECRET_FILE" --passthrough origin.test --upstream-ca "$TESTCA" \
            --resolver static "${FUZZ_TIMEOUTS[@]}"; then
        fuzz "fuzz/tunnel/plain" "$VEIL_PID" "$VEIL_LOG" "$(fuzz_check_cmd "$VEIL_CA")" fuzz_restart_veil VEIL_PORT 400 300000 \
            --kind plain "${FUZZ_TARGETS[@]}"
        stop_veil 10
    fi
    stop_pid "$RL_PID" 10
    expect_eq "fuzz/relay: clean exit after the fuzz" 0 "$STOP_RC"
else
    fail "fuzz/relay/start" "the relay did not start"
fi
