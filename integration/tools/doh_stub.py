"""doh_stub: what the test DoH servers (doh_slow.py, doh_garbage.py) share: TLS with ALPN
http/1.1 on 127.0.0.1:PORT, one thread per connection, one HTTP/1.1 request read whole (head
and a Content-Length body), and the answer written as application/dns-message."""
import socket
import ssl
import threading


def serve_forever(port, cert, key, handle):
    """Calls handle(body) -> answer bytes (None: close without answering) for each request."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])

    def serve(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                body = read_request(s)
                answer = None if body is None else handle(body)
                if answer is not None:
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: %d\r\n\r\n"
                              % len(answer) + answer)
        except (OSError, ssl.SSLError, ValueError):
            pass

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def read_request(s):
    """The request's body (b"" without one); None when the client left first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            return None
        body += chunk
    return body
