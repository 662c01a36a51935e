"""The Lua scripting engine behind EVAL and FUNCTION (Redis's script.c + script_lua.c).

One LuaEngine per Lua state: the server has one for EVAL scripts and one for function
libraries (bocho/commands/eval.py and functions.py make them). The Lua side (the
sandbox, the `redis` table, RESP <-> Lua conversion) is bocho/luaboot.py; this file is
what a script reaches through it: redis.call runs a command through the one command
table on the engine's script client (a Client without a connection, `is_script`), with
the checks of Redis's scriptCall (arity, noscript, read-only scripts, OOM).

A run (run_script) is Redis's scriptPrepareForRun + luaCallFunction + scriptResetRun:
the script's flags are checked against the caller, what its commands propagate is
collected in server.also_propagate and leaves as one MULTI/EXEC block afterwards
(effect replication, as Redis 7.0), and the Lua value it returns is encoded for the
caller's protocol.

Busy scripts. A script runs to completion inside the event loop's callback, so nothing
else is served while it runs. A Lua count hook (every 100000 instructions, as Redis)
calls `_interrupt`: once the script has run longer than busy-reply-threshold, the
server enters "busy" mode (server.busy_script is the run, server.slow sends every
command through Client.call, which refuses those without the allow-busy flag with the
BUSY error) and the hook serves the other connections itself, as Redis's
processEventsWhileBlocked: a zero-timeout poll over the clients' sockets, the bytes
read fed to their process_input, the replies flushed. SCRIPT KILL / FUNCTION KILL set
`killed` on the run; the hook then raises the kill error and re-arms itself on every
instruction so that a pcall in the script cannot swallow it. SHUTDOWN NOSAVE exits
from inside the hook. The script's own connection is not read meanwhile (its next
requests wait in the kernel, as Redis protects that client). New connections are
accepted by the hook too (a plain-socket BusyTransport serves them) and handed to the
event loop once the script is over. Signals wait for the script's end, as in Redis.

redis.call/redis.pcall are the Python callables themselves (to Lua, C functions), so the
script's frame stays on the Lua stack for the error position even in a tail call; the
price is lupa's argument limit (about 7997 arguments per call, Redis allows 7999)."""

from __future__ import annotations

import hashlib
import math
import os
import select
import socket
from typing import TYPE_CHECKING, Any

import lupa.lua51 as lupa

try:
    if os.environ.get("BOCHO_PURE", "") not in ("", "0"):
        raise ImportError
    from bocho import _luabridge
except ImportError:  # not built, or the pure-Python path asked for: lupa's own calls
    _luabridge = None

from bocho import REDIS_VERSION, clock, log
from bocho.commands import DENYOOM, MAY_REPLICATE, NOSCRIPT, TABLE, WRITE, Command, lookup
from bocho.errors import OOM, CommandError, CountedError
from bocho.luaboot import BOOT
from bocho.network import F_MASTER, Client
from bocho.replication.replica import READONLY_ERR

if TYPE_CHECKING:
    from bocho.server import Server

# script flags (shebang / register_function)
F_NO_WRITES = 1
F_ALLOW_OOM = 2
F_ALLOW_STALE = 4
F_NO_CLUSTER = 8
F_ALLOW_CROSS_SLOT = 16
F_EVAL_COMPAT = 32  # an EVAL script without shebang
FLAG_NAMES = {"no-writes": F_NO_WRITES, "allow-oom": F_ALLOW_OOM,
              "allow-stale": F_ALLOW_STALE, "no-cluster": F_NO_CLUSTER,
              "allow-cross-slot-keys": F_ALLOW_CROSS_SLOT}

BUSY_EVAL = b"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = (b"BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                 b"SHUTDOWN NOSAVE.")
KILLED = b"Script killed by user with SCRIPT KILL..."

_VERSION_NUM = sum(int(x) << s for x, s in zip(REDIS_VERSION.split("."), (16, 8, 0), strict=True))


def sha1hex(b: bytes) -> bytes:
    return hashlib.sha1(b).hexdigest().encode()


def _no_attrs(obj: Any, name: Any, setting: bool) -> Any:
    raise AttributeError("not accessible from Lua")


# -- Redis's lrand48 (math.random gives the same sequence on every platform) -------------

