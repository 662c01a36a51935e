"""MIGRATE between real processes: bocho to bocho, bocho to a real redis-server and a real
redis-server to bocho; COPY/REPLACE/KEYS/AUTH/AUTH2, the target's errors, NOKEY,
IOERR on connect and on timeout (bounded by the command's timeout), the cached
connection (reused, re-opened when the target dropped it, closed when idle) and the
DEL MIGRATE propagates."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from test_dump import SAMPLES, contents

from bocho.testing.server import free_port, wait_until


def err(fn, *args, **kw) -> str:
    with pytest.raises(redis.ResponseError) as e:
        fn(*args, **kw)
    return str(e.value)


@pytest.fixture
def target(make_server):
    srv = make_server()
    c = srv.client()
    yield srv, c
    c.close()


def mig(c, dst, key, db=0, timeout=5000, *opts):
    return c.execute_command("MIGRATE", dst.host, dst.port, key, db, timeout, *opts)


def test_migrate_moves_key_with_ttl(r, target):
    dst, t = target
    r.set("k", "v", px=100000)
    assert mig(r, dst, "k") == b"OK"
    assert r.exists("k") == 0
    assert t.get("k") == b"v"
    assert 90000 < t.pttl("k") <= 100000
    r.set("k2", "v2")
    assert mig(r, dst, "k2", 3) == b"OK"
    t.select(3)
    assert t.get("k2") == b"v2" and t.ttl("k2") == -1
    t.select(0)
    r.set("k3", "v3")
    assert mig(r, dst, "k3") == b"OK"  # the cached connection goes back to db 0
    assert t.get("k3") == b"v3"


def test_copy_replace_and_busykey(r, target, oracle):
    dst, t = target
    r.set("k", "new")
    t.set("k", "old")
    busy = err(mig, r, dst, "k")
    assert busy == "Target instance replied with error: BUSYKEY Target key name already exists."
    assert r.get("k") == b"new" and t.get("k") == b"old"
    assert err(mig, r, dst, "k", 0, 5000, "COPY") == busy
    assert mig(r, dst, "k", 0, 5000, "COPY", "REPLACE") == b"OK"
    assert r.get("k") == b"new" and t.get("k") == b"new"
    assert mig(r, dst, "k", 0, 5000, "REPLACE") == b"OK"
    assert r.exists("k") == 0
    # real Redis answers the same way, to the same target
    o = oracle.client()
    o.flushall()
    o.set("k", "x")
    assert err(mig, o, dst, "k") == busy
    o.close()


def test_keys_option_and_nokey(r, target, pair):
    dst, t = target
    r.mset({"a": 1, "b": 2, "c": 3})
    assert mig(r, dst, "", 0, 5000, "KEYS", "a", "missing", "b") == b"OK"
    assert r.exists("a", "b") == 0 and r.get("c") == b"3"
    assert t.mget("a", "b") == [b"1", b"2"]
    assert mig(r, dst, "", 0, 5000, "KEYS", "x", "y") == b"NOKEY"
    assert mig(r, dst, "nokey") == b"NOKEY"
    # parse errors, side by side with Redis
    a, b = pair()
    bad = [("k", 0, 1000, "KEYS", "a"), ("k", 0, 1000, "AUTH"), ("k", 0, 1000, "AUTH2", "u"),
           ("k", 0, 1000, "bogus"), ("k", "x", 1000), ("k", 0, "x"), ("k", 0, 1000, "COPY", "x")]
    for args in bad:
        want = err(b.execute_command, "MIGRATE", "127.0.0.1", 1, *args)
        assert err(a.execute_command, "MIGRATE", "127.0.0.1", 1, *args) == want, args
    assert a.execute_command("MIGRATE", "127.0.0.1", 1, "nokey", 0, 10) == b"NOKEY"
    assert b.execute_command("MIGRATE", "127.0.0.1", 1, "nokey", 0, 10) == b"NOKEY"


def test_auth_and_auth2(r, make_server):
    dst = make_server(config={"requirepass": "secret"})
    t = dst.client(password="secret")
    t.execute_command("ACL", "SETUSER", "mover", "on", ">pw", "+@all", "~*")
    r.set("k", "v")
    wrong = err(mig, r, dst, "k", 0, 5000, "AUTH", "nope")
    assert wrong.startswith("Target instance replied with error: WRONGPASS")
    noauth = err(mig, r, dst, "k")
    assert noauth.startswith("Target instance replied with error: NOAUTH")
    assert mig(r, dst, "k", 0, 5000, "AUTH", "secret") == b"OK"
    r.set("k2", "v")
    assert mig(r, dst, "k2", 0, 5000, "AUTH2", "mover", "pw") == b"OK"
    assert t.mget("k", "k2") == [b"v", b"v"]
    # the password never shows in the slow log
    r.config_set("slowlog-log-slower-than", 0)
    try:
        r.set("k3", "v")
        mig(r, dst, "k3", 0, 5000, "AUTH2", "mover", "pw")
        entries = [e["command"] for e in r.slowlog_get(10)]
        assert any(b"MIGRATE" in e and b"(redacted)" in e for e in entries)
        assert not any(b" pw" in e for e in entries)
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
    t.close()


def test_ioerr_connect_and_timeout(r, make_server):
    r.set("k", "v")
    port = free_port()
    assert err(r.execute_command, "MIGRATE", "127.0.0.1", port, "k", 0, 500) == \
        "IOERR error or timeout connecting to the client"
    dst = make_server(config={"enable-debug-command": "yes"})
    t = dst.client()
    t.ping()
    # The target sleeps: MIGRATE waits its timeout, not longer, and keeps the key.
    sleeper = threading.Thread(target=lambda: dst.client().execute_command("DEBUG", "SLEEP", 2))
    sleeper.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    msg = err(r.execute_command, "MIGRATE", dst.host, dst.port, "k", 0, 400)
    took = time.monotonic() - t0
    sleeper.join()
    assert msg == "IOERR error or timeout reading to target instance"
    assert took < 1.8
    assert r.get("k") == b"v"
    wait_until(lambda: t.get("k") == b"v")  # the RESTORE ran once the target woke
    # the server was never stuck for good
    assert r.ping()
    t.close()


def test_cached_connection_reused_and_reopened(r, target):
    dst, t = target
    before = t.info("stats")["total_connections_received"]
    for i in range(3):
        r.set(f"k{i}", i)
        assert mig(r, dst, f"k{i}") == b"OK"
    assert t.info("stats")["total_connections_received"] == before + 1
    assert r.info("stats")["migrate_cached_sockets"] >= 1  # (earlier tests' linger 10 s)
    # the target drops it: the next MIGRATE opens a fresh one (one retry)
    t.client_kill_filter(skipme=True, _type="normal")
    r.set("k9", 9)
    assert mig(r, dst, "k9") == b"OK"
    assert t.get("k9") == b"9"


def test_idle_cached_connections_are_closed(inproc, target):
    from bocho.commands import dump as dump_mod
    dst, t = target
    srv = inproc.server
    inproc("SET", "k", "v")
    assert inproc("MIGRATE", dst.host, dst.port, "k", 0, 5000) == b"+OK\r\n"
    cache = srv.migrate_sockets
    assert len(cache) == 1
    dump_mod.close_idle(srv)
    assert len(cache) == 1
    next(iter(cache.values())).last_use -= dump_mod.CACHE_TTL + 1
    dump_mod.close_idle(srv)
    assert cache == {}


def test_propagates_del_of_moved_keys(inproc, target):
    dst, t = target
    for k in ("a", "b", "c"):
        inproc("SET", k, 1)
    t.set("c", "busy")
    inproc.log.clear()
    out = inproc("MIGRATE", dst.host, dst.port, "", 0, 5000, "KEYS", "a", "c", "b")
    assert out.startswith(b"-ERR Target instance replied with error: BUSYKEY")
    # a and b were acknowledged and deleted; c was refused and stays
    assert inproc.argvs() == [[b"DEL", b"a", b"b"]]
    assert inproc("EXISTS", "a", "b", "c") == b":1\r\n"
    inproc.log.clear()
    assert inproc("MIGRATE", dst.host, dst.port, "c", 0, 5000, "COPY", "REPLACE") == b"+OK\r\n"
    assert inproc.argvs() == []


@pytest.mark.parametrize("name", list(SAMPLES))
def test_bocho_to_redis_and_back(r, oracle, name):
    o = oracle.client()
    o.flushall()
    SAMPLES[name][1](r, "k")
    r.pexpire("k", 100000)
    want = contents(r, "k")
    assert mig(r, oracle, "k") == b"OK"
    assert r.exists("k") == 0
    assert contents(o, "k") == want
    assert 90000 < o.pttl("k") <= 100000
    # and real Redis migrates it back to bocho
    port = r.connection_pool.connection_kwargs["port"]
    assert o.execute_command("MIGRATE", "127.0.0.1", port, "k", 0, 5000) == b"OK"
    assert o.exists("k") == 0
    assert contents(r, "k") == want
    assert 90000 < r.pttl("k") <= 100000
    o.close()
