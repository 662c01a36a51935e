"""Redis's ziplist bytes (ziplist.c), the compact encoding of small lists, hashes and
sorted sets in RDB files written before 7.0. Only read: Redis 7.0 converts a ziplist to
a listpack (or a plain encoding) on load, and so do we.

Layout: total bytes (u32 LE), offset of the last entry (u32 LE), entry count (u16 LE,
65535 when not known), the entries, 0xFF. An entry is the previous entry's size (one
byte below 254, else 0xFE and a u32 LE), an encoding, and its data:
  00xxxxxx                 string of up to 63 bytes
  01xxxxxx yyyyyyyy        string of up to 16383 bytes (length big-endian)
  10______ + u32 BE        longer string
  C0 / D0 / E0             int16 / int32 / int64 (little-endian)
  F0                       int24
  FE                       int8
  F1..FD                   the integer 0..12 itself, no data

parse() checks everything ziplistValidateIntegrity's deep mode checks (sizes inside the
buffer, each previous-size field, the tail offset, the count) and raises ValueError."""

from __future__ import annotations

HEADER = 10
END = 0xFF
_INT_WIDTH = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}


def parse(buf) -> list:
    """The entries of a ziplist: int for integer entries, bytes for strings."""
    size = len(buf)
    if size < HEADER + 1:
        raise ValueError("ziplist too short")
    if int.from_bytes(buf[0:4], "little") != size:
        raise ValueError("ziplist size mismatch")
    last = size - 1
    if buf[last] != END:
        raise ValueError("ziplist not terminated")
    tail = int.from_bytes(buf[4:8], "little")
    if tail > last:
        raise ValueError("ziplist tail out of range")
    header_count = int.from_bytes(buf[8:10], "little")
    out: list = []
    append = out.append
    p = HEADER
    prev_start = -1
    prev_size = 0
    while buf[p] != END:
        b = buf[p]
        if b < 254:
            pls, prevlen = 1, b
        else:
            if p + 5 > last:
                raise ValueError("ziplist entry overflows")
            pls, prevlen = 5, int.from_bytes(buf[p + 1:p + 5], "little")
        q = p + pls
        if q > last:
            raise ValueError("ziplist entry overflows")
        enc = buf[q]
        if enc < 0xC0:
            kind = enc & 0xC0
            if kind == 0:
                hs, n = 1, enc & 0x3F
            elif kind == 0x40:
                if q + 2 > last:
                    raise ValueError("ziplist entry overflows")
                hs, n = 2, ((enc & 0x3F) << 8) | buf[q + 1]
            else:
                if q + 5 > last:
                    raise ValueError("ziplist entry overflows")
                hs, n = 5, int.from_bytes(buf[q + 1:q + 5], "big")
            d = q + hs
            e = d + n
            if e > last:
                raise ValueError("ziplist entry overflows")
            append(bytes(buf[d:e]))
        elif 0xF1 <= enc <= 0xFD:
            e = q + 1
            if e > last:
                raise ValueError("ziplist entry overflows")
            append((enc & 0x0F) - 1)
        else:
            w = _INT_WIDTH.get(enc)
            if w is None:
                raise ValueError("bad ziplist entry encoding")
            d = q + 1
            e = d + w
            if e > last:
                raise ValueError("ziplist entry overflows")
            append(int.from_bytes(buf[d:e], "little", signed=True))
        if prevlen != prev_size or p - prevlen < HEADER:
            raise ValueError("ziplist prevlen mismatch")
        prev_start = p
        prev_size = e - p
        p = e
    if p != last:
        raise ValueError("ziplist entries overflow")
    if prev_start >= 0 and prev_start != tail:
        raise ValueError("ziplist tail offset mismatch")
    if header_count != 65535 and header_count != len(out):
        raise ValueError("ziplist count mismatch")
    return out


def build(elements) -> bytes:
    """A ziplist of elements (bytes kept strings, ints as the narrowest integer form);
    for tests and tools that need legacy payloads."""
    entries = []
    prev = 0
    tail = HEADER
    for x in elements:
        if type(x) is int:
            if 0 <= x <= 12:
                body = bytes((0xF1 + x,))
            elif -128 <= x <= 127:
                body = b"\xfe" + x.to_bytes(1, "little", signed=True)
            elif -32768 <= x <= 32767:
                body = b"\xc0" + x.to_bytes(2, "little", signed=True)
            elif -(1 << 23) <= x < (1 << 23):
                body = b"\xf0" + x.to_bytes(3, "little", signed=True)
            elif -(1 << 31) <= x < (1 << 31):
                body = b"\xd0" + x.to_bytes(4, "little", signed=True)
            else:
                body = b"\xe0" + x.to_bytes(8, "little", signed=True)
        else:
            n = len(x)
            if n < 64:
                body = bytes((n,)) + x
            elif n < 16384:
                body = bytes((0x40 | (n >> 8), n & 0xFF)) + x
            else:
                body = b"\x80" + n.to_bytes(4, "big") + x
        head = bytes((prev,)) if prev < 254 else b"\xfe" + prev.to_bytes(4, "little")
        entry = head + body
        if entries:
            tail += len(entries[-1])
        entries.append(entry)
        prev = len(entry)
    data = b"".join(entries)
    size = HEADER + len(data) + 1
    n = len(entries)
    return (size.to_bytes(4, "little") + tail.to_bytes(4, "little")
            + min(n, 65535).to_bytes(2, "little") + data + b"\xff")
