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
source "$BENCH_DIR/../integration/lib.sh"

BENCH_MIB=${BENCH_MIB:-1024}
MITM_MIB=${MITM_MIB:-$BENCH_MIB}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-200}
SKIP=${SKIP:-}
VEIL_ARGS=${VEIL_ARGS:-}
TCK=$(getconf CLK_TCK)
VENV=$WORK_ROOT/venv
PROCTREE=(python3 "$BENCH_DIR/tools/proctree.py")

skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

# ------------------------------------------------------------- dependencies

HAVE_SQUID=0
if ! skipped squid; then
    if ! command -v squid >/dev/null || [[ ! -x /usr/lib/squid/security_file_certgen ]]; then
        if [[ $(id -u) == 0 ]]; then
            echo "installing squid-openssl (apt)..."
            # No service start during the install: we run our own squid on loopback.
            made_policy=0
            if [[ ! -e /usr/sbin/policy-rc.d ]]; then
                printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
            fi
            { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends squid-openssl; } \
                >"$WORK_ROOT/apt-squid.log" 2>&1 || echo "apt-get install squid-openssl failed: see $WORK_ROOT/apt-squid.log"
            ((made_policy)) && rm -f /usr/sbin/policy-rc.d
        else
            echo "squid-openssl missing; run: sudo apt-get install -y squid-openssl"
        fi
    fi
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
mkdir -p "$WORK_ROOT/data" "$WORK/www"
data_file() { # MIB -> path of a cached random file of that size
    local f=$WORK_ROOT/data/random-${1}MiB.bin
    if [[ ! -s "$f" ]]; then
        echo "making $f (once)..." >&2
        head -c "${1}M" /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f"
    fi
    echo "$f"
}
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

