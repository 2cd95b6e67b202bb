#!/usr/bin/env bash
# Intercept benchmark (not a test; prints figures): TLS terminated on both legs.
#   Bulk: a 1 GiB HTTPS download from nginx (TLS 1.3, HTTP/1.1) on loopback,
#     (a) direct, (b) through veil (intercept, --upstream-ca), (c) through Squid ssl-bump
#     (Debian's squid-openssl; upstream verified), (d) through mitmproxy (mitmdump from
#     PyPI in a venv; upstream verified), ROUNDS times (default 3), medians reported:
#     wall time, MB/s, proxy CPU seconds per GiB (utime+stime of the proxy process, its
#     threads and children, from /proc), peak RSS.
#   Connections: 200 sequential fresh connections (curl --no-sessionid, Connection: close),
#     each fetching 1 KiB: requests/s and proxy CPU ms per connection.
#   Crypto floor: openssl speed for the ciphers veil's two legs negotiated ->
#     seconds per GiB for one decrypt + one encrypt; veil CPU/GiB divided by it.
#   Copy-relay floor: socat -b 1048576 (a plain TCP relay through userspace, read/write with
#     1 MiB buffers) carrying the same download: what moving the bytes in and out of a process
#     costs on this kernel (loopback TCP, two socket copies), with no crypto. A TLS-terminating
#     proxy without kTLS pays both floors; veil CPU/GiB is also divided by their sum.
#   Handshake floor: bench/tools/handshake-floor.c (built here with cc) runs the two OpenSSL
#     handshakes of one intercepted connection in memory with Veil's configuration (server:
#     full TLS 1.3, ECDSA P-256 leaf; client: resumed with a ticket) and times the proxy side
#     only; run just before and just after veil's connections (median of 3): veil CPU per new
#     connection divided by it.
#   Ratios: veil vs squid and vs mitmproxy throughput; veil's certificate minting figures.
#
#   bench/intercept.sh                     (VEIL_BIN defaults to .build/release/veil)
#   BENCH_MIB=256 ROUNDS=1 bench/intercept.sh     smaller / quicker
#   MITM_MIB=256 bench/intercept.sh        smaller file for mitmproxy only (it is the slow one)
#   CONNS=500 bench/intercept.sh           connections for the handshake part
#   VEIL_ARGS="--ktls off" bench/intercept.sh   extra flags for veil run
#   SKIP=squid,mitmproxy bench/intercept.sh
# Installs squid-openssl (apt, as root) and mitmproxy (pip, bench/.work/venv) when missing.
# The data file is made once and cached in bench/.work/data. Loopback only; well under 10 min.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
WORK_ROOT=$BENCH_DIR/.work
WORK=$WORK_ROOT/intercept-run   # not run/: bench/passthrough.sh may be using that
source "$BENCH_DIR/lib.sh"

BENCH_MIB=${BENCH_MIB:-1024}
MITM_MIB=${MITM_MIB:-$BENCH_MIB}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-200}
SKIP=${SKIP:-}
VEIL_ARGS=${VEIL_ARGS:-}
VENV=$WORK_ROOT/venv

skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

# ------------------------------------------------------------- dependencies

HAVE_SQUID=0
if ! skipped squid; then
    bench_install "$WORK_ROOT/apt-squid.log" squid-openssl
    command -v squid >/dev/null && [[ -x /usr/lib/squid/security_file_certgen ]] && HAVE_SQUID=1
fi

HAVE_MITM=0
if ! skipped mitmproxy; then
    mkdir -p "$WORK_ROOT"
    if [[ ! -x "$VENV/bin/mitmdump" ]]; then
        echo "installing mitmproxy into $VENV (pip)..."
        { [[ -x "$VENV/bin/pip" ]] || /usr/bin/python3 -m venv "$VENV"; } >"$WORK_ROOT/pip-mitmproxy.log" 2>&1
        "$VENV/bin/pip" install -q "mitmproxy${MITM_VERSION:+==$MITM_VERSION}" >>"$WORK_ROOT/pip-mitmproxy.log" 2>&1 ||
            echo "pip install mitmproxy failed: see $WORK_ROOT/pip-mitmproxy.log"
    fi
    [[ -x "$VENV/bin/mitmdump" ]] && HAVE_MITM=1
