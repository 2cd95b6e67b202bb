#!/usr/bin/env python3
"""Look inside a tshark capture (pcap/pcapng) of loopback TCP traffic.

  pcapcheck.py grep PCAP NEEDLE [--port P]
      Does the byte string NEEDLE occur in the TCP payload? Searched three ways:
      each segment alone, each direction of each TCP stream reassembled in
      sequence order (so a name split across segments is still found), and the
      capture file's raw bytes. Only segments to or from port P if given.
      Prints payload_bytes=, segments=, found= (where). Exit 0: found,
      1: not found, 2: error or no payload at all (an empty capture proves nothing).

  pcapcheck.py hellos PCAP --port P
      One line per TLS ClientHello sent to port P, in capture order:
      "stream=N sni=NAME|- ext0=yes|no" (ext0: a server_name extension is present,
      even an empty one). Exit 2 when there is none.

Needs tshark (reads the file only; captures nothing).
"""
import subprocess
import sys


def tshark_fields(pcap, display_filter, fields):
    cmd = ["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields", "-E", "separator=\t",
           "-o", "tcp.desegment_tcp_streams:FALSE"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"error=tshark exited {r.returncode}: {r.stderr.strip()[:300]}")
        sys.exit(2)
    return [line.split("\t") for line in r.stdout.splitlines() if line.strip()]


def cmd_grep(argv):
    pcap, needle = argv[0], argv[1].encode()
    port = None
    if "--port" in argv:
        port = int(argv[argv.index("--port") + 1])
    flt = "tcp.len > 0"
    if port is not None:
        flt += f" && tcp.port == {port}"
    rows = tshark_fields(pcap, flt, ["tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.payload"])
    streams = {}
    where = []
    total = 0
    for stream, sport, dport, seq, payload in (r + [""] * (5 - len(r)) for r in rows):
        data = bytes.fromhex(payload.replace(":", ""))
        total += len(data)
        if needle in data:
            where.append(f"segment(stream {stream} {sport}->{dport})")
        segs = streams.setdefault((stream, sport, dport), {})
        segs.setdefault(int(seq or 0), data)   # retransmissions: first copy wins
    for (stream, sport, dport), segs in streams.items():
        buf = bytearray()
        base = min(segs)
        for seq in sorted(segs):
            off = (seq - base) % (1 << 32)
            if off >= len(buf):
                buf += b"\0" * (off - len(buf)) + segs[seq]
            else:
                tail = segs[seq][len(buf) - off:]
                buf += tail
        if needle in buf:
            where.append(f"stream {stream} {sport}->{dport}")
    with open(pcap, "rb") as f:
        if needle in f.read():
            where.append("raw file bytes")
    print(f"payload_bytes={total}")
    print(f"segments={len(rows)}")
    print(f"found={'; '.join(dict.fromkeys(where)) if where else 'no'}")
    if total == 0:
        print("error=no TCP payload in the capture")
        return 2
    return 0 if where else 1


def cmd_hellos(argv):
    pcap = argv[0]
    port = int(argv[argv.index("--port") + 1])
    rows = tshark_fields(pcap, f"tcp.dstport == {port} && tls.handshake.type == 1",
                         ["tcp.stream", "tls.handshake.extensions_server_name", "tls.handshake.extension.type"])
    for r in rows:
        r = r + [""] * (3 - len(r))
        types = [t for t in r[2].split(",") if t]
        print(f"stream={r[0]} sni={r[1] or '-'} ext0={'yes' if '0' in types else 'no'}")
    return 0 if rows else 2


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("grep", "hellos"):
        print(__doc__)
        return 2
    return {"grep": cmd_grep, "hellos": cmd_hellos}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
