#!/usr/bin/env python3
"""asyncio's echo server, for running the probes against the reference:

    python3 bench/probes/asyncio_echo.py 127.0.0.1:PORT
"""
import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(addr):
    host, port = addr.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, host, int(port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8888"))
