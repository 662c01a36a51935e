"""Redis's intset bytes (intset.c), as RDB and DUMP carry a set of integers.

Layout: the width of every value in bytes (u32 LE: 2, 4 or 8, the narrowest that holds
both the smallest and the largest member), the number of values (u32 LE), then the
values ascending, little-endian signed. An intset is never empty."""

from __future__ import annotations

from array import array

_CODES = {2: "h", 4: "i", 8: "q"}


def width(lo: int, hi: int) -> int:
    """The intset encoding that holds every value from lo to hi."""
    if -32768 <= lo and hi <= 32767:
        return 2
    if -2147483648 <= lo and hi <= 2147483647:
        return 4
    return 8


def build(values) -> bytes:
    """The intset of sorted distinct ints (an array('q') or a list)."""
    n = len(values)
    w = width(values[0], values[-1]) if n else 2
    body = values.tobytes() if w == 8 and type(values) is not list else \
        array(_CODES[w], values).tobytes()
    return w.to_bytes(4, "little") + n.to_bytes(4, "little") + body


def parse(buf, check_order: bool = True, cls: type = array) -> array:
    """The values of an intset as a cls("q") (an array subclass); ValueError when the header does not
    match the size, the set is empty, or (check_order) the values are not strictly
    ascending."""
    size = len(buf)
    if size < 8:
        raise ValueError("intset too short")
    w = int.from_bytes(buf[0:4], "little")
    code = _CODES.get(w)
    if code is None:
        raise ValueError("bad intset encoding")
    n = int.from_bytes(buf[4:8], "little")
    if 8 + n * w != size or n == 0:
        raise ValueError("intset length mismatch")
    if w == 8:
        vals = cls("q")
        vals.frombytes(bytes(buf[8:]))
    else:
        narrow = array(code)
        narrow.frombytes(bytes(buf[8:]))
        vals = cls("q", narrow.tolist())
    if check_order and vals.tolist() != sorted(set(vals)):
        raise ValueError("intset not ascending")
    return vals
