#!/usr/bin/env python3
"""Seeded fuzzing of ClientHellos, and of the CONNECT requests around them, against Veil.

Every case is a pure function of (seed, case number): the same pair always sends the same
bytes in the same writes, from the same loopback address (127.16.0.0/12, one per case), and
ends the same way, so a failing case can be run again alone
(--only N) or printed (--dump N). Cases run in batches, CONCURRENCY at a time; after every
batch the tool checks that the process (--pid) is still alive, that every connection it
opened got exactly one summary line in the log (--log; matched by the client address in
`client=`), and that a normal client is still served (--check, a shell command).

Kinds of target (--kind):
  plain   TCP to Veil's proxy port: CONNECT head, then a (mutated) ClientHello for the target,
          in the same write as the head (pipelined) or after the answer
  front   the same inside TLS to an HTTPS proxy listener (veil run --listen-tls) or a relay
          (veil relay; --secret adds Proxy-Authorization, RESOLVE requests are mixed in)
  outer   the mutated ClientHello is the listener's own: raw TCP to a TLS listener

Seed corpus: ClientHellos from Python's ssl (TLS 1.2 and 1.3, with and without SNI and ALPN)
and hand-built ones (TLS 1.2 and 1.3 shapes, GREASE, key_share, PSK, padding, ECH, odd
extension orders). Mutations: bit flips, byte overwrites, truncation, insertion, deletion,
length fields +-1 / 0 / max / random, duplicated extensions, handshake and record type changes,
record versions, zero-length records, fragmentation into many records, interleaved foreign
records, oversized records, trailing garbage, SSLv2 and plain-text hellos. Delivery: pipelined
or not, one write or many, then a read and close, a half-close, a reset (also mid-way), a close
without reading, or follow-up records (CCS, application data, alerts, a second hello).

Exit status: 0 all good; 20 the process died; 21 summary lines missing or doubled; 22 the
--check command failed (anything else: the tool itself failed). Only loopback addresses are used.
"""
import argparse
import collections
import concurrent.futures
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

LOOPBACK = "127.0.0.1"
GREASE = [0x0A0A + 0x1010 * i for i in range(16)]
EXT_NAMES = {0: "server_name", 5: "status_request", 10: "supported_groups", 11: "ec_point_formats",
             13: "signature_algorithms", 16: "alpn", 21: "padding", 23: "extended_master_secret",
             27: "compress_certificate", 28: "record_size_limit", 35: "session_ticket",
             41: "pre_shared_key", 42: "early_data", 43: "supported_versions",
             45: "psk_key_exchange_modes", 51: "key_share", 0xFE0D: "ech", 0xFF01: "renegotiation_info"}
SUITES13 = [0x1301, 0x1302, 0x1303]
SUITES12 = [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0xC009, 0xC00A,
            0x009C, 0x009D, 0x002F, 0x0035, 0x000A]
SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201]


# ------------------------------------------------------------------ building hellos

def u8(n):
    return bytes([n & 0xFF])


def u16(n):
    return struct.pack(">H", n & 0xFFFF)


def u24(n):
    return struct.pack(">I", n & 0xFFFFFF)[1:]


def vec8(b):
    return u8(len(b)) + b


def vec16(b):
    return u16(len(b)) + b


def ext(t, body):
    return u16(t) + vec16(body)


def handshake(msg_type, body):
    return u8(msg_type) + u24(len(body)) + body


def record(ctype, body, version=0x0301):
    return u8(ctype) + u16(version) + u16(len(body)) + body


def sni_ext(name):
    n = name if isinstance(name, bytes) else name.encode("latin-1")
    return ext(0, vec16(u8(0) + vec16(n)))


def alpn_ext(protos):
    return ext(16, vec16(b"".join(vec8(p) for p in protos)))


