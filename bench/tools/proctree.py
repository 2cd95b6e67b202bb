#!/usr/bin/env python3
"""proctree.py cpu|rss|hwm|pids PID: figures for a process and all its descendants.

  cpu  clock ticks: utime+stime of PID and every live descendant (all threads,
       io_uring workers included) plus cutime+cstime (children already reaped)
  rss  KiB: sum of VmRSS over PID and its descendants
  hwm  KiB: sum of VmHWM (peak RSS) over PID and its descendants
  pids the pids, one per line

Reads /proc only; a process that vanishes between listing and reading counts as 0.
"""
import os
import sys


def stat_fields(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'
    rest = s[s.rindex(")") + 2:].split()
    return rest  # rest[0] is field 3 (state); field N is rest[N - 3]


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        f = stat_fields(d)
        if f is None:
            continue
        kids.setdefault(int(f[1]), []).append(int(d))  # field 4: ppid
    return kids


def tree(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    what, root = sys.argv[1], int(sys.argv[2])
    pids = tree(root)
    if what == "pids":
        print("\n".join(map(str, pids)))
    elif what == "cpu":
        total = 0
        for p in pids:
            f = stat_fields(p)
            if f is None:
                continue
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
        print(total)
    elif what in ("rss", "hwm"):
        key = "VmRSS" if what == "rss" else "VmHWM"
        print(sum(status_kib(p, key) for p in pids))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
