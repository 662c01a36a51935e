"""Value types of configuration directives (bool, string, enum, numeric and the special
ones: save, bind, client-output-buffer-limit...): how each parses its arguments with
Redis's exact error texts, formats for CONFIG GET, and writes itself in CONFIG REWRITE.
The table that uses them is bocho.config."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bocho import notify

# Numeric sub-flags.
MEMORY_NUM = 1
PERCENT_NUM = 2
OCTAL_NUM = 4

INTMIN = -(2**31)
INTMAX = 2**31 - 1
UINTMAX = 2**32 - 1
LONGMAX = LLMAX = 2**63 - 1
ULLMAX = 2**64 - 1
DEFAULT_BIND = ["*", "-::*"]


class ConfigError(Exception):
    """Reason text exactly as Redis prints it (after the line / in the CONFIG SET error)."""


# ---------------------------------------------------------------------------------------
# value helpers


def memtoull(s: str) -> int | None:
    """Redis's memtoull: digits then an optional unit (b k kb m mb g gb, any case);
    None when it is not a memory value."""
    if s.startswith("-"):
        return None
    i = 0
    while i < len(s) and s[i].isdigit() and s[i].isascii():
        i += 1
    unit = s[i:].lower()
    mul = _UNITS.get(unit)
    if mul is None:
        return None
    digits = s[:i]
    val = min(int(digits), ULLMAX) if digits else 0  # strtoull saturates
    if val > ULLMAX // mul:
        return None
    return val * mul


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
          "g": 1000**3, "gb": 1024**3}


def parse_memory(s: str) -> int | None:
    """Kept for callers: '1gb' -> 1073741824, None when not a memory value."""
    return memtoull(s.strip())


def format_memory(n: int) -> str:
    """CONFIG REWRITE's human form: the largest exact unit of 1024."""
    for unit, size in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if n and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def string2ll(s: str) -> int | None:
    """Redis's strict integer syntax: no spaces, no '+', no leading zeros."""
    if not s or len(s) > 20 or not s.isascii():
        return None
    neg = s[0] == "-"
    body = s[1:] if neg else s
    if not body or not body.isdigit() or (body[0] == "0" and (len(body) > 1 or neg)):
        return None
    v = int(s)
    if not -(2**63) <= v <= LLMAX:
        return None
    return v


# sdscatrepr's escapes; other bytes outside printable ASCII become \xHH
_REPR_ESCAPES = {0x5C: b"\\\\", 0x22: b'\\"', 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t",
                 0x07: b"\\a", 0x08: b"\\b"}


def catrepr_bytes(a: bytes) -> bytes:
    """Redis's sdscatrepr: a double-quoted string with C escapes (MONITOR's arguments,
    and config values through catrepr)."""
    out = bytearray(b'"')
    for ch in a:
        esc = _REPR_ESCAPES.get(ch)
        if esc is not None:
            out += esc
        elif 32 <= ch < 127:
            out.append(ch)
        else:
            out += b"\\x%02x" % ch
    out += b'"'
    return bytes(out)


def catrepr(s: str) -> str:
    """catrepr_bytes for a config value: surrogateescape'd bytes come back as the byte
    they were, other characters as their UTF-8 bytes."""
    return catrepr_bytes(s.encode("utf-8", "surrogateescape")).decode("ascii")


def trim_double(s: str) -> str:
    """Redis's trimDoubleString over a "%f" rendering."""
    if "." in s:
        s = s.rstrip("0")
        if s.endswith("."):
            s = s[:-1]
    return s


# ---------------------------------------------------------------------------------------
# directive types


class Directive:
    """One configuration directive. Subclasses define parse/format/rewrite."""

    kind = "special"

    def __init__(self, name: str, default: Any, flags: int = 0, alias: str | None = None) -> None:
        self.name = name
        self.default = default
        self.flags = flags
        self.alias = alias

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.alias,) if self.alias else ()

    def parse(self, args: list[str]) -> Any:
        raise NotImplementedError

    def format(self, value: Any) -> str:
        return str(value)

    def rewrite(self, value: Any, state: Any, name: str) -> None:
        state.rewrite_line(name, f"{name} {self.format(value)}", value != self.default)


def _one(args: list[str]) -> str:
    if len(args) != 1:
        raise ConfigError("wrong number of arguments")
    return args[0]


