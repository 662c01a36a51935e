"""Set commands (t_set.c).

A set is held the way Redis 7.0 would encode it:
- IntSet (OBJECT ENCODING intset): a sorted array of signed 64-bit integers, as Redis's
  intset, for a set of canonical integers (string2ll's form) of at most
  set-max-intset-entries members. Membership is a binary search, a random member an
  index; what Redis walks in intset order (SMEMBERS, SSCAN, SINTER, SPOP of the whole
  set) comes out ascending here too. About 8 bytes a member instead of a bytes object
  and a hash-table slot each.
- Set (hashtable): a Python set of the members (bytes), for everything else. `snaps`
  holds the element lists of SSCANs under way (keys.scan_container).
The conversion is one-way (as 7.0, which has no listpack sets); it replaces the key's
value (db.data[key]: the TTL and access clock stay)."""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left
from itertools import islice

from bocho import notify, resp
from bocho.commands import command
from bocho.commands.keys import EMPTY_SCAN, parse_scan_options, scan_container, scan_reply, spec
from bocho.db import _is_long, register_type
from bocho.errors import CommandError, syntax, wrongtype
from bocho.glob import compile_glob
from bocho.util import I64_MAX, chunk_sizes, parse_cursor, parse_int

SET = "set"
NOTIFY_SET = notify.SET
NOTIFY_GENERIC = notify.GENERIC
NULL_BULK = resp.NULL_BULK
NULL3 = resp.NULL3
ZERO = resp.ZERO
ONE = resp.ONE
EMPTY_ARRAY = resp.EMPTY_ARRAY
BULK_HDR = resp.BULK_HDR
BULK_HDR_MAX = resp.BULK_HDR_MAX
CRLF = resp.CRLF
RANGE_ERR = b"ERR value is out of range, value must between -9223372036854775807 and " \
            b"9223372036854775807"
SPOP_MOVE_STRATEGY_MUL = 5
INTSET_HARD_MAX = 1 << 30


class Set(set):
    """A hashtable-encoded set."""

    __slots__ = ("snaps",)

    def memory_usage(self, samples: int = 5) -> int:
        """objectComputeSize: a dict of entry + sds per member, sampled."""
        from bocho.memory import OBJ, _str_size
        n = len(self)
        if not n:
            return OBJ + 16
        k = n if samples <= 0 else min(samples, n)
        tot = sum(_str_size(m) + 24 for m in islice(self, k))
        buckets = 4
        while buckets < n:
            buckets <<= 1
        return OBJ + 88 + buckets * 8 + tot * n // k


class IntSet(array):
    """An intset-encoded set: sorted distinct int64 values."""

    __slots__ = ()

    def memory_usage(self, samples: int = 5) -> int:
        """Redis's intset: a header and the narrowest width that fits every member."""
        from bocho.memory import OBJ, _alloc
        n = len(self)
        lo, hi = (self[0], self[-1]) if n else (0, 0)
        width = 2 if -32768 <= lo and hi < 32768 else \
            4 if -2**31 <= lo and hi < 2**31 else 8
        return OBJ + _alloc(8 + width * n)


def new_intset(values=()) -> IntSet:
    return IntSet("q", values)


def new_set(members=()) -> Set:
    s = Set(members)
    s.snaps = None
    return s


def _copy(s: Set) -> Set:
    return new_set(s)


def ordered(s) -> list[bytes]:
    """The members in Redis's iteration order where it is defined (intset: ascending)."""
    if type(s) is IntSet:
        return [b"%d" % x for x in s]
    return list(s)


def pyset(s):
    """The members as something `in` works on with bytes (a set)."""
    if type(s) is IntSet:
        return {b"%d" % x for x in s}
    return s


def contains(s, m: bytes) -> bool:
    if type(s) is IntSet:
        if not _is_long(m):
            return False
        x = int(m)
        i = bisect_left(s, x)
        return i < len(s) and s[i] == x
    return m in s


register_type(Set, b"set", copy=_copy, encoding=lambda s: b"hashtable",
              sort_elements=lambda s: (b"set", list(s)), free_effort=len)
register_type(IntSet, b"set", copy=new_intset, encoding=lambda s: b"intset",
              sort_elements=lambda s: (b"set", ordered(s)), free_effort=lambda s: 1)

