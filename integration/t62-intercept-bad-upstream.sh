# Intercept, bad upstream certificates: a certificate for the wrong name, one from an
# unknown CA and an expired one (and the wrong name over TLS 1.2). curl fails with a
# TLS error (veil sends an alert on the client leg), the summary says close=upstream-cert
# with a reason naming the problem, and veil keeps serving. Without --upstream-ca the
# test CA is unknown (the system store alone does not trust it). --insecure-upstream
# lets them through, warning at start-up and marking every summary.

make_leaf bu-wrongname "DNS:wrong-name.test" || fail "harness/bad-upstream certificates" "wrong name"
BU_WRONG_CERT=$LEAF_CERT BU_WRONG_KEY=$LEAF_KEY
make_ca bu-unknown "Veil Test Unknown CA" || fail "harness/bad-upstream certificates" "unknown CA"
make_leaf bu-unknownca "DNS:localhost,IP:127.0.0.1" "$CA_CERT" "$CA_KEY" || fail "harness/bad-upstream certificates" "unknown-CA leaf"
BU_UNKNOWN_CERT=$LEAF_CERT BU_UNKNOWN_KEY=$LEAF_KEY
# OpenSSL 3.0's x509 has no -not_before: make_leaf uses 'openssl ca -startdate/-enddate'.
make_leaf bu-expired "DNS:localhost,IP:127.0.0.1" "" "" 20200101000000Z 20200102000000Z ||
    fail "harness/bad-upstream certificates" "expired leaf"
BU_EXPIRED_CERT=$LEAF_CERT BU_EXPIRED_KEY=$LEAF_KEY

# Harness: openssl itself rejects each one for the reason the checks expect.
bu_verify() { # CERT WANT_REGEX: openssl verify (test CA, name localhost) fails with that text
    local out
    out=$(openssl verify -CAfile "$TESTCA" -verify_hostname localhost "$1" 2>&1) && return 1
    grep -qiE "$2" <<<"$out"
}
check "harness/wrong-name leaf: hostname mismatch" bu_verify "$BU_WRONG_CERT" 'hostname mismatch'
check "harness/unknown-CA leaf: unable to get local issuer" bu_verify "$BU_UNKNOWN_CERT" 'unable to get local issuer'
check "harness/expired leaf: certificate has expired" bu_verify "$BU_EXPIRED_CERT" 'has expired'

free_port BU_WRONG; free_port BU_WRONG12; free_port BU_UNKNOWN; free_port BU_EXPIRED
BU_PIDS=()
S_SERVER_CERT=$BU_WRONG_CERT S_SERVER_KEY=$BU_WRONG_KEY start_s_server bu-wrong "$BU_WRONG" "$DOCROOT" &&
    BU_PIDS+=("$S_SERVER_PID")
S_SERVER_CERT=$BU_WRONG_CERT S_SERVER_KEY=$BU_WRONG_KEY start_s_server bu-wrong12 "$BU_WRONG12" "$DOCROOT" -tls1_2 &&
    BU_PIDS+=("$S_SERVER_PID")
S_SERVER_CERT=$BU_UNKNOWN_CERT S_SERVER_KEY=$BU_UNKNOWN_KEY start_s_server bu-unknown "$BU_UNKNOWN" "$DOCROOT" &&
    BU_PIDS+=("$S_SERVER_PID")
S_SERVER_CERT=$BU_EXPIRED_CERT S_SERVER_KEY=$BU_EXPIRED_KEY start_s_server bu-expired "$BU_EXPIRED" "$DOCROOT" &&
    BU_PIDS+=("$S_SERVER_PID")

BU_RESOLVE=()
for p in "$BU_WRONG" "$BU_WRONG12" "$BU_UNKNOWN" "$BU_EXPIRED" "$NGX13" "$NGX12"; do
    BU_RESOLVE+=(--resolve "localhost:$p:127.0.0.1")
done

