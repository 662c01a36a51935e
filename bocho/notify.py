"""Keyspace notifications (notify-keyspace-events): flag parsing and the event classes
handlers pass to Server.notify."""

KEYSPACE = 1 << 0  # K
KEYEVENT = 1 << 1  # E
GENERIC = 1 << 2  # g
STRING = 1 << 3  # $
LIST = 1 << 4  # l
SET = 1 << 5  # s
HASH = 1 << 6  # h
ZSET = 1 << 7  # z
EXPIRED = 1 << 8  # x
EVICTED = 1 << 9  # e
STREAM = 1 << 10  # t
KEY_MISS = 1 << 11  # m (excluded from A)
MODULE = 1 << 12  # d
NEW = 1 << 13  # n (excluded from A)
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE

_CHARS = {"K": KEYSPACE, "E": KEYEVENT, "g": GENERIC, "$": STRING, "l": LIST, "s": SET,
          "h": HASH, "z": ZSET, "x": EXPIRED, "e": EVICTED, "t": STREAM, "m": KEY_MISS,
          "d": MODULE, "n": NEW, "A": ALL}


def parse_flags(s: str) -> int:
    flags = 0
    for ch in s:
        flags |= _CHARS[ch]
    return flags


def valid(s: str) -> bool:
    return all(ch in _CHARS for ch in s)


def flags_to_string(flags: int) -> str:
    """keyspaceEventsFlagsToString: the canonical spelling CONFIG GET and REWRITE show."""
    out = []
    if flags & ALL == ALL:
        out.append("A")
    else:
        for ch in "g$lshzxetdn":
            if flags & _CHARS[ch]:
                out.append(ch)
    for ch in "KEm":
        if flags & _CHARS[ch]:
            out.append(ch)
    return "".join(out)
