"""String commands (t_string.c)."""

from __future__ import annotations

from bocho import clock, notify, resp
from bocho.commands import command
from bocho.errors import CommandError, syntax, wrongtype
from bocho.util import parse_int

STR = "string"
NULL_BULK = resp.NULL_BULK
NULL3 = resp.NULL3
OK = resp.OK
NOTIFY_STRING = notify.STRING
NOTIFY_KEY_MISS = notify.KEY_MISS


def get_string(c, key: bytes):
    """The string at key for a read (None if missing); WRONGTYPE for other types."""
    db = c.db
    v = db.lookup_read(key)
    if v is None or type(v) is bytes:
        return v
    if type(v) is bytearray:
        return bytes(v)
    raise wrongtype()


def keymiss(c, key: bytes) -> None:
    srv = c.server
    srv.stat_keyspace_misses += 1
    if srv.notify_flags & NOTIFY_KEY_MISS:
        srv.notify(NOTIFY_KEY_MISS, b"keymiss", key, c.db.id)


@command("get", 2, "readonly fast", keys=(1, 1, 1), group=STR, acl=("string",),
         summary="Get the value of a key", complexity="O(1)")
def get(c, argv):
    db = c.db
    key = argv[1]
    v = db.data.get(key)
    if v is not None and db.expires and key in db.expires and db.expire_if_needed(key):
        v = None
    if v is None:
        keymiss(c, key)
        return NULL_BULK if c.resp == 2 else NULL3
    c.server.stat_keyspace_hits += 1
    if db.lru is not None:
        db.lru[key] = c.server.lruclock
    if type(v) is bytes:
        return b"$%d\r\n%s\r\n" % (len(v), v)
    if type(v) is bytearray:
        return b"$%d\r\n%s\r\n" % (len(v), v)
    raise wrongtype()


_SET_FLAGS = {b"nx": 1, b"xx": 2, b"get": 4, b"keepttl": 8}
_SET_UNITS = {b"ex": 1000, b"px": 1, b"exat": -1000, b"pxat": -1}


def parse_expire_option(name: bytes, raw: bytes, unit: int, cmdname: str) -> int:
    """EX/PX/EXAT/PXAT value -> absolute unix ms. unit: >0 relative (ms per unit),
    <0 absolute (ms per unit negated). The one place these options are validated."""
    v = parse_int(raw)
    if v <= 0:
        raise CommandError(f"ERR invalid expire time in '{cmdname}' command")
    mul = unit if unit > 0 else -unit
    if v > (2**63 - 1) // mul:
        raise CommandError(f"ERR invalid expire time in '{cmdname}' command")
    ms = v * mul
    if unit > 0:
        ms += clock.mstime()
        if ms > 2**63 - 1:
            raise CommandError(f"ERR invalid expire time in '{cmdname}' command")
    return ms


@command("set", -3, "write denyoom", keys=(1, 1, 1), group=STR, acl=("string",),
         summary="Set the string value of a key", complexity="O(1)")
def set_(c, argv):
    db = c.db
    key = argv[1]
    srv = c.server
    if len(argv) == 3:
        db.data[key] = argv[2]
        if db.expires:
            db.expires.pop(key, None)
        if db.lru is not None:
            db.lru[key] = srv.lruclock
        if db.watched:
            db.signal_modified(key)
        srv.dirty += 1
        if srv.notify_flags & NOTIFY_STRING:
            srv.notify(NOTIFY_STRING, b"set", key, db.id)
        return OK
    flags = 0
    expire_at = -1
    i = 3
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        f = _SET_FLAGS.get(opt)
        if f is not None:
            if (f == 1 and flags & 2) or (f == 2 and flags & 1) or (f == 8 and expire_at >= 0):
                raise syntax()
            flags |= f
            i += 1
            continue
        unit = _SET_UNITS.get(opt)
        if unit is None or i + 1 >= n or expire_at >= 0 or flags & 8:
            raise syntax()
        expire_at = parse_expire_option(opt, argv[i + 1], unit, "set")
        i += 2
    old = db.lookup_write(key)
    if flags & 4 and old is not None and type(old) is not bytes and type(old) is not bytearray:
        raise wrongtype()
    if (flags & 1 and old is not None) or (flags & 2 and old is None):
        if flags & 4:
            return resp.bulk_or_null(None if old is None else bytes(old), c.resp)
        return NULL_BULK if c.resp == 2 else NULL3
    db.set_key(key, argv[2], keepttl=bool(flags & 8))
    srv.dirty += 1
    srv.notify(NOTIFY_STRING, b"set", key, db.id)
    if expire_at >= 0:
        db.set_expire(key, expire_at)
        srv.notify(notify.GENERIC, b"expire", key, db.id)
        c.prop = [[b"SET", key, argv[2], b"PXAT", b"%d" % expire_at]]
    elif flags & 4:
        c.prop = [[b"SET", key, argv[2]] + ([b"KEEPTTL"] if flags & 8 else [])]
    if flags & 4:
        return resp.bulk_or_null(None if old is None else bytes(old), c.resp)
    return OK
