"""FAILOVER (a master hands its role to a replica: pause writes, wait for the replica to
catch up, PSYNC ... FAILOVER) and the replication history kept in RDB files (a restarted
replica or master continues by PSYNC instead of a full sync). Real processes: bocho on
both ends, and a real redis-server 7.0 as the replica taking over."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
import redis
from conftest import redis_server_binary
from raw import cmd, recv_until

from bocho.replication import handshake as hs
from bocho.replication.handshake import Handshake, encode
from bocho.testing.server import wait_until

ID = "a" * 40


def _repl(c) -> dict:
    return c.info("replication")


def _stats(c) -> dict:
    return c.info("stats")


def _online(mc, port: int) -> bool:
    """The master counts the replica listening on `port` online."""
    return any(isinstance(v, dict) and v.get("port") == port and v.get("state") == "online"
               for v in _repl(mc).values())


def _replica_of(make_server, master, binary=None, **cfg):
    """A replica of master (a redis-server with binary), its link up and online."""
    srv = make_server(binary=binary,
                      config={"replicaof": ["127.0.0.1", str(master.port)], **cfg})
    c = srv.client()
    mc = master.client()
    wait_until(lambda: _repl(c).get("master_link_status") == "up"
               and _online(mc, srv.port), timeout=20, msg="replica link up and online")
    mc.close()
    return srv, c


def _caught_up(mc, *rcs):
    """Every replica applied the whole stream, and the master heard it (ACK)."""
    def ok():
        info = _repl(mc)
        off = info["master_repl_offset"]
        acks = [v["offset"] for k, v in info.items() if k.startswith("slave")]
        return (all(_repl(rc)["master_repl_offset"] == off for rc in rcs)
                and len(acks) >= len(rcs) and all(a == off for a in acks))
    wait_until(ok, timeout=20, msg="replicas at the master's offset")


def _failover_done(c):
    wait_until(lambda: _repl(c)["master_failover_state"] == "no-failover", timeout=20,
               msg="failover over")


def _ask(port: int, *args) -> bytes:
    """One request on a fresh connection; the first reply line."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(cmd(*args))
        return recv_until(s, lambda b: b"\r\n" in b)


def _error(c, *args) -> str:
    with pytest.raises(Exception) as e:
        c.execute_command(*args)
    return str(e.value)


# -- the replica side of the handshake (pure logic) ------------------------------------------

def _to_psync(h: Handshake) -> list[tuple]:
    h.start()
    h.on_line(b"+PONG")
    h.on_line(b"+OK")
    acts, _ = h.on_line(b"+OK")
    return acts


def test_handshake_psync_failover_asks_and_accepts():
    h = Handshake(masteruser=None, masterauth=None, port=1, announce_ip=None,
                  cached=(ID, 99), failover=True)
    acts = _to_psync(h)
    assert [a[1] for a in acts if a[0] == "send"] == [
        encode([b"PSYNC", ID.encode(), b"100", b"FAILOVER"])]
    _, out = h.on_line(b"+CONTINUE " + b"b" * 40)
    assert out == hs.Outcome("continue", "b" * 40)


@pytest.mark.parametrize("reply", [b"-NOPERM no psync for you", b"-ERR nope",
                                   b"-NOMASTERLINK Can't SYNC while failing over"])
def test_handshake_psync_failover_refused_sends_no_sync(reply):
    h = Handshake(masteruser=None, masterauth=None, port=1, announce_ip=None,
                  cached=(ID, 1), failover=True)
    _to_psync(h)
    acts, out = h.on_line(reply)
    assert out == hs.Outcome("rejected")
    assert not [a for a in acts if a[0] == "send"]  # no fallback to SYNC


# -- errors ----------------------------------------------------------------------------------

