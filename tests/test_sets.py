"""Set commands (t_set.c), side by side with a real redis-server in RESP2 and RESP3:
exact replies where Redis's order is defined (intsets are sorted), sorted replies where it
is not; encodings, random members, propagation, keyspace events."""

from __future__ import annotations

import pytest
import redis
from oracle import assert_same, run
from test_hashes import _events

# Commands whose reply order is a hashtable's: compared as sorted lists.
UNORDERED = {"smembers", "sinter", "sunion", "sdiff"}


def norm(cmd, reply):
    if cmd[0] in UNORDERED and isinstance(reply, (list, set)):
        return sorted(reply)
    if cmd[0] == "sscan" and isinstance(reply, (list, tuple)) and len(reply) == 2:
        return reply[0], sorted(reply[1])
    return reply


def same(pair, cmds, protocol=2):
    a, b = pair(protocol)
    got = [norm(c, g) for c, g in zip(cmds, run(a, cmds), strict=True)]
    want = [norm(c, w) for c, w in zip(cmds, run(b, cmds), strict=True)]
    assert_same(got, want, cmds)
    return got


INTS = [str(i) for i in (5, -3, 100, 0, 42, 9223372036854775807, -9223372036854775808, 7)]

CASES = [
    # intsets reply in ascending order, exactly as Redis
    [("sadd", "s", *INTS), ("smembers", "s"), ("object", "encoding", "s"),
     ("sscan", "s", "0"), ("sscan", "s", "0", "match", "*0*"), ("scard", "s"),
     ("sadd", "s", "5", "6"), ("srem", "s", "5", "99"), ("smembers", "s")],
    # non-canonical integers make a hashtable
    [("sadd", "a", "1", "2"), ("object", "encoding", "a"), ("sadd", "a", "01"),
     ("object", "encoding", "a"), ("sadd", "b", "9223372036854775808"),
     ("object", "encoding", "b"), ("sadd", "c", "-0"), ("object", "encoding", "c"),
     ("sadd", "d", " 1"), ("object", "encoding", "d"), ("sadd", "e", "x", "1"),
     ("object", "encoding", "e"), ("smembers", "a")],
    # SISMEMBER / SMISMEMBER / SCARD
    [("sadd", "s", "a", "b", "1"), ("sismember", "s", "a"), ("sismember", "s", "z"),
     ("sismember", "nokey", "a"), ("smismember", "s", "a", "z", "1"),
     ("smismember", "nokey", "a", "b"), ("scard", "nokey"), ("smismember", "s")],
    # SREM empties and deletes the key
    [("sadd", "s", "a", "b"), ("srem", "s", "a", "b", "c"), ("exists", "s"),
     ("srem", "nokey", "a"), ("srem", "s")],
    # SMOVE
    [("sadd", "src", "a", "b", "1"), ("sadd", "dst", "1", "2"), ("smove", "src", "dst", "a"),
     ("smove", "src", "dst", "zz"), ("smove", "nokey", "dst", "a"), ("smove", "src", "src", "b"),
     ("smove", "src", "src", "zz"), ("smove", "src", "dst", "1"), ("smembers", "src"),
     ("smembers", "dst"), ("object", "encoding", "dst"), ("smove", "src", "new", "b"),
     ("exists", "src"), ("smembers", "new"), ("object", "encoding", "new"),
     ("sadd", "i", "1"), ("smove", "dst", "i", "5"), ("smove", "dst", "i", "2"),
     ("object", "encoding", "i"), ("set", "str", "v"), ("smove", "dst", "str", "1"),
     ("smove", "str", "dst", "1"), ("smove", "nokey", "str", "1")],
    # SINTER / SUNION / SDIFF / SINTERCARD
    [("sadd", "s1", "1", "2", "3", "4"), ("sadd", "s2", "3", "4", "5"),
     ("sadd", "s3", "a", "3", "4"), ("sinter", "s1", "s2"), ("sinter", "s1", "s2", "s3"),
     ("sinter", "s1", "nokey"), ("sinter", "s1", "s1"), ("sunion", "s1", "s2", "nokey"),
     ("sunion", "nokey"), ("sdiff", "s1", "s2"), ("sdiff", "s1", "s1"), ("sdiff", "nokey", "s1"),
     ("sdiff", "s1", "nokey", "s3"), ("sintercard", "2", "s1", "s2"),
     ("sintercard", "2", "s1", "s2", "limit", "1"), ("sintercard", "2", "s1", "s2", "limit", "0"),
     ("sintercard", "1", "nokey"), ("sintercard", "0", "s1"), ("sintercard", "x", "s1"),
     ("sintercard", "3", "s1", "s2"), ("sintercard", "2", "s1", "s2", "limit", "-1"),
     ("sintercard", "2", "s1", "s2", "limit", "x"), ("sintercard", "2", "s1", "s2", "foo"),
     ("sintercard", "2", "s1", "s2", "limit"), ("sinter", "s1", "s2", "s1")],
    # the STORE forms: result, encoding, the destination overwritten or deleted
    [("sadd", "s1", "1", "2", "3"), ("sadd", "s2", "2", "3", "x"), ("set", "dst", "str"),
     ("expire", "dst", "100"), ("sinterstore", "dst", "s1", "s2"), ("ttl", "dst"),
     ("object", "encoding", "dst"), ("smembers", "dst"), ("sunionstore", "dst", "s1", "s2"),
     ("object", "encoding", "dst"), ("sdiffstore", "dst", "s1", "s2"), ("smembers", "dst"),
     ("object", "encoding", "dst"), ("sdiffstore", "dst", "s2", "s1"),
     ("object", "encoding", "dst"), ("sinterstore", "dst", "s1", "nokey"), ("exists", "dst"),
     ("sunionstore", "dst", "nokey"), ("sdiffstore", "dst", "s1", "s1"),
     ("sinterstore", "dst", "s1"), ("smembers", "dst")],
    # SPOP / SRANDMEMBER argument handling
    [("spop", "nokey"), ("spop", "nokey", "3"), ("spop", "nokey", "0"), ("spop", "nokey", "-1"),
     ("spop", "nokey", "x"), ("spop", "nokey", "1", "2"), ("srandmember", "nokey"),
     ("srandmember", "nokey", "3"), ("srandmember", "nokey", "-3"), ("srandmember", "nokey", "x"),
     ("srandmember", "nokey", "-9223372036854775808"), ("srandmember", "nokey", "1", "2"),
     ("sadd", "s", "1", "2", "3"), ("srandmember", "s", "0"), ("srandmember", "s", "3"),
     ("srandmember", "s", "10"), ("spop", "s", "0"), ("spop", "s", "3"), ("exists", "s"),
     ("sadd", "s", "9"), ("spop", "s"), ("exists", "s"), ("sadd", "s", "1", "2"),
     ("spop", "s", "5"), ("exists", "s")],
    # SSCAN argument handling
    [("sscan", "nokey", "0"), ("sscan", "nokey", "0", "count", "0"), ("sscan", "nokey", "x"),
     ("sadd", "s", "foo", "bar", "fab"), ("sscan", "s", "0"), ("sscan", "s", "0", "match", "f*"),
     ("sscan", "s", "0", "count", "0"), ("sscan", "s", "0", "type", "set"),
     ("sscan", "s", "0", "match")],
]

