"""Clients blocked on keys (bocho/blocking.py) through BLPOP and friends: FIFO service,
timeouts, wake-ups from other connections, MULTI, CLIENT UNBLOCK, disconnects,
propagation of the served command's non-blocking form."""

from __future__ import annotations

import time

import pytest
import redis
from raw import blocked, wait_blocked

from bocho.testing.server import wait_until


def test_fifo_service_order(r, deferred):
    clients = [deferred() for _ in range(3)]
    for i, d in enumerate(clients):
        d.send("BLPOP", "q", 0)
        wait_blocked(r, i + 1)
    r.rpush("q", "a", "b", "c")
    assert [d.read() for d in clients] == [[b"q", b"a"], [b"q", b"b"], [b"q", b"c"]]
    assert r.exists("q") == 0
    assert blocked(r) == 0


def test_one_element_serves_only_first(r, deferred):
    a, b = deferred(), deferred()
    a.send("BRPOP", "q", 0)
    wait_blocked(r, 1)
    b.send("BRPOP", "q", 0)
    wait_blocked(r, 2)
    r.lpush("q", "x")
    assert a.read() == [b"q", b"x"]
    assert not b.pending(0.1)
    assert blocked(r) == 1
    r.lpush("q", "y")
    assert b.read() == [b"q", b"y"]


def test_blocked_on_several_keys(r, deferred):
    d = deferred()
    d.send("BLPOP", "k1", "k2", "k3", 0)
    wait_blocked(r)
    r.rpush("k3", "v")
    assert d.read() == [b"k3", b"v"]
    assert blocked(r) == 0
    # unblocked from every key: a later push stays in the list
    r.rpush("k1", "w")
    assert r.lrange("k1", 0, -1) == [b"w"]


def test_fractional_timeout(r, deferred):
    d = deferred()
    t0 = time.monotonic()
    d.send("BLPOP", "nokey", "0.2")
    assert d.read() is None
    assert 0.15 < time.monotonic() - t0 < 2
    assert blocked(r) == 0
    assert r.info("clients")["clients_in_timeout_table"] == 0


def test_timeout_resp3_null(r, deferred):
    d = deferred(protocol=3)
    d.send("BRPOP", "nokey", "0.05")
    assert d.read() is None
    d.send("PING")
    assert d.read() in (b"PONG", "PONG")


def test_timeout_errors(r):
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        r.execute_command("BLPOP", "k", "-1")
    with pytest.raises(redis.ResponseError, match="timeout is not a float or out of range"):
        r.execute_command("BLPOP", "k", "abc")
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        r.execute_command("BLMOVE", "a", "b", "LEFT", "RIGHT", "-0.5")


def test_pipelined_input_resumes_after_serve(r, deferred):
    d = deferred()
    d.conn.send_packed_command(d.conn.pack_commands([("BLPOP", "q", 0), ("SET", "after", "1"),
                                                     ("GET", "after")]))
    wait_blocked(r)
    assert r.get("after") is None
    r.rpush("q", "v")
    assert d.read() == [b"q", b"v"]
    assert d.read() in (b"OK", "OK", True)
    assert d.read() == b"1"


def test_multi_never_blocks(r):
    p = r.pipeline(transaction=True)
    p.blpop("nokey", 0)
    p.brpoplpush("nokey", "dst", 0)
    p.execute_command("BLMPOP", 0, 1, "nokey", "LEFT")
    assert p.execute() == [None, None, None]


def test_push_in_multi_serves_after_exec(r, deferred):
    d = deferred()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    p = r.pipeline(transaction=True)
    p.rpush("q", "a")
    p.rpush("q", "b")
    p.llen("q")
    assert p.execute() == [1, 2, 2]
    assert d.read() == [b"q", b"a"]
    assert r.lrange("q", 0, -1) == [b"b"]


def test_served_before_next_pipelined_command(r, deferred):
    d = deferred()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    p = r.pipeline(transaction=False)
    p.rpush("q", "a")
    p.llen("q")
    assert p.execute() == [1, 0]
    assert d.read() == [b"q", b"a"]


def test_client_unblock_timeout_and_error(r, deferred):
    d = deferred()
    cid = d.id()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    assert r.client_unblock(cid) == 1
    assert d.read() is None
    d.send("BRPOP", "q", 0)
    wait_blocked(r)
    assert r.client_unblock(cid, error=True) == 1
    assert d.read() == ("error", "UNBLOCKED client unblocked via CLIENT UNBLOCK")
    assert r.client_unblock(cid) == 0
    assert blocked(r) == 0


def test_client_list_flag_and_commandstats(r, deferred):
    r.config_resetstat()
    d = deferred()
    cid = d.id()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    info = {c["id"]: c for c in r.client_list()}
    assert "b" in info[str(cid)]["flags"]
    assert info[str(cid)]["cmd"] == "blpop"
    # as Redis 7.0: the call counts when it blocks, its failure when it is unblocked
    assert r.info("commandstats")["cmdstat_blpop"]["calls"] == 1
    r.client_unblock(cid, error=True)
    d.read()
    stats = r.info("commandstats")["cmdstat_blpop"]
    assert stats["calls"] == 1 and stats["failed_calls"] == 1
    assert r.info("errorstats")["errorstat_UNBLOCKED"]["count"] == 1


def test_slowlog_entry_when_served_not_when_blocking(r, deferred):
    r.config_set("slowlog-log-slower-than", 0)
    try:
        d = deferred()
        d.send("BLPOP", "l", 0)
        wait_blocked(r)
        r.slowlog_reset()
        r.lpush("l", "foo")
        assert d.read() == [b"l", b"foo"]
        entries = r.slowlog_get()
        assert [e["command"] for e in entries][:2] == [b"BLPOP l 0", b"LPUSH l foo"]
    finally:
        r.config_set("slowlog-log-slower-than", 10000)