try:  # DEBUG DIGEST walks the members
    from bocho.commands.debug import register_digest
    register_digest(Set, lambda s: s)
    register_digest(IntSet, ordered)
except ImportError:  # pragma: no cover
    pass


def max_intset(cfg) -> int:
    return min(cfg["set-max-intset-entries"], INTSET_HARD_MAX)


def as_ints(members, cfg) -> list[int] | None:
    """The sorted distinct integers of members if they would stay an intset: each one a
    canonical integer, at most set-max-intset-entries of them; else None."""
    ints = set()
    for m in members:
        if not _is_long(m):
            return None
        ints.add(int(m))
    return sorted(ints) if len(ints) <= max_intset(cfg) else None


def build(members, cfg, ht: bool = False):
    """A new set of members (bytes), with the encoding Redis's setTypeAdd reaches adding
    them one by one to an empty intset (or a hashtable when `ht`)."""
    if not ht:
        ints = as_ints(members, cfg)
        if ints is not None:
            return new_intset(ints)
    return new_set(members)


def to_hashtable(c, key: bytes, s: IntSet) -> Set:
    """setTypeConvert: the key's intset becomes a hashtable."""
    h = new_set(ordered(s))
    c.db.data[key] = h
    return h


def add(c, key: bytes, s, members) -> int:
    """setTypeAdd for each of members into key's set s: how many were new."""
    if type(s) is Set:
        before = len(s)
        s.update(members)
        return len(s) - before
    added = 0
    limit = max_intset(c.server.config.values)
    for j, m in enumerate(members):
        if not _is_long(m):
            h = to_hashtable(c, key, s)
            before = len(h)
            h.update(islice(members, j, None))
            return added + len(h) - before
        x = int(m)
        i = bisect_left(s, x)
        if i == len(s) or s[i] != x:
            s.insert(i, x)
            added += 1
    if len(s) > limit:
        to_hashtable(c, key, s)
    return added


def discard(s, m: bytes) -> bool:
    """setTypeRemove: whether m was there."""
    if type(s) is IntSet:
        if not _is_long(m):
            return False
        x = int(m)
        i = bisect_left(s, x)
        if i < len(s) and s[i] == x:
            del s[i]
            return True
        return False
    if m in s:
        s.discard(m)
        return True
    return False


# -- lookups ----------------------------------------------------------------------------

def read_set(c, key: bytes):
    v = c.db.lookup_read(key)
    if v is None or type(v) is Set or type(v) is IntSet:
        return v
    raise wrongtype()


def write_set(c, key: bytes):
    v = c.db.lookup_write(key)
    if v is None or type(v) is Set or type(v) is IntSet:
        return v
    raise wrongtype()


def bulk(b: bytes) -> bytes:
    n = len(b)
    if n < BULK_HDR_MAX:
        return BULK_HDR[n] + b + CRLF
    return b"$%d\r\n%s\r\n" % (n, b)


def set_reply(c, members) -> bytes:
    """A set reply (RESP3 `~`) of members in the order given."""
    return resp.set_header(len(members), c.resp) + resp.bulks(members)


# Above this size SPOP takes members of a hashtable set with set.pop(): O(1), in the
# order of the set's table, which follows the members' (per-process randomised) hashes
# rather than their values or insertion order. A uniform pick is an O(n) walk.
POP_WALK_MAX = 64


def random_member(s) -> bytes:
    """A uniformly random member of a non-empty set."""
    if type(s) is IntSet:
        return b"%d" % s[random.randrange(len(s))]
    n = len(s)
    if n == 1:
        return next(iter(s))
    return next(islice(s, random.randrange(n), None))


def pop_member(s) -> bytes:
    """Remove and return a random member of a non-empty set."""
    if type(s) is IntSet:
        return b"%d" % s.pop(random.randrange(len(s)))
    if len(s) > POP_WALK_MAX:
        return s.pop()
    m = random_member(s)
    s.discard(m)
    return m


def _removed(c, key: bytes, s, event: bytes, dirty: int) -> None:
    """After members left key's set: WATCH, the events, delete it if empty, dirty."""
    db = c.db
    srv = c.server
    if s:
        if db.watched:
            db.signal_modified(key)
    else:
        db.delete(key)
    if srv.notify_flags & NOTIFY_SET:
        srv.notify(NOTIFY_SET, event, key, db.id)
    if not s:
        srv.notify(NOTIFY_GENERIC, b"del", key, db.id)
    srv.dirty += dirty


