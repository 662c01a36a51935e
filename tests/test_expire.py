"""Expiry: the EXPIRE and TTL families, PERSIST, lazy expiry on access, the active expiry
cycle, and what expiry propagates (checked in-process through a propagate hook, the
one exit writes take to AOF and replicas)."""

from __future__ import annotations

import time

import pytest
import redis

from bocho.testing.server import wait_until


def err(fn, *args) -> str:
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    return str(e.value)


# -- EXPIRE family (black-box) ------------------------------------------------------------

def test_expire_ttl_pttl(r):
    r.set("x", "v")
    assert r.ttl("x") == -1 and r.pttl("x") == -1
    assert r.execute_command("EXPIRETIME", "x") == -1
    assert r.execute_command("PEXPIRETIME", "x") == -1
    assert r.ttl("nokey") == -2 and r.pttl("nokey") == -2
    assert r.execute_command("EXPIRETIME", "nokey") == -2
    assert r.expire("x", 100) is True
    assert 99 <= r.ttl("x") <= 100
    assert 99000 < r.pttl("x") <= 100000
    assert r.pexpire("x", 5500)
    assert r.ttl("x") in (5, 6)  # rounded to the nearest second, as Redis
    at = int(time.time()) + 200
    assert r.expireat("x", at)
    assert r.execute_command("EXPIRETIME", "x") == at
    assert r.execute_command("PEXPIRETIME", "x") == at * 1000
    assert r.pexpireat("x", at * 1000 + 123)
    assert r.execute_command("PEXPIRETIME", "x") == at * 1000 + 123
    assert r.expire("nokey", 10) is False


def test_expire_options(r):
    r.set("k", "v")
    assert r.expire("k", 100, xx=True) is False
    assert r.expire("k", 100, gt=True) is False  # no TTL counts as infinite
    assert r.expire("k", 100, lt=True) is True
    assert r.expire("k", 200, nx=True) is False
    assert r.expire("k", 50, gt=True) is False
    assert r.expire("k", 200, gt=True) is True
    assert r.expire("k", 300, lt=True) is False
    assert r.expire("k", 10, lt=True, xx=True) is True
    assert r.ttl("k") <= 10
    r.persist("k")
    assert r.expire("k", 10, nx=True) is True
    assert r.execute_command("EXPIRE", "none", 100, "NX") == 0


def test_expire_option_errors(r):
    r.set("k", "v")
    msg = "NX and XX, GT or LT options at the same time are not compatible"
    assert err(r.execute_command, "EXPIRE", "k", 10, "NX", "XX") == msg
    assert err(r.execute_command, "EXPIRE", "k", 10, "NX", "GT") == msg
    assert err(r.execute_command, "EXPIRE", "k", 10, "LT", "NX") == msg
    assert err(r.execute_command, "EXPIRE", "k", 10, "GT", "LT") == \
        "GT and LT options at the same time are not compatible"
    assert err(r.execute_command, "EXPIRE", "k", 10, "Foo") == "Unsupported option Foo"
    # Options are checked before the number, as Redis does.
    assert err(r.execute_command, "EXPIRE", "k", "abc", "bar") == "Unsupported option bar"
    assert err(r.execute_command, "EXPIRE", "k", "") == "value is not an integer or out of range"
    assert err(r.execute_command, "EXPIRE", "k", "1.5") == "value is not an integer or out of range"


@pytest.mark.parametrize("cmd,arg", [
    ("EXPIRE", "9223370399119966"), ("EXPIRE", "9223372036854776"),
    ("EXPIRE", "18446744073709561"), ("EXPIRE", "-9223372036854776"),
    ("EXPIRE", "-9999999999999999"), ("PEXPIRE", "9223372036854770000"),
    ("EXPIREAT", "9223372036854776"),
])
def test_expire_overflow(r, cmd, arg):
    r.set("k", "v")
    assert err(r.execute_command, cmd, "k", arg) == \
        f"invalid expire time in '{cmd.lower()}' command"
    assert r.ttl("k") == -1


