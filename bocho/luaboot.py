"""The Lua half of the scripting engine (see bocho/scripting.py), run once per Lua state."""

BOOT = r"""-- The Lua side of bocho's scripting engine (bocho/scripting.py). Runs once per Lua state
-- with the Python callbacks as arguments and returns the table of functions Python uses.
-- Everything a script can reach is built here: the sandboxed globals, the `redis` table,
-- the RESP <-> Lua conversions (done in Lua: string.find/sub and table.concat are C).
local mode, pycall, pypcall, pyunwrap, pyacl, pysha1, pylog, pysetresp, pysetrepl, pyinterrupt, pyrand, pyseed,
      pyerrcount, pyregister, libs, version, version_num = ...

local G = _G
-- redis.call/pcall as C functions, when bocho/_luabridge.pyx is built: it leaves its
-- table as a global of the thread for this code to take
local cbridge = rawget(G, "bocho_bridge")
if cbridge then rawset(G, "bocho_bridge", nil) end
local type, error, tostring, tonumber, select, unpack = type, error, tostring, tonumber, select, unpack
local pairs, next, rawget, rawset, rawequal = pairs, next, rawget, rawset, rawequal
local setmetatable, getmetatable, pcall, xpcall = setmetatable, getmetatable, pcall, xpcall
local setfenv, getfenv, loadstring = setfenv, getfenv, loadstring
local sfind, ssub, sbyte, sformat, sgsub = string.find, string.sub, string.byte, string.format, string.gsub
local concat = table.concat
local floor = math.floor
local dbg = debug
local getinfo, sethook = dbg.getinfo, dbg.sethook

local RO = "Attempt to modify a readonly table"

-- readonly views ----------------------------------------------------------------------
local readonly = setmetatable({}, {__mode = "k"})
local function ro_newindex() error(RO, 2) end

local backing = setmetatable({}, {__mode = "k"}) -- readonly view -> its table

local function protect(t)
    local mt = {__index = t, __newindex = ro_newindex}
    local view = setmetatable({}, {__index = mt, __newindex = ro_newindex, __metatable = false})
    readonly[view] = true
    backing[view] = mt
    mt.__metatable = view
    local p = setmetatable({}, mt)
    readonly[p] = true
    backing[p] = t
    return p
end

local function missing_global(t, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end

local function strict(t)
    return setmetatable(t, {__index = missing_global, __newindex = ro_newindex})
end

-- RESP -> Lua -------------------------------------------------------------------------
local function errtable(msg, ignore)
    -- msg is "-CODE text" or "text": the error table has "CODE text" (ERR by default)
    local code, text
    if sbyte(msg, 1) == 45 then
        local sp = sfind(msg, " ", 1, true)
        if sp then
            code, text = ssub(msg, 2, sp - 1), ssub(msg, sp + 1)
        else
            code, text = "ERR", ssub(msg, 2)
        end
    else
        code, text = "ERR", msg
    end
    text = sgsub(sgsub(text, "^[\r\n]+", ""), "[\r\n]+$", "")
    local e = {err = code .. " " .. text}
    if ignore then e.ignore_error_stats_update = true end
    return e
end

local parse
parse = function(s, p)
    local t = sbyte(s, p)
    local e = sfind(s, "\r\n", p, true)
    local l = ssub(s, p + 1, e - 1)
    local np = e + 2
    if t == 36 then -- $
        local n = tonumber(l)
        if n < 0 then return false, np end
        return ssub(s, np, np + n - 1), np + n + 2
    elseif t == 58 then -- :
        return tonumber(l), np
    elseif t == 43 then -- +
        return {ok = l}, np
    elseif t == 42 then -- *
        local n = tonumber(l)
        if n < 0 then return false, np end
        local a = {}
        local v
        for i = 1, n do
            v, np = parse(s, np)
            a[i] = v
        end
        return a, np
    elseif t == 45 then -- -
        return errtable("-" .. l, true), np
    elseif t == 37 then -- %
        local m = {}
        local k, v
        for _ = 1, tonumber(l) do
            k, np = parse(s, np)
            v, np = parse(s, np)
            m[k] = v
        end
        return {map = m}, np
    elseif t == 126 then -- ~
        local m = {}
        local k
        for _ = 1, tonumber(l) do
            k, np = parse(s, np)
            m[k] = true
        end
        return {set = m}, np
    elseif t == 95 then -- _
        return nil, np
    elseif t == 35 then -- #
        return l == "t", np
    elseif t == 44 then -- ,
        return {double = tonumber(l)}, np
    elseif t == 40 then -- (
        return {big_number = l}, np
    elseif t == 61 then -- =
        local n = tonumber(l)
        local body = ssub(s, np, np + n - 1)
        return {verbatim_string = {format = ssub(body, 1, 3), string = ssub(body, 5)}}, np + n + 2
    elseif t == 124 then -- | attribute: skipped
        for _ = 1, tonumber(l) do
            local _k
            _k, np = parse(s, np)
            _k, np = parse(s, np)
        end
        return parse(s, np)
    end
    return nil, np
end

-- Lua -> RESP -------------------------------------------------------------------------
-- `resp` is the caller's protocol, `sresp` the script's (setresp): booleans follow the
-- script's, everything else is encoded for the caller.
local function fmt_double(d)
    if d ~= d then return "nan" end
    if d == math.huge then return "inf" end
    if d == -math.huge then return "-inf" end
    local s = sformat("%.17g", d)
    return s
end

local function oneline(s)
    return (sgsub(s, "[\r\n]", " "))
end

-- how deep a reply may nest before "reached lua stack limit" (Redis runs out of Lua
-- stack about there: a table that contains itself ends that way)
local MAX_NESTING = 1000

local encode
encode = function(v, out, resp, sresp, depth)
    depth = (depth or 0) + 1
    if depth > MAX_NESTING then
        pyerrcount("ERR reached lua stack limit", false)
        out[#out + 1] = "-ERR reached lua stack limit\r\n"
        return
    end
    local t = type(v)
    if t == "string" then
        out[#out + 1] = "$" .. #v .. "\r\n" .. v .. "\r\n"
    elseif t == "number" then
        out[#out + 1] = sformat(":%d\r\n", v)
    elseif t == "boolean" then
        if sresp == 2 then
            if v then out[#out + 1] = ":1\r\n"
            elseif resp == 3 then out[#out + 1] = "_\r\n"
            else out[#out + 1] = "$-1\r\n" end
        elseif resp == 3 then
            out[#out + 1] = v and "#t\r\n" or "#f\r\n"
        else
            out[#out + 1] = v and ":1\r\n" or ":0\r\n"
        end
    elseif t == "table" then
        local f = rawget(v, "err")
        if type(f) == "string" then
            local ign = v.ignore_error_stats_update
            local msg = oneline(f)
            pyerrcount(msg, ign == true)
            if sbyte(msg, 1) == 45 then
                out[#out + 1] = msg .. "\r\n"
            else
                out[#out + 1] = "-" .. msg .. "\r\n"
            end
            return
        end
        f = rawget(v, "ok")
        if type(f) == "string" then
            out[#out + 1] = "+" .. oneline(f) .. "\r\n"
            return
        end
        f = rawget(v, "double")
        if type(f) == "number" then
            local s = fmt_double(f)
            if resp == 3 then out[#out + 1] = "," .. s .. "\r\n"
            else out[#out + 1] = "$" .. #s .. "\r\n" .. s .. "\r\n" end
            return
        end
        f = rawget(v, "big_number")
        if type(f) == "string" then
            local s = oneline(f)
            if resp == 3 then out[#out + 1] = "(" .. s .. "\r\n"
            else out[#out + 1] = "$" .. #s .. "\r\n" .. s .. "\r\n" end
            return
        end
        f = rawget(v, "verbatim_string")
        if type(f) == "table" then
            local fm, st = rawget(f, "format"), rawget(f, "string")
            if type(fm) == "string" and type(st) == "string" then
                if resp == 3 then
                    out[#out + 1] = "=" .. (#st + 4) .. "\r\n" .. ssub(fm, 1, 3) .. ":" .. st .. "\r\n"
                else
                    out[#out + 1] = "$" .. #st .. "\r\n" .. st .. "\r\n"
                end
                return
            end
        end
        f = rawget(v, "map")
        if type(f) == "table" then
            local slot = #out + 1
            out[slot] = ""
            local n = 0
            for k, x in next, f do
                encode(k, out, resp, sresp, depth)
                encode(x, out, resp, sresp, depth)
                n = n + 1
            end
            out[slot] = (resp == 3 and "%" .. n or "*" .. (2 * n)) .. "\r\n"
            return
        end
        f = rawget(v, "set")
        if type(f) == "table" then
            local slot = #out + 1
            out[slot] = ""
            local n = 0
            for k in next, f do
                encode(k, out, resp, sresp, depth)
                n = n + 1
            end
            out[slot] = (resp == 3 and "~" or "*") .. n .. "\r\n"
            return
        end
        local slot = #out + 1
        out[slot] = ""
        local n = 0
        while true do
            local x = rawget(v, n + 1)
            if x == nil then break end
            n = n + 1
            encode(x, out, resp, sresp, depth)
        end
        out[slot] = "*" .. n .. "\r\n"
    else
        out[#out + 1] = resp == 3 and "_\r\n" or "$-1\r\n"
    end
end

local function to_resp(v, resp, sresp)
    local out = {}
    encode(v, out, resp, sresp)
    return concat(out)
end

-- error handler: the error table with the user code's source and line ------------------
local killing = false -- SCRIPT KILL: the hook fires on every instruction until errh
local function errh(err)
    if killing then
        sethook() -- the kill error reached the top: disarm (Python re-arms the hook)
        killing = false
    end
    local needpos
    if type(err) == "userdata" then err, needpos = pyunwrap(err) end
    local lvl = 2
    local i = getinfo(lvl, "nSl")
    while i and (i.what == "C" or i.source == "=bocho") do
        lvl = lvl + 1
        i = getinfo(lvl, "nSl")
    end
    if needpos and i then
        err = i.short_src .. ":" .. tostring(i.currentline) .. ": " .. tostring(err)
    end
    if type(err) ~= "table" then
        err = {err = "ERR " .. tostring(err)}
    end
    if i then
        err.source = i.source
        err.line = i.currentline
    end
    return err
end

-- the redis table ---------------------------------------------------------------------
-- redis.call and redis.pcall are the bridge's C functions or the Python callables
-- themselves (to Lua, C functions too), so the script's own frame stays on the stack
-- (for the error's line) even in `return redis.call(...)`. The bridge raises call
-- errors as the error table; Python raises LuaError(error table), which reaches Lua as
-- userdata: pyunwrap gives the table back.
local redis = {}
redis.call = cbridge and cbridge.call or pycall
redis.pcall = cbridge and cbridge.pcall or pypcall
redis.sha1hex = function(...)
    if select("#", ...) ~= 1 then error(errtable("wrong number of arguments")) end
    local s = ...
    if type(s) == "number" then s = tostring(s) end
    if type(s) ~= "string" then s = "" end
    return pysha1(s)
end
redis.error_reply = function(...)
    local e = ...
    if select("#", ...) ~= 1 or type(e) ~= "string" then
        return errtable("wrong number or type of arguments")
    end
    if sbyte(e, 1) ~= 45 then e = "-" .. e end
    return errtable(e)
end
redis.status_reply = function(...)
    local s = ...
    if select("#", ...) ~= 1 or type(s) ~= "string" then
        return errtable("wrong number or type of arguments")
    end
    return {ok = s}
end
local function log(...)
    local n = select("#", ...)
    if n < 2 then error(errtable("redis.log() requires two arguments or more.")) end
    local level = ...
    if tonumber(level) == nil then error(errtable("First argument must be a number (log level).")) end
    level = floor(tonumber(level))
    if level < 0 or level > 3 then error(errtable("Invalid debug level.")) end
    local parts = {}
    for j = 2, n do
        local a = select(j, ...)
        local t = type(a)
        if t == "string" or t == "number" then parts[#parts + 1] = tostring(a) end
    end
    pylog(level, concat(parts, " "))
end
redis.log = log
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = version, version_num
local sresp
redis.setresp = function(...)
    if select("#", ...) ~= 1 then error(errtable("redis.setresp() requires one argument.")) end
    local r = floor(tonumber((...)) or 0)
    local e = pysetresp(r)
    if e then error(errtable(e)) end
    sresp = r
end
redis.set_repl = function(...)
    if select("#", ...) ~= 1 then error(errtable("redis.set_repl() requires two arguments.")) end
    local e = pysetrepl(floor(tonumber((...)) or -1))
    if e then error(errtable(e)) end
end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.acl_check_cmd = function(...)
    if select("#", ...) == 0 then
        error(errtable("Please specify at least one argument for this redis lib call"))
    end
    local r = pyacl(...)
    if r == nil then error(errtable("Invalid command passed to redis.acl_check_cmd()")) end
    return r
end
if mode == "eval" then
    redis.replicate_commands = function() return true end
    redis.breakpoint = function() return false end
    redis.debug = function() end
end

-- math.random as Redis's (its own lrand48, same sequence everywhere) -------------------
local xmath = {}
for k, v in pairs(math) do xmath[k] = v end
xmath.random = pyrand
xmath.randomseed = pyseed

-- the sandboxed globals ---------------------------------------------------------------
local B = {}
local P = protect(B)
local function ro_guard(t)
    if readonly[t] then error(RO, 0) end
end

B._G = P
B._VERSION = G._VERSION
for _, k in pairs({"tostring", "tonumber", "next", "assert", "rawequal",
                   "rawget", "collectgarbage", "coroutine", "type", "select", "unpack",
                   "gcinfo", "error"}) do
    B[k] = G[k]
end
B.setmetatable = function(t, m)
    ro_guard(t)
    return setmetatable(t, m)
end
B.rawset = function(t, k, v)
    ro_guard(t)
    return rawset(t, k, v)
end
local string_mt -- what getmetatable("") shows: a readonly table whose __index is string
B.getmetatable = function(t)
    if type(t) == "string" then return string_mt end
    return getmetatable(t)
end
-- the raw accessors and iterators see through the readonly views to their tables
B.rawget = function(t, k)
    return rawget(backing[t] or t, k)
end
B.next = function(t, k)
    return next(backing[t] or t, k)
end
B.pairs = function(t)
    local b = backing[t]
    if b then return next, b, nil end
    return pairs(t)
end
B.ipairs = function(t)
    return ipairs(backing[t] or t)
end
B.getfenv = function(f)
    local e = getfenv(f or 1)
    if rawequal(e, G) then return P end
    return e
end
B.setfenv = function(f, t)
    if type(f) == "number" and f == 0 then error(RO, 2) end
    return setfenv(f, t)
end
B.loadstring = function(s, name)
    if type(s) == "string" and sbyte(s, 1) == 27 then
        return nil, "binary chunks are not allowed"
    end
    local f, e = loadstring(s, name)
    if f then setfenv(f, P) end
    return f, e
end
B.load = function(fn, name)
    local f, e = G.load(fn, name)
    if f then setfenv(f, P) end
    return f, e
end
-- pcall as Redis 7's: an error table from redis.call turns into its message
B.pcall = function(f, ...)
    local res = {pcall(f, ...)}
    if not res[1] then
        local e = res[2]
        if type(e) == "userdata" then e = (pyunwrap(e)) end
        if type(e) == "table" then
            local m = e.err
            if type(m) == "string" or type(m) == "number" then return false, m end
        end
        return false, e
    end
    return unpack(res, 1, table.maxn(res))
end
B.xpcall = function(f, h)
    return xpcall(f, function(e)
        if type(e) == "userdata" then e = (pyunwrap(e)) end
        return h(e)
    end)
end
B.string = protect(string)
string_mt = protect({__index = B.string})
B.table = protect(table)
B.math = protect(xmath)
-- the Python-made libraries: their functions are the Python callables themselves
for name, lib in pairs(libs) do
    local t = {}
    for k, f in pairs(lib.fns) do t[k] = f end
    for k, v in pairs(lib.vals) do t[k] = v end
    B[name] = protect(t)
end

local fapi_index -- what they see while the library loads
if mode == "eval" then
    B.redis = protect(redis)
else
    B.redis = protect(redis)
    -- while a library loads, its code sees only redis.register_function/log/version
    local lib_redis = {
        register_function = function(...)
            local n = select("#", ...)
            local e = pyregister(n, ...)
            if e then error(errtable(e)) end
        end,
        log = log,
        LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
        REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
    }
    setmetatable(lib_redis, {__index = missing_global})
    fapi_index = protect(strict({redis = protect(lib_redis)}))
end
setmetatable(B, {__index = missing_global, __newindex = ro_newindex})

-- The thread's own globals stay lupa's (it needs them); scripts never see them: their
-- functions get P as environment (compile, loadstring, load) and getfenv maps it to P.

-- entry points for Python ---------------------------------------------------------------
local M = {}

local HOOK_EVERY = 100000
local function hook()
    local kill = pyinterrupt()
    if kill then
        killing = true
        sethook(hook, "", 1)
        error(errtable(kill))
    end
end

-- the count hook stays armed between runs (cheap: pyinterrupt returns at once when no
-- script runs or none has run long); only a kill or a FUNCTION LOAD changes it
function M.arm()
    sethook(hook, "", HOOK_EVERY)
end
M.arm()

function M.compile(body, chunkname)
    local f, e = loadstring(body, chunkname)
    if not f then return nil, e end
    setfenv(f, P)
    return f
end

-- One call runs a script: the caller's protocol, how many of the arguments are keys,
-- then the keys and args. Returns (true, reply bytes, nil|"count"|"ignore") or
-- (false, message, source, line, ignore-stats).
sresp = 2 -- the script's protocol (redis.setresp)
local function finish(ok, r, resp)
    if ok then
        return true, M.to_resp_top(r, resp, sresp)
    end
    return false, M.error_info(r)
end

-- A run with its KEYS and ARGV tables made: an EVAL script sees them as globals, a
-- function gets them as its arguments (the bridge does the same in C: Bridge.run).
local function run(f, keys, args, resp, eval_mode)
    sresp = 2
    local ok, r
    if eval_mode then
        rawset(B, "KEYS", keys)
        rawset(B, "ARGV", args)
        ok, r = xpcall(f, errh)
    else
        ok, r = xpcall(function() return f(keys, args) end, errh)
    end
    return finish(ok, r, resp)
end

function M.run(f, resp, eval_mode, n, ...)
    -- KEYS is the table of all arguments with the args moved out (one table less)
    local keys, args = {...}, {}
    for i = n + 1, select("#", ...) do
        args[i - n] = keys[i]
        keys[i] = nil
    end
    return run(f, keys, args, resp, eval_mode)
end

M.to_resp = to_resp
M.parse = parse
M.errtable = errtable

-- The bridge runs a script itself (lua_pcall with errh, KEYS and ARGV set in B) and
-- turns a string, number or nil result into RESP in C; anything else comes here. The
-- script's protocol goes back to 2 for the next run in either case (reset).
local function top(v, resp)
    return M.to_resp_top(v, resp, sresp)
end
local function reset() sresp = 2 end

-- the reply of a whole script: a top-level error table is returned apart, with whether
-- it still has to be counted in the error stats ("count") or was counted ("ignore")
function M.to_resp_top(v, resp, sresp)
    local t = type(v)
    if t == "string" then return "$" .. #v .. "\r\n" .. v .. "\r\n" end
    if t == "number" then return sformat(":%d\r\n", v) end
    if t == "table" then
        local e = rawget(v, "err")
        if type(e) == "string" then
            local msg = oneline(e)
            if sbyte(msg, 1) ~= 45 then msg = "-" .. msg end
            return msg .. "\r\n", (v.ignore_error_stats_update == true) and "ignore" or "count"
        end
    end
    return to_resp(v, resp, sresp), nil
end
M.xpcall = xpcall
M.pcall = pcall
M.sethook = sethook
M.errh = errh

function M.error_info(e)
    if type(e) ~= "table" then return tostring(e), nil, nil, false end
    local m = e.err
    if type(m) ~= "string" then m = tostring(m) end
    local src, line = e.source, e.line
    return m, src and tostring(src) or nil, line and tostring(line) or nil,
           e.ignore_error_stats_update == true
end

if cbridge then
    cbridge.keep(errtable, parse, errh, top, M.error_info, reset, B)
    M.ref = cbridge.ref
end

function M.array(...)
    return {...}
end

-- FUNCTION LOAD: compile a library's body with the load-time API as its globals and
-- arm the deadline hook; Python then runs it with pcall, clears the hook and calls
-- load_end, after which the library's functions see the ordinary globals.
function M.load_begin(body, load_hook)
    local f, e = loadstring(body, "@user_function")
    if not f then return nil, e end
    local env_mt = {__newindex = ro_newindex, __index = fapi_index, __metatable = false}
    local env = setmetatable({}, env_mt)
    readonly[env] = true
    setfenv(f, env)
    sethook(function()
        local e2 = load_hook()
        if e2 then
            sethook(function() error(errtable(e2)) end, "", 1)
            error(errtable(e2))
        end
    end, "", HOOK_EVERY)
    return f, env_mt
end

function M.load_end(env_mt)
    env_mt.__index = P
end

function M.load_error(err)
    if type(err) == "table" then return tostring(err.err) end
    return tostring(err)
end

function M.is_function(f) return type(f) == "function" end
function M.lua_type(v) return type(v) end

return M
"""
