"""Hash commands (t_hash.c), side by side with a real redis-server where the reply or
the error text is deterministic, in RESP2 and RESP3; encodings, propagation, keyspace
events and the generic keyspace commands on hashes."""

from __future__ import annotations

import socket

import pytest
import raw
import redis
from oracle import assert_same, run

from bocho.testing.server import wait_until


def same(pair, cmds, protocol=2):
    a, b = pair(protocol)
    got, want = run(a, cmds), run(b, cmds)
    assert_same(got, want, cmds)
    return got


CASES = [
    # HSET / HGET / HMGET / HLEN / HEXISTS / HSTRLEN
    [("hset", "h", "a", "1"), ("hset", "h", "a", "2", "b", "3"), ("hget", "h", "a"),
     ("hget", "h", "zz"), ("hget", "nokey", "a"), ("hmget", "h", "a", "zz", "b"),
     ("hmget", "nokey", "a", "b"), ("hlen", "h"), ("hlen", "nokey"), ("hexists", "h", "a"),
     ("hexists", "h", "zz"), ("hexists", "nokey", "a"), ("hstrlen", "h", "a"),
     ("hstrlen", "h", "zz"), ("hstrlen", "nokey", "a")],
    # arity and odd field/value lists
    [("hset", "h", "a"), ("hset", "h", "a", "1", "b"), ("hmset", "h", "a", "1", "b"),
     ("hmset", "h", "a", "1", "b", "2"), ("hgetall", "h"), ("exists", "h")],
    # HSETNX
    [("hsetnx", "h", "a", "1"), ("hsetnx", "h", "a", "2"), ("hget", "h", "a")],
    # HDEL, and the key goes with its last field
    [("hset", "h", "a", "1", "b", "2", "c", "3"), ("hdel", "h", "a", "zz"), ("hdel", "nokey", "a"),
     ("hdel", "h", "b", "c", "a"), ("exists", "h"), ("hlen", "h")],
    # HGETALL / HKEYS / HVALS in listpack (insertion) order
    [("hset", "h", "z", "1", "a", "2", "m", "3"), ("hset", "h", "a", "x"), ("hgetall", "h"),
     ("hkeys", "h"), ("hvals", "h"), ("hgetall", "nokey"), ("hkeys", "nokey"), ("hvals", "nokey")],
    # HINCRBY
    [("hincrby", "h", "n", "5"), ("hincrby", "h", "n", "-7"), ("hset", "h", "s", "abc"),
     ("hincrby", "h", "s", "1"), ("hincrby", "h", "n", "x"), ("hincrby", "h", "n", "1.5"),
     ("hset", "h", "big", "9223372036854775806"), ("hincrby", "h", "big", "1"),
     ("hincrby", "h", "big", "1"), ("hset", "h", "neg", "-9223372036854775807"),
     ("hincrby", "h", "neg", "-1"), ("hincrby", "h", "neg", "-1"), ("hset", "h", "sp", " 1"),
     ("hincrby", "h", "sp", "1"), ("hset", "h", "m0", "-0"), ("hincrby", "h", "m0", "1"),
     ("hgetall", "h")],
    # HINCRBYFLOAT formatting and errors
    [("hincrbyfloat", "h", "f", "10.5"), ("hincrbyfloat", "h", "f", "0.1"),
     ("hincrbyfloat", "h", "f", "-5.6"), ("hincrbyfloat", "h", "f", "1e3"),
     ("hincrbyfloat", "h", "f", "abc"), ("hincrbyfloat", "h", "f", "inf"),
     ("hincrbyfloat", "h", "f", "nan"), ("hset", "h", "s", "xyz"),
     ("hincrbyfloat", "h", "s", "1"), ("hset", "h", "i", "inf"), ("hincrbyfloat", "h", "i", "1"),
     ("hset", "h", "e", "1.5e2"), ("hincrbyfloat", "h", "e", "0.25"),
     ("hincrbyfloat", "h", "n", "3.0"), ("hincrbyfloat", "h", "n", "-3"), ("hgetall", "h")],
    # HRANDFIELD argument errors come before the key lookup
    [("hrandfield", "nokey"), ("hrandfield", "nokey", "3"), ("hrandfield", "nokey", "-3"),
     ("hrandfield", "nokey", "0"), ("hrandfield", "nokey", "x"),
     ("hrandfield", "nokey", "1", "withvalue"), ("hrandfield", "nokey", "1", "withvalues", "x"),
     ("hrandfield", "nokey", "-9223372036854775808"),
     ("hrandfield", "nokey", "-9223372036854770000", "withvalues"),
     ("hrandfield", "nokey", "4611686018427387904", "withvalues"),
     ("hset", "h", "a", "1"), ("hrandfield", "h", "0"), ("hrandfield", "h", "0", "withvalues"),
     ("hrandfield", "h"), ("hrandfield", "h", "1"), ("hrandfield", "h", "5", "withvalues"),
     ("hrandfield", "h", "-2", "withvalues"), ("hrandfield", "h", "-2")],
    # HSCAN argument handling
    [("hscan", "nokey", "0"), ("hscan", "nokey", "0", "count", "0"), ("hscan", "nokey", "x"),
     ("hset", "h", "foo", "1", "bar", "2", "fab", "3"), ("hscan", "h", "0"),
     ("hscan", "h", "0", "match", "f*"), ("hscan", "h", "0", "count", "0"),
     ("hscan", "h", "0", "type", "hash"), ("hscan", "h", "0", "match"),
     ("hscan", "h", "0", "count", "1", "match", "*a*"), ("hscan", "h", "-1")],
]

