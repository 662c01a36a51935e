"""Low-level client helpers: raw-socket ones for tests that need the bytes on the wire
(encoding a request, reading replies until a condition, EOF or a deadline), and the
deferring client of blocking-command tests (send now, read the reply later)."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from bocho.testing.server import wait_until


def cmd(*args) -> bytes:
    """One RESP request: str and int arguments are encoded, bytes are sent as they are."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def recv_until(sock, done: Callable[[bytes], bool], timeout: float = 5.0) -> bytes:
    """What the server sends until done(bytes so far), EOF, or `timeout` seconds."""
    buf = b""
    deadline = time.monotonic() + timeout
    while not done(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(max(0.01, left))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


class Deferred:
    """A connection that sends a command now and reads its reply later (the TCL
    suite's deferring client). An error reply reads as ("error", text)."""

    def __init__(self, server, protocol=2):
        self.conn = redis.Connection(host=server.host, port=server.port, protocol=protocol)
        self.conn.connect()

    def send(self, *args):
        self.conn.send_command(*args)

    def read(self, timeout=5):
        if not self.conn.can_read(timeout=timeout):
            raise AssertionError("no reply")
        try:
            return self.conn.read_response()
        except redis.ResponseError as e:
            return ("error", str(e))

    def pending(self, timeout=0.05) -> bool:
        return self.conn.can_read(timeout=timeout)

    def id(self):
        self.send("CLIENT", "ID")
        return self.read()

    def close(self):
        self.conn.disconnect()


def blocked(r) -> int:
    return int(r.info("clients")["blocked_clients"])


def wait_blocked(r, n=1):
    wait_until(lambda: blocked(r) == n, msg=f"{n} blocked clients")


def swallow(fn, *args) -> None:
    """Call fn, ignoring the Redis error it ends with (a script killed, a server gone)."""
    try:
        fn(*args)
    except redis.RedisError:
        pass


def script_busy(r) -> bool:
    """Whether r is answered BUSY: a script or function runs past busy-reply-threshold
    (redis-py raises BusyLoadingError for it, or a ResponseError)."""
    try:
        r.ping()
    except redis.ResponseError as e:
        return isinstance(e, redis.exceptions.BusyLoadingError) or "BUSY" in str(e) \
            or "busy" in str(e)
    return False
