"""String commands (t_string.c).

Values are `bytes`; a command that modifies a string in place (APPEND, SETRANGE, and
the bit commands in bitops.py) turns it into a `bytearray` first, which is also what
OBJECT ENCODING reports as "raw". Commands that replace the value store `bytes`."""

from __future__ import annotations

from bocho import clock, longdouble, notify, resp
from bocho.commands import TABLE, command
from bocho.errors import OVERFLOW, CommandError, syntax, wrong_args, wrongtype
from bocho.network import F_MASTER
from bocho.util import I64_MAX, I64_MIN, parse_int

STR = "string"
NULL_BULK = resp.NULL_BULK
NULL3 = resp.NULL3
OK = resp.OK
NOTIFY_STRING = notify.STRING
BULK_HDR = resp.BULK_HDR
BULK_HDR_MAX = resp.BULK_HDR_MAX
CRLF = resp.CRLF
NOTIFY_GENERIC = notify.GENERIC
NOTIFY_KEY_MISS = notify.KEY_MISS
NOTIFY_NEW = notify.NEW
SMALL_INTS = resp._INTS
STRING_TOO_LONG = b"ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def key_spec(flags: str, pos: int = 1, lastkey: int = 0, step: int = 1, notes: str = "") -> dict:
    """One key spec in the command-JSON shape COMMAND INFO reads (see command_cmd.py);
    only for commands whose flags differ from what (first, last, step) implies."""
    spec = {"flags": flags.split(), "begin_search": {"index": {"pos": pos}},
            "find_keys": {"range": {"lastkey": lastkey, "step": step, "limit": 0}}}
    if notes:
        spec["notes"] = notes
    return spec


# -- shared helpers (bitops.py uses them too) ----------------------------------------------

def keymiss(c, key: bytes) -> None:
    srv = c.server
    srv.stat_keyspace_misses += 1
    if srv.notify_flags & NOTIFY_KEY_MISS:
        srv.notify(NOTIFY_KEY_MISS, b"keymiss", key, c.db.id)


def read_key(c, key: bytes):
    """lookupKeyRead: the value or None (lazy expiry, keyspace hits/misses, keymiss)."""
    return c.db.lookup_read(key)


def get_string(c, key: bytes):
    """The string at key for a read (None if missing); WRONGTYPE for other types."""
    v = read_key(c, key)
    if v is None or type(v) is bytes:
        return v
    if type(v) is bytearray:
        return bytes(v)
    raise wrongtype()


def write_string(c, key: bytes):
    """lookupKeyWrite for a string command: the value (bytes/bytearray) or None."""
    v = c.db.lookup_write(key)
    if v is None or type(v) is bytes or type(v) is bytearray:
        return v
    raise wrongtype()


def check_length(c, size: int, append: int) -> None:
    """checkStringLength: a string may not grow past proto-max-bulk-len, except for
    writes the server must obey (its master's stream)."""
    if size + append > c.server.config["proto-max-bulk-len"] and not c.flags & F_MASTER:
        raise CommandError(STRING_TOO_LONG)


def unshare(c, key: bytes, v) -> bytearray:
    """dbUnshareStringValue: the value as a bytearray stored at key, ready for in-place
    edits (the TTL stays)."""
    if type(v) is bytearray:
        return v
    v = bytearray(v)
    c.db.data[key] = v
    return v


def changed(c, key: bytes, event: bytes) -> None:
    """After an in-place modification: WATCH, the keyspace event, the dirty counter."""
    db = c.db
    if db.watched:
        db.signal_modified(key)
    srv = c.server
    srv.dirty += 1
    if srv.notify_flags & NOTIFY_STRING:
        srv.notify(NOTIFY_STRING, event, key, db.id)


def expire_error(name: str) -> CommandError:
    return CommandError(f"ERR invalid expire time in '{name}' command")


