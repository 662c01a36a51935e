"""Raw-socket helpers for tests that need the bytes on the wire: encoding a request and
reading replies until a condition, EOF or a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


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
