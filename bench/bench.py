"""Side-by-side benchmark: bocho-server against Debian's real redis-server.

Both servers run at the same time on free loopback ports; rounds alternate between them
so that machine noise (other processes, CPU frequency) hits both alike. Each run is one
redis-benchmark invocation for one test at one pipeline depth, and the server's CPU time
for that run is read from /proc/<pid>/stat, so two figures come out per test:

  ops/s          what redis-benchmark reports (depends on the client and the machine too)
  req/CPU-s      requests divided by the server's own CPU seconds (what the server costs)

The memory figure is RSS growth per key after one million 16-byte string values.

With --types the tests are the data-type ones (LPUSH, LPOP, RPOP, SADD, SPOP, HSET,
ZADD, ZPOPMIN, LRANGE_100, LRANGE_600, XADD, and ZADD/ZRANK/ZRANGE on a 1,000,000-member
sorted set) and the memory figure is RSS per key for small hashes, sets and zsets.

With --issue5 the tests are issue 5's: EVALSHA of a script making three redis.call,
PUBLISH to a channel with 10 subscribers reading (bench/loadgen.py sub, one process per
server; the fan-out is in the server's CPU figure), and MULTI + 5 SET + EXEC per request
(bench/loadgen.py multi: redis-benchmark cannot send a transaction). No memory figure.

With --repl each server kind runs as a master with one replica of its own kind. SET and
GET go to the masters (the figure is the master process's CPU), GET also to the
replicas (`GET@replica`: the replica's CPU), and during each SET run the replica's CPU
is read too, once it has applied everything (`SET@apply`: commands applied per CPU-s
of the replica). No memory figure.

Usage: python bench/bench.py [--quick] [--rounds N] [--seconds S] [--tests set,get]
                             [--pipelines 1,16] [--no-memory] [--bocho-cmd [LABEL=]CMD ...]
                             [--types | --issue5 | --repl]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bocho_binary() -> str:
    venv = ROOT / ".venv" / "bin" / "bocho-server"
    if venv.exists():
        return str(venv)
    found = shutil.which("bocho-server")
    if not found:
        sys.exit("bocho-server not found (run `make install`)")
    return found


class Proc:
    """A server process we started, stopped by its own PID."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: str) -> None:
        self.name = name
        self.port = port
        self.workdir = workdir
        self.helpers: list[subprocess.Popen] = []  # clients of its own (subscribers)
        self.log = open(os.path.join(workdir, f"{name}.log"), "wb")
        self.p = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.p.poll() is not None:
                sys.exit(f"{name} exited at start-up; see {self.log.name}")
            if self.ping():
                break
            if time.monotonic() > deadline:
                self.stop()
                sys.exit(f"{name} did not answer PING within 20 s")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64)[:1] in (b"+", b"$")  # PONG (floor.py: a nil)
        except OSError:
            return False

    def cpu(self) -> float:
        """utime + stime of the server process, in seconds."""
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is state (field 3); utime and stime are fields 14 and 15
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss(self) -> int:
        with open(f"/proc/{self.p.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def command(self, *args: bytes) -> bytes:
        """One command over a raw socket; returns the raw reply (enough for our needs)."""
        req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=300) as s:
            s.sendall(req)
            data = s.recv(65536)
            while not data.endswith(b"\r\n"):
                more = s.recv(65536)
                if not more:
                    break
                data += more
            return data

    def stop(self) -> None:
        for h in self.helpers:
            stop_pid(h)
        self.helpers.clear()
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()


# Data-type tests (--types). A test is redis-benchmark's own `-t name`, or a command line
# of its own (`args`) where -t has none (XADD) or where -t would run something else in
# the same invocation (lrange_N pushes before it ranges, which would be in the CPU
# figure). `fill` makes the data the test reads or pops before each measured run, so a
# pop pops and a range ranges: (function of the server and the run's request count).
class Test:
    def __init__(self, name: str, args: list[str] | None = None, fill=None,
                 keyspace: int = 0, probe: int = 20000, loadgen: str | None = None) -> None:
        self.name = name
        self.args = args if args is not None else ["-t", name]
        self.loadgen = loadgen  # a bench/loadgen.py mode instead of redis-benchmark
        self.fill = fill
        self.keyspace = keyspace  # -r: __rand_int__ ranges over it
        self.probe = probe  # requests of the calibration run (times the pipeline depth)

    def prepare(self, proc: Proc, n: int) -> None:
        if self.fill is not None:
            self.fill(proc, n)


