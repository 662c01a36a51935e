"""Glob matching as Redis's stringmatchlen (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET):
`*`, `?`, `[...]` with ranges and `^` negation, and `\\` escapes. Patterns are compiled
to regular expressions once and cached."""

from __future__ import annotations

import re
from functools import lru_cache

_STAR = object()


def _atoms(pattern: bytes) -> list:
    """The pattern as a list of _STAR and one-byte regex atoms (literal, '.', class)."""
    out: list = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i:i + 1]
        if ch == b"*":
            while i + 1 < n and pattern[i + 1:i + 2] == b"*":
                i += 1
            out.append(_STAR)
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
                elif i + 2 < n and pattern[i + 1:i + 2] == b"-":  # the end may be ']'
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
    return out


@lru_cache(maxsize=1024)
def _compile(pattern: bytes, nocase: bool):
    """A match function. Several '*' are not left to the regex engine, whose
    backtracking is exponential on a*a*a*...b against aaaa...: the pattern is cut at
    its stars into fixed-length segments; the first must match at the start, the last
    at the end, and each middle one is placed leftmost (greedy placement is optimal for
    fixed-length segments), so a match costs O(len(s) * len(pattern)) at worst."""
    flags = re.DOTALL | (re.IGNORECASE if nocase else 0)
    segs: list[list] = [[]]
    for a in _atoms(pattern):
        if a is _STAR:
            segs.append([])
        else:
            segs[-1].append(a)
    if len(segs) <= 2:
        m = re.compile(b".*".join(b"".join(seg) for seg in segs) + b"\\Z", flags).match
        return lambda s: m(s) is not None
    first = re.compile(b"".join(segs[0]), flags)
    last = re.compile(b"".join(segs[-1]) + b"\\Z", flags)
    last_len = len(segs[-1])
    middle = [re.compile(b"".join(seg), flags) for seg in segs[1:-1] if seg]

    def match(s: bytes) -> bool:
        m = first.match(s)
        if m is None:
            return False
        pos = m.end()
        for seg in middle:
            m = seg.search(s, pos)
            if m is None:
                return False
            pos = m.end()
        start = len(s) - last_len
        return start >= pos and last.match(s, start) is not None

    return match


def stringmatch(pattern: bytes, s: bytes, nocase: bool = False) -> bool:
    if not s:
        return not pattern  # as stringmatchlen: no pattern char is tried on ""
    if pattern == b"*":
        return True
    return _compile(pattern, nocase)(s)


def compile_glob(pattern: bytes, nocase: bool = False):
    """A match function for repeated use (KEYS over the whole keyspace)."""
    if pattern == b"*":
        return bool  # every key but the empty one
    if not pattern:
        return lambda s: not s
    m = _compile(pattern, nocase)
    return lambda s: bool(s) and m(s)