# bu_refused NAME PORT REASON_REGEX: curl through veil fails with a TLS error, the
# summary names the problem, a good request afterwards still works.
bu_refused() {
    local name=$1 port=$2 re=$3 got rc
    log_mark
    got=$(vcurl -o /dev/null -w '%{local_port}' "https://localhost:$port/index.html" 2>"$WORK/bu.err"); rc=$?
    expect_eq "$name/curl fails with a TLS error (35)" 35 "$rc"
    if grep -qi 'alert' "$WORK/bu.err"; then pass "$name/curl got a TLS alert"; else
        fail "$name/curl got a TLS alert" "curl said: $(tr '\n' ' ' <"$WORK/bu.err")"; fi
    summary_for "$got"
    expect_summary "$name/summary close" close upstream-cert
    expect_summary "$name/summary reason" reason "upstream certificate: .*($re).*"
    bu_still_works "$name/veil still serves"
}

bu_still_works() {
    local got
    log_mark
    got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX13/index.html" 2>&1)
    expect_eq "$1" 200 "${got%% *}"
    summary_for "${got##* }" 5
}

if veil_or_fail bad-upstream --resolver static --upstream-ca "$TESTCA" "${BU_RESOLVE[@]}" && veil_ca; then
    bu_refused "bad-upstream/wrong name (TLS1.3)" "$BU_WRONG" 'hostname|mismatch'
    bu_refused "bad-upstream/wrong name (TLS1.2)" "$BU_WRONG12" 'hostname|mismatch'
    bu_refused "bad-upstream/unknown CA" "$BU_UNKNOWN" 'issuer|unknown'
    bu_refused "bad-upstream/expired" "$BU_EXPIRED" 'expired'
    # A verified connection carries no "verification off" mark.
    log_mark
    got=$(vcurl -o /dev/null -w '%{http_code} %{local_port}' "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "bad-upstream/good origin" 200 "${got%% *}"
    summary_for "${got##* }"
    if [[ -n "$SUMMARY" && "$SUMMARY" != *upstream_verify=OFF* ]]; then pass "bad-upstream/verified summary not marked"; else
        fail "bad-upstream/verified summary not marked" "summary: $SUMMARY"; fi
    stop_veil 10
fi

# Without --upstream-ca the test CA is not trusted: the system store is the only anchor.
if veil_or_fail bad-upstream-no-ca --resolver static "${BU_RESOLVE[@]}" && veil_ca; then
    bu_refused_noca() {
        local got
        log_mark
        got=$(vcurl -o /dev/null -w '%{local_port}' "https://localhost:$NGX13/index.html" 2>/dev/null)
        if [[ $? != 0 ]]; then pass "bad-upstream-no-ca/curl fails"; else fail "bad-upstream-no-ca/curl fails" "curl succeeded"; fi
        summary_for "$got"
        expect_summary "bad-upstream-no-ca/summary close" close upstream-cert
        expect_summary "bad-upstream-no-ca/summary reason" reason "upstream certificate: .*(issuer|unknown).*"
    }
    bu_refused_noca
    stop_veil 10
fi

# --insecure-upstream: no verification, a loud warning at start-up and on every summary.
if veil_or_fail bad-upstream-insecure --resolver static --insecure-upstream "${BU_RESOLVE[@]}" && veil_ca; then
    if grep -i 'insecure' "$VEIL_LOG" | grep -qiE 'warn|not verif|no verif|off'; then
        pass "insecure/start-up warning"
    else
        fail "insecure/start-up warning" "no warning naming --insecure-upstream in: $(head -c 600 "$VEIL_LOG" | tr '\n' ' ')"
    fi
    bu_insecure_ok() { # NAME PORT
        local got
        log_mark
        got=$(vcurl -o "$WORK/bu-insecure.out" -w '%{http_code} %{local_port}' "https://localhost:$2/index.html" 2>&1)
        expect_eq "$1/curl status" 200 "${got%% *}"
        check "$1/body" cmp -s "$WORK/bu-insecure.out" "$DOCROOT/index.html"
        summary_for "${got##* }"
        expect_summary "$1/summary close" close ok
        expect_summary "$1/summary marks verification off" upstream_verify OFF
    }
    bu_insecure_ok "insecure/wrong name let through" "$BU_WRONG"
    bu_insecure_ok "insecure/unknown CA let through" "$BU_UNKNOWN"
    stop_veil 10
fi

for p in "${BU_PIDS[@]}"; do stop_pid "$p" 5; done
