"""The one table of configuration directives.

Parsing a redis.conf, `--name value` arguments, CONFIG GET/SET/REWRITE and INFO all read
DIRECTIVES. A directive knows its type (which gives parsing, validation and formatting),
default, aliases and whether CONFIG SET may change it. When a value changes, the server
is told through `Config.on_change` so it can refresh the attributes it caches for the
hot path."""

from __future__ import annotations

import fnmatch
import os
import shlex
from typing import Any, Callable

IMMUTABLE = 1
PROTECTED = 2
MULTI = 4  # repeated lines accumulate (save, bind args are one line; rename-command...)
HIDDEN = 8  # test-only directives Redis hides from CONFIG GET *
DENY_LOADING = 16
SENSITIVE = 32


class ConfigError(Exception):
    """Reason text exactly as Redis prints it (after the line / before CONFIG SET)."""


# ---------------------------------------------------------------------------------------
# value types

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
          "g": 1000**3, "gb": 1024**3}


def parse_memory(s: str) -> int | None:
    """'1gb' -> 1073741824 as Redis's memtoull; None when not a memory value."""
    s = s.strip().lower()
    i = len(s)
    while i > 0 and s[i - 1].isalpha():
        i -= 1
    num, unit = s[:i], s[i:]
    if unit not in _UNITS or not num:
        return None
    try:
        n = int(num)
    except ValueError:
        try:
            f = float(num)
        except ValueError:
            return None
        if f != f:
            return None
        n = int(f)
    return n * _UNITS[unit]


def format_memory(n: int) -> str:
    """CONFIG REWRITE's human form: the largest exact unit of 1024."""
    for unit, size in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if n and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


class Directive:
    __slots__ = ("name", "aliases", "default", "flags", "parse", "format", "kind")

    def __init__(self, name: str, kind: str, default: Any, parse: Callable[[list[str]], Any],
                 fmt: Callable[[Any], str], flags: int = 0, aliases: tuple[str, ...] = ()):
        self.name = name
        self.kind = kind
        self.default = default
        self.parse = parse
        self.format = fmt
        self.flags = flags
        self.aliases = aliases


def _one(args: list[str]) -> str:
    if len(args) != 1:
        raise ConfigError("wrong number of arguments")
    return args[0]


def boolean(name: str, default: bool, flags: int = 0, aliases: tuple[str, ...] = ()) -> Directive:
    def parse(args: list[str]) -> bool:
        v = _one(args).lower()
        if v == "yes":
            return True
        if v == "no":
            return False
        raise ConfigError("argument must be 'yes' or 'no'")

    return Directive(name, "bool", default, parse, lambda v: "yes" if v else "no", flags, aliases)


def integer(name: str, default: int, lo: int, hi: int, flags: int = 0,
            aliases: tuple[str, ...] = (), memory: bool = False) -> Directive:
    def parse(args: list[str]) -> int:
        s = _one(args)
        if memory:
            v = parse_memory(s)
            if v is None:
                raise ConfigError("argument must be a memory value")
        else:
            try:
                v = int(s)
            except ValueError:
                raise ConfigError("argument couldn't be parsed into an integer") from None
        if not lo <= v <= hi:
            raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
        return v

    return Directive(name, "memory" if memory else "int", default, parse, str, flags, aliases)


def memory(name: str, default: int, lo: int = 0, hi: int = 2**63 - 1, flags: int = 0,
           aliases: tuple[str, ...] = ()) -> Directive:
    return integer(name, default, lo, hi, flags, aliases, memory=True)


def enum(name: str, default: str, values: tuple[str, ...], flags: int = 0,
         aliases: tuple[str, ...] = ()) -> Directive:
    def parse(args: list[str]) -> str:
        v = _one(args).lower()
        if v not in values:
            raise ConfigError("argument(s) must be one of the following: " + ", ".join(values))
        return v

    return Directive(name, "enum", default, parse, str, flags, aliases)


def string(name: str, default: str, flags: int = 0, aliases: tuple[str, ...] = (),
           check: Callable[[str], None] | None = None) -> Directive:
    def parse(args: list[str]) -> str:
        v = _one(args)
        if check is not None:
            check(v)
        return v

    return Directive(name, "string", default, parse, str, flags, aliases)


