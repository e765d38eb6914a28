#!/usr/bin/env python3
"""tls_client: sends one message over TLS and prints the echo.

    usage: tls_client.py HOST:PORT [CAFILE] [MESSAGE]

Connects to HOST:PORT with TLS, verifying the server's certificate against
CAFILE (a PEM bundle; without it, the system's trust store) and its name
against HOST. Prints what the handshake negotiated, sends MESSAGE (default
"hello") and prints the echo, then closes (close_notify, then FIN). Exits 1
with the reason if the connection or the handshake fails (an ssl.SSLError
subclass: e.g. netcore.TLSCertificateError for an unknown CA), or if nothing
comes back within 10 s.
"""

from __future__ import annotations

import sys
import time

import netcore
from _common import die, parse_host_port

PROG = "tls_client"
REPLY_TIMEOUT = 10.0


def main(argv: list[str]) -> int:
    if not 2 <= len(argv) <= 4:
        print(f"usage: {PROG} HOST:PORT [CAFILE] [MESSAGE]", file=sys.stderr)
        return 2
    try:
        host, port = parse_host_port(argv[1], None)
        context = netcore.TLSContext.client(cafile=argv[2] if len(argv) > 2 else None)
    except (ValueError, OSError) as e:
        die(PROG, str(e))
    message = (argv[3] if len(argv) > 3 else "hello").encode()

    with netcore.Loop() as loop:
        conn = loop.connect(host, port, tls=context)  # the handshake follows the connection
        loop.send(conn, message)  # queued until the handshake is over
        echoed = b""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while time.monotonic() < deadline:
            for ev in loop.poll(0.5):
                if ev.kind == netcore.TLS_READY:
                    info = loop.tls_info(conn)
                    if info is not None:
                        print(f"{info['version']} {info['cipher']} alpn={info['selected_alpn_protocol']}")
                elif ev.kind == netcore.DATA and ev.data is not None:
                    echoed += ev.data
                    if len(echoed) >= len(message):
                        print(echoed.decode(errors="replace"))
                        loop.close(conn)
                elif ev.kind == netcore.CLOSED:
                    if ev.error is not None:
                        die(PROG, f"{argv[1]}: {ev.error}")
                    return 0 if len(echoed) >= len(message) else 1
        die(PROG, f"no reply from {argv[1]} within {REPLY_TIMEOUT:.0f} s")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
