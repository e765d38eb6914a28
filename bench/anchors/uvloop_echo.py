"""uvloop anchor of the benchmark suite: the asyncio anchor's Protocol echo
server (asyncio_echo.py, as in the asyncio documentation's "TCP Echo Server")
run on uvloop the way uvloop's README teaches it: uvloop.run(main()). uvloop's
TCP transports set TCP_NODELAY themselves.

    usage: python uvloop_echo.py [--tls | --udp] [HOST:]PORT

--tls serves TLS as asyncio_echo.py --tls does (create_server(ssl=ctx));
--udp echoes datagrams as asyncio_echo.py --udp does (DatagramProtocol).

Same contract as netcore's example servers: prints one line
"listening on HOST:PORT" once it accepts connections, echoes raw bytes, exits
0 on SIGINT or SIGTERM.
"""

import sys

import uvloop

from asyncio_echo import main, parse_args

if __name__ == "__main__":
    uvloop.run(main(*parse_args("uvloop_echo.py", sys.argv[1:])))
