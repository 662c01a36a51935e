"""Argument parsing shared by many commands, so that error texts are identical everywhere."""

from __future__ import annotations

from bocho.errors import NOT_INTEGER, CommandError

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


def parse_int(b: bytes, err: bytes = NOT_INTEGER) -> int:
    """A signed 64-bit integer as Redis's string2ll: ASCII digits only (no spaces, '+',
    '_' or newlines, which int() would accept), no leading zeros, no "-0"."""
    n = len(b)
    if b.isdigit():  # bytes.isdigit is ASCII-only
        if n > 19 or (b[0] == 48 and n > 1):
            raise CommandError(err)
        v = int(b)
        if v > I64_MAX:
            raise CommandError(err)
        return v
    if n > 1 and b[0] == 45 and b[1] != 48 and n <= 20 and b[1:].isdigit():
        v = int(b)
        if v < I64_MIN:
            raise CommandError(err)
        return v
    raise CommandError(err)


def chunk_sizes(count: int, size: int = 1024):
    """count split into chunks of at most `size` (replies made a piece at a time)."""
    while count > 0:
        k = size if count > size else count
        yield k
        count -= k


def index_span(start: int, end: int, n: int) -> tuple[int, int] | None:
    """LRANGE/LTRIM/ZRANGE-by-rank index arithmetic: start/end count from the tail when
    negative and are inclusive; the clamped (start, end), or None when the span is empty."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    if end >= n:
        end = n - 1
    return start, end


def parse_cursor(b: bytes) -> int:
    """A SCAN-family cursor as Redis's strtoul: an unsigned 64-bit number; a sign is
    allowed ("-1" wraps to 2**64-1), leading spaces and trailing junk are not."""
    if b[:1].isspace():
        raise CommandError(b"ERR invalid cursor")
    s = b.lstrip()
    neg = s[:1] == b"-"
    digits = s[1:] if s[:1] in (b"-", b"+") else s
    if not digits:
        if b == b"":
            return 0
        raise CommandError(b"ERR invalid cursor")
    if not digits.isdigit() or not digits.isascii():
        raise CommandError(b"ERR invalid cursor")
    v = int(digits)
    if v >= 2**64:
        raise CommandError(b"ERR invalid cursor")
    return (-v) % 2**64 if neg else v


# -- doubles: C's strtod as Redis uses it ------------------------------------------------

_C_SPACE = b" \t\n\v\f\r"


def _strtod_all(s: bytes) -> float | None:
    """strtod over the whole of s (no leading space): the value, inf/0.0 on overflow/
    underflow as glibc returns them, or None when s is not entirely one number."""
    if not s.isascii() or b"_" in s or s[-1:] in _C_SPACE:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    body = s[1:] if s[:1] in b"+-" else s
    if body[:2].lower() != b"0x":
        return None
    try:
        return float.fromhex(s.decode())
    except (ValueError, OverflowError):
        return None


def _range_error(s: bytes, v: float) -> bool:
    """glibc's ERANGE for a result that overflowed to inf or underflowed to zero."""
    if v == 0.0:
        mant = s.lower()
        if b"x" in mant:
            mant = mant.split(b"x", 1)[1].split(b"p", 1)[0]
            return any(ch != 48 and ch != 46 for ch in mant)
        return any(48 < ch <= 57 for ch in mant.split(b"e", 1)[0])
    return v in (_INF, -_INF) and b"inf" not in s.lower()


_INF = float("inf")


def parse_double(b: bytes) -> float | None:
    """Redis's string2d (getDoubleFromObject): the whole string one double; no leading
    space, no NaN, no overflow or underflow to zero. None when invalid."""
    if b.isdigit():  # the common case, an integer: only overflow can go wrong
        v = float(b)
        return v if v != _INF else None
    if not b or b[0] in _C_SPACE:
        return None
    v = _strtod_all(b)
    if v is None or v != v or _range_error(b, v):
        return None
    return v


def parse_strtod(b: bytes) -> float | None:
    """Plain strtod with a check that nothing follows (zslParseRange): leading space is
    skipped, overflow gives +-inf, "" is 0; NaN or trailing junk give None."""
    if not b:
        return 0.0
    s = b.lstrip(_C_SPACE)
    if not s:
        return None
    v = _strtod_all(s)
    if v is None or v != v:
        return None
    return v
