"""String commands (t_string.c), compared side by side with a real redis-server where the
exact reply or error text matters, in RESP2 and RESP3."""

from __future__ import annotations

import random
import time

import pytest
import redis
from conftest import redis_server_binary
from oracle import assert_same, run

from bocho.testing.server import ServerProcess, wait_until


def run_both(a, b, cmds):
    got, want = [], []
    for cmd in cmds:
        if cmd[0] == "WRONGTYPE":  # make cmd[1] a list on both servers
            got.append(a.execute_command("rpush", cmd[1], "x"))
            want.append(b.execute_command("rpush", cmd[1], "x"))
            continue
        got.extend(run(a, [cmd]))
        want.extend(run(b, [cmd]))
    return got, want


def same(pair, cmds, protocol=2):
    a, b = pair(protocol)
    got, want = run_both(a, b, cmds)
    assert_same(got, want, cmds)
    return got


# -- SET and friends ---------------------------------------------------------------------

SET_CASES = [
    [("set", "k", "v", "nx"), ("set", "k", "w", "nx"), ("get", "k")],
    [("set", "k", "v", "xx"), ("set", "k", "v"), ("set", "k", "w", "xx"), ("get", "k")],
    [("set", "k", "v", "get"), ("set", "k", "w", "GET"), ("get", "k")],
    [("set", "k", "v", "get", "nx"), ("set", "k", "w", "nx", "get"), ("get", "k")],
    [("set", "k", "v", "get", "xx"), ("exists", "k"), ("set", "k", "a"),
     ("set", "k", "b", "xx", "get")],
    # option conflicts and syntax
    [("set", "k", "v", "nx", "xx"), ("set", "k", "v", "xx", "nx"), ("set", "k", "v", "ex", "10", "px", "100"),
     ("set", "k", "v", "ex", "10", "keepttl"), ("set", "k", "v", "keepttl", "ex", "10"),
     ("set", "k", "v", "exat", "10", "pxat", "100"), ("set", "k", "v", "ex"),
     ("set", "k", "v", "foo"), ("set", "k", "v", "persist"), ("exists", "k")],
    # the expire value is checked after all options are parsed
    [("set", "k", "v", "ex", "abc", "nx", "xx"), ("set", "k", "v", "ex", "abc", "nx"),
     ("set", "k", "v", "ex", "0"), ("set", "k", "v", "px", "-1"), ("set", "k", "v", "exat", "0"),
     ("set", "k", "v", "ex", "9223372036854775807"), ("set", "k", "v", "px", "9223372036854775807"),
     ("set", "k", "v", "ex", "9223372036854775"), ("set", "k", "v", "exat", "9223372036854775"),
     ("set", "k", "v", "ex", "1.5"), ("exists", "k")],
    # repeating the same option is fine, the last value wins
    [("set", "k", "v", "ex", "100", "ex", "200"), ("ttl", "k"), ("set", "k", "v", "nx", "nx")],
    # an EXAT in the past: 7.0 stores the key, which is then already expired
    [("set", "k", "v", "exat", "100"), ("exists", "k"), ("set", "k", "v", "pxat", "1"), ("get", "k")],
    [("set", "k", "v", "ex", "100"), ("set", "k", "w", "keepttl"), ("ttl", "k"),
     ("set", "k", "x"), ("ttl", "k")],
    [("set", "k", "v", "ex", "100"), ("set", "k", "w", "xx", "px", "50000"), ("ttl", "k")],
    [("set", "k", "")] + [("get", "k"), ("strlen", "k")],
    [("setnx", "k", "a"), ("setnx", "k", "b"), ("get", "k")],
    [("setex", "k", "100", "v"), ("ttl", "k"), ("setex", "k", "0", "v"), ("setex", "k", "-1", "v"),
     ("setex", "k", "x", "v"), ("psetex", "k", "100000", "v"), ("ttl", "k"),
     ("psetex", "k", "0", "v"), ("setex", "k", "9223372036854775807", "v")],
    [("getset", "k", "a"), ("getset", "k", "b"), ("get", "k"),
     ("set", "e", "v", "ex", "100"), ("getset", "e", "w"), ("ttl", "e")],
]


@pytest.mark.parametrize("cmds", SET_CASES)
def test_set_family_matches_redis(pair, cmds):
    same(pair, cmds)


@pytest.mark.parametrize("cmds", SET_CASES)
def test_set_family_resp3(pair, cmds):
    same(pair, cmds, protocol=3)


