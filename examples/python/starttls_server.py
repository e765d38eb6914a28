#!/usr/bin/env python3
"""starttls_server: an SMTP-style server that upgrades a live connection to
TLS on STARTTLS (RFC 3207), as `openssl s_client -starttls smtp` expects.

    usage: NETCORE_TLS_CERT=chain.pem NETCORE_TLS_KEY=key.pem starttls_server.py [HOST:]PORT

    $ openssl s_client -starttls smtp -connect 127.0.0.1:PORT -CAfile ca.pem -crlf

Greets with "220", answers EHLO with "250-... 250 STARTTLS" and STARTTLS with
"220 Ready to start TLS", then starts TLS as the server on the same
connection (Loop.start_tls): the "220" is queued first, so it goes out as
plaintext, and every byte after it is TLS. Then EHLO (again, as RFC 3207
asks), NOOP and QUIT are answered over TLS; anything else before TLS gets
530, after it 502. QUIT closes gracefully (close_notify, then FIN).

The injection of CVE-2021-23222 (plaintext sent right behind STARTTLS, which a
server would otherwise take as protected) is refused: start_tls raises while
bytes after the command are still buffered, and Loop.run() never delivers a
line cut from the same read as the command (the connection fails
ETLSPROTOCOL). Either way the connection is dropped and logged on stderr.

The certificate chain and key come from the PEM files the two variables name
(as tls_echo_server.py). Prints "listening on HOST:PORT"; SIGINT/SIGTERM
shuts down gracefully and exits 0.
"""

from __future__ import annotations

import sys

import netcore
from _common import Server, serve_main, tls_server_context

PROG = "starttls_server"
# SMTP's longest command line, CRLF included (RFC 5321).
MAX_LINE = 1000


class STARTTLSServer(Server):
    prog = PROG

    def __init__(self, loop: netcore.Loop, listener: int, context: netcore.TLSContext) -> None:
        super().__init__(loop, listener)
        self.context = context
        # Connections that started TLS (every line they deliver came under it).
        self.upgraded: set[int] = set()

    def on_event(self, ev: netcore.Event) -> None:
        h, kind = ev.handle, ev.kind
        if kind == netcore.ACCEPTED:
            try:
                self.loop.frame_delimited(h, b"\n", MAX_LINE)
            except netcore.Error:
                return  # already gone: its "closed" follows
            self.reply(h, b"220 localhost ESMTP netcore\r\n")
        elif kind == netcore.DATA and ev.data is not None:
            self.on_line(h, ev.data.removesuffix(b"\r"))
        elif kind == netcore.EOF:
            self.close(h)
        elif kind in (netcore.TLS_FAILED, netcore.ERROR):  # "closed" follows
            self.report(h, ev.error)
        else:
            if kind == netcore.CLOSED:
                self.upgraded.discard(h)
            super().on_event(ev)

    def on_line(self, h: int, line: bytes) -> None:
        secure = h in self.upgraded
        command = line.split(b" ", 1)[0].upper()
        if command == b"EHLO":
            self.reply(h, b"250 localhost greets you\r\n" if secure else b"250-localhost greets you\r\n250 STARTTLS\r\n")
        elif command in (b"HELO", b"NOOP"):
            self.reply(h, b"250 OK\r\n")
        elif command == b"QUIT":
            self.reply(h, b"221 Bye\r\n")
            self.close(h)
        elif command == b"STARTTLS" and not secure:
            self.reply(h, b"220 Ready to start TLS\r\n")  # goes out first, as plaintext
            try:
                self.loop.start_tls(h, self.context)
            except netcore.Error as e:  # bytes after the command are already buffered
                self.report(h, e)
                self.reset(h)
                return
            self.upgraded.add(h)
        elif secure:
            self.reply(h, b"502 Command not implemented\r\n")
        else:
            self.reply(h, b"530 Must issue a STARTTLS command first\r\n")

    def reset(self, h: int) -> None:
        try:
            self.loop.close_reset(h)
        except netcore.Error:
            pass  # already gone

    def reply(self, h: int, text: bytes) -> None:
        try:
            self.loop.send(h, text)
        except OSError as e:
            self.report(h, e)


def main(argv: list[str]) -> int:
    context = tls_server_context(PROG)
    return serve_main(argv, PROG, lambda loop, host, port: STARTTLSServer(loop, loop.listen(host, port), context))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
