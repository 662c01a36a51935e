"""Bitmap commands (bitops.c), compared with a real redis-server: fixed edge cases and
seeded random fuzzing of offsets, ranges, BITOP inputs and BITFIELD overflow handling."""

from __future__ import annotations

import random

import pytest
from conftest import redis_server_binary
from oracle import assert_same, run

from bocho.testing.server import wait_until


def same(pair, cmds, protocol=2):
    a, b = pair(protocol)
    got, want = run(a, cmds), run(b, cmds)
    assert_same(got, want, cmds)
    return got


CASES = [
    # SETBIT / GETBIT
    [("setbit", "k", "7", "1"), ("get", "k"), ("setbit", "k", "7", "0"), ("setbit", "k", "100", "1"),
     ("strlen", "k"), ("getbit", "k", "100"), ("getbit", "k", "101"), ("getbit", "k", "100000"),
     ("getbit", "none", "3"), ("setbit", "k", "-1", "1"), ("setbit", "k", "x", "1"),
     ("setbit", "k", "1", "2"), ("setbit", "k", "1", "-1"), ("setbit", "k", "1", "x"),
     ("setbit", "k", "4294967296", "x"), ("getbit", "k", "-1"), ("getbit", "k", "4294967296"),
     ("setbit", "k", "4294967296", "1"), ("setbit", "k", "4294967295", "1"), ("strlen", "k")],
    [("set", "i", "1"), ("getbit", "i", "2"), ("getbit", "i", "3"), ("setbit", "i", "6", "1"),
     ("get", "i"), ("set", "e", "v", "ex", "100"), ("setbit", "e", "0", "1"), ("ttl", "e")],
    # BITCOUNT
    [("set", "s", "foobar"), ("bitcount", "s"), ("bitcount", "s", "0", "0"), ("bitcount", "s", "1", "1"),
     ("bitcount", "s", "1", "-2"), ("bitcount", "s", "-3", "-1"), ("bitcount", "s", "-1", "-3"),
     ("bitcount", "s", "5", "30"), ("bitcount", "s", "100", "200"), ("bitcount", "s", "0"),
     ("bitcount", "s", "0", "1", "2"), ("bitcount", "s", "0", "-1", "bit"),
     ("bitcount", "s", "5", "30", "BIT"), ("bitcount", "s", "1", "1", "byte"),
     ("bitcount", "s", "0", "1", "bits"), ("bitcount", "s", "a", "1"), ("bitcount", "none"),
     ("bitcount", "none", "a", "b"), ("bitcount", "s", "-100", "-90", "bit"),
     ("bitcount", "s", "0", "1", "bit", "x"), ("set", "i", "12345"), ("bitcount", "i", "1", "2")],
    # BITPOS
    [("set", "s", "\xff\xf0\x00"), ("bitpos", "s", "0"), ("bitpos", "s", "1"), ("bitpos", "s", "1", "2"),
     ("bitpos", "s", "0", "2"), ("bitpos", "s", "0", "0", "0"), ("bitpos", "s", "0", "0", "-1"),
     ("bitpos", "s", "1", "7", "15", "bit"), ("bitpos", "s", "0", "7", "11", "bit"),
     ("bitpos", "s", "0", "12", "-1", "bit"), ("bitpos", "s", "2"), ("bitpos", "s", "x"),
     ("bitpos", "s", "1", "x"), ("bitpos", "s", "1", "0", "x"), ("bitpos", "s", "1", "0", "1", "foo"),
     ("bitpos", "s", "1", "0", "1", "bit", "x"), ("bitpos", "none", "0"), ("bitpos", "none", "1"),
     ("set", "f", "\xff\xff\xff"), ("bitpos", "f", "0"), ("bitpos", "f", "0", "1"),
     ("bitpos", "f", "0", "0", "-1"), ("bitpos", "f", "0", "0", "-1", "bit"), ("set", "z", "\x00\x00"),
     ("bitpos", "z", "1"), ("bitpos", "z", "0"), ("bitpos", "z", "1", "-1"), ("set", "e", ""),
     ("bitpos", "e", "0"), ("bitpos", "e", "1"), ("bitpos", "s", "1", "3", "1"),
     ("bitpos", "s", "0", "-100", "-90")],
    # BITOP
    [("set", "a", "\x01\x02\xff"), ("set", "b", "\x03\xff"), ("bitop", "and", "d", "a", "b"), ("get", "d"),
     ("bitop", "or", "d", "a", "b"), ("get", "d"), ("bitop", "xor", "d", "a", "b", "none"), ("get", "d"),
     ("bitop", "not", "d", "a"), ("get", "d"), ("bitop", "not", "d", "a", "b"),
     ("bitop", "nand", "d", "a"), ("bitop", "and", "d", "none", "none2"), ("exists", "d"),
     ("set", "i", "123"), ("bitop", "or", "d", "i"), ("get", "d"), ("set", "e", ""),
     ("bitop", "or", "d", "a", "e"), ("get", "d"), ("bitop", "and", "a", "a", "b"), ("get", "a"),
     ("set", "t", "v", "ex", "100"), ("bitop", "or", "t", "b"), ("ttl", "t"),
     ("bitop", "AND", "d", "e"), ("exists", "d")],
    # BITFIELD
    [("bitfield", "bf", "set", "i8", "0", "-100"), ("bitfield", "bf", "get", "i8", "0"),
     ("bitfield", "bf", "set", "u8", "0", "255", "get", "u8", "0", "incrby", "u8", "0", "10"),
     ("bitfield", "bf", "overflow", "sat", "incrby", "u8", "0", "300", "incrby", "i8", "0", "-300"),
     ("bitfield", "bf", "overflow", "fail", "incrby", "u8", "0", "300", "get", "u8", "0"),
     ("bitfield", "bf", "set", "u8", "#1", "7", "get", "u8", "8", "get", "u4", "#3"),
     ("bitfield", "bf", "get", "i64", "0", "get", "u63", "1", "set", "i64", "3", "-1"),
     ("bitfield", "bf", "set", "u8", "0", "-1", "overflow", "sat", "set", "u8", "0", "-1",
      "overflow", "fail", "set", "u8", "0", "-1", "set", "i8", "0", "128"),
     ("bitfield", "bf"), ("bitfield", "bf", "get"), ("bitfield", "bf", "get", "u64", "0"),
     ("bitfield", "bf", "get", "i65", "0"), ("bitfield", "bf", "get", "u0", "0"),
     ("bitfield", "bf", "get", "x8", "0"), ("bitfield", "bf", "get", "U8", "0"),
     ("bitfield", "bf", "get", "u8", "-1"), ("bitfield", "bf", "get", "u8", "#-1"),
     ("bitfield", "bf", "set", "u8", "0", "x"), ("bitfield", "bf", "overflow", "foo"),
     ("bitfield", "bf", "overflow"), ("bitfield", "bf", "foo", "u8", "0"),
     ("bitfield", "bf", "incrby", "u8", "0"), ("bitfield", "bf", "get", "u8", "4294967296"),
     ("bitfield_ro", "bf", "get", "u8", "0", "get", "i4", "4"),
     ("bitfield_ro", "bf", "set", "u8", "0", "1"), ("bitfield_ro", "bf", "incrby", "u8", "0", "x"),
     ("bitfield_ro", "bf"), ("bitfield", "none", "get", "u8", "0"), ("exists", "none"),
     ("bitfield", "new", "overflow", "fail", "incrby", "u2", "0", "100"), ("exists", "new"),
     ("get", "new"), ("bitfield", "i64", "set", "i64", "0", "9223372036854775807",
                      "incrby", "i64", "0", "1", "overflow", "sat", "incrby", "i64", "0", "1",
                      "incrby", "i64", "0", "-9223372036854775808",
                      "incrby", "i64", "0", "-9223372036854775808")],
]


