#!/usr/bin/env python3
"""soakclient.py: concurrent downloads through a CONNECT proxy, checked by SHA-256, then a
SIGTERM to the proxy while transfers are in flight (bench/soak.sh).

  soakclient.py --port P --pid PID --log LOG --sha HEX --size BYTES --path /1m.bin
                --target intercept=HOST:PORT:CAFILE --target passthrough=HOST:PORT:CAFILE
                [--concurrency 200] [--duration 120] [--quiet 3] [--tail 3] [--grace 10]

Timeline: 20 warm-up connections per target (start figures), then two rounds of DURATION/2
seconds of load (every worker loops: a fresh connection, CONNECT, TLS, GET with Connection:
close, body read to the end and hashed), each followed by QUIET seconds without load (the
proxy's RSS and fd count when idle again: the fd count must be back at the start value and
idle RSS must not grow from round 1 to round 2), TAIL seconds of load, then
SIGTERM to PID while transfers are in flight; each worker then tries once more (the proxy
must answer, 503 while draining, or refuse the TCP connection once closed), and in-flight
transfers must finish within the grace period. Each connection comes from its own loopback
address (127.32.0.0/11), so its summary line in LOG is found by `client=`.

Prints figures and ends with "soak: PASS" or "soak: FAIL (...)"; exit status 0 or 1.
"""
import argparse
import collections
import hashlib
import os
import re
import signal
import socket
import ssl
import threading
import time

COUNTER = iter(range(1, 1 << 30))
COUNTER_LOCK = threading.Lock()


def source_ip():
    with COUNTER_LOCK:
        n = next(COUNTER)
    hi, lo = divmod(n, 250)
    return f"127.{32 + (hi >> 8) % 96}.{hi & 255}.{lo + 1}"


def proc_figures(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, AttributeError):
        return None, None


class Result:
    __slots__ = ("mode", "addr", "started", "answered_at", "status", "outcome", "detail", "ended", "bytes")

    def __init__(self, mode):
        self.mode = mode
        self.addr = None
        self.started = time.monotonic()
        self.answered_at = None
        self.status = None
        self.outcome = None
        self.detail = ""
        self.ended = None
        self.bytes = 0


