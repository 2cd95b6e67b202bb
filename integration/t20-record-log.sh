# Record log: --record-log records shows the ClientHello / ServerHello records with
# the right fields, the relay goes through userspace, downloads stay intact; the
# JSON format parses; --record-log-file and --record-log off/summary behave.

LOGCHECK=(python3 "$TOOLS/logcheck.py")

# rl_download NAME PORT TLS_VERSION
rl_download() {
    local name=$1 port=$2 tls=$3 out=$WORK/rl-$2.bin got conn
    log_mark
    got=$(pcurl -o "$out" -w '%{http_code} %{local_port}' "https://localhost:$port/big.bin" 2>&1)
    expect_eq "$name/curl status" 200 "${got%% *}"
    expect_eq "$name/sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$out")"
    rm -f "$out"
    summary_for "${got##* }"
    expect_summary "$name/summary path" path userspace
    expect_summary "$name/summary tls" tls "$tls"
    expect_summary "$name/summary close" close ok
    conn=$(field conn "$SUMMARY")
    [[ -n "$conn" ]] || conn='.*'
    check "$name/ClientHello record client->proxy with sni" "${LOGCHECK[@]}" find "$VEIL_LOG" --since "$LOG_MARK" \
        --event record "conn=$conn" 'dir=client->proxy' type=handshake 'msgs=ClientHello .*\bsni=localhost\b.*'
    check "$name/ServerHello record upstream->proxy version=$tls" "${LOGCHECK[@]}" find "$VEIL_LOG" --since "$LOG_MARK" \
        --event record "conn=$conn" 'dir=upstream->proxy' type=handshake "msgs=ServerHello version=${tls//./\\.}\\b.*"
    check "$name/opaque application_data records both ways" bash -c '
        "$@" --event record "conn='"$conn"'" "dir=upstream->proxy" type=application_data opaque=true >/dev/null &&
        "$@" --event record "conn='"$conn"'" "dir=client->proxy" type=application_data opaque=true >/dev/null' \
        _ "${LOGCHECK[@]}" find "$VEIL_LOG" --since "$LOG_MARK"
}

RL_RESOLVE=(--resolve "localhost:$NGX12:127.0.0.1" --resolve "localhost:$NGX13:127.0.0.1")

if veil_or_fail records --mode passthrough --resolver static "${RL_RESOLVE[@]}" --record-log records; then
    rl_download "records/nginx-tls1.2" "$NGX12" TLSv1.2
    rl_download "records/nginx-tls1.3" "$NGX13" TLSv1.3
    stop_veil 10
fi

if veil_or_fail records-json --mode passthrough --resolver static "${RL_RESOLVE[@]}" \
    --record-log records --log-format json; then
    got=$(pcurl -o "$WORK/rlj.bin" -w '%{http_code}' "https://localhost:$NGX13/big.bin" 2>&1)
    expect_eq "records-json/curl status" 200 "$got"
    expect_eq "records-json/sha256 of 16 MiB" "$BIG_SHA" "$(sha_of "$WORK/rlj.bin")"
    rm -f "$WORK/rlj.bin"
    check "records-json/summary event" "${LOGCHECK[@]}" find "$VEIL_LOG" --wait 5 --event summary \
        path=userspace close=ok tls=TLSv1.3 'alpn=h2|-' sni=localhost "target=localhost:$NGX13"
    check "records-json/ClientHello record" "${LOGCHECK[@]}" find "$VEIL_LOG" --event record \
        'dir=client->proxy' type=handshake 'msgs=ClientHello .*\bsni=localhost\b.*'
    check "records-json/ServerHello record" "${LOGCHECK[@]}" find "$VEIL_LOG" --event record \
        'dir=upstream->proxy' type=handshake 'msgs=ServerHello version=TLSv1\.3\b.*'
    check "records-json/every JSON line parses, keys typed" "${LOGCHECK[@]}" validate-json "$VEIL_LOG"
    stop_veil 10
fi

# --record-log summary with --record-log-file: summary lines land in the file, no records.
RLFILE=$WORK/record-log-file.log
if veil_or_fail record-log-file --mode passthrough --resolver static "${RL_RESOLVE[@]}" \
    --record-log summary --record-log-file "$RLFILE"; then
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "record-log-file/curl status" 200 "$got"
    check "record-log-file/summary line in the file" "${LOGCHECK[@]}" find "$RLFILE" --wait 5 --event summary \
        close=ok path=splice
    check "record-log-file/no record lines with --record-log summary" \
        bash -c "! grep -qE '(^|[^[:alnum:]_])record conn=|\"event\":\"record\"' '$RLFILE' '$VEIL_LOG'"
    stop_veil 10
fi

# --record-log off: no summary lines at all.
if veil_or_fail record-log-off --mode passthrough --resolver static "${RL_RESOLVE[@]}" --record-log off; then
    got=$(pcurl -o /dev/null -w '%{http_code}' "https://localhost:$NGX12/index.html" 2>&1)
    expect_eq "record-log-off/curl status" 200 "$got"
    sleep 1
    check "record-log-off/no summary line" bash -c "! grep -qE '$SUMMARY_RE|\"event\":\"summary\"' '$VEIL_LOG'"
    stop_veil 10
fi
