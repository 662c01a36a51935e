"""EVAL / EVALSHA / SCRIPT: conversions both ways compared with redis-server (RESP2 and
RESP3), error shapes, the sandbox, effect propagation, redis-py's Lock, a rate limiter,
and a busy script answered BUSY to others and stopped by SCRIPT KILL."""

from __future__ import annotations

import os
import threading
import time

import pytest
import redis
from oracle import assert_same, run
from raw import script_busy, swallow

from bocho.testing.server import wait_until

CONVERSIONS = [
    "return 1", "return 1.9", "return -3.7", "return 'x'", "return true", "return false",
    "return nil", "return {}", "return {1, 2, {3, 'x'}, nil, 5}",
    "return {1, 2, 3, 'x', 4.5, true, false}",
    "return {ok='fine'}", "return {err='MYERR custom'}", "return {err='noprefix'}",
    "return redis.status_reply('PONG')", "return redis.error_reply('x y')",
    "return redis.error_reply('-X y')", "return redis.status_reply('a\\r\\nb')",
    "return {double=3.14}", "return {big_number='123456789012345678901234567890'}",
    "return {map={a=1}}", "return {set={a=true}}",
    "return {verbatim_string={format='txt', string='hello'}}",
    "return redis.call('set', 'k', 'v')", "return redis.call('get', 'k')",
    "return redis.call('get', 'nokey')", "return redis.call('incr', 'n')",
    "return redis.call('rpush', 'l', 'a', 'b', 'c')", "return redis.call('lrange', 'l', 0, -1)",
    "return redis.pcall('incr', 'l')", "return redis.call('del', 'nokey')",
    "return redis.call('ping')", "return type(redis.call('ping'))",
    "return redis.call('ping').ok", "return redis.call('get', 'nokey') == false",
    "redis.setresp(3); return redis.call('hello', 3)",
    "redis.setresp(3); return redis.call('get', 'nokey') == nil",
    "redis.setresp(3); return true", "redis.setresp(3); return false",
    "redis.setresp(3); return {double=1.5}",
    "redis.setresp(3); local r = redis.call('config', 'get', 'maxmemory'); return r",
    "redis.setresp(3); return redis.call('config', 'get', 'maxmemory')",
    "return tostring(1e20)", "return redis.sha1hex('')", "return redis.sha1hex('Pizza & Mandolino')",
    "return {1, 2, 3, nil, 4}", "return cjson.encode({1, 2, 3})",
    "return cjson.encode({a=1})", "return cjson.decode('[1,2,3]')",
    "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
    "return cmsgpack.unpack(cmsgpack.pack({1, 2, 'x'}))",
    "local e = cmsgpack.pack(0.1) local h = '' for i = 1, #e do "
    "h = h .. string.format('%02x', string.byte(e, i)) end return h",
    "return {bit.band(7, 3), bit.bor(1, 2), bit.bxor(1, 3), bit.lshift(1, 4), bit.tohex(255)}",
    "return struct.unpack('>I2', struct.pack('>I2', 258))",
    "return redis.REDIS_VERSION", "return redis.REDIS_VERSION_NUM",
    "return redis.replicate_commands()",
    # numbers as arguments are written as Redis writes them (%.17g)
    "redis.call('set', 'a', 1e20); return redis.call('get', 'a')",
    "redis.call('set', 'a', 3.25); return redis.call('get', 'a')",
    "redis.call('set', 'a', -12345678); return redis.call('get', 'a')",
    "redis.call('set', 'a', 2^53 + 1); return redis.call('get', 'a')",
    "redis.call('set', 'a', 0.1); return redis.call('get', 'a')",
    # replies into Lua: nested arrays with nils, empty arrays, statuses, RESP3
    "return redis.call('mget', 'a', 'nokey', 'a')",
    "return redis.call('lrange', 'nolist', 0, -1)",
    "return {redis.call('set', 'b', 'x'), redis.call('type', 'b')}",
    "redis.call('hset', 'h', 'f', 'v'); redis.setresp(3); return redis.call('hgetall', 'h')",
    "redis.setresp(3); return redis.call('smembers', 'noset')",
    "redis.setresp(3); return redis.pcall('incr', 'h')",
    "return redis.pcall()",
    "return redis.pcall('get', {})",
    "return redis.pcall('get', nil)",
    "return redis.call('set', 'k')",
    "return redis.call('nosuchcommand')",
    "return redis.call('subscribe', 'x')",
    "return redis.call()",
    "return redis.call('get', {})",
    "return redis.call('incr', 'k')",
    "return redis.pcall('incr', 'k')",
    "local ok, e = pcall(redis.call, 'incr', 'k'); return e",
    "error('boom')", "error({err='MINE here'})", "a = 1", "return undefined_var",
    "return x(", "os.exit()", "return loadfile", "print('x')",
    "return loadstring(string.dump(function() return 1 end))()",
    "setmetatable(_G, {})", "local g = getmetatable(_G); g.__index = {}",
    "redis = function() return 1 end", "_G = {}", "redis.call = function() return 1 end",
    "cjson.encode = function() return 1 end", "bit.lshift = function() return 1 end",
    "return redis.call('blpop', 'emptylist', 0)",
    "redis.setresp(4)", "redis.set_repl(9)", "redis.log(99, 'x')", "redis.log(redis.LOG_WARNING)",
    "return math.random(0)",
]