def read_head(s, buf=b""):
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(f"closed after {len(buf)} bytes of the answer")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def one(args, mode, host, port, ctx, r):
    s = None
    try:
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=30, source_address=(source_ip(), 0))
        except ConnectionRefusedError:
            r.outcome = "refused"
            return
        r.addr = "%s:%d" % s.getsockname()
        s.settimeout(30)
        target = f"{host}:{port}"
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        try:
            head, rest = read_head(s)
        except (EOFError, ConnectionResetError) as e:
            r.outcome, r.detail = "unanswered", str(e)
            return
        r.answered_at = time.monotonic()
        r.status = head[9:12].decode("latin-1", "replace")
        if r.status != "200":
            r.outcome = f"answered-{r.status}"
            return
        t = ctx.wrap_socket(s, server_hostname=host)
        s = t
        t.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        head, body = read_head(t)
        if not head.startswith(b"HTTP/1.1 200"):
            r.outcome, r.detail = "failed", f"GET answered {head[:30]!r}"
            return
        h = hashlib.sha256(body)
        got = len(body)
        clean = False
        while True:
            try:
                chunk = t.recv(262144)
            except ssl.SSLEOFError:  # EOF without close_notify
                break
            if not chunk:
                clean = True  # close_notify
                break
            h.update(chunk)
            got += len(chunk)
        r.bytes = got
        if got == args.size:
            r.outcome = "ok" if h.hexdigest() == args.sha else "corrupt"
        elif got > args.size:
            r.outcome, r.detail = "corrupt", f"{got} bytes"
        else:
            # Short: a clean end (close_notify) here would be a truncation passed off as complete.
            r.outcome = "truncated-clean" if clean else "failed"
            r.detail = f"{got} of {args.size} bytes"
    except (OSError, ssl.SSLError, EOFError) as e:
        r.outcome = r.outcome or "failed"
        r.detail = f"{type(e).__name__}: {e}"
    finally:
        r.ended = time.monotonic()
        if s is not None:
            try:
                s.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--sha", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--path", default="/1m.bin")
    ap.add_argument("--target", action="append", required=True, help="MODE=HOST:PORT:CAFILE, repeatable")
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--quiet", type=float, default=3)
    ap.add_argument("--tail", type=float, default=3)
    ap.add_argument("--grace", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of load the duration is split into")
    a = ap.parse_args()

    targets = []
    for t in a.target:
        mode, rest = t.split("=", 1)
        host, port, cafile = rest.split(":", 2)
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.options |= ssl.OP_NO_TICKET
        targets.append((mode, host, int(port), ctx))

    results = []
    results_lock = threading.Lock()
    load = threading.Event()
    stop = threading.Event()
    term_at = [None]

    # Warm-up: 20 connections per target, so that what is made once is in "start": the minted
    # certificate, its decoded copy (made on a Dispatch queue after 16 handshakes, which brings
    # up libdispatch's epoll, eventfd and timerfd).
    for mode, host, port, ctx in targets:
        for _ in range(20):
            one(a, mode, host, port, ctx, Result(mode))
    time.sleep(0.5)
    figures = {"start": proc_figures(a.pid)}
    peak = [0, 0]

    def sampler():
        while not stop.is_set():
            rss, fds = proc_figures(a.pid)
            if rss is None:
                return
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], fds)
            time.sleep(0.25)

    def worker(i):
        mode, host, port, ctx = targets[i % len(targets)]
        while not stop.is_set():
            if term_at[0] is not None:
                # After the SIGTERM: one more connection; the proxy answers it (503) or refuses it.
                r = Result(mode)
                with results_lock:
                    results.append(r)
                one(a, mode, host, port, ctx, r)
                return
            if not load.is_set():
                time.sleep(0.05)
                continue
            r = Result(mode)
            with results_lock:
                results.append(r)
            one(a, mode, host, port, ctx, r)

    threading.Thread(target=sampler, daemon=True).start()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(a.concurrency)]
    load.set()
    t0 = time.monotonic()
    for t in threads:
        t.start()
    # Two rounds of load, each followed by a quiet spell (transfers ended, the proxy idle): what
    # one round leaves behind (pools, arenas) must not grow in the next.
    for rnd in range(1, a.rounds + 1):
        time.sleep(a.duration / a.rounds)
        load.clear()
        while any(r.ended is None for r in list(results)) and time.monotonic() - t0 < rnd * a.duration + 60:
            time.sleep(0.1)
        time.sleep(a.quiet)
        figures[f"idle {rnd}"] = proc_figures(a.pid)
        load.set()
    time.sleep(a.tail)
    figures["before SIGTERM"] = proc_figures(a.pid)
    term_at[0] = time.monotonic()
    os.kill(a.pid, signal.SIGTERM)
    for t in threads:
        t.join(timeout=a.grace + 30)
    stop.set()
    # Wait for the process to exit (its summaries are written by then).
    deadline = time.monotonic() + a.grace + 10
    while time.monotonic() < deadline:
        if proc_figures(a.pid)[0] is None:
            break
        time.sleep(0.1)
    exited = proc_figures(a.pid)[0] is None
    time.sleep(0.3)

    # Summary lines by client address.
    seen = collections.Counter()
    unknown = 0
    with open(a.log, errors="replace") as f:
        for line in f:
            m = re.search(r'(?:^|\s)summary conn=\S+ client="?([^"\s]+)"?', line)
            if m:
                if m.group(1) == "?":
                    unknown += 1
                else:
                    seen[m.group(1)] += 1

    term = term_at[0]
    accepted = [r for r in results if r.addr]
    missing = [r for r in accepted if seen[r.addr] == 0]
    doubled = [r for r in accepted if seen[r.addr] > 1]
    missing_count = max(0, len(missing) - unknown)
    before = [r for r in results if r.started < term]
    in_flight = [r for r in before if r.ended is None or r.ended >= term]
    inflight_failed = [r for r in in_flight if r.answered_at is not None and r.answered_at < term and r.outcome != "ok"
                       and r.ended is not None and r.ended <= term + a.grace]
    after = [r for r in results if r.started >= term]
    corrupt = [r for r in results if r.outcome == "corrupt"]
    truncated_clean = [r for r in results if r.outcome == "truncated-clean"]
    unanswered = [r for r in results if r.outcome == "unanswered"]
    failed_before = [r for r in results if r.ended is not None and r.ended < term and r.outcome not in ("ok",)]

    by = collections.Counter((r.mode, r.outcome) for r in results)
    print(f"soak: {len(results)} connections in {a.duration:.0f}+{a.tail:.0f} s of load, concurrency {a.concurrency}, "
          f"{sum(r.bytes for r in results) / 1048576:.0f} MiB checked")
    for mode in sorted({m for m, _ in by}):
        print(f"soak:   {mode}: " + " ".join(f"{o}={n}" for (m, o), n in sorted(by.items(), key=lambda kv: -kv[1]) if m == mode))
    for k in ["start"] + [f"idle {i}" for i in range(1, a.rounds + 1)] + ["before SIGTERM"]:
        rss, fds = figures[k]
        print(f"soak: {k:15s} RSS {rss or 0:8d} KiB  fds {fds or 0:5d}")
    print(f"soak: {'peak':15s} RSS {peak[0]:8d} KiB  fds {peak[1]:5d}")
    print(f"soak: at SIGTERM {len(in_flight)} connections in flight; after it {len(after)} new ones: "
          + " ".join(f"{o}={n}" for o, n in collections.Counter(r.outcome for r in after).most_common()))
    print(f"soak: process exited within the grace period: {'yes' if exited else 'NO'}")

    problems = []

    def report(name, items, show=3):
        print(f"soak: {name}: {len(items) if not isinstance(items, int) else items}")
        if isinstance(items, list):
            for r in items[:show]:
                print(f"soak:     {r.mode} client={r.addr} status={r.status} outcome={r.outcome} {r.detail}")
        n = items if isinstance(items, int) else len(items)
        if n:
            problems.append(name)

    report("corrupt bodies", corrupt)
    report("truncated bodies ended as if complete (close_notify)", truncated_clean)
    report("connections without a summary line", missing_count)
    if missing_count:
        for r in missing[:3]:
            print(f"soak:     {r.mode} client={r.addr} outcome={r.outcome} {r.detail}")
    report("connections with more than one summary line", doubled)
    report("accepted connections never answered (EOF/reset instead of a status)", unanswered)
    report("in-flight transfers failed within the grace period", inflight_failed)
    report("transfers failed before the SIGTERM", failed_before)
    if not exited:
        problems.append("did not exit")
    start_rss, start_fds = figures["start"][0] or 1, figures["start"][1] or 0
    idle1_rss, idle1_fds = figures["idle 1"][0] or 0, figures["idle 1"][1] or 0
    idle2_rss, idle2_fds = figures[f"idle {a.rounds}"][0] or 0, figures[f"idle {a.rounds}"][1] or 0
    print(f"soak: idle fds vs start: {idle2_fds - start_fds:+d}")
    print(f"soak: idle RSS after round 1 vs start: {100 * (idle1_rss - start_rss) / start_rss:+.0f}% "
          f"(peak {100 * (peak[0] - start_rss) / start_rss:+.0f}%)")
    print(f"soak: idle RSS after round {a.rounds} vs round 1: {100 * (idle2_rss - idle1_rss) / max(1, idle1_rss):+.1f}%")
    if idle2_fds > start_fds:
        problems.append("fds not back to the start value")
    # Idle RSS is reported, not judged: after a load it sits at glibc's high-water mark (free
    # memory kept in the arenas; in use it is flat), approaching a plateau from round to round.
    if idle2_rss > start_rss * 1.5:
        print(f"soak: note: idle RSS is {idle2_rss / start_rss:.1f}x the start value (free memory glibc keeps "
              f"in its arenas after the peak; see docs/PERFORMANCE.md)")
    print("soak: PASS" if not problems else f"soak: FAIL ({'; '.join(problems)})")
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
