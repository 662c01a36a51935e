"""maxmemory: the eight policies, approximated as Redis does.

Before every command, while maxmemory is set, perform_evictions() compares the
estimated used memory (bocho.memory, minus replica buffers) with maxmemory and deletes
keys until it fits: LRU/LFU/TTL policies keep an eviction pool of the 16 best
candidates, refilled with maxmemory-samples keys sampled from each database;
the random policies pick a random key of the next database. Each deletion is
propagated as DEL (UNLINK with lazyfree-lazy-eviction), notified as "evicted" and
counted in evicted_keys. A run stops after the time maxmemory-eviction-tenacity allows
and continues from the event loop, so one command never stalls for long.

Access clocks live in db.lru, kept by db.touch() only while an LRU/LFU policy is set:
under LRU the unix second of the last access, under LFU Redis's packed
(minutes << 8) | logarithmic counter. The pool ranks LRU keys by idle seconds, LFU keys
by 255 - decayed counter, volatile-ttl keys by nearest expiry."""

from __future__ import annotations

import random
from time import perf_counter
from typing import TYPE_CHECKING, Any

from bocho import latency, log, memory

try:  # the LFU counter lives with the access clocks (db.touch)
    from bocho.db import LFU_INIT_VAL, lfu_decr
except ImportError:  # pragma: no cover - older db.py
    LFU_INIT_VAL = 5

    def lfu_decr(packed: int, decay_time: int) -> int:
        return packed & 0xFF

if TYPE_CHECKING:
    from bocho.server import Server

POOL_SIZE = 16


def used_memory(server: Server) -> int:
    return memory.used_memory(server)


# -- access clocks (kept by db.touch; see db.py) -----------------------------------------


# -- eviction ------------------------------------------------------------------------------


class State:
    def __init__(self) -> None:
        self.pool: list[tuple[float, int, bytes]] = []  # ascending "idle" score
        self.next_db = 0
        self.proc_running = False
        self.exceeded_since = 0.0
        self.policy = ""  # the policy the pool's scores were computed for
        # (dbid, allkeys) -> (key list, unix second, the dict it was taken from)
        self.snaps: dict[tuple[int, bool], tuple[list, int, dict]] = {}


def _sample(server: Server, st: State, db, d: dict, count: int) -> list:
    """`count` random keys of d (fewer if some were deleted since). Python dicts have
    no random access, so picks come from a list of d's keys taken at most once a second
    (or when d's size moved by a quarter): evicting key after key does not copy the
    keyspace each time; keys added since the copy wait for the next one."""
    n = len(d)
    if n <= count:
        return list(d)
    now = server.unixtime
    ref = (db.id, d is db.data)
    snap = st.snaps.get(ref)
    if (snap is None or snap[1] != now or snap[2] is not d
            or abs(len(snap[0]) - n) > n >> 2):
        snap = (list(d), now, d)
        st.snaps[ref] = snap
    keys = snap[0]
    rnd = random.randrange
    m = len(keys)
    out = []
    for _ in range(count):
        k = keys[rnd(m)]
        if k in d:
            out.append(k)
    return out


def model(server: Server) -> State:
    try:
        return server._evict_state  # type: ignore[attr-defined]
    except AttributeError:
        s = server._evict_state = State()  # type: ignore[attr-defined]
        return s


def _time_limit_s(server: Server) -> float:
    t = server.config["maxmemory-eviction-tenacity"]
    if t <= 10:
        return 50e-6 * t
    if t < 100:
        return 500e-6 * 1.15 ** (t - 10)
    return float("inf")


def _safe(server: Server) -> bool:
    if server.loading or server.pause_end:
        return False
    if server.role == "slave" and server.config["replica-ignore-maxmemory"]:
        return False
    return True