class BoolDirective(Directive):
    kind = "bool"

    def __init__(self, name, default, flags=0, alias=None, check=None):
        super().__init__(name, default, flags, alias)
        self.check = check

    def parse(self, args):
        v = _one(args).lower()
        if v not in ("yes", "no"):
            raise ConfigError("argument must be 'yes' or 'no'")
        val = v == "yes"
        if self.check is not None:
            self.check(val)
        return val

    def format(self, value):
        return "yes" if value else "no"


class StringDirective(Directive):
    """String and SDS configs. `empty_is_null`: "" means unset, which CONFIG REWRITE
    expresses by removing the directive from the file."""

    kind = "string"

    def __init__(self, name, default, flags=0, alias=None, empty_is_null=True, check=None):
        super().__init__(name, default, flags, alias)
        self.empty_is_null = empty_is_null
        self.check = check

    def parse(self, args):
        v = _one(args)
        if self.check is not None:
            self.check(v)
        return v

    def rewrite(self, value, state, name):
        if value == "" and self.empty_is_null:
            state.mark_processed(name)
            return
        force = not (self.default is not None and value == self.default)
        state.rewrite_line(name, f"{name} {catrepr(value)}", force)


class EnumDirective(Directive):
    kind = "enum"

    def __init__(self, name, default, values, flags=0, alias=None, bitflags=False, check=None):
        super().__init__(name, default, flags, alias)
        self.values = values  # [(name, int)] in Redis's order
        self.bitflags = bitflags
        self.check = check

    def _error(self) -> ConfigError:
        return ConfigError("argument(s) must be one of the following: "
                           + ", ".join(n for n, _ in self.values))

    def to_int(self, args: list[str]) -> int:
        if not args or (not self.bitflags and len(args) != 1):
            raise self._error()
        out = 0
        for a in args:
            la = a.lower()
            hit = [v for n, v in self.values if n == la]
            if not hit:
                raise self._error()
            out |= hit[0]
        return out

    def name_of(self, val: int) -> str:
        names: list[str] = []
        unmatched = val
        for n, v in self.values:
            if v == val:
                return n
            if self.bitflags and v and v == unmatched & v:
                names.append(n)
                unmatched &= ~v
        if not names or unmatched:
            return "unknown"
        return " ".join(names)

    def parse(self, args):
        val = self.to_int(args)
        if self.check is not None:
            self.check(val)
        return self.name_of(val)


class NumericDirective(Directive):
    kind = "numeric"

    def __init__(self, name, default, lo, hi, flags=0, alias=None, num=0, unsigned=False):
        super().__init__(name, default, flags, alias)
        self.lo, self.hi, self.num, self.unsigned = lo, hi, num, unsigned

    def parse(self, args):
        s = _one(args)
        v = self._parse_number(s)
        self._check_bounds(v)
        return v

    def _parse_number(self, s: str) -> int:
        num = self.num
        if num & MEMORY_NUM:
            v = memtoull(s)
            if v is not None:
                # stored in a signed slot unless the type is unsigned: wrap like C
                if not self.unsigned and v > LLMAX:
                    v -= 2**64
                return v
        if num & PERCENT_NUM and len(s) > 1 and s.endswith("%"):
            v = string2ll(s[:-1])
            if v is not None and v >= 0:
                return -v
        if num & OCTAL_NUM:
            try:
                return int(s, 8)
            except ValueError:
                pass
        if not num:
            v = string2ll(s)
            if v is not None:
                return v
        if num & MEMORY_NUM and num & PERCENT_NUM:
            raise ConfigError("argument must be a memory or percent value")
        if num & MEMORY_NUM:
            raise ConfigError("argument must be a memory value")
        if num & OCTAL_NUM:
            raise ConfigError("argument couldn't be parsed as an octal number")
        raise ConfigError("argument couldn't be parsed into an integer")

    def _check_bounds(self, v: int) -> None:
        if self.unsigned:
            u = v % 2**64  # C's cast of a negative to unsigned
            if not self.lo <= u <= self.hi:
                if self.num & OCTAL_NUM:
                    raise ConfigError(f"argument must be between {self.lo:o} and {self.hi:o} inclusive")
                raise ConfigError(f"argument must be between {self.lo} and {self.hi} inclusive")
        elif self.num & PERCENT_NUM and v < 0:
            if v < self.lo:
                raise ConfigError(f"percentage argument must be less or equal to {-self.lo}")
        elif not self.lo <= v <= self.hi:
            raise ConfigError(f"argument must be between {self.lo} and {self.hi} inclusive")

    def format(self, value):
        if self.num & PERCENT_NUM and value < 0:
            return f"{-value}%"
        if self.num & OCTAL_NUM:
            return f"{value:o}"
        return str(value)

    def rewrite(self, value, state, name):
        force = value != self.default
        if self.num & PERCENT_NUM and value < 0:
            text = f"{-value}%"
        elif self.num & MEMORY_NUM:
            text = format_memory(value)
        elif self.num & OCTAL_NUM:
            text = f"{value:o}"
        else:
            text = str(value)
        state.rewrite_line(name, f"{name} {text}", force)