LIBRARIES = [
    'return cjson.encode({1,2,3,{a=1}})',
    "return cjson.encode({a={b={c='x'}}})",
    'return cjson.encode(\'a/b"c\\n\')',
    'return cjson.encode(1.5)',
    'return cjson.encode(0.1)',
    'return cjson.encode(1e20)',
    'return cjson.encode(true)',
    'return cjson.encode({})',
    'return cjson.encode({[1]=1,[3]=3})',
    'return cjson.encode({[1]=1,[20]=3})',
    'return cjson.encode(cjson.null)',
    'return cjson.encode({1,nil,3})',
    'return cjson.encode(function() end)',
    'return cjson.decode(\'{"a":[1,2,{"b":null}]}\').a[3].b == cjson.null',
    'return type(cjson.null)',
    'return cjson.decode(\'"\\\\u00e9"\')',
    "return cjson.decode('nope')",
    "return cjson.decode(' 12 ')",
    "return cjson.decode('1e400')",
    'return cjson.encode(cjson.decode(\'{"x":12345678901234567890}\'))',
    'return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129)',
    "return cmsgpack.pack(1.5, 'abc', true, false, nil)",
    'return cmsgpack.pack({1,2,3})',
    'return cmsgpack.pack({a=1})',
    "return cmsgpack.pack(string.rep('x', 40))",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3}, 4.5))}",
    "return cmsgpack.unpack('\\192')",
    "return cmsgpack.unpack('\\145')",
    'return cmsgpack.pack()',
    'return {cmsgpack.unpack_one(cmsgpack.pack(1, 2), 0)}',
    'return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}',
    'return {bit.tobit(2^32+5), bit.tobit(-1), bit.bnot(0), bit.band(0xff, 0x0f), bit.bor(1, 2, 4)}',
    'return {bit.bxor(5, 3), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4)}',
    'return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}',
    'return {bit.tohex(255), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4)}',
    "return struct.pack('>i4', 1)",
    "return struct.pack('<h', -2)",
    "return struct.pack('B', 255)",
    "return {struct.unpack('>i4', struct.pack('>i4', -5))}",
    "return {struct.unpack('<d', struct.pack('<d', 1.5))}",
    "return struct.size('>i4h')",
    "return {struct.unpack('s', 'abc\\0def')}",
    "return {struct.unpack('c3', 'abcdef')}",
    "return struct.pack('>I4', 4294967295)",
    "return {struct.unpack('>I2I2', '\\1\\2\\3\\4')}",
    'return tostring(1/0)',
    'return tostring(0/0)',
    "return string.format('%5.2f', 3.14159)",
    "return table.concat({1,2,3}, ',')",
    'return #KEYS',
    "return select('#', unpack({1,2,3}))",
    'return type(coroutine.create(function() end))',
    'return pcall(error)',
    "return {pcall(error, {err='x'})}",
    "return {pcall(error, 'msg')}",
    "return xpcall(function() error('in') end, function(e) return 'handled: ' .. e end)",
    "return tonumber('0x10')",
    'return math.huge',
    'return math.floor(-3.5)',
    "return string.rep('ab', 3)",
    'return gcinfo() > 0',
    "return collectgarbage('count') > 0",
    'return _VERSION',
    'return type(newproxy())',
    "return getmetatable('').__index == string",
    "return rawget(_G, 'redis') ~= nil",
    'return redis.sha1hex(123)',
    'return redis.status_reply()',
    'return redis.error_reply(1)',
    "return redis.error_reply('')",
]


