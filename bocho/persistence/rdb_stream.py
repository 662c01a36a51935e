"""RDB codec of streams: the value as Redis 7.0 writes it (RDB_TYPE_STREAM_LISTPACKS_2)
and the three stream layouts it may be read from (15: before 7.0, 19: 7.0, 21: 7.2).

Layout of a stream value:
- the number of nodes, then per node its master ID (16 bytes: ms and seq, big-endian)
  as a string and the node's listpack as a string;
- the length, the last ID (ms, seq), and from type 19 on the first ID, the largest
  deleted ID and the count of entries ever added;
- the consumer groups: their number, then per group (in name order) the name, the last
  delivered ID (ms, seq), from type 19 on the entries-read counter (-1 as 2^64-1), the
  PEL (count, then per entry the raw 16-byte ID, the delivery time in ms and the
  delivery count) and the consumers (count, then per consumer in name order: name,
  seen time, from type 21 on the active time, and the IDs it owns, raw).

A node's listpack (t_stream.c's layout): the master entry `live deleted nfields
field.. 0`, then per entry `flags ms-delta seq-delta` followed by the values alone when
the entry has the master's fields (flag 2) or by `nfields field value ..` otherwise,
and `lp-count` (the element count of the entry before it, so it can be walked
backwards). Flag 1 marks a deleted entry. Deltas are from the node's master ID.

Loading refuses what bocho's stream cannot hold (a malformed listpack, counters that
disagree with the entries) whatever sanitize-dump-payload says; the checks Redis only
does in deep mode (entries in order, every pending entry owned) run with ctx.deep.
The errors carry Redis's messages, which the caller logs as Redis does."""

from __future__ import annotations

import hiredis

from bocho.persistence import listpack, rdb
from bocho.persistence.rdbio import (
    TYPE_STREAM_LISTPACKS,
    TYPE_STREAM_LISTPACKS_2,
    TYPE_STREAM_LISTPACKS_3,
    RdbError,
    Reader,
    put_len,
    put_millis,
    put_str,
)
from bocho.types.stream import (
    INVALID,
    MASK,
    MAX_ID,
    Consumer,
    Group,
    Nack,
    Node,
    Stream,
    encode_entry,
    lp_int_size,
)

FLAG_DELETED = 1
FLAG_SAMEFIELDS = 2
I64_SIGN = 1 << 63
U64 = 1 << 64

LISTPACK_CORRUPT = "Stream listpack integrity check failed."
DUPLICATE_CONSUMER = "Duplicate stream consumer detected."


class StreamCorrupt(RdbError):
    """A stream payload Redis would report as corrupt (rdbReportCorruptRDB); message is
    Redis's own text, for the log line the TCL suite looks for."""


def _delta(a: int, b: int) -> int:
    """a - b as the signed 64-bit integer Redis stores (uint64 subtraction)."""
    d = (a - b) & MASK
    return d - U64 if d & I64_SIGN else d


# -- saving ---------------------------------------------------------------------------------

_SMALL = [bytes((i, 1)) for i in range(128)]  # listpack's 7-bit integers 0..127
_encode = listpack.encode
_encode_int = listpack.encode_int


def _int_el(v: int) -> bytes:
    return _SMALL[v] if 0 <= v < 128 else _encode_int(v)


def _str_el(v: bytes) -> bytes:
    """A field or value element; the common short non-numeric string inline."""
    n = len(v)
    if n < 64 and (not n or not (48 <= v[0] <= 57 or v[0] == 45)):
        return b"%c%s%c" % (0x80 | n, v, n + 1)
    return _encode(v)


