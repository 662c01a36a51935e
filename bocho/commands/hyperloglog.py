"""HyperLogLog (hyperloglog.c): PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.

The value is a plain string in Redis's own HYLL layout, so bocho and Redis read each
other's values and produce the same bytes for the same operations:

    "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | 8-byte cached cardinality
    (little-endian; the top bit of the last byte set = the cache is stale) | registers

16384 registers (P=14) of 6 bits. Dense: packed little-endian, register i in bits
6i..6i+5 of the register area (12288 bytes). Sparse: run-length opcodes, ZERO
(00llllll: 1-64 zero registers), XZERO (01llllll llllllll: 1-16384 zero registers) and
VAL (1vvvvvll: 1-4 registers of value 1-32). A sparse value turns dense when an update
would grow it past hll-sparse-max-bytes or needs a value above 32.

Sparse updates follow Redis's in-place algorithm step for step (split the covering
opcode, then merge equal neighbouring VALs in a short window), because the resulting
byte sequence depends on the order of updates, not only on the register values. A few
elements update the bytes in place (sparse_set); more work on a decoded list of opcodes
(SparseHLL, with each opcode's first register for bisect), written back once.

Whole-register work (dense <-> one byte per register, merging, the histogram) and the
hashing of many elements are done with bytes slicing, bytes.translate, regex splits and
big-int arithmetic, not Python loops over 16384 registers."""

from __future__ import annotations

import math
import os
import random
import re
import struct
from bisect import bisect_right
from collections import Counter
from itertools import accumulate

from bocho import notify, resp
from bocho.commands import TABLE, command
from bocho.commands.strings import key_spec
from bocho.errors import CommandError, wrongtype

HLL = "hyperloglog"
P = 14
REGISTERS = 1 << P  # 16384
P_MASK = REGISTERS - 1
Q_BIT = 1 << (64 - P)  # stops the zero-run count at Q + 1
HDR = 16
DENSE_BYTES = REGISTERS * 6 // 8  # 12288
DENSE_SIZE = HDR + DENSE_BYTES
DENSE = 0
SPARSE = 1
VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
XZERO_MAX_LEN = 16384
XZERO_FLAG = 0x4000  # an XZERO opcode in a decoded list: 0x4000 | (run length - 1)

INVALID_HLL = b"INVALIDOBJ Corrupted HLL object detected"
_CARD = struct.Struct("<Q").unpack_from
NOT_HLL = b"WRONGTYPE Key is not a valid HyperLogLog string value."
PROMOTE = 2  # SparseHLL.set: the update needs the dense encoding

# An empty HLL as Redis creates it: sparse, one XZERO over every register, cached
# cardinality 0 (valid).
EMPTY = b"HYLL\x01\x00\x00\x00" + bytes(8) + bytes(((XZERO_MAX_LEN - 1) >> 8 | 0x40,
                                                  (XZERO_MAX_LEN - 1) & 0xFF))

# -- MurmurHash64A (Redis's endian-neutral variant), seed 0xadc83b19 ---------------------

_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1
_SEED = 0xADC83B19
_BLOCKS = [struct.Struct(f"<{n}Q") for n in range(8)]


# seed ^ (len * m), per element length (the hash's starting value)
_H0 = [_SEED ^ ((n * _M) & _MASK) for n in range(256)]


def murmur64a(key: bytes) -> int:
    n = len(key)
    m = _M
    mask = _MASK
    h = _H0[n] if n < 256 else _SEED ^ ((n * m) & mask)
    if n < 8:
        if n:
            h = ((h ^ int.from_bytes(key, "little")) * m) & mask
    else:
        nb = n >> 3
        for k in (_BLOCKS[nb] if nb < 8 else struct.Struct(f"<{nb}Q")).unpack_from(key):
            k = (k * m) & mask
            k ^= k >> 47
            h = ((h ^ ((k * m) & mask)) * m) & mask
        t = n & 7
        if t:
            h = ((h ^ int.from_bytes(key[n - t:], "little")) * m) & mask
    h ^= h >> 47
    h = (h * m) & mask
    return h ^ (h >> 47)


# Many elements are hashed together: elements of one length, side by side in the
# 128-bit lanes of one big int (each lane's 64-bit value times a 64-bit constant
# still fits its lane), go through the same multiply/xor-shift steps as one int.
VECTOR_MIN = 8  # fewer elements of one length: hashed one by one
VECTOR_MIN_LONG = 32  # the same for elements longer than 64 bytes (more blocks each)
_LANE_ONE = b"\x01" + bytes(15)


def murmur_many(elements: list[bytes]) -> list[int]:
    """[murmur64a(e) for e in elements], computed length group by length group."""
    if len(elements) < VECTOR_MIN:
        return [murmur64a(e) for e in elements]
    groups: dict[int, list[int]] = {}
    for i, e in enumerate(elements):
        g = groups.get(len(e))
        if g is None:
            groups[len(e)] = [i]
        else:
            g.append(i)
    if len(groups) == 1:
        (n, _), = groups.items()
        if n <= 64 or len(elements) >= VECTOR_MIN_LONG:
            return _murmur_lanes(elements, n)
    out = [0] * len(elements)
    for n, idx in groups.items():
        if len(idx) < (VECTOR_MIN if n <= 64 else VECTOR_MIN_LONG):
            for i in idx:
                out[i] = murmur64a(elements[i])
        else:
            for i, h in zip(idx, _murmur_lanes([elements[i] for i in idx], n), strict=True):
                out[i] = h
    return out


