#!/usr/bin/env python3
"""doh_slow.py PORT CERT KEY UPSTREAM_PORT DELAYFILE: a DoH server (TLS, ALPN http/1.1, RFC 8484
POST) that passes each query over UDP to a real resolver (unbound on 127.0.0.1:UPSTREAM_PORT)
and returns its answer; HTTPS queries (type 65) are held for the number of seconds in
DELAYFILE (read per query, 0 when it is missing) before they are passed on. A/AAAA answer at
once. Every query is logged as `qtype=N name=NAME delayed=S` on stdout."""
import socket
import ssl
import sys
import threading
import time

port, cert, key, upstream, delay_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(["http/1.1"])
lock = threading.Lock()


def question(q):
    i, labels = 12, []
    while i < len(q) and q[i] != 0:
        n = q[i]
        labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels), int.from_bytes(q[i + 1:i + 3], "big")


def delay():
    try:
        with open(delay_file) as f:
            return float(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def serve(conn):
    try:
        with ctx.wrap_socket(conn, server_side=True) as s:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            while len(body) < length:
                chunk = s.recv(4096)
                if not chunk:
                    return
                body += chunk
            name, qtype = question(body)
            wait = delay() if qtype == 65 else 0.0
            with lock:
                print(f"qtype={qtype} name={name} delayed={wait}", flush=True)
            if wait:
                time.sleep(wait)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.settimeout(5)
            u.sendto(body, ("127.0.0.1", upstream))
            answer, _ = u.recvfrom(65535)
            u.close()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: %d\r\n\r\n"
                      % len(answer) + answer)
    except (OSError, ssl.SSLError, ValueError):
        pass


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
