"""List commands side by side with the real redis-server (RESP2 and RESP3): replies and
error texts, keyspace events, encodings, COPY/SORT/DIGEST, WATCH."""

from __future__ import annotations

import pytest
import redis
from oracle import assert_same, run

from bocho.testing.server import wait_until

PUSHES = [
    ("RPUSH", "l", "a", "b", "c", "d", "e", "a", "b", "a"),
    ("LPUSH", "l", "z", "y"),
    ("LPUSHX", "nokey", "x"), ("RPUSHX", "nokey", "x"),
    ("LPUSHX", "l", "x1", "x2"), ("RPUSHX", "l", "x3"),
    ("LLEN", "l"), ("LLEN", "nokey"),
]

READS = [
    ("LRANGE", "l", 0, -1), ("LRANGE", "l", 2, 4), ("LRANGE", "l", -3, -1),
    ("LRANGE", "l", -100, 100), ("LRANGE", "l", 5, 2), ("LRANGE", "l", 100, 200),
    ("LRANGE", "l", 0, 0), ("LRANGE", "l", -1, -1), ("LRANGE", "nokey", 0, -1),
    ("LRANGE", "l", "x", 1), ("LRANGE", "l", 0, "1.5"),
    ("LINDEX", "l", 0), ("LINDEX", "l", -1), ("LINDEX", "l", 5), ("LINDEX", "l", 100),
    ("LINDEX", "l", -100), ("LINDEX", "nokey", 0), ("LINDEX", "l", "x"),
    ("LPOS", "l", "a"), ("LPOS", "l", "a", "RANK", 2), ("LPOS", "l", "a", "RANK", -1),
    ("LPOS", "l", "a", "COUNT", 0), ("LPOS", "l", "a", "COUNT", 2),
    ("LPOS", "l", "a", "RANK", -2, "COUNT", 0), ("LPOS", "l", "a", "MAXLEN", 3),
    ("LPOS", "l", "a", "COUNT", 0, "MAXLEN", 8), ("LPOS", "l", "nope"),
    ("LPOS", "l", "nope", "COUNT", 1), ("LPOS", "nokey", "a"), ("LPOS", "nokey", "a", "COUNT", 1),
    ("LPOS", "l", "a", "RANK", 0), ("LPOS", "l", "a", "COUNT", -1),
    ("LPOS", "l", "a", "MAXLEN", -1), ("LPOS", "l", "a", "RANK"), ("LPOS", "l", "a", "FOO", 1),
    ("LPOS", "l", "a", "RANK", "x"), ("LPOS", "l", "a", "COUNT", "x"),
    ("LPOS", "l", "a", "RANK", 100),
]

WRITES = [
    ("LSET", "l", 0, "first"), ("LSET", "l", -1, "last"), ("LSET", "l", 100, "x"),
    ("LSET", "nokey", 0, "x"), ("LSET", "l", "x", "y"),
    ("LINSERT", "l", "BEFORE", "c", "bc"), ("LINSERT", "l", "after", "c", "cd"),
    ("LINSERT", "l", "BEFORE", "nope", "x"), ("LINSERT", "nokey", "BEFORE", "a", "x"),
    ("LINSERT", "l", "MIDDLE", "a", "x"),
    ("LRANGE", "l", 0, -1),
    ("LREM", "l", 1, "a"), ("LREM", "l", -1, "b"), ("LREM", "l", 0, "a"),
    ("LREM", "l", 0, "nope"), ("LREM", "nokey", 0, "a"), ("LREM", "l", "x", "a"),
    ("LRANGE", "l", 0, -1),
    ("LTRIM", "l", 1, -2), ("LRANGE", "l", 0, -1), ("LTRIM", "l", 0, 100),
    ("LTRIM", "nokey", 0, 1), ("LTRIM", "l", "a", 1),
    ("LRANGE", "l", 0, -1), ("LTRIM", "l", 5, 2), ("EXISTS", "l"),
]

POPS = [
    ("RPUSH", "p", 1, 2, 3, 4, 5, 6, 7),
    ("LPOP", "p"), ("RPOP", "p"), ("LPOP", "p", 2), ("RPOP", "p", 2), ("LPOP", "p", 0),
    ("LPOP", "p", -1), ("LPOP", "p", "x"), ("LPOP", "p", 1, 2), ("LPOP", "p", 10),
    ("EXISTS", "p"), ("LPOP", "p"), ("LPOP", "p", 2), ("RPOP", "p", 0),
    ("RPUSH", "m1", "a", "b", "c"), ("RPUSH", "m2", "x"),
    ("LMPOP", 2, "nokey", "m1", "LEFT"), ("LMPOP", 2, "nokey", "m1", "RIGHT", "COUNT", 10),
    ("LMPOP", 1, "nokey", "LEFT"), ("LMPOP", 0, "m2", "LEFT"), ("LMPOP", -1, "m2", "LEFT"),
    ("LMPOP", "x", "m2", "LEFT"), ("LMPOP", 1, "m2", "UP"), ("LMPOP", 3, "m2", "LEFT"),
    ("LMPOP", 1, "m2", "LEFT", "COUNT", 0), ("LMPOP", 1, "m2", "LEFT", "COUNT"),
    ("LMPOP", 1, "m2", "LEFT", "COUNT", 1, "COUNT", 1), ("LMPOP", 1, "m2", "LEFT", "FOO"),
    ("LMPOP", 1, "m2", "RIGHT", "COUNT", 5),
]