def _murmur_lanes(elements: list[bytes], n: int) -> list[int]:
    """MurmurHash64A of elements all n bytes long, in 128-bit lanes."""
    count = len(elements)
    data = b"".join(elements)
    width = count * 16
    ones = int.from_bytes(_LANE_ONE * count, "little")
    mask = ones * _MASK  # the low 64 bits of every lane
    m = _M
    h = ones * (_H0[n] if n < 256 else _SEED ^ ((n * m) & _MASK))

    def lanes(off: int, size: int) -> int:
        # bytes off..off+size-1 of every element, each in its own lane
        buf = bytearray(width)
        for b in range(size):
            buf[b::16] = data[off + b::n]
        return int.from_bytes(buf, "little")

    for j in range(n >> 3):
        k = (lanes(j * 8, 8) * m) & mask
        k ^= (k >> 47) & mask
        h = ((h ^ ((k * m) & mask)) * m) & mask
    t = n & 7
    if t:
        h = ((h ^ lanes(n - t, t)) * m) & mask
    h ^= (h >> 47) & mask
    h = (h * m) & mask
    h ^= (h >> 47) & mask
    return memoryview(h.to_bytes(width, "little")).cast("Q")[0::2].tolist()


def pat_len(ele: bytes) -> tuple[int, int]:
    """hllPatLen: (register index, length of the 0..01 run after the index bits)."""
    h = murmur64a(ele)
    rest = (h >> P) | Q_BIT
    return h & P_MASK, (rest & -rest).bit_length()


# -- dense registers ---------------------------------------------------------------------

def dense_get(v, index: int) -> int:
    pos = index * 6
    b = HDR + (pos >> 3)
    fb = pos & 7
    if fb <= 2:
        return (v[b] >> fb) & 63
    return ((v[b] | (v[b + 1] << 8)) >> fb) & 63


def dense_set(v, index: int, count: int) -> int:
    """hllDenseSet: raise register index to count; 1 if it changed, else 0."""
    pos = index * 6
    b = HDR + (pos >> 3)
    fb = pos & 7
    if fb <= 2:
        x = v[b]
        if count <= (x >> fb) & 63:
            return 0
        v[b] = (x & ~(63 << fb)) | (count << fb)
        return 1
    x = v[b] | (v[b + 1] << 8)
    if count <= (x >> fb) & 63:
        return 0
    x = (x & ~(63 << fb)) | (count << fb)
    v[b] = x & 0xFF
    v[b + 1] = x >> 8
    return 1