def _score(server: Server, policy: str, db, key: bytes) -> float | None:
    """Higher = better to evict."""
    if policy.endswith("ttl"):
        when = db.expires.get(key)
        return None if when is None else -float(when)
    lru = db.lru
    if policy.endswith("lfu"):
        v = lru.get(key) if lru is not None else None
        return 255 - (LFU_INIT_VAL if v is None else
                      lfu_decr(v, server.config["lfu-decay-time"]))
    t = lru.get(key) if lru is not None else None
    return float(server.lruclock - (t if t is not None else 0))


def _populate(server: Server, st: State, policy: str, db, d: dict) -> None:
    n = server.config["maxmemory-samples"]
    pool = st.pool
    for key in _sample(server, st, db, d, n):
        s = _score(server, policy, db, key)
        if s is None:
            continue
        if len(pool) >= POOL_SIZE and s <= pool[0][0]:
            continue
        entry = (s, db.id, key)
        if entry in pool:
            continue
        pool.append(entry)
        pool.sort(key=lambda e: e[0])
        if len(pool) > POOL_SIZE:
            del pool[0]


def _pick(server: Server, st: State, policy: str) -> tuple[Any, bytes] | None:
    allkeys = policy.startswith("allkeys")
    dbs = server.dbs
    if st.policy != policy:  # scores of another policy do not compare
        st.pool.clear()
        st.policy = policy
    for _attempt in range(3):
        if policy.endswith("random"):
            for _ in range(len(dbs)):
                st.next_db = (st.next_db + 1) % len(dbs)
                db = dbs[st.next_db]
                d = db.data if allkeys else db.expires
                if d:
                    picked = _sample(server, st, db, d, 1)
                    if picked:
                        return db, picked[0]
                    break
            else:
                return None  # nothing left to evict
        else:
            total = 0
            for db in dbs:
                d = db.data if allkeys else db.expires
                if d:
                    _populate(server, st, policy, db, d)
                    total += len(d)
            if not total:
                return None
            pool = st.pool
            while pool:
                _, dbid, key = pool.pop()
                db = dbs[dbid]
                if key in (db.data if allkeys else db.expires):
                    return db, key
        st.snaps.clear()  # every pick was a key deleted since the copy: take fresh ones
    return None


def perform_evictions(server: Server) -> bool:
    """Free memory down to maxmemory; False when a write must be refused (OOM)."""
    m = memory.model(server)
    used = m.eviction_used()
    maxm = server.maxmemory
    st = model(server)
    if used <= maxm and not st.exceeded_since:
        return True  # the common case, kept short
    if not _safe(server):
        return True
    if used > maxm:
        # Client buffers are refreshed by the cron; before evicting for them, make sure
        # the figure is current (clients that left or read their replies since), and
        # let client eviction (maxmemory-clients) go first.
        memory.refresh_clients(server)
        if evict_clients(server):
            memory.refresh_clients(server)
        used = memory.used_memory(server) - memory.not_counted_for_evict(server)
    if used <= maxm:
        if st.exceeded_since:
            server.stat_total_eviction_exceeded_time += int((perf_counter() - st.exceeded_since) * 1e6)
            st.exceeded_since = 0.0
        return True
    if not st.exceeded_since:
        st.exceeded_since = perf_counter()
    policy = server.config["maxmemory-policy"]
    if policy == "noeviction":
        return False
    tofree = used - maxm
    freed = 0
    start = perf_counter()
    limit = _time_limit_s(server)
    lazy = server.config["lazyfree-lazy-eviction"]
    nkeys = 0
    while freed < tofree:
        picked = _pick(server, st, policy)
        if picked is None:
            _lat(server, "eviction-cycle", start)
            return False
        db, key = picked
        avg = m.avg.get(db.id)
        cost = avg[1] if avg is not None else memory.key_cost(key, db.data[key])
        if key in db.expires:
            cost += memory.EXPIRE
        t0 = perf_counter()
        if lazy and hasattr(db, "unlink"):
            db.unlink(key)  # a big value is freed off the command's path
        else:
            db.delete(key)
        _lat(server, "eviction-del", t0)
        freed += cost
        nkeys += 1
        server.stat_evictedkeys += 1
        server.notify(server.NOTIFY_EVICTED, b"evicted", key, db.id)
        server.propagate_internal(db.id, [b"UNLINK" if lazy else b"DEL", key])
        if nkeys % 16 == 0 and perf_counter() - start > limit:
            start_eviction_proc(server)
            break
    _lat(server, "eviction-cycle", start)
    return True


