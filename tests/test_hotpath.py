"""The request fast path (network.Client.process_input, GET/SET): pipelining, requests
split across reads, inline after RESP, errors in unfinished requests, accounting.
Byte-exact replies are compared with the real redis-server where it runs."""

from __future__ import annotations

import socket

import pytest
from raw import cmd, recv_until

from bocho.testing.server import wait_until


class Raw:
    """A raw connection: send bytes, read until an expected amount or EOF."""

    def __init__(self, srv) -> None:
        self.sock = socket.create_connection((srv.host, srv.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, n: int, timeout: float = 10) -> bytes:
        """Exactly n bytes, or what came before EOF/timeout."""
        return recv_until(self.sock, lambda buf: len(buf) >= n, timeout)

    def read_until_closed(self, timeout: float = 10) -> bytes:
        return self.read(1 << 30, timeout)

    def close(self) -> None:
        self.sock.close()


def exchange(srv, data: bytes, expect_len: int | None = None, closes: bool = False) -> bytes:
    c = Raw(srv)
    try:
        c.send(data)
        return c.read_until_closed() if closes else c.read(expect_len or 1)
    finally:
        c.close()


def test_pipeline_replies_in_order(server, r):
    big = b"v" * 5000  # past the preallocated bulk headers
    reqs = []
    for i in range(200):
        reqs.append(cmd("SET", f"k{i}", f"value{i}"))
        reqs.append(cmd("GET", f"k{i}"))
    reqs.append(cmd("SET", "big", big))
    reqs.append(cmd("GET", "big"))
    reqs.append(cmd("GET", "missing"))
    expected = b"".join(b"+OK\r\n" + b"$%d\r\nvalue%d\r\n" % (len(b"value%d" % i), i)
                        for i in range(200))
    expected += b"+OK\r\n" + b"$5000\r\n" + big + b"\r\n" + b"$-1\r\n"
    assert exchange(server, b"".join(reqs), len(expected)) == expected


def test_get_of_modified_string(r):
    r.set("s", "abc")
    r.append("s", "def")  # a bytearray inside
    assert r.get("s") == b"abcdef"


def test_request_split_at_every_byte(server, r):
    data = cmd("SET", "k", "hello") + cmd("GET", "k") + cmd("PING")
    expected = b"+OK\r\n$5\r\nhello\r\n+PONG\r\n"
    for i in range(1, len(data)):
        c = Raw(server)
        try:
            c.send(data[:i])
            c.send(data[i:])
            assert c.read(len(expected)) == expected, i
        finally:
            c.close()


def test_request_sent_byte_by_byte(server, r):
    data = cmd("SET", "k", "x" * 40) + cmd("GET", "k")
    c = Raw(server)
    try:
        for b in data:
            c.send(bytes([b]))
        expected = b"+OK\r\n$40\r\n" + b"x" * 40 + b"\r\n"
        assert c.read(len(expected)) == expected
    finally:
        c.close()


def _both(server, oracle, data: bytes, closes: bool = True) -> tuple[bytes, bytes]:
    return exchange(server, data, closes=closes), exchange(oracle, data, closes=closes)


def test_inline_after_resp_on_same_connection(server, oracle):
    for srv in (server, oracle):
        c = Raw(srv)
        try:
            c.send(cmd("PING"))
            assert c.read(7) == b"+PONG\r\n"
            c.send(b"ECHO hello\r\n")
            assert c.read(11) == b"$5\r\nhello\r\n"
            c.send(cmd("PING"))
            assert c.read(7) == b"+PONG\r\n"
        finally:
            c.close()


def test_commands_after_quit_are_not_run(server, r):
    got = exchange(server, cmd("QUIT") + cmd("SET", "after-quit", "1"), closes=True)
    assert got == b"+OK\r\n"
    assert r.get("after-quit") is None


@pytest.mark.parametrize("tail", [
    b"*1\r\n$2000000000\r\n",  # bulk length over proto-max-bulk-len
    b"*3000000000\r\n",  # multibulk count out of range
    b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",  # negative bulk length
    b"*1\r\nfoo\r\n",  # bulk header expected
])
def test_bad_header_of_unfinished_request(server, oracle, tail):
    """The error comes as soon as the header arrives, also behind complete requests
    sent in the same write."""
    for prefix in (b"", cmd("PING")):
        ours, theirs = _both(server, oracle, prefix + tail)
        assert ours == theirs
        assert b"Protocol error" in ours


def test_unauthenticated_limits(make_server):
    srv = make_server(config={"requirepass": "secret"})
    assert b"unauthenticated multibulk length" in exchange(srv, b"*100\r\n", closes=True)
    assert b"unauthenticated bulk length" in exchange(srv, b"*1\r\n$100000000\r\n", closes=True)


def test_pipelined_commands_are_counted_and_timed(server, r):
    r.config_resetstat()
    exchange(server, cmd("SET", "a", "1") * 50 + cmd("GET", "a") * 70, 50 * 5 + 70 * 7)
    stats = r.info("commandstats")
    assert stats["cmdstat_set"]["calls"] == 50
    assert stats["cmdstat_get"]["calls"] == 70
    assert stats["cmdstat_get"]["usec"] >= 0


def test_slowlog_sees_each_pipelined_command(server, r):
    r.config_set("slowlog-log-slower-than", 0)
    try:
        r.slowlog_reset()
        exchange(server, b"".join(cmd("GET", f"slow{i}") for i in range(5)), 5 * 5)
        wait_until(lambda: r.slowlog_len() >= 5, msg="slowlog entries")
        args = [e["command"] for e in r.slowlog_get(10)]
        for i in range(5):
            assert b"GET slow%d" % i in args
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
