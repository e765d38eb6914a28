#!/usr/bin/env python3
"""tls_echo_server: echo_server.py over TLS.

    usage: NETCORE_TLS_CERT=chain.pem NETCORE_TLS_KEY=key.pem tls_echo_server.py [HOST:]PORT

The certificate chain (leaf first) and its private key are PEM files named by
NETCORE_TLS_CERT and NETCORE_TLS_KEY. Everything else is echo_server.py's
contract: prints "listening on HOST:PORT", echoes every byte with the same
flow control, and exits 0 on SIGINT or SIGTERM after closing gracefully (a
TLS connection sends close_notify before its FIN). A client whose handshake
fails is logged on stderr with the reason (e.g. an unknown CA, alert 48).

Try it with the test certificates:

    tests/tls/make-certs.sh /tmp/certs
    NETCORE_TLS_CERT=/tmp/certs/server.pem NETCORE_TLS_KEY=/tmp/certs/server.key \\
        python3 examples/python/tls_echo_server.py 8443 &
    python3 examples/python/tls_client.py 127.0.0.1:8443 /tmp/certs/ca.pem hello
"""

from __future__ import annotations

import sys

import netcore
from _common import serve_main, tls_server_context
from echo_server import EchoServer

PROG = "tls_echo_server"


class TLSEchoServer(EchoServer):
    prog = PROG

    def __init__(self, loop: netcore.Loop, listener: int, context: netcore.TLSContext) -> None:
        super().__init__(loop, listener)
        # Every connection accepted from now on starts with a handshake.
        loop.set_listener_tls(self.listener, context)

    def on_event(self, ev: netcore.Event) -> None:
        if ev.kind == netcore.TLS_FAILED:
            self.report(ev.handle, ev.error)
        super().on_event(ev)


def main(argv: list[str]) -> int:
    context = tls_server_context(PROG)
    return serve_main(argv, PROG, lambda loop, host, port: TLSEchoServer(loop, loop.listen(host, port), context))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