class Rand48:
    def __init__(self) -> None:
        self.x = 0x1234ABCD330E

    def seed(self, s: int) -> None:
        s &= 0xFFFFFFFF
        self.x = ((s >> 16) << 32) | ((s & 0xFFFF) << 16) | 0x330E

    def next(self) -> int:
        self.x = (0x5DEECE66D * self.x + 0xB) & 0xFFFFFFFFFFFF
        return self.x >> 17


RAND = Rand48()
_LRAND_MAX = 0x7FFFFFFF


class ScriptClient(Client):
    """The engine's client (Redis's lua_client): commands from scripts run on it."""

    is_script = True

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.current = True  # never queued for a write: its replies are read back
        self.authenticated = True
        self.addr = ""
        self.laddr = ""
        self.update_slow()


class RunCtx:
    """One script run (Redis's scriptRunCtx)."""

    __slots__ = ("caller", "sc", "name", "eval_mode", "readonly", "allow_oom", "start",
                 "timedout", "killed", "wrote", "resp", "repl", "pre_oom", "engine",
                 "snapshot", "argv", "deny")

    def __init__(self, engine: LuaEngine, caller: Client, name: bytes, eval_mode: bool,
                 readonly: bool, allow_oom: bool, pre_oom: bool) -> None:
        self.engine = engine
        self.caller = caller
        self.sc = engine.client
        self.name = name
        self.eval_mode = eval_mode
        self.readonly = readonly
        self.allow_oom = allow_oom
        self.pre_oom = pre_oom
        self.start = clock.monotonic_ms()
        self.snapshot = clock.mstime()
        self.timedout = False
        self.killed = False
        self.wrote = False
        self.resp = 2
        self.repl = 3
        self.deny = deny_mask(engine.server, caller, readonly, allow_oom, pre_oom)

    def busy_error(self) -> bytes:
        return BUSY_EVAL if self.eval_mode else BUSY_FUNCTION


def deny_mask(srv: Server, caller: Client, readonly: bool, allow_oom: bool,
              pre_oom: bool) -> int | None:
    """The command flags call_command would refuse in this run, as one mask for the
    bridge's redis.call (a command with none of them runs without the checks); None when
    every call must take call_command's checks (an ACL user other than the unlimited
    ones, a busy script, set_repl). What the mask reads cannot change while the script
    runs unless it turns busy (the BGSAVE result and the replicas' acks wait for the
    event loop; CONFIG and ACL are not allowed from scripts)."""
    if caller.user not in srv.acl_free:
        return None
    deny = 0 if srv.script_disable_deny_script else NOSCRIPT
    if readonly:
        deny |= WRITE | MAY_REPLICATE
    if _replica_refuses_writes(srv, caller):
        deny |= WRITE
    if not srv.lastbgsave_ok and _disk_error(srv) is not None:
        deny |= WRITE
    if srv.replicas_denier is not None and srv.replicas_denier() is not None:
        deny |= WRITE
    if not allow_oom and srv.maxmemory and pre_oom:
        deny |= DENYOOM
    return deny


def script_cmd_flags(cmd_flags: int, sflags: int) -> int:
    """scriptFlagsToCmdFlags: the flags a script's declared flags give its command."""
    from bocho.commands import STALE
    f = cmd_flags & ~(STALE | DENYOOM | WRITE | MAY_REPLICATE)
    if not sflags & (F_ALLOW_OOM | F_NO_WRITES):
        f |= DENYOOM
    if not sflags & F_NO_WRITES:
        f |= WRITE
    if sflags & F_ALLOW_STALE:
        f |= STALE
    return f


def effective_flags(srv: Server, cmd: Any, argv: list[bytes]) -> int:
    """getCommandFlags: the command's flags, or for EVAL/FCALL those of its script."""
    name = cmd.name
    if name.startswith("eval"):
        from bocho.commands.eval import eval_command_flags
        return eval_command_flags(srv, cmd, argv)
    if name.startswith("fcall"):
        from bocho.commands.functions import fcall_command_flags
        return fcall_command_flags(srv, cmd, argv)
    return cmd.flags


def parse_flags_list(words) -> int | None:
    out = 0
    for w in words:
        f = FLAG_NAMES.get(w)
        if f is None:
            return None
        out |= f
    return out


