"""Pub/sub: SUBSCRIBE family, PUBLISH, PUBSUB introspection, RESP2 subscribed-mode
restrictions, RESP3 pushes, keyspace notifications and slow subscribers."""

import socket
import time

import pytest
import redis
from raw import cmd, recv_until

from bocho.testing.server import wait_until


def _next_message(p, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.1)
        if m is not None:
            return m
    raise AssertionError("no message")


def test_subscribe_publish_and_counts(r, server):
    p = r.pubsub()
    p.subscribe("c1", "c2")
    assert _next_message(p) == {"type": "subscribe", "pattern": None, "channel": b"c1", "data": 1}
    assert _next_message(p)["data"] == 2
    p.psubscribe("h?llo")
    assert _next_message(p) == {"type": "psubscribe", "pattern": None, "channel": b"h?llo",
                                "data": 3}
    other = server.client()
    assert other.publish("c1", "m1") == 1
    assert other.publish("hello", "m2") == 1
    assert other.publish("nobody", "m3") == 0
    assert _next_message(p) == {"type": "message", "pattern": None, "channel": b"c1",
                                "data": b"m1"}
    assert _next_message(p) == {"type": "pmessage", "pattern": b"h?llo", "channel": b"hello",
                                "data": b"m2"}
    assert sorted(other.pubsub_channels()) == [b"c1", b"c2"]
    assert other.pubsub_channels("c1*") == [b"c1"]
    assert other.pubsub_numsub("c1", "zz") == [(b"c1", 1), (b"zz", 0)]
    assert other.pubsub_numpat() == 1
    p.unsubscribe()
    p.punsubscribe()
    wait_until(lambda: other.pubsub_numpat() == 0 and other.pubsub_channels() == [])
    p.close()
    other.close()


def _raw(server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    return s


def _read_until(s, want: bytes, timeout=5.0) -> bytes:
    return recv_until(s, lambda buf: want in buf, timeout)


def test_resp2_subscribed_context_restrictions(server):
    s = _raw(server)
    s.sendall(cmd("subscribe", "x"))
    assert _read_until(s, b":1\r\n") == b"*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n"
    s.sendall(cmd("get", "k"))
    assert _read_until(s, b"\r\n") == (
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        b"RESET are allowed in this context\r\n")
    s.sendall(cmd("ping"))
    assert _read_until(s, b"\r\n\r\n") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    s.sendall(cmd("unsubscribe"))
    assert _read_until(s, b":0\r\n") == b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:0\r\n"
    s.sendall(cmd("unsubscribe"))
    assert _read_until(s, b":0\r\n") == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    s.sendall(cmd("ping"))
    assert _read_until(s, b"\r\n") == b"+PONG\r\n"
    s.close()


def test_resp3_push_and_commands_while_subscribed(server):
    s = _raw(server)
    s.sendall(cmd("hello", "3"))
    assert b"proto" in _read_until(s, b"modules\r\n*0\r\n")
    s.sendall(cmd("subscribe", "ch"))
    assert _read_until(s, b":1\r\n").endswith(b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
    s.sendall(cmd("set", "k", "v"))
    assert _read_until(s, b"+OK\r\n").endswith(b"+OK\r\n")
    s.sendall(cmd("publish", "ch", "hi"))
    got = _read_until(s, b":1\r\n")
    assert got == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:1\r\n"
    s.close()


def test_keyspace_notifications(r, server):
    r.config_set("notify-keyspace-events", "KEA")
    try:
        p = r.pubsub()
        p.psubscribe("__key*__:*")
        _next_message(p)
        other = server.client()
        other.set("foo", "bar")
        other.delete("foo")
        msgs = [_next_message(p) for _ in range(4)]
        assert [(m["channel"], m["data"]) for m in msgs] == [
            (b"__keyspace@0__:foo", b"set"), (b"__keyevent@0__:set", b"foo"),
            (b"__keyspace@0__:foo", b"del"), (b"__keyevent@0__:del", b"foo")]
        r.config_set("notify-keyspace-events", "")
        other.set("foo", "bar")
        assert p.get_message(timeout=0.3) is None
        p.close()
        other.close()
    finally:
        r.config_set("notify-keyspace-events", "")


def test_pubsub_errors(r):
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'subscribe'"):
        r.execute_command("subscribe")
    with pytest.raises(redis.ResponseError, match="unknown subcommand 'foo'. Try PUBSUB HELP"):
        r.execute_command("pubsub", "foo")


def test_slow_subscriber_is_disconnected(make_server):
    srv = make_server(config={"client-output-buffer-limit": ["pubsub", "1mb", "0", "0"]})
    sub = socket.socket()
    sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sub.connect((srv.host, srv.port))
    sub.sendall(cmd("subscribe", "big"))
    time.sleep(0.2)
    pub = srv.client()
    payload = b"x" * 100_000
    for _ in range(200):
        if pub.publish("big", payload) == 0:
            break
    wait_until(lambda: pub.publish("big", b"x") == 0, msg="subscriber dropped")
    assert pub.ping()
    assert srv.wait_for_log("for overcoming of output buffer limits")
    sub.close()
    pub.close()
