"""The floor under any Python server on uvloop: a protocol that parses nothing and
answers each request ('*' in the bytes read) with a canned nil reply. What it costs per
request is what the event loop and the system calls cost before bocho runs a line.

Usage: python bench/floor.py --port N [ignored redis-server options...]"""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop

NIL = b"$-1\r\n"


class Floor(asyncio.Protocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.write = transport.write

    def data_received(self, data: bytes) -> None:
        self.write(NIL * data.count(b"*"))


def main() -> None:
    port = int(sys.argv[sys.argv.index("--port") + 1])
    loop = uvloop.new_event_loop()
    loop.run_until_complete(loop.create_server(Floor, "127.0.0.1", port))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.run_forever()


if __name__ == "__main__":
    main()
