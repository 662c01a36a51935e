"""The slow log and the "command"/"fast-command" latency events, fed from the one
duration test of the command loop (see Server.apply_config: slowlog_ns is the lower of
the two thresholds, so this module runs only for commands slow enough for one of them).

An entry is (id, unix time, duration in microseconds, arguments, "ip:port", client name),
newest first, at most slowlog-max-len. As Redis: at most 32 arguments (the 32nd says how
many more there were), each cut to 128 bytes, and secrets replaced by "(redacted)"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bocho import latency

if TYPE_CHECKING:
    from bocho.network import Client
    from bocho.server import Server

MAX_ARGC = 32
MAX_STRING = 128
REDACTED = b"(redacted)"
SKIP_SLOWLOG = 1 << 10
FAST = 1 << 11

SENSITIVE_CONFIGS = {b"masterauth", b"masteruser", b"requirepass"}


def _redact_acl_setuser(argv: list[bytes]) -> set[int]:
    return set(range(2, len(argv)))


def _redact_auth(argv: list[bytes]) -> set[int]:
    return set(range(1, len(argv)))


def _redact_hello(argv: list[bytes]) -> set[int]:
    out = set()
    for j in range(2, len(argv) - 2):
        if argv[j].lower() == b"auth":
            out.update((j + 1, j + 2))
    return out


def _redact_config_set(argv: list[bytes]) -> set[int]:
    return {j + 1 for j in range(2, len(argv) - 1, 2) if argv[j].lower() in SENSITIVE_CONFIGS}


def _redact_migrate(argv: list[bytes]) -> set[int]:
    out = set()
    j = 6
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b"auth":
            out.add(j + 1)
            j += 2
        elif opt == b"auth2":
            out.update((j + 1, j + 2))
            j += 3
        elif opt == b"keys":
            break
        else:
            j += 1
    return out


# command full name -> argv -> positions to hide. Commands that carry secrets.
REDACT: dict[str, Callable[[list[bytes]], set[int]]] = {
    "acl|setuser": _redact_acl_setuser,
    "auth": _redact_auth,
    "hello": _redact_hello,
    "config|set": _redact_config_set,
    "migrate": _redact_migrate,
}


def _resolve(argv: list[bytes]):
    from bocho.commands import lookup
    cmd = lookup(argv[0])
    if cmd is not None and cmd.subcommands and len(argv) > 1:
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is not None:
            return sub
    return cmd


def record(server: Server, c: Client, argv: list[bytes], ns: int) -> None:
    cmd = _resolve(argv)
    flags = cmd.flags if cmd is not None else 0
    if ns > server.latency_ns:
        latency.add_sample(server, "fast-command" if flags & FAST else "command",
                           ns // 1_000_000)
    us = server.slowlog_us
    if us < 0 or ns // 1000 < us or flags & SKIP_SLOWLOG:
        return
    maxlen = server.config["slowlog-max-len"]
    if maxlen <= 0:
        server.slowlog.clear()
        return
    hide = REDACT[cmd.fullname](argv) if cmd is not None and cmd.fullname in REDACT else ()
    n = len(argv)
    shown = []
    for i in range(min(n, MAX_ARGC)):
        if i == MAX_ARGC - 1 and n > MAX_ARGC:
            shown.append(b"... (%d more arguments)" % (n - MAX_ARGC + 1))
            break
        a = argv[i]
        if i in hide:
            a = REDACTED
        elif len(a) > MAX_STRING:
            a = a[:MAX_STRING] + b"... (%d more bytes)" % (len(a) - MAX_STRING)
        shown.append(a)
    log = server.slowlog
    log.insert(0, (server.slowlog_id, server.unixtime, ns // 1000, shown,
                   c.addr.encode(), c.name))
    server.slowlog_id += 1
    del log[maxlen:]
