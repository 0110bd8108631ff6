#!/usr/bin/env python3
"""Fairness probe: 100-byte round-trip latency against an echo server, alone and beside a
connection that blasts data into the same server as fast as loopback takes it.

    python3 bench/probes/fairness.py HOST:PORT [--seconds S] [--pid PID] [--send-only]

Run the server first (natively: target/release/examples/echo_server 127.0.0.1:PORT; as a
guest: twinloop-host run --allow-net 127.0.0.1 echo_server.wasm 127.0.0.1:PORT). With
--pid, the server process's peak resident memory (VmHWM) is printed at the end. The same
probe can be pointed at an asyncio echo server (asyncio_echo.py) for comparison. With
--send-only the blaster never reads its echo: a server that honours flow control stops
reading from it, and its memory stays bounded. Loopback only.
"""
import argparse
import socket
import statistics
import threading
import time


def round_trips(addr, seconds):
    s = socket.create_connection(addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(60)
    msg = b"r" * 100
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        s.sendall(msg)
        got = 0
        while got < len(msg):
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("the server closed the round-trip connection")
            got += len(chunk)
        lat.append(time.monotonic() - t0)
    s.close()
    return lat


class Blaster:
    """Writes 256 KiB chunks as fast as the socket takes them; reads and drops the echo."""

    def __init__(self, addr, read=True):
        self.sock = socket.create_connection(addr)
        self.sock.settimeout(1.0)
        self.stop = threading.Event()
        self.sent = 0
        self.received = 0
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer.start()
        if read:
            self.reader.start()

    def _write(self):
        chunk = b"\x5a" * (256 * 1024)
        while not self.stop.is_set():
            try:
                self.sock.sendall(chunk)
                self.sent += len(chunk)
            except socket.timeout:
                continue  # the server stopped reading (flow control): keep pushing
            except OSError:
                return

    def _read(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            self.received += len(data)

    def close(self):
        self.stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.writer.join(5)
        if self.reader.is_alive():
            self.reader.join(5)


def describe(name, lat):
    lat = sorted(lat)
    if not lat:
        return f"{name}: no round trip completed"
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    return (f"{name}: {len(lat)} round trips, p50 {p(0.5):.3f} ms, p99 {p(0.99):.3f} ms, "
            f"max {lat[-1] * 1000:.3f} ms")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return line.split(":", 1)[1].strip()
    return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--send-only", action="store_true")
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    addr = (host.strip("[]"), int(port))
    print(describe("alone", round_trips(addr, args.seconds)))
    blaster = Blaster(addr, read=not args.send_only)
    time.sleep(0.5)
    lat = round_trips(addr, args.seconds)
    blaster.close()
    print(describe("beside a blaster", lat))
    print(f"blaster: sent {blaster.sent / 1e6:.0f} MB, got back {blaster.received / 1e6:.0f} MB")
    if args.pid:
        print(f"server peak RSS (VmHWM): {peak_rss(args.pid)}")


if __name__ == "__main__":
    main()