def test_past_times_delete(r):
    for cmd, arg in (("EXPIRE", -1), ("PEXPIRE", 0), ("EXPIREAT", 1), ("PEXPIREAT", 1),
                     ("PEXPIREAT", -9223372036854770000)):
        r.set("k", "v")
        assert r.execute_command(cmd, "k", arg) == 1
        assert r.exists("k") == 0
    r.set("k", "v")
    assert r.pexpireat("k", 9223372036854770000)  # far future is fine


def test_persist(r):
    r.set("k", "v", ex=100)
    assert r.persist("k") is True
    assert r.ttl("k") == -1
    assert r.persist("k") is False
    assert r.persist("nokey") is False


def test_lazy_expiry_on_access(make_server):
    # hz 1: the active cycle runs once a second; reads in between must not see the key.
    srv = make_server(config={"hz": "1"})
    c = srv.client()
    c.set("k", "v", px=30)
    time.sleep(0.05)
    assert c.get("k") is None
    assert c.exists("k") == 0
    assert c.ttl("k") == -2
    c.close()


def test_active_expiry_removes_many_keys(make_server):
    """Tens of thousands of expired keys go within a few cron ticks, with nobody
    touching them."""
    srv = make_server(config={"hz": "10"})
    c = srv.client()
    p = c.pipeline(transaction=False)
    for i in range(20000):
        p.set(f"k{i}", "v", px=100)
        if i % 1000 == 999:
            p.execute()
    p.execute()
    c.set("keep", "v")
    c.set("later", "v", ex=100)
    wait_until(lambda: c.dbsize() == 2, timeout=10, msg="active expiry")
    assert c.ttl("later") > 0
    info = c.info("stats")
    if "expired_keys" in info:
        assert info["expired_keys"] == 20000
    c.close()


def test_write_on_expired_key_starts_fresh(r):
    r.set("k", "old", px=1)
    wait_until(lambda: r.pttl("k") == -2, timeout=2)
    r.set("k", "new")
    assert r.ttl("k") == -1 and r.get("k") == b"new"


def test_expire_does_not_resurrect(make_server):
    srv = make_server(config={"hz": "1"})
    c = srv.client()
    c.set("foo", "bar")
    c.pexpire("foo", 30)
    time.sleep(0.06)
    assert c.expire("foo", 10) is False
    assert c.exists("foo") == 0
    c.close()


def test_keys_hides_expired_without_deleting(make_server):
    srv = make_server(config={"hz": "1"})
    c = srv.client()
    c.set("a", "1")
    c.set("b", "1", px=20)
    time.sleep(0.05)
    assert c.keys("*") == [b"a"]
    c.close()


# -- propagation (in-process) -------------------------------------------------------------

def test_expire_propagates_as_pexpireat(inproc):
    inproc("SET", "k", "v")
    inproc.log.clear()
    before = int(time.time() * 1000)
    assert inproc("EXPIRE", "k", 100, "NX") == b":1\r\n"
    assert inproc("PEXPIRE", "k", 5000) == b":1\r\n"
    assert inproc("EXPIREAT", "k", 2000000000) == b":1\r\n"
    assert inproc("PEXPIREAT", "k", 2000000000123) == b":1\r\n"
    (_, a), (_, b), (_, c), (_, d) = inproc.log
    assert a[0] == b"PEXPIREAT" and a[3:] == [b"NX"]
    assert before + 100000 <= int(a[2]) <= int(time.time() * 1000) + 100000
    assert b[0] == b"PEXPIREAT" and before + 5000 <= int(b[2])
    assert c == [b"PEXPIREAT", b"k", b"2000000000000"]
    assert d == [b"PEXPIREAT", b"k", b"2000000000123"]


def test_past_expire_propagates_del(inproc):
    inproc("SET", "k", "v")
    inproc.log.clear()
    assert inproc("EXPIRE", "k", -5) == b":1\r\n"
    assert inproc.log == [(0, [b"DEL", b"k"])]
    inproc.server.config["lazyfree-lazy-expire"] = True
    inproc.server.apply_config("lazyfree-lazy-expire")
    inproc("SET", "k", "v")
    inproc.log.clear()
    inproc("PEXPIREAT", "k", 1)
    assert inproc.log == [(0, [b"UNLINK", b"k"])]