class LuaEngine:
    """A Lua state with the sandbox and the redis API (mode "eval" or "function")."""

    def __init__(self, server: Server, mode: str) -> None:
        from bocho import lualibs
        self.server = server
        self.mode = mode
        self.ctx: RunCtx | None = None
        self.client = ScriptClient(server)
        self.registering: Any = None  # FUNCTION LOAD in progress (functions.py)
        self.load_deadline = 0
        lua = lupa.LuaRuntime(encoding=None, register_eval=False, register_builtins=False,
                              unpack_returned_tuples=True, attribute_filter=_no_attrs)
        self.lua = lua
        self.bridge = _open_bridge(lua, self)
        # how commands run a script: the bridge's compiled LuaEngine.run, or run itself
        self.execute = self.run if self.bridge is None else self.bridge.execute
        libs = lualibs.make(lua)
        self.M = lua.execute(
            BOOT, mode.encode(), self._call, self._pcall, _unwrap, self._acl, sha1hex, self._log, self._setresp,
            self._setrepl, self._interrupt, self._rand, self._seed, self._errcount,
            self._register, libs, REDIS_VERSION.encode(), _VERSION_NUM, name="=bocho")
        m = self.M
        self._xpcall = m.xpcall
        self._pcall = m.pcall
        self._sethook = m.sethook
        self._errh = m.errh
        self._array = m.array
        self._to_resp = m.to_resp_top
        self._run = m.run
        self._ref = m.ref if self.bridge is not None else None
        self._error_info = m.error_info
        self._parse = m.parse
        self._gc_count = lua.eval("function() return collectgarbage('count') end")
        self._errtable = m.errtable
        # Setting up the state leaves about a third of its memory as garbage that scripts,
        # allocating little, may never make Lua collect: used_memory_lua would report it
        lua.execute("collectgarbage('collect')")

    # -- callbacks from Lua ----------------------------------------------------------------

    def _lupa_run(self, args) -> bytes:
        """redis.call's raw reply; b"!..." for an error of the call itself."""
        ctx = self.ctx
        if ctx is None:
            return b"!redis.call/pcall can only be called inside a script invocation"
        for a in args:
            if type(a) is not bytes:
                argv = _argv(args)
                if argv is None:
                    return b"!Lua redis lib command arguments must be strings or integers"
                break
        else:
            if not args:
                return b"!Please specify at least one argument for this redis lib call"
            argv = list(args)
        return self.call_command(ctx, argv)

    def _convert(self, r: bytes, raise_error: bool) -> Any:
        c0 = r[0]
        if c0 == 36:  # $
            i = r.find(b"\r\n")
            n = int(r[1:i])
            if n < 0:
                return False
            return r[i + 2:i + 2 + n]
        if c0 == 58:  # :
            return int(r[1:-2])
        if c0 == 33:  # ! (arguments)
            e = self._errtable(r[1:], False)
            if raise_error:
                raise lupa.LuaError(e)
            return e
        v = self._parse(r, 1)
        if type(v) is tuple:
            v = v[0]
        if c0 == 45 and raise_error:
            raise lupa.LuaError(v)
        return v

    def _call(self, *args) -> Any:
        return self._convert(self._lupa_run(args), True)

    def _pcall(self, *args) -> Any:
        return self._convert(self._lupa_run(args), False)

    def _acl(self, *args) -> Any:
        argv = _argv(args)
        if argv is None:
            return None
        cmd = _resolve(argv)
        if cmd is None:
            return None
        ctx = self.ctx
        caller = ctx.caller if ctx is not None else None
        srv = self.server
        if caller is None or caller.user in srv.acl_free:
            return True
        u = srv.acl.users.get(caller.user) or srv.acl.default
        return not u.check(cmd, argv)[0]

    def _log(self, level: int, msg: bytes) -> None:
        if level >= log.logger.level:
            log.logger.log(level, msg.decode(errors="replace"))

    def _setresp(self, n: int) -> bytes | None:
        ctx = self.ctx
        if ctx is None:
            return b"redis.setresp can only be called inside a script invocation"
        if n not in (2, 3):
            return b"RESP version must be 2 or 3."
        ctx.resp = n
        ctx.sc.resp = n
        return None

    def _setrepl(self, n: int) -> bytes | None:
        ctx = self.ctx
        if ctx is None:
            return b"redis.set_repl can only be called inside a script invocation"
        if n & ~3 or n < 0:
            return b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
        ctx.repl = n
        if n == 0:
            ctx.deny = None  # call_command keeps the commands out of also_propagate
        return None

    def _rand(self, *args) -> Any:
        """math.random as Redis's (its lrand48, the argument checks of Lua's)."""
        r = (RAND.next() % _LRAND_MAX) / _LRAND_MAX
        n = len(args)
        if n == 0:
            return r
        if n > 2:
            raise PosError("wrong number of arguments")
        lo, hi = 1, _checkint(args, n - 1, "random")
        if n == 2:
            lo = _checkint(args, 0, "random")
        if lo > hi:
            raise PosError(f"bad argument #{n} to 'random' (interval is empty)")
        return math.floor(r * (hi - lo + 1)) + lo

    def _seed(self, *args) -> None:
        RAND.seed(_checkint(args, 0, "randomseed"))

    def _errcount(self, msg: bytes, ignore: bool) -> None:
        if not ignore:
            self.server.count_error(msg[1:] if msg.startswith(b"-") else msg)

    def _register(self, n: int, *args) -> bytes | None:
        reg = self.registering
        if reg is None:
            return b"redis.register_function can only be called on FUNCTION LOAD command"
        return reg(self, n, args)

    def _interrupt(self) -> bytes | None:
        ctx = self.ctx
        if ctx is None:
            return None
        srv = self.server
        if not ctx.timedout:
            elapsed = clock.monotonic_ms() - ctx.start
            if elapsed < srv.config["busy-reply-threshold"]:
                return None
            log.warning(f"Slow script detected: still in execution after {elapsed} milliseconds. "
                        f"You can try killing the script using the "
                        f"{'SCRIPT KILL' if ctx.eval_mode else 'FUNCTION KILL'} command. "
                        f"Script name is: {ctx.name.decode(errors='replace')}.")
            ctx.timedout = True
            ctx.deny = None  # other clients run meanwhile: every call checked again
            srv.busy_script = ctx
            srv.slow = True
        process_events_while_blocked(srv, ctx)
        if ctx.killed:
            log.warning("Lua script killed by user with SCRIPT KILL.")
            return KILLED
        return None

    # -- redis.call ------------------------------------------------------------------------

    def call_command(self, ctx: RunCtx, argv: list[bytes]) -> bytes:
        """scriptCall: check the command against the run, execute it on the script client,
        return its raw reply (errors start with '-' and were counted already)."""
        srv = self.server
        cmd = TABLE.get(argv[0])
        if cmd is None or cmd.subcommands is not None:
            cmd = _resolve(argv)
        err = None
        if cmd is None:
            err = b"ERR Unknown Redis command called from script"
        elif not cmd.arity_ok(len(argv)):
            err = b"ERR Wrong number of args calling Redis command from script"
        else:
            fl = cmd.flags
            if fl & NOSCRIPT and not srv.script_disable_deny_script:
                err = b"ERR This Redis command is not allowed from script"
            elif ctx.caller.user not in srv.acl_free and (
                    err := srv.acl.check_script(ctx.caller, ctx.sc, cmd, argv)) is not None:
                pass
            elif ctx.readonly and fl & (WRITE | MAY_REPLICATE):
                err = b"ERR Write commands are not allowed from read-only scripts."
            elif fl & WRITE and _replica_refuses_writes(srv, ctx.caller):
                err = READONLY_ERR
            elif fl & WRITE and not srv.lastbgsave_ok and (err := _disk_error(srv)) is not None:
                pass
            elif fl & WRITE and srv.replicas_denier is not None and (
                    err := srv.replicas_denier()) is not None:
                pass
            elif (not ctx.allow_oom and srv.maxmemory and not ctx.wrote and ctx.pre_oom
                  and fl & DENYOOM):
                err = OOM
        if err is not None:
            if cmd is not None:
                cmd.rejected_calls += 1
            srv.count_error(err)
            return b"-" + err + b"\r\n"
        if cmd.flags & WRITE:
            ctx.wrote = True
            if ctx.deny is not None:
                ctx.deny &= ~DENYOOM
        sc = ctx.sc
        if ctx.repl == 0 and (buf := srv.also_propagate) is not None:
            mark = len(buf)
            sc.execute_plain(cmd, argv)
            del buf[mark:]
        else:
            sc.execute_plain(cmd, argv)
        out = sc.out
        r = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return r

    # -- running -----------------------------------------------------------------------------

    def compile(self, body: bytes, chunkname: bytes) -> Any:
        f, err = _pair(self.M.compile(body, chunkname))
        if f is None:
            raise CommandError(b"ERR Error compiling script (new function): " + _b(err))
        return f

    def run(self, c: Client, fn: Any, argv: list[bytes], nkeys: int, name: bytes,
            eval_mode: bool, ro: bool) -> bytes | None:
        """Run a compiled script/function (fn: its .func, .flags and .cref, the bridge's
        handle of it, made here on first use) for client c with argv[3:3 + nkeys] as its
        keys and the rest of argv[3:] as its arguments; returns the encoded reply (or
        raises CommandError for a counted error)."""
        srv = self.server
        sflags = fn.flags
        compat = sflags & F_EVAL_COMPAT
        pre_oom = bool(srv.maxmemory) and srv.over_maxmemory(c)
        if not compat:
            if sflags & F_NO_CLUSTER and srv.config["cluster-enabled"]:
                raise CommandError(b"ERR Can not run script on cluster, 'no-cluster' flag is set.")
            if not sflags & F_NO_WRITES:
                if ro:
                    raise CommandError(
                        b"ERR Can not execute a script with write flag using *_ro command.")
                if _replica_refuses_writes(srv, c):
                    raise CommandError(
                        b"READONLY Can not run script with write flag on readonly replica")
            if not sflags & F_NO_WRITES and not srv.lastbgsave_ok:
                refused = _disk_error(srv)
                if refused is not None:
                    raise CommandError(refused)
            if not sflags & F_NO_WRITES and srv.replicas_denier is not None:
                refused = srv.replicas_denier()  # min-replicas-to-write
                if refused is not None:
                    raise CommandError(refused)
            if pre_oom and not sflags & (F_ALLOW_OOM | F_NO_WRITES):
                raise CommandError(b"OOM allow-oom flag is not set on the script, can not run "
                                   b"it when used memory > 'maxmemory'")
        readonly = ro or (not compat and bool(sflags & F_NO_WRITES))
        allow_oom = not compat and bool(sflags & F_ALLOW_OOM)
        ctx = RunCtx(self, c, name, eval_mode, readonly, allow_oom, pre_oom)
        ctx.argv = argv
        sc = self.client
        sc.db = c.db
        sc.resp = 2
        outer = srv.also_propagate
        buf: list = [] if outer is None else outer
        srv.also_propagate = buf
        self.ctx = ctx
        srv.script_ctx = ctx
        try:
            br = self.bridge
            if br is not None:
                h = fn.cref
                if h is None:
                    h = fn.cref = br.hold(self._ref(fn.func))
                res = br.run(h, argv, nkeys, c.resp, eval_mode)
            else:
                try:
                    res = self._run(fn.func, c.resp, eval_mode, nkeys, *argv[3:])
                except lupa.LuaError as e:  # a failure of ours outside the script's xpcall
                    res = (False, b"ERR " + str(e).encode(), None, None, False)
            if ctx.killed:
                self.M.arm()
        finally:
            self.ctx = None
            srv.script_ctx = None
            srv.also_propagate = outer
            if ctx.timedout:
                self.busy_over()
        if outer is None and buf:
            from bocho.commands.multi import propagate_block
            propagate_block(srv, buf)
        c.prop = []
        if type(res) is bytes:
            return res
        return self.result(res, name)

    def busy_over(self) -> None:
        """A run that went past busy-reply-threshold has ended: the server is no longer
        busy, and the connections accepted meanwhile go to the event loop."""
        srv = self.server
        srv.busy_script = None
        srv.update_slow()
        if srv.busy_accepted:
            hand_over(srv)

    def result(self, res: tuple, name: bytes) -> bytes:
        """The reply of a run from luaboot's result tuple (see _luabridge.Bridge.run);
        an error reply is raised."""
        if res[0]:
            data, kind = res[1], res[2] if len(res) > 2 else None
            if kind is None:
                return data
            if kind == b"ignore":
                raise CountedError(data[1:-2])
            raise CommandError(data[1:-2])
        msg, src, line, ignore = res[1:5]
        msg = _b(msg)
        if src is not None and line is not None:
            msg += b" script: %s, on %s:%s." % (name, _b(src), _b(line))
        if msg.startswith(b"-"):
            msg = msg[1:]
        if ignore:
            raise CountedError(msg)
        raise CommandError(msg)

    def memory(self) -> int:
        """The Lua state's memory in bytes (INFO used_memory_lua / _vm_functions)."""
        return int(self._gc_count() * 1024)


