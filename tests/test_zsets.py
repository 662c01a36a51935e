"""Sorted set commands (t_zset.c) side by side with the real redis-server in RESP2 and
RESP3: replies and error texts, encodings, keyspace events, propagation, the generic
keyspace commands, blocking pops, and a randomized comparison of ranges."""

from __future__ import annotations

import random

import pytest
import redis
from oracle import assert_same, run
from raw import wait_blocked

from bocho.testing.server import wait_until

ADDS = [
    ("ZADD", "z", 1, "a", 2, "b", 3, "c"),
    ("ZADD", "z", "NX", 5, "a", 6, "d"), ("ZADD", "z", "XX", "CH", 10, "a", 20, "e"),
    ("ZADD", "z", "GT", "CH", 1, "a", 30, "b"), ("ZADD", "z", "LT", 0, "c"),
    ("ZADD", "z", "INCR", 5, "a"), ("ZADD", "z", "INCR", "NX", 5, "a"),
    ("ZADD", "z", "INCR", "GT", -1, "a"), ("ZADD", "z", "INCR", 5, "a", 6, "b"),
    ("ZADD", "z", "NX", "XX", 1, "a"), ("ZADD", "z", "GT", "LT", 1, "a"),
    ("ZADD", "z", "GT", "NX", 1, "a"), ("ZADD", "z", 1), ("ZADD", "z", "abc", "a"),
    ("ZADD", "z", "nan", "a"), ("ZADD", "z", "", "a"), ("ZADD", "z", " 1", "a"),
    ("ZADD", "z", "1e400", "a"), ("ZADD", "z", "0x10", "hex"), ("ZADD", "z", "1_0", "a"),
    ("ZADD", "z", "inf", "x", "-inf", "y", "-0", "negzero", "0.1", "tenth",
     "1e17", "big", "123456789012345678", "bigger"),
    ("ZADD", "nokey", "XX", 1, "a"), ("ZADD", "nokey", "XX", "INCR", 1, "a"),
    ("EXISTS", "nokey"),
    ("ZINCRBY", "z", "inf", "x"), ("ZINCRBY", "z", "-inf", "x"), ("ZINCRBY", "z", 1.5, "new"),
    ("ZINCRBY", "z", "abc", "new"), ("ZINCRBY", "z", "nx", "new"), ("ZINCRBY", "nz", -0.0, "m"),
    ("ZRANGE", "z", 0, -1, "WITHSCORES"),
]

READS = [
    ("ZRANGE", "z", 0, -1, "WITHSCORES"), ("ZRANGE", "z", 0, -1, "WITHSCORES", "REV"),
    ("ZREVRANGE", "z", 0, 2), ("ZREVRANGE", "z", 0, 2, "WITHSCORES"), ("ZRANGE", "z", -2, -1),
    ("ZRANGE", "z", 5, 2), ("ZRANGE", "z", -100, 100), ("ZRANGE", "z", "x", 1),
    ("ZRANGE", "z", "(1", "+inf", "BYSCORE"),
    ("ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "WITHSCORES"),
    ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 1, 2),
    ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", -1, 2),
    ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 1, -1),
    ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 100, 1),
    ("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", 1, 2, "WITHSCORES"),
    ("ZRANGE", "z", 0, -1, "LIMIT", 1, 2), ("ZRANGE", "z", 0, -1, "LIMIT", 0, -1),
    ("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"), ("ZRANGE", "z", "a", "b", "c"),
    ("ZRANGE", "z", 0, -1, "BYSCORE", "BYLEX"), ("ZRANGE", "z", 0, -1, "LIMIT", 1),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", 0, 3),
    ("ZRANGEBYSCORE", "z", "abc", 1), ("ZRANGEBYSCORE", "z", "(", 1),
    ("ZRANGEBYSCORE", "z", "", 100), ("ZRANGEBYSCORE", "z", "  ", 100),
    ("ZRANGEBYSCORE", "z", "(nan", 1), ("ZRANGEBYSCORE", "z", 1, "1e400"),
    ("ZRANGEBYSCORE", "z", "5", "2"), ("ZRANGEBYSCORE", "z", "(2", "(2"),
    ("ZRANGEBYSCORE", "z", "2", "2"), ("ZRANGEBYSCORE", "z", "-inf", "(-inf"),
    ("ZREVRANGEBYSCORE", "z", "+inf", "-inf"), ("ZREVRANGEBYSCORE", "z", "(inf", "(-inf"),
    ("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "WITHSCORES", "LIMIT", 2, 3),
    ("ZCOUNT", "z", "-inf", "+inf"), ("ZCOUNT", "z", "(1", "(3"), ("ZCOUNT", "z", 3, 1),
    ("ZCOUNT", "z", "x", 1), ("ZCOUNT", "z", "(inf", "inf"), ("ZCOUNT", "nokey", 0, 1),
    ("ZSCORE", "z", "a"), ("ZSCORE", "z", "negzero"), ("ZSCORE", "z", "nosuch"),
    ("ZSCORE", "nokey", "a"), ("ZMSCORE", "z", "a", "nosuch", "b"), ("ZMSCORE", "nokey", "a"),
    ("ZRANK", "z", "a"), ("ZREVRANK", "z", "a"), ("ZRANK", "z", "nosuch"),
    ("ZRANK", "nokey", "a"), ("ZCARD", "z"), ("ZCARD", "nokey"),
]

