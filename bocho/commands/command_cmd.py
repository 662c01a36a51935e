"""COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, GETKEYSANDFLAGS, HELP),
all read from the one command table, in Redis 7.0's reply shapes.

What Redis derives, we derive the same way: ACL categories from the flags (write ->
@write, readonly -> @read, admin -> @admin @dangerous, fast -> @fast else @slow...),
`movablekeys` from a getkeys function, and key specs from (first, last, step) unless the
command declares its own. A declared key spec is a dict in the shape of Redis's command
JSON files:
    {"flags": ["RW", "update"], "notes": "...",
     "begin_search": {"index": {"pos": 1}} or {"keyword": {"keyword": "STREAMS", "startfrom": 1}},
     "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}
                  or {"keynum": {"keynumidx": 0, "firstkey": 1, "step": 1}}}
"""

from __future__ import annotations

from bocho import resp
from bocho.commands import (
    ADMIN,
    BLOCKING,
    FAST,
    PUBSUB,
    READONLY,
    TABLE,
    WRITE,
    Command,
    all_commands,
    command,
)
from bocho.commands.docs_args import arguments
from bocho.errors import CommandError
from bocho.glob import stringmatch

CONN = "connection"
SRV = "server"

# COMMAND INFO's flag names, in Redis's order (may_replicate, sentinel... are hidden).
_FLAG_ORDER = ("write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
               "blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
               "fast", "no_auth", "no_mandatory_keys", "no_async_loading", "no_multi",
               "movablekeys", "allow_busy")

ACL_CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
                  "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast",
                  "slow", "blocking", "dangerous", "connection", "transaction", "scripting")

_KEY_FLAG_ORDER = ("RO", "RW", "OW", "RM", "access", "update", "insert", "delete",
                   "not_key", "incomplete", "variable_flags")


# -- facts derived from a Command --------------------------------------------------------

def flag_names(cmd: Command) -> list[str]:
    have = set(cmd.flag_names())
    if is_movable(cmd):
        have.add("movablekeys")
    return [f for f in _FLAG_ORDER if f in have]


def is_movable(cmd: Command) -> bool:
    """populateCommandLegacyRangeSpec: keys that (first, last, step) cannot describe: an
    incomplete spec, a spec that is not index+range, a step other than 1, or ranges
    that do not follow each other. Without declared specs: a getkeys function."""
    if not cmd.key_specs:
        return cmd.getkeys is not None
    specs = [_normalise_spec(s) for s in cmd.key_specs]
    if len(specs) == 1 and "index" in specs[0]["begin_search"] \
            and "range" in specs[0]["find_keys"]:
        return "incomplete" in specs[0].get("flags", ())  # one plain range: any step
    prev_last = 0
    for s in specs:
        (bt, bs), = s["begin_search"].items()
        (ft, fs), = s["find_keys"].items()
        if "incomplete" in s.get("flags", ()):
            return True
        if bt != "index" or ft != "range":
            return True
        if fs.get("step", 1) != 1 or (prev_last and prev_last != bs["pos"] - 1):
            return True
        last = fs.get("lastkey", 0)
        prev_last = last + bs["pos"] if last >= 0 else last
    return False


def acl_categories(cmd: Command) -> list[str]:
    """setImplicitACLCategories: declared categories plus those the flags imply."""
    cats = {c.lstrip("@").lower() for c in cmd.acl}
    f = cmd.flags
    if f & WRITE:
        cats.add("write")
    if f & READONLY and "scripting" not in cats:
        cats.add("read")
    if f & ADMIN:
        cats.update(("admin", "dangerous"))
    if f & PUBSUB:
        cats.add("pubsub")
    if f & FAST:
        cats.add("fast")
    if f & BLOCKING:
        cats.add("blocking")
    if "fast" not in cats:
        cats.add("slow")
    return [c for c in ACL_CATEGORIES if c in cats]


