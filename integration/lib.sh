# integration/lib.sh - a small harness for Veil's integration tests.
# Sourced by integration/run-all.sh (and by bench/passthrough.sh for the helpers).
#
# Everything runs on loopback only. Everything started here is registered and
# killed on exit. Work files go to integration/.work/run (kept after the run
# for post-mortems, wiped at the start of the next run).
#
# Assertions: pass NAME | fail NAME WHY | check NAME CMD... | expect_eq NAME WANT GOT
#             expect_match NAME REGEX GOT | finish (prints "N passed, M failed")

set -uo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LIB_DIR/.." && pwd)
TOOLS=$LIB_DIR/tools
VEIL_BIN=${VEIL_BIN:-$REPO_DIR/.build/release/veil}
WORK_ROOT=${WORK_ROOT:-$LIB_DIR/.work}
WORK=${WORK:-$WORK_ROOT/run}

PASSED=0
FAILED=0
FAILED_NAMES=()
BG_PIDS=()
USED_PORTS=" "
VEIL_PID=""
VEIL_LOG=""
VEIL_PORT=""
LOG_MARK=0

say() { printf '%s\n' "--- $*"; }

# ------------------------------------------------------------------ work dir

setup_work() {
    rm -rf "$WORK"
    mkdir -p "$WORK"
}

# ---------------------------------------------------------------- processes

bg_register() { BG_PIDS+=("$1"); }

# stop_pid PID [TIMEOUT] [SIGNAL]: signal, wait up to TIMEOUT seconds, then KILL.
# Sets STOP_RC to the exit status (137 if it had to be killed).
stop_pid() {
    local pid=$1 timeout=${2:-5} sig=${3:-TERM} i
    STOP_RC=""
    [[ -n "$pid" ]] || return 0
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null; STOP_RC=$?
        return 0
    fi
    kill "-$sig" "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null; STOP_RC=$?
}

# wait_exit PID TIMEOUT: wait for a process we already signalled; STOP_RC gets
# its status, or "timeout" if it is still alive after TIMEOUT seconds (then it is killed).
wait_exit() {
    local pid=$1 timeout=$2 i
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        STOP_RC=timeout
        kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        return 1
    fi
    wait "$pid" 2>/dev/null; STOP_RC=$?
}

cleanup_all() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    sleep 0.2
    for pid in "${BG_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && { sleep 1; kill -KILL "$pid" 2>/dev/null; }
        wait "$pid" 2>/dev/null
    done
    BG_PIDS=()
}
trap cleanup_all EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------- ports

# free_port VAR: a currently free TCP port on 127.0.0.1, never handed out twice.
free_port() {
    local __var=$1 p
    while :; do
        p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        [[ "$USED_PORTS" == *" $p "* ]] || break
    done
    USED_PORTS+="$p "
    printf -v "$__var" '%s' "$p"
}

