#!/usr/bin/env python3
"""Checks a strace of Veil against the sandbox of a systemd unit file.

    unit_sandbox_check.py UNIT STRACE_OUTPUT

UNIT's SystemCallFilter= lines (the first an allow list, later ~ lines taking groups or calls
out of it) are expanded with `systemd-analyze syscall-filter`, the local systemd's own
definition of the groups; RestrictAddressFamilies= is read as it is. STRACE_OUTPUT is
`strace -f -o FILE` of a Veil run. With MemoryDenyWriteExecute=yes, a mapping made writable and
executable, or executable after the fact (mprotect), is refused too. Prints the system calls and address families used and any
the unit would refuse; exits 1 if there is one (0 otherwise).

A filtered call would fail with EPERM in the service (SystemCallErrorNumber=EPERM), a refused
family with EAFNOSUPPORT: neither can be seen without systemd as PID 1, which this container
does not have, so the trace of a real run stands in for it. io_uring operations (accept,
connect, send, splice...) are not system calls and pass no seccomp filter: only what Veil
calls directly is checked, which is what the filter sees.
"""
import re
import subprocess
import sys


def groups():
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True,
                         capture_output=True, text=True).stdout
    table, current = {}, None
    for line in out.splitlines():
        if re.match(r"^@\S+$", line):
            current = table.setdefault(line.strip(), [])
        elif not line.strip() or not line.startswith(" "):
            current = None
        elif current is not None and not line.strip().startswith("#"):
            current.append(line.strip())
    return table


def expand(names, table, seen=None):
    seen = set() if seen is None else seen
    calls = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            if n not in table:
                raise SystemExit(f"unknown syscall group {n}")
            calls |= expand(table[n], table, seen)
        else:
            calls.add(n)
    return calls


def unit_settings(path):
    filters, families, mdwe = [], None, False
    for line in open(path):
        line = line.strip()
        if line.startswith("SystemCallFilter="):
            filters.append(line.split("=", 1)[1])
        elif line.startswith("RestrictAddressFamilies="):
            families = line.split("=", 1)[1].split()
        elif line.startswith("MemoryDenyWriteExecute="):
            mdwe = line.split("=", 1)[1] in ("yes", "true", "1", "on")
    return filters, families, mdwe


def main():
    unit, trace = sys.argv[1], sys.argv[2]
    filters, families, mdwe = unit_settings(unit)
    if not filters or filters[0].startswith("~"):
        raise SystemExit(f"{unit}: expected SystemCallFilter= starting with an allow list, got {filters}")
    table = groups()
    allowed = expand(filters[0].split(), table)
    for f in filters[1:]:
        if f.startswith("~"):
            allowed -= expand(f[1:].split(), table)
        else:
            allowed |= expand(f.split(), table)

    used, used_families, wx = {}, set(), []
    call = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z_][a-z0-9_]*)[( ]")
    for line in open(trace, errors="replace"):
        m = call.match(line)
        if not m:
            continue
        used[m.group(1)] = used.get(m.group(1), 0) + 1
        f = re.match(r"^\d+\s+socket\((AF_[A-Z0-9]+)", line)
        if f:
            used_families.add(f.group(1))
        # MemoryDenyWriteExecute: no mapping both writable and executable, none made
        # executable later.
        name = m.group(1)
        if (name in ("mprotect", "pkey_mprotect") and "PROT_EXEC" in line) or \
           (name in ("mmap", "mmap2") and "PROT_EXEC" in line and "PROT_WRITE" in line):
            wx.append(line.strip())

    refused = sorted(c for c in used if c not in allowed)
    print(f"system calls used: {len(used)} ({' '.join(sorted(used))})")
    print(f"allowed by the unit's SystemCallFilter: {len(allowed)}")
    print(f"refused by it: {' '.join(refused) or 'none'}")
    bad_families = sorted(used_families - set(families or [])) if families is not None else []
    print(f"address families used: {' '.join(sorted(used_families)) or 'none'}; "
          f"RestrictAddressFamilies: {' '.join(families or ['(not set)'])}; refused: {' '.join(bad_families) or 'none'}")
    if mdwe:
        print(f"MemoryDenyWriteExecute: {len(wx)} writable+executable or made-executable mappings"
              + "".join(f"\n  {w}" for w in wx[:5]))
    else:
        wx = []
    if not used:
        print("no system calls in the trace: nothing was checked")
        return 1
    return 1 if refused or bad_families or wx else 0


if __name__ == "__main__":
    sys.exit(main())