@pytest.mark.parametrize("cmds", CASES)
def test_bit_commands_match_redis(pair, cmds):
    same(pair, cmds)


@pytest.mark.parametrize("cmds", CASES)
def test_bit_commands_resp3(pair, cmds):
    same(pair, cmds, protocol=3)


def rand_bytes(rnd, n):
    return bytes(rnd.choice((0, 0xFF, rnd.randrange(256))) for _ in range(n))


def test_bitcount_bitpos_fuzz(pair):
    rnd = random.Random(11)
    cmds = []
    for i in range(40):
        key = f"s{i}"
        n = rnd.randrange(0, 40)
        cmds.append(("set", key, rand_bytes(rnd, n)))
        cmds.append(("bitcount", key))
        for _ in range(8):
            s, e = rnd.randrange(-50, 50), rnd.randrange(-50, 50)
            unit = rnd.choice(((), ("bit",), ("byte",)))
            if unit == ("bit",):
                s, e = s * 8 + rnd.randrange(8), e * 8 + rnd.randrange(8)
            cmds.append(("bitcount", key, s, e, *unit))
            bit = rnd.randrange(2)
            cmds.append(("bitpos", key, bit))
            cmds.append(("bitpos", key, bit, s))
            cmds.append(("bitpos", key, bit, s, e, *unit))
    same(pair, cmds)


