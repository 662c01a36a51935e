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