def test_set_ttl_forms(r):
    now = int(time.time())
    assert r.set("a", "v", ex=100)
    assert 95 <= r.ttl("a") <= 100
    assert r.set("b", "v", px=100000)
    assert 95000 <= r.pttl("b") <= 100000
    assert r.set("c", "v", exat=now + 100)
    assert 95 <= r.ttl("c") <= 101
    assert r.set("d", "v", pxat=(now + 100) * 1000)
    assert 95 <= r.ttl("d") <= 101
    assert r.set("d", "w", keepttl=True)
    assert 95 <= r.ttl("d") <= 101
    assert r.set("d", "x")
    assert r.ttl("d") == -1
    # a short PX really expires
    assert r.set("e", "v", px=50)
    wait_until(lambda: r.get("e") is None, timeout=5, msg="e to expire")


def test_plain_set_clears_ttl_and_drops_expired(r):
    r.set("k", "v", ex=100)
    r.set("k", "w")
    assert r.ttl("k") == -1
    r.set("gone", "v", px=1)
    wait_until(lambda: r.pttl("gone") in (-2, 0), timeout=5, msg="gone to be due")
    r.set("gone", "again")
    assert r.ttl("gone") == -1
    assert r.get("gone") == b"again"


# -- GETEX / GETDEL ----------------------------------------------------------------------

GETEX_CASES = [
    [("set", "k", "v"), ("getex", "k"), ("ttl", "k"), ("getex", "k", "ex", "100"), ("ttl", "k"),
     ("getex", "k", "px", "200000"), ("ttl", "k"), ("getex", "k", "persist"), ("ttl", "k"),
     ("getex", "k", "persist"), ("getex", "k", "exat", "100"), ("exists", "k")],
    [("getex", "nokey"), ("getex", "nokey", "ex", "abc"), ("getex", "nokey", "ex", "10", "px", "10"),
     ("set", "k", "v"), ("getex", "k", "ex", "abc"), ("getex", "k", "ex", "0"),
     ("getex", "k", "persist", "ex", "10"), ("getex", "k", "ex", "10", "persist"),
     ("getex", "k", "keepttl"), ("getex", "k", "nx"), ("getex", "k", "get"), ("getex", "k", "ex"),
     ("getex", "k", "pxat", "9223372036854775807"), ("ttl", "k"),
     ("getex", "k", "ex", "9223372036854775807")],
    [("set", "k", "v"), ("getdel", "k"), ("getdel", "k"), ("exists", "k")],
]


@pytest.mark.parametrize("cmds", GETEX_CASES)
def test_getex_getdel_match_redis(pair, cmds):
    same(pair, cmds)
    same(pair, cmds, protocol=3)


def test_getex_absolute_forms(r):
    r.set("k", "v")
    now = int(time.time())
    assert r.getex("k", exat=now + 100) == b"v"
    assert 95 <= r.ttl("k") <= 101
    assert r.getex("k", pxat=(now + 200) * 1000) == b"v"
    assert 195 <= r.ttl("k") <= 201
    # a past PXAT deletes at once
    assert r.getex("k", pxat=1) == b"v"
    assert r.exists("k") == 0


# -- MSET / MGET -------------------------------------------------------------------------

MULTI_CASES = [
    [("mset", "a", "1", "b", "2"), ("mget", "a", "b", "c"), ("mset", "a"), ("mset", "a", "1", "b"),
     ("msetnx", "a", "1", "b")],
    [("msetnx", "x", "1", "y", "2"), ("msetnx", "y", "3", "z", "4"), ("mget", "x", "y", "z"),
     ("msetnx", "p", "1", "p", "2"), ("get", "p"), ("msetnx", "x", "1", "x", "2")],
    [("set", "e", "v", "ex", "100"), ("mset", "e", "w"), ("ttl", "e")],
]


@pytest.mark.parametrize("cmds", MULTI_CASES)
def test_mset_mget_match_redis(pair, cmds):
    same(pair, cmds)
    same(pair, cmds, protocol=3)


# -- APPEND / STRLEN / SETRANGE / GETRANGE ------------------------------------------------