fi

# ------------------------------------------------------------------- origin

setup_work
make_certs || exit 1
mkdir -p "$WORK/www"
ln -s "$(data_file "$BENCH_MIB")" "$WORK/www/data.bin"
((MITM_MIB != BENCH_MIB)) && ln -s "$(data_file "$MITM_MIB")" "$WORK/www/data-mitm.bin"
head -c 1024 /dev/urandom >"$WORK/www/small.bin"
cat "$WORK/www/data.bin" >/dev/null   # warm the page cache

free_port ORIGIN
start_nginx bench "$WORK/www" "$ORIGIN:TLSv1.3:h1" || exit 1
URL=https://localhost:$ORIGIN/data.bin

# ----------------------------------------------------------------- helpers

# The handshake floor program (needs a C compiler and libssl-dev, as the build does).
FLOOR_BIN=$WORK_ROOT/handshake-floor
FLOOR_RUNS=()
if ! cc -O2 -o "$FLOOR_BIN" "$BENCH_DIR/tools/handshake-floor.c" -lssl -lcrypto 2>"$WORK_ROOT/handshake-floor.log"; then
    echo "handshake floor: cannot build bench/tools/handshake-floor.c (see $WORK_ROOT/handshake-floor.log)"
    FLOOR_BIN=""
fi
FLOOR_LINES=""
handshake_floor() { # appends one run's microseconds per connection to FLOOR_RUNS
    [[ -n "$FLOOR_BIN" ]] || return 0
    local out
    out=$("$FLOOR_BIN" 400 2>&1) || { echo "handshake floor failed: $out"; return 0; }
    FLOOR_RUNS+=("$(sed -n 's/^floor_us_per_connection=\([0-9]*\).*/\1/p' <<<"$out")")
    FLOOR_LINES=$(grep -v '^floor_us' <<<"$out")
}

row() { printf '%-26s %8s %8s %16s %10s\n' "$@"; }

echo "nginx TLS1.3 HTTP/1.1 origin on 127.0.0.1:$ORIGIN; ${BENCH_MIB} MiB x $ROUNDS rounds (medians); $(nproc) cores; curl -o /dev/null"
echo "veil: $VEIL_BIN ${VEIL_ARGS:+(extra: $VEIL_ARGS)}"
echo

# ------------------------------------------------------------------ direct

bulk direct "" "$URL" "$BENCH_MIB" --cacert "$TESTCA" || exit 1
conns direct "" --cacert "$TESTCA"

# -------------------------------------------------------------------- veil

VEIL_SUMMARY="" VEIL_MINT="" VEIL_UP=0 VEIL_KTLS=""
# shellcheck disable=SC2086
if start_veil bench --mode intercept --resolver static --upstream-ca "$TESTCA" \
    --resolve "localhost:$ORIGIN:127.0.0.1" $VEIL_ARGS && veil_ca; then
    VEIL_UP=1
    wait_log "$VEIL_LOG" 'kTLS' 3
    VEIL_KTLS=$(grep -m 1 'kTLS' "$VEIL_LOG")
    log_mark
    bulk veil "$VEIL_PID" "$URL" "$BENCH_MIB" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" ||
        echo "veil bulk transfer failed"
    VEIL_SUMMARY=$(log_new | grep -E "$SUMMARY_RE" | grep "target=localhost:$ORIGIN" | tail -n 1)
    handshake_floor; handshake_floor
    conns veil "$VEIL_PID" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA"
    handshake_floor
    stop_veil 10
    VEIL_MINT=$(grep -E 'certificates minted=' "$VEIL_LOG" | tail -n 1)
else
    echo "veil did not start ($VEIL_BIN); skipping its rows"
fi

# -------------------------------------------------------- copy-relay floor

if command -v socat >/dev/null; then
    free_port COPY_PORT
    socat -b 1048576 "TCP-LISTEN:$COPY_PORT,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$ORIGIN" &
    COPY_PID=$!
    bg_register "$COPY_PID"
    if wait_port "$COPY_PORT" 10; then
        bulk copyrelay "$COPY_PID" "$URL" "$BENCH_MIB" --cacert "$TESTCA" \
            --connect-to "localhost:$ORIGIN:127.0.0.1:$COPY_PORT" || echo "copy-relay transfer failed"
    fi
    stop_pid "$COPY_PID" 5
