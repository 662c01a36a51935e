"""RDB codecs of lists, hashes, sets and sorted sets (every encoding Redis 7.0 reads).

Saving writes each value the way Redis 7.0.15 writes the encoding bocho holds it in, so
the bytes match real Redis's for the same content wherever the structure allows:
- List -> QUICKLIST_2: node count, then per node its container (2 packed, 1 plain) and
  the node as a string (a listpack, or a plain node's element). Nodes are split as a
  list built by RPUSH would be (quicklistPushTail: list-max-listpack-size, the 8 KB
  safety limit, elements from the packed threshold up in plain nodes of their own).
- LpHash -> HASH_LISTPACK (the pairs in insertion order), Hash -> HASH.
- IntSet -> SET_INTSET (intset bytes), Set -> SET.
- ZSet listpack -> ZSET_LISTPACK (member, score pairs; a score that is an integer of at
  most 62 bits as an integer entry, any other as d2string's text), skiplist -> ZSET_2
  (highest score first, as Redis walks its skiplist from the tail).

Loading reads every list/hash/set/zset type 7.0 reads (1-5, 9-14, 16-18) and 7.2's
SET_LISTPACK (20), and encodes the value as Redis 7.0 does on load under the running
config (a listpack over the entry limit becomes a hashtable/skiplist, a set of
non-integers or over set-max-intset-entries a hashtable, ...). Legacy payloads are
always checked in full (as Redis does: it converts them entry by entry); modern ones
are parsed in full too, since bocho keeps no unchecked blob: a malformed payload raises
RdbError carrying Redis's own reason text ("Zipmap integrity check failed." ...) and
nothing half-built escapes. A container with no elements raises EmptyKeyError, which a
file load skips and RESTORE refuses, as Redis does."""

from __future__ import annotations

from array import array
from itertools import accumulate
from math import isnan
from operator import itemgetter

from sortedcontainers import SortedList

from bocho.commands.hashes import FS, VS, Hash, LpHash, lp_build, lp_pairs
from bocho.commands.lists import List
from bocho.commands.sets import IntSet, Set, max_intset
from bocho.config import on_apply
from bocho.persistence import intset, listpack, rdb, ziplist, zipmap
from bocho.persistence.rdbio import (
    QUICKLIST_NODE_PACKED,
    QUICKLIST_NODE_PLAIN,
    TYPE_HASH,
    TYPE_HASH_LISTPACK,
    TYPE_HASH_ZIPLIST,
    TYPE_HASH_ZIPMAP,
    TYPE_LIST,
    TYPE_LIST_QUICKLIST,
    TYPE_LIST_QUICKLIST_2,
    TYPE_LIST_ZIPLIST,
    TYPE_SET,
    TYPE_SET_INTSET,
    TYPE_SET_LISTPACK,
    TYPE_ZSET,
    TYPE_ZSET_2,
    TYPE_ZSET_LISTPACK,
    TYPE_ZSET_ZIPLIST,
    EmptyKeyError,
    RdbError,
    Reader,
    put_double,
    put_len,
    put_str,
)
from bocho.types.zset import ZSet, pack_offsets

lp_encode = listpack.encode
backlen_size = listpack.backlen_size
lp_encode_int = listpack.encode_int
lp_encode_str = listpack.encode_str
I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1

# -- listpack entries, fast ----------------------------------------------------------------
# Most entries are short strings or small integers: these tables spare listpack.encode's
# general path (and its int() attempt on every string) and parse()'s per-byte checks.

_STR_HDR = [bytes((0x80 | n,)) for n in range(64)]
_BACKLEN1 = [bytes((n,)) for n in range(128)]
_INT_ENTRY = {i: lp_encode_int(i) for i in range(-4096, 4096)}
_UINT7_TEXT = [b"%d" % i for i in range(128)]