MOVES = [
    ("RPUSH", "s", "1", "2", "3"),
    ("LMOVE", "s", "d", "LEFT", "RIGHT"), ("LMOVE", "s", "d", "RIGHT", "LEFT"),
    ("LMOVE", "s", "s", "LEFT", "RIGHT"), ("LRANGE", "s", 0, -1), ("LRANGE", "d", 0, -1),
    ("LMOVE", "s", "d", "UP", "LEFT"), ("LMOVE", "nokey", "d", "LEFT", "LEFT"),
    ("RPOPLPUSH", "s", "d"), ("RPOPLPUSH", "s", "d"), ("EXISTS", "s"),
    ("SET", "str", "v"), ("LMOVE", "d", "str", "LEFT", "LEFT"), ("LMOVE", "str", "d", "LEFT", "LEFT"),
    ("RPOPLPUSH", "d", "str"), ("LRANGE", "d", 0, -1),
    ("BLMOVE", "d", "e", "LEFT", "LEFT", 0), ("BRPOPLPUSH", "d", "e", 0), ("LRANGE", "e", 0, -1),
    ("BLPOP", "nokey", "d", "e", 0), ("BRPOP", "e", 1), ("BLMPOP", 0, 2, "nokey", "e", "LEFT"),
    ("BLPOP", "str", 0), ("BLMPOP", 0, 0, "e", "LEFT"), ("BLMPOP", "x", 1, "e", "LEFT"),
    ("BLMOVE", "x", "y", "LEFT", "UP", 0), ("BLMOVE", "x", "y", "LEFT", "LEFT", "abc"),
]

WRONGTYPE = [
    ("SET", "str", "v"), ("LPUSH", "str", "x"), ("RPUSHX", "str", "x"), ("LPOP", "str"),
    ("LPOP", "str", 2), ("LRANGE", "str", 0, 1), ("LINDEX", "str", 0), ("LLEN", "str"),
    ("LSET", "str", 0, "x"), ("LINSERT", "str", "BEFORE", "a", "b"), ("LREM", "str", 0, "a"),
    ("LTRIM", "str", 0, 1), ("LPOS", "str", "a"), ("LMPOP", 1, "str", "LEFT"),
    ("RPUSH", "l", "a"), ("GET", "l"), ("INCR", "l"), ("APPEND", "l", "x"),
    ("OBJECT", "ENCODING", "l"), ("TYPE", "l"),
]

ALL = {"pushes": PUSHES + READS, "writes": PUSHES + WRITES, "pops": POPS, "moves": MOVES,
       "wrongtype": WRONGTYPE}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("group", sorted(ALL))
def test_side_by_side(pair, group, protocol):
    a, b = pair(protocol)
    cmds = ALL[group]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def test_arity_errors(pair):
    a, b = pair()
    cmds = [("LPUSH", "k"), ("LPOP",), ("LRANGE", "k", 0), ("BLPOP", "k"), ("LMPOP", 1, "k"),
            ("BLMPOP", 0, 1, "k"), ("LMOVE", "a", "b", "LEFT"), ("LINSERT", "k", "BEFORE", "a")]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def test_big_values_and_ranges(pair):
    a, b = pair()
    big = "x" * 5000
    cmds = [("RPUSH", "l", *[str(i) for i in range(1000)]), ("RPUSH", "l", big),
            ("LRANGE", "l", 990, -1), ("LRANGE", "l", -20, -10), ("LRANGE", "l", 3, 7),
            ("LINDEX", "l", -2), ("LINDEX", "l", 500), ("LPOS", "l", "999"),
            ("LTRIM", "l", 100, 900), ("LLEN", "l"), ("LINDEX", "l", 0), ("LINDEX", "l", -1),
            ("LREM", "l", -2, "500"), ("LTRIM", "l", 10, 20), ("LRANGE", "l", 0, -1)]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def test_encoding_copy_sort_digest(pair):
    a, b = pair()
    cmds = [("RPUSH", "l", "3", "1", "2", "10"), ("OBJECT", "ENCODING", "l"),
            ("COPY", "l", "l2"), ("LPUSH", "l2", "new"), ("LRANGE", "l", 0, -1),
            ("LRANGE", "l2", 0, -1), ("SORT", "l"), ("SORT", "l", "DESC", "LIMIT", 0, 2),
            ("SORT", "l", "ALPHA", "STORE", "sorted"), ("LRANGE", "sorted", 0, -1),
            ("TYPE", "sorted"), ("DEBUG", "DIGEST-VALUE", "l", "l2"),
            ("RENAME", "l2", "l3"), ("LRANGE", "l3", 0, -1), ("DEBUG", "DIGEST")]
    assert_same(run(a, cmds), run(b, cmds), cmds)
    assert a.memory_usage("l") > 0