def current_exceeded_ms(server: Server) -> int:
    """INFO current_eviction_exceeded_time: how long used memory has been over maxmemory."""
    since = model(server).exceeded_since
    return int((perf_counter() - since) * 1000) if since else 0


def total_exceeded_ms(server: Server) -> int:
    """INFO total_eviction_exceeded_time (ms), including a period still going on."""
    return (server.stat_total_eviction_exceeded_time // 1000) + current_exceeded_ms(server)


def clients_limit(server: Server) -> int:
    """maxmemory-clients in bytes (a negative value is a percentage of maxmemory)."""
    v = server.config["maxmemory-clients"]
    if v < 0:
        return server.maxmemory * -v // 100
    return v


def evict_clients(server: Server) -> int:
    """Client eviction: while normal clients together hold more than maxmemory-clients,
    disconnect the biggest (never replicas, masters or CLIENT NO-EVICT ones)."""
    limit = clients_limit(server)
    if not limit:
        return 0
    sizes = []
    total = 0
    for c in server.clients.values():
        if c.closing or c.flags & (8 | 16):  # replica, master
            continue
        n = memory.client_memory(c)
        total += n
        if not c.flags & 64:  # CLIENT NO-EVICT
            sizes.append((n, c.id, c))
    if total <= limit:
        return 0
    sizes.sort(key=lambda e: (e[0], e[1]), reverse=True)
    from bocho.commands.client_cmds import pending_output
    evicted = 0
    for n, _, c in sizes:
        if total <= limit:
            break
        if c.obuf_hard and pending_output(c) >= c.obuf_hard:
            # over its output limit: closed for that, which Redis gives precedence
            c.output_limit_reached()
            total -= n
            continue
        log.notice(f"Evicting client: {server.client_info(c)}")
        c.close_now()
        server.stat_evictedclients += 1
        total -= n
        evicted += 1
    if evicted:
        memory.refresh_clients(server)
    return evicted


def _lat(server: Server, event: str, t0: float) -> None:
    if server.config["latency-monitor-threshold"]:
        latency.add_sample(server, event, int((perf_counter() - t0) * 1000))


def start_eviction_proc(server: Server) -> None:
    """Keep evicting from the event loop (after CONFIG SET maxmemory, or when a run hit
    its time limit) until memory fits or nothing more can go."""
    st = model(server)
    if st.proc_running or server.loop is None:
        return
    st.proc_running = True

    def proc() -> None:
        st.proc_running = False
        if not server.maxmemory:
            return
        before = server.stat_evictedkeys
        ok = perform_evictions(server)
        if ok and server.stat_evictedkeys != before and not st.proc_running:
            start_eviction_proc(server)  # maybe more to do

    server.loop.call_soon(proc)


def maxmemory_changed(server: Server) -> None:
    """CONFIG SET maxmemory: warn as Redis does and start evicting in the background."""
    if not server.maxmemory:
        return
    memory.install(server)
    memory.refresh_clients(server)
    used = memory.used_memory(server, refresh=True)
    if server.maxmemory < used:
        log.warning("WARNING: the new maxmemory value set via CONFIG SET "
                    f"({server.maxmemory}) is smaller than the current memory usage "
                    f"({used}). This will result in key eviction and/or the inability to "
                    "accept new write commands depending on the maxmemory-policy.")
    start_eviction_proc(server)