def lp_entry(e) -> bytes:
    """One listpack entry for a bytes-like element, as lpAppend stores it."""
    n = len(e)
    if n < 64:
        if e.isdigit():
            if n < 19 and (n == 1 or e[0] != 48):  # canonical and within 64 bits
                v = int(e)
                x = _INT_ENTRY.get(v)
                return lp_encode_int(v) if x is None else x
        elif not (n > 1 and e[0] == 45 and e[1:].isdigit()):
            return _STR_HDR[n] + e + _BACKLEN1[n + 1]
    return lp_encode(e)


def lp_entries(elements) -> list[bytes]:
    """lp_entry of each element (the common case inline: no call per element)."""
    hdr, bl = _STR_HDR, _BACKLEN1
    return [hdr[n] + e + bl[n + 1] if (n := len(e)) < 64 and not (e.isdigit() or e[:1] == b"-")
            else lp_entry(e) for e in elements]


def lp_body(elements) -> bytes:
    return b"".join(lp_entries(elements))


def lp_blob(body: bytes, count: int) -> bytes:
    """A listpack of `count` entries already joined in body."""
    return b"".join(((len(body) + 7).to_bytes(4, "little"),
                     (count if count < 65535 else 65535).to_bytes(2, "little"), body, b"\xff"))


def lp_text(buf, deep: bool = False) -> list[bytes]:
    """The elements of a listpack as text (integers written out). Bounds are checked;
    backlens and the count only when deep (lpValidateIntegrity's deep mode)."""
    if deep:
        return listpack.parse_bytes(buf, True)
    size = len(buf)
    if size < 7 or buf[size - 1] != 255 or int.from_bytes(buf[0:4], "little") != size:
        raise ValueError("bad listpack header")
    out: list[bytes] = []
    add = out.append
    p = 6
    end = size - 1
    while p < end:
        b = buf[p]
        if b < 0x80:
            add(_UINT7_TEXT[b])
            p += 2
        elif b < 0xC0:
            q = p + 1 + (b & 0x3F)
            add(buf[p + 1:q])
            p = q + 1
        else:
            if b < 0xE0:
                add(b"%d" % (((((b & 0x1F) << 8) | buf[p + 1]) ^ 4096) - 4096))
                q = p + 2
            elif b < 0xF0:
                q = p + 2 + (((b & 0x0F) << 8) | buf[p + 1])
                add(buf[p + 2:q])
            elif b == 0xF0:
                n = int.from_bytes(buf[p + 1:p + 5], "little")
                q = p + 5 + n
                add(buf[p + 5:q])
            elif b <= 0xF4:
                q = p + 1 + (2, 3, 4, 8)[b - 0xF1]
                add(b"%d" % int.from_bytes(buf[p + 1:q], "little", signed=True))
            else:
                raise ValueError("bad listpack entry encoding")
            p = q + backlen_size(q - p)
    if p != end:
        raise ValueError("listpack entries overflow")
    return out

# -- options the list saver follows -------------------------------------------------------

# [list-max-listpack-size, quicklist packed threshold (DEBUG QUICKLIST-PACKED-THRESHOLD)]
LIST_OPTS = [-2, 1 << 30]
NODE_SIZE_LEVELS = (4096, 8192, 16384, 32768, 65536)
SIZE_SAFETY_LIMIT = 8192
SIZE_ESTIMATE_OVERHEAD = 8


@on_apply("list-max-listpack-size")
def configure(srv) -> None:
    """Take the list node options from a server: rdb.save calls this, and so does CONFIG
    SET list-max-listpack-size (DUMP writes what was last taken)."""
    LIST_OPTS[0] = srv.config["list-max-listpack-size"]
    LIST_OPTS[1] = getattr(srv, "quicklist_packed_threshold", 1 << 30)


# -- lists ---------------------------------------------------------------------------------