def special(name: str, default: Any, parse: Callable[[list[str]], Any],
            fmt: Callable[[Any], str], flags: int = 0, aliases: tuple[str, ...] = ()) -> Directive:
    return Directive(name, "special", default, parse, fmt, flags, aliases)


# -- special parsers ---------------------------------------------------------------------

def _parse_save(args: list[str]) -> list[tuple[int, int]]:
    if args == [""] or not args:
        return []
    if len(args) % 2:
        raise ConfigError("Invalid save parameters")
    out = []
    for i in range(0, len(args), 2):
        try:
            secs, changes = int(args[i]), int(args[i + 1])
        except ValueError:
            raise ConfigError("Invalid save parameters") from None
        if secs < 1 or changes < 0:
            raise ConfigError("Invalid save parameters")
        out.append((secs, changes))
    return out


def _format_save(v: list[tuple[int, int]]) -> str:
    return " ".join(f"{s} {c}" for s, c in v)


def _parse_bind(args: list[str]) -> list[str]:
    if len(args) > 16:
        raise ConfigError("Too many bind addresses specified.")
    return [a for a in args if a]


OBUF_CLASSES = ("normal", "replica", "pubsub")


def _parse_obuf(args: list[str]) -> dict[str, tuple[int, int, int]]:
    """client-output-buffer-limit <class> <hard> <soft> <soft-seconds> [...]."""
    if not args or len(args) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = {}
    for i in range(0, len(args), 4):
        cls = args[i].lower()
        if cls == "slave":
            cls = "replica"
        if cls not in OBUF_CLASSES:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        hard, soft = parse_memory(args[i + 1]), parse_memory(args[i + 2])
        try:
            secs = int(args[i + 3])
        except ValueError:
            secs = -1
        if hard is None or soft is None or secs < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
        out[cls] = (hard, soft, secs)
    return out


def _format_obuf(v: dict[str, tuple[int, int, int]]) -> str:
    return " ".join(f"{c} {h} {s} {t}" for c, (h, s, t) in v.items())


def _format_obuf_human(v: dict[str, tuple[int, int, int]]) -> str:
    return " ".join(f"{c} {format_memory(h)} {format_memory(s)} {t}" for c, (h, s, t) in v.items())


KEYSPACE_EVENT_CHARS = "gx$lshzetdmnAKEN"  # Redis's classes (plus 'A' alias)


def _parse_notify(args: list[str]) -> str:
    v = _one(args)
    for ch in v:
        if ch not in "KEg$lshzxeAtmdn":
            raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmd'.")
    return v


def _parse_oom_values(args: list[str]) -> tuple[int, int, int]:
    if len(args) == 1:
        args = args[0].split()
    if len(args) != 3:
        raise ConfigError("Invalid oom-score-adj-values")
    try:
        vals = tuple(int(a) for a in args)
    except ValueError:
        raise ConfigError("Invalid oom-score-adj-values") from None
    if any(not -2000 <= v <= 2000 for v in vals):
        raise ConfigError("Invalid oom-score-adj-values")
    return vals  # type: ignore[return-value]


def _parse_percentiles(args: list[str]) -> list[float]:
    if len(args) == 1:
        args = args[0].split()
    out = []
    for a in args:
        try:
            f = float(a)
        except ValueError:
            raise ConfigError("latency-tracking-info-percentiles needs a list of percentiles") from None
        if not 0 <= f <= 100:
            raise ConfigError("latency-tracking-info-percentiles needs a list of percentiles")
        out.append(f)
    return out


def _fmt_percentiles(v: list[float]) -> str:
    return " ".join(("%g" % f) if f != int(f) else "%d" % f for f in v)


def _parse_multi(args: list[str]) -> list[list[str]]:
    return [args]


def _format_multi(v: list[list[str]]) -> str:
    return "\n".join(" ".join(a) for a in v)


def _parse_rest(args: list[str]) -> str:
    return " ".join(args)


# ---------------------------------------------------------------------------------------
# the table

