"""Hash commands (t_hash.c).

A hash is held the way Redis 7.0 would encode it:
- LpHash (OBJECT ENCODING listpack): one bytearray of entries in insertion order, the
  order of Redis's listpack (new fields go to the tail, updates stay in place). Each
  entry is FS + field + VS + value, FS = FF 01 and VS = FF 02; an FF byte inside a field
  or value is stored as FF 00. So FF 01 / FF 02 occur only as markers, and a field is
  found exactly by one search in C for FS + field + VS (lp_find): no walk, no per-entry
  Python objects. A 10-field hash costs about what Redis's listpack costs.
- Hash (hashtable): a dict of field -> value, once a field or value is longer than
  hash-max-listpack-value or there are more fields than hash-max-listpack-entries.
  One-way, as in 7.0. `snaps` holds the element lists of HSCANs under way
  (keys.scan_container).
A conversion replaces the key's value (db.data[key]: the TTL and access clock stay)."""

from __future__ import annotations

import random
from itertools import islice

from bocho import longdouble, notify, resp
from bocho.commands import TABLE, command
from bocho.commands.keys import EMPTY_SCAN, parse_scan_options, scan_container, scan_reply, spec
from bocho.db import register_type
from bocho.errors import NOT_FLOAT, OVERFLOW, CommandError, syntax, wrong_args, wrongtype
from bocho.glob import compile_glob
from bocho.util import I64_MAX, I64_MIN, chunk_sizes, parse_cursor, parse_int

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
    """A hashtable-encoded hash."""

    __slots__ = ("snaps",)

    def memory_usage(self, samples: int = 5) -> int:
        """objectComputeSize: a dict of (entry + two sds) per field, sampled."""
        from bocho.memory import OBJ, _str_size
        n = len(self)
        if not n:
            return OBJ + 16
        k = n if samples <= 0 else min(samples, n)
        tot = sum(_str_size(f) + _str_size(v) + 24 for f, v in islice(self.items(), k))
        buckets = 4
        while buckets < n:
            buckets <<= 1
        return OBJ + 88 + buckets * 8 + tot * n // k


class LpHash(bytearray):
    """A listpack-encoded hash (see the module comment for the layout)."""

    __slots__ = ()

    def items(self):
        flat = lp_pairs(self)
        return zip(flat[::2], flat[1::2], strict=True)

    def memory_usage(self, samples: int = 5) -> int:
        from bocho.memory import OBJ, _alloc
        n = len(self)
        esc = self.count(b"\xff\x00")
        return OBJ + _alloc(7 + n - esc - 2 * self.count(FS))


FS = b"\xff\x01"
VS = b"\xff\x02"


def esc(x: bytes) -> bytes:
    return x.replace(b"\xff", b"\xff\x00") if 255 in x else x


def unesc(x) -> bytes:
    if 255 in x:
        return bytes(x).replace(b"\xff\x00", b"\xff")
    return bytes(x)


def lp_find(b: LpHash, f: bytes) -> tuple[int, int]:
    """(start of field f's value, end of it) in b, or (-1, -1)."""
    needle = FS + esc(f) + VS
    p = b.find(needle)
    if p < 0:
        return -1, -1
    vs = p + len(needle)
    ve = b.find(FS, vs)
    return vs, (len(b) if ve < 0 else ve)


def lp_get(b: LpHash, f: bytes) -> bytes | None:
    needle = FS + esc(f) + VS if 255 in f else FS + f + VS
    p = b.find(needle)
    if p < 0:
        return None
    vs = p + len(needle)
    ve = b.find(FS, vs)
    v = b[vs:ve] if ve >= 0 else b[vs:]
    return bytes(v) if 255 not in v else unesc(v)


def lp_set(b: LpHash, f: bytes, v: bytes) -> bool:
    """Set field f to v in b: whether f is new."""
    needle = FS + esc(f) + VS
    p = b.find(needle)
    if p < 0:
        b += needle + esc(v)
        return True
    vs = p + len(needle)
    ve = b.find(FS, vs)
    b[vs:(len(b) if ve < 0 else ve)] = esc(v)
    return False


def lp_del(b: LpHash, f: bytes) -> bool:
    """Remove field f from b: whether it was there."""
    needle = FS + esc(f) + VS
    p = b.find(needle)
    if p < 0:
        return False
    ve = b.find(FS, p + len(needle))
    del b[p:(len(b) if ve < 0 else ve)]
    return True