def send_pipelined(proc: Proc, commands, batch: int = 1000) -> int:
    """Send the commands (lists of bytes) in pipelined batches over one socket, reading
    every reply (one line each: the fills only use commands with integer or status
    replies). Returns the number of commands sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", proc.port), timeout=300) as s:
        buf = []
        for cmd in commands:
            buf.append(b"*%d\r\n" % len(cmd)
                       + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in cmd))
            if len(buf) == batch:
                sent += _flush_batch(s, buf)
        if buf:
            sent += _flush_batch(s, buf)
    return sent


def _flush_batch(s: socket.socket, buf: list[bytes]) -> int:
    n = len(buf)
    s.sendall(b"".join(buf))
    buf.clear()
    got = 0
    while got < n:
        data = s.recv(1 << 20)
        if not data:
            raise RuntimeError("server closed the connection during a fill")
        if data[:1] == b"-" or b"\n-" in data:
            raise RuntimeError(f"fill command failed: {data[:200]!r}")
        got += data.count(b"\r\n")
    return n


def _fill_list(proc: Proc, n: int) -> None:
    """`mylist` with n elements (at least 1000, for LRANGE 0 599), as LPUSH's 3-byte
    values."""
    proc.command(b"DEL", b"mylist")
    n = max(n, 1000)
    send_pipelined(proc, ([b"RPUSH", b"mylist", *[b"xxx"] * min(500, n - i)]
                          for i in range(0, n, 500)))


def _fill_set(proc: Proc, n: int) -> None:
    proc.command(b"DEL", b"myset")
    send_pipelined(proc, ([b"SADD", b"myset",
                           *[b"element:%012d" % j for j in range(i, min(n, i + 500))]]
                          for i in range(0, n, 500)))


def _fill_zset(proc: Proc, n: int, key: bytes = b"myzset", member: bytes = b"element") -> None:
    proc.command(b"DEL", key)
    send_pipelined(proc, ([b"ZADD", key, *[x for j in range(i, min(n, i + 500))
                                           for x in (b"%d" % j, b"%s:%012d" % (member, j))]]
                          for i in range(0, n, 500)))


BIG_ZSET = 1_000_000


def _fill_big_zset(proc: Proc, n: int) -> None:
    """`bigzset`: 1,000,000 members member:<12 digits> scored by their number (the form
    __rand_int__ takes with -r), made once per server."""
    if proc.command(b"ZCARD", b"bigzset") != b":%d\r\n" % BIG_ZSET:
        _fill_zset(proc, BIG_ZSET, b"bigzset", b"member")


def _fill_hlls(proc: Proc, n: int) -> None:
    """Three dense HLLs hll1..3 (20,000 elements each), made once per server."""
    if proc.command(b"EXISTS", b"hll1", b"hll2", b"hll3") != b":3\r\n":
        send_pipelined(proc, ([b"PFADD", b"hll%d" % k, *[b"e%d:%d" % (k, j) for j in range(i, i + 500)]]
                              for k in (1, 2, 3) for i in range(0, 20000, 500)))


TYPE_TESTS = {t.name: t for t in [
    Test("lpush"),
    Test("lpop", fill=_fill_list),
    Test("rpop", fill=_fill_list),
    Test("sadd"),
    Test("spop", fill=_fill_set),
    Test("hset"),
    Test("zadd"),
    Test("zpopmin", fill=_fill_zset),
    Test("lrange_100", ["LRANGE", "mylist", "0", "99"], fill=_fill_list),
    Test("lrange_600", ["LRANGE", "mylist", "0", "599"], fill=_fill_list, probe=5000),
    Test("xadd", ["XADD", "mystream", "*", "field", "value"]),
    Test("zadd_1m", ["ZADD", "bigzset", "__rand_int__", "member:__rand_int__"],
         fill=_fill_big_zset, keyspace=BIG_ZSET),
    Test("zrank_1m", ["ZRANK", "bigzset", "member:__rand_int__"], fill=_fill_big_zset,
         keyspace=BIG_ZSET),
    Test("zrange_1m", ["ZRANGE", "bigzset", "__rand_int__", "+inf", "BYSCORE", "LIMIT", "0",
                       "10"], fill=_fill_big_zset, keyspace=BIG_ZSET),
    Test("pfadd", ["PFADD", "hll", "__rand_int__"], keyspace=10_000_000),
    Test("pfcount", ["PFCOUNT", "hll1"], fill=_fill_hlls),
    Test("pfcount_3", ["PFCOUNT", "hll1", "hll2", "hll3"], fill=_fill_hlls, probe=1000),
]}


def stop_pid(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


# Issue 5's tests (--issue5).
SCRIPT = (b"redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 3600) "
          b"return redis.call('GET', KEYS[1])")
SCRIPT_SHA = hashlib.sha1(SCRIPT).hexdigest()
CHANNEL = b"bench:channel"
SUBSCRIBERS = 10
LOADGEN = ROOT / "bench" / "loadgen.py"


def _load_script(proc: Proc, n: int) -> None:
    got = proc.command(b"SCRIPT", b"LOAD", SCRIPT)
    if SCRIPT_SHA.encode() not in got:
        raise RuntimeError(f"SCRIPT LOAD answered {got!r}")


def _subscribers(proc: Proc, n: int) -> None:
    """SUBSCRIBERS connections subscribed to CHANNEL (one reader process per server, kept
    until the server stops); no output limit for them, so that a reader that falls
    behind on this shared machine is not disconnected in the middle of a run."""
    proc.command(b"CONFIG", b"SET", b"client-output-buffer-limit", b"pubsub 0 0 0")
    if proc.helpers and proc.helpers[0].poll() is None:
        return
    sub = subprocess.Popen([sys.executable, str(LOADGEN), "sub", "--port", str(proc.port),
                            "--subscribers", str(SUBSCRIBERS), "--channel", CHANNEL.decode()],
                           stdout=subprocess.PIPE, text=True)
    proc.helpers.append(sub)
    if sub.stdout.readline().strip() != "ready":
        raise RuntimeError("the subscribers did not start")
    if proc.command(b"PUBSUB", b"NUMSUB", CHANNEL) != (
            b"*2\r\n$%d\r\n%s\r\n:%d\r\n" % (len(CHANNEL), CHANNEL, SUBSCRIBERS)):
        raise RuntimeError("PUBSUB NUMSUB does not count the subscribers")


ISSUE5_TESTS = {t.name: t for t in [
    Test("evalsha", ["EVALSHA", SCRIPT_SHA, "1", "counter:__rand_int__"], fill=_load_script,
         keyspace=100_000),
    Test("publish", ["PUBLISH", CHANNEL.decode(), "hello-world"], fill=_subscribers),
    Test("multi", [], loadgen="multi", probe=5000),
]}


def as_test(test) -> Test:
    if isinstance(test, Test):
        return test
    return TYPE_TESTS.get(test) or ISSUE5_TESTS.get(test) or Test(test)


def run_benchmark(proc: Proc, test, pipeline: int, n: int, clients: int) -> tuple[float, float]:
    """(ops/s, server CPU seconds) of one redis-benchmark run (after the test's fill)."""
    test = as_test(test)
    test.prepare(proc, n)
    if test.loadgen:
        argv = [sys.executable, str(LOADGEN), test.loadgen, "--port", str(proc.port),
                "--clients", str(clients), "--requests", str(n), "--pipeline", str(pipeline)]
    else:
        argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(proc.port), "-c",
                str(clients), "-n", str(n), "-P", str(pipeline), "--csv"]
        if test.keyspace:
            argv += ["-r", str(test.keyspace)]
        argv += test.args
    c0 = proc.cpu()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    c1 = proc.cpu()
    rps = None
    for line in out.stdout.splitlines():
        parts = [p.strip('"') for p in line.split(",")]
        if len(parts) >= 2 and parts[0] != "test":
            try:
                rps = float(parts[1])
            except ValueError:
                continue
    if rps is None:
        raise RuntimeError(f"redis-benchmark gave no result: {out.stdout!r} {out.stderr!r}")
    return rps, c1 - c0