def built_hello(rng, sni, shape):
    """A hand-built ClientHello handshake message: shape tls13 (1.3 and 1.2 offered), tls12
    (no supported_versions, no key_share) or tls13only; GREASE and extension order vary."""
    grease = rng.random() < 0.6
    g = lambda: rng.choice(GREASE)  # noqa: E731
    suites = []
    if grease:
        suites.append(g())
    if shape != "tls12":
        suites += SUITES13
    if shape != "tls13only":
        suites += rng.sample(SUITES12, rng.randint(3, len(SUITES12)))
    exts = []
    if grease:
        exts.append(ext(g(), b"" if rng.random() < 0.5 else b"\x00"))
    if sni is not None:
        exts.append(sni_ext(sni))
    exts.append(ext(23, b""))
    exts.append(ext(0xFF01, b"\x00"))
    groups = ([g()] if grease else []) + [29, 23, 24]
    exts.append(ext(10, vec16(b"".join(u16(x) for x in groups))))
    exts.append(ext(11, vec8(b"\x00")))
    exts.append(ext(35, b"" if rng.random() < 0.8 else rng.randbytes(rng.randint(1, 200))))
    if rng.random() < 0.8:
        exts.append(alpn_ext(rng.choice([[b"h2", b"http/1.1"], [b"http/1.1"], [b"h2"], [b"h3", b"x" * 40]])))
    if rng.random() < 0.5:
        exts.append(ext(5, b"\x01\x00\x00\x00\x00"))
    exts.append(ext(13, vec16(b"".join(u16(x) for x in SIGALGS))))
    if shape != "tls12":
        shares = b""
        if grease:
            shares += u16(g()) + vec16(b"\x00")
        shares += u16(29) + vec16(rng.randbytes(32))
        if rng.random() < 0.3:
            shares += u16(23) + vec16(b"\x04" + rng.randbytes(64))
        exts.append(ext(51, vec16(shares)))
        exts.append(ext(45, vec8(b"\x01")))
        versions = ([g()] if grease else []) + [0x0304] + ([0x0303] if shape == "tls13" else [])
        exts.append(ext(43, vec8(b"".join(u16(v) for v in versions))))
    if rng.random() < 0.3:
        exts.append(ext(27, vec8(u16(2))))
    if rng.random() < 0.2:
        exts.append(ext(28, u16(0x4001)))
    if rng.random() < 0.2:
        exts.append(ext(0xFE0D, b"\x00\x00\x01\x00\x01" + u8(rng.randrange(256)) + vec16(rng.randbytes(32))
                        + vec16(rng.randbytes(rng.choice([144, 176, 208])))))
    if grease:
        exts.append(ext(g(), b"" if rng.random() < 0.5 else b"\x00"))
    if rng.random() < 0.5:
        rng.shuffle(exts)  # as Chrome does
    if rng.random() < 0.15:
        exts.append(ext(21, bytes(rng.choice([1, 200, 512, rng.randint(16400, 20000)]))))
    if shape != "tls12" and rng.random() < 0.2:
        exts.append(ext(42, b""))
        ident = vec16(rng.randbytes(rng.randint(1, 120))) + rng.randbytes(4)
        exts.append(ext(41, vec16(ident) + vec16(vec8(rng.randbytes(32)))))  # must be last
    body = u16(0x0303) + rng.randbytes(32)
    body += vec8(rng.randbytes(32) if rng.random() < 0.7 else b"")
    body += vec16(b"".join(u16(s) for s in suites))
    body += vec8(b"\x00")
    body += vec16(b"".join(exts))
    return handshake(1, body)


_PY_CTX = {}
_PY_LOCK = threading.Lock()