WRONGTYPE = [("set", "k", "v"), ("sadd", "s", "1")] + [
    (c, *args) for c, args in [
        ("sadd", ("k", "1")), ("srem", ("k", "1")), ("scard", ("k",)), ("sismember", ("k", "1")),
        ("smismember", ("k", "1")), ("smembers", ("k",)), ("spop", ("k",)), ("spop", ("k", "2")),
        ("srandmember", ("k",)), ("srandmember", ("k", "2")), ("sinter", ("s", "k")),
        ("sinter", ("nokey", "k")), ("sunion", ("s", "k")), ("sdiff", ("s", "k")),
        ("sdiff", ("nokey", "k")), ("sinterstore", ("d", "s", "k")),
        ("sunionstore", ("d", "s", "k")), ("sdiffstore", ("d", "s", "k")),
        ("sintercard", ("2", "s", "k")), ("sscan", ("k", "0")), ("smove", ("k", "s", "1"))]]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("cmds", CASES + [WRONGTYPE])
def test_same_as_redis(pair, cmds, protocol):
    same(pair, cmds, protocol)


def test_intset_limit_same_as_redis(pair):
    a, b = pair()
    out = []
    for c in (a, b):
        c.config_set("set-max-intset-entries", 8)
        seq = []
        c.sadd("s", *range(8))
        seq.append(c.object("encoding", "s"))
        c.sadd("s", 8)
        seq.append(c.object("encoding", "s"))
        c.srem("s", *range(5))
        seq.append(c.object("encoding", "s"))  # one-way
        c.sadd("u1", *range(6))
        c.sadd("u2", *range(4, 10))
        c.sunionstore("u", "u1", "u2")
        seq.append(c.object("encoding", "u"))
        c.sdiffstore("d", "u", "u1")  # algorithm 1: only the result is added
        seq.append(c.object("encoding", "d"))
        c.sadd("big", *range(20))
        c.sdiffstore("d2", "big", "u1", "u2", "s")  # algorithm 2 adds all of "big" first
        seq.append(c.object("encoding", "d2"))
        seq.append(sorted(c.smembers("d2")))
        c.sinterstore("i", "big", "u")
        seq.append(c.object("encoding", "i"))
        c.config_set("set-max-intset-entries", 512)
        out.append(seq)
    assert out[0] == out[1]