# SET/GETEX options, as parseExtendedStringArgumentsOrReply: each may not follow the
# options in its "conflicts" mask; repeating the same option is allowed (last one wins).
O_NX, O_XX, O_GET, O_KEEPTTL, O_PERSIST, O_EX, O_PX, O_EXAT, O_PXAT = (1 << i for i in range(9))
_EXPIRES = O_EX | O_PX | O_EXAT | O_PXAT
_UNITS = {O_EX: 1000, O_PX: 1, O_EXAT: -1000, O_PXAT: -1}
_SET_OPTS = {
    b"nx": (O_NX, O_XX), b"xx": (O_XX, O_NX), b"get": (O_GET, 0),
    b"keepttl": (O_KEEPTTL, O_PERSIST | _EXPIRES),
}
_GETEX_OPTS = {b"persist": (O_PERSIST, _EXPIRES | O_KEEPTTL)}
for _name, _flag in ((b"ex", O_EX), (b"px", O_PX), (b"exat", O_EXAT), (b"pxat", O_PXAT)):
    _SET_OPTS[_name] = _GETEX_OPTS[_name] = (_flag, O_KEEPTTL | O_PERSIST | (_EXPIRES & ~_flag))


def parse_string_options(argv: list[bytes], start: int, table: dict) -> tuple[int, int, bytes | None]:
    """-> (flags, expire flag, raw expire argument); syntax error on conflicts."""
    flags = 0
    exp_flag = 0
    exp_raw = None
    n = len(argv)
    i = start
    while i < n:
        spec = table.get(argv[i].lower())
        if spec is None or flags & spec[1]:
            raise syntax()
        f = spec[0]
        if f & _EXPIRES:
            if i + 1 >= n:
                raise syntax()
            exp_flag = f
            exp_raw = argv[i + 1]
            i += 1
        flags |= f
        i += 1
    return flags, exp_flag, exp_raw