def test_libraries_and_builtins_match_redis(pair):
    """cjson, cmsgpack, bit, struct and the Lua builtins a script sees."""
    a, b = pair()
    cmds = [("EVAL", s, "0") for s in LIBRARIES]
    assert_same(run(a, cmds), run(b, cmds), cmds)


@pytest.mark.parametrize("protocol", [2, 3])
def test_conversions_match_redis(pair, protocol):
    a, b = pair(protocol)
    cmds = [("EVAL", s, "0") for s in CONVERSIONS]
    assert_same(run(a, cmds), run(b, cmds), cmds)


@pytest.mark.skipif(os.environ.get("BOCHO_PURE", "") not in ("", "0"),
                    reason="lupa's own calls: -0 reaches Python as the integer 0, and "
                    "they take about 7997 arguments")
def test_compiled_redis_call_arguments_as_redis(pair):
    """What only the compiled redis.call gets right: -0 written as Redis writes it, and
    the most arguments Lua's C stack takes."""
    a, b = pair()
    cmds = [("EVAL", "redis.call('set', 'a', -0.0); return redis.call('get', 'a')", "0"),
            ("EVAL", "local t = {'rpush', 'big'} for i = 1, 7997 do t[#t + 1] = 'x' end "
             "return redis.call(unpack(t))", "0")]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def test_keys_argv_and_numkeys_errors(pair):
    a, b = pair()
    loaded = "b534286061d4b9e4026607613b95c06c06015ae8"  # return 'loaded'
    cmds = [
        ("EVALSHA", loaded, "0"),  # before any script ran: no Lua state yet
        ("EVAL", "return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}", "2", "k1", "k2", "a1"),
        ("EVAL", "return 1", "3", "a"), ("EVAL", "return 1", "-1"),
        ("EVAL", "return 1", "x"), ("EVAL", "return 1"),
        ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"), ("EVALSHA", "abc", "0"),
        ("SCRIPT", "LOAD", "return 'loaded'"),
        ("EVALSHA", loaded, "0"),
        ("EVALSHA", "B534286061D4B9E4026607613B95C06C06015AE8", "0"),
        ("EVALSHA", loaded, "-1"), ("EVALSHA", loaded, "x"), ("EVALSHA", loaded, "01"),
        ("EVALSHA", loaded, "2", "k"), ("EVALSHA", loaded, "1", "k", "a"),
        ("EVALSHA_RO", loaded, "0"), ("EVALSHA_RO", loaded, "+1", "k"),
        # a run's redis.setresp(3) does not outlive it: the next false is RESP2's nil
        ("EVAL", "redis.setresp(3) return 'a'", "0"), ("EVAL", "return false", "0"),
        ("EVAL", "redis.setresp(3) return false", "0"), ("EVAL", "return 3.7", "0"),
        ("SCRIPT", "EXISTS", loaded, "ffff"),
        ("SCRIPT", "FLUSH"),
        ("SCRIPT", "EXISTS", loaded),
        ("SCRIPT", "FLUSH", "BAD"), ("SCRIPT", "KILL"),
        ("EVAL_RO", "return redis.call('set', 'a', 1)", "0"),
        ("EVAL_RO", "return redis.call('get', 'a')", "0"),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'a', 1)", "0"),
        ("EVAL", "#!lua flags=bad\nreturn 1", "0"), ("EVAL", "#!lua foo=bar\nreturn 1", "0"),
        ("EVAL", "#!python\nreturn 1", "0"), ("EVAL", "#!lua", "0"),
        ("EVAL", "#!lua\nreturn 2", "0"),
        ("EVAL_RO", "#!lua\nreturn 2", "0"),
        ("EVAL_RO", "#!lua flags=no-writes\nreturn 2", "0"),
    ]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def test_random_is_seedable_and_moves(r):
    x = r.eval("math.randomseed(ARGV[1]); return tostring(math.random())", 0, 42)
    y = r.eval("math.randomseed(ARGV[1]); return tostring(math.random())", 0, 42)
    assert x == y
    assert r.eval("return tostring(math.random())", 0) != r.eval(
        "return tostring(math.random())", 0)


