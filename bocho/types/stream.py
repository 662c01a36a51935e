"""The stream value (the data structure of Redis's t_stream.c), without the commands.

Entry IDs are ints: ms << 64 | seq, so that comparing IDs is comparing ints. Redis keeps
entries in listpacks ("nodes") hanging off a radix tree keyed by each node's first
("master") ID; approximate trimming (MAXLEN ~ / MINID ~) only drops whole nodes and XLEN
after such a trim is part of the contract, so the nodes are modelled as Redis fills them:
a new node starts when the current one holds stream-node-max-entries entries (live and
deleted) or when its listpack would reach stream-node-max-bytes (the listpack's size is
tracked with listpack's own encoding rules). Deleted entries stay as tombstones (None)
inside their node, exactly like Redis's "deleted" flag, and a node whose last live entry
is deleted goes away. A tombstone's content is kept aside (Node.tombs) since Redis's
listpack still holds it: RDB and DUMP write it back byte for byte.

Each entry is stored as the RESP reply that describes it, `*2 <id> *2n <field> <value>..`:
entries are immutable, replies (XRANGE, XREAD, XREADGROUP, XCLAIM) are the common reader
and become a join, and one bytes object per entry is the cheapest representation Python
has. fields() decodes the field-value list when needed (digest, persistence).

Consumer groups: Group (last delivered ID, entries-read counter, the PEL: ID -> Nack in
ID order, consumers by name), Consumer (seen time, own PEL) and Nack (delivery time and
count, owner), as Redis's streamCG/streamConsumer/streamNACK."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import hiredis
from sortedcontainers import SortedDict

from bocho import clock
from bocho.persistence.listpack import backlen_size
from bocho.resp import BULK_HDR

MASK = (1 << 64) - 1
MAX_ID = (1 << 128) - 1
LP_MAX = 1 << 30  # STREAM_LISTPACK_MAX_SIZE
INVALID = -1  # SCG_INVALID_ENTRIES_READ
LP_EMPTY = 7  # listpack header (6) + end byte


def id_str(i: int) -> bytes:
    return b"%d-%d" % (i >> 64, i & MASK)


def id_bulk(i: int) -> bytes:
    s = b"%d-%d" % (i >> 64, i & MASK)
    return b"$%d\r\n%s\r\n" % (len(s), s)


# -- listpack sizes (listpack.c's encodings), for the node-full test of XADD ------------------

def lp_int_size(v: int) -> int:
    """Bytes of an integer element (encoding + backlen) for a signed 64-bit value."""
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -8388608 <= v <= 8388607:
        return 5
    if -2147483648 <= v <= 2147483647:
        return 6
    return 10


def lp_str_size(b: bytes) -> int:
    """Bytes of a string element: strings that are canonical int64s are stored as ints."""
    n = len(b)
    if 0 < n <= 20 and (b.isdigit() or (b[0] == 45 and n > 1 and b[1:].isdigit())):
        v = int(b)
        if -(1 << 63) <= v < (1 << 63) and b"%d" % v == b:
            return lp_int_size(v)
    if n < 64:
        enc = 1 + n
    elif n < 4096:
        enc = 2 + n
    else:
        enc = 5 + n
    return enc + backlen_size(enc)


def _signed_diff(a: int, b: int) -> int:
    d = (a - b) & MASK
    return d - (1 << 64) if d >> 63 else d


def encode_entry(idb: bytes, fv: list[bytes]) -> bytes:
    """The stored form of an entry: its reply, [id, [field, value, ...]]."""
    parts = [b"*2\r\n$%d\r\n%s\r\n*%d\r\n" % (len(idb), idb, len(fv))]
    for a in fv:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def fields(enc: bytes) -> list[bytes]:
    """An entry's field-value list from its stored encoding."""
    r = hiredis.Reader()
    r.feed(enc)
    return r.gets()[1]


LP_PREALLOC = 4096  # STREAM_LISTPACK_MAX_PRE_ALLOCATE: a new node's first allocation


