#!/usr/bin/env python3
"""A slow stand-in for veil, used only to check the integration harness itself.

It follows the documented CLI, answers and log lines closely enough that the tests
can be exercised before (or independently of) the real binary:

    VEIL_BIN=integration/tools/mockveil.py integration/run-all.sh

It is not a reference implementation: asyncio, userspace copies, only the static
resolver, loopback upstreams only. Tests passing against it say nothing about veil.
"""
import argparse
import asyncio
import fnmatch
import json
import os
import signal
import socket
import sys
import time

CRLF2 = b"\r\n\r\n"
VERSIONS = {0x0304: "TLSv1.3", 0x0303: "TLSv1.2", 0x0302: "TLSv1.1", 0x0301: "TLSv1.0"}
CIPHERS = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
           0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
           0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
           0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"}
RTYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
HSNAMES = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 8: "EncryptedExtensions",
           11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone",
           15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished"}


class Close(Exception):
    def __init__(self, token, reason, status=None):
        super().__init__(reason)
        self.token, self.reason, self.status = token, reason, status


def exts(body, off):
    """Iterate (type, data) over a TLS extensions block starting at off."""
    if off + 2 > len(body):
        return
    end = off + 2 + int.from_bytes(body[off:off + 2], "big")
    off += 2
    while off + 4 <= end:
        t = int.from_bytes(body[off:off + 2], "big")
        n = int.from_bytes(body[off + 2:off + 4], "big")
        yield t, body[off + 4:off + 4 + n], off + 4
        off += 4 + n


def parse_client_hello(hs):
    """hs: handshake message bytes (type 1). Returns dict with sni, sni_offset, alpn, versions."""
    b = hs[4:]
    off = 2 + 32
    off += 1 + b[off]
    off += 2 + int.from_bytes(b[off:off + 2], "big")
    off += 1 + b[off]
    info = {"sni": None, "sni_off": None, "alpn": [], "versions": [], "ech": False}
    for t, d, doff in exts(b, off):
        if t == 0 and len(d) >= 5:
            n = int.from_bytes(d[3:5], "big")
            info["sni"] = d[5:5 + n].decode("ascii", "replace")
            info["sni_off"] = 4 + doff + 5
        elif t == 16:
            i = 2
            while i < len(d):
                n = d[i]
                info["alpn"].append(d[i + 1:i + 1 + n].decode("ascii", "replace"))
                i += 1 + n
        elif t == 43:
            info["versions"] = [VERSIONS.get(int.from_bytes(d[i:i + 2], "big"), "?") for i in range(1, len(d), 2)]
        elif t == 0xFE0D:
            info["ech"] = True
    return info


def parse_server_hello(hs):
    b = hs[4:]
    ver = int.from_bytes(b[0:2], "big")
    off = 2 + 32
    off += 1 + b[off]
    cipher = int.from_bytes(b[off:off + 2], "big")
    off += 3
    alpn = None
    for t, d, _ in exts(b, off):
        if t == 43 and len(d) >= 2:
            ver = int.from_bytes(d[0:2], "big")
        elif t == 16 and len(d) >= 3:
            alpn = d[3:3 + d[2]].decode("ascii", "replace")
    return {"version": VERSIONS.get(ver, hex(ver)), "cipher": CIPHERS.get(cipher, f"0x{cipher:04X}"), "alpn": alpn}


class Logger:
    def __init__(self, a):
        self.a = a
        self.out = open(a.record_log_file, "a", buffering=1) if a.record_log_file else sys.stderr
        self.t0 = time.monotonic()

    def emit(self, event, kv):
        if self.a.log_format == "json":
            line = json.dumps({"event": event, **kv}, separators=(",", ":"))
        else:
            parts = []
            for k, v in kv.items():
                if isinstance(v, list):
                    v = "; ".join(v)
                if isinstance(v, bool):
                    v = "true" if v else "false"
                if v is None:
                    v = "-"
                v = str(v)
                parts.append(f'{k}="{v}"' if (" " in v or v == "") else f"{k}={v}")
            line = f"{event} " + " ".join(parts)
        print(line, file=self.out, flush=True)


