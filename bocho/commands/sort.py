"""SORT and SORT_RO (sort.c). The machinery (BY, LIMIT, GET, ASC/DESC, ALPHA, STORE) is
type-independent: a sortable type registers a function giving its kind and elements
(db.SORT_SOURCES via register_type), hashes their field getter for "key->field"
patterns, and lists the constructor STORE uses (db.FACTORIES[b"list"])."""

from __future__ import annotations

import math

from bocho import notify, resp
from bocho.commands import command
from bocho.db import FACTORIES, FIELD_GETTERS, SORT_SOURCES
from bocho.errors import CommandError, syntax, wrongtype
from bocho.util import parse_int

SCORE_ERR = b"ERR One or more scores can't be converted into double"
_WS = b" \t\n\v\f\r"
_DBL_MIN = 2.2250738585072014e-308


def strtod(b: bytes) -> float | None:
    """A double as SORT reads it (strtod with the whole string consumed, no ERANGE, no
    NaN); None when Redis would report a conversion error. The empty string is 0."""
    if not b:
        return 0.0
    s = b.lstrip(_WS)
    if not s or s[-1:] in (b" ", b"\t", b"\n", b"\v", b"\f", b"\r") or b"_" in s:
        return None
    try:
        v = float(s)
    except ValueError:
        body = s.lstrip(b"+-")
        if not body[:2].lower() == b"0x":
            return None
        try:
            v = float.fromhex(s.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return None
    if math.isnan(v):
        return None
    if math.isinf(v):
        return v if b"inf" in s.lower() else None  # overflow is ERANGE
    if v == 0.0:
        mant = s.lower().split(b"e", 1)[0]
        if any(48 < ch <= 57 for ch in mant) and b"x" not in mant:
            return None  # underflow to zero is ERANGE
    elif abs(v) < _DBL_MIN:
        return None  # glibc flags subnormal results with ERANGE
    return v


def lookup_by_pattern(db, pattern: bytes, subst: bytes) -> bytes | None:
    """lookupKeyByPattern: "#" is the element itself; otherwise the first '*' is
    replaced by the element, and "->field" after it reads a hash field."""
    if pattern == b"#":
        return subst
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        key = pattern[:star] + subst + pattern[star + 1:arrow]
    else:
        key = pattern[:star] + subst + pattern[star + 1:]
    v = db.lookup_read(key)
    if v is None:
        return None
    if field is not None:
        get = FIELD_GETTERS.get(type(v))
        return get(v, field) if get is not None else None
    t = type(v)
    if t is bytes:
        return v
    if t is bytearray:
        return bytes(v)
    return None


def _full_read(c, argv) -> bool:
    """BY/GET patterns read keys no key spec names: only users who may read every key
    (and run this command) can use them."""
    if c.user in c.server.acl_free:
        return True
    return c.server.acl.unrestricted_read(c, argv)


def sort_generic(c, argv, readonly: bool) -> bytes:
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    sortby = storekey = None
    gets: list[bytes] = []
    cluster = c.server.config["cluster-enabled"]
    j, n = 2, len(argv)
    while j < n:
        opt = argv[j].lower()
        left = n - j - 1
        if opt == b"asc":
            desc = False
        elif opt == b"desc":
            desc = True
        elif opt == b"alpha":
            alpha = True
        elif opt == b"limit" and left >= 2:
            limit_start = parse_int(argv[j + 1])
            limit_count = parse_int(argv[j + 2])
            j += 2
        elif opt == b"store" and not readonly and left >= 1:
            storekey = argv[j + 1]
            j += 1
        elif opt == b"by" and left >= 1:
            sortby = argv[j + 1]
            if b"*" not in sortby:
                dontsort = True
            elif cluster:
                raise CommandError(b"ERR BY option of SORT denied in Cluster mode.")
            elif not _full_read(c, argv):
                raise CommandError(b"ERR BY option of SORT denied due to insufficient ACL "
                                   b"permissions.")
            j += 1
        elif opt == b"get" and left >= 1:
            if cluster:
                raise CommandError(b"ERR GET option of SORT denied in Cluster mode.")
            if not _full_read(c, argv):
                raise CommandError(b"ERR GET option of SORT denied due to insufficient ACL "
                                   b"permissions.")
            gets.append(argv[j + 1])
            j += 1
        else:
            raise syntax()
        j += 1

    db = c.db
    value = db.lookup_read(argv[1])
    if value is None:
        kind, elems = b"list", []
    else:
        source = SORT_SOURCES.get(type(value))
        if source is None:
            raise wrongtype()
        kind, elems = source(value)
    if dontsort and kind == b"set" and (storekey is not None or c.id == 0
                                        or getattr(c, "is_script", False)):
        # A set's order is arbitrary: make the result deterministic for replicas/AOF.
        dontsort, alpha, sortby = False, True, None

    size = len(elems)
    start = min(max(limit_start, 0), size)
    limit_count = min(max(limit_count, -1), size)
    end = size - 1 if limit_count < 0 else start + limit_count - 1
    if start >= size:
        start, end = size - 1, size - 2
    if end >= size:
        end = size - 1

    if dontsort and kind in (b"list", b"zset"):
        # No sorting: the natural order, walked from the tail for DESC.
        ordered = elems[::-1] if desc else elems
        vector = ordered[start:end + 1] if end >= start else []
        end -= start
        start = 0
    else:
        vector = list(elems)
        if not dontsort:
            conversion_error = False
            if alpha:
                if sortby is not None:
                    keyed = [(lookup_by_pattern(db, sortby, e), e) for e in vector]
                    keyed.sort(key=lambda p: (p[0] is not None, p[0] or b""), reverse=desc)
                    vector = [e for _, e in keyed]
                else:
                    vector.sort(reverse=desc)
            else:
                scored = []
                for e in vector:
                    byval = lookup_by_pattern(db, sortby, e) if sortby is not None else e
                    score = 0.0
                    if byval is not None:
                        d = strtod(byval)
                        if d is None:
                            conversion_error = True
                        else:
                            score = d
                    scored.append((score, e))
                scored.sort(reverse=desc)
                vector = [e for _, e in scored]
            if conversion_error:
                raise CommandError(SCORE_ERR)

    chosen = vector[start:end + 1] if end >= start else []
    srv = c.server
    if storekey is None:
        if not gets:
            return resp.bulk_array(chosen)
        null = resp.null(c.resp)
        parts = [resp.array_header(len(chosen) * len(gets))]
        for e in chosen:
            for pat in gets:
                v = lookup_by_pattern(db, pat, e)
                parts.append(null if v is None else resp.bulk(v))
        return b"".join(parts)

    if gets:
        out = []
        for e in chosen:
            for pat in gets:
                v = lookup_by_pattern(db, pat, e)
                out.append(b"" if v is None else v)
    else:
        out = chosen
    if out:
        factory = FACTORIES.get(b"list")
        if factory is None:
            raise CommandError(b"ERR SORT STORE needs the list type")
        db.set_key(storekey, factory(out))
        srv.notify(notify.LIST, b"sortstore", storekey, db.id)
        srv.dirty += len(out)
    elif db.delete(storekey):
        srv.notify(notify.GENERIC, b"del", storekey, db.id)
        srv.dirty += 1
    return resp.integer(len(out))


_SKIP = {b"limit": 2, b"get": 1, b"by": 1}

_BYGET_NOTE = ("For the optional BY/GET keyword. It is marked 'unknown' because the key names "
               "derive from the content of the key we sort")
_STORE_NOTE = ("For the optional STORE keyword. It is marked 'unknown' because the keyword can "
               "appear anywhere in the argument array")


def _spec(flags: str, notes: str = "", unknown: bool = False) -> dict:
    if unknown:
        return {"flags": flags.split(), "notes": notes, "begin_search": {"unknown": None},
                "find_keys": {"unknown": None}}
    return {"flags": flags.split(), "begin_search": {"index": {"pos": 1}},
            "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}


def sort_getkeys(argv: list[bytes]) -> list[int]:
    """The sorted key plus the last STORE destination (as Redis's sortGetKeys)."""
    keys = [1]
    store = None
    i, n = 2, len(argv)
    while i < n:
        opt = argv[i].lower()
        skip = _SKIP.get(opt)
        if skip is not None:
            i += skip
        elif opt == b"store" and i + 1 < n:
            store = i + 1
        i += 1
    if store is not None:
        keys.append(store)
    return keys


_SORT = dict(keys=(1, 1, 1), group="generic", acl=("set", "sortedset", "list", "dangerous"),
             complexity="O(N+M*log(M)) where N is the number of elements in the list or set "
                        "to sort, and M the number of returned elements.")


@command("sort", -2, "write denyoom", getkeys=sort_getkeys,
         key_specs=[_spec("RO access"), _spec("RO access", _BYGET_NOTE, True),
                    _spec("OW update", _STORE_NOTE, True)],
         summary="Sort the elements in a list, set or sorted set", **_SORT)
def sort(c, argv):
    return sort_generic(c, argv, False)


@command("sort_ro", -2, "readonly", getkeys=lambda argv: [1], since="7.0.0",
         key_specs=[_spec("RO access"), _spec("RO access", _BYGET_NOTE, True)],
         summary="Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
         **_SORT)
def sort_ro(c, argv):
    return sort_generic(c, argv, True)
