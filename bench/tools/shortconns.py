#!/usr/bin/env python3
"""shortconns.py: many short connections through a CONNECT proxy on loopback, as fast as
PROCS processes of THREADS threads can open them. For leak hunting (bench/soak-short.sh).

  shortconns.py --port P --target HOST:PORT --kind KIND --count N [--cafile CA]
                [--procs 2] [--threads 8]

KIND:
  connect-close    CONNECT, read the 200, close (no TLS)
  handshake-close  CONNECT, full TLS handshake (no session reuse), close without close_notify
  get              CONNECT, TLS handshake, GET /small.bin (Connection: close), read to the end
  bad-hello        CONNECT, read the 200, then a malformed ClientHello (five kinds in turn)
                   and a half-close; read until the proxy closes
--together (get only): every thread opens its first connection (CONNECT, TLS handshake) and
waits for the other threads of its process before it sends its GET, so that the downloads run
at the same time (a burst of PROCS x THREADS concurrent downloads: bench/memory.sh).
Prints "ok=N failed=M seconds=S rate=R" (and the first few errors on stderr). Exit 0 when
at most 0.1% failed.
"""
import argparse
import multiprocessing
import os
import socket
import ssl
import sys
import threading
import time


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def bad_hellos(host):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    good = out.read()
    body = bytearray(good[5:])
    body[40] ^= 0xFF                      # session ID length: off
    broken = good[:5] + bytes(body)
    return [
        b"\x16\x03\x01\x00\x05hello",      # a record too short to be a hello
        good[:5] + good[5:9] + b"\x00" * 20,  # truncated, then zeros
        broken,                            # a length field off
        b"GET / HTTP/1.1\r\n\r\n",         # not TLS
        b"\x16\x03\x01\xff\xff" + os.urandom(300),  # huge record length, short body
    ]


def worker(args, count, results, errors, ctx, bad, gate):
    ok = failed = 0
    waited = gate is None

    def meet():
        nonlocal waited
        if not waited:
            waited = True
            try:
                gate.wait(timeout=120)
            except threading.BrokenBarrierError:
                pass

    head = f"CONNECT {args.target} HTTP/1.1\r\nHost: {args.target}\r\n\r\n".encode()
    host = args.target.rsplit(":", 1)[0]
    for i in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            try:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(head)
                answer = read_head(s)
                if not answer.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"CONNECT answered {answer[:40]!r}")
                if args.kind == "connect-close":
                    pass
                elif args.kind == "bad-hello":
                    s.sendall(bad[i % len(bad)])
                    # A reset (pass-through: the origin's) or a connection already gone is a fair
                    # end for a bad hello; the half-close is there so a short record cannot wait.
                    try:
                        s.shutdown(socket.SHUT_WR)
                        while s.recv(4096):
                            pass
                    except (ConnectionResetError, OSError):
                        pass
                else:
                    t = ctx.wrap_socket(s, server_hostname=host)
                    if args.kind == "get":
                        meet()
                        t.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                        got = b""
                        while True:
                            chunk = t.recv(65536)
                            if not chunk:
                                break
                            got += chunk
                        if not got.startswith(b"HTTP/1.1 200"):
                            raise RuntimeError(f"GET answered {got[:40]!r}")
                    t.close()
                ok += 1
            finally:
                s.close()
        except (OSError, RuntimeError, ssl.SSLError) as e:
            meet()  # a failed first connection must not keep the others waiting
            failed += 1
            if len(errors) < 5:
                errors.append(f"{type(e).__name__}: {e}")
    results.append((ok, failed))


def process(args, count, q):
    ctx = None
    if args.kind in ("handshake-close", "get"):
        ctx = ssl.create_default_context(cafile=args.cafile)
        ctx.options |= ssl.OP_NO_TICKET  # a full handshake every time
    bad = bad_hellos(args.target.rsplit(":", 1)[0]) if args.kind == "bad-hello" else None
    results, errors, threads = [], [], []
    per = [count // args.threads + (1 if i < count % args.threads else 0) for i in range(args.threads)]
    gate = threading.Barrier(sum(1 for n in per if n > 0)) if args.together and count > 0 else None
    for n in per:
        t = threading.Thread(target=worker, args=(args, n, results, errors, ctx, bad, gate))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    q.put((sum(r[0] for r in results), sum(r[1] for r in results), errors))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--kind", choices=["connect-close", "handshake-close", "get", "bad-hello"], required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--cafile")
    ap.add_argument("--path", default="/small.bin", help="what get fetches")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--together", action="store_true", help="get: start the downloads at once")
    a = ap.parse_args()
    q = multiprocessing.Queue()
    t0 = time.monotonic()
    per = [a.count // a.procs + (1 if i < a.count % a.procs else 0) for i in range(a.procs)]
    ps = [multiprocessing.Process(target=process, args=(a, n, q)) for n in per]
    for p in ps:
        p.start()
    ok = failed = 0
    errors = []
    for _ in ps:
        o, f, e = q.get()
        ok, failed = ok + o, failed + f
        errors += e
    for p in ps:
        p.join()
    dt = time.monotonic() - t0
    for e in errors[:5]:
        print(f"shortconns: {e}", file=sys.stderr)
    print(f"ok={ok} failed={failed} seconds={dt:.1f} rate={ok / dt:.0f}")
    return 0 if failed <= a.count / 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
