"""asyncio anchor of the benchmark suite: a TCP echo server written the way
the asyncio documentation teaches it ("TCP Echo Server" with the Protocols
API: an asyncio.Protocol whose data_received writes the bytes back, served by
loop.create_server). asyncio's TCP transports set TCP_NODELAY themselves.

    usage: python asyncio_echo.py [--tls | --udp] [HOST:]PORT

With --tls it serves TLS the way the asyncio and ssl documentation teach it:
create_server(ssl=ctx) with ctx = ssl.create_default_context(
ssl.Purpose.CLIENT_AUTH) and load_cert_chain() of the PEM files named by the
environment variables NETCORE_TLS_CERT and NETCORE_TLS_KEY (the contract of
netcore's TLS example servers). Versions and ciphers are the defaults; the
load generator chooses them from the client side.

With --udp it is the anchor of the UDP comparison: the documentation's "UDP
Echo Server" (an asyncio.DatagramProtocol whose datagram_received sends the
bytes back with transport.sendto, served by loop.create_datagram_endpoint).

Same contract as netcore's example servers: prints one line
"listening on HOST:PORT" once it accepts connections, echoes raw bytes, exits
0 on SIGINT or SIGTERM.
"""

import asyncio
import os
import signal
import ssl
import sys

USAGE = "usage: {} [--tls | --udp] [HOST:]PORT"


class EchoServerProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class EchoServerDatagramProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


def parse_addr(arg):
    if arg.startswith("["):
        host, _, port = arg[1:].partition("]:")
    elif ":" in arg:
        host, _, port = arg.rpartition(":")
    else:
        host, port = "127.0.0.1", arg
    return host, int(port)


def parse_args(prog, argv):
    """[--tls | --udp] [HOST:]PORT -> (host, port, ssl context or None, udp);
    exits on bad usage."""
    tls = argv[:1] == ["--tls"]
    udp = argv[:1] == ["--udp"]
    if tls or udp:
        argv = argv[1:]
    if len(argv) != 1:
        sys.exit(USAGE.format(prog))
    ctx = None
    if tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.environ["NETCORE_TLS_CERT"], os.environ["NETCORE_TLS_KEY"])
    return (*parse_addr(argv[0]), ctx, udp)


async def main(host, port, ssl_context=None, udp=False):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    if udp:
        transport, _ = await loop.create_datagram_endpoint(EchoServerDatagramProtocol, local_addr=(host, port))
        name = transport.get_extra_info("sockname")
    else:
        server = await loop.create_server(EchoServerProtocol, host, port, backlog=1024, ssl=ssl_context)
        name = server.sockets[0].getsockname()
    shown = f"[{name[0]}]" if ":" in name[0] else name[0]
    print(f"listening on {shown}:{name[1]}", flush=True)
    if udp:
        await stop
        transport.close()
        return
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main(*parse_args("asyncio_echo.py", sys.argv[1:])))