def node_listpack(node: Node) -> bytes:
    """The node's listpack, as Redis holds it after the same appends and deletions."""
    mf = node.mfields
    nmf = len(mf)
    parts = [_int_el(node.live), _int_el(node.dead), _int_el(nmf), *map(_str_el, mf),
             _SMALL[0]]
    count = 4 + nmf
    vals = node.vals
    tombs = node.tombs
    rd = hiredis.Reader()
    rd.feed(b"".join(vals) if tombs is None  # type: ignore[arg-type]
            else b"".join([tombs[i] if e is None else e for i, e in enumerate(vals)]))
    mms, mseq = node.mms, node.mseq
    same_count = _int_el(nmf + 3)
    for sid, enc in zip(node.ids, vals, strict=True):
        fv = rd.gets()[1]
        flags = 0 if enc is not None else FLAG_DELETED
        d = (sid >> 64) - mms
        dms = _SMALL[d] if 0 <= d < 128 else _int_el(_delta(sid >> 64, mms))
        d = (sid & MASK) - mseq
        dseq = _SMALL[d] if 0 <= d < 128 else _int_el(_delta(sid & MASK, mseq))
        nf = len(fv) >> 1
        if nf == nmf and (nf == 1 and fv[0] == mf[0] or tuple(fv[0::2]) == mf):
            parts += (_SMALL[flags | FLAG_SAMEFIELDS], dms, dseq)
            parts += map(_str_el, fv[1::2])
            parts.append(same_count)
            count += nf + 4
        else:
            parts += (_SMALL[flags], dms, dseq, _int_el(nf))
            parts += map(_str_el, fv)
            parts.append(_int_el(2 * nf + 4))
            count += 2 * nf + 5
    body = b"".join(parts)
    return ((len(body) + 7).to_bytes(4, "little")
            + min(count, listpack.COUNT_UNKNOWN).to_bytes(2, "little") + body + b"\xff")


def _put_id(buf: bytearray, sid: int) -> None:
    put_len(buf, sid >> 64)
    put_len(buf, sid & MASK)


def write_stream(buf: bytearray, s: Stream, compress: bool,
                 layout: int = TYPE_STREAM_LISTPACKS_2) -> None:
    """The stream's payload in one of the three layouts: 19 is what Redis 7.0 writes;
    15 (before 7.0) and 21 (7.2, where a consumer's active time is its seen time here)
    are for interop tests and tools."""
    put_len(buf, len(s.nodes))
    for node in s.nodes:
        put_str(buf, node.master.to_bytes(16, "big"), compress)
        put_str(buf, node_listpack(node), compress)
    put_len(buf, s.length)
    _put_id(buf, s.last_id)
    old = layout == TYPE_STREAM_LISTPACKS
    if not old:
        _put_id(buf, s.first_id)
        _put_id(buf, s.max_deleted)
        put_len(buf, s.entries_added)
    groups = s.sorted_groups()
    put_len(buf, len(groups))
    for name, g in groups:
        put_str(buf, name, compress)
        _put_id(buf, g.last_id)
        if not old:
            put_len(buf, g.entries_read & MASK)
        put_len(buf, len(g.pel))
        for sid, nack in g.pel.items():
            buf += sid.to_bytes(16, "big")
            put_millis(buf, nack.delivery_time)
            put_len(buf, nack.delivery_count)
        consumers = g.sorted_consumers()
        put_len(buf, len(consumers))
        for c in consumers:
            put_str(buf, c.name, compress)
            put_millis(buf, c.seen_time)
            if layout == TYPE_STREAM_LISTPACKS_3:
                put_millis(buf, c.seen_time)
            put_len(buf, len(c.pel))
            for sid in c.pel:
                buf += sid.to_bytes(16, "big")


def save_stream(buf: bytearray, s: Stream, compress: bool) -> int:
    write_stream(buf, s, compress)
    return TYPE_STREAM_LISTPACKS_2


# -- loading --------------------------------------------------------------------------------

def _as_int(e) -> int:
    """An integer element (lpGetIntegerIfValid: an integer-looking string counts)."""
    if type(e) is int:
        return e
    v = listpack.as_int(e)
    if v is None:
        raise StreamCorrupt(LISTPACK_CORRUPT)
    return v


def _as_bytes(e) -> bytes:
    return e if type(e) is bytes else b"%d" % e


