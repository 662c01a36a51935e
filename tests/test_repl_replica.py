"""The replica side: the handshake state machine and the payload/stream framing (pure
logic), then bocho as a replica of a real redis-server 7.0 (full sync from disk and
diskless, the stream of every type, PSYNC after a broken link, REPLICAOF NO ONE,
read-only and stale-data refusals)."""

from __future__ import annotations

import pytest
import redis

from bocho.replication import handshake as hs
from bocho.replication.handshake import Handshake, Payload, StreamParser, bulk_header, encode
from bocho.testing.server import ServerProcess, wait_until
from tests.conftest import redis_server_binary

ID = "a" * 40
ID2 = "b" * 40


def _sends(acts):
    return [a[1] for a in acts if a[0] == "send"]


def _logs(acts):
    return [a[2] for a in acts if a[0] == "log"]


# -- the handshake ------------------------------------------------------------------------

def test_handshake_without_auth_nor_cache():
    h = Handshake(masteruser=None, masterauth=None, port=6380, announce_ip=None, cached=None)
    assert _sends(h.start()) == [encode([b"PING"])]
    assert h.state == hs.RECEIVE_PING_REPLY and hs.state_name(h.state) == "handshake"
    acts, out = h.on_line(b"+PONG")
    assert out is None
    assert "Master replied to PING, replication can continue..." in _logs(acts)
    assert _sends(acts) == [encode([b"REPLCONF", b"listening-port", b"6380"]),
                            encode([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])]
    acts, out = h.on_line(b"+OK")
    assert (acts, out) == ([], None) and h.state == hs.RECEIVE_CAPA_REPLY
    acts, out = h.on_line(b"+OK")
    assert _sends(acts) == [encode([b"PSYNC", b"?", b"-1"])]
    assert _logs(acts) == ["Partial resynchronization not possible (no cached master)"]
    assert h.on_line(b"") == ([], None)  # keep-alive newline before the answer
    acts, out = h.on_line(f"+FULLRESYNC {ID} 1234".encode())
    assert out == hs.Outcome("fullresync", ID, 1234)
    assert _logs(acts) == [f"Full resync from master: {ID}:1234"]
    assert h.state == hs.TRANSFER and hs.state_name(h.state) == "sync"


def test_handshake_with_auth_ip_and_cached_master():
    h = Handshake(masteruser="u", masterauth="pw", port=1, announce_ip="10.0.0.1",
                  cached=(ID, 99))
    h.start()
    acts, _ = h.on_line(b"-NOAUTH Authentication required.")  # accepted as a PING reply
    assert _sends(acts) == [encode([b"AUTH", b"u", b"pw"]),
                            encode([b"REPLCONF", b"listening-port", b"1"]),
                            encode([b"REPLCONF", b"ip-address", b"10.0.0.1"]),
                            encode([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])]
    assert h.on_line(b"+OK") == ([], None)
    acts, _ = h.on_line(b"-ERR unknown")
    assert _logs(acts) == ["(Non critical) Master does not understand REPLCONF "
                           "listening-port: -ERR unknown"]
    h.on_line(b"+OK")
    acts, _ = h.on_line(b"+OK")
    assert _sends(acts) == [encode([b"PSYNC", ID.encode(), b"100"])]
    assert _logs(acts) == [f"Trying a partial resynchronization (request {ID}:100)."]
    acts, out = h.on_line(f"+CONTINUE {ID2}".encode())
    assert out == hs.Outcome("continue", ID2)
    assert h.state == hs.CONNECTED
    assert Handshake(masteruser=None, masterauth=None, port=1, announce_ip=None,
                     cached=(ID, 1))._psync_reply("+CONTINUE")[1] == hs.Outcome("continue")


@pytest.mark.parametrize("reply,logged", [
    (b"-ERR wrong", "Error reply to PING from master: '-ERR wrong'"),
])
def test_handshake_bad_ping_reply(reply, logged):
    h = Handshake(masteruser=None, masterauth=None, port=1, announce_ip=None, cached=None)
    h.start()
    acts, out = h.on_line(reply)
    assert out.kind == "error" and _logs(acts) == [logged]