LEX = [
    ("ZADD", "lex", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "f", 0, "g", 0, "bb", 0, ""),
    ("ZRANGEBYLEX", "lex", "-", "+"), ("ZRANGEBYLEX", "lex", "[b", "(e"),
    ("ZRANGEBYLEX", "lex", "(b", "[e", "LIMIT", 1, 2), ("ZRANGEBYLEX", "lex", "[", "[a"),
    ("ZRANGEBYLEX", "lex", "(", "(b"), ("ZREVRANGEBYLEX", "lex", "+", "-"),
    ("ZREVRANGEBYLEX", "lex", "[e", "(b"), ("ZREVRANGEBYLEX", "lex", "(e", "[b", "LIMIT", 1, 1),
    ("ZLEXCOUNT", "lex", "-", "+"), ("ZLEXCOUNT", "lex", "[c", "[c"),
    ("ZLEXCOUNT", "lex", "(c", "[c"), ("ZLEXCOUNT", "lex", "+", "-"),
    ("ZLEXCOUNT", "lex", "[z", "[zz"), ("ZLEXCOUNT", "lex", "-", "-"),
    ("ZRANGEBYLEX", "lex", "a", "b"), ("ZRANGEBYLEX", "lex", "[a", "+a"),
    ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", 0), ("ZRANGE", "lex", "[b", "[d", "BYLEX", "REV"),
    ("ZRANGE", "lex", "[d", "[b", "BYLEX", "REV", "LIMIT", 0, 2),
    ("ZREMRANGEBYLEX", "lex", "[b", "(d"), ("ZRANGE", "lex", 0, -1),
    ("ZREMRANGEBYLEX", "lex", "x", "y"), ("ZREMRANGEBYRANK", "lex", 0, 1),
    ("ZREMRANGEBYRANK", "lex", -1, -1), ("ZREMRANGEBYRANK", "lex", 5, 1),
    ("ZREMRANGEBYRANK", "lex", "x", 1), ("ZRANGE", "lex", 0, -1),
    ("ZREMRANGEBYSCORE", "lex", "(0", "+inf"), ("ZREMRANGEBYSCORE", "lex", "x", 1),
    ("ZREMRANGEBYSCORE", "lex", "-inf", "+inf"), ("EXISTS", "lex"),
    ("ZREMRANGEBYSCORE", "nokey", "-inf", "+inf"),
]

REMS = [
    ("ZADD", "r", 1, "a", 2, "b", 3, "c"), ("ZREM", "r", "a", "nosuch"),
    ("ZREM", "r", "b", "c", "d"), ("EXISTS", "r"), ("ZREM", "nokey", "a"),
]

SETOPS = [
    ("ZADD", "a", 1, "x", 2, "y", 3, "z"), ("ZADD", "b", 10, "y", 20, "z", 30, "w"),
    ("ZADD", "c", 5, "z"), ("SET", "str", "v"),
    ("ZUNION", 2, "a", "b", "WITHSCORES"), ("ZUNION", 2, "a", "b", "WEIGHTS", 2, 3, "WITHSCORES"),
    ("ZUNION", 2, "a", "b", "WEIGHTS", 2, "WITHSCORES"),
    ("ZUNION", 2, "a", "b", "AGGREGATE", "MIN", "WITHSCORES"),
    ("ZUNION", 2, "a", "b", "aggregate", "max", "withscores"),
    ("ZUNION", 2, "a", "b", "AGGREGATE", "foo"), ("ZUNION", 0, "a"), ("ZUNION", -1, "a"),
    ("ZUNION", 3, "a", "b"), ("ZUNION", "x", "a"), ("ZUNION", 2, "a", "str"),
    ("ZUNION", 2, "str", "a", "WEIGHTS", "x"), ("ZUNION", 1, "a", "WEIGHTS", "nan"),
    ("ZINTER", 3, "a", "b", "c", "WITHSCORES"), ("ZINTER", 2, "a", "b", "WITHSCORES", "AGGREGATE", "MAX"),
    ("ZINTER", 2, "a", "a", "WITHSCORES"), ("ZINTER", 2, "a", "nokey", "WITHSCORES"),
    ("ZINTERCARD", 2, "a", "b"), ("ZINTERCARD", 2, "a", "b", "LIMIT", 1),
    ("ZINTERCARD", 2, "a", "b", "LIMIT", -1), ("ZINTERCARD", 2, "a", "b", "LIMIT", "x"),
    ("ZINTERCARD", 0, "a"), ("ZINTERCARD", 2, "a", "b", "WITHSCORES"),
    ("ZINTERCARD", 1, "nokey"), ("ZINTERCARD", 2, "a", "str"),
    ("ZDIFF", 2, "a", "b", "WITHSCORES"), ("ZDIFF", 2, "a", "a"), ("ZDIFF", 1, "a"),
    ("ZDIFF", 2, "a", "b", "WEIGHTS", 1, 2), ("ZDIFF", 2, "nokey", "a"),
    ("ZUNIONSTORE", "d", 2, "a", "b"), ("ZRANGE", "d", 0, -1, "WITHSCORES"),
    ("OBJECT", "ENCODING", "d"), ("ZINTERSTORE", "d", 2, "a", "b", "WEIGHTS", 1, "inf"),
    ("ZRANGE", "d", 0, -1, "WITHSCORES"), ("ZINTERSTORE", "d", 2, "nokey", "a"), ("EXISTS", "d"),
    ("ZDIFFSTORE", "d", 2, "a", "c"), ("ZRANGE", "d", 0, -1, "WITHSCORES"),
    ("ZUNIONSTORE", "d", 2, "a", "b", "WITHSCORES"), ("ZUNIONSTORE", "d", 0, "a"),
    ("ZADD", "i1", "inf", "p"), ("ZADD", "i2", "-inf", "p"), ("ZADD", "one", 1, "p"),
    ("ZUNION", 2, "i1", "i2", "WITHSCORES"), ("ZINTER", 2, "i1", "i2", "WITHSCORES"),
    ("ZUNION", 2, "i1", "one", "WEIGHTS", 0, 1, "WITHSCORES"),
    ("ZINTER", 2, "i1", "one", "WEIGHTS", 0, 1, "WITHSCORES"),
    ("ZINTER", 2, "i1", "one", "WEIGHTS", 0, 1, "AGGREGATE", "MIN", "WITHSCORES"),
    ("ZINTER", 2, "one", "i1", "WEIGHTS", 1, 0, "AGGREGATE", "MAX", "WITHSCORES"),
]

POPS = [
    ("ZADD", "p", 1, "a", 2, "b", 3, "c", 4, "d", 5, "e"), ("SET", "str", "v"),
    ("ZPOPMIN", "p"), ("ZPOPMAX", "p", 2), ("ZPOPMIN", "nokey"), ("ZPOPMIN", "nokey", 0),
    ("ZPOPMIN", "str"), ("ZPOPMIN", "str", 0), ("ZPOPMIN", "p", 0), ("ZPOPMIN", "p", -1),
    ("ZPOPMIN", "p", "x"), ("ZPOPMIN", "p", 1, 2), ("ZPOPMAX", "p", 1),
    ("ZADD", "q", 1, "x", 2, "y"),
    ("ZMPOP", 2, "nokey", "p", "MIN"), ("ZMPOP", 2, "nokey", "q", "max", "count", 10),
    ("ZMPOP", 1, "nokey", "MIN"), ("ZMPOP", 0, "nokey", "MIN"), ("ZMPOP", "x", "nokey", "MIN"),
    ("ZMPOP", 1, "p"), ("ZMPOP", 1, "p", "MID"), ("ZMPOP", 1, "p", "MIN", "COUNT", 0),
    ("ZMPOP", 1, "p", "MIN", "COUNT"), ("ZMPOP", 1, "p", "MIN", "COUNT", 1, "COUNT", 1),
    ("ZMPOP", 2, "str", "p", "MIN"), ("ZMPOP", 1, "p", "MAX", "COUNT", 5), ("EXISTS", "p"),
    ("BZPOPMIN", "nokey", "str", 0), ("BZPOPMIN", "q", "abc"), ("BZPOPMIN", "q", -1),
    ("BZMPOP", 0, 0, "q", "MIN"), ("BZMPOP", "x", 1, "q", "MIN"), ("BZMPOP", -1, 1, "q", "MIN"),
    ("ZADD", "q", 1, "x", 2, "y", 3, "z"),
    ("BZPOPMIN", "nokey", "q", 0), ("BZPOPMAX", "q", 0), ("BZMPOP", 1, 2, "nokey", "q", "MIN"),
    ("EXISTS", "q"),
]

STORES = [
    ("ZADD", "s", 1, "a", 2, "b", 3, "c"), ("SET", "str", "v"),
    ("ZRANGESTORE", "dst", "s", 0, -1), ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("ZRANGESTORE", "dst", "s", "(1", "+inf", "BYSCORE"), ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("ZRANGESTORE", "dst", "s", "[b", "+", "BYLEX", "LIMIT", 0, 1),
    ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("ZRANGESTORE", "dst", "s", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", 0, 2),
    ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("ZRANGESTORE", "dst", "s", 10, 20), ("EXISTS", "dst"),
    ("ZRANGESTORE", "dst", "s", 0, 0), ("ZRANGESTORE", "dst", "nokey", 0, -1), ("EXISTS", "dst"),
    ("ZRANGESTORE", "dst", "s", 0, -1, "WITHSCORES"), ("ZRANGESTORE", "dst", "str", 0, -1),
    ("ZRANGESTORE", "str", "s", 0, -1), ("TYPE", "str"),
]

OTHERS = [
    ("ZADD", "o", 1, "a", 2, "b", 3, "c"), ("SET", "str", "v"),
    ("ZRANDMEMBER", "nokey"), ("ZRANDMEMBER", "nokey", 5), ("ZRANDMEMBER", "o", 0),
    ("ZRANDMEMBER", "o", 10, "WITHSCORES"), ("ZRANDMEMBER", "o", 3), ("ZRANDMEMBER", "o", 1, "foo"),
    ("ZRANDMEMBER", "o", -9223372036854775808), ("ZRANDMEMBER", "o", "x"),
    ("ZRANDMEMBER", "o", -9223372036854770000, "WITHSCORES"), ("ZRANDMEMBER", "str"),
    ("ZSCAN", "o", 0), ("ZSCAN", "nokey", 0), ("ZSCAN", "str", 0), ("ZSCAN", "o", 0, "MATCH", "a*"),
    ("ZSCAN", "o", 0, "COUNT", 0), ("ZSCAN", "o", 0, "TYPE", "zset"), ("ZSCAN", "o", "x"),
    ("ZSCAN", "str", "x"), ("ZSCAN", "o", 0, "COUNT"),
    ("ZADD", "o2", 3, "c", 1, "a", "1e17", "big", "-0.5", "neg"), ("ZSCAN", "o2", 0),
    ("ZADD", "o2", 0, "c"), ("ZSCAN", "o2", 0, "MATCH", "*"),
]

WRONGTYPE = [
    ("SET", "str", "v"),
    *[(c, "str", *rest) for c, *rest in (
        ("ZADD", 1, "a"), ("ZINCRBY", 1, "a"), ("ZREM", "a"), ("ZCARD",), ("ZSCORE", "a"),
        ("ZMSCORE", "a"), ("ZRANK", "a"), ("ZREVRANK", "a"), ("ZCOUNT", 0, 1),
        ("ZLEXCOUNT", "-", "+"), ("ZRANGE", 0, -1), ("ZRANGEBYSCORE", 0, 1),
        ("ZRANGEBYLEX", "-", "+"), ("ZREVRANGE", 0, 1), ("ZREMRANGEBYRANK", 0, 1),
        ("ZREMRANGEBYSCORE", 0, 1), ("ZREMRANGEBYLEX", "-", "+"), ("ZRANDMEMBER", 1),
        ("ZPOPMAX",))],
    ("ZADD", "str", "abc", "a"), ("ZRANGE", "str", "x", 1), ("ZCOUNT", "str", "x", 1),
]

CASES = {"adds": ADDS, "reads": ADDS + READS, "lex": LEX, "rems": REMS, "setops": SETOPS,
         "pops": POPS, "stores": STORES, "others": OTHERS, "wrongtype": WRONGTYPE}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_side_by_side(pair, name, protocol):
    a, b = pair(protocol)
    cmds = CASES[name]
    assert_same(run(a, cmds), run(b, cmds), cmds)


# -- encodings ---------------------------------------------------------------------------

def _enc(c, key):
    return c.object("encoding", key)


def test_encodings_follow_redis(pair):
    a, b = pair()
    try:
        for c in (a, b):
            c.config_set("zset-max-listpack-entries", 4)
            c.config_set("zset-max-listpack-value", 8)
        cmds = [
            ("ZADD", "e", 1, "a", 2, "b", 3, "c", 4, "d"), ("OBJECT", "ENCODING", "e"),
            ("ZADD", "e", 5, "a"), ("OBJECT", "ENCODING", "e"),
            ("ZADD", "e", "XX", 5, "x"), ("OBJECT", "ENCODING", "e"),
            ("ZADD", "e", 5, "x"), ("OBJECT", "ENCODING", "e"),
            ("ZREM", "e", "a", "b", "c", "d"), ("OBJECT", "ENCODING", "e"),
            ("ZADD", "long", 1, "123456789"), ("OBJECT", "ENCODING", "long"),
            ("ZADD", "f", 1, "a"), ("ZADD", "f", 2, "123456789"), ("OBJECT", "ENCODING", "f"),
            ("ZUNIONSTORE", "u", 1, "e"), ("OBJECT", "ENCODING", "u"),
            ("ZUNIONSTORE", "u", 1, "f"), ("OBJECT", "ENCODING", "u"),
            ("ZADD", "big", 1, "a", 2, "b", 3, "c", 4, "d", 5, "e"), ("OBJECT", "ENCODING", "big"),
            ("ZRANGESTORE", "rs", "big", 0, 3), ("OBJECT", "ENCODING", "rs"),
            ("ZRANGESTORE", "rs", "big", 0, -1), ("OBJECT", "ENCODING", "rs"),
            ("ZRANGESTORE", "rs", "big", "-inf", "(5", "BYSCORE"), ("OBJECT", "ENCODING", "rs"),
            ("ZINCRBY", "inc", 1, "123456789"), ("OBJECT", "ENCODING", "inc"),
            ("COPY", "big", "bigcopy"), ("OBJECT", "ENCODING", "bigcopy"),
            ("CONFIG", "SET", "zset-max-listpack-entries", 0),
            ("ZADD", "zero", 1, "a"), ("OBJECT", "ENCODING", "zero"),
            ("ZADD", "nz", "-0", "m"), ("ZSCORE", "nz", "m"),
            ("CONFIG", "SET", "zset-max-listpack-entries", 128),
            ("ZADD", "lpz", "-0", "m"), ("ZSCORE", "lpz", "m"), ("ZINCRBY", "lpz", "-0", "n"),
            ("ZRANGE", "lpz", 0, -1, "WITHSCORES"),
        ]
        assert_same(run(a, cmds), run(b, cmds), cmds)
    finally:
        for c in (a, b):
            c.config_set("zset-max-listpack-entries", 128)
            c.config_set("zset-max-listpack-value", 64)


# -- the generic keyspace commands -------------------------------------------------------

def test_generic_commands(pair):
    a, b = pair()
    cmds = [("ZADD", "z", 3, "c", 1, "a", 2, "b", "1.5", "x"), ("TYPE", "z"),
            ("COPY", "z", "z2"), ("ZRANGE", "z2", 0, -1, "WITHSCORES"), ("RENAME", "z2", "z3"),
            ("ZRANGE", "z3", 0, -1), ("SORT", "z", "ALPHA"), ("SORT", "z", "BY", "nosort"),
            ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 0, 2), ("SORT", "z", "ALPHA", "DESC"),
            ("DEBUG", "DIGEST-VALUE", "z", "z3"), ("DEBUG", "DIGEST"),
            ("ZADD", "sl", "0.1", "a", "-0.25", "b", "inf", "c"),
            ("DEBUG", "DIGEST-VALUE", "sl"), ("MOVE", "z3", 1), ("EXISTS", "z3")]
    assert_same(run(a, cmds), run(b, cmds), cmds)
    assert a.memory_usage("z") > 0
    a.config_set("zset-max-listpack-entries", 1)
    try:
        a.zadd("skip", {"a": 1, "b": 2, "c": 3})
        assert _enc(a, "skip") == b"skiplist"
        assert a.memory_usage("skip") > 0
    finally:
        a.config_set("zset-max-listpack-entries", 128)


def test_digest_does_not_depend_on_encoding(pair):
    a, b = pair()
    a.config_set("zset-max-listpack-entries", 1)
    try:
        a.zadd("d", {"a": 1.5, "b": -2, "c": 1e20})
        b.zadd("d", {"a": 1.5, "b": -2, "c": 1e20})
        assert _enc(a, "d") == b"skiplist" and _enc(b, "d") == b"listpack"
        assert a.execute_command("DEBUG", "DIGEST-VALUE", "d") == \
            b.execute_command("DEBUG", "DIGEST-VALUE", "d")
    finally:
        a.config_set("zset-max-listpack-entries", 128)


def test_zscan_walks_big_sets(r):
    members = {f"m{i}": i for i in range(1000)}
    r.zadd("big", members)
    assert r.object("encoding", "big") == b"skiplist"
    seen = {}
    cursor = 0
    calls = 0
    while True:
        cursor, items = r.zscan("big", cursor, count=50)
        calls += 1
        if calls == 3:
            r.zadd("big", {"late": 5000})
            r.zrem("big", "m0")
        seen.update(items)
        if cursor == 0:
            break
    assert calls > 5
    for m, s in members.items():
        if m != "m0":
            assert seen[m.encode()] == s
    cursor, items = r.zscan("big", 0, match="m99*", count=2000)
    assert cursor == 0 and {k for k, _ in items} == {b"m99", b"m990", b"m991", b"m992",
                                                      b"m993", b"m994", b"m995", b"m996",
                                                      b"m997", b"m998", b"m999"}


def test_zrandmember_semantics(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zrandmember("z") in (b"a", b"b", b"c", b"d", b"e")
    got = r.zrandmember("z", 3)
    assert len(got) == 3 and len(set(got)) == 3
    got = r.zrandmember("z", -20)
    assert len(got) == 20 and set(got) <= {b"a", b"b", b"c", b"d", b"e"}
    got = r.execute_command("ZRANDMEMBER", "z", -4, "WITHSCORES")  # redis-py pairs them
    assert len(got) == 4
    for m, s in got:
        assert r.zscore("z", m) == float(s)
    seen = set()
    for _ in range(200):
        seen.update(r.zrandmember("z", 2))
    assert seen == {b"a", b"b", b"c", b"d", b"e"}


def test_zrandmember_resp3_pairs(r3):
    r3.zadd("z", {"a": 1, "b": 2})
    got = r3.execute_command("ZRANDMEMBER", "z", 2, "WITHSCORES")
    assert sorted(map(tuple, got)) == [(b"a", 1.0), (b"b", 2.0)]


# -- keyspace events ---------------------------------------------------------------------

EVENT_CMDS = [
    ("ZADD", "z", 1, "a", 2, "b", 3, "c", 4, "d"), ("ZADD", "z", 1, "a"),
    ("ZADD", "z", "INCR", 1, "a"), ("ZINCRBY", "z", 1, "b"), ("ZREM", "z", "nosuch"),
    ("ZREM", "z", "a"), ("ZREMRANGEBYSCORE", "z", 0, "(3"), ("ZREMRANGEBYRANK", "z", 5, 6),
    ("ZADD", "z", 0, "x", 0, "y"), ("ZREMRANGEBYLEX", "z", "[x", "[x"),
    ("ZREMRANGEBYRANK", "z", 0, 0), ("ZPOPMIN", "z"), ("ZPOPMAX", "z", 10),
    ("ZADD", "a", 1, "x"), ("ZADD", "b", 2, "x"), ("ZUNIONSTORE", "u", 2, "a", "b"),
    ("ZINTERSTORE", "i", 2, "a", "b"), ("ZDIFFSTORE", "d", 2, "a", "b"),
    ("ZRANGESTORE", "rs", "a", 0, -1), ("ZRANGESTORE", "rs", "a", 5, 6),
    ("ZMPOP", 1, "a", "MAX"), ("ZADD", "m", 1, "x", 2, "y"), ("ZMPOP", 1, "m", "MIN", "COUNT", 1),
    ("BZPOPMAX", "m", 0), ("ZADD", "n", 1, "x"), ("BZMPOP", 0, 1, "n", "MIN"),
    ("ZREM", "b", "x"), ("SET", "end", "1"),
]


def _events(client, cmds):
    client.config_set("notify-keyspace-events", "KEA")
    p = client.pubsub()
    p.psubscribe("__keyevent@0__:*")
    wait_until(lambda: p.get_message(timeout=0.1), msg="psubscribe")
    events = []
    try:
        run(client, cmds)

        def drain():
            m = p.get_message(timeout=0.1)
            while m:
                if m["type"] == "pmessage":
                    events.append((m["channel"].split(b":", 1)[1], m["data"]))
                m = p.get_message(timeout=0.1)
            return events and events[-1] == (b"set", b"end")
        wait_until(drain, msg="events")
    finally:
        client.config_set("notify-keyspace-events", "")
        p.close()
    return events


def test_keyspace_events_match_redis(pair):
    a, b = pair()
    assert _events(a, EVENT_CMDS) == _events(b, EVENT_CMDS)


def test_watch_sees_zset_writes(server):
    r = server.client()
    other = server.client()
    try:
        for cmd in (("ZADD", "z", 5, "x"), ("ZINCRBY", "z", 1, "a"), ("ZREM", "z", "a"),
                    ("ZPOPMIN", "z"), ("ZREMRANGEBYRANK", "z", 0, 0),
                    ("ZUNIONSTORE", "z", 1, "z"), ("ZMPOP", 1, "z", "MAX")):
            r.delete("z")
            r.zadd("z", {"a": 1, "b": 2})
            p = r.pipeline(transaction=True)
            p.watch("z")
            other.execute_command(*cmd)
            p.multi()
            p.zcard("z")
            with pytest.raises(redis.WatchError):
                p.execute()
        r.zadd("z", {"a": 1})
        p = r.pipeline(transaction=True)
        p.watch("z")
        other.zadd("z", {"a": 1})  # no change: not a write in Redis's eyes
        other.zrem("z", "nosuch")
        p.multi()
        p.zcard("z")
        assert p.execute() == [1]
    finally:
        r.close()
        other.close()


# -- propagation ---------------------------------------------------------------------------

def test_propagation(inproc):
    inproc("ZADD", "z", 1, "a", 2, "b", 3, "c")
    inproc("ZADD", "z", "NX", 1, "a")  # no change: nothing propagated
    inproc("ZINCRBY", "z", 1, "a")
    inproc("ZPOPMIN", "z")
    inproc("ZMPOP", 1, "z", "MAX", "COUNT", 10)
    inproc("ZADD", "q", 1, "x")
    inproc("BZPOPMIN", "q", 0)
    inproc("GEOADD", "g", "CH", 13.361389, 38.115556, "Palermo")
    inproc("ZREM", "g", "nosuch")
    inproc("ZUNIONSTORE", "u", 1, "g")
    assert inproc.argvs() == [
        [b"ZADD", b"z", b"1", b"a", b"2", b"b", b"3", b"c"],
        [b"ZINCRBY", b"z", b"1", b"a"],
        [b"ZPOPMIN", b"z"],
        [b"ZPOPMAX", b"z", b"2"],
        [b"ZADD", b"q", b"1", b"x"],
        [b"ZPOPMIN", b"q"],
        [b"zadd", b"g", b"CH", b"3479099956230698", b"Palermo"],
        [b"ZUNIONSTORE", b"u", b"1", b"g"],
    ]


# -- blocking pops ---------------------------------------------------------------------------

def test_bzpop_served_in_blocking_order(r, deferred):
    d1, d2, d3 = deferred(), deferred(), deferred()
    d1.send("BZPOPMIN", "z", 0)
    wait_blocked(r, 1)
    d2.send("BZPOPMAX", "z", "other", 0)
    wait_blocked(r, 2)
    d3.send("BZMPOP", 0, 2, "other", "z", "MAX", "COUNT", 5)
    wait_blocked(r, 3)
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert d1.read() == [b"z", b"a", b"1"]
    assert d2.read() == [b"z", b"d", b"4"]
    assert d3.read() == [b"z", [[b"c", b"3"], [b"b", b"2"]]]
    assert r.exists("z") == 0
    wait_blocked(r, 0)


def test_bzpop_resp3_and_timeouts(r, deferred):
    d = deferred(3)
    d.send("BZPOPMIN", "z", "0.05")
    assert d.read() is None
    d.send("BZMPOP", "0.05", 1, "z", "MIN")
    assert d.read() is None
    d.send("BZPOPMAX", "z", 0)
    wait_blocked(r)
    r.zadd("z", {"a": 1.5})
    assert d.read() == [b"z", b"a", 1.5]
    d.send("BZMPOP", 0, 1, "z", "MIN")
    wait_blocked(r)
    r.zadd("z", {"a": 2})
    assert d.read() == [b"z", [[b"a", 2.0]]]


def test_bzpop_never_blocks_in_multi(r):
    p = r.pipeline(transaction=True)
    p.bzpopmin("z", 0)
    p.execute_command("BZMPOP", 0, 1, "z", "MIN")
    assert p.execute() == [None, None]


def test_bzpop_waits_while_key_has_another_type(r, deferred):
    d = deferred()
    d.send("BZPOPMIN", "z", 0)
    wait_blocked(r)
    r.set("z", "string")
    r.delete("z")
    wait_blocked(r, 1)
    r.zadd("z", {"x": 1})
    assert d.read() == [b"z", b"x", b"1"]


def test_bzpop_variadic_zadd_serves_one_client_per_member(r, deferred):
    d1, d2 = deferred(), deferred()
    d1.send("BZPOPMIN", "z", 0)
    wait_blocked(r, 1)
    d2.send("BZPOPMIN", "z", 0)
    wait_blocked(r, 2)
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert d1.read() == [b"z", b"a", b"1"]
    assert d2.read() == [b"z", b"b", b"2"]
    assert r.zrange("z", 0, -1) == [b"c"]


# -- randomized comparison ---------------------------------------------------------------

def _bound(rng):
    k = rng.random()
    if k < 0.1:
        return rng.choice(["-inf", "+inf", "(-inf", "(+inf"])
    v = rng.choice([rng.randrange(-5, 25), round(rng.uniform(-5, 25), 1)])
    return f"({v}" if rng.random() < 0.3 else str(v)


def _lex(rng):
    k = rng.random()
    if k < 0.1:
        return rng.choice(["-", "+"])
    s = "".join(rng.choice("abcd") for _ in range(rng.randrange(0, 3)))
    return ("(" if rng.random() < 0.4 else "[") + s


@pytest.mark.parametrize("entries", [128, 1])
def test_random_ranges_match_redis(pair, entries):
    a, b = pair()
    rng = random.Random(entries)
    a.config_set("zset-max-listpack-entries", entries)
    b.config_set("zset-max-listpack-entries", entries)
    try:
        cmds = []
        for _ in range(600):
            k = rng.random()
            m = "".join(rng.choice("abcd") for _ in range(rng.randrange(1, 4)))
            if k < 0.35:
                cmds.append(("ZADD", "z", rng.choice([rng.randrange(20), rng.uniform(0, 20)]), m))
            elif k < 0.4:
                cmds.append(("ZADD", "lz", 0, m))
            elif k < 0.45:
                cmds.append(("ZREM", "z", m))
            elif k < 0.5:
                cmds.append(("ZINCRBY", "z", rng.randrange(-3, 4), m))
            elif k < 0.6:
                cmds.append(("ZRANGEBYSCORE", "z", _bound(rng), _bound(rng), "WITHSCORES",
                             "LIMIT", rng.randrange(-1, 4), rng.randrange(-1, 6)))
            elif k < 0.7:
                cmds.append(("ZREVRANGEBYSCORE", "z", _bound(rng), _bound(rng), "LIMIT",
                             rng.randrange(0, 4), rng.randrange(-1, 6)))
            elif k < 0.75:
                cmds.append(("ZCOUNT", "z", _bound(rng), _bound(rng)))
            elif k < 0.85:
                cmds.append((rng.choice(["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), "lz", _lex(rng),
                             _lex(rng), "LIMIT", rng.randrange(0, 3), rng.randrange(-1, 5)))
            elif k < 0.9:
                cmds.append(("ZLEXCOUNT", "lz", _lex(rng), _lex(rng)))
            elif k < 0.95:
                cmds.append(("ZRANGE", "z", rng.randrange(-8, 8), rng.randrange(-8, 8),
                             *rng.choice([(), ("REV",), ("WITHSCORES",)])))
            else:
                cmds.append(("ZRANK", "z", m))
                cmds.append(("ZREVRANK", "z", m))
        cmds.append(("ZRANGE", "z", 0, -1, "WITHSCORES"))
        assert_same(run(a, cmds), run(b, cmds), cmds)
    finally:
        a.config_set("zset-max-listpack-entries", 128)
        b.config_set("zset-max-listpack-entries", 128)


def test_sets_as_inputs(pair):
    """Plain sets take part in ZUNION/ZINTER/ZDIFF with score 1."""
    a, b = pair()
    a.execute_command("SADD", "s", "a", "b", "c")
    b.execute_command("SADD", "s", "a", "b", "c")
    cmds = [("SADD", "ints", 1, 2, 3), ("ZADD", "z", 5, "a", 7, "x", 2, "1"),
            ("ZUNION", 2, "s", "z", "WITHSCORES"),
            ("ZUNION", 3, "s", "z", "ints", "WEIGHTS", 2, 3, 4, "WITHSCORES"),
            ("ZINTER", 2, "z", "s", "WITHSCORES", "AGGREGATE", "MAX"),
            ("ZINTER", 2, "ints", "z", "WITHSCORES"), ("ZINTERCARD", 2, "s", "z"),
            ("ZDIFF", 2, "s", "z", "WITHSCORES"), ("ZDIFF", 2, "z", "s", "WITHSCORES"),
            ("ZUNIONSTORE", "d", 2, "s", "ints"), ("ZRANGE", "d", 0, -1, "WITHSCORES"),
            ("OBJECT", "ENCODING", "d"), ("ZINTERSTORE", "d", 2, "s", "s"),
            ("ZRANGE", "d", 0, -1, "WITHSCORES"), ("ZDIFFSTORE", "d", 1, "ints"),
            ("ZRANGE", "d", 0, -1, "WITHSCORES"), ("SORT", "z", "BY", "nosort")]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def test_listpack_structure_against_a_model():
    """The packed listpack form (members blob, offsets, scores) stays equal to a plain
    sorted model through random inserts, moves and deletes, empty and prefix members
    included."""
    from bocho.types.zset import ZSet
    rng = random.Random(5)
    for _ in range(400):
        model: dict[bytes, float] = {}
        z = ZSet(True)
        for _ in range(40):
            m = bytes(rng.choice(b"ab\x00") for _ in range(rng.randrange(0, 4)))
            s = float(rng.randrange(-3, 4))
            k = rng.random()
            if k < 0.5 and m not in model:
                z.insert(m, s)
                model[m] = s + 0.0
            elif k < 0.8 and m in model and model[m] != s:
                z.update(m, model[m], s)
                model[m] = s + 0.0
            elif k < 0.9:
                assert z.delete(m) == (model.pop(m, None) is not None)
            else:
                n = len(model)
                a = rng.randrange(n + 1)
                b = rng.randrange(a, n + 1)
                want = sorted((s, m) for m, s in model.items())
                assert z.delete_slice(a, b) == b - a
                for _, gone in want[a:b]:
                    del model[gone]
            want = sorted((s, m) for m, s in model.items())
            assert z.slice(0, len(z)) == want and len(z) == len(model)
            for i, (s, m) in enumerate(want):
                assert z.score(m) == s and z.rank(m) == i and z.at(i) == (s, m)
            assert z.score(b"zz") is None and z.rank(b"zz") is None


GETKEYS = [
    ("ZUNIONSTORE", "dst", 2, "a", "b", "WEIGHTS", 1, 2), ("ZINTERSTORE", "dst", 2, "a", "b"),
    ("ZDIFF", 2, "a", "b"), ("ZINTERCARD", 3, "a", "b", "c", "LIMIT", 1),
    ("ZMPOP", 2, "a", "b", "MIN"), ("BZMPOP", 0, 2, "a", "b", "MIN"),
    ("BZPOPMIN", "a", "b", "c", 0), ("ZRANGESTORE", "dst", "src", 0, -1),
    ("GEORADIUS", "g", 1, 2, 3, "km", "STORE", "dst"),
    ("GEORADIUS", "g", 1, 2, 3, "km", "STOREDIST", "dst"), ("GEORADIUS", "g", 1, 2, 3, "km"),
    ("GEORADIUSBYMEMBER", "g", "m", 3, "km", "STORE", "dst"),
    ("GEOSEARCHSTORE", "dst", "src", "FROMLONLAT", 1, 2, "BYRADIUS", 3, "km"),
    ("ZADD", "k", 1, "m"), ("ZREM", "k", "m"), ("ZINCRBY", "k", 1, "m"),
]


@pytest.mark.parametrize("sub", ["GETKEYS", "GETKEYSANDFLAGS"])
def test_command_getkeys_matches_redis(pair, sub):
    a, b = pair()
    for c in (a, b):
        c.set_response_callback("COMMAND", lambda x, **kw: x)
    cmds = [("COMMAND", sub, *args) for args in GETKEYS]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def test_interleaved_zscans_each_see_every_member(r):
    """Two ZSCANs of one skiplist set walked in turns (one starting while the other is
    midway) each return every member: each has its own snapshot (keys.scan_container)."""
    r.zadd("zs", {f"x{i}": i for i in range(100)})  # removed while the scans run
    r.zadd("zs", {f"m{i}": i for i in range(500)})
    assert r.object("encoding", "zs") == b"skiplist"
    extra = [f"x{i}" for i in range(100)]
    seen = [set(), set()]
    cursors = [0, 0]
    started = [False, False]
    while not all(started) or any(cursors):
        for k in (0, 1):
            if k == 1 and not seen[0]:
                continue  # the second scan starts once the first is midway
            if started[k] and cursors[k] == 0:
                continue
            started[k] = True
            cursors[k], items = r.zscan("zs", cursors[k], count=20)
            seen[k].update(m for m, _ in items if m.startswith(b"m"))
            if extra:
                r.zrem("zs", *extra[:10])
                del extra[:10]
    assert seen[0] == seen[1] == {f"m{i}".encode() for i in range(500)}
