#!/usr/bin/env python3
"""Query veil's log lines, text or JSON, the same way.

  logcheck.py find LOG [--since N] [--event record|summary] [--wait S] [--count] KEY=REGEX...
      Exit 0 when at least one line (after the first N lines) of the given event
      has every KEY whose value fully matches REGEX. Prints the matches (or, on
      failure, the lines of that event that were seen).
      In JSON lines a list value (msgs) is joined with "; ".
  logcheck.py validate-json LOG
      Every line that looks like JSON parses; summary/record events have the
      documented keys and types; no text-format summary/record lines slipped in.
"""
import json
import re
import shlex
import sys
import time


def parse_line(line):
    """Return (event, {key: str}) or (None, None)."""
    line = line.strip()
    if not line:
        return None, None
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return None, None
        if not isinstance(obj, dict):
            return None, None
        kv = {}
        for k, v in obj.items():
            if isinstance(v, list):
                kv[k] = "; ".join(str(x) for x in v)
            elif isinstance(v, bool):
                kv[k] = "true" if v else "false"
            elif v is None:
                kv[k] = "-"
            else:
                kv[k] = str(v)
        return obj.get("event"), kv
    m = re.search(r"(?:^|\s)(summary|record) (conn=.*)$", line)
    if not m:
        return None, None
    try:
        toks = shlex.split(m.group(2))
    except ValueError:
        return m.group(1), {"_unparsable": line}
    kv = {}
    for t in toks:
        if "=" in t:
            k, v = t.split("=", 1)
            kv[k] = v
    return m.group(1), kv


def cmd_find(argv):
    log, since, event, wait, want = None, 0, None, 0.0, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--since":
            since = int(argv[i + 1]); i += 2; continue
        if a == "--event":
            event = argv[i + 1]; i += 2; continue
        if a == "--wait":
            wait = float(argv[i + 1]); i += 2; continue
        if log is None:
            log = a
        else:
            k, v = a.split("=", 1)
            want.append((k, re.compile(v)))
        i += 1
    deadline = time.monotonic() + wait
    while True:
        with open(log, errors="replace") as f:
            lines = f.read().splitlines()[since:]
        seen, hits = [], []
        for line in lines:
            ev, kv = parse_line(line)
            if ev is None or (event and ev != event):
                continue
            seen.append(line)
            if all(k in kv and rx.fullmatch(kv[k]) for k, rx in want):
                hits.append(line)
        if hits or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if hits:
        for h in hits[:3]:
            print(h[:300])
        return 0
    print(f"no {event or 'log'} line with " + " ".join(f"{k}=/{rx.pattern}/" for k, rx in want))
    print(f"{len(seen)} {event or 'event'} lines seen" + (":" if seen else ""))
    for s in seen[-6:]:
        print("  " + s[:300])
    return 1


SUMMARY_KEYS = {"conn": int, "client": str, "target": str, "sni": str, "mode": str, "tls": str,
                "cipher": str, "alpn": str, "path": str, "bytes_up": int, "bytes_down": int,
                "duration": (int, float), "close": str, "reason": str}
RECORD_KEYS = {"conn": int, "t": (int, float), "dir": str, "type": str, "len": int}


def cmd_validate_json(argv):
    log = argv[0]
    errors, counts = [], {}
    with open(log, errors="replace") as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if re.search(r"(^|\s)(summary|record) conn=", s) and not s.startswith("{"):
                errors.append(f"line {n}: text-format line in JSON mode: {s[:120]}")
                continue
            if not s.startswith("{"):
                continue
            try:
                obj = json.loads(s)
            except ValueError as e:
                errors.append(f"line {n}: not JSON ({e}): {s[:120]}")
                continue
            ev = obj.get("event")
            counts[ev] = counts.get(ev, 0) + 1
            keys = SUMMARY_KEYS if ev == "summary" else RECORD_KEYS if ev == "record" else {}
            for k, typ in keys.items():
                if k not in obj:
                    # absent values may be null or "-"; a missing key is an error
                    errors.append(f"line {n}: {ev} without key {k}")
                elif obj[k] is not None and not isinstance(obj[k], typ) or isinstance(obj[k], bool):
                    errors.append(f"line {n}: {ev} key {k} has type {type(obj[k]).__name__}")
            if ev == "record":
                opaque = obj.get("opaque") in (True, "true")
                if "msgs" in obj and not isinstance(obj["msgs"], list):
                    errors.append(f"line {n}: record msgs is not a list")
                if obj.get("type") == "handshake" and not opaque and not isinstance(obj.get("msgs"), list):
                    errors.append(f"line {n}: clear handshake record without a msgs list")
    print("events: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items(), key=str)))
    if not counts.get("summary"):
        errors.append("no summary event")
    for e in errors[:10]:
        print(e)
    return 1 if errors else 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "find":
        return cmd_find(argv)
    if cmd == "validate-json":
        return cmd_validate_json(argv)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