def list_nodes(v, fill: int, threshold: int) -> list[tuple[int, bytes]]:
    """(container, bytes) of each quicklist node an RPUSH of v's elements would make."""
    level = NODE_SIZE_LEVELS[-fill - 1] if -len(NODE_SIZE_LEVELS) <= fill < 0 else 0
    if level and threshold > level and len(v) < 65535:
        body = lp_body(v)
        if len(body) + 7 + SIZE_ESTIMATE_OVERHEAD <= level:  # every push fits one node
            return [(QUICKLIST_NODE_PACKED, lp_blob(body, len(v)))]
    encs = lp_entries(v)
    nodes: list[tuple[int, bytes]] = []
    cur: list[bytes] | None = None
    size = 0
    for e, enc in zip(v, encs, strict=True):
        ln = len(e)
        if ln >= threshold:
            if cur:
                nodes.append((QUICKLIST_NODE_PACKED, lp_blob(b"".join(cur), len(cur))))
            cur = None
            nodes.append((QUICKLIST_NODE_PLAIN, bytes(e)))
            continue
        if cur is not None:
            new_size = size + ln + SIZE_ESTIMATE_OVERHEAD
            if level:
                fits = new_size <= level
            else:
                fits = new_size <= SIZE_SAFETY_LIMIT and len(cur) < fill
            if fits:
                cur.append(enc)
                size += len(enc)
                continue
            nodes.append((QUICKLIST_NODE_PACKED, lp_blob(b"".join(cur), len(cur))))
        cur = [enc]
        size = 7 + len(enc)
    if cur:
        nodes.append((QUICKLIST_NODE_PACKED, lp_blob(b"".join(cur), len(cur))))
    return nodes


def save_list(buf: bytearray, v, compress: bool) -> int:
    nodes = list_nodes(v, LIST_OPTS[0], LIST_OPTS[1])
    put_len(buf, len(nodes))
    for container, data in nodes:
        buf.append(container)
        put_str(buf, data, compress)
    return TYPE_LIST_QUICKLIST_2


def _as_text(elements: list) -> list[bytes]:
    return [e if type(e) is bytes else b"%d" % e for e in elements]


def load_list(r: Reader, ctx) -> List:
    n = r.length()
    if n == 0:
        raise EmptyKeyError("empty list")
    return List([r.string() for _ in range(n)])


def load_list_ziplist(r: Reader, ctx) -> List:
    items, _ = _blob(r, ziplist.parse, "List ziplist integrity check failed.", "list")
    return List(_as_text(items))


def load_quicklist(r: Reader, ctx) -> List:
    """QUICKLIST (14, nodes are ziplists) and QUICKLIST_2 (18, listpacks or plain)."""
    return _load_quicklist(r, ctx, False)


def load_quicklist_2(r: Reader, ctx) -> List:
    return _load_quicklist(r, ctx, True)


def _load_quicklist(r: Reader, ctx, v2: bool) -> List:
    n = r.length()
    if n == 0:
        raise EmptyKeyError("empty list")
    out = List()
    deep = ctx.deep
    for _ in range(n):
        container = QUICKLIST_NODE_PACKED
        if v2:
            at = r.pos
            container = r.length()
            if container != QUICKLIST_NODE_PACKED and container != QUICKLIST_NODE_PLAIN:
                raise RdbError("Quicklist integrity check failed.", at)
        at = r.pos
        data = r.string()
        if not data:
            raise RdbError("Empty quicklist node", at)
        if container == QUICKLIST_NODE_PLAIN:
            out.append(data)
            continue
        try:
            out.extend(lp_text(data, deep) if v2 else _as_text(ziplist.parse(data)))
        except ValueError:
            raise RdbError("Listpack integrity check failed." if v2 else
                           "Ziplist integrity check failed.", at) from None
    if not out:
        raise EmptyKeyError("empty list")
    return out


# -- hashes --------------------------------------------------------------------------------

def save_lphash(buf: bytearray, h: LpHash, compress: bool) -> int:
    if h.find(b"\xff\x00") < 0:  # nothing escaped: the markers split it
        flat = h.replace(VS, FS).split(FS)
        del flat[0]
    else:
        flat = lp_pairs(h)
    put_str(buf, lp_blob(lp_body(flat), len(flat)), compress)
    return TYPE_HASH_LISTPACK


def save_hash(buf: bytearray, h: Hash, compress: bool) -> int:
    put_len(buf, len(h))
    for f, v in h.items():
        put_str(buf, f, compress)
        put_str(buf, v, compress)
    return TYPE_HASH


