"""The sorted set value (t_zset.c's zset object), in Redis's two encodings.

"listpack" (small sets, as Redis's listpack): the pairs in score order (then member
bytes, as memcmp) in three flat buffers: `x`, the members concatenated (bytes); `o`,
the n + 1 offsets of the members in x (bytes, one per offset, while the members total
under 256 bytes, else an array of uint32: both index and bisect alike, and the bytes
save an array object per set); `y`, the n scores (array of doubles). A rank is an
index, a score range a C bisection of y, a member lookup a bytes.find() checked against
the offsets; a change rebuilds them (small: at most zset-max-listpack-entries pairs, and
rebuilt arrays carry no spare room). Ten short members cost ~330 bytes instead of the
~2 KB of a dict plus a list of tuples, so millions of small sets fit much as in Redis.

"skiplist" (big sets): `d`, a dict member -> score, answers ZSCORE in O(1); `x`, a
SortedList of (score, member) pairs, answers ranks and ranges in O(log n); `y`, the
member snapshots of the ZSCANs under way (keys.scan_container, as for HSCAN/SSCAN).

`d is None` means listpack. The encoding follows Redis 7.0: a set starts as listpack
when its first element fits zset-max-listpack-entries/value, converts once a new
member breaks either limit (the caller checks them, see fits()), and never converts
back, except where 7.0 builds a set afresh (the STORE commands: from_pairs()).

A listpack keeps scores as text and writes -0 as "0", so a listpack set never holds
-0.0; a skiplist one does (and replies "-0"), as Redis. Scores are never NaN: commands
reject them before they reach this module."""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from itertools import accumulate
from math import inf, nextafter

from sortedcontainers import SortedList

from bocho import db as _db
from bocho.memory import OBJ, _alloc

LISTPACK = b"listpack"
SKIPLIST = b"skiplist"
# Past this LIMIT offset a score range counts ranks in SortedList's index instead of
# walking its sublists (about a thousand pairs each).
_WALK_MAX = 20000


def pack_offsets(offs: list[int]) -> bytes | array:
    """The offsets of a listpack set's members (ascending, the last the total): bytes
    while they fit in one, else uint32s."""
    return bytes(offs) if offs[-1] < 256 else array("I", offs)


def _offsets(members: list[bytes]) -> bytes | array:
    return pack_offsets(list(accumulate(map(len, members), initial=0)))