def test_failover_errors(make_server):
    master = make_server()
    mc = master.client()
    assert "FAILOVER requires connected replicas." in _error(mc, "FAILOVER")
    assert "No failover in progress." in _error(mc, "FAILOVER", "ABORT")
    rep, rc = _replica_of(make_server, master)
    port = str(rep.port)
    assert "not a replica" in _error(mc, "FAILOVER", "TO", "invalidhost", port)
    assert "not an integer" in _error(mc, "FAILOVER", "TO", "127.0.0.1", "invalidport")
    assert "requires both a timeout and target HOST" in _error(
        mc, "FAILOVER", "FORCE", "TIMEOUT", "100")
    assert "requires both a timeout and target HOST" in _error(
        mc, "FAILOVER", "TO", "127.0.0.1", port, "FORCE")
    assert "FAILOVER timeout must be greater than 0" in _error(mc, "FAILOVER", "TIMEOUT", "0")
    assert "syntax error" in _error(mc, "FAILOVER", "TIMEOUT", "5", "TIMEOUT", "6")
    assert "syntax error" in _error(mc, "FAILOVER", "ABORT", "TIMEOUT", "5")
    assert "syntax error" in _error(mc, "FAILOVER", "BOGUS")
    assert "not valid when server is a replica" in _error(
        rc, "FAILOVER", "TO", "127.0.0.1", port)
    # PSYNC ... FAILOVER: only a replica, only from the master whose history it follows
    assert _ask(master.port, "PSYNC", ID, "1", "FAILOVER").startswith(
        b"-ERR PSYNC FAILOVER can't be sent to a master.")
    assert _ask(rep.port, "PSYNC", ID, "1", "FAILOVER").startswith(
        b"-ERR PSYNC FAILOVER replid must match my replid.")
    assert _repl(rc)["role"] == "slave"
    # one failover at a time, and no REPLICAOF meanwhile
    os.kill(rep.pid, signal.SIGSTOP)
    try:
        mc.set("k", "v")
        assert mc.execute_command("FAILOVER", "TIMEOUT", "60000") == b"OK"
        assert _repl(mc)["master_failover_state"] == "waiting-for-sync"
        assert "FAILOVER already in progress." in _error(mc, "FAILOVER")
        assert "REPLICAOF not allowed while failing over." in _error(mc, "REPLICAOF", "NO", "ONE")
        assert _ask(master.port, "PSYNC", "?", "-1").startswith(
            b"-NOMASTERLINK Can't SYNC while failing over")
        assert mc.execute_command("FAILOVER", "ABORT") == b"OK"
    finally:
        os.kill(rep.pid, signal.SIGCONT)
    assert _repl(mc)["master_failover_state"] == "no-failover"
    assert "FAILOVER to any replica aborted: Failover manually aborted" in master.log()


# -- the failover itself ---------------------------------------------------------------------

def test_failover_swaps_roles_without_losing_a_write(make_server):
    a = make_server()
    ac = a.client()
    b, bc = _replica_of(make_server, a)
    for i in range(200):
        ac.set(f"k{i}", i)
    ac.execute_command("SELECT", 3)
    ac.rpush("db3list", *range(10))
    ac.execute_command("SELECT", 0)
    digest = ac.execute_command("DEBUG", "DIGEST")
    assert ac.execute_command("FAILOVER") == b"OK"
    _failover_done(ac)
    assert _repl(ac)["role"] == "slave" and _repl(ac)["master_port"] == b.port
    assert _repl(bc)["role"] == "master"
    wait_until(lambda: _repl(ac)["master_link_status"] == "up", msg="old master linked")
    assert bc.execute_command("DEBUG", "DIGEST") == digest
    st = _stats(bc)
    assert (st["sync_partial_ok"], st["sync_full"]) == (1, 0)  # the old master continued
    log = a.log()
    assert "FAILOVER requested to any replica." in log
    assert f"Failover target 127.0.0.1:{b.port} is synced, failing over." in log
    assert "Failover request received for replid" in b.log()
    assert "MASTER MODE enabled (failover request from" in b.log()
    # the new master's writes reach the old one
    bc.set("after", "x")
    wait_until(lambda: ac.get("after") == b"x", msg="write on new master replicated")
    with pytest.raises(redis.exceptions.ReadOnlyError):
        ac.set("no", "1")


def test_failover_to_a_given_replica(make_server):
    a = make_server()
    ac = a.client()
    b, bc = _replica_of(make_server, a)
    c, cc = _replica_of(make_server, a)
    for _ in range(50):
        ac.incr("n")
    _caught_up(ac, bc, cc)
    assert ac.execute_command("FAILOVER", "TO", "127.0.0.1", c.port) == b"OK"
    _failover_done(ac)
    assert _repl(cc)["role"] == "master"
    assert _repl(ac)["role"] == "slave" and _repl(ac)["master_port"] == c.port
    assert _repl(bc)["role"] == "slave"
    assert f"FAILOVER requested to 127.0.0.1:{c.port}." in a.log()
    # b follows the new history through a (chained) and then straight from c
    bc.execute_command("REPLICAOF", "127.0.0.1", c.port)
    wait_until(lambda: _repl(bc)["master_link_status"] == "up", msg="b on c")
    cc.incr("n")
    wait_until(lambda: bc.get("n") == b"51" and ac.get("n") == b"51", msg="both follow c")
    assert _stats(cc)["sync_full"] == 0 and _stats(cc)["sync_partial_ok"] == 2