# -- SADD / SREM / SMOVE ----------------------------------------------------------------

@command("sadd", -3, "write denyoom fast", keys=(1, 1, 1), group=SET, acl=("set",),
         summary="Add one or more members to a set",
         complexity="O(1) for each element added, so O(N) to add N elements when the "
                    "command is called with multiple arguments.",
         key_specs=[spec("RW insert")])
def sadd(c, argv):
    key = argv[1]
    db = c.db
    if len(argv) == 3:
        # One member into an existing hashtable set, the common case, without the
        # general path (lookup_write's expiry and access clock handled inline).
        s = db.data.get(key)
        if type(s) is Set and not (db.expires and key in db.expires):
            if db.lru is not None and not c.server.current_client_no_touch():
                db.touch(key)
            m = argv[2]
            if m in s:
                return ZERO
            s.add(m)
            if db.watched:
                db.signal_modified(key)
            srv = c.server
            if srv.notify_flags & NOTIFY_SET:
                srv.notify(NOTIFY_SET, b"sadd", key, db.id)
            srv.dirty += 1
            return ONE
    s = db.lookup_write(key)
    t = type(s)
    if s is None:
        s = build(argv[2:], c.server.config.values)
        db.add(key, s)
        added = len(s)
    elif t is Set:
        if len(argv) == 3:
            m = argv[2]
            if m in s:
                return ZERO
            s.add(m)
            added = 1
        else:
            before = len(s)
            s.update(islice(argv, 2, None))
            added = len(s) - before
    elif t is IntSet:
        added = add(c, key, s, argv[2:])
    else:
        raise wrongtype()
    if added:
        if db.watched:
            db.signal_modified(key)
        srv = c.server
        if srv.notify_flags & NOTIFY_SET:
            srv.notify(NOTIFY_SET, b"sadd", key, db.id)
        srv.dirty += added
    return resp.integer(added)


@command("srem", -3, "write fast", keys=(1, 1, 1), group=SET, acl=("set",),
         summary="Remove one or more members from a set",
         complexity="O(N) where N is the number of members to be removed.",
         key_specs=[spec("RW delete")])
def srem(c, argv):
    key = argv[1]
    s = write_set(c, key)
    if s is None:
        return ZERO
    deleted = 0
    for m in islice(argv, 2, None):
        if discard(s, m):
            deleted += 1
            if not s:
                break
    if deleted:
        _removed(c, key, s, b"srem", deleted)
    return resp.integer(deleted)


@command("smove", 4, "write fast", keys=(1, 2, 1), group=SET, acl=("set",),
         summary="Move a member from one set to another", complexity="O(1)",
         key_specs=[spec("RW access delete"),
                    spec("RW insert", pos=2)])
def smove(c, argv):
    srckey, dstkey, member = argv[1], argv[2], argv[3]
    db = c.db
    src = db.lookup_write(srckey)
    dst = db.lookup_write(dstkey)
    if src is None:
        return ZERO
    if (type(src) is not Set and type(src) is not IntSet) or (
            dst is not None and type(dst) is not Set and type(dst) is not IntSet):
        raise wrongtype()
    if src is dst:
        return ONE if contains(src, member) else ZERO
    if not discard(src, member):
        return ZERO
    srv = c.server
    if srv.notify_flags & NOTIFY_SET:
        srv.notify(NOTIFY_SET, b"srem", srckey, db.id)
    if not src:
        db.delete(srckey)
        srv.notify(NOTIFY_GENERIC, b"del", srckey, db.id)
    if db.watched:
        db.signal_modified(srckey)
    srv.dirty += 1
    if dst is None:
        db.add(dstkey, build((member,), srv.config.values))
        added = 1
    else:
        added = add(c, dstkey, dst, (member,))
    if added:
        srv.dirty += 1
        if db.watched:
            db.signal_modified(dstkey)
        if srv.notify_flags & NOTIFY_SET:
            srv.notify(NOTIFY_SET, b"sadd", dstkey, db.id)
    return ONE


# -- reads -------------------------------------------------------------------------------

@command("scard", 2, "readonly fast", keys=(1, 1, 1), group=SET, acl=("set",),
         summary="Get the number of members in a set", complexity="O(1)",
         key_specs=[spec("RO")])
