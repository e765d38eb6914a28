"""asyncio anchor of the benchmark suite: a TCP echo server written the way
the asyncio documentation teaches it ("TCP Echo Server" with the Protocols
API: an asyncio.Protocol whose data_received writes the bytes back, served by
loop.create_server). asyncio's TCP transports set TCP_NODELAY themselves.

    usage: python asyncio_echo.py [HOST:]PORT

Same contract as netcore's example servers: prints one line
"listening on HOST:PORT" once it accepts connections, echoes raw bytes, exits
0 on SIGINT or SIGTERM.
"""

import asyncio
import signal
import sys


class EchoServerProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def parse_addr(arg):
    if arg.startswith("["):
        host, _, port = arg[1:].partition("]:")
    elif ":" in arg:
        host, _, port = arg.rpartition(":")
    else:
        host, port = "127.0.0.1", arg
    return host, int(port)


async def main(host, port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    server = await loop.create_server(EchoServerProtocol, host, port, backlog=1024)
    name = server.sockets[0].getsockname()
    shown = f"[{name[0]}]" if ":" in name[0] else name[0]
    print(f"listening on {shown}:{name[1]}", flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: asyncio_echo.py [HOST:]PORT")
    asyncio.run(main(*parse_addr(sys.argv[1])))