_LP_PAIR = [FS, b"", VS, b""]


def _lphash(flat: list[bytes]) -> LpHash:
    """An LpHash of [field, value, ...] (distinct fields), escaping only when needed."""
    parts = _LP_PAIR * (len(flat) >> 1)
    parts[1::2] = flat
    h = LpHash(b"".join(parts))
    if h.count(b"\xff") != len(flat):  # an element holds FF: escape
        h = lp_build(flat)
    return h


def _dict_hash(flat: list[bytes]) -> Hash:
    h = Hash(zip(flat[::2], flat[1::2], strict=True))
    h.snaps = None
    return h


def _pairs_hash(flat: list[bytes], cfg, by_count_only: bool, dup_msg: str, at: int):
    """A hash of distinct [field, value, ...]: a listpack while it has at most
    hash-max-listpack-entries fields (and, unless by_count_only, no field or value over
    hash-max-listpack-value bytes), else a hashtable."""
    n = len(flat) >> 1
    if len(set(flat[::2])) != n:
        raise RdbError(dup_msg, at)
    if n > cfg["hash-max-listpack-entries"]:
        return _dict_hash(flat)
    if not by_count_only and max(map(len, flat)) > cfg["hash-max-listpack-value"]:
        return _dict_hash(flat)
    return _lphash(flat)


def load_hash(r: Reader, ctx) -> Hash | LpHash:
    at = r.pos
    n = r.length()
    if n == 0:
        raise EmptyKeyError("empty hash")
    flat = [r.string() for _ in range(2 * n)]
    cfg = ctx.config
    big = n > cfg["hash-max-listpack-entries"] or \
        max(map(len, flat)) > cfg["hash-max-listpack-value"]
    return _pairs_hash(flat, cfg, False, "Duplicate hash fields detected" if big
                       else "Hash with dup elements", at)


def _blob(r: Reader, parse, bad: str, what: str, pairs: bool = False) -> tuple[list, int]:
    """(elements, offset) of one encoded blob (a listpack, ziplist...): RdbError(bad) when
    it does not parse (or, for pairs, has an odd count), EmptyKeyError when empty."""
    at = r.pos
    try:
        items = parse(r.string())
    except ValueError:
        raise RdbError(bad, at) from None
    if pairs and len(items) & 1:
        raise RdbError(bad, at)
    if not items:
        raise EmptyKeyError("empty " + what)
    return items, at


def load_hash_listpack(r: Reader, ctx) -> Hash | LpHash:
    bad = "Hash listpack integrity check failed."
    deep = ctx.deep
    flat, at = _blob(r, lambda b: lp_text(b, deep), bad, "hash", True)
    return _pairs_hash(flat, ctx.config, True, bad if deep else
                       "Hash listpack with dup elements", at)


def load_hash_ziplist(r: Reader, ctx) -> Hash | LpHash:
    bad = "Hash ziplist integrity check failed."
    items, at = _blob(r, ziplist.parse, bad, "hash", True)
    return _pairs_hash(_as_text(items), ctx.config, True, bad, at)


def load_hash_zipmap(r: Reader, ctx) -> Hash | LpHash:
    at = r.pos
    try:
        flat = zipmap.parse(r.string())
    except ValueError:
        raise RdbError("Zipmap integrity check failed.", at) from None
    fields = flat[::2]
    if len(set(fields)) != len(fields):
        seen: set[bytes] = set()
        dup = next(f for f in fields if f in seen or seen.add(f))  # type: ignore[func-returns-value]
        raise RdbError(f"Hash zipmap with dup elements, or big length ({len(dup)})", at)
    return _pairs_hash(flat, ctx.config, False, "", at)


# -- sets ----------------------------------------------------------------------------------

def save_intset(buf: bytearray, s: IntSet, compress: bool) -> int:
    put_str(buf, intset.build(s), compress)
    return TYPE_SET_INTSET


