"""The master side of replication: a real redis-server 7.0 as the replica of bocho (it
does the replica side: disk and diskless full sync, the stream, PSYNC), raw SYNC as the
TCL suite's attach_to_replication_stream reads it, WAIT, ROLE, INFO, min-replicas, and
unit tests for the backlog."""

from __future__ import annotations

import os
import signal
import socket

import pytest
from conftest import redis_server_binary
from raw import Deferred, cmd, recv_until

from bocho.replication.state import Backlog
from bocho.testing.server import wait_until

# -- helpers ------------------------------------------------------------------------------


def _info(c, section="replication") -> dict:
    return c.info(section)


def _contents(c) -> dict:
    """Every key of every db, read by type (encodings may differ: compare values)."""
    out = {}
    for db in range(16):
        c.execute_command("SELECT", db)
        for k in c.keys("*"):
            t = c.type(k)
            if t == b"string":
                v = c.get(k)
            elif t == b"list":
                v = c.lrange(k, 0, -1)
            elif t == b"hash":
                v = sorted(c.hgetall(k).items())
            elif t == b"set":
                v = sorted(c.smembers(k))
            elif t == b"zset":
                v = c.zrange(k, 0, -1, withscores=True)
            elif t == b"stream":
                v = [(i, sorted(f.items())) for i, f in c.xrange(k)]
            else:
                v = None
            out[(db, k)] = (t, v, c.pttl(k) > 0)
    c.execute_command("SELECT", 0)
    return out


def _fill(c, tag: str = "") -> None:
    c.set(f"s{tag}", "v")
    c.set(f"int{tag}", 12345)
    c.set(f"ttl{tag}", "x", ex=1000)
    c.rpush(f"l{tag}", *[f"e{i}" for i in range(20)])
    c.hset(f"h{tag}", mapping={f"f{i}": i for i in range(10)})
    c.sadd(f"set{tag}", *range(10))
    c.sadd(f"sset{tag}", "a", "b", "c")
    c.zadd(f"z{tag}", {f"m{i}": i * 1.5 for i in range(10)})
    c.xadd(f"x{tag}", {"a": "1"}, id="1-1")
    c.xadd(f"x{tag}", {"b": "2"}, id="2-1")
    c.execute_command("SELECT", 2)
    c.set(f"db2{tag}", "two")
    c.execute_command("SELECT", 0)


def _start_replica(make_server, master, **cfg):
    path = redis_server_binary()
    rep = make_server(binary=path, config={"replicaof": ["127.0.0.1", str(master.port)],
                                           **cfg})
    rc = rep.client()
    wait_until(lambda: _info(rc).get("master_link_status") == "up", timeout=20,
               msg="replica link up")
    return rep, rc


def _synced(mc, rc):
    wait_until(lambda: _contents(mc) == _contents(rc), timeout=10, msg="same data")


# -- a real redis-server as replica ----------------------------------------------------------


@pytest.mark.parametrize("diskless", ["no", "yes"])
def test_full_sync_then_stream(make_server, diskless):
    master = make_server(config={"repl-diskless-sync": diskless,
                                 "repl-diskless-sync-delay": "0"})
    mc = master.client()
    _fill(mc)
    rep, rc = _start_replica(make_server, master)
    _synced(mc, rc)
    # the stream: every type, other dbs, expiry, deletions
    _fill(mc, "b")
    mc.lpop("l")
    mc.hdel("h", "f1")
    mc.srem("set", 3)
    mc.zincrby("z", 2, "m1")
    mc.incrbyfloat("int", 1.5)
    mc.expire("s", 500)
    mc.delete("sset")
    mc.xadd("x", {"c": "3"}, id="3-1")
    mc.execute_command("SELECT", 5)
    mc.set("five", "5")
    mc.execute_command("SELECT", 0)
    _synced(mc, rc)
    log = master.log()
    target = "replicas sockets" if diskless == "yes" else "disk"
    assert f"Starting BGSAVE for SYNC with target: {target}" in log
    assert f"Synchronization with replica 127.0.0.1:{rep.port} succeeded" in log
    info = _info(mc)
    assert info["connected_slaves"] == 1
    assert info["slave0"]["port"] == rep.port
    assert info["slave0"]["state"] == "online"
    assert info["repl_backlog_active"] == 1
    assert mc.info("stats")["sync_full"] == 1
    wait_until(lambda: _info(rc)["slave_repl_offset"] == _info(mc)["master_repl_offset"],
               msg="replica offset = master offset")
    assert _info(rc)["master_replid"] == info["master_replid"]


