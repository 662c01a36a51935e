"""DUMP and RESTORE (and RESTORE-ASKING) against real bocho-server processes, side by
side with a real redis-server (the `pair` fixture) for error texts and reply shapes, and
DUMP payloads exchanged both ways with real Redis for every type and encoding whose
codec is in (the others skip until their codec lands)."""

from __future__ import annotations

import random
import time

import pytest
import redis

from bocho.persistence import rdb, rdbio
from bocho.testing.server import wait_until


def reply(fn, *args):
    """The reply or the error text, so bocho and Redis compare as plain values."""
    try:
        return fn(*args)
    except redis.ResponseError as e:
        return f"error: {e}"


def both(pair_clients, *args):
    a, b = pair_clients
    return reply(a.execute_command, *args), reply(b.execute_command, *args)


def assert_same(pair_clients, *args):
    got, want = both(pair_clients, *args)
    assert got == want, (args, got, want)
    return got


# -- samples of every type and encoding -------------------------------------------------

def _stream(c, key):
    for i in range(5):
        c.xadd(key, {"f": i, "g": "x" * i}, id=f"{i + 1}-1")
    c.xgroup_create(key, "grp", id="0")
    c.xreadgroup("grp", "alice", {key: ">"}, count=3)
    c.xack(key, "grp", "1-1")
    c.xgroup_create(key, "g2", id="$")
    c.xdel(key, "4-1")


SAMPLES = {
    # name: (RDB type byte the codec must load, builder)
    "str-int": (rdbio.TYPE_STRING, lambda c, k: c.set(k, 123456789)),
    "str-raw": (rdbio.TYPE_STRING, lambda c, k: c.set(k, "hello world")),
    "str-lzf": (rdbio.TYPE_STRING, lambda c, k: c.set(k, "abcd" * 500)),
    "str-bin": (rdbio.TYPE_STRING, lambda c, k: c.set(k, bytes(range(256)))),
    "list-small": (rdbio.TYPE_LIST_QUICKLIST_2, lambda c, k: c.rpush(k, "a", 1, -5, "b" * 70)),
    "list-big": (rdbio.TYPE_LIST_QUICKLIST_2, lambda c, k: c.rpush(k, *range(1000))),
    "list-plain": (rdbio.TYPE_LIST_QUICKLIST_2, lambda c, k: c.rpush(k, "y" * 20000, "z")),
    "set-intset": (rdbio.TYPE_SET_INTSET, lambda c, k: c.sadd(k, 1, -2, 2**40)),
    "set-table": (rdbio.TYPE_SET, lambda c, k: c.sadd(k, "a", "b", 3)),
    "set-bigints": (rdbio.TYPE_SET, lambda c, k: c.sadd(k, *range(600))),
    "zset-lp": (rdbio.TYPE_ZSET_LISTPACK, lambda c, k: c.zadd(k, {"a": 1, "b": -2.5, "c": 1e300})),
    "zset-skip": (rdbio.TYPE_ZSET_2, lambda c, k: c.zadd(k, {f"m{i}": i / 3 for i in range(300)})),
    "hash-lp": (rdbio.TYPE_HASH_LISTPACK, lambda c, k: c.hset(k, mapping={"f": "v", "n": 5})),
    "hash-table": (rdbio.TYPE_HASH, lambda c, k: c.hset(k, mapping={f"f{i}": i for i in range(200)})),
    "hash-longval": (rdbio.TYPE_HASH, lambda c, k: c.hset(k, mapping={"f": "v" * 100})),
    "stream": (rdbio.TYPE_STREAM_LISTPACKS, _stream),
}


def contents(c, key):
    """A value as plain data, with its type and encoding."""
    t = c.type(key)
    enc = c.object("encoding", key)
    if t == b"string":
        v = c.get(key)
    elif t == b"list":
        v = c.lrange(key, 0, -1)
    elif t == b"set":
        v = sorted(c.smembers(key))
    elif t == b"zset":
        v = c.zrange(key, 0, -1, withscores=True)
    elif t == b"hash":
        v = sorted(c.hgetall(key).items())
    elif t == b"stream":
        groups = c.xinfo_groups(key)
        v = (c.xrange(key), c.xinfo_stream(key)["last-generated-id"],
             sorted((g["name"], g["pending"], g["last-delivered-id"], g["consumers"])
                    for g in groups),
             [[(p["message_id"], p["consumer"], p["times_delivered"])
               for p in c.xpending_range(key, g["name"], "-", "+", 100)] for g in groups])
    else:
        v = None
    return t, enc, v


PARAMS = list(SAMPLES)