def _open_bridge(lua: Any, engine: LuaEngine) -> Any:
    """The compiled bridge on this Lua state (see bocho/_luabridge.pyx), or None. Its
    redis.call runs what call_command would run without a check (a command none of
    RunCtx.deny's flags refuses) itself, and calls call_command for the rest."""
    if _luabridge is None:
        return None
    from bocho.commands.multi import propagate_block
    _luabridge.configure(TABLE, RunCtx, propagate_block, Client, Command, WRITE, DENYOOM,
                         NOSCRIPT, MAY_REPLICATE, F_EVAL_COMPAT)
    opener, err = _pair(lua.eval("package.loadlib")(_luabridge.PATH.encode(),
                                                      b"luaopen_bocho_bridge"))
    if opener is None:
        log.warning(f"Compiled redis.call not used: {_b(err).decode(errors='replace')}")
        return None
    opener()
    br = _luabridge.Bridge(lua, engine)
    br.install(b"bocho_bridge")
    return br


class PosError(Exception):
    """An error a Python function exposed to Lua raises as Lua's luaL_error does: its
    text gets the calling script's position ("user_script:1: ...")."""


def _checkint(args: tuple, i: int, fname: str) -> int:
    v = args[i] if i < len(args) else None
    if type(v) is bytes:
        try:
            v = float(v)
        except ValueError:
            v = None
    if type(v) not in (int, float) or v != v:
        got = "no value" if i >= len(args) else lupa.lua_type(args[i]) or type(args[i]).__name__
        raise PosError(f"bad argument #{i + 1} to '{fname}' (number expected, got {got})")
    return int(v)