def test_random_sequence_matches_redis(pair):
    a, b = pair()
    s = "math.randomseed(7); return {tostring(math.random()), math.random(10), math.random(5, 9)}"
    assert a.eval(s, 0) == b.eval(s, 0)


def test_script_effects_propagate_as_multi_exec(inproc):
    inproc("EVAL", "redis.call('set', 'a', '1'); redis.call('incr', 'a'); "
           "redis.call('get', 'a'); return 1", "0")
    assert inproc.argvs() == [[b"MULTI"], [b"set", b"a", b"1"], [b"incr", b"a"], [b"EXEC"]]


def test_single_write_script_propagates_alone(inproc):
    inproc("EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "k")
    assert inproc.argvs() == [[b"set", b"k", b"x"]]
    inproc.log.clear()
    inproc("EVAL", "return redis.call('get', KEYS[1])", "1", "k")
    assert inproc.argvs() == []


def test_script_in_multi_joins_the_transaction_block(inproc):
    inproc("MULTI")
    inproc("EVAL", "return redis.call('set', 'a', '1')", "0")
    inproc("SET", "b", "2")
    inproc("EXEC")
    assert inproc.argvs() == [[b"MULTI"], [b"set", b"a", b"1"], [b"SET", b"b", b"2"],
                              [b"EXEC"]]


def test_script_select_keeps_caller_db_and_propagates_per_db(inproc):
    inproc("EVAL", "redis.call('select', 3); redis.call('set', 'x', '1'); return 1", "0")
    assert inproc.log == [(3, [b"set", b"x", b"1"])]
    assert inproc("SET", "y", "1") == b"+OK\r\n" and inproc.log[-1][0] == 0


def test_set_repl_none_drops_effects(inproc):
    inproc("EVAL", "redis.set_repl(redis.REPL_NONE); redis.call('set', 'a', '1'); "
           "redis.set_repl(redis.REPL_ALL); redis.call('set', 'b', '2')", "0")
    assert inproc.argvs() == [[b"set", b"b", b"2"]]


def test_script_serves_blocked_clients_after_it_ends(server):
    r = server.client()
    r.flushall()
    waiter = server.client()
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("v", waiter.blpop("q", 5)))
    t.start()
    wait_until(lambda: r.info("clients")["blocked_clients"] == 1, 5)
    r.eval("redis.call('rpush', 'q', 'a'); redis.call('rpush', 'q', 'b'); return 1", 0)
    t.join(5)
    assert res["v"] == (b"q", b"a")
    assert r.lrange("q", 0, -1) == [b"b"]


def test_monitor_shows_lua_client(server):
    r = server.client()
    with r.monitor() as m:
        r.eval("return redis.call('set', 'mk', 'v')", 0)
        lines = [m.next_command()]
        while not lines[0]["command"].startswith("EVAL"):
            lines = [m.next_command()]
        lines.append(m.next_command())
    assert lines[1]["client_type"] == "lua" and lines[1]["command"] == "set mk v"


def test_redis_py_lock(r):
    lock = r.lock("resource", timeout=2)
    assert lock.acquire(blocking=False)
    other = r.lock("resource", timeout=2)
    assert not other.acquire(blocking=False)
    assert lock.extend(5)
    assert 3000 < r.pttl("resource") <= 7000
    lock.release()
    assert other.acquire(blocking=False)
    with pytest.raises(redis.exceptions.LockError):
        lock.release()
    other.release()
    short = r.lock("expiring", timeout=0.2)
    assert short.acquire(blocking=False)
    wait_until(lambda: r.exists("expiring") == 0, 5)
    assert r.lock("expiring", timeout=1).acquire(blocking=False)


