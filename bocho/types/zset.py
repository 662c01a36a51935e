"""The sorted set value (t_zset.c's zset object).

Two structures, kept in step: `d`, a dict member -> score, answers ZSCORE and membership
in O(1); `sl`, the (score, member) pairs in Redis's order (score, then member bytes as
memcmp), answers ranks and ranges by bisection. While the set is "listpack" encoded in
Redis's terms `sl` is a plain list (small: C bisect/insort beat anything else and it
costs no more than a list); once converted to "skiplist" it is a SortedList, whose
insert, delete, rank and index are O(log n). The encoding answer follows the list type,
so OBJECT ENCODING says what Redis 7.0 would: a set starts as listpack when its first
element fits zset-max-listpack-entries/value, converts once a new member breaks either
limit, and never converts back, except where 7.0 rebuilds a set (the STORE commands).

A listpack keeps scores as text and writes -0 as "0", so a listpack set never holds
-0.0; a skiplist one does (and replies "-0"), as Redis.

Scores are never NaN: commands reject them before they reach this module."""

from __future__ import annotations

from bisect import bisect_left as _bisect_left
from bisect import insort as _insort
from math import inf, nextafter

from sortedcontainers import SortedList

from bocho import db as _db
from bocho.memory import OBJ, _alloc

LISTPACK = b"listpack"
SKIPLIST = b"skiplist"