def _unwrap(e: Any) -> tuple:
    """A Python exception that crossed into Lua as an error: (the Lua error table it
    carries (redis.call's) or its text, whether the text needs the script's position)."""
    if isinstance(e, lupa.LuaError) and e.args and lupa.lua_type(e.args[0]) == "table":
        return e.args[0], False
    if isinstance(e, PosError):
        return str(e).encode(), True
    if isinstance(e, BaseException):
        return str(e).encode(), False
    return e, False


def _pair(r: Any) -> tuple:
    """The first two values a Lua call returned (lupa gives a lone value as itself)."""
    if type(r) is tuple:
        return (r[0], r[1]) if len(r) > 1 else (r[0] if r else None, None)
    return r, None


def _b(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    return str(v).encode()


def _argv(args) -> list[bytes] | None:
    argv = []
    for a in args:
        t = type(a)
        if t is bytes:
            argv.append(a)
        elif t is int:
            argv.append(b"%d" % a if -10**17 < a < 10**17 else b"%.17g" % a)
        elif t is float:
            argv.append(b"%.17g" % a)
        else:
            return None
    return argv


def _resolve(argv: list[bytes]):
    """lookupCommand: the command (or subcommand) argv names, None if unknown."""
    cmd = lookup(argv[0])
    if cmd is None:
        return None
    if cmd.subcommands is not None and (cmd.handler is None or len(argv) > 1):
        sub = cmd.subcommands.get(argv[1].lower()) if len(argv) > 1 else None
        if sub is not None:
            return sub
        if cmd.handler is None:
            return None if len(argv) > 1 else cmd
    return cmd


# -- busy scripts ------------------------------------------------------------------------

def busy_refusal(srv: Server, cmd: Any, argv: list[bytes]) -> bytes | None:
    """While a script is busy: the error for a command the server cannot run now."""
    ctx = srv.busy_script
    if ctx is None:
        return None
    from bocho.commands import ALLOW_BUSY
    if not cmd.flags & ALLOW_BUSY:
        return ctx.busy_error()
    if cmd.name == "shutdown" and not any(a.lower() == b"nosave" for a in argv[1:]):
        return ctx.busy_error()
    return None


class BusyTransport:
    """The transport of a connection accepted while a script is busy (the event loop
    cannot take it then): plain non-blocking socket writes. When the script ends, the
    socket is handed to the loop (hand_over) and the client gets a real transport."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self.pending += data
        try:
            n = self.sock.send(self.pending)
        except BlockingIOError:
            return
        except OSError:
            self.closed = True
            return
        del self.pending[:n]

    def get_write_buffer_size(self) -> int:
        return len(self.pending)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        try:
            if name == "socket":
                return self.sock
            if name == "peername":
                return self.sock.getpeername()
            if name == "sockname":
                return self.sock.getsockname()
        except OSError:
            pass
        return default

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()

    abort = close

    def is_closing(self) -> bool:
        return self.closed


def _accept_while_busy(srv: Server, fd: int, family: int) -> None:
    lsock = socket.socket(family, socket.SOCK_STREAM, fileno=os.dup(fd))
    try:
        while True:
            try:
                conn, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            c = Client(srv, unix=family == socket.AF_UNIX)
            c.connection_made(BusyTransport(conn))
            if not c.closing:
                srv.busy_accepted.append((c, conn))
    finally:
        lsock.close()


def hand_over(srv: Server) -> None:
    """After a busy script: the connections accepted meanwhile move to the event loop."""
    accepted, srv.busy_accepted = srv.busy_accepted, []
    loop = srv.loop
    for c, sock in accepted:
        t = c.transport
        if c.closing or t.closed or loop is None:
            continue
        if t.pending:
            try:
                sock.setblocking(True)
                sock.sendall(t.pending)
                sock.setblocking(False)
            except OSError:
                c.close_now()
                continue
        srv.clients.pop(c.id, None)  # connection_made registers it again
        srv.stat_numconnections -= 1
        loop.create_task(loop.connect_accepted_socket(lambda c=c: c, sock))


def process_events_while_blocked(srv: Server, ctx: RunCtx) -> None:
    """Serve the other connections' pending input once, and accept new ones (see the
    module docstring)."""
    caller = ctx.caller
    fds: dict[int, Any] = {}
    for c in list(srv.clients.values()):
        if c is caller or c.closing or c.fd < 0 or c.transport is None or c.tls:
            continue  # a TLS connection's socket carries records only its transport reads
        fds[c.fd] = c
    listeners = {}
    for server in srv.servers:
        for ls in getattr(server, "sockets", ()) or ():
            try:
                listeners[ls.fileno()] = ls.family
            except (OSError, AttributeError):
                pass
    if fds or listeners:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        for fd in listeners:
            poller.register(fd, select.POLLIN)
        try:
            ready = poller.poll(0)
        except OSError:
            ready = []
        for fd, _ev in ready:
            fam = listeners.get(fd)
            if fam is not None:
                _accept_while_busy(srv, fd, fam)
                continue
            c = fds.get(fd)
            if c is None or c.closing:
                continue
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                c.close_now()
                continue
            if not data:
                c.close()
                continue
            try:
                c.process_input(data)
            except Exception as e:  # a bug of ours must not kill the script's run
                log.warning(f"error serving a client while a script is busy: {e!r}")
    if srv.pending_writes:
        srv.flush_pending()
    if srv.exiting:  # SHUTDOWN NOSAVE: prepare_for_shutdown has run
        os._exit(srv.exit_code)


def _replica_refuses_writes(srv: Server, caller: Client) -> bool:
    """A read-only replica refuses a script's writes unless its master sent it."""
    return (srv.is_replica_of_master() and srv.config["replica-read-only"]
            and not caller.flags & F_MASTER)


def _disk_error(srv) -> bytes | None:
    """MISCONF while RDB saves fail (persistence/snapshot.py)."""
    from bocho.persistence.snapshot import write_denied
    return write_denied(srv)
