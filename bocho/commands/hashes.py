"""Hash commands (t_hash.c).

A hash is a Hash: a dict of field -> value (bytes), in insertion order, which is also
the order of Redis's listpack encoding (new fields go to the tail, updates stay in
place). `ht` says whether Redis would have converted it to a hashtable: as in 7.0 that
happens once a field or value is longer than hash-max-listpack-value or the hash has
more than hash-max-listpack-entries fields, and it is one-way. `snaps` holds the element
lists of HSCANs under way (keys.scan_container)."""

from __future__ import annotations

import random
from itertools import islice

from bocho import longdouble, notify, resp
from bocho.commands import TABLE, command
from bocho.commands.keys import EMPTY_SCAN, parse_scan_options, scan_container, scan_reply, spec
from bocho.db import register_type
from bocho.errors import NOT_FLOAT, OVERFLOW, CommandError, syntax, wrong_args, wrongtype
from bocho.glob import compile_glob
from bocho.util import I64_MAX, I64_MIN, parse_cursor, parse_int

HASH = "hash"
NOTIFY_HASH = notify.HASH
NOTIFY_GENERIC = notify.GENERIC
NULL_BULK = resp.NULL_BULK
NULL3 = resp.NULL3
ZERO = resp.ZERO
ONE = resp.ONE
EMPTY_ARRAY = resp.EMPTY_ARRAY
BULK_HDR = resp.BULK_HDR
BULK_HDR_MAX = resp.BULK_HDR_MAX
CRLF = resp.CRLF
LONG_MAX = I64_MAX
RANGE_ERR = b"ERR value is out of range, value must between -9223372036854775807 and " \
            b"9223372036854775807"


