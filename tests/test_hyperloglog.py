"""HyperLogLog (hyperloglog.c) next to a real redis-server: the values are Redis's HYLL
strings byte for byte (sparse, dense, after promotion and PFMERGE, the cached
cardinality included), so GET returns the same bytes on both and a value moves between
the two servers with SET; errors, corrupt values, PFDEBUG, propagation, events, WATCH."""

from __future__ import annotations

import random

import pytest
import redis
from oracle import assert_same, run
from test_strings import collect_events

from bocho.testing.server import wait_until

KEYS = [f"h{i}" for i in range(5)]


def same(pair, cmds, protocol=2):
    a, b = pair(protocol)
    got, want = run(a, cmds), run(b, cmds)
    assert_same(got, want, cmds)
    return got


def values(c, keys=KEYS):
    return [c.get(k) for k in keys]


def elements(rnd, n):
    return [str(rnd.random()) if rnd.random() < 0.5 else str(rnd.randrange(100000))
            for _ in range(n)]


@pytest.mark.parametrize("max_bytes", [3000, 300, 10000])
def test_random_sequences_are_byte_identical(pair, max_bytes):
    """PFADD/PFCOUNT/PFMERGE in random order over a few keys: every reply and every
    value's bytes equal Redis's after each step (sparse updates, promotion to dense at
    hll-sparse-max-bytes, merges into sparse and dense destinations, the cache)."""
    a, b = pair()
    rnd = random.Random(max_bytes)
    try:
        for c in (a, b):
            c.config_set("hll-sparse-max-bytes", max_bytes)
        for _ in range(40):
            cmds = [("pfadd", rnd.choice(KEYS), *elements(rnd, rnd.choice(
                [0, 1, 1, 2, 5, 10, 50, 200, 1000])))]
            if rnd.random() < 0.3:
                cmds.append(("pfcount", rnd.choice(KEYS)))
            if rnd.random() < 0.2:
                cmds.append(("pfcount", *KEYS))
            if rnd.random() < 0.2:
                cmds.append(("pfmerge", rnd.choice(KEYS),
                             *rnd.sample(KEYS, rnd.randrange(3))))
            cmds.append(("pfdebug", "encoding", rnd.choice(KEYS)))
            assert_same(run(a, cmds), run(b, cmds), cmds)
            assert values(a) == values(b)
    finally:
        for c in (a, b):
            c.config_set("hll-sparse-max-bytes", 3000)


@pytest.mark.parametrize("max_bytes", [0, 17, 18, 19, 25, 40])
def test_tiny_sparse_limits(pair, max_bytes):
    """hll-sparse-max-bytes below or near the empty value's size: the first growth
    promotes, in PFADD (one element at a time and in batches) and in PFMERGE."""
    a, b = pair()
    rnd = random.Random(max_bytes)
    try:
        for c in (a, b):
            c.config_set("hll-sparse-max-bytes", max_bytes)
        for _ in range(8):
            cmds = [("pfadd", "k", *elements(rnd, rnd.choice([0, 1, 2, 6]))),
                    ("pfmerge", "m", "k"), ("get", "k"), ("get", "m"),
                    ("pfdebug", "encoding", "k")]
            assert_same(run(a, cmds), run(b, cmds), cmds)
    finally:
        for c in (a, b):
            c.config_set("hll-sparse-max-bytes", 3000)


def test_sparse_promotion_and_dense(pair):
    a, b = pair()
    rnd = random.Random(7)
    for c in (a, b):
        c.pfadd("grow")
    for step in range(30):
        els = elements(rnd, 100)
        assert a.pfadd("grow", *els) == b.pfadd("grow", *els)
        assert a.pfcount("grow") == b.pfcount("grow")
        assert a.get("grow") == b.get("grow"), step
    assert a.execute_command("pfdebug", "encoding", "grow") == b"dense"
    assert a.strlen("grow") == 16 + 12288


M64 = (1 << 64) - 1
MURMUR_M = 0xC6A4A7935BD1E995


def _unxorshift47(x):
    return x ^ (x >> 47)  # 47 >= 64 / 2: one step undoes it


