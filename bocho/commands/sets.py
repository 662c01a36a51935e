"""Set commands (t_set.c).

A set is a Set: a Python set of members (bytes). `ht` says whether Redis 7.0 would hold
it as a hashtable rather than an intset: an intset holds only canonical 64-bit integers,
at most set-max-intset-entries of them, and the conversion is one-way. An intset is
sorted, so whatever Redis walks in intset order (SMEMBERS, SSCAN, SINTER of intsets,
the STORE results) comes out in ascending numeric order here too. `snaps` holds the
element lists of SSCANs under way (keys.scan_container)."""

from __future__ import annotations

import random
from itertools import islice

from bocho import notify, resp
from bocho.commands import command
from bocho.commands.keys import EMPTY_SCAN, parse_scan_options, scan_container, scan_reply, spec
from bocho.db import _is_long, register_type
from bocho.errors import CommandError, syntax, wrongtype
from bocho.glob import compile_glob
from bocho.util import I64_MAX, parse_cursor, parse_int

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
    __slots__ = ("ht", "snaps")

    def memory_usage(self, samples: int = 5) -> int:
        """objectComputeSize: an intset is one array of 8-byte integers (Redis picks the
        narrowest width that fits them all); a hashtable a dict of entry + sds."""
        from bocho.memory import OBJ, _alloc, _str_size
        n = len(self)
        if not self.ht:
            width = 2
            for m in self:
                i = int(m)
                if not -32768 <= i < 32768:
                    width = 4 if -2**31 <= i < 2**31 and width < 8 else 8
                    if width == 8:
                        break
            return OBJ + _alloc(8 + width * n)
        if not n:
            return OBJ + 16
        k = n if samples <= 0 else min(samples, n)
        tot = sum(_str_size(m) + 24 for m in islice(self, k))
        buckets = 4
        while buckets < n:
            buckets <<= 1
        return OBJ + 88 + buckets * 8 + tot * n // k


def new_set(ht: bool = False) -> Set:
    s = Set()
    s.ht = ht
    s.snaps = None
    return s


def _copy(s: Set) -> Set:
    n = Set(s)
    n.ht = s.ht
    n.snaps = None
    return n


def ordered(s: Set) -> list[bytes]:
    """The members in Redis's iteration order where it is defined (intset: ascending)."""
    return list(s) if s.ht else sorted(s, key=int)


def _sort_source(s: Set) -> tuple[bytes, list[bytes]]:
    return b"set", ordered(s)


register_type(Set, b"set", copy=_copy,
              encoding=lambda s: b"hashtable" if s.ht else b"intset",
              sort_elements=_sort_source,
              free_effort=lambda s: len(s) if s.ht else 1)

try:  # DEBUG DIGEST walks the members
    from bocho.commands.debug import register_digest
    register_digest(Set, lambda s: s)
except ImportError:  # pragma: no cover
    pass


def build(members, cfg) -> Set:
    """A new set holding members, with the encoding Redis's setTypeAdd would reach when
    adding them one by one to an empty intset."""
    s = new_set()
    add(s, members, cfg)
    return s


def add(s: Set, members, cfg) -> int:
    """setTypeAdd for each of members (any iterable of bytes): how many were new."""
    before = len(s)
    if s.ht:
        s.update(members)
        return len(s) - before
    if type(members) is Set:
        if members.ht:
            s.ht = True
    else:
        if type(members) is not list:
            members = list(members)
        for m in members:
            if not _is_long(m):
                s.ht = True
                break
    s.update(members)
    if not s.ht and len(s) > min(cfg["set-max-intset-entries"], INTSET_HARD_MAX):
        s.ht = True
    return len(s) - before


# -- lookups ----------------------------------------------------------------------------

def read_set(c, key: bytes) -> Set | None:
    v = c.db.lookup_read(key)
    if v is None or type(v) is Set:
        return v
    raise wrongtype()


def write_set(c, key: bytes) -> Set | None:
    v = c.db.lookup_write(key)
    if v is None or type(v) is Set:
        return v
    raise wrongtype()


def bulk(b: bytes) -> bytes:
    n = len(b)
    if n < BULK_HDR_MAX:
        return BULK_HDR[n] + b + CRLF
    return b"$%d\r\n%s\r\n" % (n, b)


def bulks(items) -> bytes:
    return b"".join([BULK_HDR[len(b)] + b + CRLF if len(b) < BULK_HDR_MAX
                     else b"$%d\r\n%s\r\n" % (len(b), b) for b in items])


def set_reply(c, members) -> bytes:
    """A set reply (RESP3 `~`) of members in the order given."""
    return resp.set_header(len(members), c.resp) + bulks(members)


# Above this size SPOP takes members with set.pop(): O(1), in the order of the set's
# table, which follows the members' (per-process randomised) hashes rather than their
# values or insertion order. A uniform pick is an O(n) walk (random_member).
POP_WALK_MAX = 64


def pop_member(s: Set) -> bytes:
    """Remove and return a random member of a non-empty set."""
    if len(s) > POP_WALK_MAX:
        return s.pop()
    m = random_member(s)
    s.discard(m)
    return m