cpu_ticks() { [[ -n "${1:-}" ]] && "${PROCTREE[@]}" cpu "$1" || echo 0; }
hwm_kib() { "${PROCTREE[@]}" hwm "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "") }'; }
now() { date +%s.%N; }

# fetch LABEL URL WANT_BYTES CURL-ARGS...: sets WALL (s); fails on a short download.
fetch() {
    local label=$1 url=$2 want=$3; shift 3
    local w code size
    w=$(curl -sS --http1.1 --max-time 900 -o /dev/null -w '%{time_total} %{size_download} %{http_code}' "$@" "$url") || {
        echo "$label: curl failed: $w"; return 1; }
    read -r WALL size code <<<"$w"
    [[ "$code" == 200 && "$size" == "$want" ]] || { echo "$label: got $w"; return 1; }
}

# bulk LABEL PID URL MIB CURL-ARGS...: ROUNDS fetches; appends to the named result arrays
# via globals B_WALL[LABEL] B_CPU[LABEL] (medians).
declare -A B_WALL B_CPU B_SIZE B_HWM B_ALL
bulk() {
    local label=$1 pid=$2 url=$3 mib=$4; shift 4
    local walls=() cpus=() r c0 c1
    for r in $(seq "$ROUNDS"); do
        c0=$(cpu_ticks "$pid")
        fetch "$label" "$url" $((mib * 1048576)) "$@" || return 1
        c1=$(cpu_ticks "$pid")
        walls+=("$WALL")
        cpus+=("$(awk -v d=$((c1 - c0)) -v t="$TCK" 'BEGIN { printf "%.3f", d / t }')")
    done
    B_WALL[$label]=$(median "${walls[@]}")
    B_CPU[$label]=$(median "${cpus[@]}")
    B_SIZE[$label]=$((mib * 1048576))
    B_ALL[$label]="walls ${walls[*]}; cpu ${cpus[*]}"
    if [[ -n "$pid" ]]; then B_HWM[$label]=$(hwm_kib "$pid"); fi
    return 0
}

# conns LABEL PID CURL-ARGS...: CONNS sequential fresh connections, 1 KiB each.
declare -A C_RATE C_CPU C_NOTE
conns() {
    local label=$1 pid=$2; shift 2
    local args=() i t0 t1 c0 c1 out ok newc
    for ((i = 1; i <= CONNS; i++)); do
        args+=(-o /dev/null "https://localhost:$ORIGIN/small.bin?c=$i")
    done
    c0=$(cpu_ticks "$pid"); t0=$(now)
    out=$(curl -sS --http1.1 --max-time 600 --no-sessionid -H 'Connection: close' \
        -w '%{http_code} %{num_connects}\n' "$@" "${args[@]}" 2>"$WORK/conns-$label.err")
    t1=$(now); c1=$(cpu_ticks "$pid")
    ok=$(grep -c '^200 ' <<<"$out")
    newc=$(awk '$2 > 0 { n++ } END { print n + 0 }' <<<"$out")
    C_RATE[$label]=$(awk -v n="$ok" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    C_CPU[$label]=$(awk -v d=$((c1 - c0)) -v t="$TCK" -v n="$CONNS" 'BEGIN { printf "%.2f", d / t / n * 1000 }')
    C_NOTE[$label]="$ok/$CONNS ok, $newc new connections"
}

row() { printf '%-26s %8s %8s %16s %10s\n' "$@"; }
secs() { printf '%.2f' "$1"; }
mbps() { awk -v s="$1" -v t="$2" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
per_gib() { awk -v c="$1" -v s="$2" 'BEGIN { printf "%.3f", c / (s / 1073741824) }'; }

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

SQUID_PID=""
start_squid() {
    local sq=$WORK/squid
    mkdir -p "$sq"
    make_ca squid-bench "Squid Bench CA" >/dev/null || return 1
    cp "$CA_CERT" "$sq/squid-ca.pem"; cp "$CA_KEY" "$sq/squid-ca.key"; cp "$TESTCA" "$sq/origin-ca.pem"
    SQUID_CA=$sq/squid-ca.pem
    /usr/lib/squid/security_file_certgen -c -s "$sq/ssl_db" -M 16MB >"$sq/certgen-init.log" 2>&1 || return 1
    free_port SQUID_PORT
    # Squid refuses to run as root: it drops to 'proxy', which must own its files.
    cat >"$sq/squid.conf" <<EOF
http_port 127.0.0.1:$SQUID_PORT ssl-bump tls-cert=$sq/squid-ca.pem tls-key=$sq/squid-ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program /usr/lib/squid/security_file_certgen -s $sq/ssl_db -M 16MB
sslcrtd_children 3 startup=1 idle=1
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
tls_outgoing_options cafile=$sq/origin-ca.pem
http_access allow localhost
http_access deny all
cache deny all
cache_mem 8 MB
# every client connection gets its own upstream connection, as with the other proxies
server_persistent_connections off
visible_hostname veil-bench
dns_nameservers 127.0.0.1
pinger_enable off
icp_port 0
htcp_port 0
shutdown_lifetime 1 seconds
pid_filename $sq/squid.pid
access_log stdio:$sq/access.log
cache_log $sq/cache.log
coredump_dir $sq
cache_effective_user proxy
EOF
    chown -R proxy:proxy "$sq"
    rm -f /dev/shm/veilbench-*   # shared memory of an earlier run of ours (service name veilbench)
    squid -n veilbench -N -f "$sq/squid.conf" >"$sq/stdout.log" 2>&1 &
    SQUID_PID=$!
    bg_register "$SQUID_PID"
    wait_port "$SQUID_PORT" 20 || { echo "squid did not start:"; tail -n 5 "$sq/cache.log"; return 1; }
    SQUID_VERSION=$(squid -v 2>&1)
    SQUID_VERSION=${SQUID_VERSION%%$'\n'*}
    return 0
}
if ((HAVE_SQUID)) && [[ $(id -u) == 0 ]] && start_squid; then
    bulk squid "$SQUID_PID" "$URL" "$BENCH_MIB" -x "http://127.0.0.1:$SQUID_PORT" --cacert "$SQUID_CA" ||
        echo "squid bulk transfer failed"
    conns squid "$SQUID_PID" -x "http://127.0.0.1:$SQUID_PORT" --cacert "$SQUID_CA"
    stop_pid "$SQUID_PID" 10
    rm -f /dev/shm/veilbench-*
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
