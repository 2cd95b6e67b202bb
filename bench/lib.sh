# bench/lib.sh - helpers shared by the benchmark scripts (sourced; not a benchmark itself).
# The caller sets BENCH_DIR, WORK_ROOT and WORK first; this sources integration/lib.sh (processes,
# ports, certificates, nginx, veil) and adds measuring helpers. Globals the helpers read:
# ROUNDS (bulk), CONNS (conns), ORIGIN (the nginx port), TCK (clock ticks per second).
# shellcheck shell=bash
source "$BENCH_DIR/../integration/lib.sh"

TCK=$(getconf CLK_TCK)
PROCTREE=(python3 "$BENCH_DIR/tools/proctree.py")

# bench_install LOG PACKAGE...: install missing Debian packages (root, apt-get, no service start).
bench_install() { "$BENCH_DIR/tools/apt-install.sh" "$@"; }

# data_file MIB: path of a cached random file of that size (made once in $WORK_ROOT/data).
data_file() {
    local f=$WORK_ROOT/data/random-${1}MiB.bin
    mkdir -p "$WORK_ROOT/data"
    if [[ ! -s "$f" ]]; then
        echo "making $f (once)..." >&2
        head -c "${1}M" /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f"
    fi
    echo "$f"
}

# Figures of a process and its descendants (all threads), from /proc.
cpu_ticks() { [[ -n "${1:-}" ]] && "${PROCTREE[@]}" cpu "$1" || echo 0; }
hwm_kib() { [[ -n "${1:-}" ]] && "${PROCTREE[@]}" hwm "$1" || echo 0; }
rss_kib() { [[ -n "${1:-}" ]] && "${PROCTREE[@]}" rss "$1" || echo 0; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "") }'; }
now() { date +%s.%N; }
secs() { printf '%.2f' "$1"; }
mbps() { awk -v s="$1" -v t="$2" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
per_gib() { awk -v c="$1" -v s="$2" 'BEGIN { printf "%.3f", c / (s / 1073741824) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# fetch LABEL URL WANT_BYTES CURL-ARGS...: sets WALL (s); fails on a short download.
fetch() {
    local label=$1 url=$2 want=$3; shift 3
    local w code size
    w=$(curl -sS --http1.1 --max-time 900 -o /dev/null -w '%{time_total} %{size_download} %{http_code}' "$@" "$url") || {
        echo "$label: curl failed: $w"; return 1; }
    read -r WALL size code <<<"$w"
    [[ "$code" == 200 && "$size" == "$want" ]] || { echo "$label: got $w"; return 1; }
}

# bulk LABEL PID URL MIB CURL-ARGS...: ROUNDS fetches; medians in B_WALL[LABEL] (s) and
# B_CPU[LABEL] (CPU s of PID's process tree per fetch), B_SIZE (bytes), B_HWM (KiB), B_ALL.
# bulk_one (same arguments) makes one fetch and keeps it; bulk_done LABEL PID takes the medians
# (for scripts that interleave the rounds of several proxies).
declare -A B_WALL B_CPU B_SIZE B_HWM B_ALL B_WALLS B_CPUS
bulk_one() {
    local label=$1 pid=$2 url=$3 mib=$4; shift 4
    local c0 c1
    c0=$(cpu_ticks "$pid")
    fetch "$label" "$url" $((mib * 1048576)) "$@" || return 1
    c1=$(cpu_ticks "$pid")
    B_WALLS[$label]+="$WALL "
    B_CPUS[$label]+="$(awk -v d=$((c1 - c0)) -v t="$TCK" 'BEGIN { printf "%.3f", d / t }') "
    B_SIZE[$label]=$((mib * 1048576))
}
bulk_done() {
    local label=$1 pid=$2
    [[ -n "${B_WALLS[$label]:-}" ]] || return 1
    # shellcheck disable=SC2086 # the lists are space-separated numbers
    B_WALL[$label]=$(median ${B_WALLS[$label]})
    # shellcheck disable=SC2086
    B_CPU[$label]=$(median ${B_CPUS[$label]})
    B_ALL[$label]="walls ${B_WALLS[$label]% }; cpu ${B_CPUS[$label]% }"
    if [[ -n "$pid" ]]; then B_HWM[$label]=$(hwm_kib "$pid"); fi
    return 0
}
bulk() {
    local r
    for r in $(seq "$ROUNDS"); do
        bulk_one "$@" || return 1
    done
    bulk_done "$1" "$2"
}

# conns LABEL PID CURL-ARGS...: CONNS sequential fresh connections (one curl, --no-sessionid,
# Connection: close), 1 KiB each from https://localhost:$ORIGIN/small.bin: C_RATE[LABEL] (req/s),
# C_CPU[LABEL] (CPU ms of PID's process tree per connection), C_NOTE[LABEL].
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

# start_squid bump|connect: our own Squid (Debian's squid-openssl) on a free loopback port,
# SQUID_PORT, SQUID_PID, SQUID_VERSION; bump: ssl-bump with its own CA (SQUID_CA), the origin
# verified against TESTCA; connect: a plain CONNECT tunnel (no bump). One upstream connection
# per client connection, no cache.
start_squid() {
    local mode=$1 sq=$WORK/squid-$1
    mkdir -p "$sq"
    free_port SQUID_PORT
    if [[ $mode == bump ]]; then
        make_ca squid-bench "Squid Bench CA" >/dev/null || return 1
        cp "$CA_CERT" "$sq/squid-ca.pem"; cp "$CA_KEY" "$sq/squid-ca.key"; cp "$TESTCA" "$sq/origin-ca.pem"
        SQUID_CA=$sq/squid-ca.pem
        /usr/lib/squid/security_file_certgen -c -s "$sq/ssl_db" -M 16MB >"$sq/certgen-init.log" 2>&1 || return 1
        cat >"$sq/squid.conf" <<EOC
http_port 127.0.0.1:$SQUID_PORT ssl-bump tls-cert=$sq/squid-ca.pem tls-key=$sq/squid-ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program /usr/lib/squid/security_file_certgen -s $sq/ssl_db -M 16MB
sslcrtd_children 3 startup=1 idle=1
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
tls_outgoing_options cafile=$sq/origin-ca.pem
EOC
    else
        echo "http_port 127.0.0.1:$SQUID_PORT" >"$sq/squid.conf"
    fi
    # Squid refuses to run as root: it drops to 'proxy', which must own its files.
    cat >>"$sq/squid.conf" <<EOC
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
max_filedescriptors ${SQUID_MAX_FDS:-4096}
pid_filename $sq/squid.pid
access_log stdio:$sq/access.log
cache_log $sq/cache.log
coredump_dir $sq
cache_effective_user proxy
EOC
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

# stop_squid: SIGTERM (shutdown_lifetime 1 s) and its shared memory removed.
stop_squid() {
    stop_pid "$SQUID_PID" 10
    SQUID_PID=""
    rm -f /dev/shm/veilbench-*
}
