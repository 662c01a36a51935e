"""MONITOR: every executed command, as one status line per command, to each monitor:

    +1700000000.123456 [0 127.0.0.1:50000] "set" "foo" "bar"

Secrets never reach a monitor: AUTH, HELLO ... AUTH and MIGRATE ... AUTH/AUTH2 show
"(redacted)" in place of credentials, as Redis does."""

from __future__ import annotations

import time

from bocho import resp
from bocho.commands import command
from bocho.config_types import catrepr_bytes
from bocho.errors import CommandError
from bocho.network import F_MONITOR, F_REPLICA

REDACTED = b"(redacted)"


def redact(argv: list[bytes]) -> list[bytes]:
    name = argv[0].lower()
    if name == b"auth":
        return argv[:1] + [REDACTED] * (len(argv) - 1)
    if name == b"hello":
        out = list(argv)
        for i in range(2, len(out)):
            if out[i].lower() == b"auth" and i + 2 < len(out):
                out[i + 1] = REDACTED
                out[i + 2] = REDACTED
                break
        return out
    if name == b"migrate":
        out = list(argv)
        for i in range(6, len(out)):
            opt = out[i].lower()
            if opt == b"auth" and i + 1 < len(out):
                out[i + 1] = REDACTED
                break
            if opt == b"auth2" and i + 2 < len(out):
                out[i + 1] = REDACTED
                out[i + 2] = REDACTED
                break
            if opt == b"keys":
                break
        return out
    return argv


_NEEDS_REDACT = {b"auth", b"hello", b"migrate"}


_quote = catrepr_bytes


def feed(srv, c, argv: list[bytes], cmd=None) -> None:
    if not srv.monitors:
        return
    if argv[0].lower() in _NEEDS_REDACT:
        argv = redact(argv)
    if c.id == 0 or getattr(c, "is_script", False):
        where = b"lua"
    elif c.unix:
        where = b"unix:" + srv.config["unixsocket"].encode()
    else:
        where = c.addr.encode()
    line = b"+%.6f [%d %s] %s\r\n" % (time.time(), c.db.id, where,
                                       b" ".join([_quote(a) for a in argv]))
    for m in srv.monitors:
        if not m.closing:
            m.send(line)
            if srv.obuf_limits_on and not m.current:
                m.check_output_limits()


@command("monitor", 1, "admin noscript loading stale", group="server",
         acl=("admin", "dangerous"), since="1.0.0",
         summary="Listen for all requests received by the server in real time")
def monitor(c, argv):
    srv = c.server
    if srv.in_exec or getattr(c, "is_script", False):
        raise CommandError(b"ERR MONITOR isn't allowed for DENY BLOCKING client")
    if c.flags & (F_MONITOR | F_REPLICA):
        return None  # already a replica or a monitor: Redis ignores it, without a reply
    c.flags |= F_MONITOR
    srv.monitors.append(c)
    srv.update_slow()
    c.update_slow()
    return resp.OK


def stop_monitor(c) -> None:
    srv = c.server
    if c.flags & F_MONITOR:
        c.flags &= ~F_MONITOR
        if c in srv.monitors:
            srv.monitors.remove(c)
        srv.update_slow()