else
    echo "socat missing: no copy-relay floor (apt-get install socat)"
fi

# ------------------------------------------------------------------- squid

if ((HAVE_SQUID)) && [[ $(id -u) == 0 ]] && start_squid bump; then
    bulk squid "$SQUID_PID" "$URL" "$BENCH_MIB" -x "http://127.0.0.1:$SQUID_PORT" --cacert "$SQUID_CA" ||
        echo "squid bulk transfer failed"
    conns squid "$SQUID_PID" -x "http://127.0.0.1:$SQUID_PORT" --cacert "$SQUID_CA"
    stop_squid
elif ! skipped squid; then
    echo "squid: not run (needs root and squid-openssl)"
fi

# --------------------------------------------------------------- mitmproxy

MITM_PID=""
start_mitm() {
    local mc=$WORK/mitm-conf
    mkdir -p "$mc"
    free_port MITM_PORT
    "$VENV/bin/mitmdump" --listen-host 127.0.0.1 -p "$MITM_PORT" --set confdir="$mc" \
        --set stream_large_bodies=1m --set ssl_verify_upstream_trusted_ca="$TESTCA" --quiet \
        >"$WORK/mitmdump.log" 2>&1 &
    MITM_PID=$!
    bg_register "$MITM_PID"
    wait_port "$MITM_PORT" 30 || { echo "mitmdump did not start:"; tail -n 5 "$WORK/mitmdump.log"; return 1; }
    for _ in $(seq 50); do [[ -s "$mc/mitmproxy-ca-cert.pem" ]] && break; sleep 0.1; done
    MITM_CA=$mc/mitmproxy-ca-cert.pem
    MITM_VERSION_RUN=$("$VENV/bin/mitmdump" --version 2>&1)   # not '| head': pipefail + SIGPIPE
    MITM_VERSION_RUN=${MITM_VERSION_RUN%%$'\n'*}
    return 0
}
if ((HAVE_MITM)) && start_mitm; then
    murl=$URL
    ((MITM_MIB != BENCH_MIB)) && murl=https://localhost:$ORIGIN/data-mitm.bin
    bulk mitmproxy "$MITM_PID" "$murl" "$MITM_MIB" -x "http://127.0.0.1:$MITM_PORT" --cacert "$MITM_CA" ||
        echo "mitmproxy bulk transfer failed"
    conns mitmproxy "$MITM_PID" -x "http://127.0.0.1:$MITM_PORT" --cacert "$MITM_CA"
    stop_pid "$MITM_PID" 10
elif ! skipped mitmproxy; then
    echo "mitmproxy: not run"
fi

# ------------------------------------------------------------- crypto floor

cipher_evp() { # IANA suite -> openssl speed -evp name
    case $1 in
        *AES_128_GCM*) echo aes-128-gcm ;;
        *AES_256_GCM*) echo aes-256-gcm ;;
        *CHACHA20_POLY1305*) echo chacha20-poly1305 ;;
        *) echo "" ;;
    esac
}
declare -A SPEED
speed_of() { # EVP -> bytes/s (cached): the better of two runs, the floor being the best case
    local i r best=0
    if [[ -z "${SPEED[$1]:-}" ]]; then
        for i in 1 2; do
            r=$(openssl speed -evp "$1" -bytes 16384 -seconds 2 2>/dev/null |
                tail -n 1 | awk '{ v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 }')
            [[ "$r" =~ ^[0-9]+$ ]] && ((r > best)) && best=$r
        done
        SPEED[$1]=$best
    fi
    echo "${SPEED[$1]}"
}
UP_CIPHER=$(field cipher "$VEIL_SUMMARY") CL_CIPHER=$(field client_cipher "$VEIL_SUMMARY")
UP_EVP=$(cipher_evp "$UP_CIPHER") CL_EVP=$(cipher_evp "$CL_CIPHER")
for e in aes-128-gcm aes-256-gcm $UP_EVP $CL_EVP; do speed_of "$e" >/dev/null; done   # fills SPEED here, not in a subshell
FLOOR=""
if [[ -n "$UP_EVP" && -n "$CL_EVP" ]] && ((${SPEED[$UP_EVP]:-0} > 0 && ${SPEED[$CL_EVP]:-0} > 0)); then
    FLOOR=$(awk -v a="${SPEED[$UP_EVP]}" -v b="${SPEED[$CL_EVP]}" 'BEGIN { printf "%.3f", 1073741824 / a + 1073741824 / b }')