def test_handshake_auth_refused():
    h = Handshake(masteruser=None, masterauth="x", port=1, announce_ip=None, cached=None)
    h.start()
    h.on_line(b"+PONG")
    acts, out = h.on_line(b"-WRONGPASS invalid username-password pair")
    assert out.kind == "error"
    assert _logs(acts) == ["Unable to AUTH to MASTER: -WRONGPASS invalid username-password pair"]


def _at_psync(cached=None):
    h = Handshake(masteruser=None, masterauth=None, port=1, announce_ip=None, cached=cached)
    h.start()
    for line in (b"+PONG", b"+OK", b"+OK"):
        h.on_line(line)
    assert h.state == hs.RECEIVE_PSYNC_REPLY
    return h


def test_psync_refusals():
    acts, out = _at_psync().on_line(b"-LOADING Redis is loading the dataset in memory")
    assert out.kind == "error"
    acts, out = _at_psync().on_line(b"-NOMASTERLINK Can't SYNC while not connected")
    assert out.kind == "error"
    # an old master: SYNC, then the payload with no +FULLRESYNC
    acts, out = _at_psync().on_line(b"-ERR unknown command 'PSYNC'")
    assert out == hs.Outcome("fullresync", None, -1)
    assert _sends(acts) == [b"SYNC\r\n"]
    assert "Retrying with SYNC..." in _logs(acts)
    acts, out = _at_psync().on_line(b"+FULLRESYNC short 1")
    assert _logs(acts) == ["Master replied with wrong +FULLRESYNC syntax."]


def test_bulk_header():
    assert bulk_header(b"$1234") == ("size", 1234)
    assert bulk_header(b"$EOF:" + b"x" * 40) == ("eof", b"x" * 40)
    assert bulk_header(b"") == ("ping", None)
    assert bulk_header(b"-ERR no") == ("error", "MASTER aborted replication with an error: ERR no")
    kind, msg = bulk_header(b"+OK")
    assert kind == "error" and msg.startswith("Bad protocol from MASTER, the first byte is not '$'")


def test_payload_by_size_keeps_what_follows():
    p = Payload(size=10)
    assert p.feed(b"01234") == (b"01234", False, b"")
    assert p.feed(b"56789*1\r\n") == (b"56789", True, b"*1\r\n")
    assert p.read == 10


@pytest.mark.parametrize("cut", [1, 3, 7, 39, 40, 45, 100])
def test_payload_with_eof_mark_in_any_pieces(cut):
    mark = b"M" * 20 + b"N" * 20
    body = bytes(range(256)) * 3
    data = body + mark + b"*1\r\n$4\r\nPING\r\n"
    p = Payload(mark=mark)
    got = b""
    rest = b""
    done = False
    i = 0
    while not done:
        keep, done, rest = p.feed(data[i:i + cut])
        got += keep
        i += cut
    assert got == body
    assert rest + data[i:] == b"*1\r\n$4\r\nPING\r\n"
    assert p.read == len(body) + 40


def test_stream_parser():
    p = StreamParser()
    cmd = encode([b"SET", b"k", b"v"])
    p.feed(b"\n" + cmd[:7])
    assert p.next() is None
    p.feed(cmd[7:] + encode([b"PING"]))
    assert p.next() == ([b"SET", b"k", b"v"], b"\n" + cmd)  # the newline counts
    assert p.next() == ([b"PING"], encode([b"PING"]))
    assert p.next() is None and p.pending() == 0
    p.feed(b"GET k\r\n")
    with pytest.raises(ValueError):
        p.next()


# -- bocho as a replica of redis-server ---------------------------------------------------