def load_node(master: int, lp: bytes) -> Node:
    """A Node from a node's listpack; StreamCorrupt when it is malformed or its master
    entry disagrees with its entries."""
    try:
        els = listpack.parse(lp)
    except ValueError:
        raise StreamCorrupt(LISTPACK_CORRUPT) from None
    if not els:
        raise StreamCorrupt("Empty listpack inside stream")
    n = len(els)
    try:
        live = _as_int(els[0])
        dead = _as_int(els[1])
        nmf = _as_int(els[2])
        if nmf < 0 or 4 + nmf > n or _as_int(els[3 + nmf]) != 0:
            raise StreamCorrupt(LISTPACK_CORRUPT)
        mf = tuple(_as_bytes(e) for e in els[3:3 + nmf])
        node = Node(master, mf)
        mms, mseq = node.mms, node.mseq
        ids = node.ids
        vals = node.vals
        fbulks = [b"$%d\r\n%s\r\n" % (len(f), f) for f in mf]
        same_count = nmf + 3
        p = 4 + nmf
        seen_dead = 0
        while p < n:
            flags, dms, dseq = els[p:p + 3]
            if type(flags) is not int:
                flags = _as_int(flags)
            if type(dms) is not int:
                dms = _as_int(dms)
            if type(dseq) is not int:
                dseq = _as_int(dseq)
            sid = (((mms + dms) & MASK) << 64) | ((mseq + dseq) & MASK)
            idb = b"%d-%d" % (sid >> 64, sid & MASK)
            p += 3
            if flags & FLAG_SAMEFIELDS:
                q = p + nmf
                if q >= n:
                    raise StreamCorrupt(LISTPACK_CORRUPT)
                parts = [b"*2\r\n$%d\r\n%s\r\n*%d\r\n" % (len(idb), idb, 2 * nmf)]
                for fb, v in zip(fbulks, els[p:q], strict=True):
                    if type(v) is not bytes:
                        v = b"%d" % v
                    parts += (fb, b"$%d\r\n%s\r\n" % (len(v), v))
                enc = b"".join(parts)
                want = same_count
            else:
                nf = _as_int(els[p])
                q = p + 1 + 2 * nf
                if nf < 0 or q >= n:
                    raise StreamCorrupt(LISTPACK_CORRUPT)
                enc = encode_entry(idb, [_as_bytes(e) for e in els[p + 1:q]])
                want = 2 * nf + 4
            p = q
            if _as_int(els[p]) != want:
                raise StreamCorrupt(LISTPACK_CORRUPT)
            p += 1
            ids.append(sid)
            if flags & FLAG_DELETED:
                vals.append(None)
                if node.tombs is None:
                    node.tombs = {}
                node.tombs[len(ids) - 1] = enc
                seen_dead += 1
            else:
                vals.append(enc)
    except IndexError:
        raise StreamCorrupt(LISTPACK_CORRUPT) from None
    if dead != seen_dead or live != len(ids) - seen_dead:
        raise StreamCorrupt(LISTPACK_CORRUPT)
    node.live = live
    node.dead = dead
    node.nbytes = len(lp) - lp_int_size(live) - lp_int_size(dead)
    return node


