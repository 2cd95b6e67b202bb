# guest/lib.sh - the kTLS VM's test harness (busybox ash; sourced by run-tests.sh).
# Mirrors integration/lib.sh in spirit: PASS/FAIL lines, one final "N passed, M failed".
#
# Assertions: pass NAME | fail NAME WHY | check NAME CMD... | expect_eq NAME WANT GOT
#             expect_match NAME ERE GOT | fold_results FILE | finish
# Origins:    start_s_server NAME PORT ARGS... | start_nginx NAME PORT PROTOCOLS ROOT
# Veil:       start_veil NAME ARGS... | stop_veil | veil_case (see below)
# Everything runs on 127.0.0.1 inside the VM; work files go to $W (tmpfs).

W=/tmp/work
PKI=/etc/ktls-vm/pki
TESTCA=$PKI/ca.pem
SERVER_CERT=$PKI/server.pem
SERVER_KEY=$PKI/server.key
export VEIL_HOME=/tmp/veil-home
CURL_MAX_TIME=${CURL_MAX_TIME:-180}

PASSED=0
FAILED=0
FAILED_NAMES=""
BG_PIDS=""
NEXT_PORT=20000
VEIL_PID=""
VEIL_PORT=""
VEIL_LOG=""
VEIL_COMMON=""   # appended to every veil run (run-tests.sh sets --upstream-ca, --resolve...)
SUMMARY=""

mkdir -p "$W"

say() { echo "--- $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# since T0: seconds elapsed since an uptime_s reading
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }'; }
sha_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
# alloc_port VAR: VAR = a port nobody in the VM uses yet (20001, 20002, ...)
alloc_port() { NEXT_PORT=$((NEXT_PORT + 1)); eval "$1=$NEXT_PORT"; }
# slug NAME: NAME usable in a file name
slug() { echo "$1" | tr -c 'A-Za-z0-9._\n-' '_'; }

# ------------------------------------------------------------------ verdicts

pass() {
    PASSED=$((PASSED + 1))
    echo "PASS $1"
}

fail() {
    local name=$1; shift
    FAILED=$((FAILED + 1))
    FAILED_NAMES="$FAILED_NAMES
  $name"
    echo "FAIL $name: $*"
    dump_veil_log
}

# check NAME CMD...: passes if CMD exits 0.
check() {
    local name=$1 out rc; shift
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" = 0 ]; then
        pass "$name"
    else
        fail "$name" "'$*' exited $rc: $(echo "$out" | tail -c 400 | tr '\n' ' ')"
    fi
}

expect_eq() {
    if [ "$3" = "$2" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

expect_match() {
    if printf '%s\n' "$3" | grep -qE -- "$2"; then pass "$1"; else fail "$1" "expected /$2/, got '$3'"; fi
}

# fold_results FILE: count the PASS/FAIL lines another program printed (ktls-probe)
# as our own; other lines are shown as they are.
fold_results() {
    local l r
    while IFS= read -r l; do
        case $l in
            "PASS "*) pass "${l#PASS }" ;;
            "FAIL "*) r=${l#FAIL }; fail "${r%%: *}" "${r#*: }" ;;
            *) echo "    $l" ;;
        esac
    done <"$1"
}

finish() {
    echo
    if [ "$FAILED" -gt 0 ]; then
        echo "failed tests:$FAILED_NAMES"
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}

# ---------------------------------------------------------------- processes

bg_register() { BG_PIDS="$BG_PIDS $1"; }