def test_multi_and_eval_arrive(make_server):
    master = make_server()
    mc = master.client()
    rep, rc = _start_replica(make_server, master)
    p = mc.pipeline(transaction=True)
    p.set("a", 1)
    p.incr("a")
    p.rpush("q", "x")
    p.execute()
    mc.eval("redis.call('set', KEYS[1], 'e'); redis.call('incr', 'cnt')", 1, "ev")
    _synced(mc, rc)
    assert rc.get("a") == b"2" and rc.get("ev") == b"e"


def test_psync_continue_after_kill(make_server):
    master = make_server()
    mc = master.client()
    mc.set("k", 0)
    rep, rc = _start_replica(make_server, master)
    for _ in range(5):
        mc.incr("k")
    _synced(mc, rc)
    assert mc.client_kill_filter(_type="replica") == 1
    mc.incr("k")
    mc.rpush("after", "x")
    wait_until(lambda: mc.info("stats")["sync_partial_ok"] == 1, timeout=20,
               msg="partial resync")
    _synced(mc, rc)
    assert rc.get("k") == b"6"
    assert mc.info("stats")["sync_full"] == 1
    assert "Partial resynchronization request from" in master.log()


def test_wait_and_role(make_server):
    master = make_server()
    mc = master.client()
    assert mc.execute_command("WAIT", 0, 0) == 0
    assert mc.execute_command("WAIT", 1, 100) == 0  # times out: no replica
    rep, rc = _start_replica(make_server, master)
    mc.set("w", 1)
    assert mc.execute_command("WAIT", 1, 5000) == 1
    role = mc.execute_command("ROLE")
    assert role[0] == b"master" and role[1] == _info(mc)["master_repl_offset"]
    assert role[2][0][1] == str(rep.port).encode()
    clients = mc.client_list(_type="replica")
    assert len(clients) == 1 and clients[0]["flags"] == "S"
    with pytest.raises(Exception, match="timeout is negative"):
        mc.execute_command("WAIT", 1, -1)


def test_min_replicas_to_write(make_server):
    master = make_server()
    mc = master.client()
    mc.config_set("min-replicas-to-write", 1)
    with pytest.raises(Exception, match="NOREPLICAS Not enough good replicas to write."):
        mc.set("a", 1)
    assert _info(mc)["min_slaves_good_slaves"] == 0
    rep, rc = _start_replica(make_server, master)
    wait_until(lambda: _info(mc)["min_slaves_good_slaves"] == 1, msg="good replica")
    assert mc.set("a", 1)
    mc.config_set("min-replicas-to-write", 0)


# -- raw SYNC (the TCL suite's attach_to_replication_stream) ------------------------------


def _attach(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"SYNC\r\n")
    head = recv_until(s, lambda b: b.lstrip(b"\n").find(b"\r\n") > 0, timeout=10)
    head = head.lstrip(b"\n")
    assert head[:1] == b"$", head
    line, rest = head.split(b"\r\n", 1)
    n = int(line[1:])
    payload = rest + recv_until(s, lambda b: len(rest) + len(b) >= n, timeout=10)
    assert payload[:5] == b"REDIS"
    # nothing after the RDB until a write (but the PING of a replication cron that ran
    # for the first time now)
    assert payload[n:].replace(PING, b"") == b""
    return s


PING = cmd("PING")


def _stream(s, want: bytes) -> bytes:
    return recv_until(s, lambda b: want in b, timeout=5).replace(PING, b"")


def test_raw_sync_stream(server, r):
    r.config_set("repl-ping-replica-period", 3600)
    s = _attach(server.port)
    try:
        r.set("foo", "bar")
        got = _stream(s, b"bar\r\n")
        assert got == cmd("SELECT", "0") + cmd("SET", "foo", "bar")
        p = r.pipeline(transaction=True)
        p.set("a", 1)
        p.execute_command("INCR", "a")
        p.execute()
        got = _stream(s, b"EXEC\r\n")
        assert got == cmd("MULTI") + cmd("SET", "a", "1") + cmd("INCR", "a") + cmd("EXEC")
        r.eval("redis.call('set', 'x', 1); redis.call('del', 'x')", 0)
        got = _stream(s, b"EXEC\r\n")
        assert got.startswith(cmd("MULTI")) and got.endswith(cmd("EXEC"))
        r.execute_command("SELECT", 9)
        r.execute_command("SET", "n", "9")
        got = _stream(s, b"9\r\n$1\r\n9")
        assert got.startswith(cmd("SELECT", "9"))
    finally:
        s.close()
        r.execute_command("SELECT", 0)
    wait_until(lambda: _info(r)["connected_slaves"] == 0, msg="replica gone")