class ZSet:
    __slots__ = ("d", "sl", "scan")

    def __init__(self, listpack: bool = True) -> None:
        self.d: dict[bytes, float] = {}
        self.sl: list | SortedList = [] if listpack else SortedList()
        # ZSCAN of a skiplist set: the members as they were when a scan started
        self.scan: list[bytes] | None = None

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_pairs(cls, pairs, max_entries: int, max_value: int) -> ZSet:
        """A new set of (score, member) pairs with distinct members, encoded as a fresh
        Redis set of that content would be (zsetConvertToListpackIfNeeded)."""
        z = cls.__new__(cls)
        z.scan = None
        items = sorted(pairs)
        z.d = {m: s for s, m in items}
        listpack = len(items) <= max_entries and all(len(m) <= max_value for _, m in items)
        if listpack:
            if any(s == 0 for s, _ in items):
                items = [(s + 0.0, m) if s == 0 else (s, m) for s, m in items]
                z.d = {m: s for s, m in items}
            z.sl = items
        else:
            z.sl = SortedList(items)
        return z

    def copy(self) -> ZSet:
        z = ZSet.__new__(ZSet)
        z.scan = None
        z.d = dict(self.d)
        sl = self.sl
        z.sl = list(sl) if type(sl) is list else SortedList(sl)
        return z

    # -- encoding --------------------------------------------------------------------------

    @property
    def listpack(self) -> bool:
        return type(self.sl) is list

    def encoding(self) -> bytes:
        return LISTPACK if type(self.sl) is list else SKIPLIST

    def to_skiplist(self) -> None:
        if type(self.sl) is list:
            self.sl = SortedList(self.sl)

    # -- element operations ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.d)

    def __contains__(self, member: bytes) -> bool:
        return member in self.d

    def items(self):
        """(member, score) pairs (DEBUG OBJECT's size estimate walks them)."""
        return self.d.items()

    def score(self, member: bytes) -> float | None:
        return self.d.get(member)

    def insert(self, member: bytes, score: float) -> None:
        """Add a member known to be absent (the caller checked the encoding limits)."""
        sl = self.sl
        if type(sl) is list:
            if score == 0:
                score = 0.0
            self.d[member] = score
            _insort(sl, (score, member))
        else:
            self.d[member] = score
            sl.add((score, member))

    def update(self, member: bytes, old: float, new: float) -> None:
        """Move a present member from score `old` to `new` (old != new)."""
        sl = self.sl
        if type(sl) is list:
            if new == 0:
                new = 0.0
            del sl[_bisect_left(sl, (old, member))]
            _insort(sl, (new, member))
        else:
            sl.remove((old, member))
            sl.add((new, member))
        self.d[member] = new

    def delete(self, member: bytes) -> bool:
        s = self.d.pop(member, None)
        if s is None:
            return False
        sl = self.sl
        if type(sl) is list:
            del sl[_bisect_left(sl, (s, member))]
        else:
            sl.remove((s, member))
        return True

    def rank(self, member: bytes) -> int | None:
        """0-based rank by ascending score, or None."""
        s = self.d.get(member)
        if s is None:
            return None
        sl = self.sl
        if type(sl) is list:
            return _bisect_left(sl, (s, member))
        return sl.bisect_left((s, member))

    def bisect(self, key: tuple) -> int:
        sl = self.sl
        if type(sl) is list:
            return _bisect_left(sl, key)
        return sl.bisect_left(key)

    def at(self, i: int) -> tuple[float, bytes]:
        return self.sl[i]

    def slice(self, start: int, stop: int) -> list[tuple[float, bytes]]:
        """Pairs at ranks start..stop-1, ascending."""
        return self.sl[start:stop]

    def delete_slice(self, start: int, stop: int) -> int:
        """Remove ranks start..stop-1; the number removed."""
        sl = self.sl
        gone = sl[start:stop]
        del sl[start:stop]
        d = self.d
        for _, m in gone:
            del d[m]
        return len(gone)

    def memory_usage(self, samples: int) -> int:
        """MEMORY USAGE, in the manner of objectComputeSize: a listpack's bytes, or the
        skiplist's nodes, dict entries and strings (sampled, scaled to the size)."""
        n = len(self.d)
        sl = self.sl
        if type(sl) is list:
            total = 7
            for s, m in sl:
                k = len(m)
                total += k + (1 if k < 64 else 2 if k < 4096 else 5) + 1
                total += 3 if s.is_integer() and -32768 <= s < 32768 else 9
            return OBJ + _alloc(total)
        buckets = 1 << max(2, (n - 1).bit_length())
        size = OBJ + 16 + 32 + 56 + 8 * buckets
        k = n if samples <= 0 else min(samples, n)
        per = 0
        for i in range(k):
            m = sl[i][1]
            per += 24 + 48 + _alloc(len(m) + 4)
        return size + (per * n // k if k else 0)

    def pop(self, last: bool) -> tuple[float, bytes]:
        s, m = self.sl.pop(-1 if last else 0)
        del self.d[m]
        return s, m

    # -- ranges ----------------------------------------------------------------------------

    def score_span(self, lo: float, lo_ex: bool, hi: float, hi_ex: bool) -> tuple[int, int]:
        """Ranks [a, b) of the members whose score is within the bounds."""
        if lo_ex:
            a = len(self.d) if lo == inf else self.bisect((nextafter(lo, inf),))
        else:
            a = self.bisect((lo,))
        if hi_ex:
            b = self.bisect((hi,))
        else:
            b = len(self.d) if hi == inf else self.bisect((nextafter(hi, inf),))
        return a, (b if b > a else a)

    def lex_span(self, lo: LexBound, hi: LexBound) -> tuple[int, int]:
        """Ranks [a, b) of the members within the lex bounds. Meaningful (as in Redis)
        when all scores are equal; otherwise a member-only bisection of the score order,
        which is what Redis's skiplist walk amounts to for ordered members."""
        n = len(self.d)
        if n == 0 or lo.empty_with(hi):
            return 0, 0
        sl = self.sl
        first, last = sl[0], sl[-1]
        if first[0] == last[0]:
            s = first[0]
            a = lo.first_rank(self, s, n)
            b = hi.end_rank(self, s, n)
        else:
            a = _search(sl, n, lo.below)
            b = _search(sl, n, hi.within_max)
        return a, (b if b > a else a)


def _search(sl, n: int, pred) -> int:
    """First rank whose member does not satisfy pred (pred true on a prefix)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if pred(sl[mid][1]):
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
        if self.ex:
            # first member > value: after (s, value) and all its extensions of it equal
            i = z.bisect((s, self.value))
            if i < n and z.sl[i][1] == self.value:
                i += 1
            return i
        return z.bisect((s, self.value))

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
        if not self.ex and i < n and z.sl[i][1] == self.value:
            i += 1
        return i


def _sort_elements(z: ZSet):
    return b"zset", [m for _, m in z.sl]


def _free_effort(z: ZSet) -> int:
    return 1 if type(z.sl) is list else len(z.d)


_db.register_type(ZSet, b"zset", copy=ZSet.copy, encoding=ZSet.encoding,
                  sort_elements=_sort_elements, free_effort=_free_effort)