def scard(c, argv):
    s = read_set(c, argv[1])
    return ZERO if s is None else resp.integer(len(s))


@command("sismember", 3, "readonly fast", keys=(1, 1, 1), group=SET, acl=("set",),
         summary="Determine if a given value is a member of a set", complexity="O(1)",
         key_specs=[spec("RO")])
def sismember(c, argv):
    s = c.db.lookup_read(argv[1])
    if s is None:
        return ZERO
    t = type(s)
    if t is Set:
        return ONE if argv[2] in s else ZERO
    if t is IntSet:
        return ONE if contains(s, argv[2]) else ZERO
    raise wrongtype()


@command("smismember", -3, "readonly fast", keys=(1, 1, 1), group=SET, acl=("set",),
         since="6.2.0",
         summary="Returns the membership associated with the given elements for a set",
         complexity="O(N) where N is the number of elements being checked for membership")
def smismember(c, argv):
    s = read_set(c, argv[1])
    return resp.array_header(len(argv) - 2) + b"".join(
        [ONE if s is not None and contains(s, m) else ZERO for m in islice(argv, 2, None)])


@command("smembers", 2, "readonly", keys=(1, 1, 1), group=SET, acl=("set",),
         tips=("nondeterministic_output_order",), summary="Get all the members in a set",
         complexity="O(N) where N is the set cardinality.")
def smembers(c, argv):
    s = read_set(c, argv[1])
    if s is None:
        return resp.set_header(0, c.resp)
    return set_reply(c, ordered(s))


# -- random members: SRANDMEMBER, SPOP ----------------------------------------------------

@command("srandmember", -2, "readonly", keys=(1, 1, 1), group=SET, acl=("set",),
         tips=("nondeterministic_output",),
         summary="Get one or multiple random members from a set",
         complexity="Without the count argument O(1), otherwise O(N) where N is the "
                    "absolute value of the passed count.")
def srandmember(c, argv):
    n = len(argv)
    if n == 2:
        s = read_set(c, argv[1])
        if s is None:
            return NULL_BULK if c.resp == 2 else NULL3
        return bulk(random_member(s))
    if n > 3:
        raise syntax()
    count = parse_int(argv[2])
    if count < -I64_MAX:
        raise CommandError(RANGE_ERR)
    s = read_set(c, argv[1])
    if s is None or count == 0:
        return EMPTY_ARRAY
    size = len(s)
    if count < 0 or count == 1:
        # Repeats allowed, a chunk at a time (see HRANDFIELD)
        count = -count if count < 0 else count
        members = ordered(s) if type(s) is IntSet else list(s)
        body = c.bounded_reply(resp.bulks(random.choices(members, k=k))
                               for k in chunk_sizes(count))
        return None if body is None else resp.array_header(count) + body
    elif count >= size:
        chosen = ordered(s)
    else:
        chosen = random.sample(ordered(s), count)
    return resp.array_header(len(chosen)) + resp.bulks(chosen)


@command("spop", -2, "write fast", keys=(1, 1, 1), group=SET, acl=("set",),
         tips=("nondeterministic_output",),
         summary="Remove and return one or multiple random members from a set",
         complexity="Without the count argument O(1), otherwise O(N) where N is the value "
                    "of the passed count.",
         key_specs=[spec("RW access delete")])
def spop(c, argv):
    n = len(argv)
    key = argv[1]
    if n == 3:
        return _spop_count(c, key, argv[2])
    if n > 3:
        raise syntax()
    s = write_set(c, key)
    if s is None:
        return NULL_BULK if c.resp == 2 else NULL3
    m = pop_member(s)
    c.prop = [[b"SREM", key, m]]
    _removed(c, key, s, b"spop", 1)
    return bulk(m)


