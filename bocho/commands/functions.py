"""FUNCTION and FCALL (Redis's functions.c + function_lua.c).

The registry: `server.functions` (a FunctionRegistry) holds the libraries by name and
their functions by name, and the Lua state they were loaded into (a LuaEngine in
"function" mode, bocho/scripting.py). FUNCTION LOAD runs a library's body once with a
load-time API (redis.register_function, redis.log, the version) under a 500 ms
deadline; the callbacks it registers then run by FCALL with (KEYS, ARGV) as arguments
and the ordinary sandboxed globals.

FUNCTION DUMP/RESTORE use Redis's payload: for each library the RDB opcode
FUNCTION2 (245) and its code as an RDB string, then the RDB version (2 bytes, LE) and
the CRC-64/Jones of everything before it (8 bytes, LE)."""

from __future__ import annotations

from typing import Any

from bocho import clock, resp
from bocho.commands import command
from bocho.commands.eval import _SPEC_RO, _SPEC_RW, script_keys
from bocho.config import split_args
from bocho.errors import CommandError
from bocho.glob import stringmatch
from bocho.persistence import rdbio
from bocho.scripting import FLAG_NAMES, LuaEngine, _pair
from bocho.util import parse_int

GROUP = "scripting"
LOAD_TIMEOUT_MS = 500

_NAME_ERR = (b"Library names can only contain letters, numbers, or underscores(_) and must "
             b"be at least one character long")


class Function:
    __slots__ = ("name", "func", "desc", "flags", "lib", "cref")

    def __init__(self, name: bytes, func: Any, desc: bytes | None, flags: int, lib) -> None:
        self.name = name
        self.func = func
        self.desc = desc
        self.flags = flags
        self.lib = lib
        self.cref = None  # the compiled bridge's handle (LuaEngine.run)


class Library:
    __slots__ = ("name", "code", "functions")

    def __init__(self, name: bytes, code: bytes) -> None:
        self.name = name
        self.code = code
        self.functions: dict[bytes, Function] = {}


class FunctionRegistry:
    def __init__(self, server) -> None:
        self.server = server
        self.libraries: dict[bytes, Library] = {}
        self.functions: dict[bytes, Function] = {}
        self._engine: LuaEngine | None = None

    @property
    def engine(self) -> LuaEngine:
        if self._engine is None:
            self._engine = LuaEngine(self.server, "function")
        return self._engine

    def flush(self) -> None:
        self.libraries = {}
        self.functions = {}
        self._engine = None
        self._counts()

    def link(self, lib: Library) -> None:
        self.libraries[lib.name.lower()] = lib
        for name, f in lib.functions.items():
            self.functions[name] = f
        self._counts()

    def unlink(self, lib: Library) -> None:
        del self.libraries[lib.name.lower()]
        for name in lib.functions:
            self.functions.pop(name, None)
        self._counts()

    def _counts(self) -> None:
        """INFO memory's number_of_functions / number_of_libraries."""
        srv = self.server
        if srv.__dict__.get("functions") is self:
            srv.number_of_functions = len(self.functions)
            srv.number_of_libraries = len(self.libraries)
            srv.functions_memory = self._engine.memory() if self._engine is not None else 0

    def create(self, code: bytes, replace: bool, timeout: int) -> bytes:
        """functionsCreateWithLibraryCtx: load a library's code; its name, or
        CommandError."""
        name, engine_name, body = _metadata(code)
        if not _valid_name(name):
            raise CommandError(b"ERR " + _NAME_ERR)
        if engine_name.lower() != b"lua":
            raise CommandError(b"ERR Engine '%s' not found" % engine_name)
        old = self.libraries.get(name.lower())
        if old is not None and not replace:
            raise CommandError(b"ERR Library '%s' already exists" % name)
        if old is not None:
            self.unlink(old)
        try:
            lib = Library(name, code)
            self._run_load(lib, body, timeout)
            if not lib.functions:
                raise CommandError(b"ERR No functions registered")
            for fname in lib.functions:
                if fname in self.functions:
                    raise CommandError(b"ERR Function %s already exists"
                                       % lib.functions[fname].name)
        except CommandError:
            if old is not None:
                self.link(old)
            raise
        self.link(lib)
        return name

    def _run_load(self, lib: Library, body: bytes, timeout: int) -> None:
        eng = self.engine
        M = eng.M
        f, env = _pair(M.load_begin(body, _load_hook(timeout)))
        if f is None:
            M.arm()
            raise CommandError(b"ERR Error compiling function: " + _b(env))
        eng.registering = lambda e, n, args: _register(lib, n, args)
        try:
            ok, err = _pair(M.pcall(f))
            M.sethook()  # C: no Lua instruction runs under the load hook after this
            M.arm()
        finally:
            eng.registering = None
        M.load_end(env)
        if not ok:
            from bocho.scripting import _unwrap
            if lupa_type(err) == "userdata":
                err = _unwrap(err)
            msg = _b(M.load_error(err))
            if lupa_type(err) != "table":
                msg = b"ERR " + msg
            raise CommandError(b"ERR Error registering functions: " + msg)


