"""A strict WebSocket backend for the tests: the `websockets` library (Debian's
python3-websockets 10.4) with an auth hook. Run with /usr/bin/python3.

Listens on 127.0.0.1 at the port given as argv[1] (0: any free port) and prints
`PORT <n>` on stdout once it accepts connections. An upgrade whose query has
token=good gets 101 and an echo session; any other token gets 403 from the
process_request hook. websockets itself refuses what is not an HTTP/1.1 upgrade
(HTTP/1.0 or no Upgrade header) before the hook runs, with 400 or 426.
"""

import asyncio
import http
import sys
import urllib.parse

import websockets


def process_request(path, request_headers):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if query.get("token") != ["good"]:
        return http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"Forbidden\n"
    return None


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    async with websockets.serve(echo, "127.0.0.1", port, process_request=process_request) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"PORT {bound}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
