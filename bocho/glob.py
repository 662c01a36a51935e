"""Glob matching as Redis's stringmatchlen (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET):
`*`, `?`, `[...]` with ranges and `^` negation, and `\\` escapes. Patterns are compiled
to regular expressions once and cached."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def _compile(pattern: bytes, nocase: bool) -> re.Pattern[bytes]:
    out = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i:i + 1]
        if ch == b"*":
            while i + 1 < n and pattern[i + 1:i + 2] == b"*":
                i += 1
            out.append(b".*")
        elif ch == b"?":
            out.append(b".")
        elif ch == b"[":
            i += 1
            neg = False
            if i < n and pattern[i:i + 1] == b"^":
                neg = True
                i += 1
            items = []
            while i < n and pattern[i:i + 1] != b"]":
                if pattern[i:i + 1] == b"\\" and i + 1 < n:
                    i += 1
                    items.append(re.escape(pattern[i:i + 1]))
                elif i + 2 < n and pattern[i + 1:i + 2] == b"-" and pattern[i + 2:i + 3] != b"]":
                    a, b = pattern[i], pattern[i + 2]
                    if a > b:
                        a, b = b, a
                    items.append(re.escape(bytes([a])) + b"-" + re.escape(bytes([b])))
                    i += 2
                else:
                    items.append(re.escape(pattern[i:i + 1]))
                i += 1
            body = b"".join(items)
            if not body:
                out.append(b"[^\\s\\S]" if not neg else b"[\\s\\S]")
            else:
                out.append(b"[" + (b"^" if neg else b"") + body + b"]")
        elif ch == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i:i + 1]))
        else:
            out.append(re.escape(ch))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if nocase else 0)
    return re.compile(b"".join(out) + b"\\Z", flags)


def stringmatch(pattern: bytes, s: bytes, nocase: bool = False) -> bool:
    if pattern == b"*":
        return True
    return _compile(pattern, nocase).match(s) is not None


def compile_glob(pattern: bytes, nocase: bool = False):
    """A match function for repeated use (KEYS over the whole keyspace)."""
    if pattern == b"*":
        return lambda s: True
    m = _compile(pattern, nocase).match
    return lambda s: m(s) is not None
