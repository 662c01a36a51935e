"""RDB benchmark: bocho next to the real redis-server on the same 1,000,000 mixed keys.

Both servers get the same commands (pipelined over one socket each), then each step runs
on one server right after the other (a shared machine's load hits both alike):

  SAVE         wall time of the SAVE command, and the size of the dump it wrote
  BGSAVE       wall time from BGSAVE to rdb_bgsave_in_progress:0, and the child's private
               dirty memory (Private_Dirty of /proc/<child>/smaps_rollup, sampled every
               100 ms until the child exits: the last sample is the end of the save; each
               read walks the child's page tables, so sampling more often slows the save
               of both servers) next
               to the parent's RSS growth from the fill (the dataset's RSS); also
               rdb_last_cow_size when INFO has it
  load         the server restarted on its dump: time from exec to the first PING
               answered (not -LOADING), minus the same for an empty start (the process's
               own start-up), and the "DB loaded from disk: S seconds" log line if any

and prints bocho/redis ratios. No writes happen during the BGSAVE.

Where bocho has no SAVE yet (before the snapshot work lands), or with --inproc, bocho's
side runs in this process instead: the same commands fed to an in-process Server through
fake clients, then rdb.save to a file (SAVE), a fork whose child runs rdb.save and reads
its own /proc/self/smaps_rollup at the end (BGSAVE: gc.freeze() before the fork,
gc.disable() in the child, as the server does), and rdb.load of the file into a fresh
Server (load). In-process, both the compiled keyspace walk (bocho/_rdbfast.pyx) and the
pure-Python loop are measured.

The mix (per 1,000 keys; --keys scales it):
  300 integer strings (counters: 1-3 digits, up to 2^31, a tenth beyond 32 bits)
  350 short strings (8-40 bytes, `user:<n>:` + letters)
  150 medium strings (50-500 bytes of words: LZF-compressible)
   50 1-4 KB JSON-like strings, 1 string of 8-32 KB per 2,000 keys (else a short one)
   59 small hashes (5-10 fields: listpack)
   20 small integer sets (5-20 members: intset), 20 small sets of words (hashtable)
   30 small sorted sets (5-20 members: listpack), 15 small lists (5-20 elements)
    5 bigger ones in turn: a hash of 200 fields, a set of 600 members, a sorted set of
      200, a list of 300 elements (hashtable / skiplist / quicklist encodings)
  one stream of 1,000 entries (explicit IDs) per 100,000 keys (in place of a string)
  a TTL (PEXPIREAT, days ahead) on every tenth key.

Usage: python bench/rdb.py [--keys N] [--inproc] [--only bocho|redis]
                           [--bocho-cmd CMD] [--no-pure] [--strings-only]
Keep it to one run on a shared machine: 1M keys take a minute or two per server."""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hiredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench import PAGE, free_port  # noqa: E402

WORDS = (b"alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         b"november oscar papa quebec romeo sierra tango uniform victor whiskey xray "
         b"yankee zulu redis bocho value data cache store").split()