def test_failover_timeout_holds_writes_then_gives_up(make_server):
    a = make_server()
    ac = a.client()
    b, bc = _replica_of(make_server, a)
    os.kill(b.pid, signal.SIGSTOP)
    try:
        ac.set("case", 1)  # b never acknowledges this
        assert ac.execute_command("FAILOVER", "TO", "127.0.0.1", b.port,
                                  "TIMEOUT", "600") == b"OK"
        assert _repl(ac)["master_failover_state"] == "waiting-for-sync"
        assert ac.get("case") == b"1"  # reads go on
        w = socket.create_connection(("127.0.0.1", a.port))
        w.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nheld\r\n$1\r\n1\r\n")
        w.settimeout(0.3)
        with pytest.raises(TimeoutError):
            w.recv(100)  # the write waits for the failover to end
        w.settimeout(10)
        assert w.recv(100) == b"+OK\r\n"  # it ended: timed out, still master
        w.close()
        assert _repl(ac)["master_failover_state"] == "no-failover"
        assert _repl(ac)["role"] == "master"
        assert ac.get("held") == b"1"
        assert (f"FAILOVER to 127.0.0.1:{b.port} aborted: Replica never caught up before "
                "timeout") in a.log()
    finally:
        os.kill(b.pid, signal.SIGCONT)
    _caught_up(ac, bc)
    assert _stats(ac)["sync_full"] == 1 and _stats(ac)["sync_partial_ok"] == 0


def test_failover_target_refusing_psync_is_undone(make_server):
    a = make_server()
    ac = a.client()
    b, bc = _replica_of(make_server, a)
    bc.execute_command("ACL", "SETUSER", "default", "-psync")
    ac.set("x", 1)
    _caught_up(ac, bc)
    assert ac.execute_command("FAILOVER") == b"OK"
    _failover_done(ac)
    assert _repl(ac)["role"] == "master" and _repl(bc)["role"] == "slave"
    assert "Failover target rejected psync request" in a.log()
    bc.execute_command("ACL", "SETUSER", "default", "+psync")
    wait_until(lambda: _repl(bc)["master_link_status"] == "up", msg="b back on a")
    ac.set("x", 2)
    wait_until(lambda: bc.get("x") == b"2", msg="stream again")
    assert _stats(ac)["sync_full"] == 1  # b continued the new history by PSYNC


def test_failover_to_a_real_redis_replica(make_server):
    a = make_server()
    ac = a.client()
    b, bc = _replica_of(make_server, a, binary=redis_server_binary())
    for i in range(100):
        ac.hset("h", f"f{i}", i)
    ac.set("s", "v")
    digest = ac.execute_command("DEBUG", "DIGEST")
    assert ac.execute_command("FAILOVER", "TO", "127.0.0.1", b.port) == b"OK"
    _failover_done(ac)
    assert _repl(bc)["role"] == "master"
    assert _repl(ac)["role"] == "slave"
    wait_until(lambda: _repl(ac)["master_link_status"] == "up", msg="bocho on redis")
    assert bc.execute_command("DEBUG", "DIGEST") == digest
    assert _stats(bc)["sync_partial_ok"] == 1 and _stats(bc)["sync_full"] == 0
    bc.set("from-redis", "1")
    wait_until(lambda: ac.get("from-redis") == b"1", msg="redis stream reaches bocho")