# Whole-register work happens on "lanes": a big int holding one register per byte
# (little-endian, register i in byte i). Dense <-> lanes goes through 32-bit groups:
# 3 packed bytes (4 registers of 6 bits) <-> 4 lane bytes, with a few shifts and masks
# over the whole int.
_M6 = int.from_bytes(b"\x3f\x00\x00\x00" * (REGISTERS // 4), "little")
_M6_8 = _M6 << 8
_M6_16 = _M6 << 16
_M6_24 = _M6 << 24
_M6_6 = _M6 << 6
_M6_12 = _M6 << 12
_M6_18 = _M6 << 18
_H80 = int.from_bytes(b"\x80" * REGISTERS, "little")


def dense_lanes(d) -> int:
    """The 12288 packed bytes -> lanes."""
    g = bytearray(REGISTERS)  # each group's 3 bytes in a 4-byte slot
    g[0::4] = d[0::3]
    g[1::4] = d[1::3]
    g[2::4] = d[2::3]
    x = int.from_bytes(g, "little")
    return (x & _M6) | ((x << 2) & _M6_8) | ((x << 4) & _M6_16) | ((x << 6) & _M6_24)


def pack_lanes(x: int) -> bytearray:
    """Lanes (each register < 64) -> the 12288 packed bytes."""
    g = ((x & _M6) | ((x >> 2) & _M6_6) | ((x >> 4) & _M6_12)
         | ((x >> 6) & _M6_18)).to_bytes(REGISTERS, "little")
    out = bytearray(DENSE_BYTES)
    out[0::3] = g[0::4]
    out[1::3] = g[1::4]
    out[2::3] = g[2::4]
    return out


def unpack_dense(d) -> bytes:
    """The 12288 packed bytes -> one byte per register (16384 bytes)."""
    return dense_lanes(d).to_bytes(REGISTERS, "little")


def pack_dense(regs) -> bytearray:
    """One byte per register (each < 64) -> the 12288 packed bytes."""
    return pack_lanes(int.from_bytes(regs, "little"))


def max_lanes(x: int, y: int) -> int:
    """Register-wise max (values < 128): in each byte lane, (x | 0x80) - y keeps its
    top bit exactly when x >= y, and no lane borrows from the next."""
    ge = ((((x | _H80) - y) & _H80) >> 7) * 255
    return y ^ ((x ^ y) & ge)


def max_registers(a: bytes, b: bytes) -> bytes:
    return max_lanes(int.from_bytes(a, "little"),
                     int.from_bytes(b, "little")).to_bytes(REGISTERS, "little")


def histogram(regs: bytes) -> list[int]:
    """How many registers hold each value 0..63 (one byte per register). One C pass
    (bytes.count) per value present; once the values counted so far cover 7/8 of what
    is being scanned, they are deleted from it (bytes.translate), so the long tail of
    rare values is counted in a short string."""
    h = [0] * 64
    data = regs
    left = len(data)
    done = bytearray()  # values counted since data was last shrunk
    for val in range(64):
        if data.find(val) < 0:  # memchr: absent values cost next to nothing
            continue
        n = data.count(val)
        h[val] = n
        left -= n
        if left <= 0:
            break
        done.append(val)
        if left * 8 < len(data) and len(data) > 512:
            data = data.translate(None, done)
            done.clear()
    return h


# -- the estimator (Ertl's improved raw estimator, as Redis 7.0's hllCount) --------------

_ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        zp = z
        z += x * y
        y += y
        if zp == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        zp = z
        y *= 0.5
        z -= math.pow(1 - x, 2) * y
        if zp == z:
            return z / 3


def estimate(h: list[int]) -> int:
    m = float(REGISTERS)
    q = 64 - P
    z = m * _tau((m - h[q + 1]) / m)
    for j in range(q, 0, -1):
        z += h[j]
        z *= 0.5
    z += m * _sigma(h[0] / m)
    e = _ALPHA_INF * m * m / z
    # llroundl: half away from zero
    f = math.floor(e)
    return int(f + 1 if e - f >= 0.5 else f)


# -- sparse opcodes ----------------------------------------------------------------------

def _zero_op(n: int) -> int:
    """A run of n zero registers as one ZERO or XZERO opcode (decoded form)."""
    return n - 1 if n <= ZERO_MAX_LEN else XZERO_FLAG | (n - 1)


# The opcode bytes split around XZERO pairs: [ones, xzero, ones, xzero, ..., ones], where
# `ones` hold only one-byte opcodes (ZERO, VAL). The regex tokenises exactly as a walk
# would: a non-XZERO byte fails the pattern and the search moves on by one byte. Only an
# XZERO cut short by the end of the value stays in the last `ones` (as its last byte).
_XZERO_SPLIT = re.compile(rb"([\x40-\x7f][\x00-\xff])").split
# one-byte opcode -> registers it covers (a lone XZERO lead byte: 0, see _pieces)
_SPAN1 = bytes((b & 3) + 1 if b & 0x80 else 0 if b & 0x40 else b + 1 for b in range(256))
# one-byte opcode -> its registers, one byte each
_EXPAND = [bytes((((b >> 2) & 31) + 1,)) * ((b & 3) + 1) if b & 0x80 else
           b"" if b & 0x40 else bytes(b + 1) for b in range(256)]


def _pieces(v) -> tuple[list[bytes], int]:
    """The split opcodes, and the lead byte of a cut XZERO ending them (else 0). Redis
    reads such an XZERO with a zero second byte (the string's terminator)."""
    parts = _XZERO_SPLIT(bytes(memoryview(v)[HDR:]))
    last = parts[-1]
    return parts, last[-1] if last and 0x40 <= last[-1] < 0x80 else 0


def _xzero_span(pair: bytes) -> int:
    return (((pair[0] & 0x3F) << 8) | pair[1]) + 1


def _total(parts: list[bytes], cut: int) -> int:
    """The number of registers the opcodes cover."""
    total = 0
    for i, part in enumerate(parts):
        total += _xzero_span(part) if i & 1 else sum(part.translate(_SPAN1))
    if cut:
        total += ((cut & 0x3F) << 8) + 1
    return total


def decode_sparse(v) -> tuple[list[int], list[int], bool]:
    """The opcodes of a sparse value (XZERO as 0x4000 | len-1), the first register each
    covers, and whether the last is a cut XZERO (read with a zero second byte)."""
    parts, cut = _pieces(v)
    ops: list[int] = []
    spans: list[int] = []
    for i, part in enumerate(parts):
        if i & 1:
            ops.append((part[0] << 8) | part[1])
            spans.append(_xzero_span(part))
        else:
            ops.extend(part)
            spans.extend(part.translate(_SPAN1))
    if cut:
        ops[-1] = cut << 8
        spans[-1] = ((cut & 0x3F) << 8) + 1
    starts = list(accumulate(spans, initial=0))
    starts.pop()
    return ops, starts, bool(cut)


class _OpBytes(dict):
    """Decoded opcode -> its bytes (one for ZERO/VAL, two for XZERO), made on demand."""

    def __missing__(self, op: int) -> bytes:
        b = bytes((op,)) if op < 256 else bytes((op >> 8, op & 0xFF))
        self[op] = b
        return b


_OP_BYTES = _OpBytes()


def encode_ops(ops: list[int]) -> bytes:
    return b"".join(map(_OP_BYTES.__getitem__, ops))


def sparse_registers(v) -> bytes | None:
    """The registers of a sparse value, one byte each (hllSparseToDense, hllMerge), or
    None unless the runs cover exactly 16384 registers. (Redis 7.0.15 as Debian ships
    it, with the CVE-2025-32023 fix: a run that would pass the end makes the value
    corrupt, where the original stopped the walk there.)"""
    parts, cut = _pieces(v)
    if _total(parts, cut) != REGISTERS:
        return None
    out: list[bytes] = []
    for i, part in enumerate(parts):
        if i & 1:
            out.append(bytes(_xzero_span(part)))
        else:
            out.extend(map(_EXPAND.__getitem__, part))
    if cut:
        out.append(bytes(((cut & 0x3F) << 8) + 1))
    return b"".join(out)


def ops_registers(ops: list[int]) -> bytes | None:
    """sparse_registers for decoded opcodes."""
    if sum(map(_span, ops)) != REGISTERS:
        return None
    return b"".join([bytes(_span(op)) if op >= 256 else _EXPAND[op] for op in ops])


def sparse_histogram(v) -> list[int] | None:
    """hllSparseRegHisto: the histogram, or None unless the runs add up to 16384."""
    parts, cut = _pieces(v)
    total = _total(parts, cut)
    if total != REGISTERS:
        return None
    h = [0] * 64
    counts = Counter()
    for part in parts[::2]:
        counts.update(part)
    vals = 0
    for b, n in counts.items():
        if b & 0x80:
            run = n * ((b & 3) + 1)
            h[((b >> 2) & 31) + 1] += run
            vals += run
    h[0] = total - vals
    return h


class SparseHLL:
    """A sparse value's opcodes being updated (hllSparseSet). `size` is the byte length
    the value would have (header included), for the hll-sparse-max-bytes check. A cut
    XZERO at the end (corrupt value) is kept as raw `tail` bytes, covering nothing."""

    __slots__ = ("ops", "starts", "size", "total", "max_bytes", "tail")

    def __init__(self, v, max_bytes: int) -> None:
        ops, starts, cut = decode_sparse(v)
        self.tail = b""
        if cut:
            self.tail = bytes((ops.pop() >> 8,))
            starts.pop()
        self.ops = ops
        self.starts = starts
        self.size = len(v)
        self.total = starts[-1] + _span(ops[-1]) if ops else 0
        self.max_bytes = max_bytes

    def encode(self) -> bytes:
        return encode_ops(self.ops) + self.tail

    def set(self, index: int, count: int) -> int:
        """1 if register index grew to count, 0 if it already was >= count, -1 if the
        opcodes do not cover it (corrupt), PROMOTE if only dense can hold the result."""
        if count > VAL_MAX_VALUE:
            return PROMOTE
        if index >= self.total:
            return -1
        ops = self.ops
        starts = self.starts
        pos = bisect_right(starts, index) - 1
        op = ops[pos]
        first = starts[pos]
        if op & 0x80 and op < 256:  # VAL
            if ((op >> 2) & 31) + 1 >= count:
                return 0
            run = (op & 3) + 1
            if run == 1:
                ops[pos] = 0x80 | (count - 1) << 2
                self._merge(pos)
                return 1
            cur = op & 0x7C  # the value bits, kept by the split pieces
            last = first + run - 1
            seq = []
            seq_starts = []
            if index != first:
                seq.append(0x80 | cur | (index - first - 1))
                seq_starts.append(first)
            seq.append(0x80 | (count - 1) << 2)
            seq_starts.append(index)
            if index != last:
                seq.append(0x80 | cur | (last - index - 1))
                seq_starts.append(index + 1)
            grow = len(seq) - 1
        else:
            if op == 0:  # ZERO of one register
                ops[pos] = 0x80 | (count - 1) << 2
                self._merge(pos)
                return 1
            last = first + _span(op) - 1
            seq = []
            seq_starts = []
            grow = -2 if op >= 256 else -1
            if index != first:
                z = _zero_op(index - first)
                seq.append(z)
                seq_starts.append(first)
                grow += 2 if z >= 256 else 1
            seq.append(0x80 | (count - 1) << 2)
            seq_starts.append(index)
            grow += 1
            if index != last:
                z = _zero_op(last - index)
                seq.append(z)
                seq_starts.append(index + 1)
                grow += 2 if z >= 256 else 1
        if grow > 0 and self.size + grow > self.max_bytes:
            return PROMOTE
        ops[pos:pos + 1] = seq
        starts[pos:pos + 1] = seq_starts
        self.size += grow
        self._merge(pos)
        return 1

    def _merge(self, pos: int) -> None:
        """Step 4 of hllSparseSet: from the opcode before the updated one, look at up to
        five opcodes and fold adjacent VALs of one value into one (at most 4 long)."""
        ops = self.ops
        i = pos - 1 if pos > 0 else 0
        scan = 5
        while i < len(ops) and scan:
            scan -= 1
            op = ops[i]
            if op & 0x80 and op < 256 and i + 1 < len(ops):
                nxt = ops[i + 1]
                if nxt & 0x80 and nxt < 256 and (op & 0x7C) == (nxt & 0x7C):
                    run = (op & 3) + (nxt & 3) + 2
                    if run <= VAL_MAX_LEN:
                        ops[i] = 0x80 | (op & 0x7C) | (run - 1)
                        del ops[i + 1]
                        del self.starts[i + 1]
                        self.size -= 1
                        continue
            i += 1

    def registers(self) -> bytes | None:
        """The registers as one byte each, or None (corrupt), as hllSparseToDense."""
        return ops_registers(self.ops)


def _span(op: int) -> int:
    if op >= 256:
        return (op & 0x3FFF) + 1
    if op & 0x80:
        return (op & 3) + 1
    return op + 1


# -- values in the keyspace --------------------------------------------------------------

def is_hll(v) -> bool:
    """isHLLObjectOrReply's checks on a string value."""
    return (len(v) >= HDR and v.startswith(b"HYLL") and v[4] <= SPARSE
            and (v[4] != DENSE or len(v) == DENSE_SIZE))


def check_hll(v) -> None:
    if type(v) is not bytes and type(v) is not bytearray:
        raise wrongtype()
    if not is_hll(v):
        raise CommandError(NOT_HLL)


def lanes_of(v) -> int:
    """hllMerge's input: the registers of a valid-looking HLL value, as lanes."""
    if v[4] == DENSE:
        return dense_lanes(bytes(memoryview(v)[HDR:]))
    regs = sparse_registers(v)
    if regs is None:
        raise CommandError(INVALID_HLL)
    return int.from_bytes(regs, "little")


def invalidate(v: bytearray) -> None:
    v[15] |= 0x80


def to_dense(v: bytearray, regs: bytes) -> None:
    """hllSparseToDense in place: same header (cache included), dense registers."""
    v[HDR:] = pack_dense(regs)
    v[4] = DENSE


def unshare(c, key: bytes, v) -> bytearray:
    """dbUnshareStringValue: the value as a bytearray stored at key (TTL kept)."""
    if type(v) is not bytearray:
        v = bytearray(v)
        c.db.data[key] = v
    return v


def modified(c, key: bytes) -> None:
    db = c.db
    if db.watched:
        db.signal_modified(key)


# Up to this many elements, PFADD updates a sparse value in place, one element at a
# time; more, and it decodes the opcodes once (SparseHLL) and encodes them at the end.
# (A value longer than any valid sparse one, at most 2 bytes per register, is corrupt;
# it is updated in place too, so as not to decode it into a huge list.)
SPARSE_INPLACE_MAX = 4
SPARSE_MAX_SIZE = HDR + 2 * REGISTERS


def hll_add(c, v: bytearray, elements) -> int:
    """hllAdd over elements: how many updated a register. Raises INVALIDOBJ on a
    corrupt sparse value (what was applied before stays, as in Redis)."""
    if v[4] == DENSE:
        return _dense_add(v, murmur_many(elements))
    max_bytes = c.server.config["hll-sparse-max-bytes"]
    updated = 0
    if len(elements) <= SPARSE_INPLACE_MAX or len(v) > SPARSE_MAX_SIZE:
        for n, ele in enumerate(elements):
            index, count = pat_len(ele)
            r = sparse_set(v, index, count, max_bytes)
            if r == PROMOTE:
                regs = sparse_registers(v)
                if regs is None:
                    raise CommandError(INVALID_HLL)
                to_dense(v, regs)
                dense_set(v, index, count)
                return updated + 1 + _dense_add(v, murmur_many(elements[n + 1:]))
            if r < 0:
                raise CommandError(INVALID_HLL)
            updated += r
        return updated
    sp = SparseHLL(v, max_bytes)
    sset = sp.set
    hashes = murmur_many(elements)
    for n, h in enumerate(hashes):
        index = h & P_MASK
        rest = (h >> P) | Q_BIT
        count = (rest & -rest).bit_length()
        r = sset(index, count)
        if r == 1:
            updated += 1
        elif r == PROMOTE:
            regs = sp.registers()
            if regs is None:
                v[HDR:] = sp.encode()
                raise CommandError(INVALID_HLL)
            to_dense(v, regs)
            dense_set(v, index, count)
            return updated + 1 + _dense_add(v, hashes[n + 1:])
        elif r < 0:
            v[HDR:] = sp.encode()
            raise CommandError(INVALID_HLL)
    if updated:
        v[HDR:] = sp.encode()
    return updated


def _locate(v, index: int) -> tuple[int, int, int] | None:
    """The opcode of a sparse value covering register index: (its position in v, the
    first register it covers, the position of the opcode before it or -1), or None
    when the opcodes end before index. Sums of span bytes (C loops) skip whole pieces
    and 64-opcode blocks; only the last block is walked opcode by opcode."""
    parts, _ = _pieces(v)
    pos = HDR
    first = 0
    prev = -1
    for i, part in enumerate(parts):
        if i & 1:
            span = _xzero_span(part)
            if index < first + span:
                return pos, first, prev
            prev = pos
            first += span
            pos += 2
            continue
        if not part:
            continue
        spans = part.translate(_SPAN1)
        total = sum(spans)
        if index >= first + total:
            first += total
            pos += len(part)
            prev = pos - 1
            continue
        k = 0
        while True:
            block = sum(spans[k:k + 64])
            if index < first + block:
                break
            first += block
            k += 64
        while True:
            span = spans[k]
            if index < first + span:
                return pos + k, first, pos + k - 1 if k else prev
            first += span
            k += 1
    return None


def sparse_set(v: bytearray, index: int, count: int, max_bytes: int) -> int:
    """hllSparseSet in place on the value's bytes: 1 (updated), 0 (no change), -1
    (corrupt) or PROMOTE. The same steps as SparseHLL.set."""
    if count > VAL_MAX_VALUE:
        return PROMOTE
    loc = _locate(v, index)
    if loc is None:
        return -1
    p, first, prev = loc
    b = v[p]
    new = 0x80 | (count - 1) << 2
    if b & 0x80:  # VAL
        if ((b >> 2) & 31) + 1 >= count:
            return 0
        run = (b & 3) + 1
        if run == 1:
            v[p] = new
            _merge_bytes(v, prev)
            return 1
        last = first + run - 1
        cur = 0x80 | (b & 0x7C)
        seq = bytearray()
        if index != first:
            seq.append(cur | (index - first - 1))
        seq.append(new)
        if index != last:
            seq.append(cur | (last - index - 1))
        oldlen = 1
    else:
        if b == 0:  # ZERO of one register
            v[p] = new
            _merge_bytes(v, prev)
            return 1
        if b & 0x40:
            oldlen = 2
            last = first + (((b & 0x3F) << 8) | v[p + 1])
        else:
            oldlen = 1
            last = first + b
        seq = bytearray()
        if index != first:
            seq += _zero_bytes(index - first)
        seq.append(new)
        if index != last:
            seq += _zero_bytes(last - index)
    if len(seq) > oldlen and len(v) + len(seq) - oldlen > max_bytes:
        return PROMOTE
    v[p:p + oldlen] = seq
    _merge_bytes(v, prev)
    return 1


def _zero_bytes(n: int) -> bytes:
    return _OP_BYTES[_zero_op(n)]


def _merge_bytes(v: bytearray, p: int) -> None:
    """SparseHLL._merge on the value's bytes, from the opcode at p (-1: the first)."""
    if p < 0:
        p = HDR
    scan = 5
    while p < len(v) and scan:
        scan -= 1
        b = v[p]
        if not b & 0x80:
            p += 2 if b & 0x40 else 1
            continue
        if p + 1 < len(v):
            nb = v[p + 1]
            if nb & 0x80 and (b & 0x7C) == (nb & 0x7C):
                run = (b & 3) + (nb & 3) + 2
                if run <= VAL_MAX_LEN:
                    v[p + 1] = 0x80 | (b & 0x7C) | (run - 1)
                    del v[p]
                    continue
        p += 1


def _dense_add(v: bytearray, hashes: list[int]) -> int:
    """hllDenseAdd for elements' hashes, in order (the count of updates depends on it)."""
    updated = 0
    for h in hashes:
        index = h & P_MASK
        rest = (h >> P) | Q_BIT
        count = (rest & -rest).bit_length()
        # dense_set, inlined: this is the loop PFADD spends its time in
        pos = index * 6
        b = HDR + (pos >> 3)
        fb = pos & 7
        if fb <= 2:
            x = v[b]
            if count > (x >> fb) & 63:
                v[b] = (x & ~(63 << fb)) | (count << fb)
                updated += 1
        else:
            x = v[b] | (v[b + 1] << 8)
            if count > (x >> fb) & 63:
                x = (x & ~(63 << fb)) | (count << fb)
                v[b] = x & 0xFF
                v[b + 1] = x >> 8
                updated += 1
    return updated


def count_of(v) -> int | None:
    """hllCount of one value: None if a sparse value's runs are corrupt."""
    if v[4] == DENSE:
        return estimate(histogram(unpack_dense(bytes(memoryview(v)[HDR:]))))
    h = sparse_histogram(v)
    return None if h is None else estimate(h)


# -- commands ----------------------------------------------------------------------------

@command("pfadd", -2, "write denyoom fast", keys=(1, 1, 1), group=HLL, acl=("hyperloglog",),
         since="2.8.9", summary="Adds the specified elements to the specified HyperLogLog.",
         complexity="O(1) to add every element.",
         key_specs=[key_spec("RW insert")])
def pfadd(c, argv):
    key = argv[1]
    db = c.db
    v = db.lookup_write(key)
    if (v is not None and len(argv) == 3 and type(v) is bytearray and len(v) == DENSE_SIZE
            and v[4] == DENSE and v.startswith(b"HYLL")):
        # the common case, one element into a dense HLL: no list, no lane hashing
        updated = _dense_add(v, (murmur64a(argv[2]),))
    else:
        updated = 0
        if v is None:
            v = bytearray(EMPTY)
            db.add(key, v)
            updated = 1
        else:
            check_hll(v)
            v = unshare(c, key, v)
        if len(argv) > 2:
            updated += hll_add(c, v, argv[2:])
    if updated:
        modified(c, key)
        srv = c.server
        if srv.notify_flags & notify.STRING:
            srv.notify(notify.STRING, b"pfadd", key, db.id)
        srv.dirty += updated
        invalidate(v)
        return resp.ONE
    return resp.ZERO


@command("pfcount", -2, "readonly may_replicate", keys=(1, -1, 1), group=HLL,
         acl=("hyperloglog",), since="2.8.9",
         summary="Return the approximated cardinality of the set(s) observed by the "
                 "HyperLogLog at key(s).",
         complexity="O(1) with a very small average constant time when called with a "
                    "single key. O(N) with N being the number of keys, and much bigger "
                    "constant times, when called with multiple keys.",
         key_specs=[key_spec("RW access", lastkey=-1,
                             notes="RW because it may change the internal representation of "
                                   "the key, and propagate to replicas")])
def pfcount(c, argv):
    db = c.db
    if len(argv) > 2:
        acc = None
        for key in argv[1:]:
            v = db.lookup_read(key)
            if v is None:
                continue
            check_hll(v)
            regs = lanes_of(v)
            acc = regs if acc is None else max_lanes(acc, regs)
        if acc is None:
            return resp.ZERO
        return resp.integer(estimate(histogram(acc.to_bytes(REGISTERS, "little"))))
    key = argv[1]
    v = db.lookup_read(key)
    if v is None:
        return resp.ZERO
    check_hll(v)
    v = unshare(c, key, v)
    if v[15] < 0x80:  # the cached cardinality is valid
        return resp.integer(_CARD(v, 8)[0])
    card = count_of(v)
    if card is None:
        raise CommandError(INVALID_HLL)
    v[8:16] = card.to_bytes(8, "little")
    # a cache update changes the string: it is a write (WATCH, propagation)
    modified(c, key)
    c.server.dirty += 1
    return resp.integer(card)


@command("pfmerge", -2, "write denyoom", keys=(1, -1, 1), group=HLL, acl=("hyperloglog",),
         since="2.8.9", summary="Merge N different HyperLogLogs into a single one.",
         complexity="O(N) to merge N HyperLogLogs, but with high constant times.",
         key_specs=[key_spec("RW access insert"), key_spec("RO access", pos=2, lastkey=-1)])
def pfmerge(c, argv):
    db = c.db
    acc = None
    use_dense = False
    for key in argv[1:]:
        v = db.lookup_read(key)
        if v is None:
            continue
        check_hll(v)
        if v[4] == DENSE:
            use_dense = True
        regs = lanes_of(v)
        acc = regs if acc is None else max_lanes(acc, regs)
    dest = argv[1]
    v = db.lookup_write(dest)
    if v is None:
        v = bytearray(EMPTY)
        db.add(dest, v)
    else:
        v = unshare(c, dest, v)
    if acc is not None:
        if use_dense:
            # Every source, the destination included, went into acc, and hllDenseSet
            # never lowers a register: the destination's registers become acc. (A
            # sparse destination was validated as a source, so it converts.)
            v[4] = DENSE
            v[HDR:] = pack_lanes(acc)
        else:
            _sparse_merge(c, v, acc.to_bytes(REGISTERS, "little"))
    invalidate(v)
    modified(c, dest)
    srv = c.server
    if srv.notify_flags & notify.STRING:
        srv.notify(notify.STRING, b"pfadd", dest, db.id)
    srv.dirty += 1
    return resp.OK


def _sparse_merge(c, v: bytearray, acc: bytes) -> None:
    """PFMERGE into a sparse destination: hllSparseSet of every non-zero register in
    index order; once it turns dense, the rest of acc is simply taken (see pfmerge)."""
    sp = SparseHLL(v, c.server.config["hll-sparse-max-bytes"])
    sset = sp.set
    for m in _NONZERO(acc):
        index = m.start()
        if sset(index, acc[index]) == PROMOTE:
            v[4] = DENSE
            v[HDR:] = pack_dense(acc)
            return
    v[HDR:] = sp.encode()


_NONZERO = re.compile(rb"[^\x00]").finditer


# -- debugging ---------------------------------------------------------------------------

@command("pfdebug", 3, "write denyoom admin", keys=(2, 2, 1), group=HLL, acl=("hyperloglog",),
         since="2.8.9", summary="Internal commands for debugging HyperLogLog values",
         complexity="N/A", key_specs=[key_spec("RW access", pos=2)])
def pfdebug(c, argv):
    """PFDEBUG GETREG|DECODE|ENCODING|TODENSE key."""
    sub = argv[1]
    key = argv[2]
    v = c.db.lookup_write(key)
    if v is None:
        raise CommandError(b"ERR The specified key does not exist")
    check_hll(v)
    v = unshare(c, key, v)
    name = sub.lower()
    if name == b"getreg":
        if v[4] == SPARSE:
            _todense(c, v)
        regs = unpack_dense(bytes(memoryview(v)[HDR:]))
        ints = resp._INTS
        return resp.array_header(REGISTERS) + b"".join([ints[r] for r in regs])
    if name == b"decode":
        if v[4] != SPARSE:
            raise CommandError(b"ERR HLL encoding is not sparse")
        return resp.bulk(decode_text(v))
    if name == b"encoding":
        return b"+sparse\r\n" if v[4] == SPARSE else b"+dense\r\n"
    if name == b"todense":
        if v[4] == SPARSE:
            _todense(c, v)
            return resp.ONE
        return resp.ZERO
    raise CommandError(b"ERR Unknown PFDEBUG subcommand '" + sub + b"'")


def _todense(c, v: bytearray) -> None:
    regs = sparse_registers(v)
    if regs is None:
        raise CommandError(INVALID_HLL)
    to_dense(v, regs)
    c.server.dirty += 1  # the encoding changed: propagate it


def decode_text(v) -> bytes:
    """PFDEBUG DECODE: "z:<len>" / "Z:<len>" / "v:<value>,<len>" per opcode."""
    dec = decode_sparse(v)
    out = []
    for op in dec[0]:
        if op >= 256:
            out.append(b"Z:%d" % ((op & 0x3FFF) + 1))
        elif op & 0x80:
            out.append(b"v:%d,%d" % (((op >> 2) & 31) + 1, (op & 3) + 1))
        else:
            out.append(b"z:%d" % (op + 1))
    return b" ".join(out)


SELFTEST_CARDINALITY = 100_000  # Redis goes to 10,000,000: far too long a block here


@command("pfselftest", 1, "admin", group=HLL, acl=("hyperloglog",), since="2.8.9",
         summary="An internal command for testing HyperLogLog values", complexity="N/A")
def pfselftest(c, argv):
    """The checks of Redis's PFSELFTEST, on bocho's implementation: register access,
    then the estimate's error at each power of ten up to SELFTEST_CARDINALITY, with a
    dense and a sparse HLL fed the same elements and agreeing."""
    v = bytearray(DENSE_SIZE)
    # 1: registers keep their values and leave their neighbours alone, set one at a
    # time (PFADD's path), and packed/unpacked as a whole (promotion, PFMERGE)
    for cycle in range(8):
        want = bytes(b & 63 for b in os.urandom(REGISTERS))
        if cycle == 0:
            for i, r in enumerate(want):
                dense_set(v, i, r)
            got = bytes(dense_get(v, i) for i in range(REGISTERS))
        else:
            v[HDR:] = pack_dense(want)
            got = unpack_dense(bytes(memoryview(v)[HDR:]))
        if got != want:
            i = next(j for j in range(REGISTERS) if got[j] != want[j])
            raise CommandError(f"TESTFAILED Register {i} should be {want[i]} but is {got[i]}")
        v[HDR:] = bytes(DENSE_BYTES)
    # 2: estimation error, dense and sparse agreeing
    sparse = bytearray(EMPTY)
    max_bytes = c.server.config["hll-sparse-max-bytes"]
    sp: SparseHLL | None = SparseHLL(sparse, max_bytes)
    relerr = 1.04 / math.sqrt(REGISTERS)
    seed = random.getrandbits(64)
    pack = struct.Struct("<Q").pack
    hashes = murmur_many([pack(j ^ seed) for j in range(1, SELFTEST_CARDINALITY + 1)])
    done = 0
    checkpoint = 1
    while checkpoint <= SELFTEST_CARDINALITY:
        batch = hashes[done:checkpoint]
        done = checkpoint
        _dense_add(v, batch)
        if sp is None:
            _dense_add(sparse, batch)
        else:
            for n, h in enumerate(batch):
                index = h & P_MASK
                rest = (h >> P) | Q_BIT
                count = (rest & -rest).bit_length()
                if sp.set(index, count) == PROMOTE:
                    to_dense(sparse, sp.registers())
                    _dense_add(sparse, batch[n:])
                    sp = None
                    break
            else:
                sparse[HDR:] = sp.encode()
        if checkpoint < max_bytes / 2 and sparse[4] != SPARSE:
            raise CommandError(b"TESTFAILED sparse encoding not used")
        card = count_of(v)
        if card != count_of(sparse):
            raise CommandError(b"TESTFAILED dense/sparse disagree")
        abserr = abs(checkpoint - card)
        maxerr = 1 if checkpoint == 10 else math.ceil(relerr * 6 * checkpoint)
        if abserr > maxerr:
            raise CommandError(f"TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}")
        checkpoint *= 10
    return resp.OK


for _name in (b"pfdebug", b"pfselftest"):
    TABLE[_name].doc_flags = ("syscmd",)