class ZSet:
    __slots__ = ("d", "x", "y", "o")

    def __init__(self, listpack: bool = True) -> None:
        if listpack:
            self.d = None
            self.x = b""
            self.y = array("d")
            self.o = b"\0"
        else:
            self.d = {}
            self.x = SortedList()
            self.y = self.o = None

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_pairs(cls, pairs, max_entries: int, max_value: int) -> ZSet:
        """A new set of (score, member) pairs with distinct members, encoded as a fresh
        Redis set of that content would be (zsetConvertToListpackIfNeeded)."""
        items = sorted(pairs)
        listpack = len(items) <= max_entries and all(len(m) <= max_value for _, m in items)
        z = cls(listpack)
        if listpack:
            members = [m for _, m in items]
            z.x = b"".join(members)
            z.o = _offsets(members)
            z.y = array("d", [s + 0.0 if s == 0 else s for s, _ in items])
        else:
            z.d = {m: s for s, m in items}
            z.x = SortedList(items)
        return z

    def copy(self) -> ZSet:
        z = ZSet.__new__(ZSet)
        if self.d is None:
            z.d = None
            z.x = self.x
            z.y = array("d", self.y)
            z.o = self.o  # never changed in place
        else:
            z.d = dict(self.d)
            z.x = SortedList(self.x)
            z.y = z.o = None
        return z

    # -- encoding --------------------------------------------------------------------------

    @property
    def listpack(self) -> bool:
        return self.d is None

    def encoding(self) -> bytes:
        return LISTPACK if self.d is None else SKIPLIST

    def fits(self, member: bytes, max_entries: int, max_value: int) -> bool:
        """Whether adding `member` keeps a listpack within the limits."""
        return len(self.y) + 1 <= max_entries and len(member) <= max_value

    def to_skiplist(self) -> None:
        if self.d is None:
            pairs = self.slice(0, len(self))
            self.d = {m: s for s, m in pairs}
            self.x = SortedList(pairs)
            self.y = self.o = None

    # -- listpack internals ----------------------------------------------------------------

    def _find(self, m: bytes) -> int:
        """The listpack index of member m, or -1."""
        mo = self.o
        n = len(mo) - 1
        k = len(m)
        if k == 0:
            for i in range(n):
                if mo[i] == mo[i + 1]:
                    return i
            return -1
        mb = self.x
        p = mb.find(m)
        while p >= 0:
            i = bisect_left(mo, p)
            while i < n and mo[i] == p:  # several start at p when some are empty
                if mo[i + 1] - p == k:
                    return i
                i += 1
            p = mb.find(m, p + 1)
        return -1

    def _insert_at(self, i: int, m: bytes, s: float) -> None:
        mo = self.o
        off = mo[i]
        k = len(m)
        mb = self.x
        self.x = mb[:off] + m + mb[off:]
        self.o = pack_offsets([*mo[:i + 1], *map(k.__add__, mo[i:])])
        y = self.y
        self.y = y[:i] + array("d", (s,)) + y[i:]

    def _delete_range(self, a: int, b: int) -> None:
        mo = self.o
        lo, hi = mo[a], mo[b]
        k = hi - lo
        mb = self.x
        self.x = mb[:lo] + mb[hi:]
        self.o = pack_offsets([*mo[:a + 1], *map((-k).__add__, mo[b + 1:])])
        y = self.y
        self.y = y[:a] + y[b:]

    def _lp_bisect(self, s: float, m: bytes | None) -> int:
        """First index whose pair is >= (s, m) (>= s alone when m is None)."""
        sc, mo = self.y, self.o
        n = len(sc)
        i = bisect_left(sc, s)
        if m is None or i == n or sc[i] != s:
            return i
        j = bisect_right(sc, s, i)
        mb = self.x
        while i < j:  # among equal scores, by member
            mid = (i + j) >> 1
            if mb[mo[mid]:mo[mid + 1]] < m:
                i = mid + 1
            else:
                j = mid
        return i

    # -- element operations ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.y) if self.d is None else len(self.d)

    def __contains__(self, member: bytes) -> bool:
        return (self._find(member) >= 0) if self.d is None else member in self.d

    def score(self, member: bytes) -> float | None:
        d = self.d
        if d is None:
            i = self._find(member)
            return None if i < 0 else self.y[i]
        return d.get(member)

    def items(self):
        """(member, score) pairs (DEBUG DIGEST and OBJECT walk them)."""
        if self.d is None:
            return [(m, s) for s, m in self.slice(0, len(self))]
        return self.d.items()

    def as_dict(self) -> dict[bytes, float]:
        """member -> score (the set operations' view of an input)."""
        if self.d is None:
            return {m: s for s, m in self.slice(0, len(self))}
        return self.d

    # A skiplist-encoded set has no use for `y` (the listpack's scores): there it holds
    # the snapshots of the ZSCANs under way (keys.scan_container), as `snaps`.
    @property
    def snaps(self) -> dict | None:
        return self.y

    @snaps.setter
    def snaps(self, value: dict | None) -> None:
        self.y = value

    def insert(self, member: bytes, score: float) -> None:
        """Add a member known to be absent (the caller checked the encoding limits)."""
        if self.d is None:
            if score == 0:
                score = 0.0
            self._insert_at(self._lp_bisect(score, member), member, score)
        else:
            self.d[member] = score
            self.x.add((score, member))

    def update(self, member: bytes, old: float, new: float) -> None:
        """Move a present member from score `old` to `new` (old != new)."""
        if self.d is not None:
            sl = self.x
            sl.remove((old, member))
            sl.add((new, member))
            self.d[member] = new
            return
        if new == 0:
            new = 0.0
        i = self._lp_bisect(old, member)
        y, mo, mb = self.y, self.o, self.x
        j = self._lp_bisect(new, member)
        if j > i:
            j -= 1  # its place once it has left i
        if j == i:
            y[i] = new  # still in order: the score changes in place
            return
        # One rebuild that shifts only the pairs between the two places.
        k = len(member)
        if j > i:
            self.x = mb[:mo[i]] + mb[mo[i + 1]:mo[j + 1]] + member + mb[mo[j + 1]:]
            self.o = pack_offsets([*mo[:i], *map((-k).__add__, mo[i + 1:j + 2]), *mo[j + 1:]])
            self.y = y[:i] + y[i + 1:j + 1] + array("d", (new,)) + y[j + 1:]
        else:
            self.x = mb[:mo[j]] + member + mb[mo[j]:mo[i]] + mb[mo[i + 1]:]
            self.o = pack_offsets([*mo[:j + 1], *map(k.__add__, mo[j:i]), *mo[i + 1:]])
            self.y = y[:j] + array("d", (new,)) + y[j:i] + y[i + 1:]

    def delete(self, member: bytes) -> bool:
        if self.d is None:
            i = self._find(member)
            if i < 0:
                return False
            self._delete_range(i, i + 1)
            return True
        s = self.d.pop(member, None)
        if s is None:
            return False
        self.x.remove((s, member))
        return True

    def rank(self, member: bytes) -> int | None:
        """0-based rank by ascending score, or None."""
        if self.d is None:
            i = self._find(member)
            return None if i < 0 else i
        s = self.d.get(member)
        if s is None:
            return None
        return self.x.bisect_left((s, member))

    def bisect(self, key: tuple) -> int:
        """The rank of the first pair >= key: (score,) or (score, member)."""
        if self.d is None:
            return self._lp_bisect(key[0], key[1] if len(key) > 1 else None)
        return self.x.bisect_left(key)

    def at(self, i: int) -> tuple[float, bytes]:
        if self.d is None:
            if i < 0:
                i += len(self.y)
            mo = self.o
            return self.y[i], self.x[mo[i]:mo[i + 1]]
        return self.x[i]

    def slice(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Pairs at ranks start..stop-1 (0 <= start, stop <= len), ascending."""
        if self.d is None:
            sc, mo, mb = self.y, self.o, self.x
            return [(sc[i], mb[mo[i]:mo[i + 1]]) for i in range(start, stop)]
        return self.x[start:stop]

    def delete_slice(self, start: int, stop: int) -> int:
        """Remove ranks start..stop-1; the number removed."""
        if stop <= start:
            return 0
        if self.d is None:
            self._delete_range(start, stop)
            return stop - start
        sl = self.x
        gone = sl[start:stop]
        del sl[start:stop]
        d = self.d
        for _, m in gone:
            del d[m]
        return len(gone)

    def pop(self, last: bool) -> tuple[float, bytes]:
        if self.d is None:
            i = len(self) - 1 if last else 0
            pair = self.at(i)
            self._delete_range(i, i + 1)
            return pair
        s, m = self.x.pop(-1 if last else 0)
        del self.d[m]
        return s, m

    def memory_usage(self, samples: int) -> int:
        """MEMORY USAGE, in the manner of objectComputeSize: a listpack's bytes, or the
        skiplist's nodes, dict entries and strings (sampled, scaled to the size)."""
        if self.d is None:
            sc, mo = self.y, self.o
            total = 7
            for i in range(len(sc)):
                k = mo[i + 1] - mo[i]
                s = sc[i]
                total += k + (1 if k < 64 else 2 if k < 4096 else 5) + 1
                total += 3 if s.is_integer() and -32768 <= s < 32768 else 9
            return OBJ + _alloc(total)
        n = len(self.d)
        sl = self.x
        buckets = 1 << max(2, (n - 1).bit_length())
        size = OBJ + 16 + 32 + 56 + 8 * buckets
        k = n if samples <= 0 else min(samples, n)
        per = 0
        for i in range(k):
            per += 24 + 48 + _alloc(len(sl[i][1]) + 4)
        return size + (per * n // k if k else 0)

    # -- ranges ----------------------------------------------------------------------------

    def score_span(self, lo: float, lo_ex: bool, hi: float, hi_ex: bool) -> tuple[int, int]:
        """Ranks [a, b) of the members whose score is within the bounds."""
        n = len(self)
        if lo_ex:
            a = n if lo == inf else self.bisect((nextafter(lo, inf),))
        else:
            a = self.bisect((lo,))
        if hi_ex:
            b = self.bisect((hi,))
        else:
            b = n if hi == inf else self.bisect((nextafter(hi, inf),))
        return a, (b if b > a else a)

    def score_range(self, lo: float, lo_ex: bool, hi: float, hi_ex: bool, offset: int,
                    count: int) -> list[tuple[float, bytes]]:
        """The pairs within the score bounds, ascending, from the offset-th (>= 0) on, at
        most count of them (all when count < 0): ZRANGE BYSCORE [LIMIT]."""
        sl = self.x
        if self.d is None or count < 0 or offset > _WALK_MAX:
            a, b = self.score_span(lo, lo_ex, hi, hi_ex)
            first = a + offset
            last = b if count < 0 else min(b, first + count)
            return self.slice(first, last) if last > first else []
        # A big set with a LIMIT: read SortedList's sublists from where the bisection by
        # score lands, without turning positions into ranks and back (its index tree);
        # the upper bound trims what was read.
        if lo_ex:
            if lo == inf:
                return []
            key = (nextafter(lo, inf),)
        else:
            key = (lo,)
        lists = sl._lists
        nl = len(lists)
        pos = bisect_left(sl._maxes, key)
        if pos == nl or count == 0:
            return []
        sub = lists[pos]
        i = bisect_left(sub, key) + offset
        out: list[tuple[float, bytes]] = []
        while True:
            k = len(sub)
            if i < k:
                out += sub[i:i + count - len(out)]
                if len(out) == count:
                    break
                i = 0
            else:
                i -= k
            pos += 1
            if pos == nl:
                break
            sub = lists[pos]
        if out:
            top = out[-1][0]
            if top > hi or (hi_ex and top == hi):
                del out[bisect_left(out, (hi,) if hi_ex else (nextafter(hi, inf),)):]
        return out

    def lex_span(self, lo: LexBound, hi: LexBound) -> tuple[int, int]:
        """Ranks [a, b) of the members within the lex bounds. Meaningful (as in Redis)
        when all scores are equal; otherwise a member-only bisection of the score order,
        which is what Redis's walk amounts to for ordered members."""
        n = len(self)
        if n == 0 or lo.empty_with(hi):
            return 0, 0
        first, last = self.at(0), self.at(n - 1)
        if first[0] == last[0]:
            s = first[0]
            a = lo.first_rank(self, s, n)
            b = hi.end_rank(self, s, n)
        else:
            a = _search(self, n, lo.below)
            b = _search(self, n, hi.within_max)
        return a, (b if b > a else a)


def _search(z: ZSet, n: int, pred) -> int:
    """First rank whose member does not satisfy pred (pred true on a prefix)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if pred(z.at(mid)[1]):
            lo = mid + 1
        else:
            hi = mid
    return lo


class LexBound:
    """One end of a lex range: "-" / "+" or a member, inclusive ("[") or not ("(")."""

    __slots__ = ("value", "ex", "kind")

    def __init__(self, kind: int, value: bytes = b"", ex: bool = False) -> None:
        self.kind = kind  # -1: "-", 1: "+", 0: a value
        self.value = value
        self.ex = ex

    def cmp(self, other: LexBound) -> int:
        if self.kind or other.kind:
            if self.kind == other.kind:
                return 0
            return -1 if self.kind < other.kind else 1
        a, b = self.value, other.value
        return (a > b) - (a < b)

    def empty_with(self, hi: LexBound) -> bool:
        c = self.cmp(hi)
        return c > 0 or (c == 0 and (self.ex or hi.ex))

    # as a minimum
    def below(self, m: bytes) -> bool:
        """m sorts before this minimum (is not in range)."""
        k = self.kind
        if k:
            return k > 0
        return m <= self.value if self.ex else m < self.value

    def first_rank(self, z: ZSet, s: float, n: int) -> int:
        k = self.kind
        if k:
            return 0 if k < 0 else n
        i = z.bisect((s, self.value))
        if self.ex and i < n and z.at(i)[1] == self.value:
            i += 1  # the first member after value
        return i

    # as a maximum
    def within_max(self, m: bytes) -> bool:
        k = self.kind
        if k:
            return k > 0
        return m < self.value if self.ex else m <= self.value

    def end_rank(self, z: ZSet, s: float, n: int) -> int:
        k = self.kind
        if k:
            return 0 if k < 0 else n
        i = z.bisect((s, self.value))
        if not self.ex and i < n and z.at(i)[1] == self.value:
            i += 1
        return i


def _sort_elements(z: ZSet):
    return b"zset", [m for _, m in z.slice(0, len(z))]


def _free_effort(z: ZSet) -> int:
    return 1 if z.d is None else len(z.d)


_db.register_type(ZSet, b"zset", copy=ZSet.copy, encoding=ZSet.encoding,
                  sort_elements=_sort_elements, free_effort=_free_effort)