class Conn:
    counter = 0

    def __init__(self, proxy, reader, writer):
        Conn.counter += 1
        self.id = Conn.counter
        self.p, self.a = proxy, proxy.a
        self.cr, self.cw = reader, writer
        peer = writer.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}"
        self.target = self.sni = self.tls = self.cipher = self.alpn = None
        self.path = None
        self.up = self.down = 0
        self.start = time.monotonic()
        self.last = time.monotonic()
        self.uw = None
        self.buf = {"client->proxy": b"", "upstream->proxy": b""}

    def rec(self, direction, rtype, body, msgs=None):
        if self.a.record_log != "records":
            return
        kv = {"conn": self.id, "t": round(time.monotonic() - self.start, 6), "dir": direction,
              "type": RTYPES.get(rtype, str(rtype)), "len": len(body)}
        if msgs is not None:
            kv["msgs"] = msgs
        else:
            kv["opaque"] = True
        self.p.log.emit("record", kv)

    async def respond(self, status, text, body):
        self.cw.write(f"HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                      f"Content-Length: {len(body) + 1}\r\n\r\n{body}\n".encode())
        try:
            await self.cw.drain()
        except ConnectionError:
            pass

    async def run(self):
        token, reason = "ok", "client closed"
        try:
            await self.serve()
        except Close as c:
            token, reason = c.token, c.reason
        except asyncio.CancelledError:
            token, reason = "shutdown", "grace period over"
        except Exception as e:  # noqa: BLE001
            token, reason = "error", repr(e)
        finally:
            for w in (self.cw, self.uw):
                if w:
                    w.close()
            if self.a.record_log != "off":
                self.p.log.emit("summary", {
                    "conn": self.id, "client": self.client, "target": self.target, "sni": self.sni,
                    "mode": "passthrough", "tls": self.tls, "cipher": self.cipher, "alpn": self.alpn,
                    "path": self.path, "bytes_up": self.up, "bytes_down": self.down,
                    "duration": round(time.monotonic() - self.start, 6), "close": token, "reason": reason})

    async def read_head(self):
        data = b""
        while CRLF2 not in data:
            if len(data) > 8192:
                raise Close("header-too-large", "request header over 8 KiB", 431)
            chunk = await self.cr.read(4096)
            if not chunk:
                raise Close("client-gone", "client closed before the request was complete")
            data += chunk
        head, rest = data.split(CRLF2, 1)
        if len(head) > 8192:
            raise Close("header-too-large", "request header over 8 KiB", 431)
        return head, rest

    async def serve(self):
        try:
            try:
                head, rest = await asyncio.wait_for(self.read_head(), self.a.header_timeout)
            except asyncio.TimeoutError:
                raise Close("header-timeout", "request header not complete in time")
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                raise Close("bad-request", "malformed request line", 400)
            method, target = parts[0], parts[1]
            if method != "CONNECT":
                raise Close("method-not-allowed", f"method {method} not allowed, only CONNECT", 405)
            host, _, port = target.rpartition(":")
            if not host or not port.isdigit() or not (0 < int(port) < 65536):
                raise Close("bad-request", f"bad CONNECT target {target!r}", 400)
            self.target = target
            for pat in self.a.deny:
                if fnmatch.fnmatch(target, pat):
                    raise Close("forbidden", f"target {target} denied by rule {pat}", 403)
            if self.a.allow and not any(fnmatch.fnmatch(target, p) for p in self.a.allow):
                raise Close("forbidden", f"target {target} not allowed", 403)
            addr = self.p.resolve.get((host.lower(), int(port)))
            if addr is None:
                raise Close("resolve-failed", f"cannot resolve {host}", 502)
            try:
                ur, uw = await asyncio.wait_for(asyncio.open_connection(addr, int(port)), self.a.connect_timeout)
            except asyncio.TimeoutError:
                raise Close("connect-timeout", f"connect to {addr}:{port} timed out", 504)
            except OSError as e:
                raise Close("unreachable", f"connect to {addr}:{port}: {e.strerror}", 502)
            self.uw = uw
            uw.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Close as c:
            if c.status:
                texts = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
                         431: "Request Header Fields Too Large", 502: "Bad Gateway", 504: "Gateway Timeout"}
                await self.respond(c.status, texts[c.status], c.reason)
            raise
        self.cw.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await self.cw.drain()
        self.path = "userspace" if self.a.record_log == "records" else "splice"
        # ClientHello
        try:
            hello_rec, rest = await asyncio.wait_for(self.read_client_hello(rest), self.a.handshake_timeout)
        except asyncio.TimeoutError:
            raise Close("handshake-timeout", "no ClientHello in time")
        hs = hello_rec[5:]
        info = parse_client_hello(hs)
        self.sni = info["sni"]
        self.rec("client->proxy", 22, hs, [
            f"ClientHello sni={info['sni'] or '-'} alpn={','.join(info['alpn']) or '-'} "
            f"versions={','.join(info['versions']) or '-'} ech={'yes' if info['ech'] else 'no'}"])
        if self.sni and self.sni.lower() != host.lower() and not self.a.allow_sni_mismatch:
            raise Close("sni-mismatch", f"SNI {self.sni} differs from CONNECT host {host}")
        self.up += len(hello_rec)
        if self.a.split_hello and info["sni_off"] is not None:
            cut = info["sni_off"] + max(1, len(info["sni"]) // 2)
            hdr = hello_rec[:3]
            for part in (hs[:cut], hs[cut:]):
                uw.write(hdr + len(part).to_bytes(2, "big") + part)
                await uw.drain()
                await asyncio.sleep(0.05)
        else:
            uw.write(hello_rec)
        self.rec("proxy->upstream", 22, hs, ["ClientHello"])
        if rest:
            uw.write(rest)
            self.up += len(rest)
        await uw.drain()
        hello_at = time.monotonic()
        t1 = asyncio.create_task(self.pump(self.cr, uw, "client->proxy"))
        t2 = asyncio.create_task(self.pump(ur, self.cw, "upstream->proxy"))
        try:
            while True:
                done, _ = await asyncio.wait({t1, t2}, timeout=0.2, return_when=asyncio.ALL_COMPLETED)
                if t1.done() and t2.done():
                    break
                if (t1.done() or t2.done()) and time.monotonic() - self.last > 1.0:
                    break
                if self.tls is None and time.monotonic() - hello_at > self.a.handshake_timeout:
                    raise Close("handshake-timeout", "no ServerHello in time")
                if time.monotonic() - self.last > self.a.idle_timeout:
                    raise Close("idle-timeout", f"no traffic for {self.a.idle_timeout} s")
        finally:
            t1.cancel(); t2.cancel()
        if self.tls is None:
            for t in (t1, t2):
                if not t.cancelled() and t.exception() is None and t.result() == "client-eof":
                    raise Close("client-gone", "client closed during the handshake")
            raise Close("handshake-failed", "no ServerHello")
        first = t1.result() if t1.done() and not t1.cancelled() and t1.exception() is None else None
        raise Close("ok", "client closed" if first == "client-eof" else "upstream closed")

    async def read_client_hello(self, data):
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
            if len(data) >= 1 and data[0] != 22:
                raise Close("not-tls", "first bytes are not a TLS handshake record")
            chunk = await self.cr.read(65536)
            if not chunk:
                raise Close("client-gone", "client closed before the ClientHello was complete")
            data += chunk
        if data[0] != 22 or data[5] != 1:
            raise Close("not-tls", "first record is not a ClientHello")
        n = 5 + int.from_bytes(data[3:5], "big")
        return data[:n], data[n:]

    async def pump(self, r, w, direction):
        while True:
            chunk = await r.read(65536)
            if not chunk:
                try:
                    w.write_eof()
                except (OSError, RuntimeError):
                    pass
                return "client-eof" if direction == "client->proxy" else "upstream-eof"
            self.last = time.monotonic()
            if direction == "client->proxy":
                self.up += len(chunk)
            else:
                self.down += len(chunk)
            self.track(direction, chunk)
            w.write(chunk)
            await w.drain()

    def track(self, direction, chunk):
        buf = self.buf[direction] + chunk
        while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[3:5], "big"):
            n = int.from_bytes(buf[3:5], "big")
            rtype, body = buf[0], buf[5:5 + n]
            buf = buf[5 + n:]
            if rtype == 22 and self.tls is None and body[:1] == b"\x02":
                sh = parse_server_hello(body)
                self.tls, self.cipher = sh["version"], sh["cipher"]
                self.alpn = sh["alpn"]
                self.rec(direction, rtype, body, [f"ServerHello version={sh['version']} cipher={sh['cipher']} "
                                                  f"alpn={sh['alpn'] or '-'}"])
            elif rtype == 22 and self.tls != "TLSv1.3":
                self.rec(direction, rtype, body, [HSNAMES.get(body[0], "?") if body else "?"])
            elif rtype in (21, 23) or (rtype == 22):
                self.rec(direction, rtype, body)
            else:
                self.rec(direction, rtype, body, ["ChangeCipherSpec"])
        self.buf[direction] = buf