RANGE_CASES = [
    [("append", "k", "foo"), ("append", "k", "bar"), ("get", "k"), ("strlen", "k"),
     ("strlen", "none"), ("append", "k", ""), ("set", "n", "12"), ("append", "n", "34"),
     ("incr", "n")],
    [("setrange", "k", "5", "xy"), ("get", "k"), ("setrange", "k", "0", "ab"), ("get", "k"),
     ("setrange", "k", "1", ""), ("setrange", "none", "3", ""), ("exists", "none"),
     ("setrange", "k", "-1", "x"), ("setrange", "k", "x", "x"),
     ("set", "i", "1234"), ("setrange", "i", "5", "2"), ("get", "i"),
     ("setrange", "k", "9223372036854775807", "A"), ("setrange", "k", "2147483647", "A"),
     ("setrange", "k", "536870912", "A"), ("setrange", "k", "536870911", "A"), ("strlen", "k")],
    [("set", "k", "Hello World"), ("getrange", "k", "0", "4"), ("getrange", "k", "-5", "-1"),
     ("getrange", "k", "-1", "-5"), ("getrange", "k", "5", "3"), ("getrange", "k", "0", "-1"),
     ("getrange", "k", "-100", "100"), ("getrange", "k", "0", "4294967297"),
     ("getrange", "k", "20", "30"), ("getrange", "none", "0", "1"), ("getrange", "k", "a", "1"),
     ("substr", "k", "1", "3"), ("set", "e", ""), ("getrange", "e", "0", "-1"),
     ("getrange", "e", "-1", "0"), ("set", "i", "12345"), ("getrange", "i", "1", "-2")],
]


@pytest.mark.parametrize("cmds", RANGE_CASES)
def test_append_range_match_redis(pair, cmds):
    same(pair, cmds)
    same(pair, cmds, protocol=3)


def test_getrange_resp3(pair):
    same(pair, [("getrange", "none", "0", "1"), ("set", "k", "abc"), ("getrange", "k", "1", "1")], 3)


def test_encodings_after_in_place_edits(r):
    r.set("i", "1234")
    assert r.object("encoding", "i") == b"int"
    r.setrange("i", 0, "")
    assert r.object("encoding", "i") == b"int"
    r.setrange("i", 0, "2")
    assert r.object("encoding", "i") == b"raw"
    assert r.get("i") == b"2234"
    r.set("e", "short")
    assert r.object("encoding", "e") == b"embstr"
    r.append("e", "er")
    assert r.object("encoding", "e") == b"raw"
    r.append("fresh", "abc")  # a new key takes the argument as it is
    assert r.object("encoding", "fresh") == b"embstr"
    r.incr("e2")
    assert r.object("encoding", "e2") == b"int"
    r.set("big", "x" * 45)
    assert r.object("encoding", "big") == b"raw"


def test_string_size_limit(make_server, tmp_path):
    """APPEND/SETRANGE refuse to grow a string past proto-max-bulk-len."""
    srv = make_server(config={"proto-max-bulk-len": "1048576"})
    orc = ServerProcess(binary=redis_server_binary(), config={"proto-max-bulk-len": "1048576"})
    orc.start()
    try:
        cmds = [("setrange", "k", "1048575", "a"), ("setrange", "k", "1048576", "a"),
                ("strlen", "k"), ("append", "k", "b"), ("set", "j", "x"),
                ("setrange", "j", "1048570", "0123456789"), ("setbit", "b", "8388607", "1"),
                ("setbit", "b", "8388608", "1"), ("bitfield", "b", "set", "u8", "8388600", "1"),
                ("bitfield", "b", "get", "u8", "8388608")]
        a, b = srv.client(), orc.client()
        assert run(a, cmds) == run(b, cmds)
        a.close()
        b.close()
    finally:
        orc.cleanup()


# -- counters ------------------------------------------------------------------------------

INCR_CASES = [
    [("incr", "k"), ("incr", "k"), ("incrby", "k", "10"), ("decr", "k"), ("decrby", "k", "20"),
     ("get", "k"), ("incrby", "k", "a"), ("incrby", "k", "1.5"), ("incrby", "k", " 1"),
     ("incrby", "k", "01"), ("incrby", "k", "+1"), ("incrby", "k", "-0")],
    [("set", "k", "9223372036854775806"), ("incr", "k"), ("incr", "k"), ("get", "k"),
     ("set", "k", "-9223372036854775807"), ("decr", "k"), ("decr", "k"),
     ("decrby", "k", "-9223372036854775808"), ("incrby", "k", "9223372036854775808"),
     ("set", "k", "17179869184"), ("incrby", "k", "17179869184"), ("decrby", "n", "17179869185")],
    [("set", "k", " 11"), ("incr", "k"), ("set", "k", "11 "), ("incr", "k"), ("set", "k", "1\n"),
     ("incr", "k"), ("set", "k", "011"), ("incr", "k"), ("set", "k", ""), ("incr", "k"),
     ("set", "k", "abc"), ("incr", "k")],
    [("set", "k", "5", "ex", "100"), ("incr", "k"), ("ttl", "k")],
]