# stop_pid PID [TIMEOUT]: TERM, wait up to TIMEOUT s, then KILL. STOP_RC = exit status.
stop_pid() {
    local p=$1 t=${2:-5} i=0
    STOP_RC=""
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null
    while kill -0 "$p" 2>/dev/null && [ "$i" -lt $((t * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null; STOP_RC=$?
}

cleanup_all() {
    local p
    for p in $BG_PIDS; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.2
    for p in $BG_PIDS; do kill -KILL "$p" 2>/dev/null; done
    BG_PIDS=""
}

# wait_listen PORT [TIMEOUT]: until a socket listens on PORT (without connecting to it:
# s_server serves one connection at a time).
wait_listen() {
    local i=0
    while [ "$i" -lt $((${2:-20} * 10)) ]; do
        netstat -ltn 2>/dev/null | grep -q ":$1 " && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# wait_log FILE ERE [TIMEOUT]
wait_log() {
    local i=0
    while [ "$i" -lt $((${3:-20} * 10)) ]; do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# ------------------------------------------------------------------ origins

# start_s_server NAME PORT [s_server options...]: openssl s_server -WWW serving $DOCROOT.
start_s_server() {
    local name=$1 port=$2; shift 2
    (cd "$DOCROOT" && exec openssl s_server -accept "127.0.0.1:$port" -cert "$SERVER_CERT" \
        -key "$SERVER_KEY" -WWW -quiet "$@") </dev/null >"$W/s_server-$name.log" 2>&1 &
    bg_register $!
    wait_listen "$port" 20 && return 0
    echo "s_server $name did not come up:"; tail -n 20 "$W/s_server-$name.log"
    return 1
}

# start_nginx NAME PORT PROTOCOLS ROOT: HTTPS on 127.0.0.1:PORT (PROTOCOLS e.g.
# "TLSv1.2 TLSv1.3"), HTTP/1.1 and h2, files from ROOT, WebDAV PUT into ROOT.
# NGINX_EXTRA (optional): more lines inside server {}.
start_nginx() {
    local _name=$1 _port=$2 _protos=$3 _root=$4 _d=$W/nginx-$1
    mkdir -p "$_d/tmp"
    cat >"$_d/nginx.conf" <<EOF
user root;
daemon off;
worker_processes 1;
pid $_d/nginx.pid;
error_log $_d/error.log info;
events { worker_connections 256; }
http {
    access_log $_d/access.log;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path $_d/tmp/body;
    proxy_temp_path $_d/tmp/proxy;
    fastcgi_temp_path $_d/tmp/fastcgi;
    uwsgi_temp_path $_d/tmp/uwsgi;
    scgi_temp_path $_d/tmp/scgi;
    server {
        listen 127.0.0.1:$_port ssl http2;
        server_name localhost origin.test;
        ssl_certificate $SERVER_CERT;
        ssl_certificate_key $SERVER_KEY;
        ssl_protocols $_protos;
        root $_root;
        dav_methods PUT;
        create_full_put_path on;
        client_max_body_size 64m;
        ${NGINX_EXTRA:-}
    }
}
EOF
    nginx -p "$_d" -c "$_d/nginx.conf" -e "$_d/error.log" </dev/null >"$_d/stdout.log" 2>&1 &
    NGINX_PID=$!
    bg_register "$NGINX_PID"
    wait_listen "$_port" 20 && return 0
    echo "nginx $_name did not come up:"; tail -n 20 "$_d/error.log" "$_d/stdout.log"
    return 1
}

# -------------------------------------------------------------------- veil

# veil_ca: VEIL_CA = what `veil ca path` prints (creates the CA in $VEIL_HOME).
veil_ca() {
    VEIL_CA=$(veil ca path 2>"$W/veil-ca.err" | tail -n 1)
    [ -n "$VEIL_CA" ] && [ -s "$VEIL_CA" ]
}

# start_veil NAME ARGS...: veil run --listen 127.0.0.1:<port> $VEIL_COMMON ARGS...;
# waits for "listening on". Sets VEIL_PID, VEIL_PORT, VEIL_LOG.
start_veil() {
    local name i=0
    name=$(slug "$1"); shift
    alloc_port VEIL_PORT
    VEIL_LOG=$W/veil-$name.log
    echo "+ veil run --listen 127.0.0.1:$VEIL_PORT $VEIL_COMMON $*" >"$VEIL_LOG.cmd"
    # shellcheck disable=SC2086
    veil run --listen "127.0.0.1:$VEIL_PORT" $VEIL_COMMON "$@" </dev/null >"$VEIL_LOG" 2>&1 &
    VEIL_PID=$!
    bg_register "$VEIL_PID"
    while [ "$i" -lt 300 ]; do
        grep -q "listening on" "$VEIL_LOG" 2>/dev/null && return 0
        kill -0 "$VEIL_PID" 2>/dev/null || break
        sleep 0.1; i=$((i + 1))
    done
    echo "veil did not report 'listening on':"
    tail -n 20 "$VEIL_LOG" | sed 's/^/    | /'
    stop_pid "$VEIL_PID" 2; VEIL_PID=""
    return 1
}

stop_veil() { stop_pid "$VEIL_PID" "${1:-15}"; VEIL_PID=""; }

dump_veil_log() {
    [ -n "$VEIL_LOG" ] && [ -f "$VEIL_LOG" ] || return 0
    echo "    --- last 15 lines of $VEIL_LOG ($(cat "$VEIL_LOG.cmd" 2>/dev/null)):"
    tail -n 15 "$VEIL_LOG" | cut -c1-400 | sed 's/^/    | /'
}

# summary_for LOCAL_PORT [TIMEOUT]: SUMMARY = veil's summary line for the connection
# whose client side was 127.0.0.1:LOCAL_PORT (empty if none appears in time).
summary_for() {
    local i=0
    SUMMARY=""
    while [ "$i" -lt $((${2:-10} * 10)) ]; do
        SUMMARY=$(grep -E '(^|[^[:alnum:]_])summary conn=' "$VEIL_LOG" 2>/dev/null |
            grep -E "client=\"?127\.0\.0\.1:$1\"?([[:space:]]|\$)" | head -n 1)
        [ -n "$SUMMARY" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# field KEY LINE: value of key=value in a text log line (quotes removed).
field() {
    printf '%s\n' "$2" | sed -nE "s/.*(^|[[:space:]])$1=(\"[^\"]*\"|[^[:space:]]*).*/\2/p" | sed 's/^"//; s/"$//'
}

# expect_summary NAME EXPECT: EXPECT is a space-separated list; each item is
#   key=ERE   the summary field `key` matches ^(ERE)$   e.g. path=splice  tls=TLSv1\.[23]
#   ERE       (no key=) the whole summary line matches ERE
expect_summary() {
    local _name=$1 _exp=$2 _item _key _re _v
    if [ -z "$SUMMARY" ]; then
        fail "$_name/summary" "no summary line logged for the connection"
        return
    fi
    set -f
    for _item in $_exp; do
        _key=${_item%%=*}
        if [ "$_key" != "$_item" ] && printf '%s' "$_key" | grep -qE '^[a-z_]+$'; then
            _re=${_item#*=}
            _v=$(field "$_key" "$SUMMARY")
            if printf '%s\n' "$_v" | grep -qE -- "^($_re)\$"; then
                pass "$_name/summary $_key=$_re"
            else
                fail "$_name/summary $_key=$_re" "got $_key='$_v' in: $SUMMARY"
            fi
        else
            expect_match "$_name/summary ~ $_item" "$_item" "$SUMMARY"
        fi
    done
    set +f
}

# veil_case NAME VEIL_ARGS CURL_ARGS EXPECT_SUMMARY [CHECK]
#   Starts veil with VEIL_ARGS (plus VEIL_COMMON), runs one curl through it with
#   CURL_ARGS (words; the URL last), then checks:
#     - curl exits 0 with an HTTP status matching ^(VC_STATUS)$ (default 200)
#     - the sha256 of what curl wrote equals VC_SHA (default $BIG_SHA; "-" skips)
#     - veil's summary line for this connection matches EXPECT_SUMMARY (see expect_summary)
#     - CHECK, if given, is eval'ed and must succeed (e.g. an uploaded file's sha256)
#     - veil exits 0 on SIGTERM
#   curl trusts Veil's CA, or the test CA when VEIL_ARGS holds "--mode passthrough";
#   a --cacert in CURL_ARGS wins. VC_FRONT=1: veil also gets --listen-tls and curl goes
#   through that HTTPS listener (-x https://... --proxy-cacert <Veil CA>).
#   VC_STATUS, VC_SHA and VC_FRONT are reset after each call.
veil_case() {
    local _vc_name _vc_veil _vc_curl _vc_expect _vc_check _vc_t0 _vc_status _vc_sha _vc_ca _vc_out
    local _vc_got _vc_rc _vc_code _vc_lport _vc_o _vc_front _vc_fport _vc_proxy
    _vc_name=$1 _vc_veil=$2 _vc_curl=$3 _vc_expect=$4 _vc_check=${5:-}
    _vc_t0=$(uptime_s)
    _vc_status=${VC_STATUS:-200} _vc_sha=${VC_SHA:-$BIG_SHA} _vc_front=${VC_FRONT:-}
    unset VC_STATUS VC_SHA VC_FRONT
    echo
    say "$_vc_name"
    if [ -n "$_vc_front" ]; then
        alloc_port _vc_fport
        _vc_veil="$_vc_veil --listen-tls 127.0.0.1:$_vc_fport"
    fi
    # shellcheck disable=SC2086
    if ! start_veil "$_vc_name" $_vc_veil; then
        fail "$_vc_name/veil starts" "veil run $VEIL_COMMON $_vc_veil"
        return 1
    fi
    _vc_ca=$VEIL_CA
    case " $_vc_veil " in *" --mode passthrough "* | *" --mode=passthrough "*) _vc_ca=$TESTCA ;; esac
    _vc_out=$W/vc-$(slug "$_vc_name").out
    rm -f "$_vc_out"
    # shellcheck disable=SC2086
    if [ -n "$_vc_front" ]; then
        _vc_proxy="-x https://127.0.0.1:$_vc_fport --proxy-cacert $VEIL_CA"
    else
        _vc_proxy="-x http://127.0.0.1:$VEIL_PORT"
    fi
    # shellcheck disable=SC2086
    _vc_got=$(curl -sS --max-time "$CURL_MAX_TIME" $_vc_proxy --cacert "$_vc_ca" \
        -o "$_vc_out" -w '%{http_code} %{local_port}' $_vc_curl 2>"$_vc_out.err")
    _vc_rc=$?
    _vc_code=${_vc_got%% *} _vc_lport=${_vc_got##* }
    if [ "$_vc_rc" = 0 ] && printf '%s\n' "$_vc_code" | grep -qE "^($_vc_status)\$"; then
        pass "$_vc_name/curl exit 0, HTTP $_vc_code"
    else
        fail "$_vc_name/curl exit 0, HTTP /$_vc_status/" "curl exited $_vc_rc, status '$_vc_code': $(head -c 300 "$_vc_out.err")"
    fi
    if [ "$_vc_sha" != - ]; then
        expect_eq "$_vc_name/sha256 of the body" "$_vc_sha" "$(sha_of "$_vc_out")"
    fi
    summary_for "$_vc_lport" 10
    expect_summary "$_vc_name" "$_vc_expect"
    if [ -n "$_vc_check" ]; then
        if _vc_o=$(eval "$_vc_check" 2>&1); then
            pass "$_vc_name/check: $_vc_check"
        else
            fail "$_vc_name/check: $_vc_check" "$_vc_o"
        fi
    fi
    stop_veil
    expect_eq "$_vc_name/veil exits 0 on SIGTERM" 0 "$STOP_RC"
    rm -f "$_vc_out"
    say "$_vc_name: $(since "$_vc_t0")s"
}