def test_spop_count_encoding_same_as_redis(pair):
    """SPOP that takes most of a set rebuilds the rest, whose encoding is chosen again."""
    a, b = pair()
    for c in (a, b):
        c.sadd("s", *range(100), "x")
        c.srem("s", "x")
    assert a.object("encoding", "s") == b.object("encoding", "s") == b"hashtable"
    got_a, got_b = a.spop("s", 90), b.spop("s", 90)
    assert len(got_a) == len(got_b) == 90
    assert a.scard("s") == b.scard("s") == 10
    assert a.object("encoding", "s") == b.object("encoding", "s") == b"intset"


@pytest.mark.parametrize("protocol", [2, 3])
def test_spop_and_srandmember_counts(r, r3, protocol):
    c = r if protocol == 2 else r3
    members = {str(i).encode() for i in range(20)}
    c.sadd("s", *members)
    got = c.srandmember("s", 5)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= members
    got = c.srandmember("s", -50)
    assert len(got) == 50 and set(got) <= members
    assert sorted(c.srandmember("s", 100), key=int) == sorted(members, key=int)
    popped = c.spop("s", 3)
    assert len(set(popped)) == 3 and set(popped) <= members
    assert c.scard("s") == 17
    popped2 = c.spop("s", 15)  # most of the set: the other strategy
    assert not set(popped) & set(popped2) and len(set(popped2)) == 15
    assert c.scard("s") == 2
    rest = c.spop("s", 10)
    assert len(rest) == 2 and not c.exists("s")
    assert set(popped) | set(popped2) | set(rest) == members


def test_srandmember_is_uniform(r):
    r.sadd("s", *range(5), "x")
    counts: dict[bytes, int] = {}
    for m in r.srandmember("s", -6000):
        counts[m] = counts.get(m, 0) + 1
    assert len(counts) == 6 and all(800 < n < 1200 for n in counts.values())


