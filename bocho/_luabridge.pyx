# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""redis.call and the script run as C functions on lupa's Lua state (optional, as
_fastpath: BOCHO_PURE=1 or a missing build leaves scripting.py's lupa path).

Through lupa every redis.call crosses Lua -> Python -> Lua with lupa's generic
conversions (a tuple grown one argument at a time, a wrapper per value) and every run
converts the keys and arguments one by one, which made EVALSHA of a three-call script
cost about four times a plain command. Here redis.call reads its arguments off the Lua
stack into a list of bytes, runs a command none of the run's checks can refuse itself
(_fastpath.run_for_script: as the request loop runs it) and the others through
scripting.LuaEngine.call_command (the checks of Redis's scriptCall), and turns the raw
RESP reply into Lua values itself, as Redis's redisProtocolToLuaType does. Anything
but bulk, integer, status and flat-or-nested arrays (errors, RESP3 types) goes to the
Lua parser of luaboot.py, so each conversion rule has one implementation besides this
fast case. A run (Bridge.run) sets KEYS/ARGV from the request's own list, calls the
compiled function under lua_pcall with luaboot's error handler and makes a string,
number or nil result RESP in C (luaboot's top() the rest). EVALSHA's handler and
LuaEngine.run's body are here too for the common case (_evalsha, Bridge._execute): a
script run's Python set-up cost more than the run itself.

No Lua header or library is linked: lupa's lua51 module exports the Lua 5.1 API, and
the functions are looked up in it with dlsym once. The lua_State comes from Lua
itself: package.loadlib opens this same shared object (already loaded by Python, so
the same handle) and calls luaopen_bocho_bridge, which records the state it runs in;
Bridge() takes it right after (scripting.LuaEngine does both, one after the other).

Lua raises errors with longjmp: nothing that may raise is called while Python
references are held; the C functions that touch Python take the GIL in a function of
their own (`with gil`) and raise, if they must, only after it returned."""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.ref cimport Py_INCREF, Py_REFCNT, PyObject
from libc.math cimport signbit
from libc.stdio cimport snprintf
from libc.stdlib cimport strtoll
from libc.string cimport memchr

from bocho._clock cimport now_ns, wall_ms
from bocho._fastpath cimport run_for_script
from bocho._intfmt cimport bulk, decimal, small_int
from bocho._slots cimport offset, sget, sset

cdef extern from "dlfcn.h":
    void *dlopen(const char *filename, int flag)
    void *dlsym(void *handle, const char *symbol)
    int RTLD_NOW
    int RTLD_NOLOAD

cdef extern from *:
    """
    typedef struct lua_State lua_State;  /* opaque: only pointers to it cross here */
    /* The state package.loadlib ran luaopen_bocho_bridge in (see the module docstring). */
    static void *bocho_pending_L = 0;
    __attribute__((visibility("default"))) int luaopen_bocho_bridge(void *L) {
        bocho_pending_L = L;
        return 0;
    }
    """
    void *bocho_pending_L
    ctypedef struct lua_State:
        pass

# Lua 5.1's ABI (lua.h): pseudo-indices, type tags
cdef enum:
    LUA_REGISTRYINDEX = -10000
    LUA_GLOBALSINDEX = -10002
    LUA_MULTRET = -1
    T_NIL = 0
    T_BOOLEAN = 1
    T_NUMBER = 3
    T_STRING = 4

ctypedef void (*f_L)(lua_State *L) noexcept nogil
ctypedef int (*lua_CFunction)(lua_State *L) noexcept nogil
ctypedef int (*f_L_int)(lua_State *L) noexcept nogil
ctypedef void (*f_L_i)(lua_State *L, int i) noexcept nogil
ctypedef int (*f_L_i_int)(lua_State *L, int i) noexcept nogil
ctypedef void (*f_L_i_i)(lua_State *L, int i, int n) noexcept nogil
ctypedef const char *(*f_tolstring)(lua_State *L, int i, size_t *n) noexcept nogil
ctypedef double (*f_tonumber)(lua_State *L, int i) noexcept nogil
ctypedef void (*f_pushlstring)(lua_State *L, const char *s, size_t n) noexcept nogil
ctypedef void (*f_pushnumber)(lua_State *L, double n) noexcept nogil
ctypedef void (*f_pushcclosure)(lua_State *L, lua_CFunction fn, int n) noexcept nogil
ctypedef void (*f_pushlightuserdata)(lua_State *L, void *p) noexcept nogil
ctypedef void *(*f_touserdata)(lua_State *L, int i) noexcept nogil
ctypedef int (*f_pcall)(lua_State *L, int nargs, int nres, int errfunc) noexcept nogil
ctypedef void (*f_setfield)(lua_State *L, int i, const char *k) noexcept nogil

cdef f_L_int lua_gettop, lua_error
cdef f_L_i lua_settop, lua_pushvalue, lua_pushboolean, lua_rawset, lua_insert
cdef f_L_i_int lua_type, lua_toboolean, lua_checkstack
cdef f_L_i_i lua_rawseti, lua_rawgeti, lua_createtable, luaL_unref
cdef f_L_i_int luaL_ref
cdef f_tolstring lua_tolstring
cdef f_tonumber lua_tonumber
cdef f_pushlstring lua_pushlstring
cdef f_pushnumber lua_pushnumber
cdef f_pushcclosure lua_pushcclosure
cdef f_pushlightuserdata lua_pushlightuserdata
cdef f_touserdata lua_touserdata
cdef f_pcall lua_pcall
cdef f_setfield lua_setfield
cdef f_L lua_pushnil


cdef void *_sym(void *h, const char *name) except NULL:
    cdef void *p = dlsym(h, name)
    if p == NULL:
        raise ImportError(f"lupa's Lua 5.1 does not export {name.decode()}")
    return p


def _bind() -> None:
    global lua_gettop, lua_error, lua_settop, lua_pushvalue, lua_pushboolean, lua_rawset
    global lua_insert
    global lua_type, lua_toboolean, lua_checkstack, lua_rawseti, lua_rawgeti, lua_createtable
    global luaL_unref, luaL_ref, lua_tolstring, lua_tonumber, lua_pushlstring, lua_pushnumber
    global lua_pushcclosure, lua_pushlightuserdata, lua_touserdata, lua_pcall, lua_setfield
    global lua_pushnil
    import lupa.lua51
    path = lupa.lua51.__file__.encode()
    cdef void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD)
    if h == NULL:
        raise ImportError("lupa.lua51 is not loaded")
    lua_gettop = <f_L_int>_sym(h, b"lua_gettop")
    lua_error = <f_L_int>_sym(h, b"lua_error")
    lua_settop = <f_L_i>_sym(h, b"lua_settop")
    lua_pushvalue = <f_L_i>_sym(h, b"lua_pushvalue")
    lua_pushboolean = <f_L_i>_sym(h, b"lua_pushboolean")
    lua_rawset = <f_L_i>_sym(h, b"lua_rawset")
    lua_insert = <f_L_i>_sym(h, b"lua_insert")
    lua_type = <f_L_i_int>_sym(h, b"lua_type")
    lua_toboolean = <f_L_i_int>_sym(h, b"lua_toboolean")
    lua_checkstack = <f_L_i_int>_sym(h, b"lua_checkstack")
    lua_rawseti = <f_L_i_i>_sym(h, b"lua_rawseti")
    lua_rawgeti = <f_L_i_i>_sym(h, b"lua_rawgeti")
    lua_createtable = <f_L_i_i>_sym(h, b"lua_createtable")
    luaL_unref = <f_L_i_i>_sym(h, b"luaL_unref")
    luaL_ref = <f_L_i_int>_sym(h, b"luaL_ref")
    lua_tolstring = <f_tolstring>_sym(h, b"lua_tolstring")
    lua_tonumber = <f_tonumber>_sym(h, b"lua_tonumber")
    lua_pushlstring = <f_pushlstring>_sym(h, b"lua_pushlstring")
    lua_pushnumber = <f_pushnumber>_sym(h, b"lua_pushnumber")
    lua_pushcclosure = <f_pushcclosure>_sym(h, b"lua_pushcclosure")
    lua_pushlightuserdata = <f_pushlightuserdata>_sym(h, b"lua_pushlightuserdata")
    lua_touserdata = <f_touserdata>_sym(h, b"lua_touserdata")
    lua_pcall = <f_pcall>_sym(h, b"lua_pcall")
    lua_setfield = <f_setfield>_sym(h, b"lua_setfield")
    lua_pushnil = <f_L>_sym(h, b"lua_pushnil")


_bind()
PATH = __file__

cdef inline int upvalue(int i) noexcept nogil:
    return LUA_GLOBALSINDEX - i


@cython.no_gc_clear  # its Refs unref in the state it keeps open: never cleared first
cdef class Bridge:
    """One Lua state's C side: its redis.call/pcall closures and the run entry."""

    cdef lua_State *L
    cdef object runtime  # the lupa LuaRuntime: its state lives as long as this
    cdef object engine   # the scripting.LuaEngine: .ctx, .call_command
    cdef int errtable_ref, parse_ref, errh_ref, top_ref, info_ref, reset_ref, globals_ref
    cdef object srv, spare  # the server; the RunCtx execute() reuses
    cdef dict srv_dict, engine_dict  # their instance dicts (execute), or None

    def __cinit__(self, runtime, engine):
        global bocho_pending_L
        if bocho_pending_L == NULL:
            raise RuntimeError("luaopen_bocho_bridge has not run in this state")
        self.L = <lua_State *>bocho_pending_L
        bocho_pending_L = NULL
        self.runtime = runtime
        self.engine = engine
        self.srv = srv = engine.server
        self.spare = None
        # execute() reads and writes these in the instance dicts: none may be a class
        # attribute (a property would be bypassed)
        self.srv_dict = self.engine_dict = None
        if (all(n in srv.__dict__ and not hasattr(type(srv), n) for n in SERVER_NAMES)
                and not hasattr(type(engine), "ctx")):
            self.srv_dict = srv.__dict__
            self.engine_dict = engine.__dict__
        self.errtable_ref = self.parse_ref = self.errh_ref = self.top_ref = -1
        self.info_ref = self.reset_ref = self.globals_ref = -1

    def install(self, name: bytes) -> None:
        """The table of C functions as global `name` (luaboot.py takes it from there)."""
        cdef lua_State *L = self.L
        lua_createtable(L, 0, 4)
        _field(L, self, b"call", c_call)
        _field(L, self, b"pcall", c_pcall)
        _field(L, self, b"keep", c_keep)
        _field(L, self, b"ref", c_ref)
        lua_setfield(L, LUA_GLOBALSINDEX, name)

    def hold(self, int ref) -> Ref:
        """A registry reference (luaboot's ref(f)) released when the Ref goes."""
        r = Ref()
        r.br = self
        r.ref = ref
        return r

    def run(self, Ref f, list argv, Py_ssize_t nkeys, int resp, bint eval_mode):
        """Run a script: see _run."""
        return self._run(f, argv, nkeys, resp, eval_mode)

    cdef object _run(self, Ref f, list argv, Py_ssize_t nkeys, int resp, bint eval_mode):
        """Run a script (f) with argv[3:3 + nkeys] as KEYS and the rest as ARGV, as
        luaboot's run does: globals of an EVAL script, arguments of a function, under
        lua_pcall with luaboot's error handler. A string, number or nil result comes
        back as its RESP bytes; anything else as luaboot's tuple ((True, reply[, kind])
        or error_info's (False, message, source, line, ignore)), a failure of Lua itself
        as the latter without position."""
        cdef lua_State *L = self.L
        cdef int top = lua_gettop(L)
        cdef int rc, t, nargs = 0
        cdef Py_ssize_t split = 3 + nkeys, n
        cdef const char *s
        cdef size_t sn
        cdef double d
        if not lua_checkstack(L, 10):
            return (False, b"ERR Lua stack exhausted", None, None, False)
        lua_rawgeti(L, LUA_REGISTRYINDEX, self.errh_ref)
        lua_rawgeti(L, LUA_REGISTRYINDEX, f.ref)
        if eval_mode:
            lua_rawgeti(L, LUA_REGISTRYINDEX, self.globals_ref)
            lua_pushlstring(L, "KEYS", 4)
            _push_slice(L, argv, 3, split)
            lua_rawset(L, -3)
            lua_pushlstring(L, "ARGV", 4)
            _push_slice(L, argv, split, len(argv))
            lua_rawset(L, -3)
            lua_settop(L, top + 2)
        else:
            _push_slice(L, argv, 3, split)
            _push_slice(L, argv, split, len(argv))
            nargs = 2
        rc = lua_pcall(L, nargs, 1, top + 1)
        out = None
        if rc == 0:
            t = lua_type(L, -1)
            if t == T_STRING:
                s = lua_tolstring(L, -1, &sn)
                out = bulk(s, sn)
            elif t == T_NUMBER:
                d = lua_tonumber(L, -1)
                if -9.2e18 < d < 9.2e18:  # luaboot's %d of it: the truncated integer
                    out = decimal(<long long>d, True)
            elif t == T_NIL:
                out = b"_\r\n" if resp == 3 else b"$-1\r\n"
            if out is None:  # luaboot's top(v, resp): (reply, kind)
                lua_rawgeti(L, LUA_REGISTRYINDEX, self.top_ref)
                lua_insert(L, -2)
                lua_pushnumber(L, resp)
                out = self._results(top, lua_pcall(L, 2, 2, 0), True)
        else:
            lua_rawgeti(L, LUA_REGISTRYINDEX, self.info_ref)
            lua_insert(L, -2)
            out = self._results(top, lua_pcall(L, 1, 4, 0), False)
        lua_settop(L, top)
        ctx = self.engine.ctx
        if ctx is not None and ctx.resp != 2:  # redis.setresp ran: back to 2 in Lua
            lua_rawgeti(L, LUA_REGISTRYINDEX, self.reset_ref)
            lua_pcall(L, 0, 0, 0)
            lua_settop(L, top)
        return out

    def execute(self, c, fn, list argv, Py_ssize_t nkeys, name, bint eval_mode, bint ro):
        """LuaEngine.run: see _execute."""
        return self._execute(c, fn, argv, nkeys, name, eval_mode, ro)

    cdef object _execute(self, c, fn, list argv, Py_ssize_t nkeys, name, bint eval_mode,
                         bint ro):
        """LuaEngine.run (same arguments, same result) for the runs nearly all are: a
        script without shebang flags while the server is neither slow (no maxmemory,
        the last BGSAVE fine, no min-replicas-to-write: Server.update_slow) nor a
        replica, where a run's checks come down to deny_mask's first lines. Anything
        else goes to LuaEngine.run itself. The RunCtx is the one of the last run when
        nothing kept it, its slots written directly."""
        engine = self.engine
        cdef dict sd = self.srv_dict
        cdef dict ed = self.engine_dict
        if (sd is None or not (<long>fn.flags & F_EVAL_COMPAT)
                or <object>PyDict_GetItem(sd, "slow") or <object>PyDict_GetItem(sd, "replica_guard")):
            return engine.run(c, fn, argv, nkeys, name, eval_mode, ro)
        srv = self.srv
        cdef long deny = 0
        if sget(c, CL.user) in <object>PyDict_GetItem(sd, "acl_free"):
            if not <object>PyDict_GetItem(sd, "script_disable_deny_script"):
                deny = NOSCRIPT
            if ro:
                deny |= WRITE | MAY_REPLICATE
            deny_obj = deny
        else:
            deny_obj = None
        ctx = self.spare
        if ctx is None or Py_REFCNT(ctx) > 2:  # held elsewhere (here: self.spare + ctx)
            ctx = self.spare = RunCtx.__new__(RunCtx)
            sset(ctx, RC.engine, engine)
            sset(ctx, RC.sc, engine.client)
            sset(ctx, RC.allow_oom, False)
            sset(ctx, RC.pre_oom, False)
        sset(ctx, RC.caller, c)
        sset(ctx, RC.name, name)
        sset(ctx, RC.eval_mode, eval_mode)
        sset(ctx, RC.readonly, ro)
        sset(ctx, RC.start, now_ns() // 1000000)
        sset(ctx, RC.snapshot, wall_ms())
        sset(ctx, RC.timedout, False)
        sset(ctx, RC.killed, False)
        sset(ctx, RC.wrote, False)
        sset(ctx, RC.resp, 2)
        sset(ctx, RC.repl, 3)
        sset(ctx, RC.deny, deny_obj)
        sset(ctx, RC.argv, argv)
        sc = sget(ctx, RC.sc)
        sset(sc, CL.db, sget(c, CL.db))
        sset(sc, CL.resp, 2)
        outer = <object>PyDict_GetItem(sd, "also_propagate")
        buf = [] if outer is None else outer
        PyDict_SetItem(sd, "also_propagate", buf)
        PyDict_SetItem(ed, "ctx", ctx)
        PyDict_SetItem(sd, "script_ctx", ctx)
        try:
            h = fn.cref
            if h is None:
                h = fn.cref = self.hold(engine._ref(fn.func))
            res = self._run(<Ref>h, argv, nkeys, sget(c, CL.resp), eval_mode)
            if sget(ctx, RC.killed):
                engine.M.arm()
        finally:
            PyDict_SetItem(ed, "ctx", None)
            PyDict_SetItem(sd, "script_ctx", None)
            PyDict_SetItem(sd, "also_propagate", outer)
            if sget(ctx, RC.timedout):
                engine.busy_over()
        if outer is None and buf:
            propagate_block(srv, buf)
        sset(c, CL.prop, [])
        if type(res) is bytes:
            return res
        return engine.result(res, name)

    cdef tuple _results(self, int top, int rc, bint ok):
        """The values above top + 1 (the error handler) as a tuple after ok; a failure
        of the call itself as a script error without position."""
        cdef lua_State *L = self.L
        cdef int i, n = lua_gettop(L)
        if rc != 0:
            msg = _to_py(L, n)
            return (False, b"ERR " + (msg if type(msg) is bytes else b"unknown Lua error"),
                    None, None, False)
        out = [ok]
        for i in range(top + 2, n + 1):
            out.append(_to_py(L, i))
        return tuple(out)


@cython.no_gc_clear
cdef class Ref:
    cdef Bridge br
    cdef int ref

    def __dealloc__(self):
        if self.br is not None:
            luaL_unref(self.br.L, LUA_REGISTRYINDEX, self.ref)


cdef void _field(lua_State *L, Bridge br, const char *name, lua_CFunction fn) noexcept:
    lua_pushlightuserdata(L, <void *>br)
    lua_pushcclosure(L, fn, 1)
    lua_setfield(L, -2, name)


cdef void _push_slice(lua_State *L, list items, Py_ssize_t lo, Py_ssize_t hi) noexcept:
    """items[lo:hi] (bytes) as a new Lua array."""
    cdef Py_ssize_t i
    cdef object b
    if hi < lo:
        hi = lo
    lua_createtable(L, <int>(hi - lo), 0)
    for i in range(lo, hi):
        b = items[i]
        lua_pushlstring(L, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        lua_rawseti(L, -2, <int>(i - lo + 1))


cdef object _to_py(lua_State *L, int i):
    cdef int t = lua_type(L, i)
    cdef size_t n
    cdef const char *s
    cdef double d
    if t == T_STRING:
        s = lua_tolstring(L, i, &n)
        return PyBytes_FromStringAndSize(s, n)
    if t == T_BOOLEAN:
        return lua_toboolean(L, i) != 0
    if t == T_NUMBER:
        d = lua_tonumber(L, i)
        if d == <long long>d:
            return <long long>d
        return d
    return None


# -- redis.call / redis.pcall ---------------------------------------------------------------

cdef int c_call(lua_State *L) noexcept nogil:
    cdef int rc = _call_with_gil(L, 1)
    if rc < 0:
        return lua_error(L)  # the error table is on top
    return rc


cdef int c_pcall(lua_State *L) noexcept nogil:
    cdef int rc = _call_with_gil(L, 0)
    if rc < 0:
        return lua_error(L)
    return rc


cdef void _push_error(lua_State *L, Bridge br, const char *msg, size_t n) noexcept:
    """luaboot's errtable(msg) on top of the stack (if that fails, its error message)."""
    lua_rawgeti(L, LUA_REGISTRYINDEX, br.errtable_ref)
    lua_pushlstring(L, msg, n)
    lua_pcall(L, 1, 1, 0)


cdef int _call_with_gil(lua_State *L, int raise_error) noexcept with gil:
    cdef Bridge br = <Bridge><PyObject *>lua_touserdata(L, upvalue(1))
    cdef int argc = lua_gettop(L)
    cdef int j, t
    cdef size_t n
    cdef const char *s
    cdef char dbuf[64]
    cdef int base
    cdef list argv
    cdef const char *p
    cdef const char *end
    cdef double d
    if argc == 0:
        lua_settop(L, 0)
        _push_error(L, br, b"Please specify at least one argument for this redis lib call", 60)
        return -1 if raise_error else 1
    argv = PyList_New(argc)
    for j in range(argc):
        t = lua_type(L, j + 1)
        if t == T_NUMBER:
            d = lua_tonumber(L, j + 1)
            if -1e17 < d < 1e17 and d == <long long>d and (d != 0 or not signbit(d)):
                b = decimal(<long long>d, False)  # what %.17g prints, without printf
            else:
                n = snprintf(dbuf, 64, "%.17g", d)
                b = PyBytes_FromStringAndSize(dbuf, n)
        elif t == T_STRING:
            s = lua_tolstring(L, j + 1, &n)
            b = PyBytes_FromStringAndSize(s, n)
        else:
            lua_settop(L, 0)
            _push_error(L, br, b"Lua redis lib command arguments must be strings or integers", 59)
            return -1 if raise_error else 1
        Py_INCREF(b)
        PyList_SET_ITEM(argv, j, b)
    lua_settop(L, 0)
    try:
        reply = _dispatch(br, argv)
        if reply is not None and type(reply) is not bytes:
            raise TypeError(f"redis.call got a {type(reply).__name__} reply")
    except BaseException as e:  # a bug of ours: the script gets it as an error
        msg = ("ERR " + str(e)).encode()
        _push_error(L, br, msg, len(msg))
        return -1
    if reply is None:
        msg = b"redis.call/pcall can only be called inside a script invocation"
        _push_error(L, br, msg, len(msg))
        return -1
    p = PyBytes_AS_STRING(reply)
    end = p + PyBytes_GET_SIZE(reply)
    if PyBytes_GET_SIZE(reply) == 0:
        lua_pushnil(L)
        return 1
    if p[0] == 45 or _convert(L, p, end, 0) == NULL:
        # errors and RESP3 replies: luaboot's parser (reply, 1) -> value
        lua_settop(L, 0)
        lua_rawgeti(L, LUA_REGISTRYINDEX, br.parse_ref)
        lua_pushlstring(L, p, PyBytes_GET_SIZE(reply))
        lua_pushnumber(L, 1)
        if lua_pcall(L, 2, 1, 0) != 0:
            return -1
        if p[0] == 45 and raise_error:
            return -1
    return 1


# what _dispatch and Bridge.execute need of the server (configure(), from scripting.py)
cdef dict TABLE = {}
cdef long WRITE = 0, DENYOOM = 0, NOSCRIPT = 0, MAY_REPLICATE = 0, F_EVAL_COMPAT = 0
cdef object RunCtx = None, propagate_block = None


# -- EVALSHA and EVALSHA_RO ------------------------------------------------------------------

cdef object eval_command = None  # commands/eval.py's _eval(c, argv, sha_mode, ro)


def evalsha(c, list argv):
    """EVALSHA's handler (commands/eval.py installs it): see _evalsha."""
    return _evalsha(c, argv, False)


def evalsha_ro(c, list argv):
    return _evalsha(c, argv, True)


cdef object _evalsha(c, list argv, bint ro):
    """commands/eval.py's _eval for a cached script called by its lower-case SHA1 with a
    valid key count while the server is not slow (no MONITOR to feed first): straight
    to Bridge._execute. Anything else (errors included) is _eval's."""
    cdef long long n
    cdef Bridge br
    srv = c.server  # (not through CL: configure() runs with the first engine)
    engine = srv.eval_engine
    if engine is None or engine.bridge is None or srv.slow:
        return eval_command(c, argv, True, ro)
    sha = <object>PyList_GET_ITEM(argv, 1)
    nk = <object>PyList_GET_ITEM(argv, 2)
    script = engine.scripts.get(sha)
    if (script is None or not small_int(PyBytes_AS_STRING(nk), PyBytes_GET_SIZE(nk), 9, &n)
            or n < 0 or n > PyList_GET_SIZE(argv) - 3):
        return eval_command(c, argv, True, ro)
    br = engine.bridge
    return br._execute(c, script, argv, n, sha, True, ro)


SERVER_NAMES = ("slow", "replica_guard", "acl_free", "script_disable_deny_script",
                "also_propagate", "script_ctx")

cdef struct CtxSlots:  # scripting.RunCtx's
    Py_ssize_t engine, caller, sc, name, eval_mode, readonly, allow_oom, pre_oom, start
    Py_ssize_t snapshot, timedout, killed, wrote, resp, repl, deny, argv

cdef struct ClientSlots:  # network.Client's
    Py_ssize_t user, db, resp, prop, out

cdef struct CommandSlots:  # commands.Command's
    Py_ssize_t flags, arity, subcommands

cdef CtxSlots RC
cdef ClientSlots CL
cdef CommandSlots CM


def set_eval_command(fn) -> None:
    """commands/eval.py's _eval, which EVALSHA's compiled handler leaves the rest to."""
    global eval_command
    eval_command = fn


def configure(dict table, run_ctx, block, client_cls, cmd_cls, long write, long denyoom,
              long noscript, long may_replicate, long eval_compat) -> None:
    """The command table, scripting.RunCtx, multi.propagate_block, network.Client,
    commands.Command, the command flags WRITE, DENYOOM, NOSCRIPT, MAY_REPLICATE and the
    script flag F_EVAL_COMPAT."""
    global TABLE, WRITE, DENYOOM, NOSCRIPT, MAY_REPLICATE, F_EVAL_COMPAT
    global RunCtx, propagate_block
    RC.engine = offset(run_ctx, "engine")
    RC.caller = offset(run_ctx, "caller")
    RC.sc = offset(run_ctx, "sc")
    RC.name = offset(run_ctx, "name")
    RC.eval_mode = offset(run_ctx, "eval_mode")
    RC.readonly = offset(run_ctx, "readonly")
    RC.allow_oom = offset(run_ctx, "allow_oom")
    RC.pre_oom = offset(run_ctx, "pre_oom")
    RC.start = offset(run_ctx, "start")
    RC.snapshot = offset(run_ctx, "snapshot")
    RC.timedout = offset(run_ctx, "timedout")
    RC.killed = offset(run_ctx, "killed")
    RC.wrote = offset(run_ctx, "wrote")
    RC.resp = offset(run_ctx, "resp")
    RC.repl = offset(run_ctx, "repl")
    RC.deny = offset(run_ctx, "deny")
    RC.argv = offset(run_ctx, "argv")
    CL.user = offset(client_cls, "user")
    CL.db = offset(client_cls, "db")
    CL.resp = offset(client_cls, "resp")
    CL.prop = offset(client_cls, "prop")
    CL.out = offset(client_cls, "out")
    CM.flags = offset(cmd_cls, "flags")
    CM.arity = offset(cmd_cls, "arity")
    CM.subcommands = offset(cmd_cls, "subcommands")
    TABLE = table
    RunCtx = run_ctx
    propagate_block = block
    WRITE = write
    DENYOOM = denyoom
    NOSCRIPT = noscript
    MAY_REPLICATE = may_replicate
    F_EVAL_COMPAT = eval_compat


cdef object _dispatch(Bridge br, list argv):
    """scripting.LuaEngine.c_call compiled: a command none of the run's checks can
    refuse (RunCtx.deny) runs at once on the script client, anything else takes
    call_command; the raw reply, or None outside a run."""
    engine = br.engine
    cdef dict ed = br.engine_dict
    ctx = engine.ctx if ed is None else <object>PyDict_GetItem(ed, "ctx")
    if ctx is None:
        return None
    cdef PyObject *found = PyDict_GetItem(TABLE, <object>PyList_GET_ITEM(argv, 0))
    deny = sget(ctx, RC.deny)
    if found is NULL or deny is None:
        return engine.call_command(ctx, argv)
    cmd = <object>found
    if sget(cmd, CM.subcommands) is not None:
        return engine.call_command(ctx, argv)
    cdef long fl = sget(cmd, CM.flags)
    cdef long d = deny
    cdef long a = sget(cmd, CM.arity)
    cdef Py_ssize_t n = PyList_GET_SIZE(argv)
    if fl & d or (n != a if a >= 0 else n < -a):
        return engine.call_command(ctx, argv)
    if fl & WRITE:
        sset(ctx, RC.wrote, True)
        sset(ctx, RC.deny, d & ~DENYOOM)
    sc = sget(ctx, RC.sc)
    run_for_script(sc, cmd, argv)
    cdef list out = sget(sc, CL.out)
    if PyList_GET_SIZE(out) == 1:
        r = <object>PyList_GET_ITEM(out, 0)
    else:
        r = b"".join(out)
    del out[:]
    return r


cdef const char *_line_end(const char *p, const char *end) noexcept nogil:
    return <const char *>memchr(p, 13, end - p)


cdef const char *_convert(lua_State *L, const char *p, const char *end, int depth) noexcept nogil:
    """Push the RESP2 value at p (bulk, integer, status, array of those); returns where
    the next value starts, or NULL for anything else (the caller resets the stack and
    uses the Lua parser)."""
    cdef const char *e
    cdef long long n, i
    cdef char c
    if p >= end or not lua_checkstack(L, 3) or depth > 100:
        return NULL
    c = p[0]
    e = _line_end(p, end)
    if e == NULL or e + 1 >= end:
        return NULL
    if c == 36:
        n = strtoll(p + 1, NULL, 10)
        if n < 0:
            lua_pushboolean(L, 0)
            return e + 2
        if e + 2 + n + 2 > end:
            return NULL
        lua_pushlstring(L, e + 2, <size_t>n)
        return e + 4 + n
    if c == 58:
        lua_pushnumber(L, <double>strtoll(p + 1, NULL, 10))
        return e + 2
    if c == 43:
        lua_createtable(L, 0, 1)
        lua_pushlstring(L, "ok", 2)
        lua_pushlstring(L, p + 1, <size_t>(e - p - 1))
        lua_rawset(L, -3)
        return e + 2
    if c == 42:
        n = strtoll(p + 1, NULL, 10)
        if n < 0:
            lua_pushboolean(L, 0)
            return e + 2
        lua_createtable(L, <int>n, 0)
        p = e + 2
        for i in range(n):
            p = _convert(L, p, end, depth + 1)
            if p == NULL:
                return NULL
            lua_rawseti(L, -2, <int>(i + 1))
        return p
    return NULL


# -- set-up from luaboot.py ------------------------------------------------------------

cdef int c_keep(lua_State *L) noexcept with gil:
    """keep(errtable, parse, errh, top, error_info, reset, B): what the C side calls
    (luaboot's functions) and the script globals' table it sets KEYS and ARGV in."""
    cdef Bridge br = <Bridge><PyObject *>lua_touserdata(L, upvalue(1))
    lua_settop(L, 7)
    br.globals_ref = luaL_ref(L, LUA_REGISTRYINDEX)  # pops from the top
    br.reset_ref = luaL_ref(L, LUA_REGISTRYINDEX)
    br.info_ref = luaL_ref(L, LUA_REGISTRYINDEX)
    br.top_ref = luaL_ref(L, LUA_REGISTRYINDEX)
    br.errh_ref = luaL_ref(L, LUA_REGISTRYINDEX)
    br.parse_ref = luaL_ref(L, LUA_REGISTRYINDEX)
    br.errtable_ref = luaL_ref(L, LUA_REGISTRYINDEX)
    return 0


cdef int c_ref(lua_State *L) noexcept nogil:
    """ref(f): f kept in the registry; its reference number for Bridge.run."""
    cdef int r
    lua_settop(L, 1)
    r = luaL_ref(L, LUA_REGISTRYINDEX)
    lua_pushnumber(L, r)
    return 1