def test_sync_pending_output_and_replconf(server, r):
    s = socket.create_connection(("127.0.0.1", server.port))
    try:
        s.sendall(cmd("REPLCONF", "listening-port", "1234") + cmd("REPLCONF", "capa", "eof")
                  + cmd("REPLCONF", "bogus", "1") + cmd("REPLCONF", "x"))
        got = recv_until(s, lambda b: b.count(b"\r\n") >= 4)
        assert got == (b"+OK\r\n+OK\r\n-ERR Unrecognized REPLCONF option: bogus\r\n"
                       b"-ERR syntax error\r\n")
        s.sendall(cmd("PING") + cmd("SYNC"))
        got = recv_until(s, lambda b: b.count(b"\r\n") >= 2)
        assert got == b"+PONG\r\n-ERR SYNC and PSYNC are invalid with pending output\r\n"
        s.sendall(cmd("PSYNC", "?", "abc"))
        got = recv_until(s, lambda b: b.count(b"\r\n") >= 1)
        assert got == b"-ERR value is not an integer or out of range\r\n"
    finally:
        s.close()


def test_psync_full_and_continue_raw(server, r):
    r.config_set("repl-diskless-sync", "no")
    s = socket.create_connection(("127.0.0.1", server.port))
    try:
        s.sendall(cmd("PSYNC", "?", "-1"))
        got = recv_until(s, lambda b: b.count(b"\r\n") >= 2 and b"REDIS" in b, timeout=10)
        got = got.lstrip(b"\n")
        assert got.startswith(b"+FULLRESYNC ")
        replid, offset = got.split(b"\r\n")[0].split()[1:]
        assert replid.decode() == _info(r)["master_replid"]
        s.sendall(cmd("REPLCONF", "ACK", offset))
    finally:
        s.close()
    wait_until(lambda: _info(r)["connected_slaves"] == 0, msg="replica gone")
    r.set("more", "x")
    start = int(offset) + 1
    s = socket.create_connection(("127.0.0.1", server.port))
    try:
        s.sendall(cmd("REPLCONF", "capa", "psync2"))
        assert recv_until(s, lambda b: b"\r\n" in b) == b"+OK\r\n"
        s.sendall(cmd("PSYNC", replid, start))
        got = recv_until(s, lambda b: b"x\r\n" in b)
        assert got.startswith(b"+CONTINUE " + replid + b"\r\n")
        assert got.endswith(cmd("SET", "more", "x"))
    finally:
        s.close()
    r.config_set("repl-diskless-sync", "yes")


# -- the backlog -------------------------------------------------------------------------------


def test_backlog_ranges():
    b = Backlog(100, 1)
    assert b.range_from(1) == b""
    assert b.range_from(2) is None
    b.append(b"a" * 60)
    b.append(b"b" * 60)
    assert b.histlen <= 125
    assert b.first + b.histlen == 121
    assert b.range_from(121) == b""
    assert b.range_from(b.first) == bytes(b.buf)
    assert b.range_from(b.first - 1) is None
    assert b.range_from(111) == b"b" * 10
    b.resize(10)
    assert b.histlen == 10 and b.first == 111
    b.append(b"c" * 1000)
    assert b.first + b.histlen == 1121 and b.histlen <= 1000


def test_publish_reaches_replicas_not_aof(server, r):
    r.config_set("repl-ping-replica-period", 3600)
    s = _attach(server.port)
    try:
        r.publish("ch", "msg")
        got = _stream(s, b"msg\r\n")
        assert got == cmd("SELECT", "0") + cmd("PUBLISH", "ch", "msg")
        p = r.pipeline(transaction=True)
        p.publish("ch", "m2")
        p.execute()
        assert _stream(s, b"m2\r\n") == cmd("PUBLISH", "ch", "m2")
    finally:
        s.close()


def test_shutdown_reports_replicas(make_server):
    master = make_server()
    mc = master.client()
    rep, rc = _start_replica(make_server, master)
    mc.set("x", 1)
    assert mc.execute_command("WAIT", 1, 5000) == 1
    try:
        mc.shutdown(nosave=True)
    except Exception:  # noqa: BLE001 - the connection drops as the server exits
        pass
    assert master.wait_exit() == 0
    assert "1 of 1 replicas are in sync when shutting down." in master.log()


