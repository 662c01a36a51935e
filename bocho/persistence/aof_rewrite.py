"""The dataset as commands (rewriteAppendOnlyFileRio): what an AOF base file holds when
aof-use-rdb-preamble is no. Functions first (FUNCTION LOAD), then per non-empty db a
SELECT and, per key, the commands that rebuild it — SET; RPUSH / SADD / ZADD / HMSET
with at most 64 elements each; XADD + XSETID + XGROUP CREATE / CREATECONSUMER + XCLAIM
for streams — followed by PEXPIREAT when the key has a TTL. Written in RESP, the form
the AOF loader and redis-server read."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bocho.db import TYPE_NAMES

if TYPE_CHECKING:
    from bocho.server import Server

ITEMS_PER_CMD = 64
MASK64 = (1 << 64) - 1


def resp_command(argv: Iterable[bytes]) -> bytes:
    """One command in RESP multibulk form (catAppendOnlyGenericCommand)."""
    argv = list(argv)
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


def _double(d: float) -> bytes:
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    return b"%.17g" % d


def _sid(sid: int) -> bytes:
    return b"%d-%d" % (sid >> 64, sid & MASK64)


def _elem(e: Any) -> bytes:
    if type(e) is bytes:
        return e
    if type(e) is int:
        return b"%d" % e
    return bytes(e)


def _batched(out: bytearray, name: bytes, key: bytes, items: list[list[bytes]]) -> None:
    """Variadic commands of at most ITEMS_PER_CMD items (each item one or two args)."""
    for i in range(0, len(items), ITEMS_PER_CMD):
        chunk = items[i:i + ITEMS_PER_CMD]
        args = [name, key]
        for it in chunk:
            args += it
        out += resp_command(args)


def _list(out: bytearray, key: bytes, v: Any) -> None:
    _batched(out, b"RPUSH", key, [[_elem(e)] for e in v])


def _set(out: bytearray, key: bytes, v: Any) -> None:
    _batched(out, b"SADD", key, [[_elem(e)] for e in v])


def _zset(out: bytearray, key: bytes, v: Any) -> None:
    _batched(out, b"ZADD", key, [[_double(float(s)), _elem(m)] for m, s in v.items()])


def _hash(out: bytearray, key: bytes, v: Any) -> None:
    _batched(out, b"HMSET", key, [[_elem(f), _elem(x)] for f, x in v.items()])


def _stream(out: bytearray, key: bytes, s: Any) -> None:
    from bocho.types.stream import fields
    if s.length:
        for sid, enc in s.entries():
            out += resp_command([b"XADD", key, _sid(sid), *fields(enc)])
    else:
        out += resp_command([b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"])
    out += resp_command([b"XSETID", key, _sid(s.last_id), b"ENTRIESADDED",
                         b"%d" % s.entries_added, b"MAXDELETEDID", _sid(s.max_deleted)])
    for gname, g in s.sorted_groups():
        out += resp_command([b"XGROUP", b"CREATE", key, gname, _sid(g.last_id),
                             b"ENTRIESREAD", b"%d" % g.entries_read])
        for cons in g.sorted_consumers():
            if not cons.pel:
                out += resp_command([b"XGROUP", b"CREATECONSUMER", key, gname, cons.name])
                continue
            for sid in cons.pel:
                nack = g.pel[sid]
                out += resp_command([b"XCLAIM", key, gname, cons.name, b"0", _sid(sid),
                                     b"TIME", b"%d" % nack.delivery_time, b"RETRYCOUNT",
                                     b"%d" % nack.delivery_count, b"JUSTID", b"FORCE"])


WRITERS: dict[bytes, Callable[[bytearray, bytes, Any], None]] = {
    b"list": _list, b"set": _set, b"zset": _zset, b"hash": _hash, b"stream": _stream,
}


def write_dataset(srv: Server, write: Callable[[bytes], Any], timestamp: int | None = None,
                  flush_at: int = 1 << 20, progress: Callable[[int], Any] | None = None,
                  every: int = 1024) -> int:
    """Every function library and key of srv as commands, passed to write() in chunks of
    about flush_at bytes. Returns the number of keys written. progress(keys so far) is
    called after every `every` keys."""
    out = bytearray()
    if timestamp is not None:
        out += b"#TS:%d\r\n" % timestamp
    reg = getattr(srv, "functions", None)
    if reg is not None:
        for lib in reg.libraries.values():
            out += resp_command([b"FUNCTION", b"LOAD", lib.code])
    keys = 0
    for db in srv.dbs:
        data = db.data
        if not data:
            continue
        out += resp_command([b"SELECT", b"%d" % db.id])
        expires = db.expires
        for key, v in data.items():
            tname = TYPE_NAMES.get(type(v), b"none")
            if tname == b"string":
                out += resp_command([b"SET", key, bytes(v)])
            else:
                WRITERS[tname](out, key, v)
            if expires:
                when = expires.get(key)
                if when is not None:
                    out += resp_command([b"PEXPIREAT", key, b"%d" % when])
            keys += 1
            if progress is not None and keys % every == 0:
                progress(keys)
            if len(out) >= flush_at:
                write(bytes(out))
                out.clear()
    if out:
        write(bytes(out))
    return keys
