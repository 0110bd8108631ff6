#!/usr/bin/env python3
"""asyncio's echo server (an asyncio.Protocol writing back in data_received), the
reference for the probes and a server of `cargo xtask bench`:

    python3 bench/probes/asyncio_echo.py [IP:PORT] [--uvloop]

Port 0 picks a free port. Prints `listening on IP:PORT` as its first line (flushed),
then serves until killed. With --uvloop the same server runs on uvloop's loop (exits
with status 3 if uvloop cannot be imported).
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
    name = server.sockets[0].getsockname()
    print(f"listening on {name[0]}:{name[1]}", flush=True)
    async with server:
        await server.serve_forever()


def run(argv):
    use_uvloop = "--uvloop" in argv
    positional = [a for a in argv if not a.startswith("--")]
    unknown = [a for a in argv if a.startswith("--") and a != "--uvloop"]
    if unknown or len(positional) > 1:
        print("usage: asyncio_echo.py [IP:PORT] [--uvloop]", file=sys.stderr)
        return 2
    addr = positional[0] if positional else "127.0.0.1:8888"
    if use_uvloop:
        try:
            import uvloop
        except ImportError as e:
            print(f"asyncio_echo.py: --uvloop: {e}", file=sys.stderr)
            return 3
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main(addr))
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