@pytest.fixture
def redis_master(tmp_path):
    made = []

    def make(**config):
        cfg = {"repl-diskless-sync-delay": "0"}
        cfg.update(config)
        srv = ServerProcess(binary=redis_server_binary(), config=cfg)
        made.append(srv)
        return srv.start()

    yield make
    for s in made:
        s.cleanup()


def _fill(c):
    c.set("s", "v")
    c.set("n", 12345)
    c.set("exp", "x", px=1000000)
    c.rpush("l", *[f"e{i}" for i in range(200)])
    c.sadd("set", *range(100))
    c.sadd("iset", 1, 2, 3)
    c.hset("h", mapping={f"f{i}": i for i in range(50)})
    c.zadd("z", {f"m{i}": i / 3 for i in range(150)})
    c.xadd("st", {"a": "1"})
    c.pfadd("hll", "a", "b", "c")
    c.execute_command("SELECT", 9)
    c.set("in9", "x")
    c.execute_command("SELECT", 0)


def _digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def _info(c):
    return c.info("replication")


def _synced(master, replica):
    def ok():
        r = _info(replica)
        return (r.get("master_link_status") == "up"
                and r["slave_repl_offset"] == _info(master)["master_repl_offset"])
    return ok


def _attach(replica, master_srv):
    assert replica.execute_command("REPLICAOF", "127.0.0.1", master_srv.port) == b"OK"


@pytest.mark.parametrize("diskless_sync,diskless_load", [
    ("no", "disabled"), ("yes", "disabled"), ("yes", "swapdb"), ("yes", "on-empty-db")])
def test_full_sync_then_stream(redis_master, make_server, diskless_sync, diskless_load):
    m_srv = redis_master(**{"repl-diskless-sync": diskless_sync})
    r_srv = make_server(config={"repl-diskless-load": diskless_load})
    m, r = m_srv.client(), r_srv.client()
    _fill(m)
    r.set("old", "gone after the sync")
    _attach(r, m_srv)
    wait_until(_synced(m, r), msg="sync")
    assert not r.exists("old")
    assert _digest(r) == _digest(m)
    assert r.pttl("exp") > 0
    # the stream, every type, a transaction, another db
    m.append("s", "w")
    m.incrbyfloat("n", 1.5)
    m.lpush("l", "head")
    m.ltrim("l", 0, 99)
    m.srem("set", 5)
    m.hincrby("h", "f1", 10)
    m.zincrby("z", 2, "m3")
    m.xadd("st", {"b": "2"})
    m.expire("s", 1000)
    with m.pipeline(transaction=True) as p:
        p.set("t1", 1).incr("t1").rpush("l2", "x")
        p.execute()
    m.execute_command("SELECT", 3)
    m.set("in3", "y")
    m.execute_command("SELECT", 0)
    m.eval("redis.call('set', KEYS[1], ARGV[1])", 1, "lua", "v")
    wait_until(_synced(m, r), msg="stream applied")
    assert _digest(r) == _digest(m)
    log = r_srv.log()
    assert "MASTER <-> REPLICA sync: Finished with success" in log
    assert "Full resync from master:" in log
    assert r.info("replication")["master_replid"] == m.info("replication")["master_replid"]


def test_psync_continue_after_either_side_kills_the_link(redis_master, make_server):
    m_srv = redis_master()
    r_srv = make_server()
    m, r = m_srv.client(), r_srv.client()
    _attach(r, m_srv)
    wait_until(_synced(m, r), msg="sync")
    m.execute_command("SELECT", 4)  # the continued stream must stay in db 4
    m.set("a", 1)
    m.execute_command("SELECT", 0)
    wait_until(_synced(m, r))
    conn = m.connection_pool.get_connection()
    conn.send_command("SELECT", 4)
    conn.read_response()
    r.client_kill_filter(_type="master")
    conn.send_command("SET", "b", 2)
    conn.read_response()
    wait_until(lambda: r_srv.log().count("Successful partial resynchronization") == 1)
    wait_until(_synced(m, r))
    m.client_kill_filter(_type="replica")
    conn.send_command("SET", "c", 3)
    conn.read_response()
    wait_until(lambda: r_srv.log().count("Successful partial resynchronization") == 2)
    wait_until(_synced(m, r))
    m.connection_pool.release(conn)
    r.execute_command("SELECT", 4)
    assert r.mget("a", "b", "c") == [b"1", b"2", b"3"]
    assert r_srv.log().count("Full resync from master") == 1
    assert _digest(r) == _digest(m)


