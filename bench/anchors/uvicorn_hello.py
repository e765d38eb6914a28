"""HTTP anchor of the benchmark suite (issue 13): uvicorn, a well-known
asyncio Protocol-based HTTP server from PyPI, unchanged, serving a one-route
ASGI app, on the event loop named by --loop:

    netcore   netcore.aio's loop (netcore's transports under uvicorn's
              HTTP Protocol), uvicorn's loop="netcore.aio:new_event_loop"
    uvloop    uvicorn's loop="uvloop"
    asyncio   uvicorn's loop="asyncio" (the selector loop)

and with uvicorn's HTTP Protocol named by --http (httptools or h11).

    usage: python uvicorn_hello.py --loop LOOP --http PROTOCOL [HOST:]PORT

Every request gets "Hello, world!\\n" (text/plain). Access log, lifespan and
websockets are off. Same contract as netcore's example servers: prints one
line "listening on HOST:PORT" once it accepts connections, exits 0 on SIGINT
or SIGTERM (uvicorn's own graceful shutdown).
"""

import argparse
import asyncio
import signal
from typing import Any

import uvicorn

from asyncio_echo import parse_addr

LOOPS = {"netcore": "netcore.aio:new_event_loop", "uvloop": "uvloop", "asyncio": "asyncio"}
BODY = b"Hello, world!\n"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The one route: whatever the path, the same answer."""
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def serve(server: uvicorn.Server) -> None:
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.005)
    if server.started:
        name = server.servers[0].sockets[0].getsockname()
        shown = f"[{name[0]}]" if ":" in name[0] else name[0]
        print(f"listening on {shown}:{name[1]}", flush=True)
    await task


def main() -> None:
    ap = argparse.ArgumentParser(description="uvicorn hello-world server for the benchmark suite")
    ap.add_argument("--loop", choices=sorted(LOOPS), required=True)
    ap.add_argument("--http", choices=["httptools", "h11"], required=True)
    ap.add_argument("address", metavar="[HOST:]PORT")
    args = ap.parse_args()
    host, port = parse_addr(args.address)
    config = uvicorn.Config(hello, host=host, port=port, loop=LOOPS[args.loop], http=args.http, ws="none",
                            lifespan="off", access_log=False, log_level="warning", backlog=1024,
                            timeout_graceful_shutdown=5)
    # uvicorn catches SIGINT/SIGTERM while it serves and raises them again
    # once it has shut down, to the handlers it found: these, which let the
    # process end normally (exit 0).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: None)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve(uvicorn.Server(config)))


if __name__ == "__main__":
    main()