def expire_ms(name: str, exp_flag: int, raw: bytes) -> int:
    """The absolute unix ms of an EX/PX/EXAT/PXAT argument, or the error Redis gives."""
    v = parse_int(raw)
    unit = _UNITS[exp_flag]
    mul = unit if unit > 0 else -unit
    if v <= 0 or (mul == 1000 and v > I64_MAX // 1000):
        raise expire_error(name)
    ms = v * mul
    if unit > 0:
        ms += clock.mstime()
    if ms > I64_MAX:
        raise expire_error(name)
    return ms


def bulk_reply(v, c) -> bytes:
    if v is None:
        return NULL_BULK if c.resp == 2 else NULL3
    return b"$%d\r\n%s\r\n" % (len(v), v)


# -- GET / SET family ----------------------------------------------------------------------

@command("get", 2, "readonly fast", keys=(1, 1, 1), group=STR, acl=("string",),
         summary="Get the value of a key", complexity="O(1)")
def get(c, argv):
    # bocho/_fastpath.pyx (get_string) does this hit path in C: keep the two in step
    db = c.db
    key = argv[1]
    v = db.data.get(key)
    if v is not None and db.expires and key in db.expires and db.expire_if_needed(key):
        v = None
    if v is None:
        keymiss(c, key)
        return NULL_BULK if c.resp == 2 else NULL3
    srv = c.server
    srv.stat_keyspace_hits += 1
    if db.lru is not None and not srv.current_client_no_touch():
        db.touch(key)
    t = type(v)
    if t is bytes or t is bytearray:
        n = len(v)
        if n < BULK_HDR_MAX:
            return BULK_HDR[n] + v + CRLF
        return b"$%d\r\n%s\r\n" % (n, v)
    raise wrongtype()


def set_generic(c, argv: list[bytes], name: str, key: bytes, value: bytes, flags: int,
                exp_flag: int, exp_raw, ok_reply: bytes | None,
                abort_reply: bytes | None) -> bytes:
    """setGenericCommand: SET with options, SETNX, SETEX, PSETEX."""
    when = expire_ms(name, exp_flag, exp_raw) if exp_flag else 0
    old_reply = None
    if flags & O_GET:
        old = get_string(c, key)
        old_reply = bulk_reply(old, c)
    db = c.db
    srv = c.server
    found = db.lookup_write(key) is not None
    if (flags & O_NX and found) or (flags & O_XX and not found):
        if old_reply is not None:
            return old_reply
        if abort_reply is not None:
            return abort_reply
        return NULL_BULK if c.resp == 2 else NULL3
    db.set_key(key, value, keepttl=bool(flags & O_KEEPTTL))
    srv.dirty += 1
    notify_flags = srv.notify_flags
    if notify_flags & NOTIFY_STRING:
        srv.notify(NOTIFY_STRING, b"set", key, db.id)
    if exp_flag:
        db.set_expire(key, when)
        # Relative and absolute forms leave the node as one absolute, deterministic SET.
        c.prop = [[b"SET", key, value, b"PXAT", b"%d" % when]]
        if notify_flags & NOTIFY_GENERIC:
            srv.notify(NOTIFY_GENERIC, b"expire", key, db.id)
    elif flags & O_GET:
        # GET is about the reply only: replicas get the SET without it.
        c.prop = [argv[:3] + [a for a in argv[3:] if a.lower() != b"get"]]
    if old_reply is not None:
        return old_reply
    return ok_reply if ok_reply is not None else OK


@command("set", -3, "write denyoom", keys=(1, 1, 1), group=STR, acl=("string",),
         summary="Set the string value of a key", complexity="O(1)",
         key_specs=[key_spec("RW access update variable_flags",
                             notes="RW and ACCESS due to the optional `GET` argument")])
def set_(c, argv):
    # bocho/_fastpath.pyx (set_string) does the plain case in C: keep the two in step
    db = c.db
    key = argv[1]
    if len(argv) == 3:
        srv = c.server
        if db.expires and key in db.expires:
            # An already expired key is first deleted as Redis's lookupKeyWrite does
            # (DEL propagated, "expired" fired); set_key drops the TTL.
            db.expire_if_needed(key, force=True)
        db.set_key(key, argv[2])
        srv.dirty += 1
        if srv.notify_flags & NOTIFY_STRING:
            srv.notify(NOTIFY_STRING, b"set", key, db.id)
        return OK
    flags, exp_flag, exp_raw = parse_string_options(argv, 3, _SET_OPTS)
    return set_generic(c, argv, "set", key, argv[2], flags, exp_flag, exp_raw, None, None)


@command("setnx", 3, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
         summary="Set the value of a key, only if the key does not exist", complexity="O(1)",
         key_specs=[key_spec("OW insert")])
def setnx(c, argv):
    return set_generic(c, argv, "setnx", argv[1], argv[2], O_NX, 0, None, resp.ONE, resp.ZERO)


@command("setex", 4, "write denyoom", keys=(1, 1, 1), group=STR, acl=("string",), since="2.0.0",
         summary="Set the value and expiration of a key", complexity="O(1)",
         key_specs=[key_spec("OW update")])
def setex(c, argv):
    return set_generic(c, argv, "setex", argv[1], argv[3], 0, O_EX, argv[2], None, None)


@command("psetex", 4, "write denyoom", keys=(1, 1, 1), group=STR, acl=("string",),
         since="2.6.0", summary="Set the value and expiration in milliseconds of a key",
         complexity="O(1)",
         key_specs=[key_spec("OW update")])
def psetex(c, argv):
    return set_generic(c, argv, "psetex", argv[1], argv[3], 0, O_PX, argv[2], None, None)


def already_expired(srv, when: int) -> bool:
    """checkAlreadyExpired: a past absolute time deletes at once, except while loading
    or on a replica (which waits for its master's DEL)."""
    return when <= clock.mstime() and not srv.loading and not srv.is_replica_of_master()


@command("getex", -2, "write fast", keys=(1, 1, 1), group=STR, acl=("string",), since="6.2.0",
         summary="Get the value of a key and optionally set its expiration", complexity="O(1)",
         key_specs=[key_spec("RW access update",
                             notes="RW and UPDATE because it changes the TTL")])
def getex(c, argv):
    flags, exp_flag, exp_raw = parse_string_options(argv, 2, _GETEX_OPTS)
    key = argv[1]
    v = get_string(c, key)
    if v is None:
        return NULL_BULK if c.resp == 2 else NULL3
    when = expire_ms("getex", exp_flag, exp_raw) if exp_flag else 0
    reply = b"$%d\r\n%s\r\n" % (len(v), v)
    db = c.db
    srv = c.server
    if exp_flag & (O_EXAT | O_PXAT) and already_expired(srv, when):
        db.delete(key)
        lazy = srv.lazyfree_lazy_expire
        c.prop = [[b"UNLINK" if lazy else b"DEL", key]]
        srv.notify(NOTIFY_GENERIC, b"del", key, db.id)
        srv.dirty += 1
    elif exp_flag:
        db.set_expire(key, when)
        c.prop = [[b"PEXPIREAT", key, b"%d" % when]]
        if db.watched:
            db.signal_modified(key)
        srv.notify(NOTIFY_GENERIC, b"expire", key, db.id)
        srv.dirty += 1
    elif flags & O_PERSIST:
        if db.persist(key):
            if db.watched:
                db.signal_modified(key)
            c.prop = [[b"PERSIST", key]]
            srv.notify(NOTIFY_GENERIC, b"persist", key, db.id)
            srv.dirty += 1
    return reply


@command("getdel", 2, "write fast", keys=(1, 1, 1), group=STR, acl=("string",), since="6.2.0",
         summary="Get the value of a key and delete the key", complexity="O(1)",
         key_specs=[key_spec("RW access delete")])
def getdel(c, argv):
    key = argv[1]
    v = get_string(c, key)
    if v is None:
        return NULL_BULK if c.resp == 2 else NULL3
    db = c.db
    srv = c.server
    db.delete(key)
    c.prop = [[b"UNLINK" if srv.config["lazyfree-lazy-user-del"] else b"DEL", key]]
    srv.notify(NOTIFY_GENERIC, b"del", key, db.id)
    srv.dirty += 1
    return b"$%d\r\n%s\r\n" % (len(v), v)


@command("getset", 3, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
         summary="Set the string value of a key and return its old value", complexity="O(1)")
def getset(c, argv):
    key = argv[1]
    old = get_string(c, key)
    db = c.db
    srv = c.server
    db.set_key(key, argv[2])
    srv.notify(NOTIFY_STRING, b"set", key, db.id)
    srv.dirty += 1
    c.prop = [[b"SET", key, argv[2]]]
    return bulk_reply(old, c)


@command("mget", -2, "readonly fast", keys=(1, -1, 1), group=STR, acl=("string",),
         tips=("request_policy:multi_shard",),
         summary="Get the values of all the given keys",
         complexity="O(N) where N is the number of keys to retrieve.")
def mget(c, argv):
    null = NULL_BULK if c.resp == 2 else NULL3
    out = [resp.array_header(len(argv) - 1)]
    for key in argv[1:]:
        v = read_key(c, key)
        if v is None or (type(v) is not bytes and type(v) is not bytearray):
            out.append(null)
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(v), v))
    return b"".join(out)