def test_replica_refusals_and_promotion(redis_master, make_server):
    m_srv = redis_master()
    r_srv = make_server()
    m, r = m_srv.client(), r_srv.client()
    m.set("k", "v")
    _attach(r, m_srv)
    assert r.execute_command("REPLICAOF", "127.0.0.1", m_srv.port) == \
        b"OK Already connected to specified master"
    wait_until(_synced(m, r), msg="sync")
    synced_offset = _info(r)["slave_repl_offset"]
    with pytest.raises(redis.exceptions.ReadOnlyError,
                       match="^You can't write against a read only replica.$"):
        r.set("x", 1)
    # scripts: a write from one is refused, a script declaring writes does not start
    # (both as a redis-server replica answers), reads run
    with pytest.raises(redis.exceptions.ReadOnlyError,
                       match="^You can't write against a read only replica. script: "):
        r.eval("return redis.call('set', KEYS[1], 'z')", 1, "x")
    with pytest.raises(redis.exceptions.ReadOnlyError,
                       match="^Can not run script with write flag on readonly replica$"):
        r.eval("#!lua\nreturn redis.call('set', KEYS[1], 'z')", 1, "x")
    assert r.eval("return redis.call('get', KEYS[1])", 1, "k") == b"v"
    assert r.execute_command("ROLE")[:4] == [b"slave", b"127.0.0.1", m_srv.port, b"connected"]
    info = _info(r)
    assert info["role"] == "slave" and info["master_sync_in_progress"] == 0
    assert info["master_last_io_seconds_ago"] >= 0
    # the link down and replica-serve-stale-data no: MASTERDOWN (INFO still answers)
    r.config_set("replica-serve-stale-data", "no")
    old_id = info["master_replid"]
    m_srv.stop()
    wait_until(lambda: _info(r)["master_link_status"] == "down")
    with pytest.raises(redis.exceptions.MasterDownError, match="^Link with MASTER is down and replica-serve-stale"):
        r.get("k")
    assert _info(r)["master_link_down_since_seconds"] >= 0
    assert r.execute_command("ROLE")[3] in (b"connect", b"connecting")
    assert r.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    assert r.get("k") == b"v"
    assert r.set("x", 1)
    info = _info(r)
    assert info["role"] == "master" and info["master_replid2"] == old_id
    assert info["second_repl_offset"] == synced_offset + 1
    assert "MASTER MODE enabled (user request from 'id=" in r_srv.log()


def test_replicaof_errors(make_server):
    r = make_server().client()
    with pytest.raises(redis.ResponseError, match="^Invalid master port$"):
        r.execute_command("REPLICAOF", "127.0.0.1", "70000")
    with pytest.raises(redis.ResponseError, match="^Invalid master port$"):
        r.execute_command("SLAVEOF", "127.0.0.1", "x")
    assert r.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    assert r.execute_command("ROLE") == [b"master", 0, []]


def test_replicaof_at_startup(redis_master, make_server):
    m_srv = redis_master()
    m = m_srv.client()
    m.set("boot", "yes")
    r_srv = make_server(config={"replicaof": ["127.0.0.1", str(m_srv.port)]})
    r = r_srv.client()
    wait_until(_synced(m, r), msg="sync")
    assert r.get("boot") == b"yes"
    assert f"Connecting to MASTER 127.0.0.1:{m_srv.port}" in r_srv.log()