# wait_port PORT [TIMEOUT]: until something accepts TCP connections on 127.0.0.1:PORT.
wait_port() {
    local port=$1 timeout=${2:-10} i
    for ((i = 0; i < timeout * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# wait_log FILE REGEX [TIMEOUT]: until FILE has a line matching the extended REGEX.
wait_log() {
    local file=$1 re=$2 timeout=${3:-10} i
    for ((i = 0; i < timeout * 10; i++)); do
        grep -qE -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------- certificates

# make_certs: test CA (EC P-256) and a leaf for localhost, origin.test, 127.0.0.1.
# Sets TESTCA, SERVER_CERT, SERVER_KEY.
make_certs() {
    local d=$WORK/pki
    mkdir -p "$d"
    cat >"$d/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = Veil Integration Test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    cat >"$d/leaf.ext" <<'EOF'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:origin.test, IP:127.0.0.1
authorityKeyIdentifier = keyid
EOF
    (
        set -e
        cd "$d"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
        openssl req -x509 -new -key ca.key -sha256 -days 30 -config ca.cnf -out ca.pem
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
        openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 30 -sha256 -extfile leaf.ext -out server.pem
        openssl verify -CAfile ca.pem server.pem
    ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log"; return 1; }
    TESTCA=$d/ca.pem
    SERVER_CERT=$d/server.pem
    SERVER_KEY=$d/server.key
}

# make_ca NAME CN: another CA (EC P-256) in $WORK/pki: NAME-ca.pem / NAME-ca.key.
# Sets CA_CERT, CA_KEY.
make_ca() {
    local name=$1 cn=$2 d=$WORK/pki
    mkdir -p "$d"
    (
        set -e
        cd "$d"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name-ca.key"
        openssl req -x509 -new -key "$name-ca.key" -sha256 -days 30 -subj "/CN=$cn" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$name-ca.pem"
    ) >"$d/$name-ca.log" 2>&1 || { cat "$d/$name-ca.log"; return 1; }
    CA_CERT=$d/$name-ca.pem
    CA_KEY=$d/$name-ca.key
}

# make_leaf NAME SANS [CA_PEM CA_KEY] [STARTDATE ENDDATE]: a server certificate
# $WORK/pki/NAME.pem / NAME.key (EC P-256) with subjectAltName SANS (e.g.
# "DNS:real-target.test,IP:127.0.0.1"), signed by the given CA (default the test CA),
# valid 30 days from now or from STARTDATE to ENDDATE (YYYYMMDDHHMMSSZ, so an expired
# one can be made: OpenSSL 3.0's x509 has no -not_before, 'openssl ca' has -startdate).
# Sets LEAF_CERT, LEAF_KEY.
make_leaf() {
    local name=$1 sans=$2 ca=${3:-$TESTCA} cakey=${4:-${TESTCA%.pem}.key} start=${5:-} end=${6:-}
    local d=$WORK/pki db=$WORK/pki/cadb-$1
    mkdir -p "$d"
    rm -rf "$db"; mkdir -p "$db"; : >"$db/index.txt"; echo 1000 >"$db/serial"
    local cn=${sans%%,*}; cn=${cn#*:}
    cat >"$d/$name.cnf" <<EOF
[ca]
default_ca = leafca
[leafca]
database = $db/index.txt
new_certs_dir = $db
serial = $db/serial
default_md = sha256
default_days = 30
policy = anything
unique_subject = no
copy_extensions = none
x509_extensions = leaf
[anything]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $sans
authorityKeyIdentifier = keyid
EOF
    local dates=()
    [[ -n "$start" ]] && dates=(-startdate "$start" -enddate "$end")
    (
        set -e
        cd "$d"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
        openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
        openssl ca -batch -notext -config "$name.cnf" -cert "$ca" -keyfile "$cakey" \
            -in "$name.csr" -out "$name.pem" "${dates[@]}"
    ) >"$d/$name.log" 2>&1 || { cat "$d/$name.log"; return 1; }
    LEAF_CERT=$d/$name.pem
    LEAF_KEY=$d/$name.key
}

# make_docroot DIR: index.html and a 16 MiB random big.bin. Sets DOCROOT, BIG_SHA.
make_docroot() {
    DOCROOT=$1
    mkdir -p "$DOCROOT"
    echo "hello from the veil test origin" >"$DOCROOT/index.html"
    head -c 16M /dev/urandom >"$DOCROOT/big.bin"
    BIG_SHA=$(sha256sum "$DOCROOT/big.bin" | cut -d' ' -f1)
    BIG_SIZE=$(stat -c %s "$DOCROOT/big.bin")
}

sha_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# ------------------------------------------------------------------ origins

# start_nginx NAME DOCROOT LISTENER...
#   LISTENER = PORT:PROTOCOLS:h1|h2|http (http: plain, no TLS), PROTOCOLS joined with '+', e.g.
#   "$P:TLSv1.2:h1" or "$P:TLSv1.3:h2" or "$P:TLSv1.2+TLSv1.3:h1".
# Sets NGINX_PID (master process, runs in the foreground with daemon off).
# Optional, set for one call: NGINX_CERT/NGINX_KEY (default SERVER_CERT/KEY),
# NGINX_HTTP_EXTRA (lines inside http {}), NGINX_SERVER_EXTRA (inside each server {}).
# nginx 1.22 (Debian 12) predates "http2 on;": h2 is "listen ... ssl http2".
start_nginx() {
    local name=$1 root=$2; shift 2
    local dir=$WORK/nginx-$name l port protos kind
    mkdir -p "$dir/tmp"
    {
        [[ $(id -u) == 0 ]] && echo "user root;"
        cat <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 4096; }
http {
    access_log $dir/access.log;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 75s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    ssl_certificate ${NGINX_CERT:-$SERVER_CERT};
    ssl_certificate_key ${NGINX_KEY:-$SERVER_KEY};
EOF
        [[ -n "${NGINX_HTTP_EXTRA:-}" ]] && printf '    %s\n' "$NGINX_HTTP_EXTRA"
        for l in "$@"; do
            IFS=: read -r port protos kind <<<"$l"
            echo "    server {"
            if [[ $kind == h2 ]]; then
                echo "        listen 127.0.0.1:$port ssl http2;"
            elif [[ $kind == http ]]; then
                echo "        listen 127.0.0.1:$port;"
            else
                echo "        listen 127.0.0.1:$port ssl;"
            fi
            echo "        server_name localhost origin.test;"
            echo "        ssl_protocols ${protos//+/ };"
            echo "        root $root;"
            [[ -n "${NGINX_SERVER_EXTRA:-}" ]] && printf '        %s\n' "$NGINX_SERVER_EXTRA"
            echo "    }"
        done
        echo "}"
    } >"$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
    NGINX_PID=$!
    bg_register "$NGINX_PID"
    for l in "$@"; do
        wait_port "${l%%:*}" 10 || { echo "nginx $name did not come up:"; tail -n 20 "$dir/error.log" "$dir/stdout.log"; return 1; }
    done
}

# start_s_server NAME PORT DOCROOT [openssl s_server options...]
#   e.g. start_s_server s12 "$P" "$DOCROOT" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -alpn http/1.1
#   Serves files relative to DOCROOT with -WWW (S_SERVER_MODE=-HTTP for -HTTP).
#   S_SERVER_CERT/S_SERVER_KEY override the certificate (default SERVER_CERT/KEY).
#   Sets S_SERVER_PID.
start_s_server() {
    local name=$1 port=$2 root=$3; shift 3
    local log=$WORK/s_server-$name.log
    (cd "$root" && exec openssl s_server -accept "127.0.0.1:$port" -cert "${S_SERVER_CERT:-$SERVER_CERT}" \
        -key "${S_SERVER_KEY:-$SERVER_KEY}" "${S_SERVER_MODE:--WWW}" -quiet "$@") >"$log" 2>&1 &
    S_SERVER_PID=$!
    bg_register "$S_SERVER_PID"
    # s_server serves one connection at a time: do not probe it with a connect.
    local i
    for ((i = 0; i < 100; i++)); do
        ss -Hltn "sport = :$port" 2>/dev/null | grep -q LISTEN && return 0
        kill -0 "$S_SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "s_server $name did not come up:"; tail -n 20 "$log"
    return 1
}

# start_pc_listener blackhole|sink VAR: a misbehaving loopback listener from
# tools/proxyclient.py (blackhole: full accept queue, SYNs dropped; sink: accepts,
# never answers). Sets VAR to its port and PC_LISTENER_PID.
start_pc_listener() {
    local kind=$1 var=$2 f=$WORK/$1-$RANDOM.port i
    python3 "$TOOLS/proxyclient.py" "$kind" --port-file "$f" --lifetime 900 >"$f.log" 2>&1 &
    PC_LISTENER_PID=$!
    bg_register "$PC_LISTENER_PID"
    for ((i = 0; i < 50; i++)); do [[ -s "$f" ]] && break; sleep 0.1; done
    printf -v "$var" '%s' "$(cat "$f" 2>/dev/null)"
    [[ -n "${!var}" ]]
}

# hold_conns NAME TARGET CAFILE COUNT: COUNT idle connections through the running veil
# (CONNECT TARGET, TLS handshake with SNI = TARGET's host, then nothing; tools/proxyclient.py
# hold, for up to 300 s). Returns once they are open (a second to settle); sets HOLD_PID (stop it
# with stop_pid), HOLD_OPENED, HOLD_FAILED. Log: $WORK/hold-NAME.log.
hold_conns() {
    local name=$1 target=$2 cafile=$3 count=$4 ready=$WORK/hold-$1.ready
    rm -f "$ready"
    python3 "$TOOLS/proxyclient.py" hold --port "$VEIL_PORT" --target "$target" --sni "${target%:*}" \
        --cafile "$cafile" --count "$count" --hold-seconds 300 --ready-file "$ready" >"$WORK/hold-$name.log" 2>&1 &
    HOLD_PID=$!
    bg_register "$HOLD_PID"
    for _ in $(seq 3000); do [[ -s "$ready" ]] && break; sleep 0.1; done
    sleep 1
    read -r HOLD_OPENED HOLD_FAILED <"$ready" 2>/dev/null || { HOLD_OPENED=0; HOLD_FAILED=$count; }
}

# ---------------------------------------------------------------------- veil

# start_veil NAME ARGS...: veil run --listen 127.0.0.1:<free port> ARGS...
# Waits for "listening on". Sets VEIL_PID, VEIL_PORT, VEIL_LOG.
start_veil() {
    local name=$1; shift
    free_port VEIL_PORT
    VEIL_LOG=$WORK/veil-$name.log
    LOG_MARK=0
    echo "+ veil run --listen 127.0.0.1:$VEIL_PORT $*" >"$VEIL_LOG.cmd"
    if [[ ! -x "$VEIL_BIN" ]]; then
        echo "veil binary not found: $VEIL_BIN" >"$VEIL_LOG"
        VEIL_PID=""
        return 1
    fi
    "$VEIL_BIN" run --listen "127.0.0.1:$VEIL_PORT" "$@" >"$VEIL_LOG" 2>&1 &
    VEIL_PID=$!
    bg_register "$VEIL_PID"
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "listening on" "$VEIL_LOG" 2>/dev/null && return 0
        kill -0 "$VEIL_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "veil ($name) did not report 'listening on'; log:"
    tail -n 20 "$VEIL_LOG" | sed 's/^/    | /'
    stop_pid "$VEIL_PID" 2
    VEIL_PID=""
    return 1
}

# stop_veil [TIMEOUT]: SIGTERM, wait, sets STOP_RC.
stop_veil() {
    stop_pid "$VEIL_PID" "${1:-10}"
    VEIL_PID=""
}

# pcurl CURL-ARGS...: curl through the running veil, trusting the test CA.
pcurl() {
    curl -sS --max-time "${CURL_MAX_TIME:-60}" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$TESTCA" "$@"
}

# start_relay NAME PORT ARGS...: veil relay on 127.0.0.1:PORT with its own home
# ($WORK/relay-home-NAME), log $WORK/relay-NAME.log; sets RL_LOG, RL_PID, RL_FP (the
# fingerprint from its start-up line). Registered for clean-up.
start_relay() {
    local name=$1 port=$2 i; shift 2
    RL_LOG=$WORK/relay-$name.log
    "$VEIL_BIN" relay --listen "127.0.0.1:$port" --home "$WORK/relay-home-$name" --workers 2 "$@" >"$RL_LOG" 2>&1 &
    RL_PID=$!
    bg_register "$RL_PID"
    for ((i = 0; i < 100; i++)); do
        grep -q "listening on" "$RL_LOG" 2>/dev/null && break
        kill -0 "$RL_PID" 2>/dev/null || break
        sleep 0.1
    done
    RL_FP=$(sed -n 's/^veil relay: certificate SHA-256 fingerprint //p' "$RL_LOG")
    [[ -n "$RL_FP" ]] || { echo "relay $name did not start:"; tail -n 5 "$RL_LOG"; return 1; }
}

# ------------------------------------------------------------- interception

# Veil keeps its CA in VEIL_HOME (default ~/.veil). Tests and benchmarks never touch
# the real one: every run gets a fresh home under the work dir (created by veil).
export VEIL_HOME=$WORK/veil-home

# veil_ca: VEIL_CA = the path `veil ca path` prints (creates the CA if missing).
veil_ca() {
    VEIL_CA=$("$VEIL_BIN" ca path 2>"$WORK/veil-ca-path.err" | tail -n 1)
    [[ -n "$VEIL_CA" && -s "$VEIL_CA" ]] || { echo "veil ca path failed: $(cat "$WORK/veil-ca-path.err")"; return 1; }
}

# vcurl CURL-ARGS...: curl through the running veil, trusting Veil's CA (VEIL_CA).
vcurl() {
    curl -sS --max-time "${CURL_MAX_TIME:-60}" -x "http://127.0.0.1:$VEIL_PORT" --cacert "$VEIL_CA" "$@"
}

# capture_start PCAP FILTER: tshark on lo with capture FILTER (e.g. "tcp port 4433")
# writing PCAP; returns once tshark is capturing. Sets CAPTURE_PID.
capture_start() {
    local pcap=$1 filter=$2
    tshark -i lo -f "$filter" -w "$pcap" >"$pcap.log" 2>&1 &
    CAPTURE_PID=$!
    bg_register "$CAPTURE_PID"
    if ! wait_log "$pcap.log" "Capturing on" 10; then
        echo "tshark did not start capturing: $(tail -n 3 "$pcap.log")"
        stop_pid "$CAPTURE_PID" 2
        CAPTURE_PID=""
        return 1
    fi
    sleep 0.5
}

# capture_stop: let the last packets land, then stop tshark (SIGINT flushes the file).
capture_stop() {
    sleep 0.5
    stop_pid "$CAPTURE_PID" 5 INT
    CAPTURE_PID=""
}

# Remember where the veil log is now; log_new prints only what came after.
log_mark() { LOG_MARK=$(wc -l <"$VEIL_LOG" 2>/dev/null || echo 0); }
log_new() { tail -n "+$((LOG_MARK + 1))" "$VEIL_LOG" 2>/dev/null; }

SUMMARY_RE='(^|[^[:alnum:]_])summary conn='

# wait_summary [TIMEOUT] [REGEX]: first summary line since log_mark (optionally
# also matching REGEX). Sets SUMMARY (empty if none appeared).
wait_summary() {
    local timeout=${1:-5} re=${2:-} i
    SUMMARY=""
    for ((i = 0; i < timeout * 10; i++)); do
        if [[ -n "$re" ]]; then
            SUMMARY=$(log_new | grep -E -- "$SUMMARY_RE" | grep -E -- "$re" | head -n 1)
        else
            SUMMARY=$(log_new | grep -E -- "$SUMMARY_RE" | head -n 1)
        fi
        [[ -n "$SUMMARY" ]] && return 0
        sleep 0.1
    done
    return 1
}

# summary_for LOCAL_PORT [TIMEOUT]: wait_summary for the connection whose client
# side was 127.0.0.1:LOCAL_PORT (curl's %{local_port}, proxyclient's local=).
summary_for() {
    wait_summary "${2:-5}" "client=\"?127\.0\.0\.1:${1:-none}\"?([[:space:]]|\$)"
}

# field KEY LINE: the value of key=value in a text log line (quotes removed).
field() {
    local key=$1 line=$2 v
    v=$(sed -nE "s/.*(^|[[:space:]])$key=(\"[^\"]*\"|[^[:space:]]*).*/\2/p" <<<"$line")
    v=${v#\"}; v=${v%\"}
    printf '%s' "$v"
}

# ---------------------------------------------------------------- assertions

dump_veil_log() {
    [[ -n "$VEIL_LOG" && -f "$VEIL_LOG" ]] || return 0
    echo "    --- last 15 lines of $VEIL_LOG:"
    tail -n 15 "$VEIL_LOG" | cut -c1-400 | sed 's/^/    | /'
}

pass() {
    PASSED=$((PASSED + 1))
    echo "PASS $1"
}

fail() {
    local name=$1; shift
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    echo "FAIL $name: $*"
    dump_veil_log
}

# check NAME CMD...: passes if CMD exits 0.
check() {
    local name=$1; shift
    local out rc
    out=$("$@" 2>&1); rc=$?
    if [[ $rc == 0 ]]; then
        pass "$name"
    else
        fail "$name" "'$*' exited $rc${out:+: $(tail -c 400 <<<"$out" | tr '\n' ' ')}"
    fi
}

expect_eq() {
    local name=$1 want=$2 got=$3
    if [[ "$got" == "$want" ]]; then pass "$name"; else fail "$name" "expected '$want', got '$got'"; fi
}

expect_match() {
    local name=$1 re=$2 got=$3
    if [[ "$got" =~ $re ]]; then pass "$name"; else fail "$name" "expected /$re/, got '$got'"; fi
}

# expect_summary NAME KEY REGEX: the current SUMMARY's KEY matches ^(REGEX)$.
expect_summary() {
    local name=$1 key=$2 re=$3
    if [[ -z "$SUMMARY" ]]; then
        fail "$name" "no summary line logged"
        return
    fi
    local v
    v=$(field "$key" "$SUMMARY")
    if [[ "$v" =~ ^($re)$ ]]; then pass "$name"; else fail "$name" "summary $key='$v', expected /$re/ in: $SUMMARY"; fi
}

finish() {
    echo
    if ((FAILED > 0)); then
        echo "failed tests:"
        printf '  %s\n' "${FAILED_NAMES[@]}"
    fi
    echo "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}