def element_with_hash(h):
    """An 8-byte element whose MurmurHash64A (Redis's seed) is h: every step of the
    hash is invertible (odd multipliers, xor-shifts by 47)."""
    minv = pow(MURMUR_M, -1, 1 << 64)
    h = _unxorshift47(h)
    h = (h * minv) & M64
    h = _unxorshift47(h)
    h = (h * minv) & M64  # h after mixing in the one block
    h0 = 0xADC83B19 ^ ((8 * MURMUR_M) & M64)
    k = h ^ h0
    k = (k * minv) & M64
    k = _unxorshift47(k)
    k = (k * minv) & M64
    return k.to_bytes(8, "little")


def test_register_above_sparse_max_promotes(pair):
    """An element whose zero run is longer than 32 needs the dense encoding (one in
    2**32 elements: made by inverting the hash)."""
    from bocho.commands.hyperloglog import pat_len
    ele = element_with_hash((1 << (14 + 39)) | 1234)  # register 1234, run of 40
    assert pat_len(ele) == (1234, 40)
    cmds = [("pfadd", "k", "a", "b"), ("pfdebug", "encoding", "k"), ("pfadd", "k", ele),
            ("pfdebug", "encoding", "k"), ("get", "k"), ("pfcount", "k"), ("get", "k"),
            ("pfadd", "s", "x"), ("set", "dense", b"HYLL" + bytes(12300)),
            ("pfmerge", "s", "k"), ("get", "s"), ("pfadd", "t", "y"), ("pfmerge", "t", "s"),
            ("pfdebug", "encoding", "t")]
    got = same(pair, cmds)
    assert got[1] == b"sparse" and got[3] == b"dense"


def test_new_and_empty_values(pair):
    got = same(pair, [
        ("pfadd", "e"), ("get", "e"), ("pfcount", "e"), ("get", "e"), ("pfadd", "e"),
        ("type", "e"), ("object", "encoding", "e"), ("pfcount", "none"), ("pfadd", "x", ""),
        ("pfadd", "x", ""), ("pfcount", "x"), ("pfmerge", "m"), ("get", "m"),
        ("pfmerge", "m2", "none1", "none2"), ("get", "m2"), ("pfcount", "none", "none2"),
        ("exists", "none"),
    ])
    assert got[1] == b"HYLL\x01" + bytes(10) + b"\x80\x7f\xff"
    assert got[5] == b"string" and got[6] == b"raw"


def test_cache_invalidation_bytes(pair):
    """The cached cardinality lives in bytes 8..15; PFADD that changes a register sets
    the top bit of byte 15, PFCOUNT refreshes it (TCL's cache invalidation test)."""
    got = same(pair, [
        ("pfadd", "c", "a", "b", "c"), ("getrange", "c", "15", "15"), ("pfcount", "c"),
        ("getrange", "c", "8", "15"), ("pfadd", "c", "a", "b", "c"),
        ("getrange", "c", "15", "15"), ("pfadd", "c", "1", "2", "3"),
        ("getrange", "c", "8", "15"), ("pfcount", "c"), ("getrange", "c", "8", "15"),
    ])
    assert got[1] == b"\x80" and got[3] == b"\x03" + bytes(7)
    assert got[5] == b"\x00" and got[7][7] == 0x80


def test_merge_and_union_counts(pair):
    rnd = random.Random(3)
    cmds = []
    for i, n in enumerate([10, 500, 3000, 20000]):
        cmds.append(("pfadd", f"s{i}", *elements(rnd, n)))
    cmds += [("pfcount", "s0", "s1"), ("pfcount", "s0", "s1", "s2", "s3", "none"),
             ("pfmerge", "d0", "s0", "s1"), ("get", "d0"), ("pfdebug", "encoding", "d0"),
             ("pfmerge", "d1", "s2", "s3"), ("get", "d1"), ("pfdebug", "encoding", "d1"),
             ("pfmerge", "s0", "s1"), ("get", "s0"), ("pfmerge", "s3", "s0"), ("get", "s3"),
             ("pfcount", "d0"), ("pfcount", "d1"), ("pfcount", "s3"), ("get", "s3")]
    same(pair, cmds)