class SpecialDirective(Directive):
    kind = "special"

    def __init__(self, name, default, parse, fmt, rewrite, flags=0, alias=None):
        super().__init__(name, default, flags, alias)
        self._parse, self._fmt, self._rewrite = parse, fmt, rewrite

    def parse(self, args):
        return self._parse(args)

    def format(self, value):
        return self._fmt(value)

    def rewrite(self, value, state, name):
        self._rewrite(self, value, state, name)


# -- special directives ------------------------------------------------------------------

def _parse_save(args: list[str]) -> list[tuple[int, int]]:
    if len(args) == 1 and args[0] == "":
        args = []
    if len(args) % 2:
        raise ConfigError("Invalid save parameters")
    vals = []
    for j, a in enumerate(args):
        v = _strtoll(a)
        if v is None or (j % 2 == 0 and v < 1) or (j % 2 == 1 and v < 0):
            raise ConfigError("Invalid save parameters")
        vals.append(v)
    return [(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]


def _strtoll(s: str) -> int | None:
    """C's strtoll plus a check that it consumed the whole string ("" reads as 0)."""
    if s == "":
        return 0
    t = s.lstrip(" \t\n\r\f\v")
    sign = ""
    if t[:1] in ("+", "-"):
        sign, t = t[0], t[1:]
    if not t or not t.isdigit() or not t.isascii():
        return None
    return max(-(2**63), min(LLMAX, int(sign + t)))


def _rewrite_save(d, value, state, name):
    if not value:
        state.rewrite_line(name, 'save ""', True)
    else:
        for s, c in value:
            state.rewrite_line(name, f"save {s} {c}", True)
    state.mark_processed(name)


def _parse_bind(args: list[str]) -> list[str]:
    if len(args) > 16:
        raise ConfigError("Too many bind addresses specified.")
    if len(args) == 1 and args[0] == "":
        return []
    return list(args)


def _rewrite_bind(d, value, state, name):
    if value == DEFAULT_BIND:
        state.mark_processed(name)
        return
    addrs = " ".join(value) if value else '""'
    state.rewrite_line(name, f"{name} {addrs}", True)


OBUF_CLASSES = ("normal", "replica", "pubsub")
OBUF_DEFAULTS = {"normal": (0, 0, 0), "replica": (256 * 1024**2, 64 * 1024**2, 60),
                 "pubsub": (32 * 1024**2, 8 * 1024**2, 60)}


def _parse_obuf(args: list[str]) -> dict[str, tuple[int, int, int]]:
    """client-output-buffer-limit <class> <hard> <soft> <soft-seconds> [...]; classes not
    named keep their current limits (merged by Config)."""
    if len(args) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = {}
    for i in range(0, len(args), 4):
        cls = args[i].lower()
        if cls == "slave":
            cls = "replica"
        if cls not in OBUF_CLASSES:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        hard, soft = memtoull(args[i + 1]), memtoull(args[i + 2])
        secs = _strtoll(args[i + 3])
        if hard is None or soft is None or secs is None or secs < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.")
        out[cls] = (hard, soft, secs)
    return out


def _format_obuf(v: dict[str, tuple[int, int, int]]) -> str:
    return " ".join(f"{'slave' if c == 'replica' else c} {h} {s} {t}"
                    for c, (h, s, t) in ((c, v[c]) for c in OBUF_CLASSES))


def _rewrite_obuf(d, value, state, name):
    for cls in OBUF_CLASSES:
        h, s, t = value[cls]
        force = (h, s, t) != OBUF_DEFAULTS[cls]
        state.rewrite_line(name, f"{name} {cls} {format_memory(h)} {format_memory(s)} {t}", force)


def _parse_oom_values(args: list[str]) -> tuple[int, int, int]:
    if len(args) != 3:
        raise ConfigError("wrong number of arguments")
    vals = []
    for a in args:
        v = _strtoll(a)
        if v is None or not -2000 <= v <= 2000:
            raise ConfigError("Invalid oom-score-adj-values, elements must be between -2000 "
                              "and 2000.")
        vals.append(v)
    return tuple(vals)  # type: ignore[return-value]


def _rewrite_oom_values(d, value, state, name):
    state.rewrite_line(name, f"{name} " + " ".join(map(str, value)), tuple(value) != d.default)


def _parse_notify(args: list[str]) -> str:
    v = _one(args)
    if not notify.valid(v):
        raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return v


def _rewrite_notify(d, value, state, name):
    flags = notify.parse_flags(value)
    state.rewrite_line(name, f"{name} {catrepr(notify.flags_to_string(flags))}", flags != 0)


def _parse_replicaof(args: list[str]) -> list[str] | None:
    if len(args) != 2:
        raise ConfigError("wrong number of arguments")
    if args[0].lower() == "no" and args[1].lower() == "one":
        return None
    port = _strtoll(args[1])
    if port is None or not 0 <= port <= 65535 or args[1] == "":
        raise ConfigError("Invalid master port")
    return [args[0], str(port)]


def _rewrite_replicaof(d, value, state, name):
    if value is None or state.cluster_enabled:
        state.mark_processed(name)
        return
    state.rewrite_line(name, f"{name} {value[0]} {value[1]}", True)


def _parse_percentiles(args: list[str]) -> list[float]:
    if len(args) == 1 and args[0] == "":
        return []
    out = []
    for a in args:
        try:
            f = float(a) if a.strip() == a and a else float("nan")
        except ValueError:
            f = float("nan")
        if f != f:
            raise ConfigError("Invalid latency-tracking-info-percentiles parameters")
        if not 0.0 <= f <= 100.0:
            raise ConfigError("latency-tracking-info-percentiles parameters should sit "
                              "between [0.0,100.0]")
        out.append(f)
    return out


def _fmt_percentiles(v: list[float]) -> str:
    return " ".join(trim_double(f"{f:f}") for f in v)


def _rewrite_percentiles(d, value, state, name):
    text = _fmt_percentiles(value) if value else '""'
    state.rewrite_line(name, f"{name} {text}", True)


def _parse_dir(args: list[str]) -> str:
    return _one(args)


def _rewrite_dir(d, value, state, name):
    try:
        cwd = os.getcwd()
    except OSError:
        state.mark_processed(name)
        return
    state.rewrite_line(name, f"{name} {catrepr(cwd)}", True)


def _cwd(_value: Any) -> str:
    try:
        return os.getcwd()
    except OSError:
        return ""


# -- validators --------------------------------------------------------------------------

def _basename_check(what: str, allow_empty: bool = True, noun: str = "filename"):
    def check(v: str) -> None:
        if not allow_empty and v == "":
            raise ConfigError(f"{what} can't be empty")
        if "/" in v:
            raise ConfigError(f"{what} can't be a path, just a {noun}")
    return check


def _check_hostname(v: str) -> None:
    if len(v) >= 256:
        raise ConfigError("Hostnames must be less than 256 characters")
    for ch in v:
        if not (ch.isascii() and (ch.isalnum() or ch in "-.")):
            raise ConfigError("Hostnames may only contain alphanumeric characters, hyphens "
                              "or dots")


PROC_TITLE_VARS = ("title", "listen-addr", "server-mode", "config-file", "port", "tls-port",
                   "unixsocket")


def expand_template(template: str, lookup: Callable[[str], str | None]) -> str | None:
    """sdstemplate: {var} substitution, "{{" for a literal '{'; None when malformed or a
    variable is unknown."""
    out = []
    i, n = 0, len(template)
    while i < n:
        j = template.find("{", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        j += 1
        if j >= n:
            return None
        if template[j] == "{":
            out.append("{")
            i = j + 1
            continue
        k = template.find("}", j)
        if k < 0:
            return None
        val = lookup(template[j:k])
        if val is None:
            return None
        out.append(val)
        i = k + 1
    return "".join(out)


def _check_proc_title(v: str) -> None:
    res = expand_template(v, lambda name: "x" if name in PROC_TITLE_VARS else None)
    if res is None or not res.strip(" "):
        raise ConfigError("template format is invalid or contains unknown variables")


def _check_shutdown_flags(val: int) -> None:
    if val & 1 and val & 2:
        raise ConfigError("shutdown options SAVE and NOSAVE can't be used simultaneously")


def _check_activedefrag(val: bool) -> None:
    if val:
        raise ConfigError("Active defragmentation cannot be enabled: it requires a Redis "
                          "server compiled with a modified Jemalloc like the one shipped by "
                          "default with the Redis source distribution")