@pytest.mark.parametrize("cmds", INCR_CASES)
def test_incr_family_matches_redis(pair, cmds):
    same(pair, cmds)
    same(pair, cmds, protocol=3)


FLOAT_CASES = [
    [("incrbyfloat", "k", "1"), ("incrbyfloat", "k", "0.25"), ("get", "k"),
     ("set", "k", "10.5"), ("incrbyfloat", "k", "0.1"), ("incrbyfloat", "k", "-1.1"),
     ("set", "k", "17179869184"), ("incrbyfloat", "k", "1.5"), ("incrbyfloat", "k", "17179869184"),
     ("set", "k", "1"), ("incrbyfloat", "k", "-1.1"), ("set", "k", "5.0e3"),
     ("incrbyfloat", "k", "2.0e4"), ("incrbyfloat", "k", "1e300"), ("incrbyfloat", "k", "-1e300")],
    [("set", "k", " 11"), ("incrbyfloat", "k", "1"), ("set", "k", "11 "), ("incrbyfloat", "k", "1"),
     ("set", "k", "1"), ("incrbyfloat", "k", "+inf"), ("incrbyfloat", "k", "inf"),
     ("incrbyfloat", "k", "nan"), ("incrbyfloat", "k", "abc"), ("incrbyfloat", "k", ""),
     ("incrbyfloat", "k", "1e5000"), ("incrbyfloat", "k", "1e-5000"), ("incrbyfloat", "k", "0x10"),
     ("incrbyfloat", "k", "1e"), ("incrbyfloat", "k", ".5"), ("incrbyfloat", "k", "5."),
     ("incrbyfloat", "k", "1e4900"), ("incrbyfloat", "k", "1e4900"), ("get", "k"),
     ("set", "z", "1\x002"),
     ("incrbyfloat", "z", "1")],
    [("incrbyfloat", "n", str(1 / 41)), ("incrbyfloat", "n", str(-1 / 41)), ("get", "n"),
     ("set", "m", "-0.0000000000000000001"), ("incrbyfloat", "m", "0"),
     ("set", "e", "3", "ex", "100"), ("incrbyfloat", "e", "1.5"), ("ttl", "e")],
]


# strtold's grammar and x87 range: hex floats, subnormals, the overflow edge, no '_'
TRICKY_FLOATS = ["0x1.8p1", "0X1P-2", "0x.8", "0x1.", "1e-4940", "4e-4951", "1e-4952",
                 "1.18973149535723176502e+4932", "1.2e4932", "0.1000000000000000055511151231257827",
                 "-0", "+.5e1", "1E5", "InF", "-Infinity", "infinit", "0x", "1e+", "1e-", "1_000",
                 "123456789012345678901234567890", "9.999999999999999999e18", "00012", "0x1p16384",
                 "0x1p16383", "1.1e4932"]
FLOAT_CASES.append([c for v in TRICKY_FLOATS for c in (("set", "t", "1.1"), ("incrbyfloat", "t", v))])


@pytest.mark.parametrize("cmds", FLOAT_CASES)
def test_incrbyfloat_matches_redis(pair, cmds):
    same(pair, cmds)
    same(pair, cmds, protocol=3)


def test_incrbyfloat_random_values_match_redis(pair):
    rnd = random.Random(7)
    cmds = []
    for i in range(150):
        key = f"f{i % 7}"
        kind = rnd.randrange(4)
        if kind == 0:
            v = repr(rnd.uniform(-1e6, 1e6))
        elif kind == 1:
            v = f"{rnd.randrange(-10**6, 10**6)}.{rnd.randrange(10**4):04d}"
        elif kind == 2:
            v = f"{rnd.uniform(-10, 10):.3e}"
        else:
            v = str(rnd.randrange(-10**12, 10**12))
        cmds.append(("incrbyfloat", key, v))
    same(pair, cmds)


# -- LCS -----------------------------------------------------------------------------------

RNA1 = ("CACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTC"
        "ACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCT"
        "TCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTG")
RNA2 = ("ATTAAAGGTTTATACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCT"
        "GTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAA"
        "CTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT")