def test_union_matches_real_cardinality():
    """The estimate of a union of three HLLs stays within 5% (TCL's union test)."""
    from bocho.commands.hyperloglog import (
        DENSE_BYTES,
        HDR,
        count_of,
        estimate,
        histogram,
        max_registers,
        pack_dense,
        pat_len,
        unpack_dense,
    )
    regs = [bytearray(16384) for _ in range(3)]
    for x in range(1, 10000):
        for r, prefix in zip(regs, ("foo", "bar", "zap"), strict=True):
            i, n = pat_len(f"{prefix}-{x}".encode())
            r[i] = max(r[i], n)
    acc = max_registers(max_registers(bytes(regs[0]), bytes(regs[1])), bytes(regs[2]))
    card = estimate(histogram(acc))
    assert abs(card - 29997) < card * 0.05
    packed = pack_dense(acc)
    assert len(packed) == DENSE_BYTES and unpack_dense(bytes(packed)) == acc
    assert count_of(bytearray(b"HYLL" + bytes(HDR - 4)) + packed) == card


def test_values_move_between_servers(pair):
    """A value bocho wrote, SET into Redis, counts the same there, and back."""
    a, b = pair()
    rnd = random.Random(11)
    for key, n in (("small", 20), ("mid", 900), ("big", 30000)):
        els = elements(rnd, n)
        a.pfadd(key, *els)
        b.pfadd(key + "-r", *els)
        b.set(key, a.get(key))
        a.set(key + "-r", b.get(key + "-r"))
        assert a.get(key) == b.get(key + "-r")
        assert b.pfcount(key) == a.pfcount(key) == a.pfcount(key + "-r")
        more = elements(rnd, 50)
        a.pfadd(key, *more)
        b.pfadd(key, *more)
        assert a.get(key) == b.get(key)
        assert a.pfcount(key, key + "-r") == b.pfcount(key, key + "-r")


def test_pfcount_converts_a_set_value_to_raw(pair):
    got = same(pair, [("pfadd", "h", "a"), ("get", "h"), ("object", "encoding", "h")])
    same(pair, [("set", "k", got[1]), ("object", "encoding", "k"), ("pfcount", "k"),
                ("object", "encoding", "k"), ("pfcount", "k", "k"), ("get", "k")])


ERRORS = [
    [("set", "s", "bar"), ("pfadd", "s", "1"), ("pfcount", "s"), ("pfcount", "s", "t"),
     ("pfmerge", "t", "s"), ("pfmerge", "s", "t"), ("pfdebug", "getreg", "s"),
     ("set", "n", "12345678901234567890"), ("pfcount", "n"), ("set", "short", "HYLL"),
     ("pfcount", "short")],
    # another type: Redis's generic WRONGTYPE, before any HLL check
    [("rpush", "l", "x"), ("pfadd", "h", "a"), ("pfadd", "l", "1"), ("pfadd", "l"),
     ("pfcount", "l"), ("pfcount", "h", "l"), ("pfmerge", "l", "h"), ("pfmerge", "d", "h", "l"),
     ("exists", "d"), ("pfdebug", "getreg", "l"), ("pfdebug", "nosuch", "l")],
    # corrupt values: tail bytes, magic, encoding, dense length
    [("pfadd", "c", "a", "b", "c"), ("append", "c", "hello"), ("pfcount", "c"),
     ("pfcount", "c", "none"), ("pfmerge", "x", "c"), ("pfadd", "c", "zz"), ("get", "c")],
    [("pfadd", "m", "a"), ("setrange", "m", "0", "0123"), ("pfcount", "m"), ("pfadd", "m", "b")],
    [("pfadd", "e", "a"), ("setrange", "e", "4", "x"), ("pfcount", "e"), ("pfmerge", "e")],
    [("pfadd", "d", "a"), ("setrange", "d", "4", "\x00"), ("pfcount", "d"),
     ("pfdebug", "encoding", "d")],
    [("pfadd", "t", "a"), ("setrange", "t", "17", "\x3f"), ("pfcount", "t"),
     ("pfdebug", "todense", "t"), ("pfdebug", "getreg", "t"), ("pfdebug", "decode", "t")],
    # arity
    [("pfadd",), ("pfcount",), ("pfmerge",), ("pfdebug", "getreg"),
     ("pfdebug", "getreg", "a", "b"), ("pfselftest", "x")],
]


@pytest.mark.parametrize("cmds", ERRORS)
def test_errors_match_redis(pair, cmds):
    same(pair, cmds)