def random_member(s):
    """A uniformly random member of a non-empty set (O(n) walk, in C)."""
    n = len(s)
    if n == 1:
        return next(iter(s))
    return next(islice(s, random.randrange(n), None))


def _removed(c, key: bytes, s: Set, event: bytes, dirty: int) -> None:
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
    s = db.lookup_write(key)
    if s is None:
        s = new_set()
        db.add(key, s)
    elif type(s) is not Set:
        raise wrongtype()
    if len(argv) == 3:
        m = argv[2]
        if m in s:
            return ZERO
        s.add(m)
        if not s.ht and (not _is_long(m) or len(s) > min(
                c.server.config.values["set-max-intset-entries"], INTSET_HARD_MAX)):
            s.ht = True
        added = 1
    elif s.ht:
        before = len(s)
        s.update(islice(argv, 2, None))
        added = len(s) - before
    else:
        added = add(s, argv[2:], c.server.config.values)
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
        if m in s:
            s.discard(m)
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
    if type(src) is not Set or (dst is not None and type(dst) is not Set):
        raise wrongtype()
    if src is dst:
        return ONE if member in src else ZERO
    if member not in src:
        return ZERO
    src.discard(member)
    srv = c.server
    if srv.notify_flags & NOTIFY_SET:
        srv.notify(NOTIFY_SET, b"srem", srckey, db.id)
    if not src:
        db.delete(srckey)
        srv.notify(NOTIFY_GENERIC, b"del", srckey, db.id)
    if dst is None:
        dst = new_set()
        db.add(dstkey, dst)
    if db.watched:
        db.signal_modified(srckey)
    srv.dirty += 1
    if add(dst, (member,), srv.config.values):
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
    if type(s) is not Set:
        raise wrongtype()
    return ONE if argv[2] in s else ZERO


@command("smismember", -3, "readonly fast", keys=(1, 1, 1), group=SET, acl=("set",),
         since="6.2.0",
         summary="Returns the membership associated with the given elements for a set",
         complexity="O(N) where N is the number of elements being checked for membership")
def smismember(c, argv):
    s = read_set(c, argv[1])
    if s is None:
        s = ()
    return resp.array_header(len(argv) - 2) + b"".join(
        [ONE if m in s else ZERO for m in islice(argv, 2, None)])


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
        count = -count if count < 0 else count
        if size == 1:
            chosen = [next(iter(s))] * count
        else:
            chosen = random.choices(list(s), k=count)
    elif count >= size:
        chosen = ordered(s)
    else:
        chosen = random.sample(list(s), count)
    return resp.array_header(len(chosen)) + bulks(chosen)


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
        if size > POP_WALK_MAX:
            pop = s.pop
            out = [pop() for _ in range(count)]
        else:
            out = random.sample(list(s), count)
            s.difference_update(out)
    else:
        # Most of the set goes: pick the members that stay; they form the new value,
        # whose encoding is chosen afresh (Redis builds a new set of them).
        keep = random.sample(list(s), remaining)
        s.difference_update(keep)
        out = ordered(s)
        ns = build(keep, srv.config.values)
        db.data[key] = ns
    if db.watched:
        db.signal_modified(key)
    srv.dirty += count
    c.prop = [[b"SREM", key, m] for m in out]
    return set_reply(c, out)


# -- SINTER / SUNION / SDIFF and their STORE / CARD forms ------------------------------------

def _lookup_sets(c, keys) -> list[Set | None]:
    """Each key's set (None if missing); WRONGTYPE for any other type, as Redis looks
    them all up before doing anything."""
    out = []
    lookup = c.db.lookup_read
    for k in keys:
        v = lookup(k)
        if v is not None and type(v) is not Set:
            raise wrongtype()
        out.append(v)
    return out


def _inter(sets: list[Set], limit: int = 0) -> list[bytes]:
    """The intersection in the iteration order of the smallest set."""
    sets = sorted(sets, key=len)
    first = sets[0]
    others = [s for s in sets[1:] if s is not first]
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
    s = new_set() if None in sets else build(_inter(sets), c.server.config.values)
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


def _union(sets: list[Set | None], cfg) -> Set:
    s = new_set()
    for x in sets:
        if x is not None:
            add(s, x, cfg)
    return s


def _diff(sets: list[Set | None], cfg) -> Set:
    """SDIFF: the first set minus the others. The result's encoding is what Redis's
    chosen algorithm reaches: the second one adds all of the first set before removing."""
    first = sets[0]
    if first is None:
        return new_set()
    others = [x for x in sets[1:] if x is not None]
    if any(x is first for x in others):
        return new_set()
    one = len(first) * sum(1 for x in sets if x is not None) // 2
    two = sum(len(x) for x in sets if x is not None)
    s = new_set()
    if one <= two:
        add(s, first.difference(*others), cfg)
    else:
        add(s, first, cfg)
        s.difference_update(*others)
    return s


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


def _store_set(c, dstkey: bytes, s: Set, event: bytes) -> bytes:
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
    if not s.ht:
        cursor, members = 0, ordered(s)
    else:
        cursor, members = scan_container(s, cursor, count, list)
        members = [m for m in members if m in s]
    if pat is not None:
        m = compile_glob(pat)
        members = [x for x in members if m(x)]
    return scan_reply(cursor, members)