def _spop_count(c, key: bytes, arg: bytes) -> bytes:
    count = parse_int(arg, b"ERR value is out of range, must be positive")
    if count < 0:
        raise CommandError(b"ERR value is out of range, must be positive")
    s = write_set(c, key)
    if s is None or count == 0:
        return resp.set_header(0, c.resp)
    db = c.db
    srv = c.server
    size = len(s)
    if srv.notify_flags & NOTIFY_SET:
        srv.notify(NOTIFY_SET, b"spop", key, db.id)
    if count >= size:
        # The whole set: replicated as a DEL of the key.
        out = ordered(s)
        srv.dirty += size
        db.delete(key)
        srv.notify(NOTIFY_GENERIC, b"del", key, db.id)
        c.prop = [[b"DEL", key]]
        return set_reply(c, out)
    remaining = size - count
    if remaining * SPOP_MOVE_STRATEGY_MUL > count:
        # Few to take: pick them at random.
        if type(s) is IntSet:
            pop = s.pop
            out = [b"%d" % pop(random.randrange(size - i)) for i in range(count)]
        elif size > POP_WALK_MAX:
            pop = s.pop
            out = [pop() for _ in range(count)]
        else:
            out = random.sample(list(s), count)
            s.difference_update(out)
    else:
        # Most of the set goes: pick the members that stay; they form the new value,
        # whose encoding is chosen afresh (Redis builds a new set of them).
        members = ordered(s)
        keep = random.sample(members, remaining)
        kept = set(keep)
        out = [m for m in members if m not in kept]
        db.data[key] = build(keep, srv.config.values)
    if db.watched:
        db.signal_modified(key)
    srv.dirty += count
    c.prop = [[b"SREM", key, m] for m in out]
    return set_reply(c, out)


# -- SINTER / SUNION / SDIFF and their STORE / CARD forms ------------------------------------

def _lookup_sets(c, keys) -> list:
    """Each key's set (None if missing); WRONGTYPE for any other type, as Redis looks
    them all up before doing anything."""
    out = []
    lookup = c.db.lookup_read
    for k in keys:
        v = lookup(k)
        if v is not None and type(v) is not Set and type(v) is not IntSet:
            raise wrongtype()
        out.append(v)
    return out


def _inter(sets: list, limit: int = 0) -> list[bytes]:
    """The intersection in the iteration order of the smallest set."""
    sets = sorted(sets, key=len)
    first = sets[0]
    others = [pyset(s) for s in sets[1:] if s is not first]
    src = ordered(first)
    if not others:
        return src[:limit] if limit else src
    out = []
    for m in src:
        for o in others:
            if m not in o:
                break
        else:
            out.append(m)
            if limit and len(out) >= limit:
                break
    return out


_MULTI = dict(group=SET, acl=("set",), tips=("nondeterministic_output_order",))
_INTER_CX = ("O(N*M) worst case where N is the cardinality of the smallest set and M is the "
             "number of sets.")
_SUM_CX = "O(N) where N is the total number of elements in all given sets."
_STORE_SPECS = [spec("OW update"),
                spec("RO access", pos=2, lastkey=-1)]


@command("sinter", -2, "readonly", keys=(1, -1, 1), summary="Intersect multiple sets",
         complexity=_INTER_CX, **_MULTI)
def sinter(c, argv):
    sets = _lookup_sets(c, argv[1:])
    if None in sets:
        return resp.set_header(0, c.resp)
    return set_reply(c, _inter(sets))


@command("sinterstore", -3, "write denyoom", keys=(1, -1, 1), group=SET, acl=("set",),
         summary="Intersect multiple sets and store the resulting set in a key",
         complexity=_INTER_CX,
         key_specs=[spec("RW update"), _STORE_SPECS[1]])
def sinterstore(c, argv):
    sets = _lookup_sets(c, argv[2:])
    s = () if None in sets else build(_inter(sets), c.server.config.values)
    return _store_set(c, argv[1], s, b"sinterstore")


def _sintercard_keys(argv: list[bytes]) -> list[int]:
    try:
        n = int(argv[1])
    except ValueError:
        return []
    return list(range(2, min(2 + max(n, 0), len(argv))))


@command("sintercard", -3, "readonly", group=SET, acl=("set",), since="7.0.0",
         getkeys=_sintercard_keys,
         summary="Intersect multiple sets and return the cardinality of the result",
         complexity=_INTER_CX,
         key_specs=[{"flags": ["RO", "access"], "begin_search": {"index": {"pos": 1}},
                     "find_keys": {"keynum": {"keynumidx": 0, "firstkey": 1, "step": 1}}}])
