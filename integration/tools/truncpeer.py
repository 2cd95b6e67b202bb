#!/usr/bin/env python3
"""TLS peers that end their streams in chosen ways, and report how the other side ended.

Used by integration/t68-truncation.sh to prove that an end without close_notify (a bare FIN,
a FIN in the middle of a record) is never passed on as close_notify, that a close_notify still
is, and that a record that does not authenticate is answered with a fatal alert.

Both peers run Python's ssl over memory BIOs (ssl.SSLObject), so every byte that reaches the
socket is chosen here: half a record can be sent, a tag flipped, a FIN sent with no
close_notify before it.

  origin   a TLS server (threads, one per connection). The client's first line is
           "TAG MODE SIZE": the origin sends SIZE bytes, then ends as MODE says:
             close_notify  close_notify, then FIN
             fin           FIN without close_notify
             mid-record    half of one more record, then FIN
             bad-record    one more record with a flipped bit (then waits for the answer)
             expect        nothing: it reads until the client's side ends
           and then reads until the other side ends. One line per connection in --log:
             tag=TAG mode=MODE sent=N got=N seen=END
  client   CONNECT through the proxy (plain, or --front: inside TLS to the HTTPS listener),
           TLS to the target through it, sends "TAG MODE SIZE". With --up MODE it reads the
           SIZE bytes, sends --upload bytes and ends its own side as MODE says (the origin's
           log tells what arrived); otherwise it reads until the origin's side ends.
           Prints key=value lines: local=PORT, got=N, seen=END (the inner TLS), and with
           --front outer_seen=END (the session with the listener).

END is close_notify, eof (no close_notify), alert:NAME (e.g. alert:bad_record_mac), reset,
timeout or error:WHAT. Only loopback addresses are used.
"""
import argparse
import socket
import ssl
import sys
import threading
import time

LOOPBACK = "127.0.0.1"


class Ended(Exception):
    """A layer's peer ended its side: `how` says how."""

    def __init__(self, how):
        super().__init__(how)
        self.how = how


def alert_name(err):
    """ssl.SSLError -> our END token."""
    if isinstance(err, ssl.SSLZeroReturnError):
        return "close_notify"
    reason = getattr(err, "reason", None) or ""
    if isinstance(err, ssl.SSLEOFError) or "UNEXPECTED_EOF" in reason:
        return "eof"
    for prefix in ("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_"):
        if reason.startswith(prefix):
            return "alert:" + reason[len(prefix):].lower()
    return "error:" + (reason or str(err)).replace(" ", "_")


