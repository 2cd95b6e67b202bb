# --metrics ADDR:PORT: GET /metrics parses with the Prometheus text parser (Debian's
# python3-prometheus-client), its counters move as connections end (by mode and close=,
# bytes, data path, record layer, upstream handshakes and resumptions, DNS cache, certificates,
# per-worker open connections), and GET /healthz says ok.

free_port MX_PORT
# mx_value NAME LABELS: the sample's value from a scrape (LABELS as k=v,k=v; empty for none).
mx_value() {
    curl -sS --max-time 5 "http://127.0.0.1:$MX_PORT/metrics" | /usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
name, labels = sys.argv[1], dict(kv.split("=", 1) for kv in sys.argv[2].split(",") if kv)
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            print(int(s.value) if s.value == int(s.value) else s.value)
            sys.exit(0)
print("absent")' "$1" "${2:-}"
}

if veil_or_fail metrics --resolver static --upstream-ca "$TESTCA" --metrics "127.0.0.1:$MX_PORT" --workers 2 \
    --resolve "localhost:$NGX13:127.0.0.1" --resolve "localhost:$NGX12:127.0.0.1" \
    --passthrough "localhost:$NGX12" && veil_ca; then
    check "metrics/whole scrape parses" bash -c "curl -sS --max-time 5 http://127.0.0.1:$MX_PORT/metrics | /usr/bin/python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
n = sum(len(f.samples) for f in text_string_to_metric_families(sys.stdin.read()))
assert n > 50, n'"
    expect_eq "metrics/healthz" ok "$(curl -sS --max-time 5 "http://127.0.0.1:$MX_PORT/healthz")"
    expect_eq "metrics/two workers answer" 2 "$(mx_value veil_workers_answering)"
    before=$(mx_value veil_connections_total mode=intercept,close=ok)
    for i in 1 2 3; do vcurl -o /dev/null "https://localhost:$NGX13/index.html?$i"; done
    pcurl -o /dev/null "https://localhost:$NGX12/big.bin"
    python3 "$TOOLS/proxyclient.py" raw --port "$VEIL_PORT" --data "CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n" >/dev/null
    sleep 0.5
    expect_eq "metrics/intercepted connections counted" $((before + 3)) "$(mx_value veil_connections_total mode=intercept,close=ok)"
    expect_eq "metrics/pass-through counted" 1 "$(mx_value veil_connections_total mode=passthrough,close=ok)"
    expect_eq "metrics/a failed resolution counted by its close reason" 1 "$(mx_value veil_connections_total close=resolve-failed)"
    down=$(mx_value veil_bytes_total direction=down)
    if ((down > BIG_SIZE)); then pass "metrics/bytes down count the 16 MiB"; else fail "metrics/bytes down count the 16 MiB" "$down"; fi
    expect_eq "metrics/spliced path counted" 1 "$(mx_value veil_data_path_total path=splice)"
    expect_eq "metrics/upstream handshakes observed" 3 "$(mx_value veil_upstream_handshake_seconds_count)"
    resumed=$(mx_value veil_upstream_resumed_total)
    if ((resumed >= 1)); then pass "metrics/upstream resumptions counted"; else fail "metrics/upstream resumptions counted" "$resumed"; fi
    expect_eq "metrics/one certificate minted for localhost" 1 "$(mx_value veil_certificates_minted_total)"
    hits=$(mx_value veil_certificate_cache_hits_total)
    if ((hits >= 2)); then pass "metrics/certificate cache hits"; else fail "metrics/certificate cache hits" "$hits"; fi
    expect_eq "metrics/nothing open now" 0 "$(( $(mx_value veil_open_connections worker=0,kind=connection) + $(mx_value veil_open_connections worker=1,kind=connection) ))"
    expect_eq "metrics/unknown path 404" 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MX_PORT/x")"
    stop_veil 10
fi