LCS_CASES = [
    [("set", "a", "ohmytext"), ("set", "b", "mynewtext"), ("lcs", "a", "b"), ("lcs", "a", "b", "len"),
     ("lcs", "a", "b", "idx"), ("lcs", "a", "b", "idx", "withmatchlen"),
     ("lcs", "a", "b", "idx", "minmatchlen", "4", "withmatchlen"), ("lcs", "a", "b", "len", "idx"),
     ("lcs", "a", "b", "foo"), ("lcs", "a", "b", "minmatchlen"), ("lcs", "a", "b", "minmatchlen", "x"),
     ("lcs", "a", "b", "idx", "minmatchlen", "-3"), ("lcs", "a", "none"), ("lcs", "none", "none", "idx"),
    ],
    [("set", "a", RNA1), ("set", "b", RNA2), ("lcs", "a", "b"), ("lcs", "a", "b", "len"),
     ("lcs", "a", "b", "idx", "withmatchlen"), ("lcs", "a", "b", "idx", "minmatchlen", "5")],
]


@pytest.mark.parametrize("cmds", LCS_CASES)
def test_lcs_matches_redis(pair, cmds):
    same(pair, cmds)
    same(pair, cmds, protocol=3)


def test_lcs_fuzz_matches_redis(pair):
    rnd = random.Random(23)
    cmds = []
    for i in range(40):
        alphabet = "ACGT"[:rnd.randrange(1, 5)]
        a = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 60)))
        b = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 60)))
        cmds += [("set", f"a{i}", a), ("set", f"b{i}", b), ("lcs", f"a{i}", f"b{i}"),
                 ("lcs", f"a{i}", f"b{i}", "idx", "withmatchlen", "minmatchlen", rnd.randrange(4))]
    same(pair, cmds)


def test_lcs_large_inputs(pair):
    """A 4000x4000 LCS replies as Redis does, without stalling the server for long."""
    rnd = random.Random(1)
    a = "".join(rnd.choice("ACGT") for _ in range(4000))
    b = "".join(rnd.choice("ACGT") for _ in range(4000))
    t0 = time.monotonic()
    same(pair, [("set", "a", a), ("set", "b", b), ("lcs", "a", "b", "len"),
                ("lcs", "a", "b", "idx", "minmatchlen", "6")])
    assert time.monotonic() - t0 < 20


# -- keyspace notifications ---------------------------------------------------------------

NOTIFY_CMDS = [
    ("set", "a", "1"), ("set", "a", "2", "ex", "100"), ("setnx", "a", "x"), ("setnx", "b", "x"),
    ("setex", "c", "100", "v"), ("psetex", "c", "100000", "v"), ("getset", "c", "w"),
    ("mset", "d", "1", "e", "2"), ("msetnx", "f", "1", "d", "2"), ("msetnx", "f", "1", "g", "2"),
    ("append", "a", "x"), ("append", "h", "x"), ("incr", "i"), ("incrby", "i", "5"),
    ("decr", "i"), ("decrby", "i", "2"), ("incrbyfloat", "i", "1.5"), ("setrange", "h", "3", "y"),
    ("setrange", "h", "0", ""), ("getex", "a", "ex", "100"), ("getex", "a", "persist"),
    ("getex", "a", "persist"), ("getex", "a"), ("getex", "b", "pxat", "1"), ("getdel", "c"),
    ("getdel", "c"), ("get", "nokey"), ("mget", "nokey", "a"), ("set", "x", "v", "get", "nx"),
    ("set", "x", "w", "xx", "keepttl"), ("set", "x", "z", "exat", "100"), ("get", "x"),
    ("incrby", "i", "x"),
]


def collect_events(srv_proc, cmds):
    c = srv_proc.client()
    p = c.pubsub()
    p.psubscribe("__key*__:*")
    wait_until(lambda: p.get_message(timeout=0.1), msg="psubscribe confirmation")
    for cmd in cmds:
        try:
            c.execute_command(*cmd)
        except redis.ResponseError:
            pass
    # The end marker: a SET ($ events) and a miss (m events) on the key __end__.
    c.set("__end__", "1")
    c.get("__end__missing")
    events = []

    def drain():
        m = p.get_message(timeout=0.1)
        while m:
            events.append((m["channel"], m["data"]))
            m = p.get_message(timeout=0.05)
        return any(b"__end__" in ch or b"__end__" in data for ch, data in events)

    wait_until(drain, msg="the end marker")
    p.close()
    c.close()
    return [e for e in events if b"__end__" not in e[0] and b"__end__" not in e[1]]


