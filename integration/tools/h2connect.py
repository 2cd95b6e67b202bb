#!/usr/bin/python3
"""A standard HTTP/2 CONNECT client (RFC 9113 section 8.5), Python's `h2` package (Debian
python3-h2), against `veil relay`: one TLS connection (ALPN h2, the relay's certificate pinned
by its SHA-256 fingerprint), several CONNECT streams on it at once, each
`label,target,secret[,path]`
(a target `RESOLVE host:port` sends Veil's RESOLVE instead of CONNECT). A stream answered 200 with a path runs its own TLS handshake with
the origin inside the tunnel (verified against --cafile, SNI the target's host), GETs the path
(HTTP/1.1, Connection: close) and reads to the origin's close_notify.

Prints `alpn=...`, then per stream (in the order given):
    label status=N body_sha256=HEX body_bytes=N reset=-|CODE end=remote|reset|tls-close
Exit 0 when the run completed, 3 when the relay did not select h2, 2 on a harness error.
Only loopback addresses are used."""
import argparse
import hashlib
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events


class Stream:
    def __init__(self, label, target, secret, path, cafile):
        self.label, self.target, self.secret, self.path = label, target, secret, path
        self.status = None
        self.fields = {}
        self.tls_closed = False
        self.local_ended = False
        self.resolve = False
        self.reset = None
        self.end = None
        self.done = False
        self.raw = bytearray()
        self.inner = None
        self.request_sent = False
        # --hold: the GET waits (after the inner handshake) until the relay's GOAWAY.
        self.hold = False
        self.ready = False
        self.ready_file = None
        if path:
            ctx = ssl.create_default_context(cafile=cafile)
            self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            host = target.rsplit(":", 1)[0].strip("[]")
            self.inner = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=host)
            self.host = host

    def pump(self, conn, sid):
        """Runs the inner TLS as far as it goes; queues what it wrote as DATA."""
        if not self.inner or self.status != 200 or self.done or self.tls_closed:
            return
        try:
            if not self.request_sent:
                self.inner.do_handshake()
                if self.hold:
                    if not self.ready and self.ready_file:
                        open(self.ready_file, "w").close()
                    self.ready = True
                    self.flush(conn, sid)
                    return
                self.inner.write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (self.path, self.host)).encode())
                self.request_sent = True
            while True:
                chunk = self.inner.read(65536)
                if not chunk:  # the origin's close_notify (an SSLObject reads b"" then)
                    self.end = self.end or "tls-close"
                    self.tls_closed = True
                    break
                self.raw += chunk
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLEOFError:
            self.end = self.end or "eof-without-close-notify"
            self.tls_closed = True
        except ssl.SSLZeroReturnError:
            self.end = self.end or "tls-close"
            self.tls_closed = True
        self.flush(conn, sid)
        # The origin's TLS has ended: end our side; the stream is done once the relay ends its
        # side too (StreamEnded), so the connection is not closed under a stream still open.
        if self.tls_closed and not self.local_ended:
            self.local_ended = True
            conn.end_stream(sid)

    def flush(self, conn, sid):
        data = self.outgoing.read()
        while data:
            n = min(len(data), conn.max_outbound_frame_size, conn.local_flow_control_window(sid))
            if n <= 0:
                raise RuntimeError("flow control window closed for a request")
            conn.send_data(sid, data[:n])
            data = data[n:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fingerprint", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--hold", help="label of a stream whose GET waits for the relay's GOAWAY")
    ap.add_argument("--ready-file", help="created once the held stream's inner handshake is done")
    ap.add_argument("streams", nargs="+")
    args = ap.parse_args()

    if args.hold:
        # h2 4.1 closes its whole connection state on a received GOAWAY; RFC 9113 section 6.8
        # lets the streams up to its last stream id go on, which is what the drain test
        # checks, so for it the client stays open after GOAWAY (no new stream is opened).
        from h2.connection import ConnectionInputs, ConnectionState, H2ConnectionStateMachine
        H2ConnectionStateMachine._transitions[(ConnectionState.CLIENT_OPEN, ConnectionInputs.RECV_GOAWAY)] = \
            (None, ConnectionState.CLIENT_OPEN)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # pinned by fingerprint below, as Veil does
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    tls = ctx.wrap_socket(raw)
    got = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
    want = args.fingerprint.replace(":", "").lower()
    if got != want:
        print("fingerprint mismatch: %s" % got)
        return 2
    alpn = tls.selected_alpn_protocol()
    print("alpn=%s" % alpn)
    if alpn != "h2":
        return 3

    # h2 4.1's outbound checks want :scheme and :path on every request; RFC 9113 section 8.5's
    # CONNECT has neither, so they are off (the relay checks what it gets).
    conn = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False))
    conn.initiate_connection()
    streams = {}
    order = []
    for spec in args.streams:
        parts = spec.split(",")
        label, target, secret = parts[0], parts[1], parts[2]
        path = parts[3] if len(parts) > 3 else None
        sid = conn.get_next_available_stream_id()
        s = Stream(label, target, secret, path, args.cafile)
        if label == args.hold:
            s.hold, s.ready_file = True, args.ready_file
        streams[sid] = s
        order.append(sid)
        method = "CONNECT"
        if target.startswith("RESOLVE "):  # Veil's RESOLVE host:port, as over HTTP/1.1
            method, target = "RESOLVE", target[len("RESOLVE "):]
            s.target, s.resolve = target, True
        headers = [(":method", method), (":authority", target)]
        if secret:
            headers.append(("proxy-authorization", "Bearer " + secret))
        conn.send_headers(sid, headers, end_stream=(method == "RESOLVE"))
    tls.sendall(conn.data_to_send())

    deadline = time.monotonic() + args.timeout
    while not all(s.done for s in streams.values()):
        if time.monotonic() > deadline:
            print("timeout")
            break
        try:
            data = tls.recv(65536)
        except socket.timeout:
            print("timeout")
            break
        if not data:
            for s in streams.values():
                if not s.done:
                    s.end, s.done = "connection-closed", True
            break
        for event in conn.receive_data(data):
            sid = getattr(event, "stream_id", None)
            s = streams.get(sid)
            if isinstance(event, h2.events.ResponseReceived) and s:
                s.fields = dict(event.headers)
                s.status = int(s.fields[":status"])
                if s.status != 200 or not s.inner:
                    if s.status == 200:
                        s.done = True
                        if not s.resolve:  # a RESOLVE request ended our side already
                            conn.end_stream(sid)
                else:
                    s.pump(conn, sid)
            elif isinstance(event, h2.events.DataReceived) and s:
                conn.acknowledge_received_data(event.flow_controlled_length, sid)
                if s.inner:
                    s.incoming.write(event.data)
                    s.pump(conn, sid)
            elif isinstance(event, h2.events.StreamEnded) and s:
                if s.inner and not s.tls_closed:
                    s.incoming.write_eof()
                    s.pump(conn, sid)
                s.end = s.end or "remote"
                s.done = True
            elif isinstance(event, h2.events.StreamReset) and s:
                s.reset = int(event.error_code)
                s.end, s.done = s.end or "reset", True
            elif isinstance(event, h2.events.ConnectionTerminated):
                # GOAWAY: streams up to last_stream_id go on (the relay drains them).
                print("goaway last_stream=%s code=%d" % (event.last_stream_id, int(event.error_code)))
                for gsid, g in streams.items():
                    if not g.done and event.last_stream_id is not None and gsid > event.last_stream_id:
                        g.end, g.done = "refused-by-goaway", True
                    elif g.hold:
                        g.hold = False
                        g.pump(conn, gsid)
        out = conn.data_to_send()
        if out:
            tls.sendall(out)

    for sid in order:
        s = streams[sid]
        body = bytes(s.raw)
        if b"\r\n\r\n" in body:
            body = body.split(b"\r\n\r\n", 1)[1]
        print("%s status=%s body_sha256=%s body_bytes=%d reset=%s end=%s veil_addresses=\"%s\"" % (
            s.label, s.status if s.status is not None else "-", hashlib.sha256(body).hexdigest() if s.raw else "-",
            len(body) if s.raw else 0, s.reset if s.reset is not None else "-", s.end or "-",
            s.fields.get("veil-addresses", "")))
    try:
        conn.close_connection()
        tls.sendall(conn.data_to_send())
        tls.close()
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
