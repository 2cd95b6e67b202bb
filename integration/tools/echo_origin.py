#!/usr/bin/env python3
"""A plain-http origin on loopback that answers every request with what it received.

  echo_origin.py --port-file FILE [--lifetime SECONDS]

The answer (200, Content-Type application/json, Connection: close) is a JSON object:
method, path, version, headers (list of [name, value] as received), body_length,
body_sha256, and extra: bytes that arrived after the request's body on the same connection
(a proxy must never forward a second request). GET /big?n=N answers N bytes of a fixed
pattern instead (sha256 in the X-Body-Sha256 header). Only 127.0.0.1 is used.
"""
import argparse
import hashlib
import json
import socket
import threading
import time


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def read_exact(conn, rest, n):
    while len(rest) < n:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return rest[:n], rest[n:]


def read_chunked(conn, rest):
    body = b""
    while True:
        while b"\r\n" not in rest:
            rest += conn.recv(65536)
        line, rest = rest.split(b"\r\n", 1)
        size = int(line.split(b";")[0], 16)
        if size == 0:
            while b"\r\n\r\n" not in b"\r\n" + rest:
                rest += conn.recv(65536)
            idx = (b"\r\n" + rest).index(b"\r\n\r\n")
            rest = rest[idx + 2:]
            return body, rest
        data, rest = read_exact(conn, rest, size + 2)
        body += data[:size]


def pattern(n):
    block = bytes(range(256)) * 256
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])


def handle(conn):
    try:
        conn.settimeout(10)
        head, rest = read_head(conn)
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ")
        headers = [l.split(":", 1) for l in lines[1:]]
        headers = [[n, v.strip()] for n, v in headers]
        lower = {n.lower(): v for n, v in headers}
        if "content-length" in lower:
            body, rest = read_exact(conn, rest, int(lower["content-length"]))
        elif lower.get("transfer-encoding", "").lower() == "chunked":
            body, rest = read_chunked(conn, rest)
        else:
            body = b""
        # Anything more the proxy sends within a moment is a second request it should not have forwarded.
        conn.settimeout(0.3)
        try:
            while True:
                more = conn.recv(65536)
                if not more:
                    break
                rest += more
        except socket.timeout:
            pass
        if path.startswith("/big?n="):
            payload = pattern(int(path.split("=", 1)[1]))
            extra = [f"X-Body-Sha256: {hashlib.sha256(payload).hexdigest()}"]
            ctype = "application/octet-stream"
        else:
            payload = json.dumps({
                "method": method, "path": path, "version": version, "headers": headers,
                "body_length": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
                "extra": rest.decode("latin-1"),
            }).encode()
            extra = []
            ctype = "application/json"
        resp = [f"HTTP/1.1 200 OK", f"Content-Type: {ctype}", f"Content-Length: {len(payload)}",
                "Connection: close"] + extra
        conn.sendall(("\r\n".join(resp) + "\r\n\r\n").encode() + payload)
    except Exception:  # noqa: BLE001 - one broken client must not stop the origin
        pass
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--lifetime", type=float, default=600)
    a = p.parse_args()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    deadline = time.monotonic() + a.lifetime
    s.settimeout(1)
    while time.monotonic() < deadline:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
