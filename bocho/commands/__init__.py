"""The one command table.

A command's facts (arity, flags, key positions, ACL categories, docs) are declared once,
beside its handler, with @command. Dispatch, COMMAND INFO/DOCS/GETKEYS, MULTI queueing,
OOM refusal and (later) ACL and cluster checks all read the same Command object.

A handler is `handler(client, argv) -> bytes | None`: it returns the encoded reply, or
None when it replies later (blocking) or not at all. Error paths raise CommandError.
Container commands (CONFIG, CLIENT, ...) are declared as "config|get": the container is
created on first use and dispatches on argv[1].
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

# Flags, as COMMAND INFO prints them.
WRITE = 1 << 0
READONLY = 1 << 1
DENYOOM = 1 << 2
ADMIN = 1 << 3
PUBSUB = 1 << 4
NOSCRIPT = 1 << 5
BLOCKING = 1 << 6
LOADING = 1 << 7
STALE = 1 << 8
SKIP_MONITOR = 1 << 9
SKIP_SLOWLOG = 1 << 10
FAST = 1 << 11
NO_AUTH = 1 << 12
MAY_REPLICATE = 1 << 13
NO_MULTI = 1 << 14
ALLOW_BUSY = 1 << 15
SENTINEL = 1 << 16
ONLY_SENTINEL = 1 << 17
NO_MANDATORY_KEYS = 1 << 18
NO_ASYNC_LOADING = 1 << 19
MODULE = 1 << 20
ASKING = 1 << 21

FLAG_NAMES = {
    WRITE: "write",
    READONLY: "readonly",
    DENYOOM: "denyoom",
    MODULE: "module",
    ADMIN: "admin",
    PUBSUB: "pubsub",
    NOSCRIPT: "noscript",
    BLOCKING: "blocking",
    LOADING: "loading",
    STALE: "stale",
    SKIP_MONITOR: "skip_monitor",
    SKIP_SLOWLOG: "skip_slowlog",
    FAST: "fast",
    NO_AUTH: "no_auth",
    MAY_REPLICATE: "may_replicate",
    SENTINEL: "sentinel",
    ONLY_SENTINEL: "only_sentinel",
    NO_MANDATORY_KEYS: "no_mandatory_keys",
    NO_ASYNC_LOADING: "no_async_loading",
    NO_MULTI: "no_multi",
    ALLOW_BUSY: "allow_busy",
    ASKING: "asking",
}
_FLAG_BY_NAME = {v: k for k, v in FLAG_NAMES.items()}

Handler = Callable[..., "bytes | None"]


class Command:
    __slots__ = (
        "name", "fullname", "handler", "arity", "flags", "first_key", "last_key",
        "key_step", "getkeys", "group", "acl", "since", "summary", "complexity", "tips",
        "subcommands", "parent", "calls", "usec", "rejected_calls", "failed_calls",
        "key_specs", "doc_flags",
    )

    def __init__(self, name: str, handler: Handler | None, arity: int, flags: int,
                 keys: tuple[int, int, int], group: str, acl: tuple[str, ...],
                 since: str, summary: str, complexity: str, getkeys: Callable | None,
                 tips: tuple[str, ...], parent: Command | None = None,
                 key_specs: list | None = None) -> None:
        self.name = name  # "get", or "get" for config|get
        self.fullname = f"{parent.name}|{name}" if parent else name
        self.handler = handler
        self.arity = arity
        self.flags = flags
        self.first_key, self.last_key, self.key_step = keys
        self.getkeys = getkeys
        self.group = group
        self.acl = acl
        self.since = since
        self.summary = summary
        self.complexity = complexity
        self.tips = tips
        self.subcommands: dict[bytes, Command] | None = None
        self.parent = parent
        self.key_specs = key_specs
        self.doc_flags: tuple[str, ...] = ()
        self.calls = 0
        self.usec = 0
        self.rejected_calls = 0
        self.failed_calls = 0

    def arity_ok(self, n: int) -> bool:
        a = self.arity
        return n == a if a >= 0 else n >= -a

    def keys(self, argv: list[bytes]) -> list[int]:
        """Positions of key arguments in argv (COMMAND GETKEYS, cluster, ACL)."""
        if self.getkeys is not None:
            return self.getkeys(argv)
        first = self.first_key
        if first == 0:
            return []
        last = self.last_key
        if last < 0:
            last = len(argv) + last
        return list(range(first, min(last, len(argv) - 1) + 1, self.key_step))

    def flag_names(self) -> list[str]:
        return [n for f, n in FLAG_NAMES.items() if self.flags & f]


# name (lower-case bytes) -> Command; upper-case aliases are added so that the common
# all-caps spelling of clients needs no .lower() on the hot path.
TABLE: dict[bytes, Command] = {}


def _parse_flags(flags: int | str) -> int:
    if isinstance(flags, int):
        return flags
    out = 0
    for word in flags.split():
        out |= _FLAG_BY_NAME[word]
    return out


def command(name: str, arity: int, flags: int | str = 0, keys: tuple[int, int, int] = (0, 0, 0),
            group: str = "generic", acl: tuple[str, ...] = (), since: str = "1.0.0",
            summary: str = "", complexity: str = "", getkeys: Callable | None = None,
            tips: tuple[str, ...] = (), key_specs: list | None = None):
    """Register the decorated handler as `name` (or "container|sub")."""
    fl = _parse_flags(flags)

    def register(fn: Handler) -> Handler:
        if "|" in name:
            parent_name, sub = name.split("|", 1)
            parent = TABLE.get(parent_name.encode())
            if parent is None:
                parent = Command(parent_name, None, -2, 0, (0, 0, 0), group, (), since,
                                 "", "", None, ())
                parent.subcommands = {}
                _add(parent)
            cmd = Command(sub, fn, arity, fl, keys, group, acl, since, summary, complexity,
                          getkeys, tips, parent, key_specs)
            parent.subcommands[sub.encode()] = cmd
        else:
            cmd = Command(name, fn, arity, fl, keys, group, acl, since, summary, complexity,
                          getkeys, tips, None, key_specs)
            old = TABLE.get(name.encode())
            if old is not None and old.subcommands is not None:
                cmd.subcommands = old.subcommands
                for s in cmd.subcommands.values():
                    s.parent = cmd
            _add(cmd)
        return fn

    return register


def _add(cmd: Command) -> None:
    TABLE[cmd.name.encode()] = cmd
    TABLE[cmd.name.upper().encode()] = cmd


def lookup(name: bytes) -> Command | None:
    cmd = TABLE.get(name)
    if cmd is None:
        cmd = TABLE.get(name.lower())
    return cmd


# The compiled loop (bocho/_fastpath.pyx) counts a command's calls/usec in C and adds
# them to the Command only when it has to (once per event-loop iteration, the slow log):
# code that reads Command.calls/usec calls sync_stats() first.
_stats_sync: Callable[[], object] | None = None


def set_stats_sync(fn: Callable[[], object] | None) -> None:
    global _stats_sync
    _stats_sync = fn


def sync_stats() -> None:
    """Every command's calls/usec complete (INFO commandstats, CONFIG RESETSTAT...)."""
    if _stats_sync is not None:
        _stats_sync()


def all_commands() -> list[Command]:
    """Each top-level command once."""
    seen: dict[str, Command] = {}
    for cmd in TABLE.values():
        seen[cmd.name] = cmd
    return list(seen.values())


# Modules that register commands; importing them fills TABLE.
MODULES = (
    "connection", "strings", "bitops", "keys", "server_cmds", "client_cmds", "config_cmds",
    "introspection", "command_cmd", "debug", "multi", "pubsub", "monitor", "sort",
    "functions", "eval", "lists", "hashes", "sets", "zsets", "geo", "hyperloglog", "streams",
    "stream_groups", "acl_cmds", "dump", "persistence_cmds", "aof_cmds", "replicaof",
    "repl_cmds", "cluster_cmds",
)


def load_all() -> None:
    for mod in MODULES:
        try:
            importlib.import_module(f"bocho.commands.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"bocho.commands.{mod}":
                raise
