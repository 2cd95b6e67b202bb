#!/usr/bin/env python3
"""Hand-written HTTP CONNECT exchanges against a proxy on loopback.

Every subcommand prints `key=value` lines on stdout for the shell tests to grep.

  raw        send raw bytes, print the proxy's answer (status, body, how it closed)
  tunnel     CONNECT, then misbehave inside the tunnel (garbage, truncated or
             abandoned ClientHello) and report whether/how the proxy closed
  sni        CONNECT to one host, then a TLS handshake with a different SNI
             (--fragment N: the ClientHello cut into records of N body bytes, each
             sent in its own TCP segment; --fragment 0: in two halves)
  hold       open N tunnels with finished TLS handshakes and hold them (bench)
  blackhole  a loopback listener whose accept queue is full, so SYNs are dropped
  sink       a loopback listener that accepts and reads but never answers

Only loopback addresses are ever used.
"""
import argparse
import os
import select
import signal
import socket
import ssl
import sys
import time

LOOPBACK = "127.0.0.1"
QUIET = False


def out(key, value):
    print(f"{key}={value}", flush=True)


def decode(s):
    """Shell-friendly escapes: \\r \\n \\xNN."""
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


def connect(port, timeout):
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not QUIET:
        out("local", s.getsockname()[1])  # lets the tests find this connection's summary
    return s


def read_until_close(s, timeout):
    """Read everything until EOF/RST/timeout. Returns (bytes, how)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, "timeout"
        except ConnectionResetError:
            return data, "reset"
        except OSError as e:
            return data, f"error:{e.errno}"
        if not chunk:
            return data, "eof"
        data += chunk


def read_head(s, timeout):
    """Read an HTTP response head (up to CRLFCRLF). Returns (head, rest, how)."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, b"", "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, b"", "timeout"
        except ConnectionResetError:
            return data, b"", "reset"
        if not chunk:
            return data, b"", "eof"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest, None


def status_of(head):
    first = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = first.split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return parts[1]
    return "none"


def report_response(data, how):
    head, sep, body = data.partition(b"\r\n\r\n")
    out("status", status_of(head) if data else "none")
    out("statusline", head.split(b"\r\n", 1)[0].decode("latin-1", "replace") if data else "")
    out("body", body.decode("latin-1", "replace").strip().replace("\n", "\\n"))
    out("closed", how)


def client_hello(server_name):
    """Produce a real ClientHello (TLS record bytes) with the given SNI."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outgoing, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def do_connect(s, target, timeout):
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head, rest, how = read_head(s, timeout)
    st = status_of(head) if head else "none"
    out("status", st)
    if how:
        out("closed", how)
    return st, rest


# ---------------------------------------------------------------- subcommands

def cmd_raw(a):
    data = decode(a.data)
    if a.pad_header:
        # Insert one big header before the final blank line.
        assert data.endswith(b"\r\n\r\n"), "--pad-header needs data ending in CRLFCRLF"
        data = data[:-2] + b"X-Padding: " + b"a" * a.pad_header + b"\r\n\r\n"
    s = connect(a.port, a.timeout)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    if a.half_close:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    resp, how = read_until_close(s, a.timeout)
    report_response(resp, how)
    s.close()


def cmd_tunnel(a):
    s = connect(a.port, a.timeout)
    st, _ = do_connect(s, a.target, a.timeout)
    if st != "200":
        s.close()
        return
    sni = a.sni or a.target.rsplit(":", 1)[0]
    if a.after == "garbage":
        s.sendall(b"this is not TLS at all\r\n\r\n" + bytes(range(256)))
    elif a.after == "plain-http":
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    elif a.after == "truncated-hello":
        hello = client_hello(sni)
        s.sendall(hello[: len(hello) // 2])
        time.sleep(a.pause)
        out("after", f"sent {len(hello) // 2} of {len(hello)} ClientHello bytes, closing")
        s.close()
        return
    elif a.after == "abandon-handshake":
        hello = client_hello(sni)
        s.sendall(hello)
        got = b""
        s.settimeout(a.pause)
        try:
            got = s.recv(100)  # first bytes of the ServerHello, if any come
        except (socket.timeout, ConnectionResetError):
            pass
        out("after", f"sent ClientHello, got {len(got)} server bytes, closing")
        s.close()
        return
    elif a.after == "hello-wait":
        s.sendall(client_hello(sni))
    resp, how = read_until_close(s, a.timeout)
    out("after", f"proxy sent {len(resp)} bytes")
    out("closed", how)
    s.close()


def fragment_records(flight, size):
    """Re-cut the handshake records of `flight` into records of `size` body bytes (0: two halves)."""
    body = b""
    version = flight[1:3]
    while len(flight) >= 5:
        n = int.from_bytes(flight[3:5], "big")
        body += flight[5:5 + n]
        flight = flight[5 + n:]
    if size <= 0:
        size = (len(body) + 1) // 2
    return [b"\x16" + version + len(body[i:i + size]).to_bytes(2, "big") + body[i:i + size]
            for i in range(0, len(body), size)]


def handshake_fragmented(s, ctx, sni, size, timeout):
    """A TLS client handshake over `s` whose first flight (the ClientHello) is sent as records
    of `size` body bytes, one TCP segment each; everything after goes as OpenSSL wrote it."""
    inc, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outgoing, server_hostname=sni)
    first = True
    s.settimeout(timeout)
    while True:
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        data = outgoing.read()
        if data and first:
            first = False
            for rec in fragment_records(data, size):
                s.sendall(rec)
                time.sleep(0.002)  # one segment each (TCP_NODELAY is set)
        elif data:
            s.sendall(data)
        if done:
            return obj
        got = s.recv(65536)
        if not got:
            raise ConnectionError("proxy closed during the handshake")
        inc.write(got)


def cmd_sni(a):
    s = connect(a.port, a.timeout)
    st, rest = do_connect(s, a.target, a.timeout)
    if st != "200":
        s.close()
        return
    ctx = ssl.create_default_context(cafile=a.cafile)
    ctx.check_hostname = False
    try:
        if a.fragment is None:
            t = ctx.wrap_socket(s, server_hostname=a.sni)
            out("handshake", "ok")
            t.close()
        else:
            handshake_fragmented(s, ctx, a.sni, a.fragment, a.timeout)
            out("handshake", "ok")
            s.close()
    except (ssl.SSLError, OSError) as e:
        out("handshake", f"failed:{type(e).__name__}")
        s.close()


def cmd_hold(a):
    global QUIET
    QUIET = True
    ctx = ssl.create_default_context(cafile=a.cafile)
    socks = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    failed = 0
    for i in range(a.count):
        try:
            s = connect(a.port, a.timeout)
            st, rest = do_connect_quiet(s, a.target, a.timeout)
            if st != "200":
                raise RuntimeError(f"CONNECT answered {st}")
            t = ctx.wrap_socket(s, server_hostname=a.sni)
            socks.append(t)
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            print(f"hold: connection {i}: {e}", file=sys.stderr)
    out("opened", len(socks))
    out("failed", failed)
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(f"{len(socks)} {failed}\n")
        os.rename(a.ready_file + ".tmp", a.ready_file)
    deadline = time.monotonic() + a.hold_seconds
    while not stop and time.monotonic() < deadline:
        time.sleep(0.1)
    for t in socks:
        t.close()


def do_connect_quiet(s, target, timeout):
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head, rest, how = read_head(s, timeout)
    return (status_of(head) if head else "none"), rest


def cmd_blackhole(a):
    """listen(0) and fill the accept queue; further SYNs to the port are dropped."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((LOOPBACK, a.port))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    for _ in range(a.fill):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect((LOOPBACK, port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.3)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(a.port_file + ".tmp", a.port_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(a.lifetime)


