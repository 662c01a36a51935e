"""MULTI/EXEC/DISCARD/WATCH/UNWATCH as Redis 7.0, and the MULTI ... EXEC block a
transaction propagates (seen through a replica's replication stream: SYNC)."""

import pytest
import redis


def test_multi_exec_basics(r):
    p = r.pipeline(transaction=True)
    p.set("k", "1").incr("k").get("k")
    assert p.execute() == [True, 2, b"2"]


def test_nested_multi_and_exec_without_multi(r):
    with pytest.raises(redis.ResponseError, match="^EXEC without MULTI$"):
        r.execute_command("exec")
    with pytest.raises(redis.ResponseError, match="^DISCARD without MULTI$"):
        r.execute_command("discard")
    r.execute_command("multi")
    with pytest.raises(redis.ResponseError, match="^MULTI calls can not be nested$"):
        r.execute_command("multi")
    with pytest.raises(redis.ResponseError, match="^WATCH inside MULTI is not allowed$"):
        r.execute_command("watch", "x")
    assert r.execute_command("exec") == []


def test_queue_errors_abort(r):
    r.execute_command("multi")
    r.execute_command("set", "a", "1")
    assert r.execute_command("echo", "x") == b"QUEUED"
    with pytest.raises(redis.ResponseError, match="unknown command"):
        r.execute_command("nosuchcmd")
    with pytest.raises(redis.ResponseError,
                       match="^Transaction discarded because of previous errors"):
        r.execute_command("exec")
    assert r.get("a") is None
    # a refused EXEC aborts with its own reason
    r.execute_command("multi")
    with pytest.raises(redis.ResponseError, match="^Transaction discarded because of: "
                       "wrong number of arguments for 'exec' command$"):
        r.execute_command("exec", "x")
    with pytest.raises(redis.ResponseError, match="EXEC without MULTI"):
        r.execute_command("exec")


def test_runtime_errors_do_not_abort(r):
    r.set("s", "notanumber")
    p = r.pipeline(transaction=True)
    p.incr("s").set("t", "1")
    res = p.execute(raise_on_error=False)
    assert isinstance(res[0], redis.ResponseError) and res[1] is True
    assert r.get("t") == b"1"


def test_watch(r, server):
    other = server.client()
    r.execute_command("watch", "w")
    other.set("w", "changed")
    r.execute_command("multi")
    r.execute_command("set", "w", "mine")
    assert r.execute_command("exec") is None
    assert r.get("w") == b"changed"
    # untouched watch: EXEC runs; the key is unwatched afterwards
    r.execute_command("watch", "w")
    r.execute_command("multi")
    r.execute_command("ping")
    assert r.execute_command("exec") == [b"PONG"]
    other.set("w", "again")
    r.execute_command("multi")
    assert r.execute_command("exec") == []
    # UNWATCH and DISCARD clear it
    r.execute_command("watch", "w")
    other.set("w", "x")
    r.execute_command("unwatch")
    r.execute_command("multi")
    assert r.execute_command("exec") == []
    other.close()


def test_watch_db_and_flush(r, server):
    other = server.client()
    r.execute_command("watch", "k")
    other.execute_command("select", "1")
    other.set("k", "v")  # another db: no effect
    r.execute_command("multi")
    assert r.execute_command("exec") == []
    r.set("k", "1")
    r.execute_command("watch", "k")
    other.flushall()
    r.execute_command("multi")
    assert r.execute_command("exec") is None
    other.close()


def test_watch_expired_key(r):
    r.execute_command("debug", "set-active-expire", "0")
    try:
        r.set("x", "foo", px=1)
        import time
        time.sleep(0.01)
        r.execute_command("watch", "x")
        r.execute_command("multi")
        r.execute_command("ping")
        assert r.execute_command("exec") == [b"PONG"]
    finally:
        r.execute_command("debug", "set-active-expire", "1")


def test_reset_clears_transaction(r):
    r.execute_command("multi")
    r.execute_command("set", "z", "1")
    assert r.execute_command("reset") in (b"RESET", "RESET")
    with pytest.raises(redis.ResponseError, match="EXEC without MULTI"):
        r.execute_command("exec")
    assert r.get("z") is None


def _read_stream(sock, want: list[bytes], timeout=5.0) -> bytes:
    import time
    buf = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline and not all(w in buf for w in want):
        try:
            buf += sock.recv(65536)
        except OSError:
            pass
    return buf


def test_propagation_as_multi_exec_block(server, r):
    """A transaction with several writes reaches replicas wrapped in MULTI/EXEC; a single
    write goes alone."""
    import socket
    s = socket.create_connection((server.host, server.port), timeout=5)
    s.sendall(b"SYNC\r\n")
    try:
        first = _read_stream(s, [b"\r\n"], timeout=3)
    except OSError:
        first = b""
    if not first or first.startswith(b"-"):
        s.close()
        pytest.skip("replication stream (SYNC) not available yet")
    p = r.pipeline(transaction=True)
    p.set("a", "1").get("a").set("b", "2")
    p.execute()
    r.set("c", "3")
    data = _read_stream(s, [b"$1\r\nc\r\n"])
    s.close()
    i = data.find(b"MULTI")
    assert i >= 0, data
    assert data.find(b"$1\r\na\r\n", i) < data.find(b"$1\r\nb\r\n", i) < data.find(b"EXEC", i)
    assert data.count(b"MULTI") == 1