def test_pfdebug_matches_redis(pair):
    rnd = random.Random(5)
    cmds = [("pfadd", "h", *elements(rnd, 40)), ("pfdebug", "decode", "h"),
            ("pfdebug", "ENCODING", "h"), ("pfdebug", "getreg", "h"), ("get", "h"),
            ("pfdebug", "decode", "h"), ("pfdebug", "todense", "h"),
            ("pfdebug", "todense", "h"), ("pfdebug", "nosuch", "h"),
            ("pfdebug", "nosuch", "none"), ("pfdebug", "getreg", "none"), ("pfadd", "n"),
            ("pfdebug", "decode", "n"), ("pfdebug", "getreg", "n")]
    got = same(pair, cmds)
    assert len(got[3]) == 16384
    same(pair, cmds, protocol=3)


def test_corrupt_values_fuzz_matches_redis(pair):
    """TCL's fuzzing test, compared: random bytes overwritten in sparse and dense
    values; every command then answers as Redis (error or value) and leaves the same
    bytes."""
    a, b = pair()
    rnd = random.Random(9)
    ops = [lambda: ("pfcount", "hll"), lambda: ("pfadd", "hll", *elements(rnd, 10)),
           lambda: ("pfcount", "hll", "o"), lambda: ("pfmerge", "o", "hll"),
           lambda: ("pfdebug", "decode", "hll"), lambda: ("pfdebug", "todense", "hll"),
           lambda: ("pfdebug", "getreg", "hll")]
    for _ in range(120):
        for c in (a, b):
            c.delete("hll", "o")
        els = elements(rnd, rnd.randrange(3000))
        other = elements(rnd, 30)
        v = None
        for c in (a, b):
            c.pfadd("hll", *els)
            c.pfadd("o", *other)
            v = c.get("hll")
        for _ in range(5):
            pos = rnd.randrange(len(v))
            byte = bytes([rnd.randrange(256)])
            for c in (a, b):
                c.setrange("hll", pos, byte)
            if rnd.random() < 0.5:
                break
        cmds = [rnd.choice(ops)(), ("pfcount", "hll"), ("get", "hll"), ("get", "o")]
        assert_same(run(a, cmds), run(b, cmds), cmds)


def test_pfselftest(r):
    assert r.execute_command("pfselftest") == b"OK"


def test_propagation(inproc):
    inproc("PFADD", "h", "a", "b")
    inproc("PFADD", "h", "a")  # no register changed: nothing to propagate
    inproc("PFCOUNT", "h")  # refreshes the cache: a write
    inproc("PFCOUNT", "h")  # cached: nothing
    inproc("PFCOUNT", "h", "none")
    inproc("PFMERGE", "d", "h")
    inproc("PFDEBUG", "ENCODING", "d")
    inproc("PFDEBUG", "TODENSE", "d")
    inproc("PFDEBUG", "TODENSE", "d")
    assert inproc.argvs() == [
        [b"PFADD", b"h", b"a", b"b"], [b"PFCOUNT", b"h"], [b"PFMERGE", b"d", b"h"],
        [b"PFDEBUG", b"TODENSE", b"d"],
    ]


def test_keyspace_events_match_redis(make_server):
    from conftest import redis_server_binary
    cmds = [("pfadd", "h", "a"), ("pfadd", "h", "a"), ("pfadd", "e"), ("pfcount", "h"),
            ("pfmerge", "d", "h"), ("pfmerge", "h"), ("pfdebug", "todense", "h"),
            ("pfcount", "h", "d")]
    cfg = {"notify-keyspace-events": "KEA"}
    srv = make_server(config=cfg)
    orc = make_server(config=cfg, binary=redis_server_binary())
    want = collect_events(orc, cmds)
    assert (b"__keyevent@0__:pfadd", b"d") in want
    assert collect_events(srv, cmds) == want


@pytest.mark.parametrize("cmd", [("pfadd", "w", "zz"), ("pfcount", "w"),
                                 ("pfmerge", "w", "other")])
def test_watch_sees_hll_writes(pair, cmd):
    """PFADD, PFMERGE and a PFCOUNT that refreshes the cache touch the key."""
    for c in pair():
        c.pfadd("w", "a")
        c.pfadd("other", "b")
        with c.pipeline() as p:
            p.watch("w")
            c.execute_command(*cmd)
            p.multi()
            p.get("w")
            with pytest.raises(redis.WatchError):
                p.execute()