def test_resp3_set_types(r3):
    r3.sadd("s", "a", "b")
    assert r3.smembers("s") == {b"a", b"b"}
    assert r3.sinter("s", "s") == {b"a", b"b"}
    assert r3.sunion("s", "nokey") == {b"a", b"b"}
    assert r3.sdiff("s", "nokey") == {b"a", b"b"}
    assert r3.execute_command("spop", "nokey", "2") in (set(), [])
    assert r3.smembers("nokey") == set()


@pytest.mark.parametrize("n", [50, 2000])
def test_sscan_returns_everything(r, n):
    r.sadd("s", *(f"m{i}" for i in range(n)))
    cursor, seen = 0, set()
    while True:
        cursor, items = r.sscan("s", cursor, count=13)
        seen.update(items)
        if cursor == 0:
            break
    assert len(seen) == n


def test_sscan_survives_shrinking(r):
    """Redis's issue #4906: members present all along are returned though most of the
    set is removed mid-scan."""
    for _ in range(5):
        r.delete("s")
        r.sadd("s", "x", *range(600))
        cursor, seen, it = 0, set(), 0
        while True:
            cursor, items = r.sscan("s", cursor)
            seen.update(items)
            it += 1
            if it == 3:
                r.srem("s", *range(100, 600))
            if cursor == 0:
                break
        assert {str(i).encode() for i in range(100)} <= seen


def test_propagation(inproc):
    inproc("SADD", "s", *range(10))
    inproc.log.clear()
    out = inproc("SPOP", "s")
    popped = out.split(b"\r\n")[1]
    assert inproc.argvs() == [[b"SREM", b"s", popped]]
    inproc.log.clear()
    inproc("SPOP", "s", 2)  # few: one SREM each
    argvs = inproc.argvs()
    assert len(argvs) == 2 and all(a[:2] == [b"SREM", b"s"] for a in argvs)
    inproc.log.clear()
    inproc("SPOP", "s", 6)  # most of it: still one SREM each
    argvs = inproc.argvs()
    assert len(argvs) == 6 and all(a[:2] == [b"SREM", b"s"] for a in argvs)
    inproc.log.clear()
    inproc("SPOP", "s", 5)  # all of it: DEL
    assert inproc.argvs() == [[b"DEL", b"s"]]
    inproc.log.clear()
    inproc("SPOP", "s", 5)  # nothing: nothing
    inproc("SREM", "s", "1")
    inproc("SADD", "t", "a")
    inproc("SADD", "t", "a")
    inproc("SMOVE", "t", "u", "a")
    assert inproc.argvs() == [[b"SADD", b"t", b"a"], [b"SMOVE", b"t", b"u", b"a"]]


def test_keyspace_events_same_as_redis(pair):
    a, b = pair()
    for c in (a, b):
        c.config_set("notify-keyspace-events", "KEA")
    cmds = [("sadd", "s", "1", "2", "3"), ("sadd", "s", "1"), ("srem", "s", "zz"),
            ("srem", "s", "1"), ("smove", "s", "t", "2"), ("smove", "s", "t", "3"),
            ("sadd", "u", "a"), ("smove", "u", "t", "a"), ("spop", "t"), ("spop", "t", "0"),
            ("spop", "t", "5"), ("sadd", "a", "1", "2"), ("sadd", "b", "2", "3"),
            ("sinterstore", "d", "a", "b"), ("sunionstore", "d", "a", "b"),
            ("sdiffstore", "d", "a", "b"), ("sdiffstore", "d", "a", "a"),
            ("sinterstore", "d", "a", "nokey"), ("sunionstore", "d", "nokey"),
            ("sadd", "p", "1", "2", "3", "4", "5", "6"), ("spop", "p", "1"), ("spop", "p")]
    try:
        assert _events(a, cmds) == _events(b, cmds)
    finally:
        for c in (a, b):
            c.config_set("notify-keyspace-events", "")