def lupa_type(v) -> str | None:
    import lupa.lua51 as lupa
    return lupa.lua_type(v)


def _load_hook(timeout: int):
    start = clock.monotonic_ms()

    def hook():
        if timeout > 0 and clock.monotonic_ms() - start > timeout:
            return b"FUNCTION LOAD timeout"
        return None
    return hook


def _b(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    return str(v).encode()


def _valid_name(name: bytes) -> bool:
    return bool(name) and all(c == 95 or 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122
                              for c in name)


def _metadata(code: bytes) -> tuple[bytes, bytes, bytes]:
    """functionExtractLibMetaData: (name, engine, body after the shebang line)."""
    if not code.startswith(b"#!"):
        raise CommandError(b"ERR Missing library metadata")
    end = code.find(b"\n")
    if end < 0:
        raise CommandError(b"ERR Invalid library metadata")
    try:
        parts = [p.encode("latin-1") for p in split_args(code[:end].decode("latin-1"))]
    except ValueError:
        parts = []
    if not parts:
        raise CommandError(b"ERR Invalid library metadata")
    engine = parts[0][2:]
    name = None
    for p in parts[1:]:
        if p[:5].lower() == b"name=":
            if name is not None:
                raise CommandError(
                    b"ERR Invalid metadata value, name argument was given multiple times")
            name = p[5:]
            continue
        raise CommandError(b"ERR Invalid metadata value given: " + p)
    if name is None:
        raise CommandError(b"ERR Library name was not given")
    return name, engine, code[end:]


def _flags_of(t) -> int | None:
    out = 0
    i = 1
    while True:
        v = t[i]
        if v is None:
            return out
        if type(v) is not bytes and not isinstance(v, (int, float)):
            return None
        s = _b(v).decode("latin-1").lower()
        f = FLAG_NAMES.get(s)
        if f is None:
            return None
        out |= f
        i += 1


def _register(lib: Library, n: int, args: tuple) -> bytes | None:
    """redis.register_function(name, callback) or ({function_name=, callback=, flags=,
    description=}): None, or the error text."""
    if n < 1 or n > 2:
        return b"wrong number of arguments to redis.register_function"
    desc = None
    flags = 0
    if n == 1:
        t = args[0]
        if lupa_type(t) != "table":
            return (b"calling redis.register_function with a single argument is only "
                    b"applicable to Lua table (representing named arguments).")
        name = func = None
        for k, v in list(t.items()):
            if type(k) is not bytes and not isinstance(k, (int, float)):
                return b"named argument key given to redis.register_function is not a string"
            key = _b(k).lower()
            if key == b"function_name":
                if type(v) is not bytes and not isinstance(v, (int, float)):
                    return b"function_name argument given to redis.register_function must be a string"
                name = _b(v)
            elif key == b"description":
                if type(v) is not bytes and not isinstance(v, (int, float)):
                    return b"description argument given to redis.register_function must be a string"
                desc = _b(v)
            elif key == b"callback":
                if lupa_type(v) != "function":
                    return b"callback argument given to redis.register_function must be a function"
                func = v
            elif key == b"flags":
                if lupa_type(v) != "table":
                    return (b"flags argument to redis.register_function must be a table "
                            b"representing function flags")
                fl = _flags_of(v)
                if fl is None:
                    return b"unknown flag given"
                flags = fl
            else:
                return b"unknown argument given to redis.register_function"
        if name is None:
            return b"redis.register_function must get a function name argument"
        if func is None:
            return b"redis.register_function must get a callback argument"
    else:
        name, func = args[0], args[1]
        if type(name) is not bytes and not isinstance(name, (int, float)):
            return b"first argument to redis.register_function must be a string"
        name = _b(name)
        if lupa_type(func) != "function":
            return b"second argument to redis.register_function must be a function"
    if not _valid_name(name):
        return _NAME_ERR
    if name.lower() in lib.functions:
        return b"Function already exists in the library"
    lib.functions[name.lower()] = Function(name, func, desc, flags, lib)
    return None


def registry(srv) -> FunctionRegistry:
    r = getattr(srv, "functions", None)
    if r is None:
        r = srv.functions = FunctionRegistry(srv)
    return r


# -- FUNCTION --------------------------------------------------------------------------------

_TIPS_ALL = ("request_policy:all_shards", "response_policy:all_succeeded")


@command("function|load", -3, "write denyoom noscript", group=GROUP, acl=("scripting",),
         tips=_TIPS_ALL, since="7.0.0", summary="Create a function with the given arguments "
         "(name, code, description)",
         complexity="O(1) (considering compilation time is redundant)")
def function_load(c, argv):
    replace = False
    i = 2
    while i < len(argv) - 1:
        a = argv[i]
        i += 1
        if a.lower() == b"replace":
            replace = True
            continue
        raise CommandError(b"ERR Unknown option given: " + a)
    if i >= len(argv):
        raise CommandError(b"ERR Function code is missing")
    srv = c.server
    timeout = 0 if c.flags & 16 else LOAD_TIMEOUT_MS  # the master's stream has no deadline
    name = registry(srv).create(argv[i], replace, timeout)
    srv.dirty += 1
    return resp.bulk(name)


@command("function|delete", 3, "write noscript", group=GROUP, acl=("scripting",),
         tips=_TIPS_ALL, since="7.0.0", summary="Delete a function by name",
         complexity="O(1)")
def function_delete(c, argv):
    reg = registry(c.server)
    lib = reg.libraries.get(argv[2].lower())
    if lib is None:
        raise CommandError(b"ERR Library not found")
    reg.unlink(lib)
    c.server.dirty += 1
    return resp.OK


@command("function|flush", -2, "write noscript", group=GROUP, acl=("scripting",),
         tips=_TIPS_ALL, since="7.0.0", summary="Deleting all functions",
         complexity="O(N) where N is the number of functions deleted")
def function_flush(c, argv):
    if len(argv) > 3:
        raise CommandError(b"ERR unknown subcommand or wrong number of arguments for "
                           b"'flush'. Try FUNCTION HELP.")
    if len(argv) == 3 and argv[2].lower() not in (b"async", b"sync"):
        raise CommandError(b"ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    registry(c.server).flush()
    c.server.dirty += 1
    return resp.OK


_FLAG_ORDER = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")


@command("function|list", -2, "noscript", group=GROUP, acl=("scripting",),
         tips=("nondeterministic_output_order",), since="7.0.0",
         summary="List information about all the functions",
         complexity="O(N) where N is the number of functions")
def function_list(c, argv):
    with_code = False
    pattern = None
    i = 2
    while i < len(argv):
        a = argv[i]
        la = a.lower()
        if not with_code and la == b"withcode":
            with_code = True
        elif pattern is None and la == b"libraryname":
            if i >= len(argv) - 1:
                raise CommandError(b"ERR library name argument was not given")
            i += 1
            pattern = argv[i]
        else:
            raise CommandError(b"ERR Unknown argument " + a)
        i += 1
    r = c.resp
    out = []
    for lib in registry(c.server).libraries.values():
        if pattern is not None and not stringmatch(pattern, lib.name, True):
            continue
        parts = [resp.map_header(4 if with_code else 3, r), resp.bulk(b"library_name"),
                 resp.bulk(lib.name), resp.bulk(b"engine"), resp.bulk(b"LUA"),
                 resp.bulk(b"functions"), resp.array_header(len(lib.functions))]
        for f in lib.functions.values():
            names = [n for n in _FLAG_ORDER if f.flags & FLAG_NAMES[n]]
            parts += [resp.map_header(3, r), resp.bulk(b"name"), resp.bulk(f.name),
                      resp.bulk(b"description"),
                      resp.bulk(f.desc) if f.desc is not None else resp.null(r),
                      resp.bulk(b"flags"), resp.set_header(len(names), r),
                      b"".join(b"+%s\r\n" % n.encode() for n in names)]
        if with_code:
            parts += [resp.bulk(b"library_code"), resp.bulk(lib.code)]
        out.append(b"".join(parts))
    return resp.array_header(len(out)) + b"".join(out)


@command("function|stats", 2, "noscript allow_busy", group=GROUP, acl=("scripting",),
         tips=("nondeterministic_output", "request_policy:all_shards",
               "response_policy:special"), since="7.0.0",
         summary="Return information about the function currently running (name, "
         "description, duration)", complexity="O(1)")
def function_stats(c, argv):
    from bocho.scripting import BUSY_EVAL
    srv = c.server
    ctx = srv.script_ctx
    if ctx is not None and ctx.eval_mode:
        raise CommandError(BUSY_EVAL)
    r = c.resp
    reg = registry(srv)
    parts = [resp.map_header(2, r), resp.bulk(b"running_script")]
    if ctx is None:
        parts.append(resp.null(r))
    else:
        parts += [resp.map_header(3, r), resp.bulk(b"name"), resp.bulk(ctx.name),
                  resp.bulk(b"command"), resp.bulk_array(ctx.argv),
                  resp.bulk(b"duration_ms"), resp.integer(clock.monotonic_ms() - ctx.start)]
    parts += [resp.bulk(b"engines"), resp.map_header(1, r), resp.bulk(b"LUA"),
              resp.map_header(2, r), resp.bulk(b"libraries_count"),
              resp.integer(len(reg.libraries)), resp.bulk(b"functions_count"),
              resp.integer(len(reg.functions))]
    return b"".join(parts)


@command("function|kill", 2, "noscript allow_busy", group=GROUP, acl=("scripting",),
         tips=("request_policy:all_shards", "response_policy:one_succeeded"),
         since="7.0.0", summary="Kill the function currently in execution.",
         complexity="O(1)")
def function_kill(c, argv):
    from bocho.commands.eval import kill_script
    return kill_script(c, False)


# -- DUMP / RESTORE --------------------------------------------------------------------------

@command("function|dump", 2, "noscript", group=GROUP, acl=("scripting",), since="7.0.0",
         summary="Dump all functions into a serialized binary payload",
         complexity="O(N) where N is the number of functions")
def function_dump(c, argv):
    srv = c.server
    compress = srv.config["rdbcompression"]
    body = bytearray()
    for lib in registry(srv).libraries.values():
        body.append(rdbio.OPCODE_FUNCTION2)
        rdbio.put_str(body, lib.code, compress)
    return resp.bulk(rdbio.dump_footer(bytes(body)))


@command("function|restore", -3, "write denyoom noscript", group=GROUP, acl=("scripting",),
         tips=_TIPS_ALL, since="7.0.0",
         summary="Restore all the functions on the given payload",
         complexity="O(N) where N is the number of functions on the payload")
def function_restore(c, argv):
    policy = b"append"
    if len(argv) > 4:
        raise CommandError(b"ERR unknown subcommand or wrong number of arguments for "
                           b"'restore'. Try FUNCTION HELP.")
    if len(argv) == 4:
        policy = argv[3].lower()
        if policy not in (b"flush", b"append", b"replace"):
            raise CommandError(b"ERR Wrong restore policy given, value should be either "
                               b"FLUSH, APPEND or REPLACE.")
    data = argv[2]
    srv = c.server
    if not rdbio.check_dump_footer(data, not getattr(srv, "skip_checksum_validation", False)):
        raise CommandError(b"ERR DUMP payload version or checksum are wrong")
    codes = []
    r = rdbio.Reader(data, 0, len(data) - 10)
    try:
        while not r.at_end():
            if r.byte() != rdbio.OPCODE_FUNCTION2:
                raise CommandError(b"ERR given type is not a function")
            codes.append(r.string())
    except rdbio.RdbError:
        raise CommandError(b"ERR failed loading the given functions payload") from None
    reg = registry(srv)
    # load into a scratch registry first: nothing changes unless all of it loads
    scratch = FunctionRegistry(srv)
    for code in codes:
        scratch.create(code, False, 0)
    if policy == b"flush":
        reg.flush()
    else:
        for name, lib in scratch.libraries.items():
            old = reg.libraries.get(name)
            if old is not None and policy == b"append":
                raise CommandError(b"ERR Library %s already exists" % lib.name)
            for fname, f in lib.functions.items():
                owner = reg.functions.get(fname)
                if owner is not None and not (policy == b"replace"
                                              and owner.lib.name.lower() == name):
                    raise CommandError(b"ERR Function %s already exists" % f.name)
    for name in scratch.libraries:
        old = reg.libraries.get(name)
        if old is not None:
            reg.unlink(old)
        # reload into the live engine so that the functions share its state
        reg.create(scratch.libraries[name].code, True, 0)
    srv.dirty += 1
    return resp.OK


@command("function|help", 2, "loading stale", group=GROUP, acl=("scripting",),
         since="7.0.0", summary="Show helpful text about the different subcommands",
         complexity="O(1)")
def function_help(c, argv):
    return resp.help_reply("function", [
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME",
        "    argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored",
        "    using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give",
        "    a restore policy to control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision,",
        "              abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision,",
        "              replace the old libraries with the new libraries (notice that even on",
        "              this case there is a chance of failure, in case of functions name",
        "              collision with another library).",
    ])


# -- FCALL -----------------------------------------------------------------------------------

def fcall_command_flags(srv, cmd, argv: list[bytes]) -> int:
    """fcallGetCommandFlags: the function's flags decide write/denyoom."""
    from bocho.scripting import script_cmd_flags
    reg = srv.__dict__.get("functions")
    f = reg.functions.get(argv[1].lower()) if reg is not None and len(argv) > 1 else None
    if f is None:
        return cmd.flags
    return script_cmd_flags(cmd.flags, f.flags)


def _fcall(c, argv, ro: bool):
    srv = c.server
    if srv.monitors:
        srv.feed_monitors(c, argv)
    reg = registry(srv)
    f = reg.functions.get(argv[1].lower())
    if f is None:
        raise CommandError(b"ERR Function not found")
    try:
        n = parse_int(argv[2])
    except CommandError:
        raise CommandError(b"ERR Bad number of keys provided") from None
    if n > len(argv) - 3:
        raise CommandError(b"ERR Number of keys can't be greater than number of args")
    if n < 0:
        raise CommandError(b"ERR Number of keys can't be negative")
    return reg.engine.execute(c, f, argv, n, f.name, False, ro)


@command("fcall", -3, "noscript stale skip_monitor no_mandatory_keys may_replicate", group=GROUP,
         acl=("scripting",), getkeys=script_keys, key_specs=[_SPEC_RW], since="7.0.0",
         summary="Invoke a function", complexity="Depends on the function that is executed.")
def fcall(c, argv):
    return _fcall(c, argv, False)


@command("fcall_ro", -3, "readonly noscript stale skip_monitor no_mandatory_keys",
         group=GROUP, acl=("scripting",), getkeys=script_keys, key_specs=[_SPEC_RO],
         since="7.0.0", summary="Invoke a read-only function",
         complexity="Depends on the function that is executed.")
def fcall_ro(c, argv):
    return _fcall(c, argv, True)
