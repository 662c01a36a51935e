"""Memory figures for INFO memory, MEMORY USAGE/STATS and maxmemory.

Why a model and not the allocator: Python's small-object allocator keeps freed blocks in
its pools and RSS never shrinks, so no process-level figure drops when a key is deleted,
and an eviction loop that waits for one would empty the database. Instead, used_memory is
what Redis would call it, estimated:

    used_memory = STARTUP + dataset + client buffers
    dataset     = sum over databases of  keys * average key cost  +  volatile keys * EXPIRE

The average cost of a key (entry + key + value, see key_cost) is measured per database:
exactly when it holds up to SAMPLE keys, from a window of SAMPLE keys otherwise, and
cached. The cache is refreshed only when the number of keys moved by more than an
eighth (at all, for a db of up to 64 keys), or a second passed (values grow in place).
Between refreshes, adding or evicting a key changes the estimate by exactly one
average: that is what lets eviction bring
used_memory under maxmemory key by key, and INFO agree with what eviction saw. When
maxmemory is set, only the eviction check refreshes the cache (INFO just reads it), so
INFO never reports more than the last eviction check allowed. Nothing of this runs on the
GET/SET hot path."""

from __future__ import annotations

import os
import random
from itertools import islice
from time import perf_counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bocho.server import Server

_PAGE = os.sysconf("SC_PAGE_SIZE")

STARTUP = 880_000  # an empty server, of the order Redis reports
ENTRY = 40  # hash table entry + bucket + object header per key
EXPIRE = 32  # the key's entry in the expires table
SAMPLE = 1024
OBJ = 16  # Redis's robj header
EMBSTR_MAX = 44


def rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


def _alloc(n: int) -> int:
    """Round to an allocator size class (8-byte steps, then 16, then 1/8th steps)."""
    if n <= 128:
        return (n + 7) & ~7
    if n <= 512:
        return (n + 15) & ~15
    step = 1 << (n.bit_length() - 3)
    return (n + step - 1) // step * step


def _str_size(s: Any) -> int:
    t = type(s)
    if t is int or t is float:
        return 8
    if t is not bytes and t is not bytearray:
        if t is str:
            return _alloc(len(s) + 4)
        if t is tuple:
            return sum(_str_size(x) for x in s)
        return 16
    n = len(s)
    return _alloc(n + (4 if n < 256 else 6))


def string_value_size(v: bytes | bytearray) -> int:
    n = len(v)
    if type(v) is bytes and n <= 20:
        try:
            int(v)
            if v.isdigit() or (v[:1] == b"-" and v[1:].isdigit()):
                return OBJ  # stored as an integer in the object itself
        except ValueError:
            pass
    if type(v) is bytes and n <= EMBSTR_MAX:
        return _alloc(OBJ + n + 4)
    return OBJ + _alloc(n + (4 if n < 256 else 10))


def value_size(v: Any, samples: int = 5) -> int:
    """Estimated bytes of a value. Containers: a few sampled elements (0 = all) times
    their count, plus a per-element overhead. A type may define memory_usage(samples)."""
    t = type(v)
    if t is bytes or t is bytearray:
        return string_value_size(v)
    mu = getattr(v, "memory_usage", None)
    if mu is not None:
        return int(mu(samples))
    try:
        n = len(v)
    except TypeError:
        return OBJ + 64
    if n == 0:
        return OBJ + 64
    items = v.items() if hasattr(v, "items") else v
    k = n if samples <= 0 else min(samples, n)
    total = 0
    got = 0
    for e in islice(iter(items), k):
        total += _str_size(e) + 16
        got += 1
    per = total / got if got else 16
    return OBJ + 64 + int(per * n)


def key_cost(key: bytes, value: Any, samples: int = 5) -> int:
    """MEMORY USAGE: the entry, the key and the value."""
    return ENTRY + _alloc(len(key) + 4) + value_size(value, samples)


# -- the dataset model ---------------------------------------------------------------------