def _default_key_flags(cmd: Command) -> list[str]:
    """Flags for a key spec derived from (first, last, step): the common case."""
    if cmd.flags & WRITE:
        return ["RW", "access", "update"]
    return ["RO", "access"]


def key_specs(cmd: Command) -> list[dict]:
    """The command's key specs, normalised to the declared-JSON shape."""
    if cmd.key_specs:
        return [_normalise_spec(s) for s in cmd.key_specs]
    if not cmd.first_key:
        return []
    first, last, step = cmd.first_key, cmd.last_key, cmd.key_step
    lastkey = last - first if last >= 0 else last
    flags = _default_key_flags(cmd)
    if cmd.getkeys is not None:
        flags = flags + ["incomplete"]
    return [{"flags": flags, "begin_search": {"index": {"pos": first}},
             "find_keys": {"range": {"lastkey": lastkey, "step": step, "limit": 0}}}]


def _normalise_spec(s: dict) -> dict:
    out = dict(s)
    for part in ("begin_search", "find_keys"):
        v = s.get(part) or {"unknown": None}
        if "type" in v:  # already in reply shape: {"type": t, "spec": {...}}
            t, spec = v["type"], dict(v.get("spec") or {})
            if t == "index":
                spec = {"pos": spec.get("index", spec.get("pos", 0))}
            if "keystep" in spec:
                spec["step"] = spec.pop("keystep")
            v = {t: spec}
        out[part] = v
    return out


def _spec_reply(spec: dict) -> dict:
    out: dict = {}
    if spec.get("notes"):
        out["notes"] = spec["notes"]
    flags = set(spec.get("flags", ()))
    out["flags"] = _Ordered([f for f in _KEY_FLAG_ORDER if f in flags])
    (bt, bspec), = spec["begin_search"].items()
    if bt == "index":
        out["begin_search"] = {"type": "index", "spec": {"index": bspec["pos"]}}
    elif bt == "keyword":
        out["begin_search"] = {"type": "keyword", "spec": {"keyword": bspec["keyword"],
                                                           "startfrom": bspec["startfrom"]}}
    else:
        out["begin_search"] = {"type": "unknown", "spec": {}}
    (ft, fspec), = spec["find_keys"].items()
    if ft == "range":
        out["find_keys"] = {"type": "range", "spec": {
            "lastkey": fspec.get("lastkey", 0), "keystep": fspec.get("step", 1),
            "limit": fspec.get("limit", 0)}}
    elif ft == "keynum":
        out["find_keys"] = {"type": "keynum", "spec": {
            "keynumidx": fspec.get("keynumidx", 0), "firstkey": fspec.get("firstkey", 1),
            "keystep": fspec.get("step", 1)}}
    else:
        out["find_keys"] = {"type": "unknown", "spec": {}}
    return out


class _Ordered(list):
    """A set reply whose members keep their order (flags lists)."""


# -- encoding ----------------------------------------------------------------------------

def _enc(v, r: int) -> bytes:
    """resp.encode, plus _Ordered (a set of status strings) for flag lists."""
    if isinstance(v, _Ordered):
        return resp.set_header(len(v), r) + b"".join(b"+%s\r\n" % x.encode() for x in v)
    if isinstance(v, dict):
        return resp.map_header(len(v), r) + b"".join(
            _enc(k, r) + _enc(x, r) for k, x in v.items())
    if isinstance(v, list):
        return resp.array_header(len(v)) + b"".join(_enc(x, r) for x in v)
    return resp.encode(v, r)


def _set(items: list[bytes], r: int) -> bytes:
    return resp.set_header(len(items), r) + b"".join(items)


