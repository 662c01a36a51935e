"""Sorted set commands (t_zset.c). The value is bocho.types.zset.ZSet.

Handlers keep Redis's order of checks (option parsing, then the key's type, then range
errors), its reply shapes in RESP2 and RESP3, its keyspace events and its propagation:
ZMPOP goes out as ZPOPMIN/ZPOPMAX key count, everything else as it came. Geo commands
(geo.py) build on the helpers here."""

from __future__ import annotations

import random
from math import isnan

from bocho import blocking, notify, resp
from bocho import db as _db
from bocho.commands import TABLE, command
from bocho.commands.debug import register_digest
from bocho.commands.keys import EMPTY_SCAN, parse_scan_options, scan_container, scan_reply
from bocho.errors import NOT_FLOAT, NOT_INTEGER, CommandError, syntax, wrongtype
from bocho.glob import compile_glob
from bocho.types.zset import LexBound, ZSet
from bocho.util import (
    I64_MAX,
    chunk_sizes,
    index_span,
    parse_cursor,
    parse_double,
    parse_int,
    parse_strtod,
)

GROUP = "sorted_set"
ACL = ("sortedset",)
NOTIFY_ZSET = notify.ZSET
NOTIFY_GENERIC = notify.GENERIC

NAN_ERR = b"ERR resulting score is not a number (NaN)"
RANGE_ERR = b"ERR min or max is not a float"
LEX_ERR = b"ERR min or max not valid string range item"
POSITIVE_ERR = b"ERR value is out of range, must be positive"
EMPTY_ARRAY = resp.EMPTY_ARRAY
ZERO = resp.ZERO
_WITHSCORES = b"withscores"


def ks(flags: str, pos: int = 1, lastkey: int = 0, keynum: bool = False,
       keyword: str | None = None, startfrom: int = 0) -> dict:
    """A key spec in Redis's command-JSON shape (see command_cmd.py)."""
    begin = ({"keyword": {"keyword": keyword, "startfrom": startfrom}} if keyword
             else {"index": {"pos": pos}})
    find = ({"keynum": {"keynumidx": 0, "firstkey": 1, "step": 1}} if keynum
            else {"range": {"lastkey": lastkey, "step": 1, "limit": 0}})
    return {"flags": flags.split(), "begin_search": begin, "find_keys": find}


RO_ACCESS = [ks("RO access")]
RW_ACCESS_DELETE = [ks("RW access delete")]
STORE_SPECS = [ks("OW update"), ks("RO access", pos=2, keynum=True)]
READ_NUMKEYS = [ks("RO access", keynum=True)]


# -- values, replies ---------------------------------------------------------------------

def read_zset(c, key: bytes) -> ZSet | None:
    """lookupKeyRead + checkType."""
    v = c.db.lookup_read(key)
    if v is None or type(v) is ZSet:
        return v
    raise wrongtype()


def write_zset(c, key: bytes) -> ZSet | None:
    """lookupKeyWrite + checkType."""
    v = c.db.lookup_write(key)
    if v is None or type(v) is ZSet:
        return v
    raise wrongtype()


def limits(c) -> tuple[int, int]:
    cfg = c.server.config
    return cfg["zset-max-listpack-entries"], cfg["zset-max-listpack-value"]


def new_zset(c, first_member: bytes) -> ZSet:
    """zsetTypeCreate as ZADD/GEOADD do it: listpack if the first member fits."""
    entries, value = limits(c)
    return ZSet(entries != 0 and len(first_member) <= value)


def score_reply(s: float, r: int) -> bytes:
    """addReplyDouble: %.17g (inf and -inf included), a double in RESP3."""
    t = b"%.17g" % s
    if r == 3:
        return b",%s\r\n" % t
    return b"$%d\r\n%s\r\n" % (len(t), t)


def d2string(s: float) -> bytes:
    """Redis's d2string (ZSCAN's scores): integral values within +-2**62 as integers."""
    if -4.611686018427388e18 <= s <= 4.611686018427388e18 and s == int(s):
        if s == 0:
            return b"-0" if str(s)[0] == "-" else b"0"
        return b"%d" % int(s)
    return b"%.17g" % s


def pairs_reply(pairs, withscores: bool, r: int) -> bytes:
    """Members of (score, member) pairs, with scores flat (RESP2) or nested (RESP3)."""
    if not withscores:
        return resp.bulk_strings([m for _, m in pairs])
    n = len(pairs)
    if r == 3:
        return resp.array_header(n) + b"".join(
            [b"*2\r\n$%d\r\n%s\r\n,%s\r\n" % (len(m), m, b"%.17g" % s) for s, m in pairs])
    out = [resp.array_header(2 * n)]
    for s, m in pairs:
        t = b"%.17g" % s
        out.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(m), m, len(t), t))
    return b"".join(out)


def _body(reply: bytes) -> bytes:
    """An array reply without its header line."""
    return reply[reply.index(b"\n") + 1:]


def modified(c, key: bytes, event: bytes) -> None:
    """After changing a zset in place: WATCH and the keyspace event."""
    db = c.db
    if db.watched:
        db.signal_modified(key)
    srv = c.server
    if srv.notify_flags & NOTIFY_ZSET:
        srv.notify(NOTIFY_ZSET, event, key, db.id)