class Model:
    """Per-database cached average key cost, client buffer totals, peak."""

    def __init__(self, server: Server) -> None:
        # dbid -> (nkeys, avg, unix second): the server's cron-updated clock is enough
        # to refresh at most once a second, and costs no system call per command.
        self.avg: dict[int, tuple[int, float, int]] = {}
        self.clients_normal = 0
        self.clients_replicas = 0
        self.peak = STARTUP
        self.hooked = False
        self.server = server
        self.clients_due = 0.0  # perf_counter time of the next client buffer refresh

    def db_avg(self, db, refresh: bool) -> float:
        n = len(db.data)
        e = self.avg.get(db.id)
        if e is not None:
            n0, avg, t = e
            band = _band(n0)
            if not refresh or (n0 - band <= n <= n0 + band and self.server.unixtime == t):
                return avg
        avg = self.measure(db)
        self.avg[db.id] = (n, avg, self.server.unixtime)
        return avg

    def eviction_used(self) -> int:
        """used_memory minus what is not counted for eviction, refreshing the cached
        averages as needed: the check made before every command while maxmemory is
        set, so it is written for speed (no calls for databases that did not move)."""
        srv = self.server
        t = perf_counter()
        if t >= self.clients_due:
            # Client buffers change with every read and write; re-add them often, but
            # spend at most ~5% of the time on it (about 2.5us a client).
            refresh_clients(srv)
            self.clients_due = t + max(0.005, len(srv.clients) * 50e-6)
        now = srv.unixtime
        avgs = self.avg
        total = STARTUP + self.clients_normal
        for db in srv.dbs:
            data = db.data
            if data:
                n = len(data)
                e = avgs.get(db.id)
                if (e is not None and e[2] == now
                        and e[0] - _band(e[0]) <= n <= e[0] + _band(e[0])):
                    avg = e[1]
                else:
                    avg = self.db_avg(db, True)
                total += int(n * avg) + len(db.expires) * EXPIRE
        return total

    def measure(self, db) -> float:
        """Average key cost: every key of a small db, else SAMPLE random ones (random
        positions, not one window: sizes often follow insertion order)."""
        data = db.data
        if len(data) <= SAMPLE:
            keys = list(data)
        else:
            snap = db.keys_snapshot()
            pick = random.randrange
            keys = [snap[pick(len(snap))] for _ in range(SAMPLE)]
        total = 0
        got = 0
        get = data.get
        for k in keys:
            v = get(k)
            if v is not None:
                total += key_cost(k, v)
                got += 1
        return total / got if got else 0.0


def model(server: Server) -> Model:
    try:
        return server._mem_model  # type: ignore[attr-defined]
    except AttributeError:
        m = server._mem_model = Model(server)  # type: ignore[attr-defined]
        return m


def _band(n: int) -> int:
    """How far a db's key count may move before its cached average is measured again:
    an eighth, but not at all for a small db (cheap to measure, and one big new value,
    e.g. a SETBIT far out, is most of its size)."""
    return n >> 3 if n > 64 else 0


def dataset(server: Server, refresh: bool | None = None) -> int:
    """Estimated bytes of all keys. refresh=None: refresh only when maxmemory is off."""
    m = model(server)
    if refresh is None:
        refresh = not server.maxmemory
    total = 0
    for db in server.dbs:
        n = len(db.data)
        if n:
            total += int(n * m.db_avg(db, refresh)) + len(db.expires) * EXPIRE
    return total


def client_memory(c) -> int:
    """What one client holds: buffers plus its fixed structures (CLIENT LIST tot-mem)."""
    try:
        from bocho.commands.client_cmds import client_memory as cm
        return cm(c)
    except Exception:  # noqa: BLE001 - a broken estimate must not drop the connection
        tr = c.transport
        return (tr.get_write_buffer_size() if tr is not None else 0) + c.reader.len()


def refresh_clients(server: Server) -> None:
    """Client buffers (Redis counts them in used_memory; replicas' apart)."""
    m = model(server)
    normal = replicas = 0
    for c in server.clients.values():
        if c.closing:
            continue
        n = client_memory(c)
        if c.flags & 8:  # replica: not counted for eviction
            replicas += n
        else:
            normal += n
    m.clients_normal = normal
    m.clients_replicas = replicas


def _cron(server: Server) -> None:
    if server.maxmemory or server.config["maxmemory-clients"]:
        refresh_clients(server)
        from bocho.evict import evict_clients
        evict_clients(server)


