#!/usr/bin/env python3
"""Check that a ClientHello reached the origin as two TLS records in two TCP segments,
split inside the server_name, so no single segment carries the whole name.

  splitcheck.py FIELDS HOSTNAME
FIELDS is the output of
  tshark -r CAP -Y "tcp.dstport==PORT && tcp.len>0" -T fields \
         -e frame.number -e tcp.stream -e tcp.len -e tcp.payload
(segments towards the origin, in capture order). Only the first TCP stream is used.
Exit 0 when split as required; prints what it saw either way.
"""
import sys


def records(buf):
    """Split bytes into complete TLS records [(type, version, body)], plus leftover."""
    out = []
    while len(buf) >= 5:
        n = int.from_bytes(buf[3:5], "big")
        if len(buf) < 5 + n:
            break
        out.append((buf[0], buf[1:3].hex(), buf[5:5 + n]))
        buf = buf[5 + n:]
    return out, buf


def main():
    fields, host = sys.argv[1], sys.argv[2].encode()
    segs = []
    stream0 = None
    for line in open(fields):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 4 or not parts[3]:
            continue
        frame, stream, tcplen, payload = parts[:4]
        if stream0 is None:
            stream0 = stream
        if stream != stream0:
            continue
        segs.append((int(frame), int(tcplen), bytes.fromhex(payload.replace(":", ""))))
    if len(segs) < 2:
        print(f"only {len(segs)} data segment(s) towards the origin")
        return 1
    problems = []
    hs = b""
    for i, (frame, tcplen, data) in enumerate(segs[:2]):
        recs, rest = records(data)
        desc = ", ".join(f"type={t} ver={v} len={len(b)}" for t, v, b in recs)
        print(f"segment {i + 1}: frame {frame}, tcp.len={tcplen}, records: [{desc}]"
              f"{f', {len(rest)} stray bytes' if rest else ''}, has full name: {host in data}")
        if len(recs) != 1 or rest:
            problems.append(f"segment {i + 1} is not exactly one complete TLS record")
        if any(t != 22 for t, _, _ in recs):
            problems.append(f"segment {i + 1} has a non-handshake record")
        if host in data:
            problems.append(f"segment {i + 1} carries the whole name {host.decode()}")
        hs += b"".join(b for t, _, b in recs if t == 22)
    if not hs or hs[0] != 1:
        problems.append("first record does not start a ClientHello")
    elif len(hs) >= 4:
        want = 4 + int.from_bytes(hs[1:4], "big")
        print(f"ClientHello: {want} bytes in handshake layer, {len(hs)} carried by the first two records")
        if len(hs) != want:
            problems.append("the two records do not carry exactly one ClientHello")
        if host not in hs:
            problems.append("the reassembled ClientHello does not contain the name")
        first_body = len(segs[0][2]) - 5
        name_at = hs.find(host)
        if name_at >= 0 and not (name_at < first_body < name_at + len(host)):
            problems.append(f"split at handshake byte {first_body} is not inside the name "
                            f"(bytes {name_at}..{name_at + len(host)})")
    for p in problems:
        print("problem: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
