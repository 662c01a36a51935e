"""EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (Redis's eval.c).

The scripts' Lua state is the server's `eval_engine` (bocho/scripting.py), made on
first use; the script cache maps the SHA1 of a body to its compiled function and its
shebang flags. SCRIPT FLUSH drops the cache and the Lua state with it."""

from __future__ import annotations

from bocho import resp
from bocho.commands import command, lookup
from bocho.config import split_args
from bocho.errors import CommandError
from bocho.scripting import (
    F_EVAL_COMPAT,
    LuaEngine,
    _luabridge,
    parse_flags_list,
    script_cmd_flags,
    sha1hex,
)
from bocho.util import parse_int

GROUP = "scripting"
NOSCRIPT_ERR = b"NOSCRIPT No matching script. Please use EVAL."

_SPEC_RW = {"notes": "We cannot tell how the keys will be used so we assume the worst, RW "
            "and UPDATE", "flags": ["RW", "access", "update"],
            "begin_search": {"index": {"pos": 2}},
            "find_keys": {"keynum": {"keynumidx": 0, "firstkey": 1, "step": 1}}}
_SPEC_RO = {"notes": "We cannot tell how the keys will be used so we assume the worst, RO "
            "and ACCESS", "flags": ["RO", "access"], "begin_search": {"index": {"pos": 2}},
            "find_keys": {"keynum": {"keynumidx": 0, "firstkey": 1, "step": 1}}}
_SPEC_RW_SHA = {k: v for k, v in _SPEC_RW.items() if k != "notes"}
_SPEC_RO_SHA = {k: v for k, v in _SPEC_RO.items() if k != "notes"}


def script_keys(argv: list[bytes]) -> list[int]:
    """Key positions of EVAL-style commands (COMMAND GETKEYS)."""
    try:
        n = int(argv[2])
    except (ValueError, IndexError):
        raise CommandError(b"ERR Invalid arguments specified for command") from None
    if n < 0 or n > len(argv) - 3:
        raise CommandError(b"ERR Invalid arguments specified for command")
    return list(range(3, 3 + n))


class Script:
    __slots__ = ("body", "func", "flags", "cref")

    def __init__(self, body: bytes, func, flags: int) -> None:
        self.body = body
        self.func = func
        self.flags = flags
        self.cref = None  # the compiled bridge's handle (LuaEngine.run)


class EvalEngine(LuaEngine):
    def __init__(self, server) -> None:
        super().__init__(server, "eval")
        self.scripts: dict[bytes, Script] = {}
        self.body_bytes = 0

    def create(self, body: bytes, sha: bytes | None = None) -> tuple[bytes, Script]:
        """luaCreateFunction: compile body (once) and cache it under its SHA1."""
        if sha is None:
            sha = sha1hex(body)
        s = self.scripts.get(sha)
        if s is not None:
            return sha, s
        flags, skip = shebang_flags(body)
        func = self.compile(body[skip:], b"@user_script")
        s = Script(body, func, flags)
        self.scripts[sha] = s
        self.body_bytes += len(body)
        srv = self.server
        srv.number_of_cached_scripts = len(self.scripts)
        srv.lua_memory = self.memory()
        srv.scripts_cache_memory = self.body_bytes + len(self.scripts) * 100
        return sha, s


def shebang_flags(body: bytes) -> tuple[int, int]:
    """evalExtractShebangFlags: (flags, length of the shebang line to skip)."""
    if not body.startswith(b"#!"):
        return F_EVAL_COMPAT, 0
    end = body.find(b"\n")
    if end < 0:
        raise CommandError(b"ERR Invalid script shebang")
    try:
        parts = split_args(body[:end].decode("latin-1"))
    except ValueError:
        parts = []
    if not parts:
        raise CommandError(b"ERR Invalid engine in script shebang")
    if parts[0] != "#!lua":
        raise CommandError(f"ERR Unexpected engine in script shebang: {parts[0]}".encode("latin-1"))
    flags = 0
    for p in parts[1:]:
        if p.startswith("flags="):
            for f in (p[6:].split(",") if p[6:] else []):
                v = parse_flags_list([f])
                if v is None:
                    raise CommandError(
                        f"ERR Unexpected flag in script shebang: {f}".encode("latin-1"))
                flags |= v
        else:
            raise CommandError(f"ERR Unknown lua shebang option: {p}".encode("latin-1"))
    return flags, end