def test_disconnect_while_blocked(r, deferred):
    d = deferred()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    d.close()
    wait_blocked(r, 0)
    r.rpush("q", "v")
    assert r.lrange("q", 0, -1) == [b"v"]


def test_client_kill_while_blocked(r, deferred):
    d = deferred()
    cid = d.id()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    r.client_kill_filter(_id=cid)
    wait_blocked(r, 0)


def test_key_of_other_type_keeps_waiting(r, deferred):
    d = deferred()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    r.set("q", "string")
    assert not d.pending(0.1)
    r.delete("q")
    r.rpush("q", "v")
    assert d.read() == [b"q", b"v"]


def test_blmove_onto_wrong_type_target(r, deferred):
    d = deferred()
    d.send("BLMOVE", "src", "dst", "LEFT", "RIGHT", 0)
    wait_blocked(r)
    r.set("dst", "x")
    r.rpush("src", "v")
    assert d.read()[0] == "error"
    assert r.lrange("src", 0, -1) == [b"v"]


def test_blmove_chain(r, deferred):
    a, b = deferred(), deferred()
    a.send("BLMOVE", "l1", "l2", "LEFT", "RIGHT", 0)
    wait_blocked(r, 1)
    b.send("BLPOP", "l2", 0)
    wait_blocked(r, 2)
    r.rpush("l1", "v")
    assert a.read() == b"v"
    assert b.read() == [b"l2", b"v"]
    assert r.exists("l1", "l2") == 0


def test_rename_and_swapdb_wake(r, server, deferred):
    d = deferred()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    r.rpush("tmp", "v1")
    r.rename("tmp", "q")
    assert d.read() == [b"q", b"v1"]
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    r1 = server.client(db=1)
    r1.rpush("q", "v2")
    r.swapdb(0, 1)
    assert d.read() == [b"q", b"v2"]
    r1.close()


# -- propagation (the in-process server: every propagated command is logged) ------------

def test_served_command_propagates_non_blocking_form(inproc):
    from bocho.network import Client
    srv = inproc.server
    waiter = Client(srv)
    waiter.call([b"BLPOP", b"q", b"0"])
    assert waiter.blocked
    inproc("RPUSH", "q", "a", "b")
    assert not waiter.blocked
    assert b"".join(waiter.out) == b"*2\r\n$1\r\nq\r\n$1\r\na\r\n"
    waiter.out.clear()
    waiter.call([b"BRPOPLPUSH", b"src", b"dst", b"0"])
    inproc("LPUSH", "src", "x")
    waiter.call([b"BLMPOP", b"0", b"1", b"m", b"RIGHT", b"COUNT", b"5"])
    inproc("RPUSH", "m", "1", "2")
    waiter.call([b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"])
    inproc("RPUSH", "src", "y")
    assert inproc.argvs() == [
        [b"RPUSH", b"q", b"a", b"b"], [b"LPOP", b"q"],
        [b"LPUSH", b"src", b"x"], [b"RPOPLPUSH", b"src", b"dst"],
        [b"RPUSH", b"m", b"1", b"2"], [b"RPOP", b"m", b"2"],
        [b"RPUSH", b"src", b"y"], [b"LMOVE", b"src", b"dst", b"RIGHT", b"LEFT"],
    ]


def test_immediate_blocking_pop_propagates_pop(inproc):
    inproc("RPUSH", "q", "a", "b")
    inproc("BLPOP", "q", "0")
    inproc("BRPOP", "q", "0")
    inproc("RPUSH", "q", "c")
    inproc("BLMOVE", "q", "d", "LEFT", "LEFT", "0")
    assert inproc.argvs()[1:3] == [[b"LPOP", b"q"], [b"RPOP", b"q"]]
    assert inproc.argvs()[-1] == [b"LMOVE", b"q", b"d", b"LEFT", b"LEFT"]


def test_exec_serves_after_block_propagation(inproc):
    from bocho.network import Client
    waiter = Client(inproc.server)
    waiter.call([b"BLPOP", b"q", b"0"])
    inproc("MULTI")
    inproc("RPUSH", "q", "a")
    inproc("SET", "k", "v")
    inproc("EXEC")
    assert inproc.argvs() == [[b"MULTI"], [b"RPUSH", b"q", b"a"], [b"SET", b"k", b"v"],
                              [b"EXEC"], [b"LPOP", b"q"]]


def test_key_expired_inside_exec_does_not_serve(r, deferred):
    d = deferred()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    p = r.pipeline(transaction=True)
    p.lpush("q", "v")
    p.pexpire("q", 50)
    p.execute_command("DEBUG", "SLEEP", "0.1")
    p.execute()
    assert r.exists("q") == 0
    assert not d.pending(0.1)
    assert blocked(r) == 1
    r.rpush("q", "w")
    assert d.read() == [b"q", b"w"]


def test_swapdb_with_expired_key_does_not_serve(r, server, deferred):
    d = deferred()
    d.send("BLPOP", "q", 0)
    wait_blocked(r)
    r1 = server.client(db=1)
    try:
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
        r1.rpush("q", "v")
        r1.pexpire("q", 50)
        t0 = time.monotonic()  # no command may touch it: that would expire it lazily
        wait_until(lambda: time.monotonic() > t0 + 0.1, msg="expiry time passed")
        assert r1.dbsize() == 1
        r.swapdb(0, 1)
        assert not d.pending(0.1)
        assert blocked(r) == 1
        assert r.dbsize() == 0  # the wake-up attempt expired it
    finally:
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)
        r1.close()