def test_exec_refused_on_stale_or_read_only_replica(make_server):
    """What the queued commands would do decides: EXECABORT with MASTERDOWN or
    READONLY (the replica's master is unreachable here)."""
    srv = make_server(config={"replica-serve-stale-data": "no"})
    r, admin = srv.client(), srv.client()
    r.set("xx", 1)
    r.execute_command("MULTI")
    r.execute_command("GET", "xx")
    admin.execute_command("REPLICAOF", "localhsot", 0)
    with pytest.raises(redis.ResponseError, match="discarded because of: MASTERDOWN"):
        r.execute_command("EXEC")
    admin.config_set("replica-serve-stale-data", "yes")
    r.execute_command("MULTI")
    r.execute_command("GET", "xx")
    assert r.execute_command("EXEC") == [b"1"]
    with pytest.raises(redis.exceptions.ReadOnlyError):
        r.execute_command("MULTI")
        r.execute_command("SET", "xx", 2)
    with pytest.raises(redis.ResponseError, match="discarded because of previous errors"):
        r.execute_command("EXEC")
    admin.execute_command("REPLICAOF", "NO", "ONE")
    assert r.incr("xx") == 2


def test_replica_with_aof_rewrites_it_after_the_sync(redis_master, make_server):
    m_srv = redis_master()
    m = m_srv.client()
    m.set("before", 1)
    r_srv = make_server(config={"appendonly": "yes"})
    r = r_srv.client()
    r.set("mine", "dropped by the sync")
    _attach(r, m_srv)
    wait_until(_synced(m, r), msg="sync")
    m.set("after", 2)
    wait_until(_synced(m, r))
    wait_until(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0
               and r.info("persistence")["aof_enabled"] == 1)
    r.execute_command("REPLICAOF", "NO", "ONE")
    r_srv.stop()
    r_srv.config.pop("replicaof", None)
    r_srv.start()
    r = r_srv.client()
    assert sorted(r.keys()) == [b"after", b"before"]


def test_restarted_replica_continues_from_the_rdb_it_got(redis_master, make_server):
    """The RDB of a disk-based full sync holds the master's ID and offset: a replica
    restarted with it asks PSYNC to continue (and the master agrees)."""
    m_srv = redis_master(**{"repl-diskless-sync": "no"})
    m = m_srv.client()
    m.set("k", 1)
    r_srv = make_server(config={"replicaof": ["127.0.0.1", str(m_srv.port)]})
    r = r_srv.client()
    wait_until(_synced(m, r), msg="sync")
    r_srv.stop()
    r_srv.start()
    r = r_srv.client()
    wait_until(lambda: "Successful partial resynchronization" in r_srv.log())
    m.set("k2", 2)
    wait_until(_synced(m, r))
    assert r.mget("k", "k2") == [b"1", b"2"]


def test_stream_waits_while_a_script_is_busy(redis_master, make_server):
    """What the master sends while a script runs past busy-reply-threshold is applied
    once it ends, none of it lost to -BUSY."""
    import threading
    m_srv = redis_master()
    r_srv = make_server(config={"busy-reply-threshold": "100"})
    m, r = m_srv.client(), r_srv.client()
    _attach(r, m_srv)
    wait_until(_synced(m, r), msg="sync")
    busy = threading.Thread(target=lambda: r_srv.client().eval(
        "local t = redis.call('time')[1] while redis.call('time')[1] - t < 2 do end", 0))
    busy.start()
    wait_until(lambda: m.info("replication")["slave0"]["state"] == "online")
    for _ in range(100):
        m.incr("n")
    busy.join()
    wait_until(_synced(m, r))
    assert r.get("n") == b"100"