@pytest.mark.parametrize("direction", ["redis-to-bocho", "bocho-to-redis"])
@pytest.mark.parametrize("name", PARAMS)
def test_payloads_exchanged_with_redis(pair, name, direction):
    a, b = pair()
    src, dst = (b, a) if direction == "redis-to-bocho" else (a, b)
    SAMPLES[name][1](src, "k")
    payload = src.dump("k")
    assert dst.restore("k", 0, payload)
    assert contents(dst, "k") == contents(src, "k")
    # and bocho reads its own payload of what it restored
    assert a.restore("k2", 0, a.dump("k"))
    assert contents(a, "k2") == contents(src, "k")


@pytest.mark.parametrize("name", ["str-int", "str-raw", "str-lzf", "str-bin"])
def test_string_payloads_are_byte_identical(pair, name):
    a, b = pair()
    for c in (a, b):
        SAMPLES[name][1](c, "k")
    assert a.dump("k") == b.dump("k")


def test_rdbcompression_no(pair):
    a, b = pair()
    for c in (a, b):
        c.config_set("rdbcompression", "no")
        c.set("k", "abcd" * 500)
    try:
        assert a.dump("k") == b.dump("k")
        assert len(a.dump("k")) > 2000
    finally:
        for c in (a, b):
            c.config_set("rdbcompression", "yes")


# -- RESTORE's checks, in Redis's order -----------------------------------------------------

def test_dump_missing_key(pair):
    p = pair()
    assert assert_same(p, "DUMP", "nokey") is None
    p3 = pair(protocol=3)
    assert assert_same(p3, "DUMP", "nokey") is None


def test_restore_errors_match_redis(pair):
    p = pair()
    a, b = p
    for c in p:
        c.set("src", "value")
        c.set("busy", "x")
    payload = b.dump("src")
    assert a.dump("src") == payload
    bad_crc = payload[:-1] + bytes([payload[-1] ^ 0xFF])
    zero_crc = payload[:-8] + b"\0" * 8
    new_version = payload[:-10] + b"\x0b\x00" + payload[-8:]
    cases = [
        ("busy", 0, payload),
        ("busy", -1, payload),              # BUSYKEY comes before the TTL check
        ("new", -1, payload),
        ("new", "abc", payload),
        ("new", "1.5", payload),
        ("new", 0, bad_crc),
        ("new", 0, zero_crc),
        ("new", 0, new_version),
        ("new", 0, b"short"),
        ("new", 0, b""),
        ("new", 0, payload, "bogus"),
        ("new", 0, payload, "IDLETIME"),
        ("new", 0, payload, "IDLETIME", "-1"),
        ("new", 0, payload, "IDLETIME", "x"),
        ("new", 0, payload, "FREQ", "256"),
        ("new", 0, payload, "FREQ", "-1"),
        ("new", 0, payload, "FREQ", "1", "IDLETIME", "1"),
        ("new", 0, payload, "IDLETIME", "1", "FREQ", "1"),
        ("busy", 0, bad_crc, "FREQ", "300"),  # options first
        ("busy", 0, bad_crc, "REPLACE"),
        ("busy", "x", payload, "REPLACE"),
    ]
    for args in cases:
        assert_same(p, "RESTORE", *args)
        assert_same(p, "RESTORE-ASKING", *args)
    assert sorted(a.keys()) == sorted(b.keys()) == [b"busy", b"src"]
    assert_same(p, "RESTORE", "k", 0, payload, "REPLACE", "ABSTTL", "IDLETIME", 5)
    assert_same(p, "RESTORE")
    assert_same(p, "RESTORE", "k", 0)


def test_bad_body_with_good_crc(pair):
    """The footer is right but the body is not: Bad data format, nothing changes."""
    p = pair()
    bodies = [
        b"\x63",                            # unknown type
        b"\x00",                            # string, no length
        b"\x00\x05abc",                     # runs into the footer: Redis reads it
        b"\x00\x0fabc",                     # string longer than the whole payload
        b"\x00\xc3\x05\x10abc",             # bad LZF
        b"\x00\xc7",                        # unknown string encoding
        b"\x0e\x01",                        # a quicklist of one node and nothing else
        b"\x06",                            # a module value
    ]
    for body in bodies:
        payload = rdbio.dump_footer(body)
        for c in p:
            c.set("k", "old")
        assert_same(p, "RESTORE", "k", 0, payload, "REPLACE")
        assert_same(p, "RESTORE", "new", 0, payload)
        assert_same(p, "GET", "k")
        assert_same(p, "EXISTS", "new")


