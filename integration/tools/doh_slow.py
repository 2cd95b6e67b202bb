#!/usr/bin/env python3
"""doh_slow.py PORT CERT KEY UPSTREAM_PORT DELAYFILE: a DoH server (TLS, ALPN http/1.1, RFC 8484
POST) that passes each query over UDP to a real resolver (unbound on 127.0.0.1:UPSTREAM_PORT)
and returns its answer; HTTPS queries (type 65) are held for the number of seconds in
DELAYFILE (read per query, 0 when it is missing) before they are passed on. A/AAAA answer at
once. Every query is logged as `qtype=N name=NAME delayed=S` on stdout."""
import socket
import sys
import threading
import time

from doh_stub import serve_forever

port, cert, key, upstream, delay_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
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


def answer(body):
    name, qtype = question(body)
    wait = delay() if qtype == 65 else 0.0
    with lock:
        print(f"qtype={qtype} name={name} delayed={wait}", flush=True)
    if wait:
        time.sleep(wait)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(body, ("127.0.0.1", upstream))
    reply, _ = u.recvfrom(65535)
    u.close()
    return reply


serve_forever(port, cert, key, answer)
