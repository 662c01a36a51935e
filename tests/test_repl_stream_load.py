"""Replication under pipelined load: the compiled loop runs a master's commands itself
while a replica is attached (the writes it runs leave through the stream in order, a
MULTI/EXEC or a script's effects as one block), a replica's master client runs the
stream's plain commands through it (offsets moved per run), and a replica's clients
keep the fast path for reads while writes are still refused. Real redis-server replies
are the oracle for what a replica answers."""

from __future__ import annotations

import socket

from conftest import redis_server_binary
from raw import cmd, recv_until

from bocho.testing.server import wait_until


def _pipeline(port: int, requests: list[bytes], replies: int) -> bytes:
    """Send every request in one write; the raw replies once `replies` have come."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"".join(requests))
        return recv_until(s, lambda b: _count(b) >= replies, timeout=20)


def _count(buf: bytes) -> int:
    """Top-level replies in buf (status, error, integer and bulk replies, and arrays of
    those as EXEC answers)."""
    n = pos = 0
    while pos < len(buf):
        pos = _skip(buf, pos)
        if pos < 0:
            break
        n += 1
    return n


def _skip(buf: bytes, pos: int) -> int:
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return -1
    kind, head = buf[pos:pos + 1], buf[pos + 1:nl]
    pos = nl + 2
    if kind == b"$" and int(head) >= 0:
        pos += int(head) + 2
        return pos if pos <= len(buf) else -1
    if kind == b"*" and int(head) > 0:
        for _ in range(int(head)):
            pos = _skip(buf, pos)
            if pos < 0:
                return -1
    return pos


def _offsets_equal(mc, rc) -> bool:
    return (rc.info("replication").get("slave_repl_offset")
            == mc.info("replication")["master_repl_offset"])


def _load(i: int) -> list[bytes]:
    """One round of writes of several kinds: plain SET/INCR/MSET (run in C), handlers
    (RPUSH, HSET, SET with options, DEL), a failing write (not propagated), a SELECT, a
    transaction and a script."""
    k = b"k%d" % i
    return [cmd("SET", k, b"v%d" % i), cmd("INCR", "counter"), cmd("MSET", k + b"a", 1, k + b"b", 2),
            cmd("RPUSH", "list", i), cmd("HSET", "h", k, i), cmd("SET", k + b"x", i, "PX", 500000),
            cmd("INCR", "list"), cmd("SELECT", 3), cmd("SET", k, "three"), cmd("SELECT", 0),
            cmd("MULTI"), cmd("INCR", "counter"), cmd("SET", k + b"m", "multi"), cmd("EXEC"),
            cmd("EVAL", "redis.call('incr', KEYS[1]); return redis.call('set', KEYS[2], 'e')",
                2, "counter", k + b"e"),
            cmd("DEL", k + b"b")]


def _dump(c) -> dict:
    out = {}
    for db in (0, 3):
        c.execute_command("SELECT", db)
        for k in c.keys("*"):
            t = c.type(k)
            v = (c.get(k) if t == b"string" else c.lrange(k, 0, -1) if t == b"list"
                 else sorted(c.hgetall(k).items()))
            out[(db, k)] = (t, v, c.pttl(k) > 0)
    c.execute_command("SELECT", 0)
    return out


def test_pipelined_writes_reach_replica_with_same_offset(make_server):
    master = make_server()
    mc = master.client()
    replica = make_server(config={"replicaof": ["127.0.0.1", str(master.port)]})
    rc = replica.client()
    wait_until(lambda: rc.info("replication").get("master_link_status") == "up",
               timeout=20, msg="link up")
    requests = [r for i in range(300) for r in _load(i)]
    got = _pipeline(master.port, requests, len(requests))
    assert _count(got) == len(requests)
    assert got.count(b"-WRONGTYPE") == 300
    wait_until(lambda: _offsets_equal(mc, rc), timeout=20, msg="replica offset = master's")
    assert _dump(rc) == _dump(mc)
    assert int(mc.get("counter")) == 900
    assert mc.info("stats")["sync_full"] == 1  # one stream all along
    assert "CRITICAL" not in replica.log()
    # REPLCONF GETACK in the stream is answered (not run as a command): WAIT returns
    # before the replica's once-a-second ACK would have come, each time
    for i in range(3):
        _pipeline(master.port, _load(1000 + i), 16)
        assert mc.execute_command("WAIT", 1, 900) == 1


def test_stream_bytes_of_pipelined_writes(server, r):
    """A master's stream under a pipeline: one SELECT, then the commands as they came,
    the transaction and the script each wrapped in MULTI/EXEC."""
    r.config_set("repl-ping-replica-period", 3600)
    s = socket.create_connection(("127.0.0.1", server.port))
    try:
        s.sendall(b"SYNC\r\n")
        head = recv_until(s, lambda b: b.lstrip(b"\n").find(b"\r\n") > 0, timeout=10)
        line, rest = head.lstrip(b"\n").split(b"\r\n", 1)
        n = int(line[1:])
        recv_until(s, lambda b: len(rest) + len(b) >= n, timeout=10)
        reqs = [cmd("SET", f"a{i}", i) for i in range(16)]
        reqs += [cmd("MULTI"), cmd("SET", "t", 1), cmd("INCR", "t"), cmd("EXEC"),
                 cmd("EVAL", "redis.call('set', 'x', 1); redis.call('incr', 'x')", 0),
                 cmd("MSET", "m1", "1", "m2", "2"), cmd("GET", "a1"), cmd("INCR", "a1")]
        _pipeline(server.port, reqs, len(reqs))
        got = recv_until(s, lambda b: b.endswith(cmd("INCR", "a1")), timeout=10)
        got = got.replace(cmd("PING"), b"")
        want = cmd("SELECT", "0") + b"".join(reqs[:16])
        want += cmd("MULTI") + cmd("SET", "t", 1) + cmd("INCR", "t") + cmd("EXEC")
        want += cmd("MULTI") + cmd("set", "x", 1) + cmd("incr", "x") + cmd("EXEC")
        want += cmd("MSET", "m1", "1", "m2", "2") + cmd("INCR", "a1")
        assert got == want
    finally:
        s.close()


def _replica_pair(make_server, binary=None):
    kw = {"binary": binary} if binary else {}
    master = make_server(**kw)
    replica = make_server(config={"replicaof": ["127.0.0.1", str(master.port)]}, **kw)
    rc = replica.client()
    wait_until(lambda: rc.info("replication").get("master_link_status") == "up",
               timeout=20, msg="link up")
    master.client().set("k", "v")
    wait_until(lambda: rc.get("k") == b"v", msg="k replicated")
    return replica


def test_replica_refuses_writes_among_pipelined_reads(make_server):
    """READONLY for each write of a pipeline of reads, in MULTI too (EXECABORT), as a
    redis-server replica answers the same bytes."""
    reqs = [cmd("GET", "k"), cmd("SET", "k", "x"), cmd("GET", "k"), cmd("INCR", "n"),
            cmd("MSET", "a", 1, "b", 2), cmd("EXISTS", "k"), cmd("MULTI"), cmd("GET", "k"),
            cmd("SET", "k", "y"), cmd("EXEC"), cmd("MULTI"), cmd("GET", "k"), cmd("EXEC"),
            cmd("EVAL", "return redis.call('get', KEYS[1])", 1, "k"), cmd("GET", "k")]
    answers = {}
    for name, binary in (("bocho", None), ("redis", redis_server_binary())):
        replica = _replica_pair(make_server, binary)
        answers[name] = _pipeline(replica.port, reqs * 4, len(reqs) * 4)
    assert answers["bocho"].count(b"-READONLY") == 4 * 4
    assert answers["bocho"] == answers["redis"]