fi

# ------------------------------------------------------------------ report

echo
echo "== bulk: ${BENCH_MIB} MiB HTTPS download (mitmproxy: ${MITM_MIB} MiB), median of $ROUNDS"
row "" "wall s" "MB/s" "proxy CPU s/GiB" "peak RSS"
for l in direct copyrelay veil squid mitmproxy; do
    name=$l
    case $l in
        copyrelay) name="copy relay (socat, no TLS)" ;;
        veil) name="veil intercept" ;;
        squid) name="squid ssl-bump" ;;
        mitmproxy) name=mitmproxy; ((MITM_MIB != BENCH_MIB)) && name="mitmproxy (${MITM_MIB} MiB)" ;;
    esac
    if [[ -z "${B_WALL[$l]:-}" ]]; then
        skipped "$l" || row "$name" "n/a" "n/a" "n/a" "n/a"
        continue
    fi
    if [[ $l == direct ]]; then
        row "$name" "$(secs "${B_WALL[$l]}")" "$(mbps "${B_SIZE[$l]}" "${B_WALL[$l]}")" "-" "-"
    else
        row "$name" "$(secs "${B_WALL[$l]}")" "$(mbps "${B_SIZE[$l]}" "${B_WALL[$l]}")" \
            "$(per_gib "${B_CPU[$l]}" "${B_SIZE[$l]}")" "$((${B_HWM[$l]:-0} / 1024)) MiB"
    fi
done
for l in direct copyrelay veil squid mitmproxy; do
    [[ -n "${B_ALL[$l]:-}" ]] && echo "  $l rounds: ${B_ALL[$l]}"
done
[[ -n "$VEIL_SUMMARY" ]] && echo "  veil summary: tls=$(field tls "$VEIL_SUMMARY") cipher=$UP_CIPHER client_tls=$(field client_tls "$VEIL_SUMMARY") client_cipher=$CL_CIPHER path=$(field path "$VEIL_SUMMARY") client_path=$(field client_path "$VEIL_SUMMARY") upstream_path=$(field upstream_path "$VEIL_SUMMARY")"
[[ -n "$VEIL_KTLS" ]] && echo "  ${VEIL_KTLS:0:200}"
[[ -n "${SQUID_VERSION:-}" ]] && echo "  squid: $SQUID_VERSION (ssl-bump, upstream verified, server_persistent_connections off)"
[[ -n "${MITM_VERSION_RUN:-}" ]] && echo "  mitmproxy: $MITM_VERSION_RUN (mitmdump, stream_large_bodies=1m, upstream verified)"

echo
echo "== $CONNS sequential fresh connections, 1 KiB each (curl --no-sessionid, Connection: close)"
printf '%-26s %8s %18s   %s\n' "" "req/s" "proxy CPU ms/conn" ""
for l in direct veil squid mitmproxy; do
    [[ -n "${C_RATE[$l]:-}" ]] || continue
    if [[ $l == direct ]]; then
        printf '%-26s %8s %18s   %s\n' "$l" "${C_RATE[$l]}" "-" "(${C_NOTE[$l]})"
    else
        printf '%-26s %8s %18s   %s\n' "$l" "${C_RATE[$l]}" "${C_CPU[$l]}" "(${C_NOTE[$l]})"
    fi
done