def test_bitop_fuzz(pair):
    rnd = random.Random(5)
    cmds = []
    for i in range(60):
        keys = [f"k{i}-{j}" for j in range(rnd.randrange(1, 5))]
        for k in keys:
            if rnd.random() < 0.9:
                cmds.append(("set", k, rand_bytes(rnd, rnd.randrange(0, 70))))
        op = rnd.choice(("and", "or", "xor", "not"))
        if op == "not":
            keys = keys[:1]
        cmds.append(("bitop", op, "dest", *keys))
        cmds.append(("get", "dest"))
    same(pair, cmds)


def test_setbit_getbit_fuzz(pair):
    rnd = random.Random(3)
    cmds = []
    for _ in range(400):
        off = rnd.randrange(0, 2000)
        if rnd.random() < 0.6:
            cmds.append(("setbit", "k", off, rnd.randrange(2)))
        else:
            cmds.append(("getbit", "k", off))
    cmds.append(("get", "k"))
    same(pair, cmds)


def test_bitfield_fuzz(pair):
    rnd = random.Random(17)
    cmds = []
    for _ in range(300):
        args = ["bitfield", "bf"]
        for _ in range(rnd.randrange(1, 5)):
            signed = rnd.random() < 0.5
            bits = rnd.randrange(1, 65 if signed else 64)
            typ = ("i" if signed else "u") + str(bits)
            off = rnd.randrange(0, 200)
            if rnd.random() < 0.2:
                off = "#" + str(rnd.randrange(0, 10))
            op = rnd.choice(("get", "set", "incrby", "overflow"))
            if op == "overflow":
                args += ["overflow", rnd.choice(("wrap", "sat", "fail"))]
            elif op == "get":
                args += ["get", typ, off]
            else:
                mag = rnd.choice((4, 8, 16, 32, 63))
                val = rnd.randrange(-(2**mag), 2**mag)
                args += [op, typ, off, max(min(val, 2**63 - 1), -(2**63))]
        cmds.append(tuple(args))
    cmds.append(("get", "bf"))
    same(pair, cmds)


def test_bitops_keyspace_events(make_server, oracle):
    """setbit/bitfield fire "setbit" only on change; bitop fires set or del."""
    cmds = [("setbit", "a", "3", "1"), ("setbit", "a", "3", "1"), ("setbit", "a", "3", "0"),
            ("setbit", "a", "100", "0"), ("bitfield", "b", "set", "u8", "0", "1"),
            ("bitfield", "b", "set", "u8", "0", "1"), ("bitfield", "b", "get", "u8", "0"),
            ("bitfield", "b", "overflow", "fail", "incrby", "u8", "0", "1000"),
            ("bitfield", "c", "overflow", "fail", "incrby", "u2", "0", "100"),
            ("bitop", "or", "d", "a", "b"), ("bitop", "and", "d", "none"), ("bitop", "and", "d", "none")]
    cfg = {"notify-keyspace-events": "KEAn"}
    bocho = make_server(config=cfg)
    real = make_server(config=cfg, binary=redis_server_binary())

    def events(srv):
        c = srv.client()
        p = c.pubsub()
        p.psubscribe("__key*__:*")
        wait_until(lambda: p.get_message(timeout=0.1), msg="psubscribe")
        run(c, cmds)
        c.set("__end__", "1")
        got = []

        def drain():
            m = p.get_message(timeout=0.1)
            while m:
                got.append((m["channel"], m["data"]))
                m = p.get_message(timeout=0.05)
            return any(b"__end__" in ch for ch, _ in got)

        wait_until(drain, msg="end marker")
        p.close()
        c.close()
        return [g for g in got if b"__end__" not in g[0] and g[1] != b"__end__"]

    want = events(real)
    assert len(want) > 10
    assert events(bocho) == want


def test_bitcount_large_string(r):
    """Whole-string paths on a megabyte value."""
    r.setbit("big", 8 * 1024 * 1024 - 1, 1)
    r.setbit("big", 12345, 1)
    assert r.bitcount("big") == 2
    assert r.bitpos("big", 1) == 12345
    assert r.bitpos("big", 1, 2000) == 8 * 1024 * 1024 - 1
    assert r.bitpos("big", 0) == 0
    assert r.bitop("not", "inv", "big") == 1024 * 1024
    assert r.bitcount("inv") == 8 * 1024 * 1024 - 2
    assert r.bitpos("inv", 0) == 12345


def test_via_redis_cli(server):
    server.cli("flushall")
    assert server.cli("setbit", "cb", "7", "1").stdout.strip() == "0"
    assert server.cli("bitcount", "cb").stdout.strip() == "1"
    out = server.cli("bitfield", "cb", "get", "u8", "0", "incrby", "u8", "0", "1")
    assert out.stdout.split() == ["1", "2"]
    assert "ERR" in server.cli("bitop", "not", "x", "a", "b").stdout