def test_swapdb_keeps_the_old_data_when_the_load_fails(redis_master, make_server):
    """repl-diskless-load swapdb: a payload that does not load (the master killed
    mid-transfer would do the same) leaves the old dataset in place."""
    import socket
    import threading

    # a fake master: handshake, then an EOF-marked payload that is not an RDB
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]

    def serve():
        conn, _ = lsock.accept()
        f = conn.makefile("rb")
        for i in range(4):  # PING, REPLCONF x2, PSYNC: each a multibulk
            n = int(f.readline()[1:])
            for _ in range(2 * n):
                f.readline()
            conn.sendall(b"+FULLRESYNC " + b"c" * 40 + b" 0\r\n" if i == 3 else b"+OK\r\n")
        mark = b"m" * 40
        conn.sendall(b"$EOF:" + mark + b"\r\nREDIS0010garbage" + mark)
        conn.recv(100)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    r_srv = make_server(config={"repl-diskless-load": "swapdb"})
    r = r_srv.client()
    r.set("old", "kept")
    r.execute_command("REPLICAOF", "127.0.0.1", port)
    wait_until(lambda: "Discarding temporary DB in background" in r_srv.log())
    assert f"Full resync from master: {'c' * 40}:0" in r_srv.log()
    r.execute_command("REPLICAOF", "NO", "ONE")
    lsock.close()
    assert r.get("old") == b"kept"


# -- chains (the master side of bocho relays what its replica side applied) ------------

def _chain(top_srv, mid_srv, sub_srv):
    top, mid, sub = top_srv.client(), mid_srv.client(), sub_srv.client()
    _fill(top)
    _attach(mid, top_srv)
    wait_until(_synced(top, mid), msg="middle synced")
    _attach(sub, mid_srv)
    wait_until(_synced(mid, sub), msg="sub-replica synced")
    for i in range(50):
        top.rpush("chain", i)
    top.execute_command("SELECT", 5)
    top.set("five", 5)
    top.execute_command("SELECT", 0)
    wait_until(_synced(top, mid))
    wait_until(_synced(mid, sub))
    assert _digest(top) == _digest(mid) == _digest(sub)
    # the middle's link breaks: both links continue, the sub-replica gets the rest
    mid.client_kill_filter(_type="master")
    top.incr("after")
    wait_until(lambda: mid_srv.log().count("Successful partial resynchronization") >= 1)
    wait_until(_synced(top, mid))
    wait_until(_synced(mid, sub))
    assert sub.get("after") == b"1"
    assert _digest(top) == _digest(sub)
    return top, mid, sub


def test_replica_of_a_replica_bocho_only(make_server):
    top_srv = make_server(config={"repl-diskless-sync-delay": "0"})
    mid_srv = make_server(config={"repl-diskless-sync-delay": "0"})
    sub_srv = make_server()
    _chain(top_srv, mid_srv, sub_srv)


def test_redis_replica_of_a_bocho_replica_of_redis(redis_master, make_server):
    """bocho in the middle of two real servers relays the stream byte for byte."""
    top_srv = redis_master()
    mid_srv = make_server(config={"repl-diskless-sync-delay": "0"})
    sub_srv = redis_master()
    top, mid, sub = _chain(top_srv, mid_srv, sub_srv)
    # promoted, the middle keeps its history: the sub-replica continues with it
    mid.execute_command("REPLICAOF", "NO", "ONE")
    mid.set("own", 1)
    wait_until(lambda: sub.get("own") == b"1")
    assert "Successful partial resynchronization" in sub_srv.log()


def test_writable_replica_expires_its_own_keys_only(redis_master, make_server):
    m_srv = redis_master()
    r_srv = make_server(config={"replica-read-only": "no"})
    m, r = m_srv.client(), r_srv.client()
    m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
    _attach(r, m_srv)
    wait_until(_synced(m, r), msg="sync")
    m.set("from_master", 1, px=50)
    r.set("mine", 1, px=50)
    wait_until(_synced(m, r))
    wait_until(lambda: r.dbsize() == 1, msg="own key expired")
    assert r.execute_command("DEBUG", "OBJECT", "from_master")  # still there, logically gone
    assert r.get("from_master") is None


