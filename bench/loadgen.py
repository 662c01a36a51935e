"""Load generators bench/bench.py runs where redis-benchmark cannot (issue 5's tests).

  multi  MULTI, SET x5, EXEC as one "request": every connection sends P transactions in
         one write (-P), waits for all their replies (counted by their exact length, so
         the client parses nothing), and sends again, until n transactions are done.
         Prints `"MULTI",<transactions per second>` as redis-benchmark's --csv does.
  sub    `--subscribers` connections SUBSCRIBEd to a channel that read and discard what
         arrives until SIGTERM; prints "ready" once every subscription is confirmed and,
         at exit, the number of messages received.

Both run in their own process on uvloop, so the bench process and this client never
share an interpreter. Usage:
    python bench/loadgen.py multi --port N --requests N [--pipeline P] [--clients C]
    python bench/loadgen.py sub --port N [--subscribers 10] [--channel CH]"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

try:
    import uvloop
except ImportError:  # plain asyncio works too, only slower
    uvloop = None


def request(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


SETS = 5
VALUE = b"xxx"  # redis-benchmark's default 3-byte value


def transaction(i: int) -> bytes:
    """MULTI, SET tx:<i>:<k> xxx for k < 5, EXEC."""
    return (request(b"MULTI")
            + b"".join(request(b"SET", b"tx:%d:%d" % (i, k), VALUE) for k in range(SETS))
            + request(b"EXEC"))


TX_REPLY = b"+OK\r\n" + b"+QUEUED\r\n" * SETS + b"*%d\r\n" % SETS + b"+OK\r\n" * SETS


class TxClient(asyncio.Protocol):
    def __init__(self, gen: TxLoad, payload: bytes, pipeline: int) -> None:
        self.gen = gen
        self.payload = payload
        self.pipeline = pipeline
        self.expect = len(TX_REPLY) * pipeline
        self.got = 0
        self.first = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.send()

    def send(self) -> None:
        if self.gen.take(self.pipeline):
            self.got = 0
            self.transport.write(self.payload)
        else:
            self.gen.client_done()

    def data_received(self, data: bytes) -> None:
        if len(self.first) < len(TX_REPLY):
            self.first += data[:len(TX_REPLY) - len(self.first)]
            if not TX_REPLY.startswith(self.first):
                self.gen.fail(f"unexpected reply {self.first!r}")
                return
        self.got += len(data)
        if self.got >= self.expect:
            self.gen.done += self.pipeline
            self.send()

    def connection_lost(self, exc) -> None:
        if not self.gen.finished.done():
            self.gen.fail(f"connection lost: {exc!r}")


class TxLoad:
    def __init__(self, n: int, clients: int) -> None:
        self.left = n
        self.done = 0
        self.active = clients
        self.finished: asyncio.Future = asyncio.get_running_loop().create_future()

    def take(self, k: int) -> bool:
        if self.left <= 0:
            return False
        self.left -= k
        return True

    def client_done(self) -> None:
        self.active -= 1
        if self.active == 0 and not self.finished.done():
            self.finished.set_result(None)

    def fail(self, why: str) -> None:
        if not self.finished.done():
            self.finished.set_exception(RuntimeError(why))


async def run_multi(port: int, n: int, pipeline: int, clients: int) -> float:
    loop = asyncio.get_running_loop()
    gen = TxLoad(n, clients)
    conns = []
    t0 = time.perf_counter()
    for i in range(clients):
        payload = b"".join(transaction(i * pipeline + j) for j in range(pipeline))
        conns.append(await loop.create_connection(lambda p=payload: TxClient(gen, p, pipeline),
                                                  "127.0.0.1", port))
    try:
        await gen.finished
    finally:
        for t, _ in conns:
            t.close()
    return gen.done / (time.perf_counter() - t0)


class Sub(asyncio.Protocol):
    def __init__(self, state: dict) -> None:
        self.state = state
        self.confirmed = False
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        if not self.confirmed:  # the subscribe confirmation, then messages only
            self.buf += data
            if b":1\r\n" in self.buf:
                self.confirmed = True
                self.state["ready"] += 1
                data = self.buf[self.buf.index(b":1\r\n") + 4:]
                self.buf = b""
            else:
                return
        # every message is "*3\r\n$7\r\nmessage\r\n...": count the word, no parsing
        self.state["messages"] += data.count(b"\nmessage\r")
        # a message split across two reads would be missed or counted by both halves:
        # the count is a check that messages arrive, not an exact tally


async def run_sub(port: int, subscribers: int, channel: bytes) -> None:
    loop = asyncio.get_running_loop()
    state = {"ready": 0, "messages": 0}
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    conns = []
    for _ in range(subscribers):
        t, _p = await loop.create_connection(lambda: Sub(state), "127.0.0.1", port)
        t.write(request(b"SUBSCRIBE", channel))
        conns.append(t)
    while state["ready"] < subscribers:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await stop
    for t in conns:
        t.close()
    print(f"messages {state['messages']}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("multi", "sub"))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--channel", default="bench:channel")
    args = ap.parse_args()
    run = uvloop.run if uvloop is not None else asyncio.run
    if args.mode == "multi":
        rate = run(run_multi(args.port, args.requests, args.pipeline, args.clients))
        print(f'"MULTI","{rate:.2f}"', flush=True)
    else:
        run(run_sub(args.port, args.subscribers, args.channel.encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
