#!/usr/bin/env python3
"""rusage.py OUT CMD...: run CMD, pass SIGTERM/SIGINT on to it, and when it exits
write "utime_s stime_s maxrss_kib" of CMD (via wait4) to OUT. Exits with CMD's status."""
import os
import signal
import subprocess
import sys

out, cmd = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(cmd)
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, lambda n, _f: p.send_signal(n))
_, status, ru = os.wait4(p.pid, 0)
with open(out, "w") as f:
    f.write(f"{ru.ru_utime:.3f} {ru.ru_stime:.3f} {ru.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