def info_reply(cmd: Command | None, r: int) -> bytes:
    """addReplyCommandInfo: the 10-element array."""
    if cmd is None:
        return resp.null(r)
    first, last, step = (cmd.first_key, cmd.last_key, cmd.key_step) if cmd.first_key else (0, 0, 0)
    parts = [
        resp.array_header(10),
        resp.bulk(cmd.fullname.encode()),
        b":%d\r\n" % REPORTED_ARITY.get(cmd.fullname, cmd.arity),
        _set([b"+%s\r\n" % f.encode() for f in flag_names(cmd)], r),
        b":%d\r\n" % first, b":%d\r\n" % last, b":%d\r\n" % step,
        _set([b"+@%s\r\n" % c.encode() for c in acl_categories(cmd)], r),
        _set([resp.bulk(t.encode()) for t in cmd.tips], r),
        _set([_enc(_spec_reply(s), r) for s in key_specs(cmd)], r),
    ]
    subs = list(cmd.subcommands.values()) if cmd.subcommands else []
    if cmd.subcommands is None:
        parts.append(_set([], r))
    else:
        parts.append(resp.array_header(len(subs)) + b"".join(info_reply(s, r) for s in subs))
    return b"".join(parts)


def docs_map(cmd: Command) -> dict:
    """addReplyCommandDocs, as a dict for _enc."""
    out: dict = {}
    # Always a summary: redis-cli reads it for every entry it builds from this reply.
    out["summary"] = cmd.summary or (
        f"A container for {cmd.name} commands" if cmd.subcommands else cmd.name.upper())
    if cmd.since:
        out["since"] = cmd.since
    out["group"] = cmd.group
    if cmd.complexity:
        out["complexity"] = cmd.complexity
    if cmd.doc_flags:
        out["doc_flags"] = _Ordered([f for f in ("deprecated", "syscmd") if f in cmd.doc_flags])
    args = arguments(cmd.fullname)
    if args:
        out["arguments"] = [_arg_reply(a) for a in args]
    if cmd.subcommands:
        out["subcommands"] = {s.fullname: docs_map(s) for s in cmd.subcommands.values()}
    return out


def _arg_reply(a: dict) -> dict:
    out = dict(a)
    if "flags" in a:
        out["flags"] = _Ordered(a["flags"])
    if "arguments" in a:
        out["arguments"] = [_arg_reply(x) for x in a["arguments"]]
    return out


def lookup_by_fullname(name: bytes) -> Command | None:
    """lookupCommandBySds: "get" or "config|get"."""
    low = name.lower()
    if b"|" in low:
        base, _, sub = low.partition(b"|")
        cmd = TABLE.get(base)
        if cmd is None or not cmd.subcommands or b"|" in sub:
            return None
        return cmd.subcommands.get(sub)
    return TABLE.get(low)


# -- keys ----------------------------------------------------------------------------------

class _BadSpec(Exception):
    pass