def mset_generic(c, argv, nx: bool) -> bytes:
    # bocho/_fastpath.pyx (mset_strings) does MSET's dict.update case in C: keep in step
    if len(argv) % 2 == 0:
        raise wrong_args("msetnx" if nx else "mset")
    db = c.db
    srv = c.server
    if nx:
        for i in range(1, len(argv), 2):
            if db.lookup_write(argv[i]) is not None:
                return resp.ZERO
    notify_on = srv.notify_flags & NOTIFY_STRING
    if not (notify_on or srv.notify_flags & NOTIFY_NEW or db.lru is not None or db.watched):
        # nothing to tell anyone per key: store them all at C speed (a repeated key's
        # last value wins, as with one SET after another); TTLs go as SET drops them
        keys = argv[1::2]
        db.data.update(zip(keys, argv[2::2], strict=True))
        if db.expires:
            pop = db.expires.pop
            for key in keys:
                pop(key, None)
        srv.dirty += len(keys)
        return resp.ONE if nx else OK
    set_key = db.set_key
    for i in range(1, len(argv), 2):
        key = argv[i]
        set_key(key, argv[i + 1])
        if notify_on:
            srv.notify(NOTIFY_STRING, b"set", key, db.id)
    srv.dirty += (len(argv) - 1) // 2
    return resp.ONE if nx else OK


@command("mset", -3, "write denyoom", keys=(1, -1, 2), group=STR, acl=("string",),
         since="1.0.1", tips=("request_policy:multi_shard", "response_policy:all_succeeded"),
         summary="Set multiple keys to multiple values",
         complexity="O(N) where N is the number of keys to set.",
         key_specs=[key_spec("OW update", lastkey=-1, step=2)])
def mset(c, argv):
    return mset_generic(c, argv, False)