def lp_len(b: LpHash) -> int:
    return b.count(FS)


def lp_pairs(b: LpHash) -> list[bytes]:
    """[field, value, field, value, ...] of b."""
    out = []
    ext = out.extend
    if b.find(b"\xff\x00") >= 0:
        for e in bytes(b).split(FS)[1:]:
            f, v = e.split(VS)
            ext((f.replace(b"\xff\x00", b"\xff"), v.replace(b"\xff\x00", b"\xff")))
    else:
        for e in bytes(b).split(FS)[1:]:
            ext(e.split(VS))
    return out


def lp_build(flat) -> LpHash:
    """An LpHash of [field, value, ...] (distinct fields)."""
    return LpHash(b"".join([(FS if i & 1 == 0 else VS) + esc(x) for i, x in enumerate(flat)]))


def new_hash() -> Hash:
    h = Hash()
    h.snaps = None
    return h


def to_dict(h: LpHash) -> Hash:
    d = new_hash()
    flat = lp_pairs(h)
    d.update(zip(flat[::2], flat[1::2], strict=True))
    return d


def _copy(h: Hash) -> Hash:
    n = Hash(h)
    n.snaps = None
    return n


register_type(Hash, b"hash", copy=_copy, encoding=lambda h: b"hashtable",
              free_effort=len, field_get=dict.get)
register_type(LpHash, b"hash", copy=LpHash, encoding=lambda h: b"listpack",
              free_effort=lambda h: 1, field_get=lp_get)

try:  # DEBUG DIGEST walks (field, value) pairs
    from bocho.commands.debug import register_digest
    register_digest(Hash, dict.items)
    register_digest(LpHash, LpHash.items)
except ImportError:  # pragma: no cover
    pass


def pairs(h) -> list[bytes]:
    """field, value, field, value, ... of either representation."""
    if type(h) is LpHash:
        return lp_pairs(h)
    out = []
    ext = out.extend
    for kv in h.items():
        ext(kv)
    return out


def field_value(h, f: bytes) -> bytes | None:
    if type(h) is LpHash:
        return lp_get(h, f)
    return h.get(f)


def hash_len(h) -> int:
    return lp_len(h) if type(h) is LpHash else len(h)


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


def _after_write(c, key: bytes, event: bytes, dirty: int) -> None:
    db = c.db
    if db.watched:
        db.signal_modified(key)
    srv = c.server
    srv.dirty += dirty
    if srv.notify_flags & NOTIFY_HASH:
        srv.notify(NOTIFY_HASH, event, key, db.id)


def _convert(c, key: bytes, h) -> Hash:
    """hashTypeConvert: the key's value as a Hash (an LpHash is replaced by one)."""
    if type(h) is Hash:
        return h
    d = to_dict(h)
    c.db.data[key] = d
    return d


def _set_field(c, key: bytes, h, field: bytes, value: bytes) -> None:
    """hashTypeSet for one computed value (HSETNX, HINCRBY*): conversions included."""
    if type(h) is Hash:
        h[field] = value
        return
    cfg = c.server.config.values
    maxv = cfg["hash-max-listpack-value"]
    if len(field) > maxv or len(value) > maxv:
        _convert(c, key, h)[field] = value
        return
    if lp_set(h, field, value) and lp_len(h) > cfg["hash-max-listpack-entries"]:
        _convert(c, key, h)


# -- HSET family ------------------------------------------------------------------------

def _hset(c, argv, name: str) -> int:
    n = len(argv)
    if n & 1:
        raise wrong_args(name)
    key = argv[1]
    h = write_or_create(c, key)
    if type(h) is LpHash:
        cfg = c.server.config.values
        maxv = cfg["hash-max-listpack-value"]
        for a in islice(argv, 2, None):
            if len(a) > maxv:
                h = _convert(c, key, h)
                break
        else:
            created = 0
            if not h and len(set(islice(argv, 2, None, 2))) == (n - 2) >> 1:
                h += lp_build(argv[2:])  # a new key: all at once, no over-allocation
                created = (n - 2) >> 1
            else:
                for i in range(2, n, 2):
                    created += lp_set(h, argv[i], argv[i + 1])
            if created and lp_len(h) > cfg["hash-max-listpack-entries"]:
                _convert(c, key, h)
            _after_write(c, key, b"hset", (n - 2) >> 1)
            return created
    before = len(h)
    if n == 4:
        h[argv[2]] = argv[3]
    else:
        h.update(zip(islice(argv, 2, None, 2), islice(argv, 3, None, 2), strict=True))
    _after_write(c, key, b"hset", (n - 2) >> 1)
    return len(h) - before


