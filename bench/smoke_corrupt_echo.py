"""A deliberately broken echo server for `bench/run.py --smoke`: it echoes
every connection's bytes but flips byte 100 of each stream. The smoke run
checks that the load generator reports it (non-zero exit, "byte mismatch").

    usage: python smoke_corrupt_echo.py [HOST:]PORT
"""

import asyncio
import signal
import sys


class CorruptingEcho(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.offset = 0

    def data_received(self, data):
        if self.offset <= 100 < self.offset + len(data):
            i = 100 - self.offset
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        self.offset += len(data)
        self.transport.write(data)


async def main(arg):
    host, _, port = arg.rpartition(":")
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await loop.create_server(CorruptingEcho, host or "127.0.0.1", int(port))
    name = server.sockets[0].getsockname()
    print(f"listening on {name[0]}:{name[1]}", flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