def store_result(c, dst: bytes, pairs, event: bytes, dirty: int = 1) -> int:
    """Store pairs at dst as a new zset (setKey), or delete dst when there are none.
    Encoding as a freshly built set of that content (zsetConvertToListpackIfNeeded)."""
    db = c.db
    srv = c.server
    if pairs:
        entries, value = limits(c)
        db.set_key(dst, ZSet.from_pairs(pairs, entries, value))
        srv.notify(NOTIFY_ZSET, event, dst, db.id)
        srv.dirty += dirty
        return len(pairs)
    if db.delete(dst):
        srv.notify(NOTIFY_GENERIC, b"del", dst, db.id)
        srv.dirty += 1
    return 0


def parse_long(b: bytes, err: bytes = NOT_INTEGER) -> int:
    return parse_int(b, err)


def parse_score_bound(b: bytes) -> tuple[float, bool]:
    """One end of a score range: [(]number, inf/-inf allowed."""
    if b.isdigit():  # the common case, which float() reads as strtod does
        return float(b), False
    if b[:1] == b"(":
        v = parse_strtod(b[1:])
        ex = True
    else:
        v = parse_strtod(b)
        ex = False
    if v is None:
        raise CommandError(RANGE_ERR)
    return v, ex


_LEX_MIN = LexBound(-1, b"", True)
_LEX_MAX = LexBound(1, b"", True)


def parse_lex_bound(b: bytes) -> LexBound:
    c0 = b[:1]
    if c0 == b"(":
        return LexBound(0, b[1:], True)
    if c0 == b"[":
        return LexBound(0, b[1:], False)
    if b == b"-":
        return _LEX_MIN
    if b == b"+":
        return _LEX_MAX
    raise CommandError(LEX_ERR)


# -- ZADD, ZINCRBY -----------------------------------------------------------------------

_ZADD_OPTS = {b"nx": 1, b"xx": 2, b"ch": 4, b"incr": 8, b"gt": 16, b"lt": 32}