@command("hset", -4, "write denyoom fast", keys=(1, 1, 1), group=HASH, acl=("hash",),
         since="2.0.0", summary="Set the string value of a hash field",
         complexity="O(1) for each field/value pair added, so O(N) to add N field/value "
                    "pairs when the command is called with multiple field/value pairs.",
         key_specs=[spec("RW update")])
def hset(c, argv):
    if len(argv) == 4:
        # One pair into an existing hash, the common case, without the general path.
        key = argv[1]
        db = c.db
        h = db.data.get(key)
        if h is not None and not (db.expires and key in db.expires):
            t = type(h)
            f = argv[2]
            v = argv[3]
            if t is Hash:
                added = f not in h
                h[f] = v
            elif t is LpHash:
                cfg = c.server.config.values
                maxv = cfg["hash-max-listpack-value"]
                if len(f) > maxv or len(v) > maxv or 255 in f or 255 in v:
                    return resp.integer(_hset(c, argv, "hset"))
                needle = FS + f + VS
                p = h.find(needle)
                if p >= 0:
                    p += len(needle)
                    e = h.find(FS, p)
                    h[p:e if e >= 0 else len(h)] = v
                    added = False
                else:
                    h += needle + v
                    added = True
                    if h.count(FS) > cfg["hash-max-listpack-entries"]:
                        _convert(c, key, h)
            else:
                raise wrongtype()
            if db.lru is not None and not c.server.current_client_no_touch():
                db.touch(key)
            if db.watched:
                db.signal_modified(key)
            srv = c.server
            srv.dirty += 1
            if srv.notify_flags & NOTIFY_HASH:
                srv.notify(NOTIFY_HASH, b"hset", key, db.id)
            return ONE if added else ZERO
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
            needle = FS + f + VS if 255 not in f else FS + esc(f) + VS
            p = h.find(needle)
            if p < 0:
                v = None
            else:
                vs = p + len(needle)
                ve = h.find(FS, vs)
                v = h[vs:ve] if ve >= 0 else h[vs:]
                if 255 in v:
                    v = unesc(v)
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
            if lp_del(h, f):
                deleted += 1
                if not h:
                    break
        left = len(h)
    else:
        pop = h.pop
        for f in islice(argv, 2, None):
            if pop(f, None) is not None:
                deleted += 1
                if not h:
                    break
        left = len(h)
    if deleted:
        db = c.db
        srv = c.server
        if left:
            if db.watched:
                db.signal_modified(key)
        else:
            db.delete(key)
        if srv.notify_flags & NOTIFY_HASH:
            srv.notify(NOTIFY_HASH, b"hdel", key, db.id)
        if not left:
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
    return resp.integer(hash_len(h))


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
    fields = lp_pairs(h)[::2] if type(h) is LpHash else h
    return resp.array_header(len(fields)) + resp.bulks(fields)


@command("hvals", 2, "readonly", summary="Get all the values in a hash", **_ALL)
def hvals(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return EMPTY_ARRAY
    vals = lp_pairs(h)[1::2] if type(h) is LpHash else h.values()
    return resp.array_header(len(vals)) + resp.bulks(vals)


@command("hgetall", 2, "readonly", summary="Get all the fields and values in a hash", **_ALL)
def hgetall(c, argv):
    h = read_hash(c, argv[1])
    if h is None:
        return b"%0\r\n" if c.resp == 3 else EMPTY_ARRAY
    flat = pairs(h)
    return resp.map_header(len(flat) >> 1, c.resp) + resp.bulks(flat)


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
            return bulk(lp_pairs(h)[random.randrange(lp_len(h)) << 1])
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
        # Repeats allowed: `count` independent picks, made and encoded a chunk at a time
        # so that a huge count stops at the client's output limit.
        count = -count if count < 0 else count
        pool = list(h)
        hdr = resp.array_header(count * 2 if flat2 else count)
        body = c.bounded_reply(
            b"".join(_pairs_reply(c, random.choices(pool, k=k), h, withvalues))
            for k in chunk_sizes(count))
        return None if body is None else hdr + body
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
    if type(h) is LpHash:
        cursor, out = 0, lp_pairs(h)
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
