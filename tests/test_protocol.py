"""The protocol's edges, byte for byte against redis-server: malformed requests get
Redis's protocol error and the connection is closed, while every other client keeps
being served; inline commands; deep pipelines; proto-max-bulk-len and
client-query-buffer-limit."""

import socket
import time

import pytest

from bocho.testing.server import wait_until


def _exchange(srv, data: bytes, wait: float = 0.3) -> bytes:
    """Send raw bytes; everything the server answers until it closes or goes quiet."""
    s = socket.create_connection((srv.host, srv.port), timeout=5)
    s.sendall(data)
    s.settimeout(wait)
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            buf += b"<open>"
            break
        if not chunk:
            buf += b"<closed>"
            break
        buf += chunk
    s.close()
    return buf


CASES = [
    b"\r\n*1\r\n$4\r\nPING\r\n",
    b"*-10\r\n*1\r\n$4\r\nPING\r\n",
    b"*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n",
    b"*3000000000\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
    b"*1\r\n$2000000000\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
    b"*1\r\nfoo\r\n",
    b"*abc\r\n",
    b'set """test-key""" test-value\r\nping\r\n',
    b'set k "a b"\r\nget k\r\n  ping   \r\necho \'x\\\'y\'\r\necho "\\x41\\n"\r\nping\nping\n',
    b"*2\r\n$4\r\nECHO\r\n$4\r\nhel",
    b"x" * 70000,
    b"*" + b"1" * 70000,
    b"*1\r\n$" + b"1" * 70000,
    b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
]


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_malformed_like_redis(server, oracle, data):
    got = _exchange(server, data)
    want = _exchange(oracle, data)
    assert got == want
    # the server goes on serving others
    c = server.client()
    assert c.ping()
    c.close()


def test_desync_garbage_is_refused(server):
    """A '*' header that never ends: Redis gives up after 64 KB of it."""
    s = socket.create_connection((server.host, server.port), timeout=10)
    s.sendall(b"*\x00")
    reply = b""
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            s.sendall(b"payload" * 1000)
    except OSError:
        pass
    s.settimeout(5)
    try:
        reply = s.recv(1000)
    except OSError:
        pass
    s.close()
    assert reply.startswith(b"-ERR Protocol error: too big mbulk count string")


def test_deep_pipeline(server):
    n = 100_000
    s = socket.create_connection((server.host, server.port), timeout=30)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n0\r\n")
    s.sendall(b"*2\r\n$4\r\nINCR\r\n$1\r\np\r\n" * n)
    want = len(b"+OK\r\n") + sum(len(b":%d\r\n" % i) for i in range(1, n + 1))
    got = 0
    while got < want:
        chunk = s.recv(1 << 20)
        assert chunk
        got += len(chunk)
    s.close()
    c = server.client()
    assert c.get("p") == str(n).encode()
    c.close()


def test_proto_max_bulk_len(make_server):
    srv = make_server(config={"proto-max-bulk-len": "1mb"})
    big = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n"
    assert _exchange(srv, big) == b"-ERR Protocol error: invalid bulk length\r\n<closed>"
    ok = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n" + b"v" * 1048576 + b"\r\n"
    assert _exchange(srv, ok, wait=2).startswith(b"+OK\r\n")


def test_client_query_buffer_limit(make_server):
    srv = make_server(config={"client-query-buffer-limit": "1mb"})
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000000\r\n")
    try:
        for _ in range(100):
            s.sendall(b"v" * 65536)
    except OSError:
        pass
    s.close()
    assert srv.wait_for_log("Closing client that reached max query buffer length")
    c = srv.client()
    wait_until(lambda: len(c.client_list()) == 1)
    assert c.get("nbk") is None
    c.close()


@pytest.mark.parametrize("data", [
    b"*3\r\n$3\r\nSET\r\n$3\r\nnbk\r\n:5\r\n",
    b"*3\r\n$3\r\nSET\r\n$3\r\nnbk\r\n$-1\r\n",
    b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n:7\r\n",
    b"*2\r\n$4\r\nECHO\r\n$3\r\na\n:\r\n*1\r\n$4\r\nPING\r\n",
])
def test_non_bulk_items_never_reach_commands(server, oracle, data):
    """Integers and nils inside a request are protocol errors (hiredis would parse them
    into an int / None and a SET could store it)."""
    assert _exchange(server, data) == _exchange(oracle, data)
    c = server.client()
    assert c.get("nbk") is None
    c.close()