def python_hello(variant, sni):
    """A ClientHello from Python's ssl module (OpenSSL), as a handshake message."""
    with _PY_LOCK:
        ctx = _PY_CTX.get(variant)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if variant in ("tls12", "tls12-alpn"):
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            if variant.endswith("alpn"):
                ctx.set_alpn_protocols(["h2", "http/1.1"])
            _PY_CTX[variant] = ctx
    out = ssl.MemoryBIO()
    try:
        obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname=sni or None)
    except (ValueError, UnicodeError, TypeError):
        obj = ctx.wrap_bio(ssl.MemoryBIO(), out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    rec = out.read()
    return rec[5:5 + struct.unpack(">H", rec[3:5])[0]]


def derandomize(msg, rng):
    """Replace what OpenSSL chose at random (client random, session ID, key shares) with bytes
    from the case's generator, so that a case is the same bytes on every run."""
    m = bytearray(msg)
    try:
        m[6:38] = rng.randbytes(32)
        n = m[38]
        m[39:39 + n] = rng.randbytes(n)
        for off, w, name in length_fields(msg):
            if name == "key_share.entry.len":
                k = int.from_bytes(m[off:off + 2], "big")
                m[off + 2:off + 2 + k] = rng.randbytes(k)
    except IndexError:
        pass
    return bytes(m)


def length_fields(msg):
    """(offset, width, name) of the length fields of a well-formed ClientHello message."""
    f = [(1, 3, "handshake.len")]
    try:
        p = 4 + 2 + 32
        f.append((p, 1, "session_id.len"))
        p += 1 + msg[p]
        f.append((p, 2, "cipher_suites.len"))
        p += 2 + struct.unpack(">H", msg[p:p + 2])[0]
        f.append((p, 1, "compression.len"))
        p += 1 + msg[p]
        if p + 2 > len(msg):
            return f
        f.append((p, 2, "extensions.len"))
        end = p + 2 + struct.unpack(">H", msg[p:p + 2])[0]
        p += 2
        while p + 4 <= min(end, len(msg)):
            t, n = struct.unpack(">HH", msg[p:p + 4])
            name = EXT_NAMES.get(t, f"0x{t:04x}")
            f.append((p + 2, 2, f"ext[{name}].len"))
            b = p + 4
            if t == 0 and n >= 5:
                f += [(b, 2, "sni.list.len"), (b + 3, 2, "sni.name.len")]
            elif t in (10, 13, 51) and n >= 2:
                f.append((b, 2, f"{name}.list.len"))
                if t == 51:
                    q = b + 2
                    while q + 4 <= b + n:
                        f.append((q + 2, 2, "key_share.entry.len"))
                        q += 4 + struct.unpack(">H", msg[q + 2:q + 4])[0]
            elif t == 16 and n >= 3:
                f.append((b, 2, "alpn.list.len"))
                f.append((b + 2, 1, "alpn.entry.len"))
            elif t in (43, 45) and n >= 1:
                f.append((b, 1, f"{name}.list.len"))
            elif t == 41 and n >= 2:
                f.append((b, 2, "psk.identities.len"))
            p = b + n
    except (IndexError, struct.error):
        pass
    return f


# ------------------------------------------------------------------ mutating

def pick_sni(rng, host):
    r = rng.random()
    if r < 0.72:
        return host
    return rng.choice([None, "", "other.test", host.upper(), host + ".", "a" * 300, "x." * 120 + "test",
                       host + "\x00evil", "127.0.0.1", "\xff\xfe", host + "\n"])


def seed_hello(rng, sni):
    kind = rng.choice(["built-tls13", "built-tls13", "built-tls12", "built-tls13only",
                       "python-default", "python-alpn", "python-tls12", "python-tls12-alpn"])
    if kind.startswith("built"):
        return kind, built_hello(rng, sni, kind[6:])
    return kind, derandomize(python_hello(kind[7:], sni if isinstance(sni, str) and sni.isascii() else None), rng)


def mutate_message(rng, msg, desc):
    """Structure-aware mutations first (length fields), then byte-level ones."""
    msg = bytearray(msg)
    fields = length_fields(bytes(msg))
    n = rng.choices([0, 1, 2, 3, 4], weights=[35, 40, 12, 8, 5])[0]  # a third go in whole
    ops = sorted((rng.choice(["len", "len", "len", "flip", "set", "trunc", "insert", "delete", "repeat",
                              "hstype", "dupext", "append"]) for _ in range(n)),
                 key=lambda o: o not in ("len", "dupext"))
    for op in ops:
        if op == "len" and fields:
            off, w, name = rng.choice(fields)
            if off + w > len(msg):
                continue
            cur = int.from_bytes(msg[off:off + w], "big")
            mx = (1 << (8 * w)) - 1
            how = rng.choice(["+1", "-1", "0", "max", "rand", "+big"])
            val = {"+1": cur + 1, "-1": cur - 1, "0": 0, "max": mx, "rand": rng.randint(0, mx),
                   "+big": cur + rng.randint(2, 4000)}[how] & mx
            msg[off:off + w] = val.to_bytes(w, "big")
            desc.append(f"len({name}{how})")
        elif op == "dupext":
            exts = [f for f in fields if f[2].startswith("ext[")]
            if exts:
                off, _, name = rng.choice(exts)
                n2 = int.from_bytes(msg[off:off + 2], "big")
                whole = bytes(msg[off - 2:off + 2 + n2])
                ins = off - 2
                msg[ins:ins] = whole * rng.choice([1, 1, 2, 50])
                desc.append(f"dup({name})")
        elif op == "flip" and msg:
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(msg))
                msg[i] ^= 1 << rng.randrange(8)
            desc.append("bitflip")
        elif op == "set" and msg:
            for _ in range(rng.randint(1, 4)):
                msg[rng.randrange(len(msg))] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
            desc.append("byteset")
        elif op == "trunc" and msg:
            cut = rng.randrange(len(msg))
            del msg[cut:]
            desc.append(f"trunc({cut})")
        elif op == "insert":
            i = rng.randrange(len(msg) + 1)
            msg[i:i] = rng.randbytes(rng.randint(1, 64))
            desc.append("insert")
        elif op == "delete" and len(msg) > 2:
            i = rng.randrange(len(msg) - 1)
            del msg[i:i + rng.randint(1, min(64, len(msg) - i))]
            desc.append("delete")
        elif op == "repeat" and len(msg) > 2:
            i = rng.randrange(len(msg) - 1)
            j = min(len(msg), i + rng.randint(1, 80))
            msg[j:j] = msg[i:j] * rng.randint(1, 4)
            desc.append("repeat")
        elif op == "hstype" and msg:
            msg[0] = rng.choice([0, 2, 4, 8, 11, 15, 20, 24, 254, 255])
            desc.append(f"hstype({msg[0]})")
        elif op == "append":
            msg += rng.choice([bytes(msg), handshake(rng.randrange(256), rng.randbytes(rng.randint(0, 40)))])
            desc.append("append-msg")
    return bytes(msg)