def test_keyspace_events_match_redis(make_server):
    cfg = {"notify-keyspace-events": "KEAn"}
    srv = make_server(config=cfg)
    orc = make_server(config=cfg, binary=redis_server_binary())
    want = collect_events(orc, NOTIFY_CMDS)
    assert len(want) > 60
    assert collect_events(srv, NOTIFY_CMDS) == want


def test_keymiss_events(make_server):
    cmds = [("get", "nokey"), ("mget", "n1", "n2"), ("strlen", "n3"), ("getrange", "n4", "0", "1"),
            ("getex", "n5"), ("getdel", "n6"), ("set", "n7", "v", "get"), ("lcs", "n8", "n9"),
            ("getbit", "n10", "0"), ("bitcount", "n11"), ("bitpos", "n12", "1"),
            ("bitop", "and", "d", "n13"), ("bitfield", "n14", "get", "u8", "0")]
    cfg = {"notify-keyspace-events": "KEm"}
    srv = make_server(config=cfg)
    orc = make_server(config=cfg, binary=redis_server_binary())
    want = collect_events(orc, cmds)
    assert len(want) > 20
    assert collect_events(srv, cmds) == want


# -- the wrong type ----------------------------------------------------------------------

WRONGTYPE_CASES = [
    [("WRONGTYPE", "l"), ("set", "l", "v", "get"), ("type", "l"), ("set", "l", "v", "nx", "get"),
     ("set", "l", "v", "xx", "get"), ("setnx", "l", "v"), ("getset", "l", "v")],
    [("WRONGTYPE", "l"), ("getex", "l"), ("getex", "l", "ex", "abc"), ("getex", "l", "foo"),
     ("getdel", "l"), ("get", "l"), ("strlen", "l"), ("append", "l", "x"),
     ("setrange", "l", "0", "x"), ("setrange", "l", "0", ""), ("setrange", "l", "x", "x"),
     ("getrange", "l", "0", "1"), ("getrange", "l", "a", "1")],
    [("WRONGTYPE", "l"), ("incr", "l"), ("decrby", "l", "1"), ("decrby", "l", "x"),
     ("incrbyfloat", "l", "1"), ("incrbyfloat", "l", "x")],
    [("WRONGTYPE", "l"), ("set", "s", "v"), ("mget", "l", "s", "none"), ("msetnx", "l", "1"),
     ("mset", "l", "now-a-string"), ("type", "l")],
    [("WRONGTYPE", "l"), ("set", "a", "x"), ("lcs", "a", "l"), ("lcs", "l", "a", "foo"),
     ("lcs", "l", "none", "len")],
]


@pytest.mark.parametrize("cmds", WRONGTYPE_CASES)
def test_wrongtype_matches_redis(pair, cmds):
    same(pair, cmds)
    same(pair, cmds, protocol=3)


# -- redis-cli ------------------------------------------------------------------------------

def test_via_redis_cli(server):
    server.cli("flushall")
    assert server.cli("set", "cli", "10").stdout.strip() == "OK"
    assert server.cli("incrby", "cli", "5").stdout.strip() == "15"
    assert server.cli("incrbyfloat", "cli", "0.5").stdout.strip() == "15.5"
    assert server.cli("append", "cli", "x").stdout.strip() == "5"
    out = server.cli("lcs", "cli", "cli", "idx")
    assert out.stdout.split() == ["matches", "0", "4", "0", "4", "len", "5"]
    assert "WRONGTYPE" not in server.cli("getrange", "cli", "0", "-1").stdout
    out = server.cli("set", "cli", "v", "nx", "xx")
    assert "syntax error" in out.stdout


def test_hot_path_set_get_many(r):
    """The fast SET/GET paths under a pipeline: replies in order, values intact."""
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set(f"k{i}", i)
        p.get(f"k{i}")
    out = p.execute()
    assert out[0::2] == [True] * 500
    assert out[1::2] == [b"%d" % i for i in range(500)]


