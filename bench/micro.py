"""No-socket micro benchmark of the request path: one Server and a few Clients with a
fake transport, fed redis-benchmark's requests through data_received, the replies
flushed as the event loop would (Server.flush_pending). Prints ns per request for each
test at -P 1 (one request per read) and -P 16 (sixteen per read).

Usage: PYTHONPATH=<tree> python bench/micro.py [--tests set,get,incr,mset]
       [--pipelines 1,16] [--seconds S] [--profile]   (BOCHO_PURE=1 for the Python path)

Absolute figures depend on the machine; compare builds in the same minute."""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import sys
import time
from pathlib import Path


class FakeTransport:
    def __init__(self) -> None:
        self.nbytes = 0

    def write(self, data: bytes) -> None:
        self.nbytes += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default=None):
        if name in ("peername", "sockname"):
            return ("127.0.0.1", 6379)
        return default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class FakeLoop:
    """call_soon runs nothing: flush_pending is called by the benchmark itself."""

    def call_soon(self, fn, *args):
        return None


BIG = int(os.environ.get("MICRO_BIG_ZSET", 1_000_000))  # instr.sh: fewer


def fill_big_zset(client, flush) -> None:
    for i in range(0, BIG, 1000):
        client.data_received(request(b"ZADD", b"bigzset", *[
            x for j in range(i, i + 1000) for x in (b"%d" % j, b"member:%012d" % j)]))
        flush()


def request(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def make_requests(test: str) -> list[bytes]:
    """Eight different requests per test, as redis-benchmark's random-free defaults."""
    v = b"x" * 3
    if test == "set":
        return [request(b"SET", b"key:__rand_int__", v)]
    if test == "get":
        return [request(b"GET", b"key:__rand_int__")]
    if test == "incr":
        return [request(b"INCR", b"counter:__rand_int__")]
    if test == "mset":
        return [request(b"MSET", *[x for i in range(10) for x in (b"key:__rand_int__", v)])]
    if test == "ping":
        return [request(b"PING")]
    # the 1,000,000-member sorted set of bench.py --types (made by fill_big_zset)
    rng = random.Random(0)
    if test == "zrange_1m":
        return [request(b"ZRANGE", b"bigzset", b"%d" % rng.randrange(BIG), b"+inf",
                        b"BYSCORE", b"LIMIT", b"0", b"10") for _ in range(256)]
    if test == "zrank_1m":
        return [request(b"ZRANK", b"bigzset", b"member:%012d" % rng.randrange(BIG))
                for _ in range(256)]
    if test == "zadd_1m":  # a new score for a member (redis-benchmark draws each apart)
        return [request(b"ZADD", b"bigzset", b"%d" % rng.randrange(BIG),
                        b"member:%012d" % rng.randrange(BIG)) for _ in range(256)]
    if test == "zadd":
        return [request(b"ZADD", b"myzset", b"%d" % rng.randrange(BIG), b"element:__rand_int__")]
    if test == "xadd":
        return [request(b"XADD", b"mystream", b"*", b"field", b"value")]
    if test == "evalsha":  # bench.py's script (loaded by setup())
        from bench import SCRIPT_SHA
        return [request(b"EVALSHA", SCRIPT_SHA.encode(), b"1", b"counter:__rand_int__")]
    if test == "publish":
        return [request(b"PUBLISH", b"bench:channel", b"hello-world")]
    if test == "multi":  # one request is a whole transaction
        return [request(b"MULTI") + request(b"SET", b"tx:1", v) * 5 + request(b"EXEC")]
    raise SystemExit(f"unknown test {test}")


def setup(test: str, srv, clients: list) -> None:
    """What a test needs before it runs: EVALSHA's script loaded, PUBLISH's 10
    subscribers (clients of their own, with a fake transport)."""
    from bocho.network import Client
    if test == "evalsha":
        from bench import SCRIPT
        clients[0].data_received(request(b"SCRIPT", b"LOAD", SCRIPT))
    elif test == "publish" and not getattr(srv, "_bench_subs", None):
        srv._bench_subs = []
        for _ in range(10):
            s = Client(srv)
            s.connection_made(FakeTransport())
            s.data_received(request(b"SUBSCRIBE", b"bench:channel"))
            srv._bench_subs.append(s)
    srv.flush_pending()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", default="set,get,incr,mset")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--loops", type=int, default=0,
                    help="fixed iterations, no calibration (for valgrind: see instr.sh)")
    args = ap.parse_args()

    from bocho.commands import load_all
    from bocho.config import Config
    from bocho.network import Client
    from bocho.server import Server

    load_all()
    srv = Server(Config())
    srv.loop = FakeLoop()  # type: ignore[assignment]
    clients = []
    for _ in range(args.clients):
        c = Client(srv)
        c.connection_made(FakeTransport())
        clients.append(c)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bocho.network as net
    print(f"fast path: {getattr(net, 'FASTPATH', 'python')}", flush=True)
    # the GET test reads what SET stored
    for c in clients:
        c.data_received(request(b"SET", b"key:__rand_int__", b"xxx"))
    srv.flush_pending()
    assert all(not c.closing for c in clients) and clients[0].transport.nbytes == 5
    gc.freeze()  # as the server does once started (Server.serve)
    prof = cProfile.Profile() if args.profile else None
    big_made = False
    for p in (int(x) for x in args.pipelines.split(",")):
        for test in args.tests.split(","):
            setup(test, srv, clients)
            reqs = make_requests(test)
            flush = srv.flush_pending
            if test.endswith("_1m") and not big_made:
                fill_big_zset(clients[0], flush)
                big_made = True
            # batches of p requests, taken in turn from the test's requests
            batches = [b"".join(reqs[(i * p + k) % len(reqs)] for k in range(p))
                       for i in range(max(1, len(reqs) // p))]
            nb = len(batches)
            # calibrate
            n = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.1 and not args.loops:
                for c in clients:
                    c.data_received(batches[n % nb])
                flush()
                n += 1
            loops = args.loops or max(1, int(n * args.seconds / 0.1))
            if prof:
                prof.enable()
            t0 = time.perf_counter_ns()
            for i in range(loops):
                data = batches[i % nb]
                for c in clients:
                    c.data_received(data)
                flush()
            dt = time.perf_counter_ns() - t0
            if prof:
                prof.disable()
            per = dt / (loops * len(clients) * p)
            print(f"{test.upper():5} -P {p:<2} {per:8.0f} ns/request", flush=True)
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