def cmd_sink(a):
    """Accept connections, read and discard, never answer (an origin that hangs)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((LOOPBACK, a.port))
    ls.listen(64)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{ls.getsockname()[1]}\n")
    os.rename(a.port_file + ".tmp", a.port_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    conns = [ls]
    deadline = time.monotonic() + a.lifetime
    while time.monotonic() < deadline:
        r, _, _ = select.select(conns, [], [], 0.5)
        for c in r:
            if c is ls:
                conns.append(ls.accept()[0])
            else:
                try:
                    data = c.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    conns.remove(c)
                    c.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("raw")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--data", required=True, help="bytes to send; \\r \\n \\xNN escapes")
    r.add_argument("--pad-header", type=int, default=0, help="add a header of this many bytes")
    r.add_argument("--half-close", action="store_true", help="shutdown(SHUT_WR) after sending")
    r.add_argument("--timeout", type=float, default=10)
    r.set_defaults(fn=cmd_raw)

    t = sub.add_parser("tunnel")
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--target", required=True)
    t.add_argument("--sni", default=None)
    t.add_argument("--after", required=True,
                   choices=["garbage", "plain-http", "truncated-hello", "abandon-handshake", "hello-wait", "silent"])
    t.add_argument("--pause", type=float, default=0.5)
    t.add_argument("--timeout", type=float, default=10)
    t.set_defaults(fn=cmd_tunnel)

    n = sub.add_parser("sni")
    n.add_argument("--port", type=int, required=True)
    n.add_argument("--target", required=True)
    n.add_argument("--sni", required=True)
    n.add_argument("--cafile", required=True)
    n.add_argument("--fragment", type=int, default=None,
                   help="send the ClientHello as records of N body bytes (0: two halves)")
    n.add_argument("--timeout", type=float, default=10)
    n.set_defaults(fn=cmd_sni)

    h = sub.add_parser("hold")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--target", required=True)
    h.add_argument("--sni", required=True)
    h.add_argument("--cafile", required=True)
    h.add_argument("--count", type=int, default=200)
    h.add_argument("--ready-file", default=None)
    h.add_argument("--hold-seconds", type=float, default=60)
    h.add_argument("--timeout", type=float, default=10)
    h.set_defaults(fn=cmd_hold)

    b = sub.add_parser("blackhole")
    b.add_argument("--port", type=int, default=0)
    b.add_argument("--port-file", required=True)
    b.add_argument("--fill", type=int, default=4)
    b.add_argument("--lifetime", type=float, default=300)
    b.set_defaults(fn=cmd_blackhole)

    k = sub.add_parser("sink")
    k.add_argument("--port", type=int, default=0)
    k.add_argument("--port-file", required=True)
    k.add_argument("--lifetime", type=float, default=300)
    k.set_defaults(fn=cmd_sink)

    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
