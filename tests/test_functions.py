"""FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS/KILL and FCALL/FCALL_RO, compared
with redis-server where the replies are deterministic."""

from __future__ import annotations

import threading

import pytest
import redis
from oracle import assert_same, run
from raw import script_busy

from bocho.testing.server import wait_until

LIB1 = "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return 1 end)"
LIB_RW = ("#!lua name=rw\nredis.register_function('setter', function(keys, args) "
          "return redis.call('set', keys[1], args[1]) end)\n"
          "redis.register_function{function_name='getter', callback=function(keys, args) "
          "return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}")

LOAD_ERRORS = [
    "#!lua name=lib3\nredis.register_function('f 1', function(keys, args) return 1 end)",
    "#!lua name=lib3\nredis.register_function()",
    "#!lua name=lib3\nerror('x')",
    "#!lua name=lib3\nredis.call('ping')",
    "#!lua name=lib3\nlocal a = 1",
    "#!lua name=lib3\nfoo(",
    "#!lua name=lib3 x=y\n", "#!lua", "#!lua name=a name=b\n", "#!lua2 name=a\n",
    "no shebang", "#!lua\nreturn 1", "#!lua name=bad-name\nreturn 1",
    "#!lua name=lib4\nredis.register_function{function_name='f4', "
    "callback=function() return 1 end, flags={'no-writes','bad'}}",
    "#!lua name=lib4\nredis.register_function{function_name='f4', bad=1}",
    "#!lua name=lib4\nredis.register_function{callback=function() return 1 end}",
    "#!lua name=lib4\nredis.register_function{function_name='f4'}",
    "#!lua name=lib4\nredis.register_function('f4', 'notfn')",
    "#!lua name=lib4\nredis.register_function('f4', function() end)\n"
    "redis.register_function('f4', function() end)",
    "#!lua name=lib4\nredis.setresp(3)",
]


def test_load_errors_match_redis(pair):
    a, b = pair()
    cmds = [("FUNCTION", "LOAD", LIB1), ("FUNCTION", "LOAD", LIB1),
            ("FUNCTION", "LOAD", LIB1.replace("lib1", "lib2"))]
    cmds += [("FUNCTION", "LOAD", code) for code in LOAD_ERRORS]
    cmds += [("FUNCTION", "LOAD", "REPLACE", LIB1), ("FUNCTION", "LOAD", "BAD", LIB1),
             ("FUNCTION", "LOAD", "REPLACE"), ("FUNCTION", "DELETE", "nosuch"),
             ("FUNCTION", "FLUSH", "bad"), ("FUNCTION", "LIST", "bad"),
             ("FUNCTION", "LIST", "LIBRARYNAME")]
    assert_same(run(a, cmds), run(b, cmds), cmds)


@pytest.mark.parametrize("protocol", [2, 3])
def test_fcall_and_list_match_redis(pair, protocol):
    a, b = pair(protocol)
    for c in (a, b):
        c.execute_command("FUNCTION", "FLUSH")
    cmds = [("FUNCTION", "LOAD", LIB_RW), ("FCALL", "setter", "1", "k", "v"),
            ("FCALL", "getter", "1", "k"), ("FCALL_RO", "getter", "1", "k"),
            ("FCALL_RO", "setter", "1", "k", "v"), ("FCALL", "nosuch", "0"),
            ("FCALL", "getter", "x"), ("FCALL", "getter", "5", "k"),
            ("FCALL", "getter", "-1"),
            ("FUNCTION", "LIST"), ("FUNCTION", "LIST", "WITHCODE"),
            ("FUNCTION", "LIST", "LIBRARYNAME", "r*"), ("FUNCTION", "LIST", "LIBRARYNAME", "x*"),
            ("FUNCTION", "STATS"), ("FUNCTION", "KILL"),
            ("FUNCTION", "DELETE", "rw"), ("FCALL", "getter", "1", "k"), ("FUNCTION", "LIST")]
    assert_same(_norm(run(a, cmds)), _norm(run(b, cmds)), cmds)


def _norm(v):
    """A library's functions come in hash order: sort them."""
    if isinstance(v, list):
        v = [_norm(x) for x in v]
        if v and all(isinstance(x, list) and x[:1] == [b"name"] for x in v):
            v = sorted(v)
        elif v and all(isinstance(x, dict) and b"name" in x for x in v):
            v = sorted(v, key=lambda x: x[b"name"])
        return v
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def test_dump_restore_roundtrip_and_with_redis_payload(pair):
    a, b = pair()
    for c in (a, b):
        c.execute_command("FUNCTION", "FLUSH")
        c.execute_command("FUNCTION", "LOAD", LIB_RW)
        c.execute_command("FUNCTION", "LOAD", LIB1)
    ours = a.execute_command("FUNCTION", "DUMP")
    theirs = b.execute_command("FUNCTION", "DUMP")  # LZF-compressed by Redis
    for payload in (ours, theirs):
        a.execute_command("FUNCTION", "FLUSH")
        assert a.execute_command("FUNCTION", "RESTORE", payload) in (b"OK", "OK", True)
        assert a.fcall("f1", 0) == 1
        with pytest.raises(redis.ResponseError, match="already exists"):
            a.execute_command("FUNCTION", "RESTORE", payload)
        assert a.execute_command("FUNCTION", "RESTORE", payload, "REPLACE")
        assert a.execute_command("FUNCTION", "RESTORE", payload, "FLUSH")
    # redis accepts ours too
    b.execute_command("FUNCTION", "FLUSH")
    assert b.execute_command("FUNCTION", "RESTORE", ours)
    assert b.fcall("f1", 0) == 1
    cmds = [("FUNCTION", "RESTORE", "bad"), ("FUNCTION", "RESTORE", ours, "BAD"),
            ("FUNCTION", "RESTORE", ours[:-1] + b"x"),
            ("FUNCTION", "RESTORE", ours[:-8] + bytes(8))]  # no zero-CRC pass for payloads
    assert_same(run(a, cmds), run(b, cmds), cmds)
    # one library: the same bytes as Redis's (its code LZF-compressed, as rdbcompression)
    for c in (a, b):
        c.execute_command("FUNCTION", "FLUSH")
        c.execute_command("FUNCTION", "LOAD", LIB1)
    assert a.execute_command("FUNCTION", "DUMP") == b.execute_command("FUNCTION", "DUMP")


def test_busy_function_killed_by_function_kill(server):
    r = server.client()
    r.function_flush()
    r.config_set("busy-reply-threshold", 50)
    r.function_load("#!lua name=loop\nredis.register_function('spin', function() "
                    "while true do end end)")
    runner = server.client()
    res = {}

    def go():
        try:
            runner.fcall("spin", 0)
        except redis.ResponseError as e:
            res["err"] = str(e)
    t = threading.Thread(target=go)
    t.start()
    wait_until(lambda: script_busy(r), 5)
    stats = r.execute_command("FUNCTION", "STATS")
    assert b"spin" in str(stats).encode() or "spin" in str(stats)
    with pytest.raises(redis.ResponseError):
        r.execute_command("SCRIPT", "KILL")
    r.execute_command("FUNCTION", "KILL")
    t.join(5)
    assert "killed by user" in res["err"]
    assert r.ping()
    r.config_set("busy-reply-threshold", 5000)


def test_load_timeout(r):
    with pytest.raises(redis.ResponseError, match="FUNCTION LOAD timeout"):
        r.function_load("#!lua name=slow\nlocal a = 0 while true do a = a + 1 end")