def _load(r: Reader, ctx: rdb.LoadContext, rdbtype: int) -> Stream:
    deep = ctx.deep
    srv = ctx.server
    s = Stream()
    by_master: dict[int, Node] = {}
    for _ in range(r.length()):
        key = r.string()
        if len(key) != 16:
            raise StreamCorrupt("Stream node key entry is not the size of a stream ID",
                                r.pos)
        at = r.pos
        lp = r.string()
        if deep and srv is not None:
            srv.stat_dump_payload_sanitizations = (
                getattr(srv, "stat_dump_payload_sanitizations", 0) + 1)
        if len(lp) < 7 or int.from_bytes(lp[:4], "little") != len(lp) or lp[-1] != 0xFF:
            raise StreamCorrupt(LISTPACK_CORRUPT, at)
        if len(lp) == 7:
            raise StreamCorrupt("Empty listpack inside stream", at)
        master = int.from_bytes(key, "big")
        try:
            node = load_node(master, lp)
        except StreamCorrupt as e:
            e.offset = at
            raise
        if master in by_master:
            raise StreamCorrupt("Listpack re-added with existing key", at)
        by_master[master] = node
    # the radix tree orders the nodes by key whatever order they came in
    nodes = s.nodes = [by_master[k] for k in sorted(by_master)]
    s.firsts = [node.master for node in nodes]
    if deep:
        prev = -1
        for node in nodes:
            for sid in node.ids:
                if sid <= prev:
                    raise StreamCorrupt(LISTPACK_CORRUPT, r.pos)
                prev = sid
    s.length = r.length()
    s.last_id = (r.length() << 64) | r.length()
    if rdbtype == TYPE_STREAM_LISTPACKS:
        # Before 7.0: nothing recorded about the first entry and deletions; Redis 7.0
        # starts counting from the current length.
        s.max_deleted = 0
        s.entries_added = s.length
        first = s.first_entry()
        s.first_id = MAX_ID if first is None else first
    else:
        s.first_id = (r.length() << 64) | r.length()
        s.max_deleted = (r.length() << 64) | r.length()
        s.entries_added = r.length()
    if s.length and not nodes:
        raise StreamCorrupt("Stream length inconsistent with rax entries", r.pos)
    ngroups = r.length()
    if ngroups:
        s.groups = {}
    for _ in range(ngroups):
        _load_group(r, s, rdbtype, deep)
    return s


def _load_group(r: Reader, s: Stream, rdbtype: int, deep: bool) -> None:
    name = r.string()
    last_id = (r.length() << 64) | r.length()
    if rdbtype == TYPE_STREAM_LISTPACKS:
        entries_read = s.estimate_distance(last_id)
    else:
        entries_read = r.length()
        if entries_read & I64_SIGN:
            entries_read -= U64
    groups = s.groups
    assert groups is not None
    if name in groups:
        raise StreamCorrupt(f"Duplicated consumer group name {name.decode('latin-1')}",
                            r.pos)
    g = Group(last_id, entries_read if entries_read >= INVALID else INVALID)
    groups[name] = g
    pel = g.pel
    for _ in range(r.length()):
        sid = int.from_bytes(r.take(16), "big")
        nack = Nack(None, r.millis())
        nack.delivery_count = r.length()
        if sid in pel:
            raise StreamCorrupt("Duplicated global PEL entry loading stream consumer group",
                                r.pos)
        pel[sid] = nack
    for _ in range(r.length()):
        cname = r.string()
        if cname in g.consumers:
            raise StreamCorrupt(DUPLICATE_CONSUMER, r.pos)
        c = Consumer(cname)
        g.consumers[cname] = c
        c.seen_time = r.millis()
        if rdbtype >= TYPE_STREAM_LISTPACKS_3:
            r.millis()  # 7.2's active time: 7.0 has no such thing
        for _ in range(r.length()):
            sid = int.from_bytes(r.take(16), "big")
            nack = pel.get(sid)
            if nack is None:
                raise StreamCorrupt("Consumer entry not found in group global PEL", r.pos)
            nack.consumer = c
            if sid in c.pel:
                raise StreamCorrupt("Duplicated consumer PEL entry  loading a stream "
                                    "consumer group", r.pos)
            c.pel[sid] = nack
    if deep:
        for nack in pel.values():
            if nack.consumer is None:
                raise StreamCorrupt("Stream CG PEL entry without consumer", r.pos)


def _loader(rdbtype: int):
    def load(r: Reader, ctx: rdb.LoadContext) -> Stream:
        return _load(r, ctx, rdbtype)
    return load


rdb.register(Stream, save_stream,
             {t: _loader(t) for t in (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2,
                                      TYPE_STREAM_LISTPACKS_3)})