def zadd_generic(c, argv: list[bytes], flags: int) -> bytes:
    key = argv[1]
    n = len(argv)
    i = 2
    opts = _ZADD_OPTS
    while i < n:
        f = opts.get(argv[i].lower())
        if f is None:
            break
        flags |= f
        i += 1
    nx, xx, ch, incr = flags & 1, flags & 2, flags & 4, flags & 8
    gt, lt = flags & 16, flags & 32
    elements = n - i
    if elements % 2 or not elements:
        raise syntax()
    if nx and xx:
        raise CommandError(b"ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(b"ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 2:
        raise CommandError(b"ERR INCR option supports a single increment-element pair")
    scores = []
    for j in range(i, n, 2):
        s = parse_double(argv[j])
        if s is None:
            raise CommandError(NOT_FLOAT)
        scores.append(s)
    db = c.db
    z = write_zset(c, key)
    added = updated = processed = 0
    score = 0.0
    if z is None:
        if xx:
            return resp.null(c.resp) if incr else ZERO
        z = new_zset(c, argv[i + 1])
        db.add(key, z)
    entries = value = -1
    for k, s in enumerate(scores):
        m = argv[i + 1 + 2 * k]
        cur = z.score(m)
        if cur is not None:
            if nx:
                continue
            if incr:
                s += cur
                if isnan(s):
                    raise CommandError(NAN_ERR)
            if (lt and s >= cur) or (gt and s <= cur):
                continue
            processed += 1
            score = s
            if s != cur:
                z.update(m, cur, s)
                updated += 1
        elif not xx:
            if z.d is None:
                if entries < 0:
                    entries, value = limits(c)
                if not z.fits(m, entries, value):
                    z.to_skiplist()
            z.insert(m, s)
            added += 1
            processed += 1
            score = s
    srv = c.server
    if added or updated:
        srv.dirty += added + updated
        modified(c, key, b"zincr" if incr else b"zadd")
    if incr:
        return score_reply(score, c.resp) if processed else resp.null(c.resp)
    return resp.integer(added + updated if ch else added)


@command("zadd", -4, "write denyoom fast", keys=(1, 1, 1), group=GROUP, acl=ACL,
         since="1.2.0", key_specs=[ks("RW update")],
         summary="Add one or more members to a sorted set, or update its score if it "
                 "already exists",
         complexity="O(log(N)) for each item added, where N is the number of elements in "
                    "the sorted set.")
def zadd(c, argv):
    if len(argv) == 4 and argv[2] and argv[2][0] in _NUMERIC_START:
        # ZADD key score member: the common form, without the option machinery
        s = parse_double(argv[2])
        if s is not None:
            key, m = argv[1], argv[3]
            db = c.db
            z = db.lookup_write(key)
            if z is None:
                z = new_zset(c, m)
                db.add(key, z)
                z.insert(m, s)
                added = 1
            elif type(z) is not ZSet:
                raise wrongtype()
            else:
                cur = z.score(m)
                if cur is None:
                    if z.d is None:
                        entries, value = limits(c)
                        if not z.fits(m, entries, value):
                            z.to_skiplist()
                    z.insert(m, s)
                    added = 1
                elif cur != s:
                    z.update(m, cur, s)
                    added = 0
                else:
                    return ZERO
            c.server.dirty += 1
            modified(c, key, b"zadd")
            return resp.ONE if added else ZERO
    return zadd_generic(c, argv, 0)


_NUMERIC_START = frozenset(b"0123456789-+.")


@command("zincrby", 4, "write denyoom fast", keys=(1, 1, 1), group=GROUP, acl=ACL,
         since="1.2.0", key_specs=[ks("RW access update")],
         summary="Increment the score of a member in a sorted set",
         complexity="O(log(N)) where N is the number of elements in the sorted set.")
def zincrby(c, argv):
    return zadd_generic(c, argv, 8)


# -- ZREM, ZREMRANGEBY* ------------------------------------------------------------------

@command("zrem", -3, "write fast", keys=(1, 1, 1), group=GROUP, acl=ACL, since="1.2.0",
         key_specs=[ks("RW delete")],
         summary="Remove one or more members from a sorted set",
         complexity="O(M*log(N)) with N being the number of elements in the sorted set and "
                    "M the number of elements to be removed.")
def zrem(c, argv):
    key = argv[1]
    z = write_zset(c, key)
    if z is None:
        return ZERO
    deleted = 0
    gone = False
    for m in argv[2:]:
        if z.delete(m):
            deleted += 1
        if not len(z):
            c.db.delete(key)
            gone = True
            break
    if deleted:
        srv = c.server
        srv.notify(NOTIFY_ZSET, b"zrem", key, c.db.id)
        if gone:
            srv.notify(NOTIFY_GENERIC, b"del", key, c.db.id)
        elif c.db.watched:
            c.db.signal_modified(key)
        srv.dirty += deleted
    return resp.integer(deleted)



def _zremrange(c, argv, kind: int) -> bytes:
    key = argv[1]
    if kind == 0:
        start = parse_long(argv[2])
        end = parse_long(argv[3])
        event = b"zremrangebyrank"
    elif kind == 1:
        lo, lo_ex = parse_score_bound(argv[2])
        hi, hi_ex = parse_score_bound(argv[3])
        event = b"zremrangebyscore"
    else:
        lo_b = parse_lex_bound(argv[2])
        hi_b = parse_lex_bound(argv[3])
        event = b"zremrangebylex"
    z = write_zset(c, key)
    if z is None:
        return ZERO
    n = len(z)
    if kind == 0:
        span = index_span(start, end, n)
        if span is None:
            return ZERO
        a, b = span[0], span[1] + 1
    elif kind == 1:
        a, b = z.score_span(lo, lo_ex, hi, hi_ex)
    else:
        a, b = z.lex_span(lo_b, hi_b)
    deleted = z.delete_slice(a, b) if b > a else 0
    if deleted:
        srv = c.server
        gone = not len(z)
        if gone:
            c.db.delete(key)
        elif c.db.watched:
            c.db.signal_modified(key)
        srv.notify(NOTIFY_ZSET, event, key, c.db.id)
        if gone:
            srv.notify(NOTIFY_GENERIC, b"del", key, c.db.id)
        srv.dirty += deleted
    return resp.integer(deleted)


_REMRANGE = dict(group=GROUP, acl=ACL, keys=(1, 1, 1), key_specs=[ks("RW delete")])


@command("zremrangebyrank", 4, "write", since="2.0.0",
         summary="Remove all members in a sorted set within the given indexes",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements removed by the operation.", **_REMRANGE)
def zremrangebyrank(c, argv):
    return _zremrange(c, argv, 0)


@command("zremrangebyscore", 4, "write", since="1.2.0",
         summary="Remove all members in a sorted set within the given scores",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements removed by the operation.", **_REMRANGE)
def zremrangebyscore(c, argv):
    return _zremrange(c, argv, 1)


@command("zremrangebylex", 4, "write", since="2.8.9",
         summary="Remove all members in a sorted set between the given lexicographical range",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements removed by the operation.", **_REMRANGE)
def zremrangebylex(c, argv):
    return _zremrange(c, argv, 2)


# -- ZRANGE family -----------------------------------------------------------------------

RANK, SCORE, LEX = 1, 2, 3
_LIMIT, _WITHSCORES_OPT, _REV = 4, 5, 6
_RANGE_OPTS = {b"byscore": SCORE, b"bylex": LEX, b"limit": _LIMIT,
               b"withscores": _WITHSCORES_OPT, b"rev": _REV}


def zrange_generic(c, argv: list[bytes], start_at: int, store: bool, rtype: int,
                   rev: bool | None) -> bytes:
    """zrangeGenericCommand: ZRANGE, ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX].
    rtype 0 / rev None mean "from the options"."""
    key = argv[start_at]
    withscores = False
    offset = 0
    limit = -1
    n = len(argv)
    j = start_at + 3
    while j < n:
        opt = _RANGE_OPTS.get(argv[j].lower())
        if opt == SCORE and rtype == 0:
            rtype = SCORE
        elif opt == _LIMIT and j + 2 < n:
            offset = parse_int(argv[j + 1])
            limit = parse_int(argv[j + 2])
            j += 2
        elif opt == _WITHSCORES_OPT and not store:
            withscores = True
        elif opt == _REV and rev is None:
            rev = True
        elif opt == LEX and rtype == 0:
            rtype = LEX
        else:
            raise syntax()
        j += 1
    if rev is None:
        rev = False
    if rtype == 0:
        rtype = RANK
    if limit != -1 and rtype == RANK:
        raise CommandError(b"ERR syntax error, LIMIT is only supported in combination with "
                           b"either BYSCORE or BYLEX")
    if withscores and rtype == LEX:
        raise CommandError(b"ERR syntax error, WITHSCORES not supported in combination with "
                           b"BYLEX")
    a1, a2 = argv[start_at + 1], argv[start_at + 2]
    if rev and rtype != RANK:
        a1, a2 = a2, a1
    if rtype == RANK:
        start = parse_int(a1)
        end = parse_int(a2)
    elif rtype == SCORE:
        lo, lo_ex = parse_score_bound(a1)
        hi, hi_ex = parse_score_bound(a2)
    else:
        lo_b = parse_lex_bound(a1)
        hi_b = parse_lex_bound(a2)
    z = read_zset(c, key)
    if z is None:
        if store:
            return resp.integer(store_result(c, argv[1], [], b"zrangestore"))
        return EMPTY_ARRAY
    nz = len(z)
    if rtype == RANK:
        span = index_span(start, end, nz)
        if span is None:
            pairs = []
        elif rev:
            pairs = z.slice(nz - 1 - span[1], nz - span[0])[::-1]
        else:
            pairs = z.slice(span[0], span[1] + 1)
    elif offset < 0 or (offset > 0 and offset >= nz):
        pairs = []
    elif rtype == SCORE and not rev:
        pairs = z.score_range(lo, lo_ex, hi, hi_ex, offset, limit)
    else:
        if rtype == SCORE:
            a, b = z.score_span(lo, lo_ex, hi, hi_ex)
        else:
            a, b = z.lex_span(lo_b, hi_b)
        if rev:
            top = b - offset
            bottom = a if limit < 0 else max(a, top - limit)
            pairs = z.slice(bottom, top)[::-1] if top > bottom else []
        else:
            first = a + offset
            last = b if limit < 0 else min(b, first + limit)
            pairs = z.slice(first, last) if last > first else []
    if store:
        return resp.integer(store_result(c, argv[1], pairs, b"zrangestore"))
    return pairs_reply(pairs, withscores, c.resp)


_RANGE = dict(group=GROUP, acl=ACL, keys=(1, 1, 1), key_specs=RO_ACCESS)
_RANGE_CX = ("O(log(N)+M) with N being the number of elements in the sorted set and M the "
             "number of elements being returned. If M is constant (e.g. always asking for "
             "the first 10 elements with LIMIT), you can consider it O(log(N)).")


@command("zrange", -4, "readonly", since="1.2.0",
         summary="Return a range of members in a sorted set",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements returned.", **_RANGE)
def zrange(c, argv):
    n = len(argv)
    if n == 4 or (n == 5 and argv[4].lower() == _WITHSCORES):
        # ZRANGE key start stop [WITHSCORES]: by rank, the common form
        start = parse_long(argv[2])
        end = parse_long(argv[3])
        z = read_zset(c, argv[1])
        if z is None:
            return EMPTY_ARRAY
        span = index_span(start, end, len(z))
        pairs = [] if span is None else z.slice(span[0], span[1] + 1)
        return pairs_reply(pairs, n == 5, c.resp)
    return zrange_generic(c, argv, 1, False, 0, None)


@command("zrangestore", -5, "write denyoom", keys=(1, 2, 1), group=GROUP, acl=ACL,
         since="6.2.0", key_specs=[ks("OW update"), ks("RO access", pos=2)],
         summary="Store a range of members from sorted set into another key",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements stored into the destination key.")
def zrangestore(c, argv):
    return zrange_generic(c, argv, 2, True, 0, None)


@command("zrevrange", -4, "readonly", since="1.2.0",
         summary="Return a range of members in a sorted set, by index, with scores ordered "
                 "from high to low",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and "
                    "M the number of elements returned.", **_RANGE)
def zrevrange(c, argv):
    return zrange_generic(c, argv, 1, False, RANK, True)


@command("zrangebyscore", -4, "readonly", since="1.0.5",
         summary="Return a range of members in a sorted set, by score",
         complexity=_RANGE_CX, **_RANGE)
def zrangebyscore(c, argv):
    return zrange_generic(c, argv, 1, False, SCORE, False)


@command("zrevrangebyscore", -4, "readonly", since="2.2.0",
         summary="Return a range of members in a sorted set, by score, with scores ordered "
                 "from high to low",
         complexity=_RANGE_CX, **_RANGE)
def zrevrangebyscore(c, argv):
    return zrange_generic(c, argv, 1, False, SCORE, True)


@command("zrangebylex", -4, "readonly", since="2.8.9",
         summary="Return a range of members in a sorted set, by lexicographical range",
         complexity=_RANGE_CX, **_RANGE)
def zrangebylex(c, argv):
    return zrange_generic(c, argv, 1, False, LEX, False)


@command("zrevrangebylex", -4, "readonly", since="2.8.9",
         summary="Return a range of members in a sorted set, by lexicographical range, "
                 "ordered from higher to lower strings.",
         complexity=_RANGE_CX, **_RANGE)
def zrevrangebylex(c, argv):
    return zrange_generic(c, argv, 1, False, LEX, True)


@command("zcount", 4, "readonly fast", since="2.0.0",
         summary="Count the members in a sorted set with scores within the given values",
         complexity="O(log(N)) with N being the number of elements in the sorted set.",
         **_RANGE)
def zcount(c, argv):
    lo, lo_ex = parse_score_bound(argv[2])
    hi, hi_ex = parse_score_bound(argv[3])
    z = read_zset(c, argv[1])
    if z is None:
        return ZERO
    a, b = z.score_span(lo, lo_ex, hi, hi_ex)
    return resp.integer(b - a)


@command("zlexcount", 4, "readonly fast", since="2.8.9",
         summary="Count the number of members in a sorted set between a given "
                 "lexicographical range",
         complexity="O(log(N)) with N being the number of elements in the sorted set.",
         **_RANGE)
def zlexcount(c, argv):
    lo = parse_lex_bound(argv[2])
    hi = parse_lex_bound(argv[3])
    z = read_zset(c, argv[1])
    if z is None:
        return ZERO
    a, b = z.lex_span(lo, hi)
    return resp.integer(b - a)


# -- point lookups -----------------------------------------------------------------------

@command("zcard", 2, "readonly fast", keys=(1, 1, 1), group=GROUP, acl=ACL, since="1.2.0",
         key_specs=[ks("RO")], summary="Get the number of members in a sorted set",
         complexity="O(1)")
def zcard(c, argv):
    z = read_zset(c, argv[1])
    return ZERO if z is None else resp.integer(len(z))


@command("zscore", 3, "readonly fast", since="1.2.0",
         summary="Get the score associated with the given member in a sorted set",
         complexity="O(1)", **_RANGE)
def zscore(c, argv):
    z = read_zset(c, argv[1])
    s = None if z is None else z.score(argv[2])
    return resp.null(c.resp) if s is None else score_reply(s, c.resp)


@command("zmscore", -3, "readonly fast", since="6.2.0",
         summary="Get the score associated with the given members in a sorted set",
         complexity="O(N) where N is the number of members being requested.", **_RANGE)
def zmscore(c, argv):
    z = read_zset(c, argv[1])
    r = c.resp
    nul = resp.null(r)
    out = [resp.array_header(len(argv) - 2)]
    for m in argv[2:]:
        s = None if z is None else z.score(m)
        out.append(nul if s is None else score_reply(s, r))
    return b"".join(out)


def _zrank(c, argv, rev: bool) -> bytes:
    z = read_zset(c, argv[1])
    if z is None:
        return resp.null(c.resp)
    rk = z.rank(argv[2])
    if rk is None:
        return resp.null(c.resp)
    return resp.integer(len(z) - 1 - rk if rev else rk)


@command("zrank", 3, "readonly fast", since="2.0.0",
         summary="Determine the index of a member in a sorted set", complexity="O(log(N))",
         **_RANGE)
def zrank(c, argv):
    return _zrank(c, argv, False)


@command("zrevrank", 3, "readonly fast", since="2.0.0",
         summary="Determine the index of a member in a sorted set, with scores ordered from "
                 "high to low", complexity="O(log(N))", **_RANGE)
def zrevrank(c, argv):
    return _zrank(c, argv, True)


# -- ZSCAN -------------------------------------------------------------------------------

@command("zscan", -3, "readonly", since="2.8.0", tips=("nondeterministic_output",),
         summary="Incrementally iterate sorted sets elements and associated scores",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection..", **_RANGE)
def zscan(c, argv):
    cursor = parse_cursor(argv[2])
    z = read_zset(c, argv[1])
    if z is None:
        return EMPTY_SCAN
    count, pat, _ = parse_scan_options(argv, 3, False)
    if z.d is None:  # a listpack is returned whole, in score order, as Redis does
        nxt, pairs = 0, z.slice(0, len(z))
    else:
        d = z.d
        nxt, members = scan_container(z, cursor, count, _members)
        pairs = [(d[m], m) for m in members if m in d]
    m_ok = compile_glob(pat) if pat is not None else None
    out = []
    for s, m in pairs:
        if m_ok is not None and not m_ok(m):
            continue
        out.append(m)
        out.append(d2string(s))
    return scan_reply(nxt, out)


def _members(z: ZSet) -> list[bytes]:
    return list(z.d)


# -- ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD -----------------------------

UNION, INTER, DIFF = 0, 1, 2
_SUM, _MIN, _MAX = 0, 1, 2
_AGGREGATES = {b"sum": _SUM, b"min": _MIN, b"max": _MAX}


def _source(v) -> dict | None:
    """An input of the set operations as member -> score (sets score 1)."""
    if v is None:
        return None
    if type(v) is ZSet:
        return v.as_dict()
    if _db.type_name(v) == b"set":
        return dict.fromkeys(_db.SORT_SOURCES[type(v)](v)[1], 1.0)
    raise wrongtype()


def setop_generic(c, argv: list[bytes], dst: bytes | None, nk: int, op: int,
                  card_only: bool = False) -> bytes:
    """zunionInterDiffGenericCommand."""
    setnum = parse_long(argv[nk])
    if setnum < 1:
        raise CommandError(
            f"ERR at least 1 input key is needed for '{argv[0].lower().decode(errors='replace')}' command")
    n = len(argv)
    if setnum > n - (nk + 1):
        raise syntax()
    db = c.db
    srcs = []  # [dict or None, weight, identity]
    j = nk + 1
    for _ in range(setnum):
        v = db.lookup_read(argv[j])
        srcs.append([_source(v), 1.0, id(v) if v is not None else None])
        j += 1
    aggregate = _SUM
    withscores = False
    limit = 0
    while j < n:
        opt = argv[j].lower()
        remaining = n - j
        if op != DIFF and not card_only and remaining >= setnum + 1 and opt == b"weights":
            j += 1
            for s in srcs:
                w = parse_double(argv[j])
                if w is None:
                    raise CommandError(b"ERR weight value is not a float")
                s[1] = w
                j += 1
        elif op != DIFF and not card_only and remaining >= 2 and opt == b"aggregate":
            agg = _AGGREGATES.get(argv[j + 1].lower())
            if agg is None:
                raise syntax()
            aggregate = agg
            j += 2
        elif remaining >= 1 and dst is None and not card_only and opt == _WITHSCORES:
            withscores = True
            j += 1
        elif card_only and remaining >= 2 and opt == b"limit":
            limit = parse_int(argv[j + 1], b"ERR LIMIT can't be negative")
            if limit < 0:
                raise CommandError(b"ERR LIMIT can't be negative")
            j += 2
        else:
            raise syntax()
    if op != DIFF:
        srcs.sort(key=lambda s: len(s[0]) if s[0] is not None else 0)
    result: dict[bytes, float] = {}
    if op == INTER:
        d0, w0, id0 = srcs[0]
        if d0:
            others = srcs[1:]
            card = 0
            for m, s0 in d0.items():
                score = w0 * s0
                if score != score:
                    score = 0.0
                for d, w, ident in others:
                    if ident == id0:
                        v = s0 * w
                    else:
                        v = d.get(m)
                        if v is None:
                            break
                        v *= w
                    if aggregate == _SUM:
                        score += v
                        if score != score:
                            score = 0.0
                    elif aggregate == _MIN:
                        if v < score:
                            score = v
                    elif v > score:
                        score = v
                else:
                    if card_only:
                        card += 1
                        if limit and card >= limit:
                            break
                    else:
                        result[m] = score
            if card_only:
                return resp.integer(card)
        elif card_only:
            return ZERO
    elif op == UNION:
        for d, w, _ in srcs:
            if not d:
                continue
            for m, s in d.items():
                score = w * s
                if score != score:
                    score = 0.0
                cur = result.get(m)
                if cur is None:
                    result[m] = score
                elif aggregate == _SUM:
                    cur += score
                    result[m] = 0.0 if cur != cur else cur
                elif aggregate == _MIN:
                    if score < cur:
                        result[m] = score
                elif score > cur:
                    result[m] = score
    else:
        d0, _, id0 = srcs[0]
        if d0 and not any(ident == id0 for _, _, ident in srcs[1:]):
            others = [d for d, _, _ in srcs[1:] if d]
            for m, s in d0.items():
                for d in others:
                    if m in d:
                        break
                else:
                    result[m] = s
    pairs = [(s, m) for m, s in result.items()]
    if dst is not None:
        event = (b"zunionstore", b"zinterstore", b"zdiffstore")[op]
        return resp.integer(store_result(c, dst, pairs, event))
    pairs.sort()
    return pairs_reply(pairs, withscores, c.resp)


_SETOP_READ = dict(group=GROUP, acl=ACL, since="6.2.0", key_specs=READ_NUMKEYS)
_SETOP_STORE = dict(group=GROUP, acl=ACL, keys=(1, 1, 1), key_specs=STORE_SPECS)


@command("zunion", -3, "readonly", summary="Add multiple sorted sets",
         complexity="O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted "
                    "sets, and M being the number of elements in the resulting sorted set.",
         **_SETOP_READ)
def zunion(c, argv):
    return setop_generic(c, argv, None, 1, UNION)


@command("zinter", -3, "readonly", summary="Intersect multiple sorted sets",
         complexity="O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted "
                    "set, K being the number of input sorted sets and M being the number of "
                    "elements in the resulting sorted set.", **_SETOP_READ)
def zinter(c, argv):
    return setop_generic(c, argv, None, 1, INTER)


@command("zdiff", -3, "readonly", summary="Subtract multiple sorted sets",
         complexity="O(L + (N-K)log(N)) worst case where L is the total number of elements "
                    "in all the sets, N is the size of the first set, and K is the size of "
                    "the result set.", **_SETOP_READ)
def zdiff(c, argv):
    return setop_generic(c, argv, None, 1, DIFF)


@command("zintercard", -3, "readonly", group=GROUP, acl=ACL, since="7.0.0",
         key_specs=READ_NUMKEYS,
         summary="Intersect multiple sorted sets and return the cardinality of the result",
         complexity="O(N*K) worst case with N being the smallest input sorted set, K being "
                    "the number of input sorted sets.")
def zintercard(c, argv):
    return setop_generic(c, argv, None, 1, INTER, card_only=True)


@command("zunionstore", -4, "write denyoom", since="2.0.0",
         summary="Add multiple sorted sets and store the resulting sorted set in a new key",
         complexity="O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted "
                    "sets, and M being the number of elements in the resulting sorted set.",
         **_SETOP_STORE)
def zunionstore(c, argv):
    return setop_generic(c, argv, argv[1], 2, UNION)


@command("zinterstore", -4, "write denyoom", since="2.0.0",
         summary="Intersect multiple sorted sets and store the resulting sorted set in a "
                 "new key",
         complexity="O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted "
                    "set, K being the number of input sorted sets and M being the number of "
                    "elements in the resulting sorted set.", **_SETOP_STORE)
def zinterstore(c, argv):
    return setop_generic(c, argv, argv[1], 2, INTER)


@command("zdiffstore", -4, "write denyoom", since="6.2.0",
         summary="Subtract multiple sorted sets and store the resulting sorted set in a new "
                 "key",
         complexity="O(L + (N-K)log(N)) worst case where L is the total number of elements "
                    "in all the sets, N is the size of the first set, and K is the size of "
                    "the result set.", **_SETOP_STORE)
def zdiffstore(c, argv):
    return setop_generic(c, argv, argv[1], 2, DIFF)


# -- ZPOPMIN, ZPOPMAX, ZMPOP -------------------------------------------------------------

def pop_reply(c, key: bytes, z: ZSet, last: bool, count: int, nested: bool,
              emitkey: bool) -> bytes:
    """genericZpopCommand on a non-empty zset: pop up to count (-1: one, flat) members,
    fire the events, delete the emptied key; the reply in the shape asked for."""
    if count == -1 or count == 1:  # the common case, without the loop
        k = 1
        popped = [z.pop(last)]
    else:
        k = min(count, len(z))
        popped = [z.pop(last) for _ in range(k)]
    srv = c.server
    srv.dirty += k
    modified(c, key, b"zpopmax" if last else b"zpopmin")
    if not len(z):
        c.db.delete(key)
        srv.notify(NOTIFY_GENERIC, b"del", key, c.db.id)
    r = c.resp
    if nested:
        body = resp.array_header(k) + b"".join(
            [b"*2\r\n$%d\r\n%s\r\n" % (len(m), m) + score_reply(s, r) for s, m in popped])
        if emitkey:
            return b"*2\r\n$%d\r\n%s\r\n" % (len(key), key) + body
        return body
    if k == 1 and not emitkey:
        s, m = popped[0]
        t = b"%.17g" % s
        if r == 3:
            return b"*2\r\n$%d\r\n%s\r\n,%s\r\n" % (len(m), m, t)
        return b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(m), m, len(t), t)
    parts = [resp.array_header(2 * k + (1 if emitkey else 0))]
    if emitkey:
        parts.append(b"$%d\r\n%s\r\n" % (len(key), key))
    for s, m in popped:
        parts.append(b"$%d\r\n%s\r\n" % (len(m), m))
        parts.append(score_reply(s, r))
    return b"".join(parts)


def _zpop(c, argv, last: bool) -> bytes:
    if len(argv) > 3:
        raise syntax()
    count = -1
    if len(argv) == 3:
        count = parse_int(argv[2], POSITIVE_ERR)
        if count < 0:
            raise CommandError(POSITIVE_ERR)
    key = argv[1]
    z = write_zset(c, key)
    if z is None or count == 0:
        return EMPTY_ARRAY
    return pop_reply(c, key, z, last, count, c.resp > 2 and count != -1, False)


_POP = dict(group=GROUP, acl=ACL, keys=(1, 1, 1), key_specs=RW_ACCESS_DELETE, since="5.0.0")


@command("zpopmin", -2, "write fast",
         summary="Remove and return members with the lowest scores in a sorted set",
         complexity="O(log(N)*M) with N being the number of elements in the sorted set, and "
                    "M being the number of elements popped.", **_POP)
def zpopmin(c, argv):
    return _zpop(c, argv, False)


@command("zpopmax", -2, "write fast",
         summary="Remove and return members with the highest scores in a sorted set",
         complexity="O(log(N)*M) with N being the number of elements in the sorted set, and "
                    "M being the number of elements popped.", **_POP)
def zpopmax(c, argv):
    return _zpop(c, argv, True)


def parse_mpop(argv: list[bytes], nk: int) -> tuple[list[bytes], bool, int]:
    """ZMPOP/BZMPOP arguments from the numkeys position: (keys, max?, count)."""
    numkeys = parse_int(argv[nk], b"ERR numkeys should be greater than 0")
    if numkeys < 1:
        raise CommandError(b"ERR numkeys should be greater than 0")
    where_idx = nk + numkeys + 1
    n = len(argv)
    if where_idx >= n:
        raise syntax()
    where = argv[where_idx].lower()
    if where not in (b"min", b"max"):
        raise syntax()
    count = -1
    j = where_idx + 1
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            count = parse_int(argv[j + 1], b"ERR count should be greater than 0")
            if count < 1:
                raise CommandError(b"ERR count should be greater than 0")
            j += 2
        else:
            raise syntax()
    return argv[nk + 1:where_idx], where == b"max", 1 if count == -1 else count


def mpop_first(c, keys: list[bytes]) -> tuple[bytes, ZSet] | None:
    """The first existing zset among keys (WRONGTYPE on the first other value)."""
    for key in keys:
        z = write_zset(c, key)
        if z is not None:
            return key, z
    return None


@command("zmpop", -4, "write", group=GROUP, acl=ACL, since="7.0.0",
         key_specs=[ks("RW access delete", keynum=True)],
         summary="Remove and return members with scores in a sorted set",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                    "number of elements in the sorted set, and M being the number of elements "
                    "popped.")
def zmpop(c, argv):
    keys, last, count = parse_mpop(argv, 1)
    found = mpop_first(c, keys)
    if found is None:
        return resp.null_array(c.resp)
    key, z = found
    k = min(count, len(z))
    c.prop = [[b"ZPOPMAX" if last else b"ZPOPMIN", key, b"%d" % k]]
    return pop_reply(c, key, z, last, count, True, True)


# -- BZPOPMIN, BZPOPMAX, BZMPOP (on bocho/blocking.py) ----------------------------------

def _bzpop_prop(key: bytes, last: bool, count: int, n: int) -> list[bytes]:
    """How a blocking pop goes out: ZPOPMIN/ZPOPMAX key [count actually popped]."""
    prop = [b"ZPOPMAX" if last else b"ZPOPMIN", key]
    if count != -1:
        prop.append(b"%d" % min(count, n))
    return prop


def _serve_bzpop(c, key: bytes, z: ZSet) -> bytes:
    last, count, nested = c.block_state.data
    blocking.propagate(c, _bzpop_prop(key, last, count, len(z)))
    return pop_reply(c, key, z, last, count, nested, True)


def blocking_zpop(c, argv: list[bytes], keys: list[bytes], last: bool, deadline: int,
                  count: int, nested: bool) -> bytes | None:
    """blockingGenericZpopCommand: pop from the first non-empty zset, else block."""
    for key in keys:
        z = write_zset(c, key)
        if z is None or not len(z):
            continue
        c.prop = [_bzpop_prop(key, last, count, len(z))]
        return pop_reply(c, key, z, last, count, nested, True)
    if not blocking.may_block(c):
        return resp.null_array(c.resp)
    blocking.block_for_keys(c, argv, b"zset", keys, deadline, _serve_bzpop,
                            (last, count, nested))
    return None


_BZPOP = dict(keys=(1, -2, 1), group=GROUP, acl=ACL, since="5.0.0",
              key_specs=[ks("RW access delete", lastkey=-2)],
              complexity="O(log(N)) with N being the number of elements in the sorted set.")


@command("bzpopmin", -3, "write noscript fast blocking",
         summary="Remove and return the member with the lowest score from one or more "
                 "sorted sets, or block until one is available", **_BZPOP)
def bzpopmin(c, argv):
    deadline = blocking.parse_timeout(argv[-1])
    return blocking_zpop(c, argv, argv[1:-1], False, deadline, -1, False)


@command("bzpopmax", -3, "write noscript fast blocking",
         summary="Remove and return the member with the highest score from one or more "
                 "sorted sets, or block until one is available", **_BZPOP)
def bzpopmax(c, argv):
    deadline = blocking.parse_timeout(argv[-1])
    return blocking_zpop(c, argv, argv[1:-1], True, deadline, -1, False)


@command("bzmpop", -5, "write blocking", group=GROUP, acl=ACL, since="7.0.0",
         key_specs=[ks("RW access delete", pos=2, keynum=True)],
         summary="Remove and return members with scores in a sorted set or block until one "
                 "is available",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the "
                    "number of elements in the sorted set, and M being the number of elements "
                    "popped.")
def bzmpop(c, argv):
    keys, last, count = parse_mpop(argv, 2)
    deadline = blocking.parse_timeout(argv[1])
    return blocking_zpop(c, argv, keys, last, deadline, count, True)


# -- ZRANDMEMBER -------------------------------------------------------------------------

_LONG_MAX = I64_MAX


@command("zrandmember", -2, "readonly", since="6.2.0", tips=("nondeterministic_output",),
         summary="Get one or multiple random elements from a sorted set",
         complexity="O(N) where N is the number of elements returned", **_RANGE)
def zrandmember(c, argv):
    n = len(argv)
    r = c.resp
    if n < 3:
        z = read_zset(c, argv[1])
        if z is None:
            return resp.null(r)
        m = z.at(random.randrange(len(z)))[1]
        return b"$%d\r\n%s\r\n" % (len(m), m)
    count = parse_long(argv[2])
    if count < -_LONG_MAX:
        raise CommandError(b"ERR value is out of range, value must between "
                           b"-9223372036854775807 and 9223372036854775807")
    withscores = False
    if n > 4 or (n == 4 and argv[3].lower() != _WITHSCORES):
        raise syntax()
    if n == 4:
        withscores = True
        if count < -(_LONG_MAX // 2) or count > _LONG_MAX // 2:
            raise CommandError(b"ERR value is out of range")
    z = read_zset(c, argv[1])
    if z is None or count == 0:
        return EMPTY_ARRAY
    size = len(z)
    at = z.at
    if count < 0:
        # Repeats allowed, a chunk at a time (see HRANDFIELD); the header counts what
        # pairs_reply's would for the whole reply
        rr = random.randrange
        count = -count
        body = c.bounded_reply(
            _body(pairs_reply([at(rr(size)) for _ in range(k)], withscores, r))
            for k in chunk_sizes(count))
        if body is None:
            return None
        return resp.array_header(count * 2 if withscores and r == 2 else count) + body
    elif count >= size:
        pairs = z.slice(0, size)[::-1]  # the zset iterator walks from the tail
    else:
        pairs = [at(i) for i in random.sample(range(size), count)]
    return pairs_reply(pairs, withscores, r)


# -- registration with the generic machinery ---------------------------------------------

def _digest(z: ZSet):
    return z.items()


register_digest(ZSet, _digest)

for _name in (b"zrevrange", b"zrangebyscore", b"zrevrangebyscore", b"zrangebylex",
              b"zrevrangebylex"):
    TABLE[_name].doc_flags = ("deprecated",)