@command("msetnx", -3, "write denyoom", keys=(1, -1, 2), group=STR, acl=("string",),
         since="1.0.1", tips=("request_policy:multi_shard", "response_policy:agg_min"),
         summary="Set multiple keys to multiple values, only if none of the keys exist",
         complexity="O(N) where N is the number of keys to set.",
         key_specs=[key_spec("OW insert", lastkey=-1, step=2)])
def msetnx(c, argv):
    return mset_generic(c, argv, True)


# -- in-place edits ------------------------------------------------------------------------

@command("append", 3, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
         since="2.0.0", summary="Append a value to a key",
         complexity="O(1). The amortized time complexity is O(1) assuming the appended value "
                    "is small and the already present value is of any size, since the dynamic "
                    "string library used by Redis will double the free space available on every "
                    "reallocation.",
         key_specs=[key_spec("RW insert")])
def append(c, argv):
    key = argv[1]
    extra = argv[2]
    v = write_string(c, key)
    if v is None:
        c.db.add(key, extra)
        total = len(extra)
    else:
        check_length(c, len(v), len(extra))
        v = unshare(c, key, v)
        v += extra
        total = len(v)
    changed(c, key, b"append")
    return resp.integer(total)


@command("strlen", 2, "readonly fast", keys=(1, 1, 1), group=STR, acl=("string",),
         since="2.2.0", summary="Get the length of the value stored in a key",
         complexity="O(1)",
         key_specs=[key_spec("RO")])
def strlen(c, argv):
    v = read_key(c, argv[1])
    if v is None:
        return resp.ZERO
    if type(v) is not bytes and type(v) is not bytearray:
        raise wrongtype()
    return resp.integer(len(v))


@command("setrange", 4, "write denyoom", keys=(1, 1, 1), group=STR, acl=("string",),
         since="2.2.0",
         summary="Overwrite part of a string at key starting at the specified offset",
         complexity="O(1), not counting the time taken to copy the new string in place. "
                    "Usually, this string is very small so the amortized complexity is O(1). "
                    "Otherwise, complexity is O(M) with M being the length of the value argument.",
         key_specs=[key_spec("RW update")])
def setrange(c, argv):
    key = argv[1]
    offset = parse_int(argv[2])
    value = argv[3]
    if offset < 0:
        raise CommandError(b"ERR offset is out of range")
    v = write_string(c, key)
    if v is None:
        if not value:
            return resp.ZERO
        check_length(c, offset, len(value))
        v = bytearray(offset + len(value))
        c.db.add(key, v)
    else:
        if not value:
            return resp.integer(len(v))
        check_length(c, offset, len(value))
        v = unshare(c, key, v)
        if len(v) < offset:
            v.extend(bytes(offset - len(v)))
    v[offset:offset + len(value)] = value
    changed(c, key, b"setrange")
    return resp.integer(len(v))


