"""Hash commands (t_hash.c).

Two representations, one Redis TYPE "hash":
- LpHash, a flat list [field0, value0, field1, value1, ...] in insertion order: a small
  hash in Redis's listpack encoding (which keeps the same order: new fields go to the
  tail, updates stay in place). Field names are interned (bounded table), so the many
  hashes of one schema share them: with the list this keeps a small hash at about a
  third of the memory of a dict of fresh bytes. Lookups scan the list (in C); it holds
  at most LP_REPR_MAX fields.
- Hash, a dict of field -> value in insertion order, for everything else. `ht` says
  whether Redis would have converted it to a hashtable (a field or value longer than
  hash-max-listpack-value, more fields than hash-max-listpack-entries; one-way, as 7.0);
  a Hash with ht False is a listpack hash too big for the list. `snaps` holds the
  element lists of HSCANs under way (keys.scan_container).
A write that outgrows the list replaces the key's value with a Hash (db.data[key]: the
TTL and access clock stay)."""

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


class LpHash(list):
    __slots__ = ()

    def items(self):
        return zip(self[::2], self[1::2], strict=True)

    def memory_usage(self, samples: int = 5) -> int:
        from bocho.memory import OBJ, _alloc
        return OBJ + _alloc(7 + sum(len(x) + 2 for x in self))


LP_REPR_MAX = 32  # fields an LpHash holds at most (its lookups are linear scans)
INTERN_MAX = 1 << 16  # field names kept in the intern table at most
INTERN_LEN = 64  # longest field name interned
_INTERN: dict[bytes, bytes] = {}


def intern(f: bytes) -> bytes:
    """The shared copy of a field name (short names, while the table has room)."""
    g = _INTERN.get(f)
    if g is not None:
        return g
    if len(f) <= INTERN_LEN and len(_INTERN) < INTERN_MAX:
        _INTERN[f] = f
    return f


def lp_index(h: LpHash, f: bytes) -> int:
    """Position of field f in h, or -1."""
    if f not in h:
        return -1
    i = h.index(f)
    if not i & 1:
        return i
    for j in range(0, len(h), 2):  # f occurs as a value: look at the fields only
        if h[j] == f:
            return j
    return -1


def new_hash(ht: bool = False) -> Hash:
    h = Hash()
    h.ht = ht
    h.snaps = None
    return h


def to_dict(h: LpHash, ht: bool) -> Hash:
    d = new_hash(ht)
    d.update(zip(h[::2], h[1::2], strict=True))
    return d


def _copy(h: Hash) -> Hash:
    n = Hash(h)
    n.ht = h.ht
    n.snaps = None
    return n


def _field_get(h: Hash, field: bytes) -> bytes | None:
    return h.get(field)


def _lp_field_get(h: LpHash, field: bytes) -> bytes | None:
    i = lp_index(h, field)
    return None if i < 0 else h[i + 1]


register_type(Hash, b"hash", copy=_copy,
              encoding=lambda h: b"hashtable" if h.ht else b"listpack",
              free_effort=lambda h: len(h) if h.ht else 1,
              field_get=_field_get)
register_type(LpHash, b"hash", copy=LpHash, encoding=lambda h: b"listpack",
              free_effort=lambda h: 1, field_get=_lp_field_get)

try:  # DEBUG DIGEST walks (field, value) pairs
    from bocho.commands.debug import register_digest
    register_digest(Hash, dict.items)
    register_digest(LpHash, LpHash.items)
except ImportError:  # pragma: no cover
    pass


def pairs(h) -> list[bytes]:
    """field, value, field, value, ... of either representation."""
    if type(h) is LpHash:
        return h
    out = []
    ext = out.extend
    for kv in h.items():
        ext(kv)
    return out


def field_value(h, f: bytes) -> bytes | None:
    if type(h) is LpHash:
        i = lp_index(h, f)
        return None if i < 0 else h[i + 1]
    return h.get(f)


# -- lookups ----------------------------------------------------------------------------

def read_hash(c, key: bytes):
    v = c.db.lookup_read(key)
    if v is None or type(v) is LpHash or type(v) is Hash:
        return v
    raise wrongtype()


def write_hash(c, key: bytes):
    v = c.db.lookup_write(key)
    if v is None or type(v) is LpHash or type(v) is Hash:
        return v
    raise wrongtype()


def write_or_create(c, key: bytes):
    """hashTypeLookupWriteOrCreate."""
    db = c.db
    v = db.lookup_write(key)
    if v is None:
        v = LpHash()
        db.add(key, v)
        return v
    if type(v) is not LpHash and type(v) is not Hash:
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


def _set_field(c, key: bytes, h, field: bytes, value: bytes) -> None:
    """hashTypeSet for one computed value (HSETNX, HINCRBY*): conversions included."""
    if type(h) is Hash and h.ht:
        h[field] = value
        return
    cfg = c.server.config.values
    maxv = cfg["hash-max-listpack-value"]
    if len(field) > maxv or len(value) > maxv:
        h = _convert(c, key, h, True)
        h[field] = value
        return
    if type(h) is Hash:
        h[field] = value
        if len(h) > cfg["hash-max-listpack-entries"]:
            h.ht = True
        return
    i = lp_index(h, field)
    if i >= 0:
        h[i + 1] = value
        return
    h.append(intern(field))
    h.append(value)
    _check_lp(c, key, h, cfg)


def _convert(c, key: bytes, h, ht: bool) -> Hash:
    """The key's value as a Hash (converting an LpHash in place in the keyspace)."""
    if type(h) is Hash:
        if ht:
            h.ht = True
        return h
    d = to_dict(h, ht)
    c.db.data[key] = d
    return d


