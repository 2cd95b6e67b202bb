# A ClientHello cut into several TLS records (two halves, 64-byte and 1-byte fragments, each
# record in its own TCP segment) is reassembled before anything is decided: a matching SNI
# completes the handshake, a different one is refused with sni-mismatch before a single byte
# reaches the origin. Pass-through once forwarded the first fragment at once and checked
# nothing (summary sni=null), so a hello for another host went through.

PC=(python3 "$TOOLS/proxyclient.py")
kv() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

# frag_case NAME CAFILE SNI FRAGMENT WANT_HANDSHAKE WANT_CLOSE [WANT_BYTES_UP]
frag_case() {
    local name=$1 cafile=$2 sni=$3 frag=$4 want=$5 close=$6 up=${7:-}
    local out
    log_mark
    out=$("${PC[@]}" sni --port "$VEIL_PORT" --target "localhost:$NGX13" --sni "$sni" \
        --cafile "$cafile" --fragment "$frag" 2>&1)
    expect_match "$name/handshake" "^$want" "$(kv handshake "$out")"
    summary_for "$(kv local "$out")" 6
    expect_summary "$name/summary close" close "$close"
    expect_summary "$name/summary sni" sni "$sni"
    [[ -n "$up" ]] && expect_summary "$name/nothing reached the origin" bytes_up "$up"
}

if veil_or_fail frag-passthrough --mode passthrough --resolver static \
    --resolve "localhost:$NGX13:127.0.0.1" --resolve "localhost:$NGX12:127.0.0.1"; then
    for f in 0 64 1; do
        frag_case "frag/pass-through, fragments of $f, SNI matches" "$TESTCA" localhost "$f" ok 'ok|client-gone'
        frag_case "frag/pass-through, fragments of $f, other SNI" "$TESTCA" origin.test "$f" failed sni-mismatch 0
    done
    still_works "frag/pass-through still serves"
    stop_veil 10
fi

if veil_or_fail frag-intercept --resolver static --upstream-ca "$TESTCA" \
    --resolve "localhost:$NGX13:127.0.0.1" && veil_ca; then
    for f in 0 64 1; do
        frag_case "frag/intercept, fragments of $f, SNI matches" "$VEIL_CA" localhost "$f" ok 'ok|client-gone'
        frag_case "frag/intercept, fragments of $f, other SNI" "$VEIL_CA" origin.test "$f" failed sni-mismatch
    done
    stop_veil 10
fi
