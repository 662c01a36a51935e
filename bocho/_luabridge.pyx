# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""redis.call and the script run as C functions on lupa's Lua state (optional, as
_fastpath: BOCHO_PURE=1 or a missing build leaves scripting.py's lupa path).

Through lupa every redis.call crosses Lua -> Python -> Lua with lupa's generic
conversions (a tuple grown one argument at a time, a wrapper per value) and every run
converts the keys and arguments one by one, which made EVALSHA of a three-call script
cost about four times a plain command. Here redis.call reads its arguments off the Lua
stack into a list of bytes, hands them to the engine's runner (scripting.LuaEngine
.c_call: the checks of Redis's scriptCall and the command itself) and turns the raw
RESP reply into Lua values itself, as Redis's redisProtocolToLuaType does. Anything
but bulk, integer, status and flat-or-nested arrays (errors, RESP3 types) goes to the
Lua parser of luaboot.py, so each conversion rule has one implementation besides this
fast case. A run pushes the compiled function and the KEYS/ARGV tables made from the
Python lists and calls luaboot's run_c with lua_pcall.

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
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF, PyObject
from libc.math cimport signbit
from libc.stdio cimport snprintf
from libc.stdlib cimport strtoll
from libc.string cimport memchr

from bocho._intfmt cimport decimal

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
cdef f_L_i lua_settop, lua_pushvalue, lua_pushboolean, lua_rawset
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
    cdef int errtable_ref, parse_ref, run_ref

    def __cinit__(self, runtime, engine):
        global bocho_pending_L
        if bocho_pending_L == NULL:
            raise RuntimeError("luaopen_bocho_bridge has not run in this state")
        self.L = <lua_State *>bocho_pending_L
        bocho_pending_L = NULL
        self.runtime = runtime
        self.engine = engine
        self.errtable_ref = self.parse_ref = self.run_ref = -1

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

    def run(self, Ref f, list keys, list args, int resp, bint eval_mode) -> tuple:
        """luaboot's run_c(f, KEYS, ARGV, resp, eval_mode): its results as a tuple
        ((True, reply[, kind]) or (False, message, source, line, ignore)); a failure
        of Lua itself outside the script's xpcall is given as the latter."""
        cdef lua_State *L = self.L
        cdef int top = lua_gettop(L)
        cdef int rc, i, n
        if not lua_checkstack(L, 8):
            return (False, b"ERR Lua stack exhausted")
        lua_rawgeti(L, LUA_REGISTRYINDEX, self.run_ref)
        lua_rawgeti(L, LUA_REGISTRYINDEX, f.ref)
        _push_list(L, keys)
        _push_list(L, args)
        lua_pushnumber(L, resp)
        lua_pushboolean(L, eval_mode)
        rc = lua_pcall(L, 5, LUA_MULTRET, 0)
        n = lua_gettop(L) - top
        out = []
        for i in range(top + 1, top + n + 1):
            out.append(_to_py(L, i))
        lua_settop(L, top)
        if rc != 0:  # as a script error without position (luaboot's error_info)
            return (False, b"ERR " + (out[0] if out and type(out[0]) is bytes
                                      else b"unknown Lua error"), None, None, False)
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


cdef void _push_list(lua_State *L, list items) noexcept:
    cdef Py_ssize_t i, n = len(items)
    cdef object b
    lua_createtable(L, <int>n, 0)
    for i in range(n):
        b = items[i]
        lua_pushlstring(L, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        lua_rawseti(L, -2, <int>(i + 1))


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
        reply = _dispatch(br.engine, argv)
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


# what _dispatch needs of the server (configure(), from scripting.py)
cdef dict TABLE = {}
cdef long WRITE = 0, DENYOOM = 0
cdef object execute_plain = None


def configure(dict table, long write, long denyoom, run) -> None:
    """The command table, the WRITE and DENYOOM flags, and Client.execute_plain."""
    global TABLE, WRITE, DENYOOM, execute_plain
    TABLE = table
    WRITE = write
    DENYOOM = denyoom
    execute_plain = run


cdef object _dispatch(object engine, list argv):
    """scripting.LuaEngine.c_call compiled: a command none of the run's checks can
    refuse (RunCtx.deny) runs at once on the script client, anything else takes
    call_command; the raw reply, or None outside a run."""
    ctx = engine.ctx
    if ctx is None:
        return None
    cmd = TABLE.get(argv[0])
    deny = ctx.deny
    if cmd is None or deny is None or cmd.subcommands is not None:
        return engine.call_command(ctx, argv)
    cdef long fl = cmd.flags
    cdef long d = deny
    cdef long a = cmd.arity
    cdef Py_ssize_t n = len(argv)
    if fl & d or (n != a if a >= 0 else n < -a):
        return engine.call_command(ctx, argv)
    if fl & WRITE:
        ctx.wrote = True
        ctx.deny = d & ~DENYOOM
    sc = ctx.sc
    execute_plain(sc, cmd, argv)
    out = sc.out
    if len(out) == 1:
        r = out[0]
    else:
        r = b"".join(out)
    out.clear()
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
    """keep(errtable, parse, run_c): the Lua functions the C side calls."""
    cdef Bridge br = <Bridge><PyObject *>lua_touserdata(L, upvalue(1))
    lua_settop(L, 3)
    br.run_ref = luaL_ref(L, LUA_REGISTRYINDEX)  # pops from the top
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