def rax_node_count(keys) -> int:
    """Nodes of a Redis radix tree holding these 128-bit IDs (ascending) as 16-byte
    big-endian keys: the root, every branching point and the node after each of its
    edges, and one leaf per key (compressed chains are one node each)."""
    bk = [k.to_bytes(16, "big") for k in keys]
    seen = {b""}
    seen.update(bk)
    for a, b in zip(bk, bk[1:], strict=False):
        n = 0
        while a[n] == b[n]:
            n += 1
        seen.add(a[:n])
        seen.add(a[:n + 1])
        seen.add(b[:n + 1])
    return len(seen)


def _rax_mem(numele: int, numnodes: int) -> int:
    """streamRadixTreeMemoryUsage: 16 bytes a key, a node struct and 30 words a node."""
    return numele * 16 + numnodes * (4 + 8 * 30)


def _pel_mem(pel) -> int:
    n = len(pel)
    if not n:
        return _rax_mem(0, 1)
    if n <= 4096:
        return _rax_mem(n, rax_node_count(pel.keys()))
    sample = list(pel.islice(0, 4096))
    return _rax_mem(n, rax_node_count(sample) * n // 4096)


class Node:
    """One listpack of entries: ids (ascending) and their encoded fields (None once
    deleted), the live/deleted counters, the master fields and the listpack size without
    its two counter elements (their sizes change with their values)."""

    __slots__ = ("master", "mms", "mseq", "ids", "vals", "live", "dead", "mfields", "nbytes",
                 "tombs")

    def __init__(self, master: int, mfields: tuple) -> None:
        self.master = master
        self.mms = master >> 64  # its parts, for the deltas of the common append
        self.mseq = master & MASK
        self.ids: list[int] = []
        self.vals: list[bytes | None] = []
        self.live = 0
        self.dead = 0
        self.mfields = mfields
        self.tombs: dict[int, bytes] | None = None  # index -> a deleted entry's encoding
        # master entry: num-fields, the fields, the 0 terminator
        self.nbytes = (LP_EMPTY + lp_int_size(len(mfields)) + sum(map(lp_str_size, mfields))
                       + 2)

    def tombstone(self, i: int) -> None:
        """Mark entry i deleted, keeping its content aside."""
        if self.tombs is None:
            self.tombs = {}
        self.tombs[i] = self.vals[i]  # type: ignore[assignment]
        self.vals[i] = None

    def lp_bytes(self) -> int:
        return self.nbytes + lp_int_size(self.live) + lp_int_size(self.dead)


class Nack:
    __slots__ = ("delivery_time", "delivery_count", "consumer")

    def __init__(self, consumer: Consumer | None, now: int) -> None:
        self.delivery_time = now
        self.delivery_count = 1
        self.consumer = consumer


class Consumer:
    __slots__ = ("name", "seen_time", "pel")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.seen_time = clock.mstime()
        self.pel: SortedDict = SortedDict()


class Group:
    __slots__ = ("last_id", "entries_read", "pel", "consumers")

    def __init__(self, last_id: int, entries_read: int) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: SortedDict = SortedDict()  # id -> Nack
        self.consumers: dict[bytes, Consumer] = {}

    def sorted_consumers(self) -> list[Consumer]:
        return [self.consumers[k] for k in sorted(self.consumers)]

    def delete_consumer(self, consumer: Consumer) -> None:
        pel = self.pel
        for i in consumer.pel:
            del pel[i]
        del self.consumers[consumer.name]


class Stream:
    __slots__ = ("nodes", "firsts", "length", "last_id", "first_id", "max_deleted",
                 "entries_added", "groups", "idcache")

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.firsts: list[int] = []  # each node's master ID, for bisect
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.max_deleted = 0
        self.entries_added = 0
        self.groups: dict[bytes, Group] | None = None
        self.idcache: tuple[int, bytes] | None = None  # (ms, b"<ms>-"): XADD's last ID

    # -- appending -------------------------------------------------------------------------

    def append(self, sid: int, fv: list[bytes], max_bytes: int, max_entries: int,
               idb: bytes | None = None) -> None:
        """streamAppendItem with a known-good ID (greater than last_id). The listpack
        size bookkeeping is inlined for the common case (small deltas, short
        non-numeric values); lp_int_size/lp_str_size take the rest."""
        nodes = self.nodes
        node = nodes[-1] if nodes else None
        if node is not None:
            if max_bytes <= 0 or max_bytes > LP_MAX:
                max_bytes = LP_MAX
            live = node.live
            dead = node.dead
            lpb = (node.nbytes + (2 if live < 128 else lp_int_size(live))
                   + (2 if dead < 128 else lp_int_size(dead)))
            if lpb + sum(map(len, fv)) >= max_bytes:
                node = None
            elif max_entries and live + dead >= max_entries:
                node = None
        mf = tuple(fv[0::2])
        if node is None:
            node = Node(sid, mf)
            nodes.append(node)
            self.firsts.append(sid)
            same = True
        else:
            same = mf == node.mfields
        m = node.master
        dm = (sid >> 64) - (m >> 64)
        ds = (sid & MASK) - (m & MASK)
        size = 2
        size += 2 if 0 <= dm < 128 else lp_int_size(_signed_diff(sid >> 64, m >> 64))
        size += 2 if 0 <= ds < 128 else lp_int_size(_signed_diff(sid & MASK, m & MASK))
        numfields = len(mf)
        if same:
            for v in fv[1::2]:
                n = len(v)
                if n < 64 and (not n or not (48 <= v[0] <= 57 or v[0] == 45)):
                    size += n + 2
                else:
                    size += lp_str_size(v)
            size += 2 if numfields < 125 else lp_int_size(numfields + 3)
        else:
            size += lp_int_size(numfields)
            for a in fv:
                size += lp_str_size(a)
            size += lp_int_size(2 * numfields + 4)
        node.nbytes += size
        node.ids.append(sid)
        if idb is None:
            idb = b"%d-%d" % (sid >> 64, sid & MASK)
        if numfields == 1:
            f, v = fv
            node.vals.append(b"*2\r\n$%d\r\n%s\r\n*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                             % (len(idb), idb, len(f), f, len(v), v))
        else:
            node.vals.append(encode_entry(idb, fv))
        node.live += 1
        self.length += 1
        self.entries_added += 1
        self.last_id = sid
        if self.length == 1:
            self.first_id = sid

    def append1(self, sid: int, ms: int, seq: int, f: bytes, v: bytes, idbulk: bytes,
                max_bytes: int, max_entries: int) -> bool:
        """append() for the common entry, XADD's fast path: one field, the same as the
        last node's master field, going into that node, with small ID deltas and a short
        non-numeric value (the listpack size grows by a known amount). sid is
        ms << 64 | seq, idbulk its reply (a bulk string). False, nothing done, for
        anything else: append() then."""
        nodes = self.nodes
        if not nodes:
            return False
        node = nodes[-1]
        mf = node.mfields
        if len(mf) != 1 or mf[0] != f:
            return False
        live = node.live
        dead = node.dead
        if live > 127 or dead > 127 or (max_entries and live + dead >= max_entries):
            return False
        if max_bytes <= 0 or max_bytes > LP_MAX:
            max_bytes = LP_MAX
        lv = len(v)
        lf = len(f)
        if node.nbytes + 4 + lf + lv >= max_bytes:
            return False
        if lv > 63 or lf > 1000 or (lv and (48 <= v[0] <= 57 or v[0] == 45)):
            return False
        # The ID deltas from the node's master entry: 2 listpack bytes each below 128, 3
        # within the 13-bit range; the sequence delta is negative whenever the
        # millisecond moved on since the master entry (its sequence restarts at 0),
        # which at a high XADD rate is most entries.
        dm = ms - node.mms
        ds = seq - node.mseq
        extra = 0
        if not 0 <= dm < 128:
            if not -4096 <= dm < 4096:
                return False
            extra = 1
        if not 0 <= ds < 128:
            if not -4096 <= ds < 4096:
                return False
            extra += 1
        # flags, ms-delta, seq-delta, the value, lp-count: 2 bytes each but the value
        node.nbytes += 10 + lv + extra
        node.ids.append(sid)
        node.vals.append(b"".join((b"*2\r\n", idbulk, b"*2\r\n", BULK_HDR[lf], f, b"\r\n",
                                   BULK_HDR[lv], v, b"\r\n")))
        node.live = live + 1
        self.length += 1
        self.entries_added += 1
        self.last_id = sid
        if self.length == 1:
            self.first_id = sid
        return True

    # -- lookups ---------------------------------------------------------------------------

    def _locate(self, sid: int) -> tuple[Node | None, int]:
        k = bisect_right(self.firsts, sid) - 1
        if k < 0:
            return None, -1
        node = self.nodes[k]
        i = bisect_left(node.ids, sid)
        if i < len(node.ids) and node.ids[i] == sid:
            return node, i
        return None, -1

    def get(self, sid: int) -> bytes | None:
        """The stored reply of a live entry, or None."""
        node, i = self._locate(sid)
        return node.vals[i] if node is not None else None

    def exists(self, sid: int) -> bool:
        node, i = self._locate(sid)
        return node is not None and node.vals[i] is not None

    def first_entry(self, skip_tombstones: bool = True) -> int | None:
        for node in self.nodes:
            if not skip_tombstones:
                if node.ids:
                    return node.ids[0]
                continue
            if node.live:
                for i, v in enumerate(node.vals):
                    if v is not None:
                        return node.ids[i]
        return None

    def last_valid_id(self) -> int:
        """streamLastValidID: the last live entry's ID (0 when empty)."""
        for node in reversed(self.nodes):
            if node.live:
                vals = node.vals
                for i in range(len(vals) - 1, -1, -1):
                    if vals[i] is not None:
                        return node.ids[i]
        return 0

    def range(self, start: int, end: int, count: int = 0, rev: bool = False) -> list:
        """[(id, stored reply)] of live entries with start <= id <= end, in ID order
        (reversed with rev), at most count (0: all)."""
        out: list = []
        if start > end or not self.length:
            return out
        nodes = self.nodes
        firsts = self.firsts
        if not rev:
            k0 = bisect_right(firsts, start) - 1
            if k0 < 0:
                k0 = 0
            first = True
            for k in range(k0, len(nodes)):
                node = nodes[k]
                if node.master > end:
                    break
                ids = node.ids
                vals = node.vals
                i = bisect_left(ids, start) if first else 0
                first = False
                n = len(ids)
                while i < n:
                    sid = ids[i]
                    if sid > end:
                        return out
                    v = vals[i]
                    if v is not None:
                        out.append((sid, v))
                        if count and len(out) >= count:
                            return out
                    i += 1
        else:
            k = bisect_right(firsts, end) - 1
            first = True
            while k >= 0:
                node = nodes[k]
                ids = node.ids
                vals = node.vals
                i = (bisect_right(ids, end) if first else len(ids)) - 1
                first = False
                while i >= 0:
                    sid = ids[i]
                    if sid < start:
                        return out
                    v = vals[i]
                    if v is not None:
                        out.append((sid, v))
                        if count and len(out) >= count:
                            return out
                    i -= 1
                k -= 1
        return out

    def entries(self):
        """Every live (id, stored reply), in order."""
        for node in self.nodes:
            for sid, v in zip(node.ids, node.vals, strict=True):
                if v is not None:
                    yield sid, v

    # -- removal ---------------------------------------------------------------------------

    def delete(self, sid: int) -> bool:
        """streamDeleteItem: tombstone a live entry; a node left without live entries goes."""
        k = bisect_right(self.firsts, sid) - 1
        if k < 0:
            return False
        node = self.nodes[k]
        i = bisect_left(node.ids, sid)
        if i >= len(node.ids) or node.ids[i] != sid or node.vals[i] is None:
            return False
        if node.live == 1:
            del self.nodes[k]
            del self.firsts[k]
        else:
            node.tombstone(i)
            node.live -= 1
            node.dead += 1
        self.length -= 1
        return True

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """streamTrim: MAXLEN (maxlen set) or MINID (minid set); whole nodes from the head,
        then (unless approx) entries of the next node are tombstoned. -> entries removed."""
        nodes = self.nodes
        deleted = 0
        drop = 0  # whole nodes removed from the head
        for node in nodes:
            if maxlen is not None and self.length <= maxlen:
                break
            entries = node.live
            if limit and deleted + entries > limit:
                break
            if maxlen is not None:
                remove = self.length - entries >= maxlen
            else:
                remove = node.ids[-1] < minid
            if remove:
                drop += 1
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            vals = node.vals
            ids = node.ids
            gone = 0
            for i in range(len(ids)):
                if maxlen is not None:
                    if self.length <= maxlen:
                        break
                elif ids[i] >= minid:
                    break
                if vals[i] is not None:
                    node.tombstone(i)
                    gone += 1
                    self.length -= 1
            node.live -= gone
            node.dead += gone
            deleted += gone
            break
        if drop:
            del nodes[:drop]
            del self.firsts[:drop]
        if self.length == 0:
            self.first_id = 0
        elif deleted:
            self.first_id = self.first_entry() or 0
        return deleted

    # -- consumer groups: read counters and lag -----------------------------------------------

    def range_has_tombstones(self, start: int, end: int = MAX_ID) -> bool:
        md = self.max_deleted
        if not self.length or not md:
            return False
        if self.first_id > md:
            return False
        return start <= md <= end

    def estimate_distance(self, sid: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry (INVALID when it cannot be known)."""
        if not self.entries_added:
            return 0
        if not self.length and sid <= self.last_id:
            return self.entries_added
        if sid == self.last_id:
            return self.entries_added
        if sid > self.last_id:
            return INVALID
        md = self.max_deleted
        if not md or md < self.first_id:
            if sid < self.first_id:
                return self.entries_added - self.length
            if sid == self.first_id:
                return self.entries_added - self.length + 1
        return INVALID

    def lag(self, g: Group) -> int | None:
        if not self.entries_added:
            return 0
        if g.entries_read != INVALID and not self.range_has_tombstones(g.last_id):
            return self.entries_added - g.entries_read
        er = self.estimate_distance(g.last_id)
        if er != INVALID:
            return self.entries_added - er
        return None

    def sorted_groups(self) -> list[tuple[bytes, Group]]:
        g = self.groups
        return sorted(g.items()) if g else []

    # -- introspection -----------------------------------------------------------------------

    def rax_nodes(self) -> int:
        """The radix tree's node count for the node keys (XINFO radix-tree-nodes)."""
        return rax_node_count(self.firsts)

    def memory_usage(self, samples: int = 5) -> int:
        """objectComputeSize for a stream: the object and stream structs, the radix
        tree's estimate, the listpacks' allocations (the first `samples` averaged over
        all but the last node, which is counted alone: it is still preallocated), and
        the consumer groups' structs and PELs."""
        from bocho.memory import _alloc
        size = 16 + 80 + _rax_mem(len(self.nodes), self.rax_nodes())
        nodes = self.nodes
        n = len(nodes)
        if n:
            take = n if samples <= 0 else min(samples, n)
            lp = 0
            for k in range(take):
                b = nodes[k].lp_bytes()
                lp += _alloc(max(b, LP_PREALLOC) if k == n - 1 else b)
            if n <= take:
                size += lp
            else:
                size += lp // take * (n - 1) + _alloc(max(nodes[-1].lp_bytes(), LP_PREALLOC))
        if self.groups:
            for g in self.groups.values():
                size += 40 + _pel_mem(g.pel) + 24 * len(g.pel)
                for c in g.consumers.values():
                    size += 24 + len(c.name) + _pel_mem(c.pel)
        return size

    def copy(self) -> Stream:
        s = Stream()
        for node in self.nodes:
            n = Node(node.master, node.mfields)
            n.ids = list(node.ids)
            n.vals = list(node.vals)
            n.live, n.dead, n.nbytes = node.live, node.dead, node.nbytes
            if node.tombs:
                n.tombs = dict(node.tombs)
            s.nodes.append(n)
        s.firsts = list(self.firsts)
        s.length, s.last_id, s.first_id = self.length, self.last_id, self.first_id
        s.max_deleted, s.entries_added = self.max_deleted, self.entries_added
        if self.groups is not None:
            s.groups = {}
            for name, g in self.groups.items():
                ng = Group(g.last_id, g.entries_read)
                for cname, c in g.consumers.items():
                    nc = Consumer(cname)
                    nc.seen_time = c.seen_time
                    ng.consumers[cname] = nc
                for i, nack in g.pel.items():
                    owner = ng.consumers[nack.consumer.name] if nack.consumer else None
                    nn = Nack(owner, nack.delivery_time)
                    nn.delivery_count = nack.delivery_count
                    ng.pel[i] = nn
                    if owner is not None:
                        owner.pel[i] = nn
                s.groups[name] = ng
        return s