def test_an_error_on_the_masters_command_is_logged(make_server):
    """Data divergence: the replica logs Redis's CRITICAL line (and counts it)."""
    m_srv = make_server(config={"repl-diskless-sync-delay": "0"})
    r_srv = make_server(config={"replica-read-only": "no"})
    m, r = m_srv.client(), r_srv.client()
    _attach(r, m_srv)
    wait_until(_synced(m, r), msg="sync")
    r.set("number2", "foo")
    m.incrby("number2", 1)
    wait_until(_synced(m, r))
    assert r.get("number2") == b"foo"
    wait_until(lambda: "== CRITICAL == This replica is sending an error to its master: "
               "'ERR value is not an integer or out of range' after processing the "
               "command 'incrby'" in r_srv.log())
    assert r.info("stats")["unexpected_error_replies"] == 1


@pytest.mark.parametrize("same_history", [False, True])
def test_diskless_load_is_loading_while_the_payload_comes(redis_master, make_server,
                                                          same_history):
    """Diskless load: LOADING from the payload's first byte; with swapdb on the same
    history (async_loading) the old data is served meanwhile, and kept if it fails."""
    m_srv = redis_master(**{"repl-diskless-sync": "yes"})
    r_srv = make_server(config={"repl-diskless-load": "swapdb"})
    m, r = m_srv.client(), r_srv.client()
    if same_history:
        _attach(r, m_srv)
        wait_until(_synced(m, r), msg="first sync")
    m.execute_command("DEBUG", "POPULATE", 300, "key", 10000)  # past its 16 KB buffer
    m.config_set("rdb-key-save-delay", 10000)  # 10 ms a key: 3 s of payload
    r.config_set("replica-read-only", "no")
    r.set("mykey", "old")
    if same_history:
        # one transaction: the link drops and the backlog overflows before the replica
        # can ask to continue, so its next sync is a full one
        with m.pipeline(transaction=True) as p:
            p.execute_command("CLIENT", "KILL", "TYPE", "replica")
            p.config_set("repl-backlog-size", 16384)
            for i in range(10):
                p.set(f"fill{i}", "A" * 16384)
            p.execute()
    else:
        _attach(r, m_srv)
    field = "async_loading" if same_history else "loading"
    wait_until(lambda: r.info("persistence")[field] == 1, msg=field)
    if same_history:
        assert r.info("persistence")["loading"] == 0
        assert r.get("mykey") == b"old"
        assert r_srv.cli("REPLICAOF", "NO", "ONE").stdout.startswith("LOADING")
        assert r_srv.cli("CONFIG", "SET", "appendonly", "no").stdout.startswith("LOADING")
    else:  # (redis-py retries LOADING: ask with redis-cli)
        assert r_srv.cli("GET", "mykey").stdout.startswith("LOADING")
    m.client_kill_filter(_type="replica")  # abort it
    wait_until(lambda: r.info("persistence")[field] == 0)
    assert r.get("mykey") == b"old"
    m.config_set("rdb-key-save-delay", 0)
    wait_until(_synced(m, r), msg="sync")
    assert r.get("mykey") is None and r.dbsize() == m.dbsize()


def test_sub_replica_gets_the_db_the_relayed_stream_is_in(redis_master, make_server):
    """A replica's own full sync RDB names the db its master's stream has selected
    (repl-stream-db): the relayed stream goes on without a SELECT."""
    top_srv = redis_master()
    mid_srv = make_server(config={"repl-diskless-sync-delay": "0"})
    sub_srv = make_server()
    top, mid, sub = top_srv.client(db=9), mid_srv.client(), sub_srv.client()
    _attach(mid, top_srv)
    top.set("a", 1)
    wait_until(_synced(top, mid), msg="middle synced")
    _attach(sub, mid_srv)
    wait_until(_synced(mid, sub), msg="sub-replica synced")
    top.set("b", 2)  # still db 9: no SELECT in the stream
    wait_until(_synced(top, mid))
    wait_until(_synced(mid, sub))
    assert sub_srv.client(db=9).mget("a", "b") == [b"1", b"2"]
