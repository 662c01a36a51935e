"""x87 `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT.

Redis parses these operands with strtold, adds them in 80-bit extended precision
(64-bit significand) and prints the sum with "%.17Lf" minus trailing zeros. A Python
float would print 10.5 + 0.1 as 10.59999999999999964, Redis prints 10.6, so the result
is computed exactly with Fractions and rounded the way the FPU rounds. Values are a
Fraction (finite) or a float infinity. Not on any hot path."""

from __future__ import annotations

import re
from fractions import Fraction

INF = float("inf")
_MANT_BITS = 64
_MIN_QUANTUM = -16445  # exponent of the smallest subnormal, 2**-16445
_OVERFLOW = 1 << 16384  # the first power of two past LDBL_MAX
_MAX_CHARS = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS

_DEC = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\Z")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?\Z")
_INF = re.compile(rb"[+-]?(inf|infinity)\Z", re.IGNORECASE)


_CHUNK = 4000  # decimal digits per piece: CPython refuses int<->str beyond 4300 digits


def _dec_to_int(digits: bytes) -> int:
    v = 0
    for i in range(0, len(digits), _CHUNK):
        piece = digits[i:i + _CHUNK]
        v = v * 10 ** len(piece) + int(piece)
    return v


def _int_to_dec(n: int) -> bytes:
    parts = []
    base = 10**_CHUNK
    while n >= base:
        n, r = divmod(n, base)
        parts.append(b"%0*d" % (_CHUNK, r))
    parts.append(b"%d" % n)
    return b"".join(reversed(parts))


def round_ext(x: Fraction) -> Fraction | float:
    """x rounded to the nearest long double (ties to even); +-inf on overflow."""
    if x == 0:
        return Fraction(0)
    neg = x < 0
    a = -x if neg else x
    n, d = a.numerator, a.denominator
    e = n.bit_length() - d.bit_length()
    # make 2**e <= a < 2**(e+1)
    if (n < d << e) if e >= 0 else ((n << -e) < d):
        e -= 1
    q = max(e - (_MANT_BITS - 1), _MIN_QUANTUM)
    if q >= 0:
        m, r = divmod(n, d << q)
        den = d << q
    else:
        m, r = divmod(n << -q, d)
        den = d
    if 2 * r > den or (2 * r == den and m & 1):
        m += 1
    v = Fraction(m << q) if q >= 0 else Fraction(m, 1 << -q)
    if v >= _OVERFLOW:
        return -INF if neg else INF
    return -v if neg else v


def parse(b: bytes) -> Fraction | float | None:
    """Redis's string2ld: the whole string must be one strtold number; no spaces,
    no NaN, no overflow or underflow to zero. None when invalid."""
    if not b or len(b) >= _MAX_CHARS or b[0] in b" \t\n\v\f\r":
        return None
    m = _DEC.match(b)
    if m:
        sign, ip, fp, ex = m.groups()
        fp = fp or b""
        if not ip and not fp:
            return None
        digits = (ip + fp).lstrip(b"0")
        if not digits:
            return Fraction(0)
        exp = int(ex or 0) - len(fp)
        mag = len(digits) + exp - 1  # value is about 10**mag
        if mag > 4933 or mag < -4952:
            return None  # ERANGE: overflow, or underflow to zero
        v = Fraction(_dec_to_int(digits)) * Fraction(10) ** exp
    else:
        m = _HEX.match(b)
        if m:
            sign, ip, fp, ex = m.groups()
            fp = fp or b""
            if not ip and not fp:
                return None
            exp = int(ex or 0) - 4 * len(fp)
            mant = int(ip + fp, 16)
            if mant == 0:
                return Fraction(0)
            mag = mant.bit_length() + exp
            if mag > 16400 or mag < -16500:
                return None
            v = Fraction(mant) * Fraction(2) ** exp
        elif _INF.match(b):
            return -INF if b[0] == 45 else INF
        else:
            return None
    r = round_ext(v)
    if r == 0 or isinstance(r, float):
        return None
    return -r if sign == b"-" else r


def from_int(n: int) -> Fraction:
    return Fraction(n)


def add(a: Fraction | float, b: Fraction | float) -> Fraction | float | None:
    """a + b in long double; None when the result is NaN or infinite."""
    if isinstance(a, float) or isinstance(b, float):
        return None  # inf + x is inf, inf - inf is NaN: both refused
    r = round_ext(a + b)
    return None if isinstance(r, float) else r


def format_human(x: Fraction) -> bytes:
    """ld2string(LD_STR_HUMAN): "%.17Lf" without trailing zeros (and no "-0")."""
    neg = x < 0
    a = -x if neg else x
    scaled = a * 10**17
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r > scaled.denominator or (2 * r == scaled.denominator and q & 1):
        q += 1
    s = _int_to_dec(q).rjust(18, b"0")
    ip, fp = s[:-17], s[-17:].rstrip(b"0")
    out = ip + b"." + fp if fp else ip
    if neg and out != b"0":
        out = b"-" + out
    return out