def test_wait_blocks_until_ack_or_unblock(server, r, deferred):
    """A raw replica that ACKs by hand: WAIT blocks until its ACK covers the offset
    (GETACK is sent first), CLIENT UNBLOCK ends it with the count or an error."""
    r.config_set("repl-diskless-sync", "no")
    s = socket.create_connection(("127.0.0.1", server.port))
    try:
        s.sendall(cmd("PSYNC", "?", "-1"))
        recv_until(s, lambda b: b"REDIS" in b and b.count(b"\r\n") >= 2, timeout=10)
        wait_until(lambda: _info(r)["slave0"]["state"] == "online", msg="online")
        s.sendall(cmd("REPLCONF", "ACK", 0))
        r.set("k", "v")
        d = deferred()
        d.send("WAIT", 1, 0)
        assert b"GETACK" in recv_until(s, lambda b: b"GETACK" in b)
        s.sendall(cmd("REPLCONF", "ACK", _info(r)["master_repl_offset"]))
        assert d.read() == 1
        d.send("WAIT", 2, 0)
        wait_until(lambda: r.info("clients")["blocked_clients"] == 1, msg="blocked")
        wid = [c["id"] for c in r.client_list() if c["cmd"] == "wait"][0]
        assert r.client_unblock(wid) == 1
        assert d.read() == 1
        d.send("WAIT", 2, 0)
        wait_until(lambda: r.info("clients")["blocked_clients"] == 1, msg="blocked")
        assert r.client_unblock(wid, error=True) == 1
        assert d.read() == ("error", "UNBLOCKED client unblocked via CLIENT UNBLOCK")
    finally:
        s.close()
        r.config_set("repl-diskless-sync", "yes")


def test_replica_that_replies_is_dropped(server, r):
    r.config_set("repl-diskless-sync", "no")
    s = _attach(server.port)
    try:
        s.sendall(cmd("PING"))
        assert recv_until(s, lambda b: False, timeout=2).replace(PING, b"") == b""
        assert server.wait_for_log("Replica generated a reply to command 'ping', "
                                   "disconnecting it: ")
        assert r.ping()
    finally:
        s.close()
        r.config_set("repl-diskless-sync", "yes")


def test_replica_keyspace_command_refused_and_dropped(server, r):
    r.config_set("repl-diskless-sync", "no")
    s = socket.create_connection(("127.0.0.1", server.port))
    try:
        s.sendall(cmd("PSYNC", "x", "-1"))
        assert recv_until(s, lambda b: b"\r\n" in b).lstrip(b"\n").startswith(b"+FULLRESYNC")
        s.sendall(cmd("GET", "foo"))
        assert server.wait_for_log("Replica generated a reply to command 'get'")
        assert server.wait_for_log("== CRITICAL == This master is sending an error to its "
                                   "replica: 'ERR Replica can't interact with the keyspace'")
    finally:
        s.close()
        r.config_set("repl-diskless-sync", "yes")


def test_unneeded_replication_bgsave_killed(make_server):
    master = make_server(config={"repl-diskless-sync": "no",
                                 "rdb-key-save-delay": "1000000"})
    mc = master.client()
    for i in range(5):
        mc.set(i, i)
    s = socket.create_connection(("127.0.0.1", master.port))
    s.sendall(cmd("SYNC"))
    wait_until(lambda: mc.info("persistence")["rdb_bgsave_in_progress"] == 1, msg="child")
    s.close()
    wait_until(lambda: mc.info("persistence")["rdb_bgsave_in_progress"] == 0, msg="killed")


def test_paused_replica_holds_stream_and_blocks_shutdown(make_server):
    """A replica that stops reading keeps the stream it was not sent: it shows in
    mem_total_replication_buffers as in Redis's shared buffer (integration/shutdown
    fills it past 2 MB). SHUTDOWN callers waiting for that replica are blocked clients;
    SHUTDOWN ABORT answers each with the error and they go on."""
    master = make_server(config={"shutdown-timeout": "300", "repl-backlog-size": "16384"})
    mc = master.client()
    rep, rc = _start_replica(make_server, master)
    mc.set("k", 1)
    assert mc.execute_command("WAIT", 1, 5000) == 1
    os.kill(rep.pid, signal.SIGSTOP)
    waiting = []
    try:
        value = "x" * 1024
        for i in range(64):  # at most 64 MB: the OS buffers fill long before
            p = mc.pipeline(transaction=False)
            for j in range(1024):
                p.set(f"junk{i}:{j}", value)
            p.execute()
            if _info(mc, "memory")["mem_total_replication_buffers"] > 2 * 1024 * 1024:
                break
        assert _info(mc, "memory")["mem_total_replication_buffers"] > 2 * 1024 * 1024
        mc.incr("k")
        waiting = [Deferred(master), Deferred(master)]
        for d in waiting:
            d.send("SHUTDOWN")
        wait_until(lambda: _info(mc, "clients")["blocked_clients"] == 2,
                   msg="both SHUTDOWN callers blocked")
        assert _info(mc, "server")["shutdown_in_milliseconds"] > 0
        assert mc.execute_command("SHUTDOWN", "ABORT") in (True, b"OK")
        for d in waiting:
            assert d.read() == ("error", "Errors trying to SHUTDOWN. Check logs.")
        assert _info(mc, "clients")["blocked_clients"] == 0
    finally:
        os.kill(rep.pid, signal.SIGCONT)
        for d in waiting:
            d.close()
    assert mc.ping()