def eval_command_flags(srv, cmd, argv: list[bytes]) -> int:
    """evalGetCommandFlags: a script with a shebang declares what it does (no-writes,
    allow-oom...); its flags replace the command's write/denyoom/may_replicate."""
    if len(argv) < 2:
        return cmd.flags
    sha_mode = cmd.name in ("evalsha", "evalsha_ro")
    if sha_mode and len(argv[1]) != 40:
        return cmd.flags
    e = srv.eval_engine
    s = e.scripts.get(argv[1].lower() if sha_mode else sha1hex(argv[1])) if e else None
    if s is not None:
        flags = s.flags
    elif sha_mode:
        return cmd.flags
    else:
        try:
            flags = shebang_flags(argv[1])[0]
        except CommandError:
            return cmd.flags
    if flags & F_EVAL_COMPAT:
        return cmd.flags
    return script_cmd_flags(cmd.flags, flags)


def eval_engine(srv) -> EvalEngine:
    e = getattr(srv, "eval_engine", None)
    if e is None:
        e = srv.eval_engine = EvalEngine(srv)
    return e


def _numkeys(argv: list[bytes]) -> int:
    n = parse_int(argv[2])
    if n > len(argv) - 3:
        raise CommandError(b"ERR Number of keys can't be greater than number of args")
    if n < 0:
        raise CommandError(b"ERR Number of keys can't be negative")
    return n


def _eval(c, argv, sha_mode: bool, ro: bool):
    srv = c.server
    if srv.monitors:  # the EVAL line comes before the lines of the commands it runs
        srv.feed_monitors(c, argv)
    if sha_mode and len(argv[1]) != 40:
        raise CommandError(NOSCRIPT_ERR)
    n = _numkeys(argv)
    engine = eval_engine(srv)
    if sha_mode:
        sha = argv[1].lower()
        script = engine.scripts.get(sha)
        if script is None:
            raise CommandError(NOSCRIPT_ERR)
    else:
        sha, script = engine.create(argv[1])
    return engine.execute(c, script, argv, n, sha, True, ro)


@command("eval", -3, "noscript stale skip_monitor no_mandatory_keys may_replicate", group=GROUP,
         acl=("scripting",), getkeys=script_keys, key_specs=[_SPEC_RW], since="2.6.0",
         summary="Execute a Lua script server side",
         complexity="Depends on the script that is executed.")
def eval_(c, argv):
    return _eval(c, argv, False, False)


@command("eval_ro", -3, "readonly noscript stale skip_monitor no_mandatory_keys",
         group=GROUP, acl=("scripting",), getkeys=script_keys, key_specs=[_SPEC_RO],
         since="7.0.0", summary="Execute a read-only Lua script server side",
         complexity="Depends on the script that is executed.")
def eval_ro(c, argv):
    return _eval(c, argv, False, True)


@command("evalsha", -3, "noscript stale skip_monitor no_mandatory_keys may_replicate", group=GROUP,
         acl=("scripting",), getkeys=script_keys, key_specs=[_SPEC_RW_SHA], since="2.6.0",
         summary="Execute a Lua script server side",
         complexity="Depends on the script that is executed.")
def evalsha(c, argv):
    return _eval(c, argv, True, False)


@command("evalsha_ro", -3, "readonly noscript stale skip_monitor no_mandatory_keys",
         group=GROUP, acl=("scripting",), getkeys=script_keys, key_specs=[_SPEC_RO_SHA],
         since="7.0.0", summary="Execute a read-only Lua script server side",
         complexity="Depends on the script that is executed.")
