#!/usr/bin/env python3
"""https_server: answers "GET /" over HTTPS with a fixed page.

    usage: NETCORE_TLS_CERT=chain.pem NETCORE_TLS_KEY=key.pem https_server.py [HOST:]PORT

    $ curl --cacert ca.pem https://localhost:PORT/
    hello from netcore over TLS

The certificate chain and key come from the PEM files the two variables name
(as tls_echo_server.py). The listener offers ALPN "http/1.1"; each
connection's request head (up to the blank line) arrives as one "data" event,
cut by netcore's delimiter framing. "GET /" gets 200 with the page, any other
path 404, anything else 400; every answer says "Connection: close" and the
server closes gracefully after it (the queue flushed, then close_notify, then
FIN), so a client sees the whole page and a clean end. A client whose
handshake fails is logged on stderr with the reason. Prints "listening on
HOST:PORT"; SIGINT/SIGTERM shuts down gracefully and exits 0.
"""

from __future__ import annotations

import sys

import netcore
from _common import Server, serve_main, tls_server_context

PROG = "https_server"
# The longest request head taken (a longer one closes the connection).
MAX_HEAD = 8192
PAGE = b"hello from netcore over TLS\n"


class HTTPSServer(Server):
    prog = PROG

    def on_event(self, ev: netcore.Event) -> None:
        h, kind = ev.handle, ev.kind
        if kind == netcore.ACCEPTED:  # one request head per "data" event
            try:
                self.loop.frame_delimited(h, b"\r\n\r\n", MAX_HEAD)
            except netcore.Error:
                pass  # already gone: its "closed" follows
        elif kind == netcore.DATA and ev.data is not None:
            self.answer(h, ev.data)
        elif kind == netcore.EOF:  # the client is done without a request
            self.close(h)
        elif kind in (netcore.TLS_FAILED, netcore.ERROR):  # "closed" follows
            self.report(h, ev.error)
        else:
            super().on_event(ev)

    def answer(self, h: int, head: bytes) -> None:
        """Sends the whole answer to a request head and closes once it is out."""
        if head.startswith(b"GET / "):
            status, body = "200 OK", PAGE
        elif head.startswith(b"GET "):
            status, body = "404 Not Found", b"not found\n"
        else:
            status, body = "400 Bad Request", b"bad request\n"
        header = (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                  "Connection: close\r\n\r\n")
        try:
            self.loop.sendv(h, [header.encode(), body])
        except OSError as e:  # e.g. a second request after this connection's answer
            self.report(h, e)
        self.close(h)


def main(argv: list[str]) -> int:
    context = tls_server_context(PROG, alpn_protocols=["http/1.1"])
    return serve_main(argv, PROG, lambda loop, host, port: HTTPSServer(loop, loop.listen(host, port, tls=context)))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