# Fields named like other fields' values; and hashes past the size where the small-hash
# list gives way to a dict (still listpack for Redis), in Redis's order.
CASES += [
    [("hset", "h", "a", "b", "b", "a", "c", "c"), ("hget", "h", "b"), ("hget", "h", "a"),
     ("hget", "h", "c"), ("hexists", "h", "a"), ("hstrlen", "h", "b"), ("hsetnx", "h", "b", "z"),
     ("hincrby", "h", "a", "1"), ("hset", "h", "c", "b"), ("hdel", "h", "a"), ("hget", "h", "b"),
     ("hmget", "h", "a", "b", "c"), ("hgetall", "h"), ("hset", "h", "b", "b"), ("hdel", "h", "c"),
     ("hgetall", "h"), ("hkeys", "h"), ("hvals", "h"), ("hdel", "h", "b"), ("exists", "h")],
    [("hset", "h", *[x for i in range(40) for x in (f"f{i}", f"v{i}")]),
     ("object", "encoding", "h"), ("hset", "h", "f3", "new", "g", "1"), ("hdel", "h", "f0", "f7"),
     ("hgetall", "h"), ("hscan", "h", "0", "count", "5"), ("hlen", "h"),
     ("hset", "h", *[x for i in range(600) for x in (f"x{i}", "v")]), ("object", "encoding", "h"),
     ("hdel", "h", *[f"x{i}" for i in range(600)]), ("object", "encoding", "h"),
     ("hgetall", "h")],
    [("hset", "h", *[x for i in range(31) for x in (f"f{i}", "v")]), ("hsetnx", "h", "n", "1"),
     ("hincrby", "h", "m", "1"), ("hincrbyfloat", "h", "p", "1"), ("hgetall", "h"),
     ("object", "encoding", "h"), ("copy", "h", "h2"), ("hgetall", "h2")],
]

WRONGTYPE = [("set", "s", "v")] + [
    (c, "s", *args) for c, args in [
        ("hset", ("a", "1")), ("hsetnx", ("a", "1")), ("hmset", ("a", "1")), ("hget", ("a",)),
        ("hmget", ("a",)), ("hdel", ("a",)), ("hlen", ()), ("hexists", ("a",)),
        ("hstrlen", ("a",)), ("hkeys", ()), ("hvals", ()), ("hgetall", ()),
        ("hincrby", ("a", "1")), ("hincrbyfloat", ("a", "1")), ("hrandfield", ()),
        ("hrandfield", ("2",)), ("hscan", ("0",))]]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("cmds", CASES + [WRONGTYPE])
def test_same_as_redis(pair, cmds, protocol):
    same(pair, cmds, protocol)