def test_dirty_counter_same_as_redis(pair):
    a, b = pair()
    cmds = [("sadd", "s", "1", "2", "3", "x"), ("sadd", "s", "1"), ("srem", "s", "1", "9"),
            ("smove", "s", "t", "2"), ("smove", "s", "t", "zz"), ("spop", "s"),
            ("sadd", "t", "5", "6", "7"), ("spop", "t", "2"), ("spop", "t", "9"),
            ("sadd", "a", "1"), ("sunionstore", "d", "a"), ("sinterstore", "d", "nokey"),
            ("sinterstore", "d", "nokey")]

    def dirty(c):
        return c.info("persistence")["rdb_changes_since_last_save"]

    base_a, base_b = dirty(a), dirty(b)
    for cmd in cmds:
        try:
            a.execute_command(*cmd)
            b.execute_command(*cmd)
        except redis.ResponseError:
            pass
        assert dirty(a) - base_a == dirty(b) - base_b, cmd


def test_generic_commands_on_sets(pair):
    same(pair, [("sadd", "s", "3", "1", "2"), ("type", "s"), ("copy", "s", "c"),
                ("sadd", "c", "x"), ("smembers", "s"), ("object", "encoding", "s"),
                ("object", "encoding", "c"), ("debug", "digest-value", "s", "c"),
                ("sort", "s"), ("sort", "s", "desc", "limit", "0", "2"),
                ("sort", "c", "alpha"), ("sort", "c"), ("sort", "s", "by", "nosort"),
                ("rename", "c", "d"), ("smembers", "d")])


def test_memory_usage(r):
    r.sadd("i", *range(100))
    r.sadd("h", *(f"m{i}" for i in range(1000)))
    assert 100 < r.memory_usage("i") < 1000 < r.memory_usage("h")


def test_intset_edges_same_as_redis(pair):
    """The compact intset: non-integers never match, extremes, removal to empty,
    membership tests against both encodings, and set-max-intset-entries 0."""
    cmds = [("sadd", "i", "-9223372036854775808", "9223372036854775807", "0", "-1", "1"),
            ("sismember", "i", "1.0"), ("sismember", "i", "01"), ("sismember", "i", "-0"),
            ("sismember", "i", "9223372036854775808"), ("sismember", "i", "0"),
            ("smismember", "i", "x", "-1", "+1", " 1"), ("srem", "i", "x", "1.0", "0"),
            ("smembers", "i"), ("sadd", "h", "a", "0"), ("sinter", "i", "h"),
            ("sinter", "h", "i"), ("sdiff", "i", "h"), ("sunion", "i", "h"),
            ("smove", "i", "h", "-1"), ("smove", "h", "i", "a"), ("object", "encoding", "i"),
            ("smembers", "i"), ("srem", "i", *INTS, "-1", "1", "a"), ("exists", "i"),
            ("config", "set", "set-max-intset-entries", "0"), ("sadd", "z", "1"),
            ("object", "encoding", "z"), ("sadd", "z2", "x"), ("srem", "z2", "x"),
            ("sunionstore", "u", "z"), ("object", "encoding", "u"),
            ("config", "set", "set-max-intset-entries", "512"), ("sadd", "z3", "5"),
            ("object", "encoding", "z3")]
    a, b = pair()
    try:
        got = [norm(c, g) for c, g in zip(cmds, run(a, cmds), strict=True)]
        want = [norm(c, w) for c, w in zip(cmds, run(b, cmds), strict=True)]
        assert_same(got, want, cmds)
    finally:
        for c in (a, b):
            c.config_set("set-max-intset-entries", 512)


def test_spop_intset_is_uniform(r):
    counts: dict[bytes, int] = {}
    for _ in range(3000):
        r.sadd("s", *range(5))
        m = r.spop("s")
        counts[m] = counts.get(m, 0) + 1
    assert len(counts) == 5 and all(450 < n < 750 for n in counts.values())
