"""Opening one TCP listening socket for a `bind` address: shared by start-up
(Server.listen) and CONFIG SET port/bind, so both treat addresses the same way."""

from __future__ import annotations

import socket

from bocho import log

# errno values meaning "this address family / address is not available here":
# EAFNOSUPPORT, EADDRNOTAVAIL, EINVAL. An optional ('-' prefixed) address skips them.
_UNAVAILABLE = (97, 99, 22)


def bind_listener(addr: str, port: int, backlog: int) -> socket.socket | None:
    """A non-blocking listening socket for `addr` like listenToPort. None when `addr` is
    optional and not available; any other failure is logged and re-raised."""
    optional = addr.startswith("-")
    host = addr[1:] if optional else addr
    host = {"*": "0.0.0.0", "::*": "::"}.get(host, host)
    sock = None
    try:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
        return sock
    except OSError as e:
        if sock is not None:
            sock.close()
        if optional and e.errno in _UNAVAILABLE:
            return None
        log.warning(f"Warning: Could not create server TCP listening socket "
                    f"{addr}:{port}: bind: {e.strerror}")
        raise