@pytest.mark.parametrize("protocol", [2, 3])
def test_hgetall_shape(r, r3, protocol):
    c = r if protocol == 2 else r3
    c.hset("h", mapping={"a": "1", "b": "2"})
    raw = c.execute_command("hgetall", "h")
    if protocol == 3:
        assert raw == {b"a": b"1", b"b": b"2"}
    else:
        assert raw == [b"a", b"1", b"b", b"2"] or raw == {b"a": b"1", b"b": b"2"}


def encodings(c, key):
    return c.object("encoding", key)


@pytest.mark.parametrize("cfg", [("hash-max-listpack-entries", 4), ("hash-max-listpack-value", 8)])
def test_encoding_conversion_same_as_redis(pair, cfg):
    a, b = pair()
    out = []
    for c in (a, b):
        c.config_set(*cfg)
        seq = []
        c.hset("h", "f1", "short")
        seq.append(encodings(c, "h"))
        c.hset("h", mapping={"f2": "v", "f3": "v", "f4": "v"})
        seq.append(encodings(c, "h"))
        c.hset("h", "f5", "v")  # entries > 4
        seq.append(encodings(c, "h"))
        c.hset("g", "f", "x" * 9)  # value > 8
        seq.append(encodings(c, "g"))
        c.hincrbyfloat("n", "f" * 9, 1)  # a long field through HINCRBYFLOAT
        seq.append(encodings(c, "n"))
        c.hsetnx("m", "f", "x" * 9)
        seq.append(encodings(c, "m"))
        # conversion is one-way
        c.hdel("h", "f2", "f3", "f4", "f5")
        seq.append(encodings(c, "h"))
        c.config_set(cfg[0], 128 if "entries" in cfg[0] else 64)
        out.append(seq)
    assert out[0] == out[1]


def test_hrandfield_counts(r, r3, server):
    r.hset("h", mapping={f"f{i}": f"v{i}" for i in range(10)})
    fields = {f"f{i}".encode() for i in range(10)}
    got = r.hrandfield("h", 5)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= fields
    assert sorted(r.hrandfield("h", 100)) == sorted(fields)
    got = r.hrandfield("h", -30)
    assert len(got) == 30 and set(got) <= fields
    with socket.create_connection((server.host, server.port)) as sock:
        # RESP2: one flat array of field, value, ... (redis-py would pair it up)
        sock.sendall(raw.cmd("hrandfield", "h", "-7", "withvalues"))
        data = raw.recv_until(sock, lambda b: b.count(b"\r\n") >= 29)
    flat = data.split(b"\r\n")[2:-1:2]
    assert data.startswith(b"*14\r\n")
    assert len(flat) == 14
    for f, v in zip(flat[::2], flat[1::2], strict=True):
        assert v == b"v" + f[1:]
    # RESP3: WITHVALUES nests each pair
    r3.set_response_callback("HRANDFIELD", lambda x, **kw: x)
    pairs = r3.execute_command("hrandfield", "h", "3", "withvalues")
    assert len(pairs) == 3 and all(len(p) == 2 and p[1] == b"v" + p[0][1:] for p in pairs)
    pairs = r3.execute_command("hrandfield", "h", "-12", "withvalues")
    assert len(pairs) == 12
    assert r.hrandfield("h") in fields


def test_hrandfield_is_uniform(r):
    r.hset("h", mapping={f"f{i}": "v" for i in range(5)})
    counts: dict[bytes, int] = {}
    for f in r.hrandfield("h", -5000):
        counts[f] = counts.get(f, 0) + 1
    assert len(counts) == 5
    assert all(800 < n < 1200 for n in counts.values())


