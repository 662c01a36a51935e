"""Redis's listpack serialization (listpack.c), as RDB and DUMP carry it for small
hashes, sorted sets, list nodes and stream nodes.

Layout: total bytes (u32 LE), element count (u16 LE, 65535 when not known), the
entries, 0xFF. An entry is an encoding header, its data, and "backlen": the size of
header + data in 7-bit groups, read right to left (the rightmost byte has the lowest
bits, bit 7 set on every byte but the leftmost). A string that is the canonical text of
a 64-bit integer is stored as an integer in the narrowest form that holds it.

build() makes the bytes Redis would make from the same elements; parse() reads them
back (integers as int, strings as bytes) and raises ValueError on anything malformed,
which is what a loader needs to refuse a corrupt payload rather than misread it."""

from __future__ import annotations

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
EOF = 0xFF
COUNT_UNKNOWN = 65535


def as_int(s) -> int | None:
    """lpStringToInt64 / string2ll: s as an int when s is its canonical text."""
    n = len(s)
    if n == 0 or n > 20:
        return None
    c = s[0]
    if not (48 <= c <= 57 or c == 45):
        return None
    try:
        v = int(s)
    except ValueError:
        return None
    if v < I64_MIN or v > I64_MAX or b"%d" % v != s:
        return None
    return v


def backlen_size(n: int) -> int:
    """Bytes of the back-length of an entry whose encoding is n bytes long."""
    return (1 if n <= 127 else 2 if n < 16383 else 3 if n < 2097151 else
            4 if n < 268435455 else 5)


def _backlen(n: int) -> bytes:
    if n <= 127:
        return bytes((n,))
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128,
                      (n & 127) | 128))
    return bytes((n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128,
                  ((n >> 7) & 127) | 128, (n & 127) | 128))


def encode_int(v: int) -> bytes:
    """One integer entry, backlen included."""
    if 0 <= v <= 127:
        return bytes((v, 1))
    if -4096 <= v <= 4095:
        u = v & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF, 2))
    if -32768 <= v <= 32767:
        return b"\xf1" + v.to_bytes(2, "little", signed=True) + b"\x03"
    if -8388608 <= v <= 8388607:
        return b"\xf2" + v.to_bytes(3, "little", signed=True) + b"\x04"
    if -2147483648 <= v <= 2147483647:
        return b"\xf3" + v.to_bytes(4, "little", signed=True) + b"\x05"
    return b"\xf4" + v.to_bytes(8, "little", signed=True) + b"\x09"


def encode_str(s) -> bytes:
    """One string entry (kept a string: the caller decided it is not an integer)."""
    n = len(s)
    if n < 64:
        hdr = bytes((0x80 | n,))
    elif n < 4096:
        hdr = bytes((0xE0 | (n >> 8), n & 0xFF))
    else:
        hdr = b"\xf0" + n.to_bytes(4, "little")
    return hdr + s + _backlen(len(hdr) + n)


def encode(e) -> bytes:
    """An element (bytes or int) as Redis's lpAppend would store it."""
    if type(e) is int:
        return encode_int(e)
    v = as_int(e) if len(e) <= 20 else None
    return encode_int(v) if v is not None else encode_str(e)


def build(elements) -> bytes:
    body = b"".join([encode(e) for e in elements])
    n = len(elements)
    return ((len(body) + 7).to_bytes(4, "little")
            + (n if n < COUNT_UNKNOWN else COUNT_UNKNOWN).to_bytes(2, "little")
            + body + b"\xff")


def parse(buf, validate: bool = True) -> list:
    """The elements of a listpack: int for integer entries, bytes for strings."""
    size = len(buf)
    if size < 7:
        raise ValueError("listpack too short")
    if int.from_bytes(buf[0:4], "little") != size:
        raise ValueError("listpack size mismatch")
    count = int.from_bytes(buf[4:6], "little")
    out: list = []
    p = 6
    end = size - 1
    while p < end:
        b = buf[p]
        start = p
        if b < 0x80:
            out.append(b)
            p += 1
        elif b < 0xC0:
            n = b & 0x3F
            p += 1
            if p + n > end:
                raise ValueError("listpack string overflows")
            out.append(bytes(buf[p:p + n]))
            p += n
        elif b < 0xE0:
            if p + 2 > end:
                raise ValueError("listpack entry overflows")
            u = ((b & 0x1F) << 8) | buf[p + 1]
            out.append(u - 8192 if u >= 4096 else u)
            p += 2
        elif b < 0xF0:
            if p + 2 > end:
                raise ValueError("listpack entry overflows")
            n = ((b & 0x0F) << 8) | buf[p + 1]
            p += 2
            if p + n > end:
                raise ValueError("listpack string overflows")
            out.append(bytes(buf[p:p + n]))
            p += n
        elif b == 0xF0:
            if p + 5 > end:
                raise ValueError("listpack entry overflows")
            n = int.from_bytes(buf[p + 1:p + 5], "little")
            p += 5
            if p + n > end:
                raise ValueError("listpack string overflows")
            out.append(bytes(buf[p:p + n]))
            p += n
        elif 0xF1 <= b <= 0xF4:
            w = (2, 3, 4, 8)[b - 0xF1]
            if p + 1 + w > end:
                raise ValueError("listpack entry overflows")
            out.append(int.from_bytes(buf[p + 1:p + 1 + w], "little", signed=True))
            p += 1 + w
        else:
            raise ValueError("bad listpack entry encoding")
        ln = p - start
        bl = backlen_size(ln)
        if validate and (p + bl > end or buf[p:p + bl] != _backlen(ln)):
            raise ValueError("bad listpack backlen")
        p += bl
    if p != end or buf[end] != EOF:
        raise ValueError("listpack not terminated")
    if validate and count != COUNT_UNKNOWN and count != len(out):
        raise ValueError("listpack count mismatch")
    return out


def parse_bytes(buf, validate: bool = True) -> list[bytes]:
    """parse() with integers turned back into their text, as a hash or list holds them."""
    return [e if type(e) is bytes else b"%d" % e for e in parse(buf, validate)]