def random_string_command(rnd):
    """One random string/bitmap command over a handful of keys, valid or not."""
    k = rnd.choice(("a", "b", "c"))
    k2 = rnd.choice(("a", "b", "c"))
    num = str(rnd.choice((0, 1, -1, 5, 17, 255, 10**10, -(2**63), 2**63 - 1)))
    val = rnd.choice(("", "x", "hello", "12", "-3", "1.5", "\xff\x00\x01", "9" * 20, "a" * 50))
    choices = [
        ("set", k, val), ("set", k, val, rnd.choice(("nx", "xx", "get", "keepttl"))),
        ("get", k), ("getset", k, val), ("getdel", k), ("getex", k),
        ("getex", k, rnd.choice(("ex", "px")), rnd.choice(("100", "0", "x"))),
        ("getex", k, "persist"), ("setnx", k, val), ("mset", k, val, k2, val), ("msetnx", k, val, k2, val),
        ("mget", k, k2), ("append", k, val), ("strlen", k), ("incr", k), ("decr", k),
        ("incrby", k, num), ("decrby", k, num), ("incrbyfloat", k, rnd.choice(("1.5", "-0.25", "3", "x"))),
        ("getrange", k, rnd.randrange(-10, 10), rnd.randrange(-10, 10)),
        ("setrange", k, rnd.randrange(0, 20), val), ("lcs", k, k2),
        ("setbit", k, rnd.randrange(0, 100), rnd.randrange(2)), ("getbit", k, rnd.randrange(0, 100)),
        ("bitcount", k), ("bitcount", k, rnd.randrange(-5, 5), rnd.randrange(-5, 5)),
        ("bitpos", k, rnd.randrange(2)), ("bitop", rnd.choice(("and", "or", "xor")), k, k2, "c"),
        ("bitop", "not", k, k2), ("bitfield", k, "incrby", rnd.choice(("u4", "i7", "i64")),
                                  rnd.randrange(0, 50), num),
    ]
    return rnd.choice(choices)


def test_random_sequences_match_redis(pair):
    rnd = random.Random(99)
    cmds = [random_string_command(rnd) for _ in range(1500)]
    a, b = pair()
    a.config_resetstat()
    b.config_resetstat()
    dirty = "rdb_changes_since_last_save"
    before = a.info("persistence")[dirty], b.info("persistence")[dirty]
    got, want = run(a, cmds), run(b, cmds)
    for cmd, g, w in zip(cmds, got, want, strict=True):
        assert g == w, f"{cmd}: bocho {g!r} != redis {w!r}"
    # reads count keyspace hits and misses, writes do not
    stats = ("keyspace_hits", "keyspace_misses")
    assert [a.info("stats")[s] for s in stats] == [b.info("stats")[s] for s in stats]
    # and every write counts its changes as Redis does (the dirty counter)
    assert (a.info("persistence")[dirty] - before[0]
            == b.info("persistence")[dirty] - before[1])


# -- propagation (in-process: no replica or AOF to read it from yet) ----------------------

def test_set_propagation_forms(inproc):
    now = int(time.time() * 1000)
    inproc("SET", "k", "v", "EX", 100)
    inproc("SET", "k", "v", "px", 5000, "NX")  # refused: nothing propagates
    inproc("SET", "k", "w", "XX", "PX", 5000)
    inproc("SETEX", "s", 10, "v")
    inproc("PSETEX", "p", 10000, "v")
    inproc("SET", "a", "v", "EXAT", 2000000000)
    inproc("SET", "a", "v", "PXAT", 2000000000123)
    inproc("SET", "g", "v", "GET", "KEEPTTL", "get")
    inproc("SET", "g", "w", "get", "XX")
    inproc("SET", "g", "z", "GET", "EX", 100)
    inproc("SET", "plain", "v", "NX")
    log = inproc.argvs()
    assert [a[0] for a in log] == [b"SET"] * 10
    assert log[0][:4] == [b"SET", b"k", b"v", b"PXAT"] and now + 99000 <= int(log[0][4])
    assert log[1][:4] == [b"SET", b"k", b"w", b"PXAT"] and now + 4000 <= int(log[1][4])
    assert log[2][:4] == [b"SET", b"s", b"v", b"PXAT"] and now + 9000 <= int(log[2][4])
    assert log[3][:4] == [b"SET", b"p", b"v", b"PXAT"] and now + 9000 <= int(log[3][4])
    assert log[4] == [b"SET", b"a", b"v", b"PXAT", b"2000000000000"]
    assert log[5] == [b"SET", b"a", b"v", b"PXAT", b"2000000000123"]
    assert log[6] == [b"SET", b"g", b"v", b"KEEPTTL"]
    assert log[7] == [b"SET", b"g", b"w", b"XX"]
    assert log[8][:4] == [b"SET", b"g", b"z", b"PXAT"]
    assert log[9] == [b"SET", b"plain", b"v", b"NX"]