def test_keyspace_events(server):
    r = server.client()
    r.flushall()
    r.config_set("notify-keyspace-events", "KEA")
    p = r.pubsub()
    p.psubscribe("__keyevent@0__:*")
    wait_until(lambda: p.get_message(timeout=0.1), msg="psubscribe")
    try:
        r.rpush("l", "a", "b", "c")
        r.lpush("l", "z")
        r.linsert("l", "BEFORE", "a", "y")
        r.lset("l", 0, "q")
        r.lrem("l", 1, "y")
        r.ltrim("l", 0, 2)
        r.lpop("l")
        r.rpop("l")
        r.lmove("l", "m", "LEFT", "RIGHT")
        events = []

        def drain():
            m = p.get_message(timeout=0.1)
            while m:
                if m["type"] == "pmessage":
                    events.append((m["channel"].split(b":", 1)[1], m["data"]))
                m = p.get_message(timeout=0.1)
            return events and events[-1][0] == b"del"
        wait_until(drain, msg="events")
        assert events == [
            (b"rpush", b"l"), (b"lpush", b"l"), (b"linsert", b"l"), (b"lset", b"l"),
            (b"lrem", b"l"), (b"ltrim", b"l"), (b"lpop", b"l"), (b"rpop", b"l"),
            (b"rpush", b"m"), (b"lpop", b"l"), (b"del", b"l"),
        ]
    finally:
        r.config_set("notify-keyspace-events", "")
        p.close()
        r.close()


def test_watch_sees_list_writes(r):
    r.rpush("l", "a", "b")
    for cmd in (("LPUSH", "l", "x"), ("LPOP", "l"), ("LSET", "l", 0, "q"), ("LREM", "l", 0, "q"),
                ("LTRIM", "l", 0, 0), ("LINSERT", "l", "BEFORE", "b", "c")):
        r.delete("l")
        r.rpush("l", "a", "b", "q")
        with r.pipeline() as p:
            p.watch("l")
            r.execute_command(*cmd)
            p.multi()
            p.get("other")
            with pytest.raises(redis.WatchError):
                p.execute()


def test_emptied_list_is_deleted(r):
    r.rpush("l", "a")
    r.rpop("l")
    assert r.exists("l") == 0
    r.rpush("l", "a", "a")
    r.lrem("l", 0, "a")
    assert r.exists("l") == 0
    r.rpush("l", "a")
    r.ltrim("l", 1, 0)
    assert r.exists("l") == 0


def _random_ops(rng, n):
    keys = ["a", "b"]
    vals = ["x", "y", "z", "1", "-2"]
    ops = []
    for _ in range(n):
        k = rng.choice(keys)
        v = rng.choice(vals)
        i, j = rng.randint(-6, 6), rng.randint(-6, 6)
        ops.append(rng.choice([
            ("LPUSH", k, v, rng.choice(vals)), ("RPUSH", k, v), ("LPUSHX", k, v),
            ("RPUSHX", k, v), ("LPOP", k), ("RPOP", k, rng.randint(0, 3)),
            ("LRANGE", k, i, j), ("LINDEX", k, i), ("LSET", k, i, v),
            ("LINSERT", k, rng.choice(["BEFORE", "AFTER"]), v, rng.choice(vals)),
            ("LREM", k, rng.randint(-2, 2), v), ("LTRIM", k, i, j), ("LLEN", k),
            ("LPOS", k, v, "RANK", rng.choice([1, 2, -1, -2]), "COUNT", rng.randint(0, 2)),
            ("LMOVE", k, rng.choice(keys), rng.choice(["LEFT", "RIGHT"]),
             rng.choice(["LEFT", "RIGHT"])),
            ("LMPOP", 2, "a", "b", rng.choice(["LEFT", "RIGHT"]), "COUNT", rng.randint(1, 3)),
            ("BLPOP", k, rng.choice(keys), 0.01), ("EXISTS", k),
        ]))
    return ops


@pytest.mark.parametrize("seed", range(4))
def test_random_sequences_match_redis(pair, seed):
    import random
    rng = random.Random(seed)
    a, b = pair(3 if seed % 2 else 2)
    cmds = _random_ops(rng, 300)
    assert_same(run(a, cmds), run(b, cmds), cmds)
