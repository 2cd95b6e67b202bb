#!/usr/bin/env python3
"""doh_garbage.py PORT CERT KEY: a TLS server (ALPN http/1.1) that answers every HTTP request
with 200 and a body that is not a DNS message, for the resolver's bad-server test."""
import sys

from doh_stub import serve_forever

serve_forever(int(sys.argv[1]), sys.argv[2], sys.argv[3], lambda body: b"<html>this is not a DNS message</html>")
