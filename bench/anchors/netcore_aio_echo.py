"""The asyncio anchor's Protocol echo server (asyncio_echo.py, as in the
asyncio documentation's "TCP Echo Server"), unchanged, on netcore.aio's event
loop: netcore.aio.run(main()) in place of asyncio.run(main()), so
loop.create_server is netcore's (issue 13: the asyncio-compatible layer
against uvloop with the same Protocol).

    usage: python netcore_aio_echo.py [HOST:]PORT

Same contract as netcore's example servers: prints one line
"listening on HOST:PORT" once it accepts connections, echoes raw bytes, exits
0 on SIGINT or SIGTERM.
"""

import sys

import netcore.aio

from asyncio_echo import main, parse_args

if __name__ == "__main__":
    netcore.aio.run(main(*parse_args("netcore_aio_echo.py", sys.argv[1:])))
