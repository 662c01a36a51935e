"""RESP2/RESP3 reply encoding. Hot replies are preallocated bytes; the rest are built with
bytes %-formatting, which is the cheapest way CPython has to join a header and a body.

Functions that differ between protocols take `resp` (2 or 3), the client's version."""

import math

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
QUEUED = b"+QUEUED\r\n"
NULL_BULK = b"$-1\r\n"  # RESP2 nil bulk
NULL_ARRAY = b"*-1\r\n"  # RESP2 nil multi-bulk
NULL3 = b"_\r\n"  # RESP3 null
EMPTY_ARRAY = b"*0\r\n"
EMPTY_BULK = b"$0\r\n\r\n"
ZERO = b":0\r\n"
ONE = b":1\r\n"

CRLF = b"\r\n"

_INTS = [b":%d\r\n" % i for i in range(10000)]
_ARRAY_HDR = [b"*%d\r\n" % i for i in range(1024)]
# "$<len>\r\n" for short values: header + value + CRLF by concatenation is about twice
# as fast as %-formatting, and GET builds one such reply per request.
BULK_HDR_MAX = 1024
BULK_HDR = [b"$%d\r\n" % i for i in range(BULK_HDR_MAX)]


def integer(n: int) -> bytes:
    if 0 <= n < 10000:
        return _INTS[n]
    return b":%d\r\n" % n


def bulk(b: bytes) -> bytes:
    n = len(b)
    if n < BULK_HDR_MAX:
        return BULK_HDR[n] + b + CRLF
    return b"$%d\r\n%s\r\n" % (n, b)


def bulks(items) -> bytes:
    """The bulk strings of items, without a header."""
    return b"".join([BULK_HDR[len(b)] + b + CRLF if len(b) < BULK_HDR_MAX
                     else b"$%d\r\n%s\r\n" % (len(b), b) for b in items])


def bulk_strings(items: list[bytes]) -> bytes:
    """An array of bulk strings (no nils): one join over "$len\r\nvalue" parts. The
    compiled request loop replaces it with its C builder (use_compiled_bulk_strings)."""
    if not items:
        return b"*0\r\n"
    try:
        body = CRLF.join([BULK_HDR[len(x)] + x for x in items])
    except IndexError:  # an element of BULK_HDR_MAX bytes or more
        body = CRLF.join([b"$%d\r\n%s" % (len(x), x) for x in items])
    return array_header(len(items)) + body + CRLF


def use_compiled_bulk_strings(fastpath) -> None:
    """network.install_fastpath hands over _fastpath.bulk_array, which falls back on the
    Python builder for lists of anything but bytes."""
    global bulk_strings
    fastpath.set_bulk_fallback(bulk_strings)
    bulk_strings = fastpath.bulk_array


def bulk_or_null(b: bytes | None, resp: int) -> bytes:
    if b is None:
        return NULL3 if resp == 3 else NULL_BULK
    return b"$%d\r\n%s\r\n" % (len(b), b)


def null(resp: int) -> bytes:
    return NULL3 if resp == 3 else NULL_BULK


def null_array(resp: int) -> bytes:
    return NULL3 if resp == 3 else NULL_ARRAY


def simple(s: bytes) -> bytes:
    return b"+%s\r\n" % s


def error(msg: bytes) -> bytes:
    return b"-%s\r\n" % msg


def array_header(n: int) -> bytes:
    if n < 1024:
        return _ARRAY_HDR[n]
    return b"*%d\r\n" % n


def help_reply(name: str, lines: list[str]) -> bytes:
    """addReplyHelp, for every `<CONTAINER> HELP`: the usage header, `lines`, and the
    HELP entry Redis appends to each, as an array of status replies."""
    out = [f"{name.upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
           *lines, "HELP", "    Prints this help."]
    return array_header(len(out)) + b"".join(b"+%s\r\n" % s.encode() for s in out)


def bulk_array(items) -> bytes:
    """An array of bulk strings (None items become nil)."""
    parts = [array_header(len(items))]
    for b in items:
        if b is None:
            parts.append(NULL_BULK)
        else:
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def map_header(n: int, resp: int) -> bytes:
    """Header of a map of n pairs: `%n` in RESP3, a flat array of 2n in RESP2."""
    return b"%%%d\r\n" % n if resp == 3 else array_header(2 * n)


def set_header(n: int, resp: int) -> bytes:
    return b"~%d\r\n" % n if resp == 3 else array_header(n)


def format_double(d: float) -> bytes:
    """A double as Redis prints it in replies (%.17g, inf/-inf)."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    if d == int(d) and abs(d) < 1e17:
        return b"%d" % int(d)
    return (b"%.17g" % d)


def double(d: float, resp: int) -> bytes:
    s = format_double(d)
    if resp == 3:
        return b",%s\r\n" % s
    return b"$%d\r\n%s\r\n" % (len(s), s)


def boolean(v: bool, resp: int) -> bytes:
    if resp == 3:
        return b"#t\r\n" if v else b"#f\r\n"
    return ONE if v else ZERO


def verbatim(text: bytes, resp: int, fmt: bytes = b"txt") -> bytes:
    if resp == 3:
        return b"=%d\r\n%s:%s\r\n" % (len(text) + 4, fmt, text)
    return b"$%d\r\n%s\r\n" % (len(text), text)


def big_number(n: int, resp: int) -> bytes:
    if resp == 3:
        return b"(%d\r\n" % n
    s = b"%d" % n
    return b"$%d\r\n%s\r\n" % (len(s), s)


def encode(value, resp: int) -> bytes:
    """Encode a plain Python value: bytes/str -> bulk, int -> integer, None -> null,
    list/tuple -> array, dict -> map, set/frozenset -> set, float -> double,
    bool -> boolean. Not for the hot path: for introspection replies (CONFIG, COMMAND,
    CLIENT INFO...) whose shape is easiest written as data."""
    t = type(value)
    if t is bytes:
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if t is str:
        b = value.encode()
        return b"$%d\r\n%s\r\n" % (len(b), b)
    if t is bool:
        return boolean(value, resp)
    if t is int:
        return integer(value)
    if value is None:
        return null(resp)
    if t is list or t is tuple:
        return array_header(len(value)) + b"".join([encode(v, resp) for v in value])
    if t is dict:
        parts = [map_header(len(value), resp)]
        for k, v in value.items():
            parts.append(encode(k, resp))
            parts.append(encode(v, resp))
        return b"".join(parts)
    if t is set or t is frozenset:
        return set_header(len(value), resp) + b"".join([encode(v, resp) for v in value])
    if t is float:
        return double(value, resp)
    if isinstance(value, Status):
        return b"+%s\r\n" % value.text
    if isinstance(value, Raw):
        return value.data
    raise TypeError(f"cannot encode {t!r}")


class Status:
    """A simple-string (+...) reply inside an encoded structure."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text


class Raw:
    """Already-encoded bytes inside an encoded structure."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data