LL = ("debug", "verbose", "notice", "warning", "nothing")
POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
            "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")
INTMAX = 2**31 - 1
LLMAX = 2**63 - 1

_T: list[Directive] = [
    # general
    special("bind", ["*", "-::*"], _parse_bind, lambda v: " ".join(v)),
    string("bind-source-addr", ""),
    integer("port", 6379, 0, 65535),
    integer("tls-port", 0, 0, 65535),
    boolean("protected-mode", True),
    integer("tcp-backlog", 511, 0, INTMAX, IMMUTABLE),
    string("unixsocket", "", IMMUTABLE),
    special("unixsocketperm", 0, lambda a: int(_one(a), 8), lambda v: "%o" % v, IMMUTABLE),
    integer("timeout", 0, 0, INTMAX),
    integer("tcp-keepalive", 300, 0, INTMAX),
    integer("socket-mark-id", 0, 0, INTMAX),
    boolean("daemonize", False, IMMUTABLE),
    enum("supervised", "no", ("upstart", "systemd", "auto", "no"), IMMUTABLE),
    string("pidfile", "", IMMUTABLE),
    enum("loglevel", "notice", LL),
    string("logfile", "", IMMUTABLE),
    boolean("syslog-enabled", False, IMMUTABLE),
    string("syslog-ident", "redis", IMMUTABLE),
    enum("syslog-facility", "local0", ("user", "local0", "local1", "local2", "local3",
                                        "local4", "local5", "local6", "local7"), IMMUTABLE),
    boolean("crash-log-enabled", True),
    boolean("crash-memcheck-enabled", True),
    integer("databases", 16, 1, INTMAX, IMMUTABLE),
    boolean("always-show-logo", False, IMMUTABLE),
    boolean("set-proc-title", True, IMMUTABLE),
    string("proc-title-template", "{title} {listen-addr} {server-mode}"),
    string("locale-collate", ""),
    enum("enable-protected-configs", "no", ("no", "yes", "local"), IMMUTABLE),
    enum("enable-debug-command", "no", ("no", "yes", "local"), IMMUTABLE),
    enum("enable-module-command", "no", ("no", "yes", "local"), IMMUTABLE),
    special("include", [], _parse_multi, _format_multi, MULTI | HIDDEN),
    special("loadmodule", [], _parse_multi, _format_multi, MULTI | HIDDEN),
    special("rename-command", [], _parse_multi, _format_multi, MULTI | HIDDEN),
    special("user", [], _parse_multi, _format_multi, MULTI | HIDDEN),
    # snapshotting
    special("save", [(3600, 1), (300, 100), (60, 10000)], _parse_save, _format_save),
    boolean("stop-writes-on-bgsave-error", True),
    boolean("rdbcompression", True),
    boolean("rdbchecksum", True),
    enum("sanitize-dump-payload", "no", ("no", "yes", "clients")),
    string("dbfilename", "dump.rdb", PROTECTED),
    boolean("rdb-del-sync-files", False),
    string("dir", "", PROTECTED),
    boolean("rdb-save-incremental-fsync", True),
    integer("rdb-key-save-delay", 0, -(2**31), INTMAX, HIDDEN),
    integer("key-load-delay", 0, -(2**31), INTMAX, HIDDEN),
    integer("loading-process-events-interval-bytes", 2 * 1024 * 1024, 1024, INTMAX, HIDDEN),
    # replication
    special("replicaof", None, lambda a: a if len(a) == 2 or a == ["no", "one"] else (_ for _ in ()).throw(ConfigError("wrong number of arguments")),
            lambda v: " ".join(v) if v else "", aliases=("slaveof",)),
    string("masterauth", "", SENSITIVE),
    string("masteruser", ""),
    boolean("replica-serve-stale-data", True, aliases=("slave-serve-stale-data",)),
    boolean("replica-read-only", True, aliases=("slave-read-only",)),
    boolean("repl-diskless-sync", True),
    integer("repl-diskless-sync-delay", 5, 0, INTMAX),
    integer("repl-diskless-sync-max-replicas", 0, 0, INTMAX),
    enum("repl-diskless-load", "disabled", ("disabled", "on-empty-db", "swapdb")),
    integer("repl-ping-replica-period", 10, 1, INTMAX, aliases=("repl-ping-slave-period",)),
    integer("repl-timeout", 60, 1, INTMAX),
    boolean("repl-disable-tcp-nodelay", False),
    memory("repl-backlog-size", 1024 * 1024, 1),
    integer("repl-backlog-ttl", 3600, 0, INTMAX),
    integer("replica-priority", 100, 0, INTMAX, aliases=("slave-priority",)),
    boolean("replica-announced", True),
    integer("min-replicas-to-write", 0, 0, INTMAX, aliases=("min-slaves-to-write",)),
    integer("min-replicas-max-lag", 10, 0, INTMAX, aliases=("min-slaves-max-lag",)),
    string("replica-announce-ip", "", aliases=("slave-announce-ip",)),
    integer("replica-announce-port", 0, 0, 65535, aliases=("slave-announce-port",)),
    boolean("replica-ignore-maxmemory", True, aliases=("slave-ignore-maxmemory",)),
    boolean("replica-lazy-flush", False, aliases=("slave-lazy-flush",)),
    boolean("replica-ignore-disk-write-errors", False),
    enum("propagation-error-behavior", "ignore", ("ignore", "panic", "panic-on-replicas")),
    boolean("repl-diskless-sync-max-replicas-hidden", False, HIDDEN),
    # keys tracking
    integer("tracking-table-max-keys", 1000000, 0, LLMAX),
    # security
    integer("acllog-max-len", 128, 0, LLMAX),
    string("aclfile", "", IMMUTABLE),
    string("requirepass", "", SENSITIVE),
    enum("acl-pubsub-default", "resetchannels", ("allchannels", "resetchannels")),
    # clients / memory
    integer("maxclients", 10000, 1, INTMAX),
    memory("maxmemory", 0),
    enum("maxmemory-policy", "noeviction", POLICIES),
    integer("maxmemory-samples", 5, 1, 64),
    integer("maxmemory-eviction-tenacity", 10, 0, 100),
    memory("maxmemory-clients", 0),
    boolean("lazyfree-lazy-eviction", False),
    boolean("lazyfree-lazy-expire", False),
    boolean("lazyfree-lazy-server-del", False),
    boolean("lazyfree-lazy-user-del", False),
    boolean("lazyfree-lazy-user-flush", False),
    integer("lfu-log-factor", 10, 0, INTMAX),
    integer("lfu-decay-time", 1, 0, INTMAX),
    integer("active-expire-effort", 1, 1, 10),
    # threads (accepted; bocho is single-threaded like Redis's main thread)
    integer("io-threads", 1, 1, 128, IMMUTABLE),
    boolean("io-threads-do-reads", False, IMMUTABLE),
    # kernel
    enum("oom-score-adj", "no", ("no", "yes", "relative", "absolute")),
    special("oom-score-adj-values", (0, 200, 800), _parse_oom_values, lambda v: " ".join(map(str, v))),
    boolean("disable-thp", True),
    # append only
    boolean("appendonly", False),
    string("appendfilename", "appendonly.aof", IMMUTABLE),
    string("appenddirname", "appendonlydir", IMMUTABLE),
    enum("appendfsync", "everysec", ("always", "everysec", "no")),
    boolean("no-appendfsync-on-rewrite", False),
    integer("auto-aof-rewrite-percentage", 100, 0, INTMAX),
    memory("auto-aof-rewrite-min-size", 64 * 1024 * 1024),
    boolean("aof-load-truncated", True),
    boolean("aof-use-rdb-preamble", True),
    boolean("aof-timestamp-enabled", False),
    boolean("aof-rewrite-incremental-fsync", True),
    # shutdown
    integer("shutdown-timeout", 10, 0, INTMAX),
    enum("shutdown-on-sigint", "default", ("default", "save", "nosave", "now", "force")),
    enum("shutdown-on-sigterm", "default", ("default", "save", "nosave", "now", "force")),
    # scripting
    integer("busy-reply-threshold", 5000, 0, LLMAX, aliases=("lua-time-limit",)),
    # cluster
    boolean("cluster-enabled", False, IMMUTABLE),
    string("cluster-config-file", "nodes.conf", IMMUTABLE),
    integer("cluster-node-timeout", 15000, 0, LLMAX),
    integer("cluster-port", 0, 0, 65535, IMMUTABLE),
    integer("cluster-replica-validity-factor", 10, 0, INTMAX, aliases=("cluster-slave-validity-factor",)),
    integer("cluster-migration-barrier", 1, 0, INTMAX),
    boolean("cluster-allow-replica-migration", True),
    boolean("cluster-require-full-coverage", True),
    boolean("cluster-replica-no-failover", False, aliases=("cluster-slave-no-failover",)),
    boolean("cluster-allow-reads-when-down", False),
    boolean("cluster-allow-pubsubshard-when-down", True),
    memory("cluster-link-sendbuf-limit", 0),
    string("cluster-announce-ip", ""),
    integer("cluster-announce-port", 0, 0, 65535),
    integer("cluster-announce-bus-port", 0, 0, 65535),
    integer("cluster-announce-tls-port", 0, 0, 65535),
    string("cluster-announce-hostname", ""),
    enum("cluster-preferred-endpoint-type", "ip", ("ip", "hostname", "unknown-endpoint")),
    # slowlog / latency
    integer("slowlog-log-slower-than", 10000, -1, LLMAX),
    integer("slowlog-max-len", 128, 0, LLMAX),
    integer("latency-monitor-threshold", 0, 0, LLMAX),
    boolean("latency-tracking", True),
    special("latency-tracking-info-percentiles", [50.0, 99.0, 99.9], _parse_percentiles, _fmt_percentiles),
    # events
    special("notify-keyspace-events", "", _parse_notify, str),
    # advanced
    integer("hash-max-listpack-entries", 128, 0, LLMAX, aliases=("hash-max-ziplist-entries",)),
    memory("hash-max-listpack-value", 64, aliases=("hash-max-ziplist-value",)),
    integer("list-max-listpack-size", -2, -5, INTMAX, aliases=("list-max-ziplist-size",)),
    integer("list-compress-depth", 0, 0, INTMAX),
    integer("set-max-intset-entries", 512, 0, LLMAX),
    integer("zset-max-listpack-entries", 128, 0, LLMAX, aliases=("zset-max-ziplist-entries",)),
    memory("zset-max-listpack-value", 64, aliases=("zset-max-ziplist-value",)),
    memory("hll-sparse-max-bytes", 3000, 0, LLMAX),
    memory("stream-node-max-bytes", 4096, 0, LLMAX),
    integer("stream-node-max-entries", 100, 0, LLMAX),
    boolean("activerehashing", True),
    special("client-output-buffer-limit",
            {"normal": (0, 0, 0), "replica": (256 * 1024**2, 64 * 1024**2, 60),
             "pubsub": (32 * 1024**2, 8 * 1024**2, 60)}, _parse_obuf, _format_obuf),
    memory("client-query-buffer-limit", 1024**3, 1024 * 1024, LLMAX),
    memory("proto-max-bulk-len", 512 * 1024**2, 1024 * 1024, LLMAX),
    integer("hz", 10, 0, INTMAX),
    boolean("dynamic-hz", True),
    boolean("jemalloc-bg-thread", True),
    boolean("activedefrag", False),
    memory("active-defrag-ignore-bytes", 100 * 1024**2),
    integer("active-defrag-threshold-lower", 10, 0, 1000),
    integer("active-defrag-threshold-upper", 100, 0, 1000),
    integer("active-defrag-cycle-min", 1, 1, 99),
    integer("active-defrag-cycle-max", 25, 1, 99),
    integer("active-defrag-max-scan-fields", 1000, 1, LLMAX),
    # tls (accepted now; TLS itself is a later issue)
    integer("tls-session-cache-size", 20 * 1024, 0, INTMAX),
    integer("tls-session-cache-timeout", 300, 0, INTMAX),
    boolean("tls-session-caching", True),
    boolean("tls-cluster", False),
    boolean("tls-replication", False),
    enum("tls-auth-clients", "yes", ("no", "yes", "optional")),
    boolean("tls-prefer-server-ciphers", False),
    string("tls-cert-file", ""),
    string("tls-key-file", ""),
    string("tls-key-file-pass", "", SENSITIVE),
    string("tls-client-cert-file", ""),
    string("tls-client-key-file", ""),
    string("tls-client-key-file-pass", "", SENSITIVE),
    string("tls-dh-params-file", ""),
    string("tls-ca-cert-file", ""),
    string("tls-ca-cert-dir", ""),
    string("tls-protocols", ""),
    string("tls-ciphers", ""),
    string("tls-ciphersuites", ""),
    # sentinel-free extras the suite sets
    boolean("ignore-warnings-hidden", False, HIDDEN),
]