def test_real_redis_master_fails_over_to_bocho(make_server):
    path = redis_server_binary()
    a = make_server(binary=path)
    ac = a.client()
    b, bc = _replica_of(make_server, a)
    for i in range(100):
        ac.sadd("s", i)
    _caught_up(ac, bc)
    digest = ac.execute_command("DEBUG", "DIGEST")
    assert ac.execute_command("FAILOVER", "TO", "127.0.0.1", b.port) == b"OK"
    _failover_done(ac)
    assert _repl(bc)["role"] == "master" and _repl(ac)["role"] == "slave"
    wait_until(lambda: _repl(ac)["master_link_status"] == "up", msg="redis on bocho")
    assert bc.execute_command("DEBUG", "DIGEST") == digest
    assert _stats(bc)["sync_partial_ok"] == 1 and _stats(bc)["sync_full"] == 0
    assert "MASTER MODE enabled (failover request from" in b.log()
    bc.sadd("s", "new")
    wait_until(lambda: ac.sismember("s", "new"), msg="bocho's stream reaches redis")


# -- the replication history in the RDB --------------------------------------------------------

def _restart(srv) -> None:
    """Stop (SIGTERM: a save when save points are set) and start again on the same
    port and dir."""
    assert srv.stop() == 0
    srv.proc = None
    srv.start()


def test_plain_rdb_names_no_history(make_server):
    from bocho.persistence.snapshot import _aux_fields
    a = make_server()
    ac = a.client()
    ac.set("k", "v")
    ac.save()
    with open(os.path.join(a.dir, "dump.rdb"), "rb") as f:
        aux = _aux_fields(f.read())
    assert b"repl-id" not in aux and b"aof-base" in aux
    b, bc = _replica_of(make_server, a)
    ac.save()
    with open(os.path.join(a.dir, "dump.rdb"), "rb") as f:
        aux = _aux_fields(f.read())
    info = _repl(ac)
    assert aux[b"repl-id"] == info["master_replid"].encode()
    assert aux[b"repl-offset"] == str(info["master_repl_offset"]).encode()
    assert aux[b"repl-stream-db"] == b"0"


def test_restarted_replica_continues_by_psync(make_server):
    a = make_server()
    ac = a.client()
    b, bc = _replica_of(make_server, a, save="3600 1")
    ac.execute_command("SELECT", 5)
    for i in range(100):
        ac.set(f"k{i}", i)
    _caught_up(ac, bc)
    _restart(b)
    bc = b.client()
    ac.set("while-down", "1")
    wait_until(lambda: _stats(ac)["sync_partial_ok"] == 1, timeout=20, msg="partial resync")
    wait_until(lambda: _repl(bc).get("master_link_status") == "up", msg="link up")
    assert _stats(ac)["sync_full"] == 1
    bc.execute_command("SELECT", 5)
    wait_until(lambda: bc.get("while-down") == b"1", msg="the missed write")
    ac.set("later", "2")  # the stream's db survived the restart (no SELECT needed)
    wait_until(lambda: bc.get("later") == b"2", msg="stream in db 5")
    assert ac.execute_command("DEBUG", "DIGEST") == bc.execute_command("DEBUG", "DIGEST")


def test_restarted_master_continues_its_history(make_server):
    a = make_server(config={"save": "3600 1", "repl-ping-replica-period": "3600"})
    ac = a.client()
    b, bc = _replica_of(make_server, a)
    ac.set("k", "v")
    ac.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    for i in range(20):
        ac.execute_command("SELECT", i % 3)
        ac.set(f"e{i}", "x", px=10)
    set_at = time.time()
    _caught_up(ac, bc)
    before = _repl(ac)
    # the keys' 10 ms pass: they are found expired when the master loads its RDB
    wait_until(lambda: time.time() > set_at + 0.02, msg="keys past their TTL")
    _restart(a)
    ac = a.client()
    info = _repl(ac)
    assert info["master_replid"] != before["master_replid"]
    assert info["master_replid2"] == before["master_replid"]
    assert info["second_repl_offset"] == before["master_repl_offset"] + 1
    assert info["repl_backlog_active"] == 1
    assert info["repl_backlog_first_byte_offset"] == before["master_repl_offset"] + 1
    expired = info["repl_backlog_histlen"]
    assert expired > 0  # the DELs of the 20 keys found expired
    assert info["master_repl_offset"] == before["master_repl_offset"] + expired
    assert ac.info("persistence")["rdb_last_load_keys_expired"] == 20
    wait_until(lambda: _stats(ac)["sync_partial_ok"] == 1, timeout=20, msg="partial")
    assert _stats(ac)["sync_full"] == 0
    _caught_up(ac, bc)
    assert ac.execute_command("DEBUG", "DIGEST") == bc.execute_command("DEBUG", "DIGEST")
    assert bc.dbsize() == 1


