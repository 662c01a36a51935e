"""Connection commands (PING, ECHO, SELECT, AUTH, HELLO, RESET, QUIT), requirepass,
protected-mode, maxclients and the idle timeout, checked against redis-server's texts."""

import socket
import time

import pytest
import redis

from bocho.testing.server import ServerProcess, wait_until


def _raw(srv, host=None):
    return socket.create_connection((host or srv.host, srv.port), timeout=5)


def _ask(s, data: bytes, until: bytes = b"\r\n") -> bytes:
    s.sendall(data)
    buf = b""
    while not buf.endswith(until):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


@pytest.mark.parametrize("cmd", [
    b"PING a b\r\n", b"ECHO\r\n", b"SELECT x\r\n", b"SELECT 99\r\n", b"AUTH x\r\n",
    b"AUTH a b c\r\n", b"HELLO 4\r\n", b"HELLO x\r\n", b"HELLO 3 foo\r\n",
    b"PING\r\n", b"PING hi\r\n", b"ECHO hi\r\n",
])
def test_connection_replies_like_redis(server, oracle, cmd):
    replies = []
    for srv in (server, oracle):
        s = _raw(srv)
        replies.append(_ask(s, cmd))
        s.close()
    assert replies[0] == replies[1]


def test_hello_resp3_map_and_setname(r3):
    info = r3.execute_command("hello", "3", "setname", "conn1")
    assert info[b"proto"] == 3 and info[b"server"] == b"redis" and info[b"modules"] == []
    assert info[b"mode"] == b"standalone" and info[b"role"] == b"master"
    assert r3.execute_command("client", "getname") == b"conn1"


def test_requirepass(make_server):
    srv = make_server(config={"requirepass": "s3cret"})
    s = _raw(srv)
    assert _ask(s, b"GET k\r\n") == b"-NOAUTH Authentication required.\r\n"
    assert _ask(s, b"AUTH wrong\r\n") == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
    assert _ask(s, b"HELLO 3\r\n").startswith(b"-NOAUTH HELLO must be called with the client "
                                              b"already authenticated")
    assert _ask(s, b"AUTH s3cret\r\n") == b"+OK\r\n"
    assert _ask(s, b"GET k\r\n") == b"$-1\r\n"
    assert _ask(s, b"RESET\r\n") == b"+RESET\r\n"
    assert _ask(s, b"GET k\r\n") == b"-NOAUTH Authentication required.\r\n"
    assert _ask(s, b"HELLO 2 AUTH default s3cret\r\n", b"*0\r\n").startswith(b"*14\r\n")
    s.close()
    # unauthenticated limits: at most 10 arguments, 16 KB bulks
    s = _raw(srv)
    assert _ask(s, b"*11\r\n") == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    s.close()
    s = _raw(srv)
    assert _ask(s, b"*1\r\n$16385\r\n") == b"-ERR Protocol error: unauthenticated bulk length\r\n"
    s.close()


def test_auth_without_password(r):
    with pytest.raises(redis.RedisError, match="AUTH <password> called without any "
                       "password configured for the default user"):
        r.execute_command("auth", "x")


def test_quit_stops_pipeline(server):
    s = _raw(server)
    s.sendall(b"*1\r\n$4\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$4\r\nqkey\r\n$1\r\nv\r\n")
    assert s.recv(100) == b"+OK\r\n"
    assert s.recv(100) == b""
    s.close()
    c = server.client()
    assert c.get("qkey") is None
    c.close()


def test_select_and_reset(r):
    r.execute_command("select", "3")
    r.set("in3", "1")
    r.execute_command("client", "setname", "x")
    assert r.execute_command("reset") in (b"RESET", "RESET")
    assert r.get("in3") is None and r.execute_command("client", "getname") is None


def test_maxclients(make_server):
    srv = make_server(config={"maxclients": "3"})
    held = [_raw(srv) for _ in range(3)]
    for s in held:
        assert _ask(s, b"PING\r\n") == b"+PONG\r\n"
    extra = _raw(srv)
    assert extra.recv(100) == b"-ERR max number of clients reached\r\n"
    extra.close()
    held.pop().close()
    wait_until(lambda: _ask(_raw(srv), b"PING\r\n") == b"+PONG\r\n")
    for s in held:
        s.close()


def test_idle_timeout(make_server):
    srv = make_server(config={"timeout": "1"})
    s = _raw(srv)
    assert _ask(s, b"PING\r\n") == b"+PONG\r\n"
    s.settimeout(10)
    t0 = time.monotonic()
    assert s.recv(100) == b""  # closed by the server's cron
    assert time.monotonic() - t0 >= 0.9
    sub = _raw(srv)
    _ask(sub, b"SUBSCRIBE ch\r\n", b":1\r\n")
    time.sleep(2.5)
    assert _ask(sub, b"PING\r\n", b"\r\n\r\n") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    sub.close()


def _external_ip() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(("192.0.2.1", 9))
            ip = u.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


def test_protected_mode():
    ip = _external_ip()
    if ip is None:
        pytest.skip("no non-loopback address to connect from")
    srv = ServerProcess(config={"bind": "*", "protected-mode": "yes"})
    srv.start()
    try:
        s = _raw(srv, ip)
        data = _ask(s, b"PING\r\n")
        assert data.startswith(b"-DENIED Redis is running in protected mode")
        s.close()
        lo = _raw(srv, "127.0.0.1")
        assert _ask(lo, b"PING\r\n") == b"+PONG\r\n"
        lo.close()
    finally:
        srv.cleanup()