def _check_lp(c, key: bytes, h: LpHash, cfg) -> None:
    """After fields were added to an LpHash: too many for listpack or for the list."""
    n = len(h) >> 1
    if n > LP_REPR_MAX or n > cfg["hash-max-listpack-entries"]:
        _convert(c, key, h, n > cfg["hash-max-listpack-entries"])


# -- HSET family ------------------------------------------------------------------------

def _hset(c, argv, name: str) -> int:
    n = len(argv)
    if n & 1:
        raise wrong_args(name)
    key = argv[1]
    h = write_or_create(c, key)
    if type(h) is Hash and h.ht:
        before = len(h)
        if n == 4:
            h[argv[2]] = argv[3]
        else:
            h.update(zip(islice(argv, 2, None, 2), islice(argv, 3, None, 2), strict=True))
        _after_write(c, key, b"hset", (n - 2) >> 1)
        return len(h) - before
    cfg = c.server.config.values
    maxv = cfg["hash-max-listpack-value"]
    for a in islice(argv, 2, None):
        if len(a) > maxv:
            h = _convert(c, key, h, True)
            break
    if type(h) is Hash:
        before = len(h)
        h.update(zip(islice(argv, 2, None, 2), islice(argv, 3, None, 2), strict=True))
        if len(h) > cfg["hash-max-listpack-entries"]:
            h.ht = True
        created = len(h) - before
    else:
        created = 0
        for i in range(2, n, 2):
            f = argv[i]
            j = lp_index(h, f)
            if j < 0:
                h.append(intern(f))
                h.append(argv[i + 1])
                created += 1
            else:
                h[j + 1] = argv[i + 1]
        if created:
            _check_lp(c, key, h, cfg)
    _after_write(c, key, b"hset", (n - 2) >> 1)
    return created


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
    if field_value(h, field) is not None:
        return ZERO
    _set_field(c, key, h, field, value)
    _after_write(c, key, b"hset", 1)
    return ONE


@command("hincrby", 4, "write denyoom fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Increment the integer value of a hash field by the given number",
         complexity="O(1)")
def hincrby(c, argv):
    incr = parse_int(argv[3])
    key, field = argv[1], argv[2]
    h = write_or_create(c, key)
    old = field_value(h, field)
    value = 0 if old is None else parse_int(old, b"ERR hash value is not an integer")
    new = value + incr
    if new > I64_MAX or new < I64_MIN:
        raise CommandError(OVERFLOW)
    _set_field(c, key, h, field, b"%d" % new)
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
    old = field_value(h, field)
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
    _set_field(c, key, h, field, new)
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
        t = type(h)
        if t is LpHash:
            f = argv[2]
            if f in h:
                i = h.index(f)
                v = h[i + 1] if not i & 1 else field_value(h, f)
            else:
                v = None
        elif t is Hash:
            v = h.get(argv[2])
        else:
            raise wrongtype()
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
    for f in islice(argv, 2, None):
        v = None if h is None else field_value(h, f)
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
    if type(h) is LpHash:
        for f in islice(argv, 2, None):
            i = lp_index(h, f)
            if i >= 0:
                del h[i:i + 2]
                deleted += 1
                if not h:
                    break
    else:
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
    if h is None:
        return ZERO
    return resp.integer(len(h) >> 1 if type(h) is LpHash else len(h))


@command("hstrlen", 3, "readonly fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="3.2.0", summary="Get the length of the value of a hash field",
         complexity="O(1)",
         key_specs=[spec("RO")])
def hstrlen(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return ZERO
    v = field_value(h, argv[2])
    return ZERO if v is None else resp.integer(len(v))


@command("hexists", 3, "readonly fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Determine if a hash field exists", complexity="O(1)",
         key_specs=[spec("RO")])
def hexists(c, argv):
    h = read_hash(c, argv[1])
    return ONE if h is not None and field_value(h, argv[2]) is not None else ZERO


_ALL = dict(keys=(1, 1, 1), group=HASH, acl=("hash",), since="2.0.0",
            tips=("nondeterministic_output_order",),
            complexity="O(N) where N is the size of the hash.")


@command("hkeys", 2, "readonly", summary="Get all the fields in a hash", **_ALL)
def hkeys(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return EMPTY_ARRAY
    fields = h[::2] if type(h) is LpHash else h
    return resp.array_header(len(fields)) + bulks(fields)


@command("hvals", 2, "readonly", summary="Get all the values in a hash", **_ALL)
def hvals(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return EMPTY_ARRAY
    vals = h[1::2] if type(h) is LpHash else h.values()
    return resp.array_header(len(vals)) + bulks(vals)


@command("hgetall", 2, "readonly", summary="Get all the fields and values in a hash", **_ALL)
def hgetall(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return b"%0\r\n" if c.resp == 3 else EMPTY_ARRAY
    flat = pairs(h)
    return resp.map_header(len(flat) >> 1, c.resp) + bulks(flat)


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
        if type(h) is LpHash:
            return bulk(h[random.randrange(len(h) >> 1) << 1])
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
    if type(h) is LpHash:
        h = dict(h.items())
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
    if type(h) is LpHash or not h.ht:
        cursor, out = 0, pairs(h)
    else:
        cursor, fields = scan_container(h, cursor, count, list)
        out = []
        get = h.get
        for f in fields:
            v = get(f)
            if v is not None:
                out.append(f)
                out.append(v)
    if pat is not None:
        m = compile_glob(pat)
        out = [x for i in range(0, len(out), 2) if m(out[i]) for x in out[i:i + 2]]
    return scan_reply(cursor, out)


TABLE[b"hmset"].doc_flags = ("deprecated",)