class Hash(dict):
    __slots__ = ("ht", "snaps")

    def memory_usage(self, samples: int = 5) -> int:
        """objectComputeSize: a listpack is one allocation of its entries; a hashtable
        is a dict of (entry + two sds) per field, sampled."""
        from bocho.memory import OBJ, _alloc, _str_size
        n = len(self)
        if not n:
            return OBJ + 16
        k = n if samples <= 0 else min(samples, n)
        if not self.ht:
            tot = sum(len(f) + len(v) + 4 for f, v in islice(self.items(), k))
            return OBJ + _alloc(7 + tot * n // k)
        tot = sum(_str_size(f) + _str_size(v) + 24 for f, v in islice(self.items(), k))
        buckets = 4
        while buckets < n:
            buckets <<= 1
        return OBJ + 88 + buckets * 8 + tot * n // k


def new_hash(ht: bool = False) -> Hash:
    h = Hash()
    h.ht = ht
    h.snaps = None
    return h


def _copy(h: Hash) -> Hash:
    n = Hash(h)
    n.ht = h.ht
    n.snaps = None
    return n


def _field_get(h: Hash, field: bytes) -> bytes | None:
    return h.get(field)


register_type(Hash, b"hash", copy=_copy,
              encoding=lambda h: b"hashtable" if h.ht else b"listpack",
              free_effort=lambda h: len(h) if h.ht else 1,
              field_get=_field_get)


def _digest(h: Hash):
    return h.items()


try:  # DEBUG DIGEST walks (field, value) pairs
    from bocho.commands.debug import register_digest
    register_digest(Hash, _digest)
except ImportError:  # pragma: no cover
    pass


# -- lookups ----------------------------------------------------------------------------

def read_hash(c, key: bytes) -> Hash | None:
    v = c.db.lookup_read(key)
    if v is None or type(v) is Hash:
        return v
    raise wrongtype()


def write_hash(c, key: bytes) -> Hash | None:
    v = c.db.lookup_write(key)
    if v is None or type(v) is Hash:
        return v
    raise wrongtype()


def write_or_create(c, key: bytes) -> Hash:
    """hashTypeLookupWriteOrCreate."""
    db = c.db
    v = db.lookup_write(key)
    if v is None:
        v = new_hash()
        db.add(key, v)
        return v
    if type(v) is not Hash:
        raise wrongtype()
    return v


def bulk(b: bytes) -> bytes:
    n = len(b)
    if n < BULK_HDR_MAX:
        return BULK_HDR[n] + b + CRLF
    return b"$%d\r\n%s\r\n" % (n, b)


def bulks(items) -> bytes:
    """The bulk strings of items, without a header."""
    return b"".join([BULK_HDR[len(b)] + b + CRLF if len(b) < BULK_HDR_MAX
                     else b"$%d\r\n%s\r\n" % (len(b), b) for b in items])


def _after_write(c, key: bytes, event: bytes, dirty: int) -> None:
    db = c.db
    if db.watched:
        db.signal_modified(key)
    srv = c.server
    srv.dirty += dirty
    if srv.notify_flags & NOTIFY_HASH:
        srv.notify(NOTIFY_HASH, event, key, db.id)


def _set_field(c, h: Hash, field: bytes, value: bytes) -> None:
    """hashTypeSet for one computed value (HINCRBY*): conversion checks included."""
    if not h.ht:
        cfg = c.server.config.values
        maxv = cfg["hash-max-listpack-value"]
        if len(field) > maxv or len(value) > maxv:
            h.ht = True
        h[field] = value
        if len(h) > cfg["hash-max-listpack-entries"]:
            h.ht = True
    else:
        h[field] = value


# -- HSET family ------------------------------------------------------------------------

def _hset(c, argv, name: str) -> int:
    n = len(argv)
    if n & 1:
        raise wrong_args(name)
    key = argv[1]
    h = write_or_create(c, key)
    before = len(h)
    if h.ht:
        if n == 4:
            h[argv[2]] = argv[3]
        else:
            h.update(zip(islice(argv, 2, None, 2), islice(argv, 3, None, 2), strict=True))
    else:
        cfg = c.server.config.values
        maxv = cfg["hash-max-listpack-value"]
        for a in islice(argv, 2, None):
            if len(a) > maxv:
                h.ht = True
                break
        if n == 4:
            h[argv[2]] = argv[3]
        else:
            h.update(zip(islice(argv, 2, None, 2), islice(argv, 3, None, 2), strict=True))
        if len(h) > cfg["hash-max-listpack-entries"]:
            h.ht = True
    _after_write(c, key, b"hset", (n - 2) >> 1)
    return len(h) - before


@command("hset", -4, "write denyoom fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Set the string value of a hash field",
         complexity="O(1) for each field/value pair added, so O(N) to add N field/value "
                    "pairs when the command is called with multiple field/value pairs.",
         key_specs=[spec("RW update")])
def hset(c, argv):
    return resp.integer(_hset(c, argv, "hset"))


@command("hmset", -4, "write denyoom fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Set multiple hash fields to multiple values",
         complexity="O(N) where N is the number of fields being set.",
         key_specs=[spec("RW update")])
def hmset(c, argv):
    _hset(c, argv, "hmset")
    return resp.OK


@command("hsetnx", 4, "write denyoom fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Set the value of a hash field, only if the field does not exist",
         complexity="O(1)",
         key_specs=[spec("RW insert")])
def hsetnx(c, argv):
    key, field, value = argv[1], argv[2], argv[3]
    h = write_or_create(c, key)
    if field in h:
        return ZERO
    _set_field(c, h, field, value)
    _after_write(c, key, b"hset", 1)
    return ONE


@command("hincrby", 4, "write denyoom fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Increment the integer value of a hash field by the given number",
         complexity="O(1)")
def hincrby(c, argv):
    incr = parse_int(argv[3])
    key, field = argv[1], argv[2]
    h = write_or_create(c, key)
    old = h.get(field)
    value = 0 if old is None else parse_int(old, b"ERR hash value is not an integer")
    new = value + incr
    if new > I64_MAX or new < I64_MIN:
        raise CommandError(OVERFLOW)
    _set_field(c, h, field, b"%d" % new)
    _after_write(c, key, b"hincrby", 1)
    return resp.integer(new)


@command("hincrbyfloat", 4, "write denyoom fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.6.0", summary="Increment the float value of a hash field by the given amount",
         complexity="O(1)")
def hincrbyfloat(c, argv):
    incr = longdouble.parse(argv[3])
    if incr is None:
        raise CommandError(NOT_FLOAT)
    if isinstance(incr, float):
        raise CommandError(b"ERR value is NaN or Infinity")
    key, field = argv[1], argv[2]
    h = write_or_create(c, key)
    old = h.get(field)
    if old is None:
        value = longdouble.from_int(0)
    else:
        value = longdouble.parse(old)
        if value is None:
            raise CommandError(b"ERR hash value is not a float")
    total = longdouble.add(value, incr)
    if total is None:
        raise CommandError(b"ERR increment would produce NaN or Infinity")
    new = longdouble.format_human(total)
    _set_field(c, h, field, new)
    _after_write(c, key, b"hincrbyfloat", 1)
    # Replicas and the AOF get the result as an HSET: float formatting could differ.
    c.prop = [[b"HSET", key, field, new]]
    return bulk(new)


# -- reads -------------------------------------------------------------------------------

@command("hget", 3, "readonly fast", keys=(1, 1, 1), group=HASH, acl=("hash",), since="2.0.0",
         summary="Get the value of a hash field", complexity="O(1)")
def hget(c, argv):
    h = c.db.lookup_read(argv[1])
    if h is not None:
        if type(h) is not Hash:
            raise wrongtype()
        v = h.get(argv[2])
        if v is not None:
            n = len(v)
            if n < BULK_HDR_MAX:
                return BULK_HDR[n] + v + CRLF
            return b"$%d\r\n%s\r\n" % (n, v)
    return NULL_BULK if c.resp == 2 else NULL3


@command("hmget", -3, "readonly fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Get the values of all the given hash fields",
         complexity="O(N) where N is the number of fields being requested.")
def hmget(c, argv):
    h = read_hash(c, argv[1])
    null = NULL_BULK if c.resp == 2 else NULL3
    parts = [resp.array_header(len(argv) - 2)]
    get = h.get if h is not None else {}.get
    for f in islice(argv, 2, None):
        v = get(f)
        parts.append(null if v is None else bulk(v))
    return b"".join(parts)


@command("hdel", -3, "write fast", keys=(1, 1, 1), group=HASH, acl=("hash",), since="2.0.0",
         summary="Delete one or more hash fields",
         complexity="O(N) where N is the number of fields to be removed.",
         key_specs=[spec("RW delete")])
def hdel(c, argv):
    key = argv[1]
    h = write_hash(c, key)
    if h is None:
        return ZERO
    deleted = 0
    pop = h.pop
    for f in islice(argv, 2, None):
        if pop(f, None) is not None:
            deleted += 1
            if not h:
                break
    if deleted:
        db = c.db
        srv = c.server
        if h:
            if db.watched:
                db.signal_modified(key)
        else:
            db.delete(key)
        if srv.notify_flags & NOTIFY_HASH:
            srv.notify(NOTIFY_HASH, b"hdel", key, db.id)
        if not h:
            srv.notify(NOTIFY_GENERIC, b"del", key, db.id)
        srv.dirty += deleted
    return resp.integer(deleted)


@command("hlen", 2, "readonly fast", keys=(1, 1, 1), group=HASH, acl=("hash",), since="2.0.0",
         summary="Get the number of fields in a hash", complexity="O(1)",
         key_specs=[spec("RO")])
def hlen(c, argv):
    h = read_hash(c, argv[1])
    return ZERO if h is None else resp.integer(len(h))


@command("hstrlen", 3, "readonly fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="3.2.0", summary="Get the length of the value of a hash field",
         complexity="O(1)",
         key_specs=[spec("RO")])
def hstrlen(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return ZERO
    v = h.get(argv[2])
    return ZERO if v is None else resp.integer(len(v))


@command("hexists", 3, "readonly fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Determine if a hash field exists", complexity="O(1)",
         key_specs=[spec("RO")])
def hexists(c, argv):
    h = read_hash(c, argv[1])
    return ONE if h is not None and argv[2] in h else ZERO


_ALL = dict(keys=(1, 1, 1), group=HASH, acl=("hash",), since="2.0.0",
            tips=("nondeterministic_output_order",),
            complexity="O(N) where N is the size of the hash.")


@command("hkeys", 2, "readonly", summary="Get all the fields in a hash", **_ALL)
def hkeys(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return EMPTY_ARRAY
    return resp.array_header(len(h)) + bulks(h)


@command("hvals", 2, "readonly", summary="Get all the values in a hash", **_ALL)
def hvals(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return EMPTY_ARRAY
    return resp.array_header(len(h)) + bulks(h.values())


def _flat(h) -> list[bytes]:
    out = []
    ext = out.extend
    for kv in h.items():
        ext(kv)
    return out


@command("hgetall", 2, "readonly", summary="Get all the fields and values in a hash", **_ALL)
def hgetall(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return b"%0\r\n" if c.resp == 3 else EMPTY_ARRAY
    return resp.map_header(len(h), c.resp) + bulks(_flat(h))


# -- HRANDFIELD -------------------------------------------------------------------------

def random_key(d):
    """A uniformly random key of a non-empty dict or set (O(n) walk, in C)."""
    n = len(d)
    if n == 1:
        return next(iter(d))
    return next(islice(d, random.randrange(n), None))


def _pairs_reply(c, fields, h, withvalues: bool) -> list[bytes]:
    """Reply elements for the chosen fields: RESP3 nests each pair in an array."""
    if not withvalues:
        return [bulk(f) for f in fields]
    if c.resp == 3:
        return [b"*2\r\n" + bulk(f) + bulk(h[f]) for f in fields]
    return [bulk(f) + bulk(h[f]) for f in fields]


@command("hrandfield", -2, "readonly", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="6.2.0", tips=("nondeterministic_output",),
         summary="Get one or multiple random fields from a hash",
         complexity="O(N) where N is the number of fields returned")
def hrandfield(c, argv):
    n = len(argv)
    if n == 2:
        h = read_hash(c, argv[1])
        if h is None:
            return NULL_BULK if c.resp == 2 else NULL3
        return bulk(random_key(h))
    count = parse_int(argv[2])
    if count < -LONG_MAX:
        raise CommandError(RANGE_ERR)
    withvalues = False
    if n > 4 or (n == 4 and argv[3].lower() != b"withvalues"):
        raise syntax()
    if n == 4:
        withvalues = True
        if count < -(LONG_MAX // 2) or count > LONG_MAX // 2:
            raise CommandError(b"ERR value is out of range")
    h = read_hash(c, argv[1])
    if h is None or count == 0:
        return EMPTY_ARRAY
    size = len(h)
    flat2 = withvalues and c.resp == 2
    if count < 0 or count == 1:
        # Repeats allowed: `count` independent picks.
        count = -count if count < 0 else count
        fields = random.choices(list(h), k=count) if size > 1 else [next(iter(h))] * count
    elif count >= size:
        fields = list(h)
    else:
        fields = random.sample(list(h), count)
    hdr = resp.array_header(len(fields) * 2 if flat2 else len(fields))
    return hdr + b"".join(_pairs_reply(c, fields, h, withvalues))


# -- HSCAN ------------------------------------------------------------------------------

@command("hscan", -3, "readonly", keys=(1, 1, 1), group=HASH, acl=("hash",), since="2.8.0",
         tips=("nondeterministic_output",),
         summary="Incrementally iterate hash fields and associated values",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection..")
def hscan(c, argv):
    cursor = parse_cursor(argv[2])
    h = read_hash(c, argv[1])
    if h is None:
        return EMPTY_SCAN
    count, pat, _ = parse_scan_options(argv, 3, False)
    if not h.ht:
        cursor, fields = 0, list(h)
    else:
        cursor, fields = scan_container(h, cursor, count, list)
    m = compile_glob(pat) if pat is not None else None
    out = []
    get = h.get
    for f in fields:
        v = get(f)
        if v is None or (m is not None and not m(f)):
            continue
        out.append(f)
        out.append(v)
    return scan_reply(cursor, out)


TABLE[b"hmset"].doc_flags = ("deprecated",)