def test_failed_expire_propagates_nothing(inproc):
    inproc("SET", "k", "v")
    inproc.log.clear()
    inproc("EXPIRE", "nokey", 10)
    inproc("EXPIRE", "k", 10, "XX")
    inproc("EXPIRE", "k", "x")
    assert inproc.log == []


def test_lazy_expiry_propagates_del_not_the_read(inproc):
    inproc("SET", "k", "v", "PX", 1)
    inproc.log.clear()
    time.sleep(0.01)
    expired = inproc.server.stat_expiredkeys
    assert inproc("GET", "k") == b"$-1\r\n"
    assert inproc.log == [(0, [b"DEL", b"k"])]
    assert inproc.server.stat_expiredkeys == expired + 1
    inproc("SET", "k", "v", "PX", 1)
    inproc("SET", "j", "v", "PX", 1)
    inproc.log.clear()
    time.sleep(0.01)
    inproc("SCAN", 0)
    assert sorted(a for _, a in inproc.log) == [[b"DEL", b"j"], [b"DEL", b"k"]]


def test_active_cycle_propagates_and_counts(inproc):
    from bocho.expire import active_expire_cycle
    srv = inproc.server
    for i in range(500):
        inproc("SET", f"k{i}", "v", "PX", 1)
    inproc("SET", "stay", "v", "EX", 100)
    inproc.log.clear()
    time.sleep(0.01)
    for _ in range(10):
        active_expire_cycle(srv, 0.1)
    assert len(srv.dbs[0].data) == 1
    assert srv.stat_expiredkeys == 500
    assert sorted(a[1] for _, a in inproc.log) == sorted(f"k{i}".encode() for i in range(500))
    assert srv.dbs[0].avg_ttl > 0


def test_rename_move_keep_ttl_propagation(inproc):
    inproc("SET", "a", "v", "EX", 100)
    inproc.log.clear()
    inproc("RENAME", "a", "b")
    inproc("MOVE", "b", 1)
    assert [a for _, a in inproc.log] == [[b"RENAME", b"a", b"b"], [b"MOVE", b"b", b"1"]]
    assert inproc.server.dbs[1].expires[b"b"] > 0


def test_active_cycle_does_not_starve_later_dbs(inproc):
    """A db with more expired keys than one cycle's budget can remove does not keep the
    cycle from reaching the dbs after it (the next cycle starts after the one that hit
    the time limit)."""
    from bocho.expire import active_expire_cycle
    srv = inproc.server
    past = int(time.time() * 1000) - 1000
    db0, db5 = srv.dbs[0], srv.dbs[5]
    for i in range(50000):
        db0.set_key(b"k%d" % i, b"v")
        db0.set_expire(b"k%d" % i, past)
    db5.set_key(b"x", b"v")
    db5.set_expire(b"x", past)
    for _ in range(3):
        active_expire_cycle(srv, 0.0004)  # a budget of 0.1 ms: far too small for db 0
    assert b"x" not in db5.data
    assert len(db0.data) > 0
    assert srv.stat_expired_time_cap_reached_count >= 1


def test_fast_cycles_follow_a_timed_out_cycle(inproc):
    """After a slow cycle that ran out of time, fast cycles are scheduled between ticks
    and keep removing expired keys until one finishes in time."""
    from bocho import expire
    srv = inproc.server
    calls = []

    class Loop:
        def call_later(self, delay, fn, *args):
            calls.append((delay, fn, args))

    srv.loop = Loop()
    expire._fast_scheduled = False
    past = int(time.time() * 1000) - 1000
    db = srv.dbs[0]
    for i in range(30000):
        db.set_key(b"k%d" % i, b"v")
        db.set_expire(b"k%d" % i, past)
    expire.active_expire_cycle(srv, 0.0004)
    assert calls and 0 < calls[0][0] <= 0.01
    left = len(db.data)
    rounds = 0
    while calls and rounds < 1000:
        _, fn, args = calls.pop(0)
        fn(*args)
        rounds += 1
    assert len(db.data) == 0 < left
    assert not calls  # the last fast cycle finished in time: no more scheduled
    srv.loop = None
