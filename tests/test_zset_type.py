"""The ZSet value itself (bocho.types.zset), without a server: the skiplist encoding's
walk over SortedList's sublists for ZRANGE BYSCORE LIMIT against the rank arithmetic it
replaces, across sublist boundaries, ties and infinite bounds."""

from __future__ import annotations

import random
from array import array
from math import inf

import pytest

from bocho.types.zset import ZSet


def _reference(z: ZSet, lo, lo_ex, hi, hi_ex, offset, count):
    a, b = z.score_span(lo, lo_ex, hi, hi_ex)
    first = a + offset
    last = b if count < 0 else min(b, first + count)
    return z.slice(first, last) if last > first else []


@pytest.mark.parametrize("n", [1, 7, 2500, 9000])
@pytest.mark.parametrize("ties", [False, True])
def test_score_range_matches_rank_arithmetic(n, ties):
    rng = random.Random(n * 2 + ties)
    pairs = [(float(rng.randrange(40)) if ties else rng.uniform(-10, 10), b"m%d" % i)
             for i in range(n)]
    for skiplist in (True, False):
        z = ZSet.from_pairs(pairs, 0 if skiplist else n, 64)
        assert z.listpack is not skiplist
        for _ in range(400):
            lo = rng.choice([-inf, inf, rng.uniform(-12, 42), float(rng.randrange(-1, 42))])
            hi = rng.choice([-inf, inf, rng.uniform(-12, 42), float(rng.randrange(-1, 42))])
            lo_ex, hi_ex = rng.random() < 0.5, rng.random() < 0.5
            offset = rng.choice([0, 0, 1, 999, 1000, 1001, rng.randrange(n + 10), 25000])
            count = rng.choice([-1, 0, 1, 10, 1000, 3000])
            assert z.score_range(lo, lo_ex, hi, hi_ex, offset, count) == \
                _reference(z, lo, lo_ex, hi, hi_ex, offset, count)


def test_listpack_offsets_cross_the_byte_boundary():
    """A listpack set's offsets are bytes while its members total under 256 bytes and
    uint32s past that; inserts, moves and deletes across the boundary keep the pairs."""
    rng = random.Random(7)
    z = ZSet()
    model: dict[bytes, float] = {}
    for step in range(3000):
        m = b"%d" % rng.randrange(40) * rng.randrange(1, 12)
        op = rng.random()
        if op < 0.5 and m not in model:
            s = float(rng.randrange(20))
            z.insert(m, s)
            model[m] = s
        elif op < 0.75 and m in model:
            s = float(rng.randrange(20))
            if s != model[m]:
                z.update(m, model[m], s)
                model[m] = s
        else:
            assert z.delete(m) == (m in model)
            model.pop(m, None)
        want = sorted((s, k) for k, s in model.items())
        assert z.slice(0, len(z)) == want
        assert type(z.o) is (bytes if sum(map(len, model)) < 256 else array)
        if step % 50 == 0:
            for k in model:
                assert z.rank(k) == want.index((model[k], k))
            assert z.copy().slice(0, len(z)) == want


def test_score_range_after_churn():
    """Sublists split and merged by inserts and deletes, not as from_pairs lays them out."""
    rng = random.Random(3)
    z = ZSet(listpack=False)
    live: dict[bytes, float] = {}
    for _ in range(12000):
        m = b"k%d" % rng.randrange(6000)
        if m in live:
            z.delete(m)
            del live[m]
        else:
            s = float(rng.randrange(300))
            z.insert(m, s)
            live[m] = s
    assert len({len(sub) for sub in z.x._lists}) > 1
    for _ in range(500):
        lo, hi = float(rng.randrange(-5, 305)), float(rng.randrange(-5, 305))
        lo_ex, hi_ex = rng.random() < 0.5, rng.random() < 0.5
        offset, count = rng.randrange(0, 4000), rng.choice([0, 1, 10, 700, 2500])
        assert z.score_range(lo, lo_ex, hi, hi_ex, offset, count) == \
            _reference(z, lo, lo_ex, hi, hi_ex, offset, count)