def sintercard(c, argv):
    numkeys = parse_int(argv[1], b"ERR numkeys should be greater than 0")
    if numkeys < 1:
        raise CommandError(b"ERR numkeys should be greater than 0")
    n = len(argv)
    if numkeys > n - 2:
        raise CommandError(b"ERR Number of keys can't be greater than number of args")
    limit = 0
    j = 2 + numkeys
    while j < n:
        if argv[j].lower() == b"limit" and j + 1 < n:
            j += 1
            limit = parse_int(argv[j], b"ERR LIMIT can't be negative")
            if limit < 0:
                raise CommandError(b"ERR LIMIT can't be negative")
        else:
            raise syntax()
        j += 1
    sets = _lookup_sets(c, argv[2:2 + numkeys])
    if None in sets:
        return ZERO
    return resp.integer(len(_inter(sets, limit)))


def _union(sets: list, cfg):
    found = [pyset(x) for x in sets if x is not None]
    return build(set().union(*found), cfg) if found else ()


def _diff(sets: list, cfg):
    """SDIFF: the first set minus the others. The result's encoding is what Redis's
    chosen algorithm reaches: the second one adds all of the first set before removing."""
    first = sets[0]
    if first is None:
        return ()
    others = [x for x in sets[1:] if x is not None]
    if any(x is first for x in others):
        return ()
    one = len(first) * sum(1 for x in sets if x is not None) // 2
    two = sum(len(x) for x in sets if x is not None)
    result = pyset(first).difference(*[pyset(x) for x in others])
    if one <= two:
        return build(result, cfg)
    # all of the first set went into the result before the removals
    return build(result, cfg, ht=type(first) is Set and as_ints(first, cfg) is None)


@command("sunion", -2, "readonly", keys=(1, -1, 1), summary="Add multiple sets",
         complexity=_SUM_CX, **_MULTI)
def sunion(c, argv):
    s = _union(_lookup_sets(c, argv[1:]), c.server.config.values)
    return set_reply(c, ordered(s))


@command("sdiff", -2, "readonly", keys=(1, -1, 1), summary="Subtract multiple sets",
         complexity=_SUM_CX, **_MULTI)
def sdiff(c, argv):
    s = _diff(_lookup_sets(c, argv[1:]), c.server.config.values)
    return set_reply(c, ordered(s))


def _store_set(c, dstkey: bytes, s, event: bytes) -> bytes:
    db = c.db
    srv = c.server
    if s:
        db.set_key(dstkey, s)
        srv.notify(NOTIFY_SET, event, dstkey, db.id)
        srv.dirty += 1
        return resp.integer(len(s))
    if db.delete(dstkey):
        srv.dirty += 1
        srv.notify(NOTIFY_GENERIC, b"del", dstkey, db.id)
    return ZERO


@command("sunionstore", -3, "write denyoom", keys=(1, -1, 1), group=SET, acl=("set",),
         summary="Add multiple sets and store the resulting set in a key",
         complexity=_SUM_CX, key_specs=_STORE_SPECS)
def sunionstore(c, argv):
    s = _union(_lookup_sets(c, argv[2:]), c.server.config.values)
    return _store_set(c, argv[1], s, b"sunionstore")


@command("sdiffstore", -3, "write denyoom", keys=(1, -1, 1), group=SET, acl=("set",),
         summary="Subtract multiple sets and store the resulting set in a key",
         complexity=_SUM_CX, key_specs=_STORE_SPECS)
def sdiffstore(c, argv):
    s = _diff(_lookup_sets(c, argv[2:]), c.server.config.values)
    return _store_set(c, argv[1], s, b"sdiffstore")


# -- SSCAN ------------------------------------------------------------------------------

@command("sscan", -3, "readonly", keys=(1, 1, 1), group=SET, acl=("set",), since="2.8.0",
         tips=("nondeterministic_output",), summary="Incrementally iterate Set elements",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection..")
def sscan(c, argv):
    cursor = parse_cursor(argv[2])
    s = read_set(c, argv[1])
    if s is None:
        return EMPTY_SCAN
    count, pat, _ = parse_scan_options(argv, 3, False)
    if type(s) is IntSet:
        cursor, members = 0, ordered(s)
    else:
        cursor, members = scan_container(s, cursor, count, list)
        members = [m for m in members if m in s]
    if pat is not None:
        m = compile_glob(pat)
        members = [x for x in members if m(x)]
    return scan_reply(cursor, members)