HS_FLOOR=""
if ((${#FLOOR_RUNS[@]} > 0)); then
    HS_FLOOR=$(median "${FLOOR_RUNS[@]}")
    echo
    echo "== handshake floor (bench/tools/handshake-floor.c: Veil's two OpenSSL handshakes in memory, proxy side, thread CPU)"
    printf '%s\n' "$FLOOR_LINES" | sed 's/^/  last run: /'
    echo "runs (us per connection, around veil's connections): ${FLOOR_RUNS[*]}; median $HS_FLOOR us"
fi

echo
echo "== crypto floor (openssl speed -evp ... -bytes 16384 -seconds 2, better of 2 runs, one core)"
for e in "${!SPEED[@]}"; do
    awk -v e="$e" -v r="${SPEED[$e]}" 'BEGIN { printf "%-20s %7.0f MB/s  %.3f s/GiB\n", e, r / 1e6, 1073741824 / r }'
done | sort
if [[ -n "$FLOOR" ]]; then
    echo "floor for veil's legs (decrypt $UP_EVP + encrypt $CL_EVP): $FLOOR s/GiB"
fi

echo
echo "== ratios"
if [[ -n "${B_WALL[veil]:-}" ]]; then
    V_CPU_GIB=$(per_gib "${B_CPU[veil]}" "${B_SIZE[veil]}")
    [[ -n "$FLOOR" ]] && awk -v v="$V_CPU_GIB" -v f="$FLOOR" \
        'BEGIN { printf "veil CPU/GiB / crypto floor:        %.2f  (%s s/GiB vs %s s/GiB)\n", v / f, v, f }'
    if [[ -n "$FLOOR" && -n "${B_CPU[copyrelay]:-}" ]]; then
        C_GIB=$(per_gib "${B_CPU[copyrelay]}" "${B_SIZE[copyrelay]}")
        awk -v c="$C_GIB" -v f="$FLOOR" \
            'BEGIN { printf "(crypto + copy-relay floor) / crypto floor: %.2f  (%.3f + %.3f s/GiB: what a proxy with no overhead of its own would show)\n", (f + c) / f, f, c }'
        awk -v v="$V_CPU_GIB" -v c="$C_GIB" -v f="$FLOOR" \
            'BEGIN { printf "veil CPU/GiB / (crypto + copy-relay floor): %.2f\n", v / (f + c) }'
    fi
    [[ -n "$HS_FLOOR" && -n "${C_CPU[veil]:-}" ]] && awk -v v="${C_CPU[veil]}" -v f="$HS_FLOOR" \
        'BEGIN { printf "veil CPU/conn / handshake floor:    %.2f  (%.2f ms vs %.2f ms)\n", v / (f / 1000), v, f / 1000 }'
    awk -v v="${B_WALL[veil]}" -v d="${B_WALL[direct]}" 'BEGIN { printf "veil wall / direct wall:            %.2f\n", v / d }'
    tp() { awk -v s="${B_SIZE[$1]}" -v t="${B_WALL[$1]}" 'BEGIN { print s / t }'; }
    [[ -n "${B_WALL[squid]:-}" ]] && awk -v v="$(tp veil)" -v o="$(tp squid)" \
        'BEGIN { printf "veil / squid throughput:            %.2f\n", v / o }'
    [[ -n "${B_WALL[mitmproxy]:-}" ]] && awk -v v="$(tp veil)" -v o="$(tp mitmproxy)" -v m="$MITM_MIB" -v b="$BENCH_MIB" \
        'BEGIN { printf "veil / mitmproxy throughput:        %.2f%s\n", v / o, (m != b ? sprintf("  (mitmproxy moved %d MiB, veil %d MiB)", m, b) : "") }'
    [[ -n "${C_RATE[squid]:-}" ]] && awk -v v="${C_RATE[veil]}" -v o="${C_RATE[squid]}" \
        'BEGIN { printf "veil / squid connections per s:     %.2f\n", v / o }'
    [[ -n "${C_RATE[mitmproxy]:-}" ]] && awk -v v="${C_RATE[veil]}" -v o="${C_RATE[mitmproxy]}" \
        'BEGIN { printf "veil / mitmproxy connections per s: %.2f\n", v / o }'
    echo "veil peak RSS during bulk:          $((${B_HWM[veil]:-0} / 1024)) MiB (VmHWM)"
else
    echo "no veil figures"
fi
if [[ -n "$VEIL_MINT" ]]; then
    echo "veil certificate minting:           ${VEIL_MINT#*veil: }"
elif ((VEIL_UP)); then
    echo "veil certificate minting:           (no 'certificates minted=' line at shutdown)"
fi