LETTERS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def dataset(n: int, seed: int = 6, strings_only: bool = False, base_ms: int = 0):
    """The commands (lists of bytes) that build the benchmark's n keys."""
    rnd = random.Random(seed)
    base_ms = base_ms or (int(time.time()) + 86400) * 1000

    def words(k: int) -> bytes:
        return b" ".join(rnd.choice(WORDS) for _ in range(k))

    def letters(k: int) -> bytes:
        return bytes(rnd.choice(LETTERS) for _ in range(k))

    for i in range(n):
        key = b"k:%d" % i
        slot = i % 1000
        if strings_only and slot >= 851:
            slot = i % 851
        if i % 100_000 == 99_999 and not strings_only:
            for e in range(1000):
                yield [b"XADD", key, b"1700000000000-%d" % (e + 1), b"sensor",
                       b"%d" % rnd.randrange(1000), b"where", words(2)]
        elif slot < 300:
            r = rnd.random()
            v = (rnd.randrange(1000) if r < 0.5 else rnd.randrange(-2**31, 2**31) if r < 0.9
                 else rnd.randrange(2**40, 2**62))
            yield [b"SET", key, b"%d" % v]
        elif slot < 650:
            yield [b"SET", key, b"user:%d:" % i + letters(rnd.randrange(0, 32))]
        elif slot < 800:
            yield [b"SET", key, words(rnd.randrange(8, 80))[:500]]
        elif slot < 850:
            fields = b",".join(b'"%s":"%s"' % (rnd.choice(WORDS), words(rnd.randrange(2, 8)))
                               for _ in range(rnd.randrange(15, 60)))
            yield [b"SET", key, b"{" + fields + b"}"]
        elif slot == 850:
            if i % 2000 == 850:
                yield [b"SET", key, words(rnd.randrange(1300, 5300)) + letters(200)]
            else:
                yield [b"SET", key, letters(16)]
        elif slot < 910:
            yield [b"HSET", key, *[x for f in range(rnd.randrange(5, 11))
                                   for x in (b"field%d" % f, words(rnd.randrange(1, 4)))]]
        elif slot < 930:
            yield [b"SADD", key, *[b"%d" % rnd.randrange(100000) for _ in range(rnd.randrange(5, 21))]]
        elif slot < 950:
            yield [b"SADD", key, *[rnd.choice(WORDS) + b"%d" % m for m in range(rnd.randrange(5, 21))]]
        elif slot < 980:
            yield [b"ZADD", key, *[x for m in range(rnd.randrange(5, 21))
                                   for x in (b"%d" % rnd.randrange(1000) if m % 2 else
                                             b"%.3f" % rnd.random(), b"member%d" % m)]]
        elif slot < 995:
            yield [b"RPUSH", key, *[words(rnd.randrange(1, 3)) for _ in range(rnd.randrange(5, 21))]]
        else:
            kind = (i // 1000) % 4
            if kind == 0:
                yield [b"HSET", key, *[x for f in range(200) for x in (b"f%d" % f, words(2))]]
            elif kind == 1:
                yield [b"SADD", key, *[b"m%d" % m for m in range(600)]]
            elif kind == 2:
                yield [b"ZADD", key, *[x for m in range(200)
                                       for x in (b"%d" % rnd.randrange(10**6), b"m%d" % m)]]
            else:
                yield [b"RPUSH", key, *[words(2) for _ in range(300)]]
        if i % 10 == 3:
            yield [b"PEXPIREAT", key, b"%d" % (base_ms + rnd.randrange(864_000_000))]


def encode(cmd: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(cmd) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in cmd)


def batches(commands, size: int = 2000):
    """Lists of `size` encoded commands."""
    buf = []
    for cmd in commands:
        buf.append(encode(cmd))
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


# -- a server process ------------------------------------------------------------------------

class Server:
    """A server process (bocho or redis-server) in its own directory, stopped by PID."""

    def __init__(self, name: str, argv: list[str], workdir: str) -> None:
        self.name = name
        self.argv = argv
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.p: subprocess.Popen | None = None
        self.port = 0
        self.started = 0.0  # seconds from exec to the first PONG

    def start(self) -> Server:
        self.port = free_port()
        self.logpath = os.path.join(self.dir, "log.txt")
        log = open(self.logpath, "ab")
        t0 = time.perf_counter()
        self.p = subprocess.Popen([*self.argv, "--port", str(self.port), "--dir", self.dir,
                                   "--dbfilename", "dump.rdb", "--save", "",
                                   "--appendonly", "no", "--bind", "127.0.0.1"],
                                  cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 600
        while not self.pong():
            if self.p.poll() is not None:
                sys.exit(f"{self.name} exited at start-up; see {self.logpath}")
            if time.monotonic() > deadline:
                self.stop()
                sys.exit(f"{self.name} did not answer PING in time")
            time.sleep(0.005)
        self.started = time.perf_counter() - t0
        return self

    def pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: bytes, timeout: float = 600):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(encode(list(args)))
            reader = hiredis.Reader()
            while True:
                data = s.recv(1 << 16)
                if not data:
                    raise RuntimeError(f"{self.name} closed the connection")
                reader.feed(data)
                r = reader.gets()
                if r is not False:
                    return r

    def info(self, section: bytes = b"persistence") -> dict[str, str]:
        text = self.command(b"INFO", section).decode()
        return dict(ln.split(":", 1) for ln in text.splitlines() if ":" in ln)

    def fill(self, commands) -> int:
        """Send the commands pipelined, 2,000 a write, reading every reply."""
        sent = 0
        with socket.create_connection(("127.0.0.1", self.port), timeout=600) as s:
            reader = hiredis.Reader()
            for buf in batches(commands):
                s.sendall(b"".join(buf))
                got = 0
                while got < len(buf):
                    reader.feed(s.recv(1 << 20))
                    while (r := reader.gets()) is not False:
                        if isinstance(r, hiredis.ReplyError):
                            raise RuntimeError(f"{self.name}: {r}")
                        got += 1
                sent += len(buf)
        return sent

    def rss(self) -> int:
        with open(f"/proc/{self.p.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def child_pid(self) -> int | None:
        try:
            with open(f"/proc/{self.p.pid}/task/{self.p.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()

    def loaded_line(self) -> float | None:
        with open(self.logpath, "rb") as f:
            found = re.findall(rb"DB loaded from disk: ([0-9.]+) seconds", f.read())
        return float(found[-1]) if found else None


def private_dirty(pid: int | str) -> int | None:
    """Private_Dirty of a process (bytes), None once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"Private_Dirty:\s+(\d+) kB", text)
    return int(m.group(1)) * 1024 if m else None


def fill_server(srv: Server, commands, results: dict) -> None:
    rss0 = srv.rss()
    t0 = time.perf_counter()
    srv.fill(commands)
    fill_s = time.perf_counter() - t0
    rss1 = srv.rss()
    res = results.setdefault(srv.name, {})
    res["keys"] = srv.command(b"DBSIZE")
    res["fill s"] = fill_s
    res["dataset RSS MiB"] = (rss1 - rss0) / 2**20
    res["RSS MiB"] = rss1 / 2**20
    print(f"  {srv.name}: filled {res['keys']} keys in {fill_s:.1f} s, RSS "
          f"{rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MiB", flush=True)


def measure_save(srv: Server, res: dict) -> bool:
    """SAVE's time and the dump's size; False when the server has no SAVE (bocho before
    the snapshot work: the caller measures it in-process instead)."""
    t0 = time.perf_counter()
    r = srv.command(b"SAVE")
    if isinstance(r, hiredis.ReplyError):
        print(f"  {srv.name}: SAVE -> {r}", flush=True)
        return False
    res["SAVE s"] = time.perf_counter() - t0
    res["dump MiB"] = os.path.getsize(os.path.join(srv.dir, "dump.rdb")) / 2**20
    print(f"  {srv.name}: SAVE {res['SAVE s']:.2f} s, {res['dump MiB']:.1f} MiB", flush=True)
    return True


def measure_restart(srv: Server, res: dict) -> None:
    """Restart on the dump, then on nothing (the process's own start-up)."""
    srv.stop()
    srv.start()
    with_dump = srv.started
    keys = srv.command(b"DBSIZE")
    loaded = srv.loaded_line()
    srv.stop()
    os.rename(os.path.join(srv.dir, "dump.rdb"), os.path.join(srv.dir, "saved.rdb"))
    srv.start()
    empty = srv.started
    srv.stop()
    res["load s"] = with_dump - empty
    res["start-up s (with dump)"] = with_dump
    if loaded is not None:
        res["log: DB loaded s"] = loaded
    print(f"  {srv.name}: restart {with_dump:.2f} s with the dump ({keys} keys), "
          f"{empty:.2f} s without; log says {loaded}", flush=True)


def measure_servers(servers: list[Server], commands, results: dict) -> list[Server]:
    """Fill every server, then each step (SAVE, BGSAVE, restart) on one server after
    the other, so that the load of a shared machine hits them alike. Returns the
    servers that had no SAVE."""
    for srv in servers:
        fill_server(srv, commands(), results)
    missing = [srv for srv in servers if not measure_save(srv, results[srv.name])]
    ok = [srv for srv in servers if srv not in missing]
    for srv in ok:
        measure_bgsave(srv, results[srv.name])
    for srv in ok:
        measure_restart(srv, results[srv.name])
    for srv in missing:
        srv.stop()
        results.pop(srv.name)
    return missing


def measure_bgsave(srv: Server, res: dict) -> None:
    t0 = time.perf_counter()
    r = srv.command(b"BGSAVE")
    if isinstance(r, hiredis.ReplyError):
        print(f"  {srv.name}: BGSAVE -> {r}", flush=True)
        return
    child = None
    last = peak = 0
    while True:
        if child is None:
            child = srv.child_pid()
        if child is not None:
            pd = private_dirty(child)
            if pd is None:  # exited (or a zombie): the save is over
                if last:
                    break
                child = None
            else:
                last, peak = pd, max(peak, pd)
        if srv.info().get("rdb_bgsave_in_progress", "0").strip() == "0" and (
                child is None or private_dirty(child) is None):
            break
        time.sleep(0.1)
    while srv.info().get("rdb_bgsave_in_progress", "0").strip() != "0":
        time.sleep(0.01)
    res["BGSAVE s"] = time.perf_counter() - t0
    info = srv.info()
    res["child private MiB"] = last / 2**20
    cow = info.get("rdb_last_cow_size")
    if cow is not None:
        res["rdb_last_cow_size MiB"] = int(cow) / 2**20
    res["child private % of dataset RSS"] = 100 * last / 2**20 / res["dataset RSS MiB"]
    print(f"  {srv.name}: BGSAVE {res['BGSAVE s']:.2f} s, child private dirty "
          f"{last / 2**20:.1f} MiB at the end (peak {peak / 2**20:.1f}), "
          f"rdb_last_cow_size {cow}, status {info.get('rdb_last_bgsave_status')}", flush=True)


# -- bocho in this process -------------------------------------------------------------------

def inproc_server():
    """An empty in-process bocho Server and a client of it on a fake transport."""
    from micro import FakeLoop, FakeTransport

    from bocho.commands import load_all
    from bocho.config import Config
    from bocho.network import Client
    from bocho.server import Server as BochoServer

    load_all()
    srv = BochoServer(Config())
    srv.loop = FakeLoop()
    c = Client(srv)
    c.connection_made(FakeTransport())
    return srv, c


def inproc_fill(srv, c, commands) -> None:
    for buf in batches(commands, 200):
        c.data_received(b"".join(buf))
        srv.flush_pending()
        if c.closing:
            raise RuntimeError("the in-process client was closed")


def self_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def measure_inproc(commands, results: dict, modes: list[str], work: str) -> None:
    from bocho.persistence import rdb

    compiled = rdb._compiled
    srv, client = inproc_server()
    gc.collect()
    rss0 = self_rss()
    t0 = time.perf_counter()
    inproc_fill(srv, client, commands)
    fill_s = time.perf_counter() - t0
    gc.collect()
    rss1 = self_rss()
    dataset_mib = (rss1 - rss0) / 2**20
    nkeys = sum(len(db.data) for db in srv.dbs)
    print(f"  bocho in-process: {nkeys} keys in {fill_s:.1f} s, RSS {rss0 / 2**20:.0f} -> "
          f"{rss1 / 2**20:.0f} MiB", flush=True)
    gc.freeze()
    path = os.path.join(work, "inproc.rdb")
    for mode in modes:
        if mode == "compiled" and compiled is None:
            print("  (bocho/_rdbfast is not built: no compiled figures)", flush=True)
            continue
        rdb._compiled = compiled if mode == "compiled" else None
        name = f"bocho-{mode}"
        res = results.setdefault(name, {})
        res["keys"] = nkeys
        res["fill s"] = fill_s
        res["dataset RSS MiB"] = dataset_mib
        res["RSS MiB"] = rss1 / 2**20
        with open(path, "wb") as f:
            t0 = time.perf_counter()
            rdb.save(srv, f)
            res["SAVE s"] = time.perf_counter() - t0
        res["dump MiB"] = os.path.getsize(path) / 2**20
        print(f"  {name}: SAVE {res['SAVE s']:.2f} s, {res['dump MiB']:.1f} MiB", flush=True)
        bg_s, dirty = fork_save(srv, path + ".bg")
        res["BGSAVE s"] = bg_s
        res["child private MiB"] = dirty / 2**20
        res["child private % of dataset RSS"] = 100 * dirty / 2**20 / dataset_mib
        print(f"  {name}: fork+save {bg_s:.2f} s, child private dirty {dirty / 2**20:.1f} "
              f"MiB ({res['child private % of dataset RSS']:.0f}% of the dataset's "
              f"{dataset_mib:.0f} MiB)", flush=True)
    rdb._compiled = compiled
    gc.unfreeze()
    # load: a fresh server from the file (read included, as at start-up)
    from bocho.config import Config
    from bocho.server import Server as BochoServer
    del srv
    gc.collect()
    for mode in modes:
        if f"bocho-{mode}" not in results:
            continue
        rdb._compiled = compiled if mode == "compiled" else None
        readers = pure_readers(mode == "pure")
        back = BochoServer(Config())
        gc.disable()  # as the start-up load runs (snapshot.load_file)
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            data = f.read()
        rdb.load(back, data)
        load_s = time.perf_counter() - t0
        gc.enable()
        pure_readers(False, readers)
        print(f"  bocho-{mode}: rdb.load {load_s:.2f} s "
              f"({sum(len(db.data) for db in back.dbs)} keys)", flush=True)
        results[f"bocho-{mode}"]["load s"] = load_s
        del back, data
        gc.collect()
    rdb._compiled = compiled


def pure_readers(pure: bool, restore=None):
    """Put the Python Reader.string and rdb_types.lp_text back in place of the compiled
    ones (pure) or restore what was there; returns what was there."""
    from bocho.persistence import rdb_types, rdbio

    was = (rdbio.Reader.string, rdb_types.lp_text)
    if restore is not None:
        rdbio.Reader.string, rdb_types.lp_text = restore
    elif pure and hasattr(was[0], "python"):
        rdbio.Reader.string, rdb_types.lp_text = was[0].python, was[1].python
    return was


def fork_save(srv, path: str) -> tuple[float, int]:
    """(seconds, the child's Private_Dirty at the end of its save) of rdb.save in a
    forked child, as a BGSAVE child would run it."""
    from bocho.memory import used_memory
    from bocho.persistence import rdb

    used_memory(srv)  # the used-mem estimate, refreshed in the parent (see rdb.aux_fields)
    rfd, wfd = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: save, then report its own private dirty memory
        try:
            gc.disable()
            os.close(rfd)
            with open(path, "wb") as f:
                rdb.save(srv, f)
            os.write(wfd, b"%d" % (private_dirty("self") or 0))
        finally:
            os._exit(0)
    os.close(wfd)
    got = b""
    while chunk := os.read(rfd, 64):
        got += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    return time.perf_counter() - t0, int(got or b"0")


# -- report ------------------------------------------------------------------------------------

METRICS = ["keys", "fill s", "RSS MiB", "dataset RSS MiB", "SAVE s", "dump MiB", "BGSAVE s",
           "child private MiB", "rdb_last_cow_size MiB", "child private % of dataset RSS",
           "load s", "start-up s (with dump)", "log: DB loaded s"]
RATIOS = {"SAVE s", "dump MiB", "BGSAVE s", "load s", "RSS MiB", "dataset RSS MiB",
          "child private MiB", "log: DB loaded s"}


def report(results: dict) -> None:
    names = list(results)
    ref = "redis" if "redis" in results else None
    rated = [n for n in names if ref and n != ref]
    hdr = f"{'':32}" + "".join(f"{n:>16}" for n in names) + "".join(
        f"{n + '/redis':>22}" for n in rated)
    print()
    print(hdr)
    print("-" * len(hdr))
    for m in METRICS:
        if not any(m in results[n] for n in names):
            continue
        line = f"{m:32}"
        for n in names:
            v = results[n].get(m)
            line += f"{'-':>16}" if v is None else f"{v:>16.2f}" if isinstance(v, float) \
                else f"{v!s:>16}"
        for n in rated:
            a, b = results[n].get(m), results[ref].get(m)
            ok = m in RATIOS and isinstance(a, float) and isinstance(b, float) and b > 0
            line += f"{a / b:>22.2f}" if ok else f"{'':>22}"
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--inproc", action="store_true",
                    help="measure bocho in this process (rdb.save / fork / rdb.load)")
    ap.add_argument("--only", choices=("bocho", "redis"))
    ap.add_argument("--bocho-cmd", default=f"{shlex.quote(sys.executable)} -m bocho",
                    help="command that starts bocho (default: this python -m bocho)")
    ap.add_argument("--no-pure", action="store_true",
                    help="in-process: skip the pure-Python loop's figures")
    ap.add_argument("--strings-only", action="store_true",
                    help="strings only (the same shares, containers and streams left out)")
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is needed (apt install redis-server)")
    base_ms = (int(time.time()) + 86400) * 1000

    def commands():
        return dataset(args.keys, args.seed, args.strings_only, base_ms)

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bocho-rdb-bench-") as work:
        servers = []
        try:
            if args.only != "redis" and not args.inproc:
                servers.append(Server("bocho", shlex.split(args.bocho_cmd) + [
                    "--enable-debug-command", "yes"], work).start())
            if args.only != "bocho":
                servers.append(Server("redis", ["redis-server"], work).start())
            missing = measure_servers(servers, commands, results)
        finally:
            for srv in servers:
                srv.stop()
        if args.only != "redis" and (args.inproc or missing):
            modes = ["compiled"] + ([] if args.no_pure else ["pure"])
            measure_inproc(commands(), results, modes, work)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