def save_set(buf: bytearray, s: Set, compress: bool) -> int:
    put_len(buf, len(s))
    for m in s:
        put_str(buf, m, compress)
    return TYPE_SET


def _canonical_ints(members: list[bytes]) -> list[int] | None:
    """The members as ints when every one is the canonical text of a 64-bit integer."""
    if not b"".join(members).replace(b"-", b"").isdigit():
        return None
    try:
        ints = [int(m) for m in members]
    except ValueError:
        return None
    if list(map(b"%d".__mod__, ints)) != members:
        return None
    if ints and (min(ints) < I64_MIN or max(ints) > I64_MAX):
        return None
    return ints


def _new_set(members) -> Set:
    s = Set(members)
    s.snaps = None
    return s


def _set_of(members: list[bytes], cfg, dup_msg: str, at: int) -> Set | IntSet:
    """The set encoding 7.0 reaches adding members one by one (intset while every member
    is an integer and there are at most set-max-intset-entries of them)."""
    n = len(members)
    if n <= max_intset(cfg):
        ints = _canonical_ints(members)
        if ints is not None:
            uniq = sorted(set(ints))
            if len(uniq) != n:
                raise RdbError(dup_msg, at)
            return IntSet("q", uniq)
    s = _new_set(members)
    if len(s) != n:
        raise RdbError(dup_msg, at)
    return s


def load_set(r: Reader, ctx) -> Set | IntSet:
    at = r.pos
    n = r.length()
    if n == 0:
        raise EmptyKeyError("empty set")
    members = [r.string() for _ in range(n)]
    return _set_of(members, ctx.config, "Duplicate set members detected", at)


def load_intset(r: Reader, ctx) -> Set | IntSet:
    at = r.pos
    try:
        vals = intset.parse(r.string(), True, IntSet)
    except ValueError:
        raise RdbError("Intset integrity check failed.", at) from None
    if len(vals) > max_intset(ctx.config):
        return _new_set(map(b"%d".__mod__, vals))
    return vals


def load_set_listpack(r: Reader, ctx) -> Set | IntSet:
    """7.2's SET_LISTPACK, as the set 7.0 would build of those members."""
    bad = "Set listpack integrity check failed."
    deep = ctx.deep
    members, at = _blob(r, lambda b: lp_text(b, deep), bad, "set")
    return _set_of(members, ctx.config, bad, at)


# -- sorted sets ---------------------------------------------------------------------------

LL_HALF = float((1 << 62) - 1)  # double2ll's range: |d| <= LLONG_MAX/2 as a double
INF = float("inf")


def d2string(d: float) -> bytes:
    """Redis's d2string for a score that is not a 62-bit integer."""
    if d == INF:
        return b"inf"
    if d == -INF:
        return b"-inf"
    return b"%.17g" % d


def score_entry(d: float) -> bytes:
    """A score as zzlInsertAt stores it in a listpack (a float key finds the entry of the
    equal small integer in _INT_ENTRY: -0.0 that of 0)."""
    x = _INT_ENTRY.get(d)
    if x is not None:
        return x
    if -LL_HALF <= d <= LL_HALF:
        i = int(d)
        if i == d:
            return lp_encode_int(i)
    t = d2string(d)
    return _STR_HDR[len(t)] + t + _BACKLEN1[len(t) + 1]


def save_zset(buf: bytearray, z: ZSet, compress: bool) -> int:
    if z.d is None:
        mb, mo, sc = z.x, z.o, z.y
        n = len(sc)
        parts = [b""] * (2 * n)
        parts[0::2] = lp_entries(map(mb.__getitem__, map(slice, mo[:-1], mo[1:])))
        ie = _INT_ENTRY
        parts[1::2] = [ie.get(x) or score_entry(x) for x in sc]
        put_str(buf, lp_blob(b"".join(parts), 2 * n), compress)
        return TYPE_ZSET_LISTPACK
    put_len(buf, len(z.d))
    for s, m in reversed(z.x):
        put_str(buf, m, compress)
        put_double(buf, s)
    return TYPE_ZSET_2