def test_getex_getdel_getset_incrbyfloat_propagation(inproc):
    inproc("SET", "k", "v")
    inproc.log.clear()
    inproc("GETEX", "k")  # no option: a read, nothing propagates
    inproc("GETEX", "k", "EX", 100)
    inproc("GETEX", "k", "PERSIST")
    inproc("GETEX", "k", "PERSIST")  # no TTL left: nothing
    inproc("GETEX", "k", "PXAT", 2000000000123)
    inproc("GETEX", "k", "EXAT", 1)  # in the past: the key goes
    inproc("SET", "d", "v")
    inproc("GETDEL", "d")
    inproc("GETDEL", "d")
    inproc("GETSET", "s", "v")
    inproc("SET", "f", "10.5", "EX", 100)
    inproc("INCRBYFLOAT", "f", "0.1")
    log = inproc.argvs()
    assert log[0][0] == b"PEXPIREAT" and log[0][1] == b"k"
    assert log[1:] == [
        [b"PERSIST", b"k"], [b"PEXPIREAT", b"k", b"2000000000123"], [b"DEL", b"k"],
        [b"SET", b"d", b"v"], [b"DEL", b"d"], [b"SET", b"s", b"v"],
        log[7], [b"SET", b"f", b"10.6", b"KEEPTTL"]]
    assert log[7][:4] == [b"SET", b"f", b"10.5", b"PXAT"]


def test_other_writes_propagate_as_sent(inproc):
    cmds = [("MSET", "a", "1", "b", "2"), ("MSETNX", "c", "1"), ("APPEND", "a", "x"),
            ("INCR", "n"), ("DECRBY", "n", 5), ("SETRANGE", "a", 5, "y"), ("SETBIT", "bm", 3, 1),
            ("BITFIELD", "bf", "SET", "u8", 0, 7), ("BITOP", "OR", "dst", "a", "b")]
    for cmd in cmds:
        inproc(*cmd)
    # no-ops leave nothing behind
    for cmd in [("MSETNX", "a", "1"), ("SETBIT", "bm", 3, 1), ("BITFIELD", "bf", "GET", "u8", 0),
                ("BITFIELD", "bf", "SET", "u8", 0, 7), ("SETRANGE", "a", 0, ""), ("INCRBY", "n", "x"),
                ("GET", "a"), ("SETNX", "a", "v"), ("BITOP", "AND", "none2", "none")]:
        inproc(*cmd)
    assert inproc.argvs() == [[str(x).encode() for x in cmd] for cmd in cmds]


WATCH_TOUCHES = [
    ("set", "w", "x"), ("set", "w", "x", "nx"), ("setnx", "w", "x"), ("append", "w", "x"),
    ("append", "w", ""), ("setrange", "w", "0", ""), ("setrange", "w", "0", "z"), ("incr", "n"),
    ("incrbyfloat", "n", "1.5"), ("getex", "w"), ("getex", "w", "ex", "100"),
    ("getex", "w", "persist"), ("getdel", "w"), ("getset", "w", "y"), ("mset", "a", "1", "w", "2"),
    ("msetnx", "w", "1"), ("setbit", "w", "0", "0"), ("setbit", "w", "1", "1"),
    ("bitfield", "w", "get", "u8", "0"), ("bitfield", "w", "set", "u8", "0", "118"),
    ("bitop", "not", "w", "w"), ("bitop", "and", "none", "none2"), ("get", "w"), ("lcs", "w", "n"),
]


@pytest.mark.parametrize("touch", WATCH_TOUCHES)
def test_watch_sees_modifications_as_redis(server, oracle, touch):
    """A WATCHed key's transaction fails exactly when Redis's would."""
    results = []
    for srv in (server, oracle):
        c1, c2 = srv.client(), srv.client()
        c1.flushall()
        c1.set("w", "v")
        c1.set("n", "1")
        key = "none" if touch[:2] == ("bitop", "and") else ("n" if touch[1] == "n" else "w")
        with c1.pipeline() as p:
            p.watch(key)
            c2.execute_command(*touch)
            p.multi()
            p.get(key)
            try:
                results.append(p.execute())
            except redis.WatchError:
                results.append("aborted")
        c1.close()
        c2.close()
    assert results[0] == results[1], touch