def install(server: Server) -> None:
    """The cron refreshes client buffer totals and applies maxmemory-clients."""
    m = model(server)
    if not m.hooked:
        m.hooked = True
        server.hooks_on_cron.append(lambda: _cron(server))


def used_memory(server: Server, refresh: bool | None = None) -> int:
    m = model(server)
    used = STARTUP + dataset(server, refresh) + m.clients_normal + m.clients_replicas
    if used > m.peak:
        m.peak = used
    return used


def not_counted_for_evict(server: Server) -> int:
    return model(server).clients_replicas


def human(n: float) -> str:
    """bytesToHuman: 1.23K / 4.00M ..."""
    if n < 1024:
        return f"{int(n)}B"
    for unit in "KMGTPE":
        n /= 1024
        if n < 1024 or unit == "E":
            return f"{n:.2f}{unit}"
    return f"{n:.2f}E"


def info_fields(server: Server) -> list[tuple[str, Any]]:
    """The maxmemory-related lines of INFO memory, in Redis's order."""
    if not server.maxmemory:
        refresh_clients(server)
    m = model(server)
    used = used_memory(server)
    r = rss()
    ds = dataset(server)
    maxm = server.maxmemory
    return [
        ("used_memory", used),
        ("used_memory_human", human(used)),
        ("used_memory_rss", r),
        ("used_memory_rss_human", human(r)),
        ("used_memory_peak", m.peak),
        ("used_memory_peak_human", human(m.peak)),
        ("used_memory_peak_perc", f"{used * 100 / m.peak:.2f}%"),
        ("used_memory_overhead", STARTUP + m.clients_normal + m.clients_replicas),
        ("used_memory_startup", STARTUP),
        ("used_memory_dataset", ds),
        ("used_memory_dataset_perc", f"{ds * 100 / max(1, used - STARTUP):.2f}%"),
        ("maxmemory", maxm),
        ("maxmemory_human", human(maxm)),
        ("maxmemory_policy", server.config["maxmemory-policy"]),
        ("mem_fragmentation_ratio", f"{r / max(1, used):.2f}"),
        ("mem_fragmentation_bytes", r - used),
        ("mem_not_counted_for_evict", not_counted_for_evict(server)),
        ("mem_clients_slaves", m.clients_replicas),
        ("mem_clients_normal", m.clients_normal),
        ("mem_allocator", "libc"),
    ]


def stats(server: Server) -> dict:
    """MEMORY STATS."""
    if not server.maxmemory:
        refresh_clients(server)
    m = model(server)
    used = used_memory(server)
    ds = dataset(server)
    keys = sum(len(db.data) for db in server.dbs)
    r = rss()
    out: dict = {
        "peak.allocated": m.peak,
        "total.allocated": used,
        "startup.allocated": STARTUP,
        "replication.backlog": 0,
        "clients.slaves": m.clients_replicas,
        "clients.normal": m.clients_normal,
        "cluster.links": 0,
        "aof.buffer": 0,
        "lua.caches": 0,
        "functions.caches": 0,
    }
    for db in server.dbs:
        if db.data:
            out[f"db.{db.id}"] = {"overhead.hashtable.main": len(db.data) * ENTRY,
                                  "overhead.hashtable.expires": len(db.expires) * EXPIRE}
    overhead = used - ds
    out.update({
        "overhead.total": overhead,
        "keys.count": keys,
        "keys.bytes-per-key": (used - STARTUP) // keys if keys else 0,
        "dataset.bytes": ds,
        "dataset.percentage": ds * 100.0 / max(1, used - STARTUP),
        "peak.percentage": used * 100.0 / m.peak,
        "allocator.allocated": used,
        "allocator.active": used,
        "allocator.resident": r,
        "allocator-fragmentation.ratio": 1.0,
        "allocator-fragmentation.bytes": 0,
        "allocator-rss.ratio": r / max(1, used),
        "allocator-rss.bytes": r - used,
        "rss-overhead.ratio": 1.0,
        "rss-overhead.bytes": 0,
        "fragmentation": r / max(1, used),
        "fragmentation.bytes": r - used,
    })
    return out