def _zset(scores: list[float], members: list[bytes], listpack_enc: bool) -> ZSet:
    """A ZSet of distinct members and their scores, in either encoding."""
    z = ZSet.__new__(ZSet)
    if not listpack_enc:
        z.d = dict(zip(members, scores, strict=True))
        z.x = SortedList(zip(scores, members, strict=True))
        z.y = z.o = None
        return z
    if scores != sorted(scores) or len(set(scores)) != len(scores):
        items = sorted(zip(scores, members, strict=True))  # by score, then member
        scores = list(map(itemgetter(0), items))
        members = list(map(itemgetter(1), items))
    if 0.0 in scores:  # a listpack holds no -0
        scores = [s + 0.0 for s in scores]
    z.d = None
    z.x = b"".join(members)
    z.o = pack_offsets(list(accumulate(map(len, members), initial=0)))
    z.y = array("d", scores)
    return z


def load_zset(r: Reader, ctx) -> ZSet:
    return _load_zset(r, ctx, r.double_text)


def load_zset_2(r: Reader, ctx) -> ZSet:
    return _load_zset(r, ctx, r.double_bin)


def _load_zset(r: Reader, ctx, read_score) -> ZSet:
    at = r.pos
    n = r.length()
    if n == 0:
        raise EmptyKeyError("empty zset")
    string = r.string
    pairs = []
    for _ in range(n):
        m = string()
        s = read_score()
        if s != s:
            raise RdbError("Zset with NAN score detected", at)
        pairs.append((s, m))
    if len({m for _, m in pairs}) != n:
        raise RdbError("Duplicate zset fields detected", at)
    cfg = ctx.config
    members = list(map(itemgetter(1), pairs))
    small = n <= cfg["zset-max-listpack-entries"] and \
        max(map(len, members)) <= cfg["zset-max-listpack-value"]
    return _zset(list(map(itemgetter(0), pairs)), members, small)


def _zset_pairs(items: list[bytes], cfg, bad: str, at: int) -> ZSet:
    members = items[::2]
    try:
        scores = list(map(float, items[1::2]))
    except ValueError:
        raise RdbError(bad, at) from None
    if len(set(members)) != len(members) or any(map(isnan, scores)):
        raise RdbError(bad, at)
    return _zset(scores, members, len(members) <= cfg["zset-max-listpack-entries"])


def load_zset_listpack(r: Reader, ctx) -> ZSet:
    bad = "Zset listpack integrity check failed."
    deep = ctx.deep
    items, at = _blob(r, lambda b: lp_text(b, deep), bad, "zset", True)
    return _zset_pairs(items, ctx.config, bad, at)


def load_zset_ziplist(r: Reader, ctx) -> ZSet:
    bad = "Zset ziplist integrity check failed."
    items, at = _blob(r, ziplist.parse, bad, "zset", True)
    return _zset_pairs(_as_text(items), ctx.config, bad, at)


# -- registration --------------------------------------------------------------------------

rdb.register(List, save_list, {TYPE_LIST: load_list, TYPE_LIST_ZIPLIST: load_list_ziplist,
                               TYPE_LIST_QUICKLIST: load_quicklist,
                               TYPE_LIST_QUICKLIST_2: load_quicklist_2})
rdb.register(Hash, save_hash, {TYPE_HASH: load_hash, TYPE_HASH_ZIPMAP: load_hash_zipmap,
                               TYPE_HASH_ZIPLIST: load_hash_ziplist,
                               TYPE_HASH_LISTPACK: load_hash_listpack})
rdb.register(LpHash, save_lphash, {})
rdb.register(Set, save_set, {TYPE_SET: load_set, TYPE_SET_INTSET: load_intset,
                             TYPE_SET_LISTPACK: load_set_listpack})
rdb.register(IntSet, save_intset, {})
rdb.register(ZSet, save_zset, {TYPE_ZSET: load_zset, TYPE_ZSET_2: load_zset_2,
                               TYPE_ZSET_ZIPLIST: load_zset_ziplist,
                               TYPE_ZSET_LISTPACK: load_zset_listpack})