class Socket:
    """The TCP socket at the bottom of the stack."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, data):
        self.sock.sendall(data)

    def recv(self):
        """Bytes, or b'' at EOF; raises Ended("reset") on a reset."""
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            raise Ended("reset")
        except socket.timeout:
            raise Ended("timeout")

    def end(self):
        self.sock.shutdown(socket.SHUT_WR)


class TLS:
    """One TLS session over a lower layer (a Socket or another TLS), on memory BIOs."""

    def __init__(self, lower, context, server_side=False, server_hostname=None):
        self.lower = lower
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                    server_hostname=server_hostname)
        self.seen = None  # how the peer ended, once it has
        self.lower_eof = False

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.lower.send(data)

    def feed(self):
        if self.lower_eof:
            return
        data = self.lower.recv()
        if data:
            self.incoming.write(data)
        else:
            self.lower_eof = True
            self.incoming.write_eof()

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                self.feed()

    def send(self, data):
        view = memoryview(data)
        while view:
            n = self.obj.write(view[:16384])
            view = view[n:]
            self.flush()

    def recv(self):
        """Application data, or b'' once the peer ended (then `seen` says how)."""
        if self.seen:
            return b""
        while True:
            try:
                data = self.obj.read(65536)
                if data:
                    return data
            except ssl.SSLWantReadError:
                self.flush()  # a KeyUpdate answer, an alert
                try:
                    self.feed()
                except Ended as e:
                    self.seen = e.how
                    return b""
                continue
            except ssl.SSLError as e:
                self.seen = alert_name(e)
                return b""
            self.seen = "close_notify"  # read() returned b'' without raising: a clean close
            return b""

    def recv_exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.recv()
            if not chunk:
                break
            data += chunk
        return data

    def drain(self):
        """Reads until the peer ends; returns the byte count."""
        n = 0
        while True:
            chunk = self.recv()
            if not chunk:
                return n
            n += len(chunk)

    # Ending this layer's side (the layers below end separately).

    def close_notify(self):
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        self.flush()

    def half_record(self, size=1000):
        """One more record, of which only the first half reaches the lower layer."""
        self.obj.write(b"h" * size)
        record = self.outgoing.read()
        self.lower.send(record[: len(record) // 2])

    def bad_record(self, size=100):
        """One more record with a flipped bit in its tag."""
        self.obj.write(b"b" * size)
        record = bytearray(self.outgoing.read())
        record[-1] ^= 1
        self.lower.send(bytes(record))

    def end_as(self, mode):
        if mode == "close_notify":
            self.close_notify()
        elif mode == "mid-record":
            self.half_record()
        elif mode == "bad-record":
            self.bad_record()
        elif mode != "fin":
            raise ValueError(mode)


def pattern(n):
    block = bytes(range(256)) * 64
    out = bytearray()
    while len(out) < n:
        out += block[: n - len(out)]
    return bytes(out)


# ------------------------------------------------------------------------- origin

def serve(conn, context, log, lock):
    conn.settimeout(20)
    raw = Socket(conn)
    tls = TLS(raw, context, server_side=True)
    tag, mode, sent, got = "-", "-", 0, 0
    try:
        tls.handshake()
        line = b""
        while not line.endswith(b"\n"):
            chunk = tls.recv()
            if not chunk:
                raise Ended(tls.seen or "eof")
            line += chunk
        head, _, rest = line.partition(b"\n")
        tag, mode, size = head.decode().split()
        got = len(rest)
        tls.send(pattern(int(size)))
        sent = int(size)
        if mode != "expect":
            tls.end_as(mode)
            if mode != "bad-record":
                raw.end()
        got += tls.drain()
        seen = tls.seen
        if mode == "expect":
            # Then close cleanly (the client reads until this end).
            try:
                tls.close_notify()
                raw.end()
            except OSError:
                pass
    except Ended as e:
        seen = e.how
    except (ssl.SSLError, OSError, ValueError) as e:
        seen = "error:" + type(e).__name__
    with lock:
        with open(log, "a") as f:
            f.write(f"tag={tag} mode={mode} sent={sent} got={got} seen={seen}\n")
    try:
        conn.close()
    except OSError:
        pass


def origin(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    if args.tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, args.port))
    listener.listen(64)
    lock = threading.Lock()
    deadline = time.monotonic() + args.lifetime
    listener.settimeout(1)
    print(f"listening on {args.port}", flush=True)
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, context, args.log, lock), daemon=True).start()


# ------------------------------------------------------------------------- client

def read_head(layer):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = layer.recv()
        if not chunk:
            raise Ended("eof before the proxy's answer")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


class Prefixed:
    """A lower layer that first hands out bytes already read (after the proxy's answer)."""

    def __init__(self, lower, first):
        self.lower = lower
        self.first = first

    def send(self, data):
        self.lower.send(data)

    def recv(self):
        if self.first:
            data, self.first = self.first, b""
            return data
        return self.lower.recv()


def client(args):
    sock = socket.create_connection((LOOPBACK, args.proxy_port), timeout=args.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(f"local={sock.getsockname()[1]}", flush=True)
    raw = Socket(sock)
    outer = None
    lower = raw
    if args.front:
        octx = ssl.create_default_context(cafile=args.front_ca)
        outer = TLS(raw, octx, server_hostname=LOOPBACK)
        outer.handshake()
        lower = outer
    lower.send(f"CONNECT {args.target} HTTP/1.1\r\nHost: {args.target}\r\n\r\n".encode())
    head, rest = read_head(lower)
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    print(f"status={status.replace(' ', '_')}", flush=True)
    if " 200 " not in status + " ":
        return 1
    host = args.target.rsplit(":", 1)[0]
    ictx = ssl.create_default_context(cafile=args.ca)
    if args.tls12:
        ictx.maximum_version = ssl.TLSVersion.TLSv1_2
    inner = TLS(Prefixed(lower, rest), ictx, server_hostname=host)
    inner.handshake()
    mode = "expect" if args.up else args.mode
    inner.send(f"{args.tag} {mode} {args.size}\n".encode())
    if args.up:
        first = inner.recv_exactly(args.size)
        print(f"first={len(first)}", flush=True)
        if args.upload:
            inner.send(pattern(args.upload))
        inner.end_as(args.up)
        if outer:
            outer.end_as(args.outer_up or "fin")
        if "bad-record" not in (args.up, args.outer_up):
            raw.end()
    got = inner.drain()
    print(f"got={got}", flush=True)
    print(f"seen={inner.seen}", flush=True)
    if outer:
        outer.drain()
        print(f"outer_seen={outer.seen}", flush=True)
    sock.close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("origin")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--cert", required=True)
    o.add_argument("--key", required=True)
    o.add_argument("--log", required=True)
    o.add_argument("--tls12", action="store_true")
    o.add_argument("--lifetime", type=float, default=900)
    c = sub.add_parser("client")
    c.add_argument("--proxy-port", type=int, required=True)
    c.add_argument("--target", required=True)
    c.add_argument("--ca", required=True, help="CA for the target's certificate (Veil's CA)")
    c.add_argument("--tag", required=True)
    c.add_argument("--mode", default="close_notify", help="how the origin ends (down-stream cases)")
    c.add_argument("--size", type=int, default=1000, help="bytes the origin sends first")
    c.add_argument("--up", help="the client ends its side this way (close_notify, fin, mid-record, bad-record)")
    c.add_argument("--upload", type=int, default=1000, help="bytes sent before ending (--up)")
    c.add_argument("--front", action="store_true", help="the proxy port is the HTTPS listener")
    c.add_argument("--front-ca", help="CA for the listener's certificate")
    c.add_argument("--outer-up", help="with --front --up: how the outer session ends (default fin)")
    c.add_argument("--tls12", action="store_true")
    c.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    try:
        if args.cmd == "origin":
            origin(args)
            return 0
        return client(args)
    except Ended as e:
        print(f"seen={e.how}", flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
