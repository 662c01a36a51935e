"""Redis's zipmap bytes (zipmap.c), the small-hash encoding of RDB files written by Redis
2.4 and older. Only read: Redis 7.0 turns a zipmap into a listpack hash on load.

Layout: a count byte (254 = count not known), then per field: its length, its bytes,
the value's length, one byte of free space count, the value's bytes and that many
unused bytes; 0xFF at the end. A length is one byte below 254, else 254 and a u32 LE.

parse() checks what zipmapValidateIntegrity checks (every length inside the buffer, a
non-empty map, a matching count) and raises ValueError."""

from __future__ import annotations

END = 0xFF
BIGLEN = 254


def parse(buf) -> list[bytes]:
    """[field, value, field, value, ...] of a zipmap."""
    size = len(buf)
    if size < 2 or buf[size - 1] != END:
        raise ValueError("zipmap not terminated")
    last = size - 1
    out: list[bytes] = []
    p = 1
    while buf[p] != END:
        for is_value in (False, True):
            b = buf[p]
            if b < BIGLEN:
                s, n = 1, b
            else:
                if p + 5 > last:
                    raise ValueError("zipmap entry overflows")
                s, n = 5, int.from_bytes(buf[p + 1:p + 5], "little")
            p += s
            if p > last:
                raise ValueError("zipmap entry overflows")
            free = 0
            if is_value:
                free = buf[p]
                p += 1
            e = p + n
            if e > last:
                raise ValueError("zipmap entry overflows")
            out.append(bytes(buf[p:e]))
            p = e + free
            if p > last:
                raise ValueError("zipmap entry overflows")
    count = len(out) // 2
    if count == 0:
        raise ValueError("empty zipmap")
    if buf[0] != BIGLEN and buf[0] != count:
        raise ValueError("zipmap count mismatch")
    return out


def build(pairs, count: int | None = None) -> bytes:
    """A zipmap of [field, value, ...] with no free space (for tests and tools)."""
    parts = []
    for i, x in enumerate(pairs):
        n = len(x)
        parts.append(bytes((n,)) if n < BIGLEN else b"\xfe" + n.to_bytes(4, "little"))
        if i & 1:
            parts.append(b"\x00")
        parts.append(x)
    n = len(pairs) // 2 if count is None else count
    return bytes((min(n, BIGLEN),)) + b"".join(parts) + b"\xff"
