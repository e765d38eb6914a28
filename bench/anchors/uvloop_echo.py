"""uvloop anchor of the benchmark suite: the asyncio Protocol echo server (as
in the asyncio documentation's "TCP Echo Server") run on uvloop the way
uvloop's README teaches it: uvloop.run(main()). uvloop's TCP transports set
TCP_NODELAY themselves.

    usage: python uvloop_echo.py [HOST:]PORT

Same contract as netcore's example servers: prints one line
"listening on HOST:PORT" once it accepts connections, echoes raw bytes, exits
0 on SIGINT or SIGTERM.
"""

import asyncio
import signal
import sys

import uvloop


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
        sys.exit("usage: uvloop_echo.py [HOST:]PORT")
    uvloop.run(main(*parse_addr(sys.argv[1])))