def test_skip_checksum_validation(pair):
    p = pair()
    a, b = p
    a.set("s", "v")
    payload = a.dump("s")
    bad = payload[:-8] + b"\1" * 8
    try:
        assert_same(p, "DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", 1)
        assert_same(p, "RESTORE", "k", 0, bad)
        assert_same(p, "GET", "k")
        # the RDB version is still checked
        assert_same(p, "RESTORE", "k2", 0, payload[:-10] + b"\x0b\x00" + payload[-8:])
        # trailing bytes between the value and the footer are ignored
        assert_same(p, "RESTORE", "k3", 0, payload[:-10] + b"junk" + payload[-10:])
        assert_same(p, "GET", "k3")
    finally:
        assert_same(p, "DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", 0)
    assert_same(p, "RESTORE", "k4", 0, bad)


def test_restore_ttl_and_absttl(pair):
    p = pair()
    a, b = p
    a.set("s", "v")
    payload = a.dump("s")
    for c in p:
        assert c.restore("t", 5000, payload)
        assert 4000 < c.pttl("t") <= 5000
        # overflows 32 bits
        assert c.restore("big", 2569591501, payload)
        assert 2569591501 - 2000 <= c.pttl("big") <= 2569591501
        at = int(time.time() * 1000) + 3000
        assert c.restore("abs", at, payload, absttl=True)
        assert 2000 < c.pttl("abs") <= 3000
        assert c.restore("past", 1, payload, absttl=True)  # born expired: not created
        assert c.exists("past") == 0
        assert c.restore("t", 1, payload, replace=True, absttl=True)  # deletes t
        assert c.exists("t") == 0
        assert c.restore("nottl", 0, payload)
        assert c.ttl("nottl") == -1
    assert sorted(a.keys()) == sorted(b.keys() + [b"s"])


def test_restore_idletime_and_freq(make_server):
    srv = make_server(config={"maxmemory-policy": "allkeys-lru"})
    c = srv.client()
    c.set("s", "v")
    payload = c.dump("s")
    assert c.restore("k", 0, payload, idletime=1000)
    assert 1000 <= c.object("idletime", "k") < 1010
    c.config_set("maxmemory-policy", "allkeys-lfu")
    assert c.restore("f", 0, payload, frequency=100)
    assert c.object("freq", "f") == 100
    c.close()


def _restore_events(c, payload) -> list[tuple[bytes, bytes]]:
    c.config_set("notify-keyspace-events", "KEAn")
    try:
        ps = c.pubsub()
        ps.psubscribe("__keyevent@0__:*")
        wait_until(lambda: ps.get_message(timeout=0.1) is not None)
        c.restore("k", 0, payload)
        c.restore("k", 0, payload, replace=True)
        c.restore("k", 1, payload, replace=True, absttl=True)  # in the past: deleted
        c.restore("k", 1, payload, absttl=True)  # in the past, no key: nothing
        c.set("end", 1)
        seen: list[tuple[bytes, bytes]] = []

        def more():
            m = ps.get_message(timeout=0.1)
            if m:
                seen.append((m["channel"].split(b":")[-1], m["data"]))
            return seen and seen[-1] == (b"set", b"end")

        wait_until(more, msg="events")
        ps.close()
        return seen
    finally:
        c.config_set("notify-keyspace-events", "")


def test_restore_events_and_watch(server, pair, r):
    a, b = pair()
    a.set("s", "v")
    payload = a.dump("s")
    assert _restore_events(a, payload) == _restore_events(b, payload) == [
        (b"new", b"k"), (b"restore", b"k"), (b"new", b"k"), (b"restore", b"k"),
        (b"del", b"k"), (b"new", b"end"), (b"set", b"end")]
    # WATCH: a RESTORE of the watched key fails the transaction
    w = server.client()
    w.set("w", "1")
    pipe = w.pipeline()
    pipe.watch("w")
    r.restore("w", 0, payload, replace=True)
    pipe.multi()
    pipe.set("w", "2")
    with pytest.raises(redis.WatchError):
        pipe.execute()
    w.close()


def test_restore_wakes_blocked_pop(pair, deferred):
    a, b = pair()
    b.rpush("l", "x", "y")
    payload = b.dump("l")
    d = deferred()
    d.send("BLPOP", "l", 5)
    from raw import wait_blocked
    wait_blocked(a)
    a.restore("l", 0, payload)
    assert d.read() == [b"l", b"x"]