RATE_LIMIT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then return 0 end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return 1
"""


def test_sliding_window_rate_limiter(r):
    try:
        r.zadd("probe", {"x": 1})
    except redis.ResponseError:
        pytest.skip("sorted sets not merged yet")
    limiter = r.register_script(RATE_LIMIT)
    got = [limiter(keys=["rl"], args=[1000 + i, 100, 3, f"req{i}"]) for i in range(5)]
    assert got == [1, 1, 1, 0, 0]
    assert limiter(keys=["rl"], args=[1200, 100, 3, "later"]) == 1


def test_evalsha_script_object(r):
    s = r.register_script("return {KEYS[1], ARGV[1]}")
    assert s(keys=["a"], args=["b"]) == [b"a", b"b"]
    r.script_flush()
    assert s(keys=["c"], args=["d"]) == [b"c", b"d"]  # redis-py reloads on NOSCRIPT


def test_busy_script_and_script_kill(server):
    r = server.client()
    r.config_set("busy-reply-threshold", 50)
    runner = server.client()
    res = {}

    def go():
        try:
            runner.eval("while true do end", 0)
        except redis.ResponseError as e:
            res["err"] = str(e)
    t = threading.Thread(target=go)
    t.start()

    def busy():
        try:
            r.ping()
            return False
        except redis.exceptions.BusyLoadingError as e:
            res["busy"] = str(e)
            return True
        except redis.ResponseError as e:
            res["busy"] = str(e)
            return True
    wait_until(busy, 5)
    assert "BUSY Redis is busy running a script" in res["busy"] or res["busy"].startswith(
        "Redis is busy running a script")
    fresh = server.client()  # a connection made while the script is busy is served too
    with pytest.raises(redis.ResponseError, match="BUSY|busy"):
        fresh.get("x")
    assert fresh.execute_command("SCRIPT", "KILL") in (b"OK", "OK", True)
    t.join(5)
    assert "killed by user" in res["err"]
    assert r.ping() and fresh.ping()
    r.config_set("busy-reply-threshold", 5000)


def test_busy_script_with_pcall_still_killed(server):
    r = server.client()
    r.config_set("busy-reply-threshold", 20)
    runner = server.client()
    res = {}

    def go():
        try:
            runner.eval("local f = function() while 1 do redis.call('ping') end end "
                        "while 1 do pcall(f) end", 0)
        except redis.ResponseError as e:
            res["err"] = str(e)
    t = threading.Thread(target=go)
    t.start()

    def killed():
        try:
            return r.execute_command("SCRIPT", "KILL") in (b"OK", "OK", True)
        except redis.ResponseError:
            return False
    wait_until(killed, 5)
    t.join(5)
    assert "killed by user" in res["err"]
    r.config_set("busy-reply-threshold", 5000)


def test_shutdown_nosave_while_busy(make_server):
    srv = make_server()
    r = srv.client()
    r.config_set("busy-reply-threshold", 50)
    runner = srv.client()
    t = threading.Thread(target=lambda: swallow(runner.eval, "while true do end", 0))
    t.start()
    wait_until(lambda: script_busy(r), 5)
    with pytest.raises(redis.ResponseError, match="BUSY|busy"):
        r.shutdown()  # SHUTDOWN without NOSAVE is refused while a script is busy
    try:
        r.shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    wait_until(lambda: srv.proc.poll() is not None, 10)
    t.join(5)


def test_unkillable_after_write(server):
    r = server.client()
    r.config_set("busy-reply-threshold", 20)
    runner = server.client()

    def go():
        try:
            # at least a whole second (+1 could end within milliseconds, before the
            # script is busy, and SCRIPT KILL would then answer NOTBUSY)
            runner.eval("redis.call('set', 'x', 1); local t = redis.call('time')[1] + 2 "
                        "while tonumber(redis.call('time')[1]) < tonumber(t) do end", 0)
        except redis.ResponseError:
            pass
    t = threading.Thread(target=go)
    t.start()

    def unkillable():
        try:
            r.execute_command("SCRIPT", "KILL")
        except redis.ResponseError as e:
            return str(e).startswith("UNKILLABLE") or "UNKILLABLE" in str(e)
        return False
    wait_until(unkillable, 5)
    t.join(10)
    assert r.ping()
    r.config_set("busy-reply-threshold", 5000)
    time.sleep(0)


def test_lua_memory_after_many_evals(make_server):
    """unit/scripting's 'EVAL does not leak in the Lua stack': 10000 EVALs leave
    used_memory_lua under 100 KB. Scripts allocate so little that Lua may never collect
    the garbage its own set-up left (it read 142 KB, 93 KB of it live)."""
    srv = make_server()
    c = srv.client()
    c.set("x", 0)
    p = c.pipeline(transaction=False)
    for _ in range(10000):
        p.eval('return redis.call("incr",KEYS[1])', 1, "x")
    p.execute()
    assert c.get("x") == b"10000"
    assert c.info("memory")["used_memory_lua"] < 100 * 1024
