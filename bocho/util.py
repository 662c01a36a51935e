"""Argument parsing shared by many commands, so that error texts are identical everywhere."""

from __future__ import annotations

import math

from bocho.errors import NOT_FLOAT, NOT_INTEGER, CommandError

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


def parse_int(b: bytes, err: bytes = NOT_INTEGER) -> int:
    """A signed 64-bit integer as Redis's string2ll: no spaces, no '+', no leading zeros."""
    if not b or len(b) > 20:
        raise CommandError(err)
    c0 = b[0]
    if not (48 <= c0 <= 57 or c0 == 45) or (c0 == 48 and len(b) > 1) or b == b"-":
        raise CommandError(err)
    if c0 == 45 and len(b) > 1 and b[1] == 48:
        raise CommandError(err)
    try:
        v = int(b)
    except ValueError:
        raise CommandError(err) from None
    if not I64_MIN <= v <= I64_MAX or not b.isascii() or b"_" in b or b" " in b:
        raise CommandError(err)
    return v


def parse_float(b: bytes, err: bytes = NOT_FLOAT) -> float:
    """A double as Redis's string2ld/strtold: 'inf', '-inf' ok, NaN and spaces refused."""
    if not b or b[0] in b" \t\r\n" or b[-1] in b" \t\r\n" or b"_" in b:
        raise CommandError(err)
    try:
        v = float(b)
    except ValueError:
        raise CommandError(err) from None
    if math.isnan(v):
        raise CommandError(err)
    return v


def parse_nonneg(b: bytes, err: bytes = NOT_INTEGER) -> int:
    v = parse_int(b, err)
    if v < 0:
        raise CommandError(err)
    return v


def match(pattern: bytes, s: bytes, nocase: bool = False) -> bool:
    """Redis's stringmatchlen glob: * ? [abc] [^a] [a-z] and backslash escapes."""
    from bocho.glob import stringmatch
    return stringmatch(pattern, s, nocase)
