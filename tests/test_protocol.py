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
    return _exchange_parts(srv, [data], wait)


def _exchange_parts(srv, parts: list[bytes], wait: float = 0.3) -> bytes:
    """Like _exchange, with each part in its own send (a pause between them makes the
    server see separate reads; the answer must not depend on where reads split)."""
    s = socket.create_connection((srv.host, srv.port), timeout=5)
    try:
        for i, part in enumerate(parts):
            if i:
                time.sleep(0.05)
            s.sendall(part)
        s.settimeout(wait)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                return buf + b"<open>"
            if not chunk:
                return buf + b"<closed>"
            buf += chunk
    finally:
        s.close()


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
    # empty lines between requests are skipped (redis-cli --pipe), inside one refused
    b"*1\r\n$4\r\nPING\r\n\r\n*1\r\n$4\r\nPING\r\n\n*2\r\n$4\r\nECHO\r\n$2\r\n\r\n\r\n",
    b"*2\r\n$4\r\nECHO\r\n$3\r\na\n\n\r\n\r\n\r\n*1\r\n$4\r\nPING\r\n",
    b"*2\r\n\r\n$4\r\nECHO\r\n$1\r\nx\r\n",
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


@pytest.mark.parametrize("value", [b"*-a2", b"*12", b"*x2", b"*-1", b"*9999999"])
def test_payload_that_looks_like_a_header(server, oracle, value):
    """A last argument shaped like a multibulk header ("*-a2") is a payload: the
    request runs and the connection stays open."""
    data = b"*3\r\n$3\r\nSET\r\n$2\r\npk\r\n$%d\r\n%s\r\n" % (len(value), value)
    got = _exchange(server, data)
    assert got == _exchange(oracle, data) == b"+OK\r\n<open>"


@pytest.mark.parametrize("inside", [b"$-", b"*-1", b"\n:", b"*1234567", b"\n\n"])
def test_odd_bytes_in_a_payload_split_across_reads(server, inside):
    """A payload holding what looks like an odd item, its read ending before the
    payload does: the rest of the read is not a header to check (the MSETs of random
    binary values the replication suite sends)."""
    value = b"ab" + inside + b"cd\r\n" + b"x" * 3000
    data = b"*3\r\n$3\r\nSET\r\n$2\r\nbv\r\n$%d\r\n%s\r\n" % (len(value), value)
    assert _exchange_parts(server, [data[:1500], data[1500:]]) == b"+OK\r\n<open>"
    c = server.client()
    assert c.get("bv") == value
    c.close()


NESTED_SET = b"*3\r\n$3\r\nSET\r\n$3\r\nnak\r\n*1\r\n$1\r\nx\r\n"
PING = b"*1\r\n$4\r\nPING\r\n"
STAR_ECHO = b"*2\r\n$4\r\nECHO\r\n$3\r\na*b\r\n"


@pytest.mark.parametrize("parts", [
    [NESTED_SET],
    [PING + NESTED_SET + PING],
    [STAR_ECHO + NESTED_SET],
    [NESTED_SET[:20], NESTED_SET[20:]],
    [STAR_ECHO + NESTED_SET[:20], NESTED_SET[20:]],
    [STAR_ECHO + b"*2\r\n$4\r\nECHO\r\n$2\r\n**\r\n" + NESTED_SET[:20], NESTED_SET[20:]],
    [b"*1\r\n*1\r\n$4\r\nPING\r\n"],
    [b"*3\r\n$3\r\nSET\r\n$3\r\nnak\r\n*0\r\n"],
    [b"*3\r\n$3\r\nSET\r\n$3\r\nnak\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"],
    # payload stars, then clean requests split across reads: all served
    [STAR_ECHO + b"*3\r\n$3\r\nSET\r\n$3\r\nnak\r\n$2\r\n*",
     b"*\r\n" + PING, b"*2\r\n$3\r\nGET\r\n$3\r\nnak\r\n"],
])
def test_nested_arrays_are_protocol_errors(server, oracle, parts):
    """An array inside a request is refused as Redis does (the error, then the
    connection closes); what came before it runs, what follows does not."""
    for srv in (server, oracle):
        c = srv.client()
        c.delete("nak")
        c.close()
    got = _exchange_parts(server, parts)
    assert got == _exchange_parts(oracle, parts)
    if b"*1\r\n$1\r\nx" in b"".join(parts):
        assert got.endswith(b"-ERR Protocol error: expected '$', got '*'\r\n<closed>")
        c = server.client()
        assert c.get("nak") is None
        c.close()


def test_nested_array_reply_and_close(server):
    c = server.client()
    c.delete("nak")
    got = _exchange(server, PING + NESTED_SET)
    assert got == b"+PONG\r\n-ERR Protocol error: expected '$', got '*'\r\n<closed>"
    assert c.get("nak") is None
    assert c.ping()
    c.close()


RESP3_ITEMS = [b"#t", b",1.5", b"+hi", b"-err", b"_", b"(123", b"=7\r\ntxt:abc",
               b"%1\r\n$1\r\na\r\n$1\r\nb", b"~1\r\n$1\r\na", b">1\r\n$1\r\na",
               b"|1\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc", b"!3\r\nerr"]


@pytest.mark.parametrize("item", RESP3_ITEMS, ids=[i[:2].decode() for i in RESP3_ITEMS])
@pytest.mark.parametrize("where", ["argument", "between", "split"])
def test_resp3_items_in_requests_like_redis(server, oracle, item, where):
    """A RESP3 item where a request needs a bulk string is Redis's protocol error (hiredis
    would hand the command a bool, a float, None...); the same bytes between requests
    are an inline command."""
    if where == "argument":
        parts = [b"*2\r\n$4\r\nECHO\r\n" + item + b"\r\n" + PING]
    elif where == "between":
        parts = [PING + item + b"\r\n" + PING]
    else:  # the item starts the second read, the request begun in the first
        parts = [b"*2\r\n$4\r\nECHO\r\n", item + b"\r\n" + PING]
    assert _exchange_parts(server, parts) == _exchange_parts(oracle, parts)
    assert server.client().ping()


def test_redis_cli_pipe_mass_insert(server):
    """redis-cli --pipe (mass insertion) loads inline and RESP input unchanged."""
    lines = "".join(f"SET pipe:{i} {i}\r\n" for i in range(200)) + "INCR pipe:7\r\n"
    res = server.cli("--pipe", input=lines, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "errors: 0, replies: 201" in res.stdout
    c = server.client()
    assert c.get("pipe:7") == b"8" and c.get("pipe:199") == b"199"
    c.close()


def test_inline_pipeline_split_across_reads(server):
    """unit/other's PIPELINING stresser: thousands of inline commands in one write reach
    the server in reads that end in the middle of a line; the partial line waits for its
    end instead of going to the RESP parser."""
    n = 20000
    req = b"".join(b"SET pipe:%d %d\r\nGET pipe:%d\r\n" % (i, i, i) for i in range(n))
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(req)
        got = b""
        while got.count(b"\r\n") < 3 * n:
            chunk = s.recv(1 << 20)
            assert chunk, got[-200:]
            got += chunk
    assert b"-ERR" not in got
    assert got.endswith(b"$5\r\n%d\r\n" % (n - 1))