@pytest.mark.parametrize("n", [10, 1000])
def test_hscan_returns_everything(r, n):
    r.hset("h", mapping={f"key:{i}": str(i) for i in range(n)})
    assert r.object("encoding", "h") == (b"listpack" if n < 128 else b"hashtable")
    cursor, seen, calls = 0, {}, 0
    while True:
        cursor, items = r.hscan("h", cursor, count=7)
        seen.update(items)
        calls += 1
        if cursor == 0:
            break
    assert len(seen) == n
    assert all(k == b"key:" + v for k, v in seen.items())
    assert calls == (1 if n < 128 else (n + 6) // 7)


def test_hscan_with_deletes_and_adds(r):
    r.hset("h", mapping={f"k{i}": "v" for i in range(1000)})
    assert r.object("encoding", "h") == b"hashtable"
    cursor, first = r.hscan("h", 0, count=50)
    assert cursor and len(first) == 50
    r.hdel("h", *[f"k{i}" for i in range(0, 1000, 2)])
    r.hset("h", mapping={f"new{i}": "v" for i in range(100)})
    later = {}
    while cursor:
        cursor, items = r.hscan("h", cursor, count=50)
        later.update(items)
    seen = set(first) | set(later)
    assert {f"k{i}".encode() for i in range(1, 1000, 2)} <= seen  # present all along
    assert not any(k.startswith(b"k") and int(k[1:]) % 2 == 0 for k in later)  # gone


def test_wrong_args_texts(pair):
    same(pair, [("hset", "h"), ("hget", "h"), ("hincrby", "h", "f"), ("hscan", "h")])


def test_hincrbyfloat_propagates_as_hset(inproc):
    inproc("HSET", "h", "f", "1.5")
    inproc.log.clear()
    assert inproc("HINCRBYFLOAT", "h", "f", "0.1") == b"$3\r\n1.6\r\n"
    assert inproc.argvs() == [[b"HSET", b"h", b"f", b"1.6"]]
    inproc.log.clear()
    inproc("HINCRBY", "h", "n", "3")
    inproc("HDEL", "h", "n", "zz")
    inproc("HDEL", "h", "zz")  # nothing deleted: nothing propagated
    assert inproc.argvs() == [[b"HINCRBY", b"h", b"n", b"3"], [b"HDEL", b"h", b"n", b"zz"]]


def _events(c, cmds):
    p = c.pubsub()
    p.psubscribe("__key*__:*")
    wait_until(lambda: p.get_message(timeout=0.1) is not None, 5)
    for cmd in cmds:
        try:
            c.execute_command(*cmd)
        except redis.ResponseError:
            pass
    c.execute_command("set", "end", "1")
    out = []

    def drain():
        m = p.get_message(timeout=0.1)
        if m is not None and m["type"] == "pmessage":
            out.append((m["channel"], m["data"]))
        return out and out[-1][0].endswith(b"__:set")

    wait_until(drain, 5)
    p.close()
    return out


def test_keyspace_events_same_as_redis(pair):
    a, b = pair()
    for c in (a, b):
        c.config_set("notify-keyspace-events", "KEA")
    cmds = [("hset", "h", "a", "1"), ("hsetnx", "h", "a", "2"), ("hsetnx", "h", "b", "2"),
            ("hmset", "h", "c", "3"), ("hincrby", "h", "n", "1"),
            ("hincrbyfloat", "h", "x", "1.5"), ("hdel", "h", "zz"), ("hdel", "h", "a"),
            ("hdel", "h", "b", "c", "n", "x"), ("hincrby", "h", "s", "x"),
            ("copy", "h", "h2"), ("hset", "g", "f", "v"), ("copy", "g", "h3")]
    try:
        assert _events(a, cmds) == _events(b, cmds)
    finally:
        for c in (a, b):
            c.config_set("notify-keyspace-events", "")


def test_generic_commands_on_hashes(pair):
    same(pair, [("hset", "h", "a", "1", "b", "2"), ("type", "h"), ("object", "encoding", "h"),
                ("copy", "h", "h2"), ("hset", "h2", "c", "3"), ("hgetall", "h"),
                ("hgetall", "h2"), ("debug", "digest-value", "h", "h2"),
                ("rename", "h2", "h3"), ("hgetall", "h3"),
                ("sadd", "s", "x", "y"), ("hset", "w_x", "f", "2"), ("hset", "w_y", "f", "1"),
                ("sort", "s", "by", "w_*->f", "alpha"), ("sort", "s", "by", "w_*->f"),
                ("sort", "s", "by", "w_*->f", "get", "w_*->f", "get", "#"),
                ("sort", "s", "by", "w_*->zz")])


def test_dirty_counter_same_as_redis(pair):
    a, b = pair()
    cmds = [("hset", "h", "a", "1", "b", "2"), ("hset", "h", "a", "1"), ("hsetnx", "h", "a", "1"),
            ("hdel", "h", "a", "b", "c"), ("hincrby", "h", "n", "1"), ("hmset", "h", "x", "1")]

    def dirty(c):
        return c.info("persistence")["rdb_changes_since_last_save"]

    base_a, base_b = dirty(a), dirty(b)
    for cmd in cmds:
        a.execute_command(*cmd)
        b.execute_command(*cmd)
        assert dirty(a) - base_a == dirty(b) - base_b, cmd


def test_memory_usage(r):
    r.hset("small", mapping={f"f{i}": "v" for i in range(10)})
    r.hset("big", mapping={f"f{i}": "v" * 100 for i in range(1000)})
    small, big = r.memory_usage("small"), r.memory_usage("big")
    assert 50 < small < 1000 < big


def test_watch_sees_hash_writes(r, server):
    other = server.client()
    try:
        r.hset("h", "a", "1")
        for cmd in [("hset", "h", "a", "2"), ("hincrby", "h", "n", "1"), ("hdel", "h", "a"),
                    ("hincrbyfloat", "h", "f", "1")]:
            p = r.pipeline()
            p.watch("h")
            other.execute_command(*cmd)
            p.multi()
            p.hget("h", "a")
            with pytest.raises(redis.WatchError):
                p.execute()
    finally:
        other.close()


def test_small_hash_form_edges_same_as_redis(pair):
    """Around the limits of the compact small-hash form (24 fields, entries under 255
    bytes) with listpack limits raised: contents, order and encodings as Redis."""
    cmds = [
        ("hset", "h", *[x for i in range(24) for x in (f"f{i}", f"v{i}")]),
        ("object", "encoding", "h"), ("hsetnx", "h", "f24", "x"), ("hgetall", "h"),
        ("hdel", "h", *[f"f{i}" for i in range(20)]), ("hgetall", "h"),
        ("hset", "v", "a", "x" * 254, "b", "1"), ("hset", "v", "c", "y" * 255),
        ("hset", "v", "d", "z" * 300), ("object", "encoding", "v"), ("hgetall", "v"),
        ("hincrby", "w", "x" * 255, "5"), ("hget", "w", "x" * 255), ("object", "encoding", "w"),
        ("hset", "m", *[x for i in range(30) for x in (f"f{i}", "v")]),
        ("hset", "m", *[x for i in range(10) for x in (f"f{i}", "w")]), ("hlen", "m"),
        ("hgetall", "m"), ("object", "encoding", "m"),
        ("hset", "u", "", ""), ("hget", "u", ""), ("hexists", "u", ""), ("hstrlen", "u", ""),
        ("hdel", "u", ""), ("exists", "u"),
    ]
    a, b = pair()
    try:
        for c in (a, b):
            c.config_set("hash-max-listpack-value", 1000)
        assert_same(run(a, cmds), run(b, cmds), cmds)
    finally:
        for c in (a, b):
            c.config_set("hash-max-listpack-value", 64)


def test_binary_fields_and_values_same_as_redis(pair):
    """Bytes the small-hash layout uses as markers (FF 01, FF 02, FF 00) inside fields
    and values, and fields that are other entries' suffixes or values."""
    odd = [b"\xff", b"\xff\x01", b"\xff\x02", b"a\xff\x00b", b"\xff\xff", b"x\xff", b"",
           b"\x00", b"f", b"\xff\x01f\xff\x02v"]
    cmds = [("hset", "h", *[x for i, k in enumerate(odd) for x in (k, odd[-1 - i])])]
    for k in odd + [b"\xff\x00", b"\x01", b"f\xff\x02"]:
        cmds += [("hget", "h", k), ("hexists", "h", k), ("hstrlen", "h", k)]
    cmds += [("hgetall", "h"), ("hkeys", "h"), ("hvals", "h"), ("hlen", "h"),
             ("hscan", "h", "0"), ("hincrby", "h", b"\xff\x01", "1"),
             ("hset", "h", b"\xff", b"\xff\x02\xff\x01"), ("hget", "h", b"\xff"),
             ("hdel", "h", b"\xff\x02", b"f", b"nope"), ("hgetall", "h"),
             ("debug", "digest-value", "h"), ("hset", "h", "big", "x" * 100),
             ("object", "encoding", "h"), ("hgetall", "h")]
    a, b = pair()
    assert_same(run(a, cmds), run(b, cmds), cmds)