# -- the backlog as Redis 7.0's shared replication buffer ------------------------------------

def test_backlog_pinned_keeps_what_replicas_wait_for():
    from bocho.replication.state import Backlog
    b = Backlog(100, 1)
    b.pin(1)  # a replica waits for everything from offset 1
    for _ in range(10):
        b.append(b"x" * 60)
    assert b.first == 1 and b.histlen == 600
    assert b.range_from(1) == b"x" * 600
    b.pin(301)  # it moved on (or another one is left, from 301)
    assert b.first == 301 and b.histlen == 300
    b.resize(50)
    assert b.first == 301  # the size gives way to the pin
    b.pin(0)
    assert b.histlen == 50 and b.first + b.histlen == 601
    b.append(b"y" * 20)
    assert b.histlen <= 50 + 50 // 4 + 20


def _replica_waiting_for_rdb(make_server):
    """A master with a 16k backlog and a replica waiting ~20 s for its RDB."""
    a = make_server(config={"repl-backlog-size": "16384", "repl-diskless-sync": "no"})
    ac = a.client()
    for i in range(20):
        ac.set(f"k{i}", i)
    ac.config_set("rdb-key-save-delay", "1000000")
    b = make_server(config={"replicaof": ["127.0.0.1", str(a.port)]})
    wait_until(lambda: any(isinstance(v, dict) and v.get("state") == "wait_bgsave"
                           for v in _repl(ac).values()), msg="replica waiting for its RDB")
    return a, ac, b


def test_waiting_replica_holds_the_stream_in_the_backlog(make_server):
    a, ac, b = _replica_waiting_for_rdb(make_server)
    start = _repl(ac)["master_repl_offset"]
    value = "v" * 1000
    for i in range(300):
        ac.set(f"big{i}", value)
    info = _repl(ac)
    held = info["master_repl_offset"] - start
    assert held > 300_000
    assert info["repl_backlog_histlen"] >= held  # nothing it waits for was trimmed
    mem = ac.info("memory")
    assert mem["mem_total_replication_buffers"] == info["repl_backlog_histlen"]
    assert mem["mem_replication_backlog"] == 16384
    # what it is owed counts as its output: over the hard limit, it is dropped
    ac.config_set("client-output-buffer-limit", "replica 64kb 0 0")
    ac.set("one-more", "x")
    wait_until(lambda: _repl(ac)["connected_slaves"] == 0, msg="replica dropped")
    assert "scheduled to be closed ASAP for overcoming of output buffer limits" in a.log()
    assert _repl(ac)["repl_backlog_histlen"] <= 16384 + 16384 // 4
    assert ac.info("memory")["mem_total_replication_buffers"] <= 16384 + 16384 // 4
    ac.config_set("rdb-key-save-delay", "0")
    b.stop()


def test_restarted_master_continues_with_a_real_redis_replica(make_server):
    a = make_server(config={"save": "3600 1", "repl-ping-replica-period": "3600"})
    ac = a.client()
    b, bc = _replica_of(make_server, a, binary=redis_server_binary())
    for i in range(50):
        ac.lpush("l", i)
    _caught_up(ac, bc)
    _restart(a)
    ac = a.client()
    wait_until(lambda: _stats(ac)["sync_partial_ok"] == 1, timeout=20, msg="partial")
    assert _stats(ac)["sync_full"] == 0
    ac.lpush("l", "after")
    wait_until(lambda: bc.lindex("l", 0) == b"after", msg="stream after the restart")
    assert ac.execute_command("DEBUG", "DIGEST") == bc.execute_command("DEBUG", "DIGEST")


def test_waiting_replica_over_its_soft_limit_for_too_long_is_dropped(make_server):
    a, ac, b = _replica_waiting_for_rdb(make_server)
    ac.config_set("client-output-buffer-limit", "replica 0 32kb 1")
    ac.set("big", "v" * 40_000)
    assert _repl(ac)["connected_slaves"] == 1  # over it, but not for long yet

    def dropped():
        ac.set("tick", "x")  # the limits are looked at as the stream grows
        return _repl(ac)["connected_slaves"] == 0
    wait_until(dropped, timeout=20, interval=0.2, msg="replica dropped after 1 s")
    assert "scheduled to be closed ASAP for overcoming of output buffer limits" in a.log()
    ac.config_set("rdb-key-save-delay", "0")
    b.stop()