def test_pfadd_many_elements_dense_is_quick(r):
    """A dense PFADD of 100,000 elements and counts over dense values: seconds, not
    minutes (the per-register work is table and big-int based)."""
    import time
    els = [str(i) for i in range(100000)]
    t0 = time.monotonic()
    assert r.pfadd("big", *els) == 1
    for _ in range(20):
        r.pfadd("big", "x")
        r.pfcount("big")
    r.pfadd("big2", *els[:50000])
    for _ in range(20):
        r.pfcount("big", "big2")
    assert time.monotonic() - t0 < 20
    assert abs(r.pfcount("big") - 100000) < 2000


def test_sparse_stress_dense_and_sparse_agree(r):
    """TCL's sparse stress test: the same elements in a sparse and a dense HLL give the
    same estimate."""
    rnd = random.Random(1)
    for _ in range(50):
        r.delete("s", "d")
        els = elements(rnd, rnd.randrange(100))
        r.pfadd("d")
        r.execute_command("pfdebug", "todense", "d")
        if els:
            r.pfadd("s", *els)
            r.pfadd("d", *els)
            assert r.execute_command("pfdebug", "encoding", "s") == b"sparse"
        assert r.execute_command("pfdebug", "encoding", "d") == b"dense"
        assert r.pfcount("s") == r.pfcount("d")


def test_via_redis_cli(server):
    import subprocess
    out = subprocess.run(["redis-cli", "-p", str(server.port), "pfadd", "cli", "a", "b"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "1"
    wait_until(lambda: server.client().pfcount("cli") == 2, msg="count")


def test_vectorised_hash_equals_one_by_one():
    """murmur_many (elements of one length hashed side by side in big-int lanes) gives
    MurmurHash64A of each element, for every tail length and mixed lengths."""
    from bocho.commands.hyperloglog import VECTOR_MIN, murmur64a, murmur_many
    rnd = random.Random(2)
    for n in list(range(0, 26)) + [63, 64, 100]:
        els = [rnd.randbytes(n) for _ in range(VECTOR_MIN + 5)]
        assert murmur_many(els) == [murmur64a(e) for e in els]
    mixed = [rnd.randbytes(rnd.choice([0, 1, 8, 17, 18, 19, 40])) for _ in range(300)]
    assert murmur_many(mixed) == [murmur64a(e) for e in mixed]


def test_dirty_counts_match_redis(pair):
    """PFADD counts one change per element that raised a register (in order), PFCOUNT
    one per cache refresh, PFMERGE one: INFO's rdb_changes_since_last_save agrees."""
    a, b = pair()
    rnd = random.Random(3)

    def changes(c):
        return c.info("persistence")["rdb_changes_since_last_save"]

    before = changes(a), changes(b)
    for i in range(30):
        els = [str(rnd.randrange(5000)) for _ in range(rnd.choice([1, 3, 20, 500]))]
        for c in (a, b):
            c.pfadd(f"k{i % 3}", *els)
            c.pfcount("k1")
            if i % 7 == 0:
                c.pfmerge("m", "k0", "k2")
    assert changes(a) - before[0] == changes(b) - before[1]


def test_client_pause_write_holds_pfcount(server):
    """PFCOUNT may write (the cache) and replicate: CLIENT PAUSE WRITE holds it, as it
    holds PUBLISH (also may-replicate), until CLIENT UNPAUSE (TCL pause unit)."""
    import threading
    admin = server.client()
    admin.flushall()
    admin.pfadd("pause-hll", "test")
    admin.execute_command("client", "pause", 100000, "write")
    out = {}
    clients = [server.client(), server.client()]
    threads = [threading.Thread(target=lambda: out.__setitem__("pf", clients[0].pfcount("pause-hll"))),
               threading.Thread(target=lambda: out.__setitem__("pub", clients[1].publish("ch", "m")))]
    try:
        for n, t in enumerate(threads, 1):
            t.start()
            wait_until(lambda n=n: admin.info("clients")["blocked_clients"] == n,
                       msg=f"{n} held clients")
        assert out == {}
    finally:
        admin.execute_command("client", "unpause")
        for t in threads:
            t.join(10)
    assert out == {"pf": 1, "pub": 0}
    for c in (admin, *clients):
        c.close()