def _keys_from_spec(spec: dict, argv: list[bytes]) -> list[int]:
    argc = len(argv)
    (bt, bs), = spec["begin_search"].items()
    if bt == "index":
        first = bs["pos"]
    elif bt == "keyword":
        kw = bs["keyword"].encode().lower()
        start = bs["startfrom"]
        rng = range(start, argc) if start >= 0 else range(argc + start, 0, -1)
        first = 0
        for i in rng:
            if 0 < i < argc and argv[i].lower() == kw:
                first = i + 1
                break
        if not first:
            return []
    else:
        raise _BadSpec
    if first >= argc:
        return []
    (ft, fs), = spec["find_keys"].items()
    if ft == "range":
        lastkey, step, limit = fs.get("lastkey", 0), fs.get("step", 1), fs.get("limit", 0)
        if lastkey >= 0:
            last = first + lastkey
        elif not limit:
            last = argc + lastkey
        else:
            last = first + ((argc - first) // limit + lastkey)
    elif ft == "keynum":
        idx = first + fs.get("keynumidx", 0)
        if idx >= argc:
            raise _BadSpec
        try:
            n = int(argv[idx])
        except ValueError:
            raise _BadSpec from None
        step = fs.get("step", 1)
        first = first + fs.get("firstkey", 1)
        last = first + (n - 1) * step
    else:
        raise _BadSpec
    if last >= argc or last < first - 1:
        raise _BadSpec
    return list(range(first, last + 1, step or 1))


def _set_flags(argv: list[bytes]) -> list[str]:
    if any(a.lower() == b"get" for a in argv[3:]):
        return ["RW", "access", "update"]
    return ["OW", "update"]


def _bitfield_flags(argv: list[bytes]) -> list[str]:
    if any(a.lower() in (b"set", b"incrby") for a in argv[2:]):
        return ["RW", "access", "update"]
    return ["RO", "access"]


# Commands whose key spec says variable_flags: the flags this call really has (what
# Redis's getkeys functions report).
VARIABLE_FLAGS = {"set": _set_flags, "bitfield": _bitfield_flags}


def keys_and_flags(cmd: Command, argv: list[bytes]) -> list[tuple[int, list[str]]]:
    """getKeysFromCommandWithSpecs: (position, flags) of every key in argv. Declared specs
    find the keys when they can (and say their flags); a getkeys function finds them
    otherwise (it may return (position, flags) pairs itself)."""
    vf = VARIABLE_FLAGS.get(cmd.fullname)
    if vf is not None:
        flags = vf(argv)
        return [(p, flags) for p in cmd.keys(argv)]
    specs = key_specs(cmd)
    covered: dict[int, list[str]] = {}
    unresolved: list[dict] = []
    for s in specs:
        try:
            for p in _keys_from_spec(s, argv):
                covered.setdefault(p, s.get("flags", []))
        except _BadSpec:
            unresolved.append(s)
    if cmd.key_specs and not unresolved and not any(
            "incomplete" in s.get("flags", ()) or "variable_flags" in s.get("flags", ())
            for s in specs):
        return sorted(covered.items())
    fallback = (unresolved[-1] if unresolved else specs[0] if specs else {}).get("flags", [])
    out = []
    for k in cmd.keys(argv):
        if isinstance(k, tuple):
            out.append(k)
        else:
            out.append((k, covered.get(k, fallback)))
    return [(p, [f for f in fl if f not in ("incomplete", "variable_flags")]) for p, fl in out]


def _has_keys(cmd: Command) -> bool:
    return bool(cmd.getkeys is not None or cmd.first_key or cmd.key_specs)


def _getkeys(c, argv: list[bytes], with_flags: bool) -> bytes:
    target = argv[2:]
    cmd = lookup_by_fullname(target[0]) if b"|" not in target[0] else None
    if cmd is not None and cmd.subcommands and len(target) >= 2:
        cmd = cmd.subcommands.get(target[1].lower())
    if cmd is None:
        raise CommandError(b"ERR Invalid command specified")
    if not _has_keys(cmd):
        raise CommandError(b"ERR The command has no key arguments")
    if not cmd.arity_ok(len(target)):
        raise CommandError(b"ERR Invalid number of arguments specified for command")
    found = keys_and_flags(cmd, target)
    if not found and not cmd.flags & (1 << 18):  # NO_MANDATORY_KEYS
        raise CommandError(b"ERR Invalid arguments specified for command")
    r = c.resp
    parts = [resp.array_header(len(found))]
    for pos, flags in found:
        if with_flags:
            parts.append(resp.array_header(2) + resp.bulk(target[pos])
                         + _enc(_Ordered([f for f in _KEY_FLAG_ORDER if f in flags]), r))
        else:
            parts.append(resp.bulk(target[pos]))
    return b"".join(parts)


# -- the commands --------------------------------------------------------------------------

# Bare COMMAND is registered with arity 1 so that the dispatcher's fast path (which does
# not look at subcommands) only ever runs it without arguments; COMMAND INFO reports -1.
REPORTED_ARITY = {"command": -1}


@command("command", 1, "loading stale", group=SRV, acl=(CONN,), since="2.8.13",
         summary="Get array of Redis command details", complexity="O(N) where N is the total "
         "number of Redis commands", tips=("nondeterministic_output_order",))
def command_(c, argv):
    cmds = all_commands()
    return resp.array_header(len(cmds)) + b"".join(info_reply(x, c.resp) for x in cmds)


TABLE[b"command"].subcommands = {}  # filled by the registrations below


@command("command|count", 2, "loading stale", group=SRV, acl=(CONN,), since="2.8.13",
         summary="Get total number of Redis commands", complexity="O(1)")
def command_count(c, argv):
    return resp.integer(len(all_commands()))


@command("command|info", -2, "loading stale", group=SRV, acl=(CONN,), since="2.8.13",
         summary="Get array of specific Redis command details, or all when no argument is given",
         complexity="O(N) where N is the number of commands to look up",
         tips=("nondeterministic_output_order",))
def command_info(c, argv):
    if len(argv) == 2:
        cmds: list = all_commands()
    else:
        cmds = [lookup_by_fullname(a) for a in argv[2:]]
    return resp.array_header(len(cmds)) + b"".join(info_reply(x, c.resp) for x in cmds)


@command("command|docs", -2, "loading stale", group=SRV, acl=(CONN,), since="7.0.0",
         summary="Get array of specific Redis command documentation",
         complexity="O(N) where N is the number of commands to look up",
         tips=("nondeterministic_output_order",))
def command_docs(c, argv):
    if len(argv) == 2:
        cmds = all_commands()
    else:
        cmds = [x for x in (lookup_by_fullname(a) for a in argv[2:]) if x is not None]
    return _enc({x.fullname: docs_map(x) for x in cmds}, c.resp)


@command("command|list", -2, "loading stale", group=SRV, acl=(CONN,), since="7.0.0",
         summary="Get an array of Redis command names",
         complexity="O(N) where N is the total number of Redis commands",
         tips=("nondeterministic_output_order",))
def command_list(c, argv):
    flt = None
    i = 2
    while i < len(argv):
        if argv[i].lower() == b"filterby" and len(argv) - 1 - i == 2:
            kind = argv[i + 1].lower()
            if kind not in (b"module", b"aclcat", b"pattern"):
                raise CommandError(b"ERR syntax error")
            flt = (kind, argv[i + 2])
            i += 3
        else:
            raise CommandError(b"ERR syntax error")
    names: list[bytes] = []
    for cmd in all_commands():
        for x in [cmd, *(cmd.subcommands.values() if cmd.subcommands else ())]:
            if flt is None or _matches(x, flt):
                names.append(x.fullname.encode())
    return resp.bulk_array(names)


def _matches(cmd: Command, flt: tuple[bytes, bytes]) -> bool:
    kind, arg = flt
    if kind == b"module":
        return False  # no modules
    if kind == b"aclcat":
        return arg.decode("utf-8", "replace").lower() in acl_categories(cmd)
    return stringmatch(arg, cmd.fullname.encode(), True)


@command("command|getkeys", -4, "loading stale", group=SRV, acl=(CONN,), since="2.8.13",
         summary="Extract keys given a full Redis command",
         complexity="O(N) where N is the number of arguments to the command")
def command_getkeys(c, argv):
    return _getkeys(c, argv, False)


@command("command|getkeysandflags", -4, "loading stale", group=SRV, acl=(CONN,),
         since="7.0.0", summary="Extract keys and access flags given a full Redis command",
         complexity="O(N) where N is the number of arguments to the command")
def command_getkeysandflags(c, argv):
    return _getkeys(c, argv, True)


@command("command|help", 2, "loading stale", group=SRV, acl=(CONN,), since="5.0.0",
         summary="Show helpful text about the different subcommands", complexity="O(1)")
def command_help(c, argv):
    return resp.help_reply("command", [
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ])


__all__ = ["acl_categories", "flag_names", "key_specs", "keys_and_flags", "info_reply",
           "docs_map", "lookup_by_fullname"]