def to_records(rng, msg, desc):
    """Frame a handshake message as TLS records, maybe badly."""
    r = rng.random()
    if r < 0.06:
        choice = rng.choice(["random", "hello", "text", "sslv2", "tiny", "zeros"])
        desc.append(f"replace({choice})")
        return {"random": lambda: rng.randbytes(rng.randint(1, 700)),
                "hello": lambda: b"hello",
                "text": lambda: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                "sslv2": lambda: b"\x80" + u8(9 + 3 + 16) + b"\x01\x03\x01" + u16(3) + u16(0) + u16(16)
                + b"\x00\x00\x2f" + rng.randbytes(16),
                "tiny": lambda: rng.randbytes(rng.randint(1, 4)),
                "zeros": lambda: bytes(rng.randint(5, 300))}[choice]()
    pieces = [msg]
    how = rng.choice(["one"] * 6 + ["halves", "small", "bytes", "random"])
    if how != "one" and len(msg) > 1:
        if how == "halves":
            cut = rng.randint(1, len(msg) - 1)
            pieces = [msg[:cut], msg[cut:]]
        else:
            size = {"small": lambda: rng.randint(1, 64), "bytes": lambda: 1,
                    "random": lambda: rng.randint(1, max(1, len(msg) // 2))}[how]
            pieces, p = [], 0
            while p < len(msg):
                s = size()
                pieces.append(msg[p:p + s])
                p += s
        desc.append(f"frag({how},{len(pieces)})")
    recs = [[22, 0x0301 if i == 0 else 0x0303, p] for i, p in enumerate(pieces)]
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        op = rng.choice(["zero", "foreign", "type", "version", "len", "oversize"])
        i = rng.randrange(len(recs))
        if op == "zero":
            recs.insert(i + rng.randint(0, 1), [rng.choice([22, 22, 23, 21]), 0x0301, b""])
            desc.append("zero-length-record")
        elif op == "foreign":
            t = rng.choice([20, 21, 23, 24, 99])
            body = {20: b"\x01", 21: bytes([rng.choice([1, 2]), rng.randrange(256)])}.get(t, rng.randbytes(rng.randint(1, 40)))
            recs.insert(i + 1, [t, 0x0303, body])
            desc.append(f"foreign-record({t})")
        elif op == "type":
            recs[i][0] = rng.choice([0, 20, 21, 23, 24, 25, 99, 255])
            desc.append(f"record-type({recs[i][0]})")
        elif op == "version":
            recs[i][1] = rng.choice([0x0000, 0x0002, 0x0300, 0x0304, 0x7F17, 0xFFFF])
            desc.append(f"record-version({recs[i][1]:04x})")
        elif op == "len":
            recs[i].append(rng.choice([0, 1, 0xFFFF, 16385, 16640, 16641, 18432, len(recs[i][2]) + 1,
                                       max(0, len(recs[i][2]) - 1), rng.randrange(65536)]))
            desc.append(f"record-len({recs[i][3]})")
        elif op == "oversize":
            recs[i][2] = recs[i][2] + bytes(rng.choice([max(1, 16385 - len(recs[i][2])), 17000, 18500]))
            desc.append("oversize-record")
    out = b"".join(u8(t) + u16(v) + u16(rest[0] if rest else len(b)) + b for t, v, b, *rest in recs)
    if rng.random() < 0.05:
        out += rng.randbytes(rng.randint(1, 100))
        desc.append("trailing-garbage")
    return out


def follow_up(rng, sni, desc):
    what = rng.choice(["ccs+appdata", "appdata", "alert", "second-hello", "garbage", "many-appdata"])
    desc.append(f"follow({what})")
    if what == "ccs+appdata":
        return record(20, b"\x01", 0x0303) + record(23, rng.randbytes(rng.randint(1, 300)), 0x0303)
    if what == "appdata":
        return record(23, rng.randbytes(rng.randint(17, 2000)), 0x0303)
    if what == "alert":
        return record(21, bytes([rng.choice([1, 2]), rng.choice([0, 10, 40, 48, 80, 90])]), 0x0303)
    if what == "second-hello":
        return record(22, built_hello(rng, sni, "tls13"))
    if what == "many-appdata":
        return b"".join(record(23, rng.randbytes(rng.randint(1, 100)), 0x0303) for _ in range(rng.randint(2, 40)))
    return rng.randbytes(rng.randint(1, 500))


# ------------------------------------------------------------------ one case

class Case:
    def __init__(self, args, seed, number):
        rng = random.Random(f"{seed}/{number}")
        self.number = number
        self.kind = args.kind
        self.desc = []
        target = rng.choice(args.targets)
        host = target.rsplit(":", 1)[0]
        self.target = target
        sni = args.outer_sni if self.kind == "outer" else pick_sni(rng, host)
        if self.kind == "outer" and rng.random() < 0.3:
            sni = pick_sni(rng, "localhost")
        shape, msg = seed_hello(rng, sni)
        self.desc.append(f"seed={shape} sni={sni!r}")
        msg = mutate_message(rng, msg, self.desc)
        self.hello = to_records(rng, msg, self.desc)
        self.head = b"" if self.kind == "outer" else self.make_head(rng, args, target)
        self.pipelined = self.kind != "outer" and rng.random() < 0.5
        self.chunks = rng.choice(["one"] * 5 + ["many"])
        self.chunk_seed = rng.randrange(1 << 30)
        self.end = rng.choice(["read-close", "read-close", "shut-wr", "rst", "rst-mid", "close-now", "fin-mid",
                               "follow", "follow"] + (["tls-close"] if self.kind == "front" else []))
        self.cut = rng.randint(0, max(0, len(self.hello) - 1))
        self.follow = follow_up(rng, host, self.desc) if self.end == "follow" else b""
        # Some cases finish the handshake for real (the client's own TLS; Veil's or the origin's
        # certificate, not verified) and then misbehave on the data path instead.
        self.post = None
        if self.kind != "outer" and rng.random() < 0.15:
            self.post = rng.choice(["clean", "flip", "truncate-fin", "truncate-rst", "garbage-record", "plain-alert",
                                    "huge-len", "zero-len", "ccs", "rst"])
            self.post_seed = rng.randrange(1 << 30)
            self.sni = host
            self.desc[:] = [f"complete-handshake sni={host!r} then={self.post}"] + [d for d in self.desc if d.startswith("head(")]

    def make_head(self, rng, args, target):
        method = "CONNECT"
        auth = f"Proxy-Authorization: Bearer {args.secret}\r\n" if args.secret else ""
        if args.secret:
            r = rng.random()
            if r < 0.08:
                method = "RESOLVE"
            elif r < 0.11:
                auth = "Proxy-Authorization: Bearer wrong-secret\r\n"
                self.desc.append("wrong-secret")
            elif r < 0.13:
                auth = ""
                self.desc.append("no-secret")
        head = f"{method} {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n".encode()
        if method != "CONNECT":
            self.desc.append(method)
        if rng.random() < 0.1:
            head = bytearray(head)
            op = rng.choice(["flip", "trunc", "lf", "dup", "long", "lower"])
            if op == "flip":
                for _ in range(rng.randint(1, 3)):
                    head[rng.randrange(len(head))] ^= 1 << rng.randrange(8)
            elif op == "trunc":
                del head[rng.randrange(len(head)):]
            elif op == "lf":
                head = bytearray(bytes(head).replace(b"\r\n", b"\n"))
            elif op == "dup":
                head[-2:-2] = f"Host: {target}\r\n".encode() * rng.randint(1, 30)
            elif op == "long":
                head[-2:-2] = b"X-Long: " + b"a" * rng.randint(100, 9000) + b"\r\n"
            elif op == "lower":
                head = bytearray(bytes(head).replace(b"CONNECT", b"connect"))
            self.desc.append(f"head({op})")
        return bytes(head)

    def describe(self):
        return (f"case={self.number} kind={self.kind} target={self.target} pipelined={'yes' if self.pipelined else 'no'} "
                f"writes={self.chunks} end={self.end} bytes={len(self.hello)} " + " ".join(self.desc))


def source_ip(number):
    """Every case connects from its own loopback address (127.16.0.1 and up), so its summary
    line is found by `client=` even when the kernel hands out a port again."""
    hi, lo = divmod(number, 250)
    return f"127.{16 + (hi >> 8) % 224}.{hi & 255}.{lo + 1}"


def read_some(s, idle, total):
    """Read until EOF, reset, `idle` seconds without data or `total` seconds. (bytes, how)"""
    data = b""
    deadline = time.monotonic() + total
    while True:
        left = min(idle, deadline - time.monotonic())
        if left <= 0:
            return data, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return data, "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return data, "reset"
        except ssl.SSLError as e:
            return data, f"tls-error:{e.reason}"
        except OSError as e:
            return data, f"error:{e.errno}"
        if not chunk:
            return data, "eof"
        data += chunk
        if b"\r\n\r\n" in data and len(data) > 4096:
            return data, "enough"


def read_head(s, total):
    """Read up to the end of an HTTP response head. (bytes, how)"""
    data = b""
    deadline = time.monotonic() + total
    while b"\r\n\r\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            return data, "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return data, "reset"
        except ssl.SSLError as e:
            return data, f"tls-error:{e.reason}"
        except OSError as e:
            return data, f"error:{e.errno}"
        if not chunk:
            return data, "eof"
        data += chunk
    return data, "head"


def reset_close(raw):
    try:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    raw.close()


def send_chunked(s, data, case):
    if case.chunks == "one" or len(data) < 2:
        s.sendall(data)
        return
    rng = random.Random(case.chunk_seed)
    p = 0
    while p < len(data):
        n = rng.randint(1, max(1, len(data) // 3))
        s.sendall(data[p:p + n])
        p += n
        time.sleep(rng.choice([0, 0, 0.002, 0.01]))


class Runner:
    def __init__(self, args):
        self.args = args
        self.inner_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # for cases that finish the handshake
        self.inner_ctx.check_hostname = False
        self.inner_ctx.verify_mode = ssl.CERT_NONE
        self.inner_ctx.options |= ssl.OP_NO_TICKET
        self.front_ctx = None
        if args.kind == "front":
            if args.cafile:
                self.front_ctx = ssl.create_default_context(cafile=args.cafile)
                self.front_ctx.check_hostname = False
            else:  # the relay: self-signed, pinned by fingerprint in Veil; not checked here
                self.front_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                self.front_ctx.check_hostname = False
                self.front_ctx.verify_mode = ssl.CERT_NONE

    def run(self, case):
        """Returns (client address or None, outcome)."""
        a = self.args
        try:
            raw = socket.create_connection((LOOPBACK, a.port), timeout=5, source_address=(source_ip(case.number), 0))
        except OSError as e:
            return None, f"connect-failed:{e.errno}"
        addr = "%s:%d" % raw.getsockname()
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = raw
        try:
            if a.kind == "front":
                try:
                    s = self.front_ctx.wrap_socket(raw, server_hostname=a.front_name)
                except (ssl.SSLError, OSError) as e:
                    raw.close()
                    return addr, f"front-handshake-failed:{type(e).__name__}"
            return addr, self.exchange(case, s, raw)
        except (BrokenPipeError, ConnectionResetError):
            reset_close(raw)
            return addr, "reset-while-sending"
        except ssl.SSLError as e:
            reset_close(raw)
            return addr, f"tls-error:{e.reason}"
        except OSError as e:
            reset_close(raw)
            return addr, f"error:{e.errno}"

    def exchange(self, case, s, raw):
        status = "-"
        payload = case.hello
        if case.head:
            if case.post and case.pipelined:
                return self.complete(case, s, raw, case.head)
            if case.pipelined:
                payload = case.head + case.hello
            else:
                send_chunked(s, case.head, case)
                got, how = read_head(s, 4.0)
                status = got[9:12].decode("latin-1", "replace") if got.startswith(b"HTTP/1.") else "none"
                if status != "200" or how in ("eof", "reset"):
                    s.close()
                    return f"status={status} answer-then={how}"
        if case.post:
            return self.complete(case, s, raw, b"", status)
        if case.end in ("rst-mid", "fin-mid"):
            cut = (len(payload) - len(case.hello)) + case.cut
            send_chunked(s, payload[:cut], case)
            if case.end == "rst-mid":
                reset_close(raw)
            else:
                s.close()
            return f"status={status} {case.end}"
        send_chunked(s, payload, case)
        if case.end == "rst":
            reset_close(raw)
            return f"status={status} rst"
        if case.end == "close-now":
            s.close()
            return f"status={status} close-now"
        if case.end == "shut-wr":
            raw.shutdown(socket.SHUT_WR)  # also inside TLS: an end without close_notify
            got, how = read_some(s, 1.0, 2.0)
            s.close()
            return f"status={status} got={len(got)} then={how}"
        got, how = read_some(s, 0.3, 1.5)
        if case.end == "follow" and how == "timeout":
            s.sendall(case.follow)
            got2, how = read_some(s, 0.3, 1.0)
            got += got2
        if case.end == "tls-close" and isinstance(s, ssl.SSLSocket):
            try:
                s.settimeout(0.5)
                s.unwrap()
            except (ssl.SSLError, OSError):
                pass
            raw.close()
            return f"status={status} got={len(got)} then={how} tls-close"
        s.close()
        return f"status={status} got={len(got)} then={how}"


    def complete(self, case, s, raw, head, status="-"):
        """A real TLS handshake inside the tunnel (after `head` if pipelined), a GET, then
        case.post: the GET record bit-flipped, truncated, followed by garbage, etc."""
        rng = random.Random(case.post_seed)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.inner_ctx.wrap_bio(inc, out, server_hostname=case.sni)
        waiting_head = bool(head)
        buffered = b""
        first = head
        deadline = time.monotonic() + 4
        while True:
            try:
                obj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            except ssl.SSLError as e:
                s.close()
                return f"status={status} inner-handshake-failed:{e.reason}"
            data = first + out.read()
            first = b""
            if data:
                s.sendall(data)
            if done:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                s.close()
                return f"status={status} inner-handshake-timeout"
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                s.close()
                return f"status={status} inner-handshake-timeout"
            if not chunk:
                s.close()
                return f"status={status} inner-handshake-eof"
            if waiting_head:
                buffered += chunk
                if b"\r\n\r\n" not in buffered:
                    continue
                answer, chunk = buffered.split(b"\r\n\r\n", 1)
                status = answer[9:12].decode("latin-1", "replace")
                waiting_head = False
                if status != "200":
                    s.close()
                    return f"status={status}"
            inc.write(chunk)
        obj.write(f"GET /index.html HTTP/1.1\r\nHost: {case.target}\r\n\r\n".encode())
        rec = out.read()
        post = case.post
        cut = rng.randint(1, max(1, len(rec) - 1))
        if post == "clean":
            s.sendall(rec)
            got, how = read_some(s, 0.3, 1.5)
            try:
                obj.unwrap()
            except (ssl.SSLError, ssl.SSLWantReadError):
                pass
            s.sendall(out.read())
        elif post == "flip":
            b = bytearray(rec)
            b[rng.randrange(5, len(b))] ^= 1 << rng.randrange(8)
            s.sendall(bytes(b))
        elif post in ("truncate-fin", "truncate-rst"):
            s.sendall(rec[:cut])
            if post == "truncate-rst":
                reset_close(raw)
                return f"status={status} complete {post}"
            raw.shutdown(socket.SHUT_WR)
        elif post == "garbage-record":
            s.sendall(rec + record(23, rng.randbytes(rng.randint(1, 300)), 0x0303))
        elif post == "plain-alert":
            s.sendall(record(21, b"\x02\x28", 0x0303))
        elif post == "huge-len":
            s.sendall(b"\x17\x03\x03\xff\xff" + rng.randbytes(100))
            raw.shutdown(socket.SHUT_WR)
        elif post == "zero-len":
            s.sendall(record(23, b"", 0x0303) + rec)
        elif post == "ccs":
            s.sendall(record(20, b"\x01", 0x0303) + rec)
        elif post == "rst":
            s.sendall(rec)
            reset_close(raw)
            return f"status={status} complete rst"
        got, how = read_some(s, 0.5, 2.0)
        s.close()
        return f"status={status} complete {post} got={len(got)} then={how}"


# ------------------------------------------------------------------ checks

SUMMARY = re.compile(r'(?:^|\s)summary conn=\S+ client="?([^"\s]+)"?')
CLOSE = re.compile(r'\sclose=(\S+)')


class LogWatch:
    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.seen = collections.Counter()
        self.closes = collections.Counter()

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            text = line.decode("utf-8", "replace")
            m = SUMMARY.search(text)
            if m:
                self.seen[m.group(1)] += 1
                c = CLOSE.search(text)
                self.closes[(m.group(1), c.group(1) if c else "-")] += 1


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["plain", "front", "outer"], default="plain")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target", action="append", dest="targets", default=[],
                    help="HOST:PORT for the CONNECT request, repeatable (one picked per case)")
    ap.add_argument("--secret-file", help="file whose first line is the relay secret (sent as Proxy-Authorization: "
                    "Bearer); turns on relay requests (RESOLVE, wrong and missing secrets)")
    ap.add_argument("--cafile", help="CA for the HTTPS listener (front); without it nothing is verified")
    ap.add_argument("--front-name", default="127.0.0.1", help="server name for the front TLS")
    ap.add_argument("--outer-sni", default=None, help="SNI of outer hellos (default none)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--first", type=int, default=0, help="number of the first case")
    ap.add_argument("--only", default="", help="case numbers and ranges (3,7,10-20), run one at a time")
    ap.add_argument("--dump", type=int, default=None, help="print a case and its bytes, send nothing")
    ap.add_argument("--concurrency", type=int, default=24)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--pid", type=int, help="the process that must stay alive")
    ap.add_argument("--log", help="its log: every connection must get exactly one summary line")
    ap.add_argument("--summary-wait", type=float, default=15.0)
    ap.add_argument("--check", help="shell command that must succeed after every batch")
    ap.add_argument("--cases-log", help="write every case's description and outcome here")
    ap.add_argument("--label", default="fuzz")
    a = ap.parse_args()
    a.secret = None
    if a.secret_file:
        with open(a.secret_file) as f:
            a.secret = f.readline().strip()
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "big")
    if not a.targets:
        a.targets = ["localhost:443"]
    label = a.label
    if a.dump is not None:
        c = Case(a, a.seed, a.dump)
        print(c.describe())
        if c.head:
            print("head:", c.head)
        print("hello hex:", c.hello.hex())
        if c.follow:
            print("follow hex:", c.follow.hex())
        return 0

    numbers = []
    for part in (x.strip() for x in a.only.split(",")):
        lo, _, hi = part.partition("-")
        if lo:
            numbers += range(int(lo), int(hi or lo) + 1)
    if not a.only:
        numbers = list(range(a.first, a.first + a.cases))
    one_by_one = bool(a.only)
    print(f"{label}: seed={a.seed} cases={len(numbers)} kind={a.kind} port={a.port} targets={','.join(a.targets)}"
          f" concurrency={1 if one_by_one else a.concurrency}", flush=True)
    runner = Runner(a)
    watch = LogWatch(a.log) if a.log else None
    if watch:
        watch.poll()
        watch.seen.clear()
        watch.closes.clear()
    expected = collections.Counter()
    outcomes = collections.Counter()
    caselog = open(a.cases_log, "a") if a.cases_log else None
    batch_size = 1 if one_by_one else a.batch
    started = time.monotonic()
    done = 0
    rc = 0
    unknown_used = 0
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1 if one_by_one else a.concurrency)
    for b0 in range(0, len(numbers), batch_size):
        batch = [Case(a, a.seed, n) for n in numbers[b0:b0 + batch_size]]
        results = list(pool.map(runner.run, batch))
        for c, (addr, outcome) in zip(batch, results):
            if addr:
                expected[addr] += 1
            outcomes[outcome.split(" ")[0] if outcome.startswith("status=") else outcome.split(":")[0]] += 1
            if caselog:
                caselog.write(f"{c.describe()} client={addr} -> {outcome}\n")
        done += len(batch)
        span = f"cases {batch[0].number}..{batch[-1].number}" if not one_by_one else f"case {batch[0].number}"
        if one_by_one:
            time.sleep(0.3)  # a crash may follow the close
        dead = a.pid and not alive(a.pid)
        if watch and not dead:
            # A client that resets before Veil asks for its address is logged as client=?:
            # such lines stand for missing ones, and are counted. Addresses are unique per case,
            # so a missing one is a connection without its line.
            deadline = time.monotonic() + a.summary_wait
            while True:
                watch.poll()
                missing = [k for k in (c_addr for c_addr, _ in results if c_addr) if watch.seen[k] < expected[k]]
                if len(missing) <= watch.seen["?"] - unknown_used or time.monotonic() > deadline:
                    break
                if a.pid and not alive(a.pid):
                    break
                time.sleep(0.1)
            dead = a.pid and not alive(a.pid)  # a crash may come later, at a deadline
            take = min(len(missing), watch.seen["?"] - unknown_used)
            unknown_used += take
            missing = missing[take:]
            doubled = [k for k in expected if watch.seen[k] > expected[k]]
            if (missing or doubled) and not dead:
                byaddr = {addr: c for c, (addr, _) in zip(batch, results)}
                for k in missing[:10]:
                    c = byaddr.get(k)
                    print(f"{label}: FAIL: no summary line for client={k}: {c.describe() if c else ''}", flush=True)
                for k in doubled[:10]:
                    print(f"{label}: FAIL: {watch.seen[k]} summary lines for client={k} (expected {expected[k]})", flush=True)
                print(f"{label}: FAIL: {len(missing)} connections without a summary line, {len(doubled)} with more than one, "
                      f"in {span} (seed {a.seed})", flush=True)
                rc = rc or 21
        if dead:
            time.sleep(0.2)
            print(f"{label}: FAIL: process {a.pid} died during {span} (after {done} cases, "
                  f"{done - len(batch)} survived); re-run one by one with: --seed {a.seed} --only "
                  f"{batch[0].number}-{batch[-1].number}", flush=True)
            if one_by_one:
                print(f"{label}: reproducer: {batch[0].describe()}", flush=True)
            rc = 20
            break
        if a.check:
            r = subprocess.run(["bash", "-c", a.check], capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                print(f"{label}: FAIL: check after {span} exited {r.returncode}: {(r.stdout + r.stderr)[-300:]}", flush=True)
                rc = rc or 22
    pool.shutdown(wait=True)
    if caselog:
        caselog.close()
    took = time.monotonic() - started
    conns = sum(expected.values())
    print(f"{label}: {done} cases, {conns} connections in {took:.1f} s; outcomes: "
          + " ".join(f"{k}={v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])[:12]), flush=True)
    if watch:
        closes = collections.Counter()
        for (addr, close), n in watch.closes.items():
            if addr in expected:
                closes[close] += n
        print(f"{label}: summary lines {sum(watch.seen[k] for k in expected)} of {conns}"
              + (f" (and {unknown_used} with client=?)" if unknown_used else "") + "; close=: "
              + " ".join(f"{k}={v}" for k, v in sorted(closes.items(), key=lambda kv: -kv[1])), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