class Proxy:
    def __init__(self, a):
        self.a = a
        self.log = Logger(a)
        self.resolve = {}
        for r in a.resolve:
            h, p, addr = r.split(":", 2)
            self.resolve[(h.lower(), int(p))] = addr
        self.tasks = set()

    async def on_client(self, reader, writer):
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            await Conn(self, reader, writer).run()
        finally:
            self.tasks.discard(task)

    async def main(self):
        host, port = self.a.listen.rsplit(":", 1)
        server = await asyncio.start_server(self.on_client, host, int(port))
        print(f"mockveil: listening on {host}:{server.sockets[0].getsockname()[1]}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        server.close()
        print("mockveil: shutting down", file=sys.stderr, flush=True)
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=self.a.grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)


def main():
    p = argparse.ArgumentParser(prog="mockveil")
    p.add_argument("--version", action="version", version="mockveil 0 (test stand-in)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--listen", default="127.0.0.1:8080")
    r.add_argument("--config")
    r.add_argument("--mode", default="passthrough", choices=["passthrough"])
    r.add_argument("--resolve", action="append", default=[])
    r.add_argument("--resolver", default="static", choices=["static", "system"])
    r.add_argument("--record-log", default="summary", choices=["off", "summary", "records"])
    r.add_argument("--log-format", default="text", choices=["text", "json"])
    r.add_argument("--record-log-file")
    r.add_argument("--split-hello", action="store_true")
    r.add_argument("--allow", action="append", default=[])
    r.add_argument("--deny", action="append", default=[])
    r.add_argument("--allow-sni-mismatch", action="store_true")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--connect-timeout", type=float, default=10)
    r.add_argument("--header-timeout", type=float, default=10)
    r.add_argument("--handshake-timeout", type=float, default=10)
    r.add_argument("--idle-timeout", type=float, default=300)
    r.add_argument("--grace", type=float, default=10)
    a = p.parse_args()
    asyncio.run(Proxy(a).main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