def range_indexes(start: int, end: int, n: int) -> tuple[int, int]:
    """GETRANGE's index normalisation: negative from the end, clamped to the string."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    return start, end


@command("getrange", 4, "readonly", keys=(1, 1, 1), group=STR, acl=("string",), since="2.4.0",
         summary="Get a substring of the string stored at a key",
         complexity="O(N) where N is the length of the returned string. The complexity is "
                    "ultimately determined by the returned length, but because creating a "
                    "substring from an existing string is very cheap, it can be considered O(1) "
                    "for small strings.")
def getrange(c, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    v = read_key(c, argv[1])
    if v is None:
        return resp.EMPTY_BULK
    if type(v) is not bytes and type(v) is not bytearray:
        raise wrongtype()
    if start < 0 and end < 0 and start > end:
        return resp.EMPTY_BULK
    n = len(v)
    start, end = range_indexes(start, end, n)
    if start > end or n == 0:
        return resp.EMPTY_BULK
    return resp.bulk(bytes(v[start:end + 1]))


command("substr", 4, "readonly", keys=(1, 1, 1), group=STR, acl=("string",),
        summary="Get a substring of the string stored at a key",
        complexity=TABLE[b"getrange"].complexity)(getrange)


# -- counters ------------------------------------------------------------------------------

# the value the last INCR-family command stored, and its number (see counter_command)
_last_counter: list = [None, 0]


def counter_command(sign: int, by_arg: bool):
    """incrDecrCommand as one handler per command (INCR/DECR add sign; INCRBY/DECRBY take
    argv[2], negated for DECRBY): 64-bit signed arithmetic with Redis's overflow error.
    Kept flat, no helper calls on the common path: a counter is as hot as GET/SET.
    bocho/_fastpath.pyx (incr_string) does INCR/DECR of an existing plain counter in C:
    keep the two in step."""

    def handler(c, argv):
        if by_arg:
            incr = parse_int(argv[2])
            if sign < 0:
                if incr == I64_MIN:
                    raise CommandError(b"ERR decrement would overflow")
                incr = -incr
        else:
            incr = sign
        key = argv[1]
        db = c.db
        data = db.data
        v = data.get(key)
        # a write lookup: on a writable replica too the expired key goes (and its TTL)
        if v is not None and db.expires and key in db.expires and \
                db.expire_if_needed(key, force=True):
            v = None
        if v is None:
            value = incr
            s = b"%d" % value
            db.add(key, s)
        else:
            # the write lookup's access (not for a CLIENT NO-TOUCH client, as lookupKey)
            if db.lru is not None and not c.server.current_client_no_touch():
                db.touch(key)
            # A hot counter reads back the very bytes object its last update stored:
            # reuse that number (bytes are immutable, and the reference we hold keeps
            # its identity unique). Else string2ll, inlined for what a counter holds: up
            # to 18 digits and no leading zero (cannot overflow); anything else (a sign,
            # 19-20 digits, junk, a bytearray) takes the full checks.
            if v is _last_counter[0]:
                value = _last_counter[1] + incr
            elif type(v) is bytes and v.isdigit() and len(v) < 19 and (
                    v[0] != 48 or len(v) == 1):
                value = int(v) + incr
            elif type(v) is bytes or type(v) is bytearray:
                value = parse_int(v) + incr
            else:
                raise wrongtype()
            if value > I64_MAX or value < I64_MIN:
                raise CommandError(OVERFLOW)
            s = b"%d" % value
            data[key] = s  # an overwrite keeps the TTL
            _last_counter[0] = s
            _last_counter[1] = value
            if db.watched:
                db.signal_modified(key)
        srv = c.server
        srv.dirty += 1
        if srv.notify_flags & NOTIFY_STRING:
            srv.notify(NOTIFY_STRING, b"incrby", key, db.id)
        if 0 <= value < 10000:
            return SMALL_INTS[value]
        return b":" + s + CRLF

    return handler


incr = command("incr", 2, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
               summary="Increment the integer value of a key by one",
               complexity="O(1)")(counter_command(1, False))
decr = command("decr", 2, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
               summary="Decrement the integer value of a key by one",
               complexity="O(1)")(counter_command(-1, False))
incrby = command("incrby", 3, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
                 summary="Increment the integer value of a key by the given amount",
                 complexity="O(1)")(counter_command(1, True))
decrby = command("decrby", 3, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
                 summary="Decrement the integer value of a key by the given number",
                 complexity="O(1)")(counter_command(-1, True))


NOT_FLOAT = b"ERR value is not a valid float"


@command("incrbyfloat", 3, "write denyoom fast", keys=(1, 1, 1), group=STR, acl=("string",),
         since="2.6.0", summary="Increment the float value of a key by the given amount",
         complexity="O(1)")
def incrbyfloat(c, argv):
    key = argv[1]
    v = write_string(c, key)
    value = longdouble.from_int(0) if v is None else longdouble.parse(bytes(v))
    incr = longdouble.parse(argv[2])
    if value is None or incr is None:
        raise CommandError(NOT_FLOAT)
    total = longdouble.add(value, incr)
    if total is None:
        raise CommandError(b"ERR increment would produce NaN or Infinity")
    new = longdouble.format_human(total)
    db = c.db
    if v is None:
        db.add(key, new)
    else:
        db.data[key] = new
        if db.watched:
            db.signal_modified(key)
    srv = c.server
    srv.dirty += 1
    srv.notify(NOTIFY_STRING, b"incrbyfloat", key, db.id)
    # Replicas and the AOF get the result, not the operation: float formatting and
    # precision could differ elsewhere.
    c.prop = [[b"SET", key, new, b"KEEPTTL"]]
    return resp.bulk(new)


# -- LCS -----------------------------------------------------------------------------------

@command("lcs", -3, "readonly", keys=(1, 2, 1), group=STR, acl=("string",), since="7.0.0",
         summary="Find longest common substring",
         complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively")
def lcs(c, argv):
    va = read_key(c, argv[1])
    vb = read_key(c, argv[2])
    for v in (va, vb):
        if v is not None and type(v) is not bytes and type(v) is not bytearray:
            raise CommandError(b"ERR The specified keys must contain string values")
    a = bytes(va) if va is not None else b""
    b = bytes(vb) if vb is not None else b""
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    i = 3
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"idx":
            getidx = True
        elif opt == b"len":
            getlen = True
        elif opt == b"withmatchlen":
            withmatchlen = True
        elif opt == b"minmatchlen" and i + 1 < n:
            minmatchlen = max(parse_int(argv[i + 1]), 0)
            i += 1
        else:
            raise syntax()
        i += 1
    if getlen and getidx:
        raise CommandError(b"ERR If you want both the length and indexes, please just use IDX.")
    alen, blen = len(a), len(b)
    if (alen + 1) * (blen + 1) * 4 > c.server.config["proto-max-bulk-len"]:
        raise CommandError(b"ERR Insufficient memory, transient memory for LCS exceeds "
                           b"proto-max-bulk-len")
    table = LcsTable(a, b)
    total = table.at(alen, blen)
    if getlen:
        return resp.integer(total)
    matches, result = lcs_walk(a, b, table, minmatchlen)
    if not getidx:
        return resp.bulk(result)
    parts = []
    for (a0, a1), (b0, b1) in matches:
        parts.append(resp.array_header(3 if withmatchlen else 2))
        parts.append(b"*2\r\n:%d\r\n:%d\r\n*2\r\n:%d\r\n:%d\r\n" % (a0, a1, b0, b1))
        if withmatchlen:
            parts.append(resp.integer(a1 - a0 + 1))
    return b"".join([resp.map_header(2, c.resp), resp.bulk(b"matches"),
                     resp.array_header(len(matches))] + parts
                    + [resp.bulk(b"len"), resp.integer(total)])


class LcsTable:
    """LCS(i, j), the LCS length of a[:i] and b[:j], from one bit-vector per row
    (Hyyro's bit-parallel LCS): bit j-1 of row i is clear iff LCS(i, j) grew at j.
    The rows cost n*m/8 bytes and n big-int steps instead of n*m Python steps."""

    __slots__ = ("rows",)

    def __init__(self, a: bytes, b: bytes) -> None:
        full = (1 << len(b)) - 1
        where: dict[int, int] = {}
        for j, ch in enumerate(b):
            where[ch] = where.get(ch, 0) | (1 << j)
        v = full
        rows = [v]
        for ch in a:
            u = v & where.get(ch, 0)
            v = ((v + u) | (v - u)) & full
            rows.append(v)
        self.rows = rows

    def at(self, i: int, j: int) -> int:
        return j - (self.rows[i] & ((1 << j) - 1)).bit_count()


def lcs_walk(a: bytes, b: bytes, table: LcsTable, minmatchlen: int):
    """Walk the table back from the end as Redis does, collecting the LCS and the
    matching ranges (last match first) of at least minmatchlen bytes."""
    i, j = len(a), len(b)
    out = bytearray()
    matches = []
    rng = None  # [a_start, a_end, b_start, b_end] of the current run
    at = table.at
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            if rng is None:
                rng = [i - 1, i - 1, j - 1, j - 1]
            elif rng[0] == i and rng[2] == j:
                rng[0] -= 1
                rng[2] -= 1
            else:
                emit = True
            if rng[0] == 0 or rng[2] == 0:
                emit = True
            i -= 1
            j -= 1
        else:
            if at(i - 1, j) > at(i, j - 1):
                i -= 1
            else:
                j -= 1
            if rng is not None:
                emit = True
        if emit and rng is not None:
            if minmatchlen == 0 or rng[1] - rng[0] + 1 >= minmatchlen:
                matches.append(((rng[0], rng[1]), (rng[2], rng[3])))
            rng = None
    out.reverse()
    return matches, bytes(out)


for _name in (b"getset", b"substr"):
    TABLE[_name].doc_flags = ("deprecated",)