def evalsha_ro(c, argv):
    return _eval(c, argv, True, True)


if _luabridge is not None:  # their common case compiled: _luabridge._evalsha
    _luabridge.set_eval_command(_eval)
    lookup(b"evalsha").handler = _luabridge.evalsha
    lookup(b"evalsha_ro").handler = _luabridge.evalsha_ro


# -- SCRIPT --------------------------------------------------------------------------------

@command("script|load", 3, "noscript stale", group=GROUP, acl=("scripting",),
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"), since="2.6.0",
         summary="Load the specified Lua script into the script cache.",
         complexity="O(N) with N being the length in bytes of the script body.")
def script_load(c, argv):
    sha, _ = eval_engine(c.server).create(argv[2])
    return resp.bulk(sha)


@command("script|exists", -3, "noscript", group=GROUP, acl=("scripting",),
         tips=("request_policy:all_shards", "response_policy:agg_logical_and"),
         since="2.6.0", summary="Check existence of scripts in the script cache.",
         complexity="O(N) with N being the number of scripts to check (so checking a "
         "single script is an O(1) operation).")
def script_exists(c, argv):
    e = getattr(c.server, "eval_engine", None)
    scripts = e.scripts if e is not None else {}
    return resp.array_header(len(argv) - 2) + b"".join(
        resp.ONE if a.lower() in scripts else resp.ZERO for a in argv[2:])


@command("script|flush", -2, "noscript", group=GROUP, acl=("scripting",),
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"), since="2.6.0",
         summary="Remove all the scripts from the script cache.",
         complexity="O(N) with N being the number of scripts in cache")
def script_flush(c, argv):
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"sync", b"async")):
        raise CommandError(b"ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    srv = c.server
    srv.eval_engine = None
    srv.lua_memory = 0
    srv.number_of_cached_scripts = 0
    srv.scripts_cache_memory = 0
    return resp.OK


@command("script|kill", 2, "noscript allow_busy", group=GROUP, acl=("scripting",),
         tips=("request_policy:all_shards", "response_policy:one_succeeded"),
         since="2.6.0", summary="Kill the script currently in execution.",
         complexity="O(1)")
def script_kill(c, argv):
    return kill_script(c, True)


def kill_script(c, is_eval: bool) -> bytes:
    """scriptKill: SCRIPT KILL (is_eval) or FUNCTION KILL."""
    from bocho.scripting import BUSY_EVAL, BUSY_FUNCTION
    ctx = c.server.script_ctx
    if ctx is None:
        raise CommandError(b"NOTBUSY No scripts in execution right now.")
    if ctx.wrote:
        raise CommandError(b"UNKILLABLE Sorry the script already executed write commands "
                           b"against the dataset. You can either wait the script "
                           b"termination or kill the server in a hard way using the "
                           b"SHUTDOWN NOSAVE command.")
    if is_eval and not ctx.eval_mode:
        raise CommandError(BUSY_FUNCTION)
    if not is_eval and ctx.eval_mode:
        raise CommandError(BUSY_EVAL)
    ctx.killed = True
    return resp.OK


@command("script|debug", 3, "noscript", group=GROUP, acl=("scripting",), since="3.2.0",
         summary="Set the debug mode for executed scripts.", complexity="O(1)")
def script_debug(c, argv):
    mode = argv[2].lower()
    if mode == b"no":
        return resp.OK
    if mode in (b"yes", b"sync"):
        raise CommandError(b"ERR SCRIPT DEBUG is not supported by this server")
    raise CommandError(b"ERR Use SCRIPT DEBUG YES/SYNC/NO")


@command("script|help", 2, "loading stale", group=GROUP, acl=("scripting",), since="5.0.0",
         summary="Show helpful text about the different subcommands", complexity="O(1)")
def script_help(c, argv):
    return resp.help_reply("script", [
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ])