def test_propagation(inproc):
    inproc("SET", "s", "v")
    payload = inproc("DUMP", "s").split(b"\r\n", 1)[1][:-2]
    inproc.log.clear()
    assert inproc("RESTORE", "a", 0, payload) == b"+OK\r\n"
    assert inproc("RESTORE", "b", 100000, payload, "REPLACE") == b"+OK\r\n"
    assert inproc("RESTORE", "c", 1, payload, "ABSTTL") == b"+OK\r\n"   # not created
    assert inproc("RESTORE", "a", 1, payload, "ABSTTL", "REPLACE") == b"+OK\r\n"  # deleted
    at = int(time.time() * 1000) + 100000
    assert inproc("RESTORE-ASKING", "d", at, payload, "ABSTTL") == b"+OK\r\n"
    argvs = inproc.argvs()
    assert argvs[0] == [b"RESTORE", b"a", b"0", payload]
    name, key, when, body, *rest = argvs[1]
    assert (name, key, body, rest) == (b"RESTORE", b"b", payload, [b"REPLACE", b"ABSTTL"])
    assert abs(int(when) - (time.time() * 1000 + 100000)) < 5000
    assert argvs[2] == [b"DEL", b"a"]
    assert argvs[3] == [b"RESTORE-ASKING", b"d", b"%d" % at, payload, b"ABSTTL"]
    assert len(argvs) == 4


# -- sanitize-dump-payload --------------------------------------------------------------------

def test_deep_check_follows_config_and_client(inproc):
    from bocho.commands.dump import deep_check
    from bocho.network import F_MASTER, Client
    srv = inproc.server
    c = Client(srv)
    for mode, plain, master in (("no", False, False), ("yes", True, True),
                                ("clients", True, False)):
        srv.config["sanitize-dump-payload"] = mode
        assert deep_check(c) is plain
        c.flags |= F_MASTER
        assert deep_check(c) is master
        c.flags &= ~F_MASTER
    inproc("ACL", "SETUSER", "trusted", "on", "nopass", "+@all", "~*", "skip-sanitize-payload")
    c.user = b"trusted"
    assert deep_check(c) is False
    srv.config["sanitize-dump-payload"] = "yes"
    assert deep_check(c) is True


def test_bad_payload_is_logged_at_verbose(make_server):
    srv = make_server(config={"loglevel": "verbose", "sanitize-dump-payload": "yes"})
    c = srv.client()
    with pytest.raises(redis.ResponseError, match="Bad data format"):
        c.restore("k", 0, rdbio.dump_footer(b"\x00\x20abc"))
    assert srv.wait_for_log("Internal error in RDB reading offset")
    assert "Unexpected EOF" in srv.log()
    c.close()


def _corrupt(payload: bytes, rnd: random.Random) -> bytes:
    body = bytearray(payload[:-10])
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        body[rnd.randrange(len(body))] = rnd.randrange(256)
    if rnd.random() < 0.2:
        body = body[:rnd.randrange(1, len(body) + 1)]
    return rdbio.dump_footer(bytes(body))


@pytest.mark.parametrize("sanitize", ["no", "yes"])
def test_corrupt_payloads_never_hurt(server, r, sanitize):
    """Random corruption behind a valid CRC: RESTORE loads a value or answers Bad data
    format; a failed RESTORE changes nothing; later commands on what did load answer
    (errors at worst); the server stays up."""
    rnd = random.Random(f"dump-{sanitize}")
    r.config_set("sanitize-dump-payload", sanitize)
    builders = [n for n in SAMPLES if SAMPLES[n][0] in rdb.LOADERS]
    for n in builders:
        SAMPLES[n][1](r, n)
    payloads = {n: r.dump(n) for n in builders}
    probes = {b"string": [("GET", "k"), ("STRLEN", "k"), ("APPEND", "k", "x")],
              b"list": [("LRANGE", "k", 0, -1), ("LPOP", "k"), ("RPUSH", "k", "x"),
                        ("LINSERT", "k", "BEFORE", "x", "y")],
              b"set": [("SMEMBERS", "k"), ("SPOP", "k"), ("SADD", "k", "x"),
                       ("SRANDMEMBER", "k", -5)],
              b"zset": [("ZRANGE", "k", 0, -1, "WITHSCORES"), ("ZADD", "k", 1, "x"),
                        ("ZPOPMIN", "k")],
              b"hash": [("HGETALL", "k"), ("HSET", "k", "x", "y"), ("HRANDFIELD", "k", -5)],
              b"stream": [("XRANGE", "k", "-", "+"), ("XINFO", "STREAM", "k", "FULL"),
                          ("XADD", "k", "*", "a", "b"), ("XAUTOCLAIM", "k", "grp", "c", 0, "0")]}
    try:
        for i in range(300):
            name = rnd.choice(builders)
            bad = _corrupt(payloads[name], rnd)
            before = r.dbsize()
            try:
                r.restore("k", 0, bad, replace=True)
            except redis.ResponseError as e:
                assert "Bad data format" in str(e)
                assert r.dbsize() == before
                continue
            t = r.type("k")
            for probe in probes.get(t, []):
                try:
                    r.execute_command(*probe)
                except redis.ResponseError:
                    pass
            r.execute_command("DEBUG", "DIGEST-VALUE", "k")
            r.delete("k")
            assert r.ping(), i
    finally:
        r.config_set("sanitize-dump-payload", "no")