DIRECTIVES: dict[str, Directive] = {}
for _d in _T:
    DIRECTIVES[_d.name] = _d
    for _a in _d.aliases:
        DIRECTIVES[_a] = _d


class Config:
    """Current values by canonical name; `on_change(name)` is called after each change."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {d.name: d.default for d in _T}
        self.file: str | None = None
        self.on_change: Callable[[str], None] = lambda name: None
        self.seen: set[str] = set()  # directives given in file/argv (CONFIG REWRITE)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    # -- start-up ------------------------------------------------------------------------

    def load(self, path: str | None, argv_lines: list[tuple[str, list[str]]]) -> None:
        """Load a config file, then the command-line options (which override it)."""
        if path is not None:
            self.file = os.path.abspath(path) if path != "-" else None
            self._load_file(path, depth=0)
        for i, (name, args) in enumerate(argv_lines, 1):
            self._apply_line(name, args, "(command line)", i, self._line_text(name, args))

    def _load_file(self, path: str, depth: int) -> None:
        if depth > 10:
            raise ConfigLoadError(path, 0, "include", "Too many nested includes")
        try:
            if path == "-":
                import sys
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
        except OSError as e:
            raise ConfigOpenError(path, e) from None
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                words = split_args(line)
            except ValueError:
                raise ConfigLoadError(path, lineno, line, "Unbalanced quotes in configuration line") from None
            if not words:
                continue
            name, args = words[0].lower(), words[1:]
            if name == "include":
                if len(args) != 1:
                    raise ConfigLoadError(path, lineno, line, "wrong number of arguments")
                self._load_file(args[0], depth + 1)
                continue
            self._apply_line(name, args, path, lineno, line)

    @staticmethod
    def _line_text(name: str, args: list[str]) -> str:
        return " ".join([name] + [f'"{a}"' for a in args])

    def _apply_line(self, name: str, args: list[str], path: str, lineno: int, text: str) -> None:
        d = DIRECTIVES.get(name)
        if d is None:
            raise ConfigLoadError(path, lineno, text, "Bad directive or wrong number of arguments")
        try:
            value = d.parse(args)
        except ConfigError as e:
            raise ConfigLoadError(path, lineno, text, str(e)) from None
        except (ValueError, TypeError):
            raise ConfigLoadError(path, lineno, text, "Invalid argument") from None
        if d.flags & MULTI:
            value = self.values[d.name] + value if d.name in self.seen else value
        elif d.name == "save" and d.name in self.seen and value:
            # Several save lines accumulate; `save ""` resets.
            value = self.values["save"] + value
        self.values[d.name] = value
        self.seen.add(d.name)

    # -- CONFIG GET / SET ----------------------------------------------------------------

    def get(self, patterns: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for pat in patterns:
            pat = pat.lower()
            if pat in DIRECTIVES:  # exact name or alias: no glob walk
                d = DIRECTIVES[pat]
                if not d.flags & MULTI:
                    out[pat] = d.format(self.values[d.name])
                continue
            for name, d in DIRECTIVES.items():
                if d.flags & (HIDDEN | MULTI):
                    continue
                if fnmatch.fnmatchcase(name, pat):
                    out[name] = d.format(self.values[d.name])
        return out

    def set(self, pairs: list[tuple[str, str]], allow_protected: bool) -> None:
        """Set all pairs or none (CONFIG SET is atomic). Raises ConfigSetError."""
        parsed: list[tuple[Directive, Any]] = []
        seen: set[str] = set()
        for name, raw in pairs:
            d = DIRECTIVES.get(name.lower())
            if d is None or d.flags & MULTI:
                raise ConfigSetError(name, None)
            if d.name in seen:
                raise ConfigSetError(name, "duplicate parameter")
            seen.add(d.name)
            if d.flags & IMMUTABLE:
                raise ConfigSetError(name, "can't set immutable config")
            if d.flags & PROTECTED and not allow_protected:
                raise ConfigSetError(name, "can't set protected config")
            try:
                args = split_args(raw) if d.kind == "special" and d.name not in ("notify-keyspace-events",) else [raw]
                if d.name in ("save", "bind") and raw == "":
                    args = [""]
                value = d.parse(args)
            except ConfigError as e:
                raise ConfigSetError(name, str(e)) from None
            except ValueError:
                raise ConfigSetError(name, "Invalid argument") from None
            parsed.append((d, value))
        old = {d.name: self.values[d.name] for d, _ in parsed}
        try:
            for d, value in parsed:
                if d.name == "client-output-buffer-limit":
                    value = {**self.values[d.name], **value}
                self.values[d.name] = value
            for d, _ in parsed:
                self.on_change(d.name)
        except ConfigError as e:
            # An apply hook refused (e.g. port in use): roll every value back.
            failed = d.name
            self.values.update(old)
            for name in old:
                try:
                    self.on_change(name)
                except ConfigError:
                    pass
            raise ConfigSetError(failed, str(e)) from None


class ConfigLoadError(Exception):
    def __init__(self, path: str, line: int, text: str, reason: str) -> None:
        super().__init__(reason)
        self.path, self.line, self.text, self.reason = path, line, text, reason

    def report(self, version: str) -> str:
        where = "the command line options" if self.path == "(command line)" else self.path
        return (f"\n*** FATAL CONFIG FILE ERROR (Redis {version}) ***\n"
                f"Reading the configuration file, at line {self.line} ({where}:{self.line})\n"
                f">>> '{self.text}'\n{self.reason}\n")


class ConfigOpenError(Exception):
    def __init__(self, path: str, err: OSError) -> None:
        super().__init__(str(err))
        self.path, self.err = path, err


class ConfigSetError(Exception):
    def __init__(self, name: str, reason: str | None) -> None:
        super().__init__(reason)
        self.name, self.reason = name, reason

    def message(self) -> str:
        if self.reason is None:
            return f"ERR Unknown option or number of arguments for CONFIG SET - '{self.name}'"
        return f"ERR CONFIG SET failed (possibly related to argument '{self.name}') - {self.reason}"


def split_args(line: str) -> list[str]:
    """Split a config line as Redis's sdssplitargs: whitespace, "double" quotes with
    \\n \\xHH escapes, 'single' quotes. Raises ValueError on unbalanced quotes."""
    out: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return out
        cur: list[str] = []
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    raise ValueError("unbalanced quotes")
                ch = line[i]
                if ch == "\\" and i + 3 < n and line[i + 1] == "x" and _ishex(line[i + 2:i + 4]):
                    cur.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 3
                elif ch == "\\" and i + 1 < n:
                    i += 1
                    cur.append({"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}.get(line[i], line[i]))
                elif ch == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space")
                    inq = False
                    i += 1
                    break
                else:
                    cur.append(ch)
            elif insq:
                if i >= n:
                    raise ValueError("unbalanced quotes")
                ch = line[i]
                if ch == "\\" and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    cur.append("'")
                elif ch == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space")
                    insq = False
                    i += 1
                    break
                else:
                    cur.append(ch)
            else:
                if i >= n:
                    break
                ch = line[i]
                if ch.isspace():
                    break
                if ch == '"':
                    inq = True
                elif ch == "'":
                    insq = True
                else:
                    cur.append(ch)
            i += 1
        out.append("".join(cur))


def _ishex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)


__all__ = ["Config", "ConfigError", "ConfigLoadError", "ConfigSetError", "DIRECTIVES",
           "split_args", "parse_memory", "format_memory", "shlex"]