def calibrate(procs: list[Proc], test: str, pipeline: int, seconds: float, clients: int) -> int:
    """A request count that takes about `seconds` on the mean of the servers' rates."""
    rates = []
    for proc in procs:
        if proc.name == "floor":  # sized by the real servers
            continue
        probe = as_test(test).probe * pipeline
        rps, _ = run_benchmark(proc, test, pipeline, probe, clients)
        rates.append(rps)
    # at most ~3x the target on the slower server (a test where one server is many
    # times slower would otherwise run for minutes there)
    n = int(min(statistics.mean(rates), 3 * min(rates)) * seconds)
    step = 10000
    return max(step, n // step * step)


def populate(proc: Proc, count: int, size: int) -> str:
    """Fill with `count` keys key:N -> 'value:N' padded with NUL to `size` bytes."""
    r = proc.command(b"DEBUG", b"POPULATE", b"%d" % count, b"key", b"%d" % size)
    if r.startswith(b"+OK"):
        return "DEBUG POPULATE"
    import redis  # redis-py (test extra)

    cli = redis.Redis(host="127.0.0.1", port=proc.port)
    # MSET when the server has it, else SET: the same keys and values either way
    use_mset = proc.command(b"MSET", b"bench:probe", b"x").startswith(b"+OK")
    proc.command(b"DEL", b"bench:probe")
    batch = 1000
    pipe = cli.pipeline(transaction=False)
    for start in range(0, count, batch):
        kv = {}
        for j in range(start, min(count, start + batch)):
            v = b"value:%d" % j
            kv[b"key:%d" % j] = (v + b"\0" * size)[:size] if size else v
        if use_mset:
            pipe.mset(kv)
        else:
            for k, v in kv.items():
                pipe.set(k, v)
        if len(pipe) >= 20 * (1 if use_mset else batch):
            pipe.execute()
    pipe.execute()
    cli.close()
    return "pipelined MSET" if use_mset else "pipelined SET"


def memory_figure(procs: list[Proc], count: int, size: int) -> dict[str, float]:
    out = {}
    for proc in procs:
        proc.command(b"FLUSHALL")
        before = proc.rss()
        how = populate(proc, count, size)
        dbsize = proc.command(b"DBSIZE")
        after = proc.rss()
        out[proc.name] = (after - before) / count
        print(f"  {proc.name}: {how}, DBSIZE {dbsize.strip().decode()}, "
              f"RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB", flush=True)
        proc.command(b"FLUSHALL")
    return out


TYPE_FIELDS = 10
PLURAL = {"hash": "hashes", "set": "sets", "zset": "zsets"}


def type_commands(kind: str, count: int):
    """`count` keys of one type with TYPE_FIELDS small fields/members each."""
    for i in range(count):
        key = b"%s:%d" % (kind.encode(), i)
        if kind == "hash":
            yield [b"HSET", key, *[x for f in range(TYPE_FIELDS) for x in (b"f%d" % f, b"%d" % i)]]
        elif kind == "set":
            yield [b"SADD", key, *[b"m%d" % f for f in range(TYPE_FIELDS)]]
        else:
            yield [b"ZADD", key, *[x for f in range(TYPE_FIELDS) for x in (b"%d" % f, b"m%d" % f)]]


def type_memory_figure(procs: list[Proc], count: int, work: str) -> dict[str, dict[str, float]]:
    """RSS growth per key for `count` small hashes, sets and zsets (10 fields each), each
    type in a fresh server of each kind (memory freed by a FLUSHALL stays in the process
    and would be reused by the next type, hiding its cost)."""
    out: dict[str, dict[str, float]] = {}
    for kind in ("hash", "set", "zset"):
        for proc in procs:
            port = free_port()
            argv = list(proc.p.args)
            argv[argv.index("--port") + 1] = str(port)
            fresh = Proc(f"{proc.name}-{kind}", argv, port, work)
            try:
                before = fresh.rss()
                send_pipelined(fresh, type_commands(kind, count))
                dbsize = fresh.command(b"DBSIZE")
                after = fresh.rss()
            finally:
                fresh.stop()
            out.setdefault(kind, {})[proc.name] = (after - before) / count
            print(f"  {proc.name}: {count} {PLURAL[kind]} of {TYPE_FIELDS}, DBSIZE "
                  f"{dbsize.strip().decode()}, RSS {before / 2**20:.1f} -> "
                  f"{after / 2**20:.1f} MiB", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one round, ~1 s runs, 200k keys")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None, help="target seconds per run")
    ap.add_argument("--tests", default=None,
                    help="default set,get,incr,mset (with --types: every type test)")
    ap.add_argument("--types", action="store_true",
                    help="the data-type tests instead (" + ",".join(TYPE_TESTS) + ") and "
                    "RSS per key for small hashes/sets/zsets of 10 fields")
    ap.add_argument("--issue5", action="store_true",
                    help="issue 5's tests instead (" + ",".join(ISSUE5_TESTS) + "): EVALSHA "
                    "of a 3-command script, PUBLISH to 10 subscribers, MULTI + 5 SET + EXEC")
    ap.add_argument("--repl", action="store_true",
                    help="each server as a master with one replica of its kind: SET/GET on "
                    "the masters (and the replica's cost of applying SET), GET on the replicas")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--keys", type=int, default=None, help="keys for the memory figure")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--only", choices=("bocho", "redis"), help="benchmark one server only")
    ap.add_argument("--floor", action="store_true",
                    help="also run bench/floor.py (uvloop answering without parsing): "
                    "the event loop's own cost per request")
    ap.add_argument("--bocho-cmd", action="append",
                    help="command that starts bocho (default: bocho-server), e.g. to compare "
                    "builds: 'env PYTHONPATH=/tmp/x python -m bocho'; repeat it as "
                    "LABEL=CMD to run several in the same rounds (e.g. pure='env "
                    "BOCHO_PURE=1 bocho-server' compiled='bocho-server')")
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    keys = args.keys or (200_000 if args.quick else 1_000_000)
    default_tests = (",".join(TYPE_TESTS) if args.types else ",".join(ISSUE5_TESTS)
                     if args.issue5 else "set,get" if args.repl else "set,get,incr,mset")
    tests = [t.strip() for t in (args.tests or default_tests).split(",") if t.strip()]
    pipelines = [int(p) for p in args.pipelines.split(",")]
    if not shutil.which("redis-benchmark") or not shutil.which("redis-server"):
        sys.exit("redis-server and redis-benchmark are needed (apt install redis-server redis-tools)")

    common = ["--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
              "--bind", "127.0.0.1"]
    procs: list[Proc] = []
    if args.repl:
        return repl_main(args, tests, pipelines, rounds, seconds, common)
    with tempfile.TemporaryDirectory(prefix="bocho-bench-") as work:
        try:
            if args.only != "redis":
                for name, start in bocho_commands(args.bocho_cmd):
                    port = free_port()
                    procs.append(Proc(name, [*start, "--port", str(port), *common], port, work))
            if args.only != "bocho":
                port = free_port()
                procs.append(Proc("redis", ["redis-server", "--port", str(port), *common],
                                  port, work))
            if args.floor:
                port = free_port()
                procs.append(Proc("floor", [sys.executable, str(ROOT / "bench" / "floor.py"),
                                            "--port", str(port)], port, work))
            results = bench_all(procs, tests, pipelines, rounds, seconds, args.clients)
            servers = [p for p in procs if p.name != "floor"]
            mem = {}
            if args.no_memory or args.issue5:
                pass
            elif args.types:
                mem = type_memory_figure(servers, keys, work)
            else:
                mem = memory_figure(servers, keys, 16)
        finally:
            for proc in procs:
                proc.stop()
    report(results, mem, [p.name for p in procs], keys)
    if args.floor:
        print("(floor: bench/floor.py, uvloop answering every request without parsing it)")
    return 0


def bocho_commands(given: list[str] | None) -> list[tuple[str, list[str]]]:
    """(label, argv) of each bocho to run: "bocho" for one, LABEL=CMD labels for more."""
    if not given:
        return [("bocho", [bocho_binary()])]
    out = []
    for i, spec in enumerate(given):
        m = re.match(r"([A-Za-z][\w-]*)=(.*)", spec)
        if m:
            out.append((m.group(1), shlex.split(m.group(2))))
        else:
            out.append(("bocho" if len(given) == 1 else f"bocho{i + 1}", shlex.split(spec)))
    return out


def info_field(proc: Proc, section: bytes, field: bytes) -> bytes | None:
    for line in proc.command(b"INFO", section).split(b"\r\n"):
        if line.startswith(field + b":"):
            return line.split(b":", 1)[1]
    return None


def wait_synced(master: Proc, replica: Proc, timeout: float = 120) -> None:
    """Until the replica's link is up and it has applied the master's whole stream."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if info_field(replica, b"replication", b"master_link_status") == b"up":
            want = info_field(master, b"replication", b"master_repl_offset")
            if want == info_field(replica, b"replication", b"slave_repl_offset"):
                return
        time.sleep(0.02)
    raise RuntimeError(f"{replica.name} did not catch up with {master.name}")


def repl_main(args, tests, pipelines, rounds, seconds, common) -> int:
    """--repl: see the module docstring."""
    pairs: list[tuple[Proc, Proc]] = []
    with tempfile.TemporaryDirectory(prefix="bocho-bench-") as work:
        try:
            starts = []
            if args.only != "redis":
                starts += bocho_commands(args.bocho_cmd)
            if args.only != "bocho":
                starts.append(("redis", ["redis-server"]))
            for name, start in starts:
                mport, rport = free_port(), free_port()
                master = Proc(name, [*start, "--port", str(mport), *common], mport, work)
                replica = Proc(f"{name}-replica", [
                    *start, "--port", str(rport), *common, "--replicaof", "127.0.0.1",
                    str(mport)], rport, work)
                replica.name = name  # the same column as its master in the report
                pairs.append((master, replica))
                wait_synced(master, replica)
            results = bench_repl(pairs, tests, pipelines, rounds, seconds, args.clients)
        finally:
            for master, replica in pairs:
                replica.stop()
                master.stop()
    report(results, {}, [m.name for m, _ in pairs], 0)
    print("(SET/GET: the master's CPU with one replica attached; SET@apply: the replica's "
          "CPU applying that SET load; GET@replica: GET served by the replica)")
    return 0


def bench_repl(pairs, tests, pipelines, rounds, seconds, clients):
    """bench_all for master+replica pairs: {(label, P): {server: [(ops/s, req/cpu-s)]}}."""
    results: dict = {}
    sizes = {}
    masters = [m for m, _ in pairs]
    replicas = [r for _, r in pairs]
    for p in pipelines:
        for t in tests:
            sizes[(t, p, False)] = calibrate(masters, t, p, seconds, clients)
            if t == "get":
                sizes[(t, p, True)] = calibrate(replicas, t, p, seconds, clients)
    for (t, p, on_replica) in sizes:
        label = f"{t}@replica" if on_replica else t
        results[(label, p)] = {m.name: [] for m in masters}
        if t == "set":
            results[(f"{t}@apply", p)] = {m.name: [] for m in masters}
    for rnd in range(rounds):
        order = pairs if rnd % 2 == 0 else pairs[::-1]
        for (t, p, on_replica), n in sizes.items():
            for master, replica in order:
                wait_synced(master, replica)
                target = replica if on_replica else master
                r0 = replica.cpu()
                rps, cpu = run_benchmark(target, t, p, n, clients)
                per_cpu = n / cpu if cpu > 0 else float("inf")
                label = f"{t}@replica" if on_replica else t
                results[(label, p)][master.name].append((rps, per_cpu))
                line = (f"  round {rnd + 1}/{rounds} {label.upper():11} -P {p:<2} "
                        f"{master.name:5} n={n:<8} {rps:>10.0f} ops/s  cpu {cpu:6.2f} s  "
                        f"{per_cpu:>10.0f} req/cpu-s")
                if t == "set" and not on_replica:
                    wait_synced(master, replica)
                    rcpu = replica.cpu() - r0
                    applied = n / rcpu if rcpu > 0 else float("inf")
                    results[(f"{t}@apply", p)][master.name].append((rps, applied))
                    line += f"  replica cpu {rcpu:6.2f} s {applied:>10.0f} applied/cpu-s"
                print(line, flush=True)
    return results


def bench_all(procs, tests, pipelines, rounds, seconds, clients):
    """{(test, P): {server: [(ops/s, req/cpu-s), ...]}}"""
    results: dict = {}
    sizes = {}
    for p in pipelines:
        for t in tests:
            try:
                sizes[(t, p)] = calibrate(procs, t, p, seconds, clients)
            except RuntimeError as e:
                err = [ln for ln in str(e).splitlines() if "rror" in ln] or [str(e)]
                print(f"  skipping {t.upper()} -P {p}: {err[-1].strip()[:160]}", flush=True)
                continue
            results[(t, p)] = {proc.name: [] for proc in procs}
    for rnd in range(rounds):
        order = procs if rnd % 2 == 0 else procs[::-1]
        for (t, p), n in sizes.items():
            for proc in order:
                rps, cpu = run_benchmark(proc, t, p, n, clients)
                per_cpu = n / cpu if cpu > 0 else float("inf")
                results[(t, p)][proc.name].append((rps, per_cpu))
                print(f"  round {rnd + 1}/{rounds} {t.upper():5} -P {p:<2} {proc.name:5} "
                      f"n={n:<8} {rps:>10.0f} ops/s  cpu {cpu:6.2f} s  "
                      f"{per_cpu:>10.0f} req/cpu-s", flush=True)
    return results


def report(results, mem, names, keys) -> None:
    """Per test the median ops/s and req/CPU-s of every server; each bocho's ratio to
    redis-server beside its figures."""
    ref = "redis" if "redis" in names else None
    rated = [n for n in names if ref and n not in (ref, "floor")]
    print()
    width = {(name, k): max(12 + 4 * k, len(name) + 8 + 4 * k) for name in names for k in (0, 1)}
    hdr = f"{'test':<15}"
    for k, unit in ((0, " ops/s"), (1, " req/cpu-s")):
        for name in names:
            hdr += f"{name + unit:>{width[name, k]}}" + (f"{'ratio':>7}" if name in rated else "")
    print(hdr)
    print("-" * len(hdr))
    for (t, p), per in results.items():
        med = {name: (statistics.median(r[0] for r in per[name]),
                      statistics.median(r[1] for r in per[name])) for name in names}
        line = f"{t.upper() + ' -P' + str(p):<15}"
        for k in (0, 1):
            for name in names:
                line += f"{med[name][k]:>{width[name, k]}.0f}"
                if name in rated:
                    line += f"{med[name][k] / med[ref][k]:>7.2f}"
        print(line)
    if mem:
        print()
        # {server: bytes} for strings; {kind: {server: bytes}} for --types
        figures = mem if isinstance(next(iter(mem.values())), dict) else {None: mem}
        for kind, per in figures.items():
            what = (f"{keys} keys, 16-byte values" if kind is None
                    else f"{keys} {PLURAL[kind]} of {TYPE_FIELDS} fields")
            line = f"RSS per key ({what}):"
            for name in per:
                line += f"  {name} {per[name]:.0f} B"
                if name in rated and per[ref] > 0:
                    line += f" (ratio {per[name] / per[ref]:.2f})"
            print(line)


if __name__ == "__main__":
    sys.exit(main())
