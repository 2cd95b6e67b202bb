#!/usr/bin/env python3
"""threadcpu.py PID OUT [--interval S] [--ring-comm REGEX]: CPU of each thread of PID while a
benchmark runs, for the share each worker (ring) thread takes.

Samples /proc/PID/task/*/stat (utime+stime, clock ticks) every S seconds (0.2) until SIGTERM,
SIGINT or PID's exit, then writes OUT, one line a worker thread:
    ring TID OWN IOWQ
(ticks used while sampling: the thread's own, and its io_uring io-wq workers', the kernel threads
named iou-wrk-TID that run the work its ring hands off), then
    other TID COMM TICKS        for every other thread that used CPU
    total TICKS                 the whole process (from /proc/PID/stat: threads that ended too)
Worker threads: threads other than the main one whose comm matches REGEX (default ^veil).
An io-wq worker that ends between two samples loses at most one interval of its CPU (it is in
the total).
"""
import argparse
import os
import re
import signal
import time


def ticks(path):
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None, None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, int(rest[11]) + int(rest[12])


def sample(pid, first, last, comms):
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for t in tids:
        comm, v = ticks(f"/proc/{pid}/task/{t}/stat")
        if v is None:
            continue
        tid = int(t)
        first.setdefault(tid, v if INITIAL[0] else 0)
        last[tid] = max(v, last.get(tid, 0))
        comms[tid] = comm
    return True


INITIAL = [True]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pid", type=int)
    ap.add_argument("out")
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--ring-comm", default="^veil")
    a = ap.parse_args()
    stop = []
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.append(1))
    first, last, comms = {}, {}, {}
    _, total0 = ticks(f"/proc/{a.pid}/stat")
    sample(a.pid, first, last, comms)
    INITIAL[0] = False  # threads that appear later started from 0
    while not stop and sample(a.pid, first, last, comms):
        time.sleep(a.interval)
    sample(a.pid, first, last, comms)
    _, total1 = ticks(f"/proc/{a.pid}/stat")
    used = {t: last[t] - first[t] for t in last}
    ring_re = re.compile(a.ring_comm)
    rings = sorted(t for t in used if t != a.pid and ring_re.search(comms[t]) and not comms[t].startswith("iou-"))
    lines = []
    taken = set(rings)
    for t in rings:
        iowq = [u for u in used if comms[u] == f"iou-wrk-{t}"]
        taken.update(iowq)
        lines.append(f"ring {t} {used[t]} {sum(used[u] for u in iowq)}")
    for t in sorted(used):
        if t not in taken and used[t] > 0:
            lines.append(f"other {t} {comms[t]} {used[t]}")
    lines.append(f"total {(total1 or 0) - (total0 or 0)}")
    with open(a.out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
