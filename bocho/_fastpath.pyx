# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The compiled request loop (optional; BOCHO_PURE=1 or a missing build selects the
pure-Python path in network.py, which stays the reference for every behaviour).

`data_received` replaces Client.data_received. It frames the read's requests itself,
straight out of the bytes object uvloop hands over (no hiredis, no batch list), and runs
each one the way Client.process_input's loop does: the lookup in the command TABLE,
the arity test, the handler, the per-command statistics (calls, usec, slow log) with
one clock read per command. Only the common case is handled here: a read that starts a
new request ('*'), from an authenticated client whose reader holds nothing, with plain
`*N $len payload` requests. At the first request that is anything else (incomplete,
inline, a nested array, an odd or oversized length, a protocol error), or when a
command blocked the client, the rest of the read goes to Client.process_input, which
then owns it (errors, limits, hiredis state) exactly as if it had arrived alone.

`flush_pending` replaces Server.flush_pending (the write of every client's queued
replies once per event-loop iteration), with Client.flush inlined.

Handlers stay Python, except the common case of GET, SET, INCR, DECR and MSET (plain
string values, no TTL on the key, no LRU/LFU clock, no keyspace events, no WATCH), done
here; anything else calls the Python handler (strings.py says so beside each).

What makes it cheaper than the Python loop, measured (bench/README.md):
- attributes of Client, Command and Database (classes with __slots__) are read and
  written at their slot's offset, found once from the class's member descriptors
  (install refuses to run, leaving the Python path, if one is not a plain object slot);
- counters add up in C: keyspace hits and dirty reach the server before any Python
  code that may read them runs (a handler of a command that is neither `write` nor
  `fast` nor a script's, call(), the slow log, the Python path); a command's calls/usec
  reach its Command when Python code reads them (commands.sync_stats: INFO, CONFIG
  RESETSTAT, LATENCY HISTOGRAM) and when the iteration's replies are written
  (flush_pending);
- the state GET/SET depend on (the db's dicts, the notify flags, WATCH) is read once per
  read and again only after Python code ran."""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Contains, PyDict_GetItemWithError, PyDict_SetItem
from cpython.list cimport PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.set cimport PySet_Add
from libc.stdint cimport int64_t

from bocho._clock cimport now_ns, wall_ms
from bocho._intfmt cimport bulk, decimal, small_int
from bocho._slots cimport BOCHO_SLOT, offset, sget, sset
from libc.string cimport memcmp, memcpy


cdef extern from *:
    """
    #define PyDict_GET_SIZE_(d) PyDict_GET_SIZE(d)
    #define PyList_GET_ITEM_0(l) PyList_GET_ITEM((l), 0)
    #define PyList_GET_ITEM_1(l) PyList_GET_ITEM((l), 1)
    #define PyList_GET_ITEM_2(l) PyList_GET_ITEM((l), 2)
    """
    Py_ssize_t PyDict_GET_SIZE_(object d)
    PyObject *PyList_GET_ITEM_0(object l)
    PyObject *PyList_GET_ITEM_1(object l)
    PyObject *PyList_GET_ITEM_2(object l)


# -- slots -------------------------------------------------------------------------------

cdef struct ClientSlots:
    Py_ssize_t closing, server, inline_buf, tail, authenticated, blocked, pending_argv
    Py_ssize_t backlog, reader, net_in, net_out, last_io, out, current, slow, db, lastcmd
    Py_ssize_t obuf_hard, obuf_soft_since, write, wbuf_size, queueing, multi, user

cdef struct DbSlots:
    Py_ssize_t data, expires, lru, watched

cdef struct CommandSlots:
    Py_ssize_t calls, usec

cdef ClientSlots CS
cdef DbSlots DS
cdef CommandSlots MS
cdef type client_type = None
cdef type db_type = None
cdef type command_type = None




# -- the server's attributes ---------------------------------------------------------------
# Server is a plain class (no __slots__): its attributes are read from its instance dict
# (one lookup with an interned name) when install found that none of these names is a
# class attribute (a property would otherwise be bypassed); else by getattr.

SERVER_NAMES = ("unixtime", "slowlog_ns", "slow", "pending_writes", "flush_scheduled",
                "loop", "obuf_limits_on", "notify_flags", "stat_keyspace_hits", "dirty",
                "client_evict", "propagating", "replica_guard", "also_propagate",
                "propagate_hooks", "repl_in_loop")
cdef bint server_dict_ok = False
cdef object view_srv = None
cdef dict view_dict = None


cdef inline dict server_dict(object srv):
    global view_srv, view_dict
    if srv is not view_srv:
        view_dict = srv.__dict__ if server_dict_ok else None
        view_srv = srv
    return view_dict


cdef inline object sattr(object srv, str name):
    cdef dict d = server_dict(srv)
    cdef PyObject *v
    if d is not None:
        v = PyDict_GetItemWithError(d, name)
        if v is not NULL:
            return <object>v
    return getattr(srv, name)


cdef inline int sattr_set(object srv, str name, object value) except -1:
    cdef dict d = server_dict(srv)
    if d is not None:
        return PyDict_SetItem(d, name, value)
    setattr(srv, name, value)
    return 0


# -- set-up ------------------------------------------------------------------------------

cdef dict TABLE = {}
cdef type reader_type = None
cdef object reader_has_data = None  # hiredis.Reader.has_data, called unbound
cdef object py_process_input = None
cdef object py_exec_queued = None
cdef object failed_reply = None
cdef bytes OK = b"+OK\r\n"
cdef bytes QUEUED = b"+QUEUED\r\n"

# flags of bocho.commands
DEF F_WRITE = 1
DEF F_FAST = 1 << 11
DEF F_NO_MULTI = 1 << 14

# how an Entry's command runs
DEF K_PYTHON = 0
DEF K_GET = 1
DEF K_SET = 2
DEF K_INCR = 3
DEF K_DECR = 4
DEF K_MSET = 5
DEF K_EXEC = 6
DEF K_EXPIRE = 7

# the commands that run a script (Entry.script)
SCRIPT_RUNNERS = frozenset(("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"))

# what call() does not queue inside MULTI (network._EXEC_LIKE_NAMES)
EXEC_LIKE = frozenset(("exec", "discard", "multi", "watch", "quit", "reset"))

# Requests larger than these are left to the Python path (which knows the configured
# limits: proto-max-bulk-len can't be set below 1 MB, and Redis's multibulk limit).
DEF BULK_FAST_MAX = 1024 * 1024
DEF MULTIBULK_MAX = 1024 * 1024


def install(table, client_cls, server_cls, failed_reply_fn, command_cls, db_cls):
    """Take over Client.data_received and Server.flush_pending (network.py calls this
    once at import unless BOCHO_PURE is set). Raises LookupError, changing nothing, if
    an attribute this module reads at its slot is not a plain slot any more."""
    global TABLE, py_process_input, failed_reply, client_type, db_type, command_type
    global CS, DS, MS
    cdef ClientSlots cs
    cs.closing = offset(client_cls, "closing")
    cs.server = offset(client_cls, "server")
    cs.inline_buf = offset(client_cls, "inline_buf")
    cs.tail = offset(client_cls, "tail")
    cs.authenticated = offset(client_cls, "authenticated")
    cs.blocked = offset(client_cls, "blocked")
    cs.pending_argv = offset(client_cls, "pending_argv")
    cs.backlog = offset(client_cls, "backlog")
    cs.reader = offset(client_cls, "reader")
    cs.net_in = offset(client_cls, "net_in")
    cs.net_out = offset(client_cls, "net_out")
    cs.last_io = offset(client_cls, "last_io")
    cs.out = offset(client_cls, "out")
    cs.current = offset(client_cls, "current")
    cs.slow = offset(client_cls, "slow")
    cs.db = offset(client_cls, "db")
    cs.lastcmd = offset(client_cls, "lastcmd")
    cs.obuf_hard = offset(client_cls, "obuf_hard")
    cs.obuf_soft_since = offset(client_cls, "obuf_soft_since")
    cs.write = offset(client_cls, "_write")
    cs.wbuf_size = offset(client_cls, "_wbuf_size")
    cs.queueing = offset(client_cls, "queueing")
    cs.multi = offset(client_cls, "multi")
    cs.user = offset(client_cls, "user")
    cdef DbSlots ds
    ds.data = offset(db_cls, "data")
    ds.expires = offset(db_cls, "expires")
    ds.lru = offset(db_cls, "lru")
    ds.watched = offset(db_cls, "watched")
    cdef CommandSlots ms
    ms.calls = offset(command_cls, "calls")
    ms.usec = offset(command_cls, "usec")
    CS = cs
    DS = ds
    MS = ms
    client_type = client_cls
    db_type = db_cls
    command_type = command_cls
    TABLE = table
    import hiredis
    global reader_type, reader_has_data
    reader_type = hiredis.Reader
    reader_has_data = hiredis.Reader.has_data
    py_process_input = client_cls.process_input
    global py_exec_queued
    py_exec_queued = client_cls.exec_queued
    failed_reply = failed_reply_fn
    global server_dict_ok
    server_dict_ok = (not hasattr(server_cls, "__slots__")
                      and not any(hasattr(server_cls, name) for name in SERVER_NAMES))
    client_cls.data_received = data_received
    client_cls.exec_queued = exec_queued
    client_cls.execute_plain = execute_plain
    server_cls.flush_pending = flush_pending
    from bocho.commands import set_stats_sync
    set_stats_sync(flush_stats)


# -- commands and their counters -----------------------------------------------------------

cdef class Entry:
    """What the loop needs of one Command, read once (a Command's handler, arity and
    flags do not change once the table is built), and its calls/usec not yet added to
    the Command."""
    cdef object cmd
    cdef object handler
    cdef object fullname
    cdef Py_ssize_t arity
    cdef int kind
    cdef bint defer  # a `write` or `fast` command: its handler reads no statistics
    # EVAL/EVALSHA/FCALL and their _RO forms: their handler reads no statistics either,
    # and each command the script runs gets them flushed as its own (run_for_script)
    cdef bint script
    cdef bint container
    cdef bint queue  # queued inside MULTI as it is (not EXEC-like, no `no-multi` flag)
    cdef bint write  # a replica sends it to call() (replica-read-only)
    cdef bint in_stream  # a replica's master client runs it here (apply_stream)
    cdef long long calls
    cdef long long usec


cdef dict ENTRIES = {}  # Command -> Entry
cdef list PENDING = []  # Entries with calls not yet added to their Command
# keyspace hits and dirty changes not yet added to the server they belong to
cdef object pending_srv = None
cdef long long pending_hits = 0
cdef long long pending_dirty = 0


cdef Entry entry_for(object cmd):
    cdef Entry e = ENTRIES.get(cmd)
    if e is not None:
        return e
    from bocho.commands import keys, strings
    e = Entry()
    e.cmd = cmd
    e.handler = cmd.handler
    e.fullname = cmd.fullname
    e.arity = cmd.arity
    e.container = cmd.subcommands is not None
    flags = cmd.flags
    # commands that may read the statistics (INFO, CONFIG RESETSTAT...) are neither
    e.defer = bool(flags & (F_WRITE | F_FAST)) and not e.container and type(cmd) is command_type
    e.write = bool(flags & F_WRITE)
    e.script = (not e.container and cmd.parent is None and type(cmd) is command_type
                and cmd.name in SCRIPT_RUNNERS)
    e.queue = (e.handler is not None and not e.container and not flags & F_NO_MULTI
               and cmd.name not in EXEC_LIKE)
    # REPLCONF GETACK is answered by the master client itself
    e.in_stream = e.queue and cmd.name != "replconf"
    if e.handler is strings.get:
        e.kind = K_GET
    elif e.handler is strings.set_:
        e.kind = K_SET
    elif e.handler is strings.incr:
        e.kind = K_INCR
    elif e.handler is strings.decr:
        e.kind = K_DECR
    elif e.handler is strings.mset:
        e.kind = K_MSET
    elif e.handler is keys.expire:
        e.kind = K_EXPIRE
    elif cmd.name == "exec" and cmd.parent is None:
        e.kind = K_EXEC
    else:
        e.kind = K_PYTHON
    ENTRIES[cmd] = e
    return e


cdef int add_stats(Entry e) except -1:
    cmd = e.cmd
    cdef long long calls = e.calls, usec = e.usec
    e.calls = 0
    e.usec = 0
    if type(cmd) is command_type:
        sset(cmd, MS.calls, sget(cmd, MS.calls) + calls)
        sset(cmd, MS.usec, sget(cmd, MS.usec) + usec)
    else:
        cmd.calls += calls
        cmd.usec += usec
    return 0


cdef int flush_server_counters() except -1:
    """Keyspace hits and `dirty` counted in C reach the server: before Python code that
    may read them runs (any handler of a command that is neither `write` nor `fast`)."""
    global pending_srv, pending_hits, pending_dirty
    if pending_srv is not None:
        srv = pending_srv
        pending_srv = None
        if pending_hits:
            sattr_set(srv, "stat_keyspace_hits", sattr(srv, "stat_keyspace_hits") + pending_hits)
            pending_hits = 0
        if pending_dirty:
            sattr_set(srv, "dirty", sattr(srv, "dirty") + pending_dirty)
            pending_dirty = 0
    return 0


cdef int flush_counters() except -1:
    """Everything counted in C reaches the Python objects: the commands' calls/usec once
    per event-loop iteration (flush_pending), before the slow log and the Python path,
    and whenever Python code reads them (commands.sync_stats: INFO, CONFIG RESETSTAT,
    LATENCY HISTOGRAM, the cron's ops samples); hits and dirty also before any handler
    that may read them (flush_server_counters)."""
    cdef Entry e
    if PENDING:
        for e in PENDING:
            add_stats(e)
        del PENDING[:]
    return flush_server_counters()


def flush_stats():
    """commands.sync_stats (installed by install): flush_counters for Python code."""
    flush_counters()


cdef inline int count_call(Entry e, int64_t d) except -1:
    if e.calls == 0:
        PENDING.append(e)
    e.calls += 1
    e.usec += d
    return 0


# -- GET and SET ---------------------------------------------------------------------------

cdef inline object bulk_reply(object v):
    """$<len>\r\n<v>\r\n in one allocation."""
    return bulk(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))


cdef class DbState:
    """What GET/SET depend on, read at the first GET/SET of a read and again after
    Python code ran (stale)."""
    cdef bint fresh
    cdef bint busy
    cdef bint plain  # a Database whose dicts are dicts, no LRU/LFU clock
    cdef bint set_ok  # and no keyspace events or WATCH in force either
    cdef object data
    cdef object expires

    cdef int load(self, client, srv) except -1:
        db = sget(client, CS.db)
        self.fresh = True
        self.plain = False
        self.set_ok = False
        if type(db) is not db_type:
            return 0
        self.data = sget(db, DS.data)
        self.expires = sget(db, DS.expires)
        self.plain = (BOCHO_SLOT(db, DS.lru) == <PyObject *>None
                      and type(self.data) is dict and type(self.expires) is dict)
        self.set_ok = (self.plain and not sget(db, DS.watched)
                       and not sattr(srv, "notify_flags"))
        return 0


cdef bint ttl_in_play(DbState st, object key, long long *now) except -1:
    """Whether key's TTL may decide what a command sees: it has one that is not in the
    future of the wall clock. Whatever time the Python path expires keys against (now,
    or a script's start, which is earlier) the key is alive then, so a read or an
    INCR (which keeps the TTL) can run here; for a TTL that has passed, or nearly,
    Python decides (lazy expiry, replicas, paused clients). The wall clock is read into
    *now if it is negative (a command that needs the time again reuses the reading)."""
    if not PyDict_GET_SIZE_(st.expires):
        return False
    cdef PyObject *when = PyDict_GetItemWithError(st.expires, key)
    if when is NULL:
        return False
    if type(<object>when) is not int:
        return True
    cdef int overflow = 0
    # (the one-digit fast path of PyLong_AsLongLong does not cover millisecond times)
    cdef long long w = PyLong_AsLongLongAndOverflow(<object>when, &overflow)
    if overflow:
        return overflow < 0
    if now[0] < 0:
        now[0] = wall_ms()
    return w <= now[0] + 1


cdef object get_string(DbState st, object srv, list argv):
    """GET of a plain bytes value on a key without a TTL in play: the reply, or None
    for the Python handler (misses, TTLs that may have passed, other types, LRU/LFU)."""
    global pending_srv, pending_hits
    if not st.plain:
        return None
    key = <object>PyList_GET_ITEM_1(argv)
    cdef PyObject *found = PyDict_GetItemWithError(st.data, key)
    if found is NULL or type(<object>found) is not bytes:
        return None
    cdef long long now = -1
    if ttl_in_play(st, key, &now):
        return None
    if pending_srv is not srv:
        flush_server_counters()
        pending_srv = srv
    pending_hits += 1
    return bulk_reply(<object>found)


cdef object set_string(DbState st, object srv, list argv):
    """SET key value (no options) with no keyspace events, TTL, LRU/LFU or WATCH in
    play: store and OK; else None for the Python handler."""
    global pending_srv, pending_dirty
    if PyList_GET_SIZE(argv) != 3 or not st.set_ok:
        return None
    key = <object>PyList_GET_ITEM_1(argv)
    if PyDict_GET_SIZE_(st.expires) and PyDict_Contains(st.expires, key):
        return None
    PyDict_SetItem(st.data, key, <object>PyList_GET_ITEM_2(argv))
    if pending_srv is not srv:
        flush_server_counters()
        pending_srv = srv
    pending_dirty += 1
    return OK


cdef object mset_strings(DbState st, object srv, list argv):
    """MSET with no keyspace events, LRU/LFU, WATCH, or TTL anywhere in the db: store
    the pairs in order (a repeated key's last value wins) and OK; else None."""
    global pending_srv, pending_dirty
    cdef Py_ssize_t n = PyList_GET_SIZE(argv), i
    if not st.set_ok or n % 2 == 0 or PyDict_GET_SIZE_(st.expires):
        return None
    data = st.data
    for i in range(1, n, 2):
        PyDict_SetItem(data, argv[i], argv[i + 1])
    if pending_srv is not srv:
        flush_server_counters()
        pending_srv = srv
    pending_dirty += n // 2
    return OK


cdef object incr_string(DbState st, object srv, list argv, long long by):
    """INCR/DECR of an existing plain bytes counter of at most 18 digits (no overflow
    possible) on a key without a TTL in play (it keeps its TTL), with no keyspace
    events, LRU/LFU or WATCH in play; else None for the Python handler (which owns new
    keys, errors, the rest)."""
    global pending_srv, pending_dirty
    if not st.set_ok:
        return None
    key = <object>PyList_GET_ITEM_1(argv)
    cdef PyObject *found = PyDict_GetItemWithError(st.data, key)
    if found is NULL or type(<object>found) is not bytes:
        return None
    cdef long long now = -1
    if ttl_in_play(st, key, &now):
        return None
    cdef long long v
    if not small_int(PyBytes_AS_STRING(<object>found), PyBytes_GET_SIZE(<object>found), 18,
                     &v):
        return None
    v += by
    PyDict_SetItem(st.data, key, decimal(v, False))
    if pending_srv is not srv:
        flush_server_counters()
        pending_srv = srv
    pending_dirty += 1
    return decimal(v, True)


cdef bytes ONE = b":1\r\n"


cdef object expire_key(DbState st, object srv, list argv):
    """EXPIRE key seconds, without options, of an existing key whose TTL (if any) is not
    in play, to a time in the future, on a master with no keyspace events, LRU/LFU or
    WATCH in play: the TTL set and :1; else None for the Python handler (which owns
    deletion by a past time, errors, replicas' own TTLs, and any propagation, which
    must carry the absolute PEXPIREAT)."""
    global pending_srv, pending_dirty
    if (PyList_GET_SIZE(argv) != 3 or not st.set_ok or sattr(srv, "role") != "master"
            or sattr(srv, "propagating")):
        return None
    key = <object>PyList_GET_ITEM_1(argv)
    cdef long long now = -1
    if PyDict_GetItemWithError(st.data, key) is NULL or ttl_in_play(st, key, &now):
        return None
    secs = <object>PyList_GET_ITEM_2(argv)
    cdef long long v
    # a positive count of seconds of at most 12 digits
    if (type(secs) is not bytes
            or not small_int(PyBytes_AS_STRING(secs), PyBytes_GET_SIZE(secs), 12, &v)
            or v <= 0):
        return None
    if now < 0:
        now = wall_ms()
    PyDict_SetItem(st.expires, key, now + v * 1000)
    if pending_srv is not srv:
        flush_server_counters()
        pending_srv = srv
    pending_dirty += 1
    return ONE


# -- the loop ------------------------------------------------------------------------------

cdef inline Py_ssize_t read_len(const char *buf, Py_ssize_t p, Py_ssize_t end,
                                Py_ssize_t limit, Py_ssize_t *val) noexcept:
    """The decimal at buf[p] up to its CRLF, as string2ll takes it (digits only, no
    leading zero): the position after the CRLF, or -1 when the line is incomplete,
    odd, or over `limit` (all of them the Python path's business)."""
    cdef Py_ssize_t start = p
    cdef Py_ssize_t v = 0
    cdef char ch
    while p < end:
        ch = buf[p]
        if ch == 13:
            break
        if ch < 48 or ch > 57:
            return -1
        v = v * 10 + (ch - 48)
        if v > limit:
            return -1
        p += 1
    if p + 1 >= end or p == start or buf[p + 1] != 10:
        return -1
    if buf[start] == 48 and p - start > 1:
        return -1
    val[0] = v
    return p + 2


cdef object parse_request(const char *buf, Py_ssize_t pos, Py_ssize_t end,
                          Py_ssize_t *nxt):
    """The complete plain request at buf[pos] ('*') as a list of bytes, its end in
    *nxt; None for anything else."""
    cdef Py_ssize_t count = 0, blen = 0, i
    cdef Py_ssize_t p = read_len(buf, pos + 1, end, MULTIBULK_MAX, &count)
    if p < 0 or count == 0:
        return None
    argv = PyList_New(count)
    for i in range(count):
        if p >= end or buf[p] != 36:
            return None
        p = read_len(buf, p + 1, end, BULK_FAST_MAX, &blen)
        if p < 0 or p + blen + 2 > end or buf[p + blen] != 13 or buf[p + blen + 1] != 10:
            return None
        item = PyBytes_FromStringAndSize(buf + p, blen)
        Py_INCREF(item)
        PyList_SET_ITEM(argv, i, item)
        p += blen + 2
    nxt[0] = p
    return argv


cdef inline bint truth(object o, Py_ssize_t off):
    """bool() of an attribute that holds a bool (or, for `tail`, bytes) at its slot."""
    cdef PyObject *v = BOCHO_SLOT(o, off)
    if v == <PyObject *>True:
        return True
    if v == <PyObject *>False or v == <PyObject *>None or v is NULL:
        return False
    return bool(<object>v)


# the last Server.slowlog_ns seen and its C value (an int does not change: the same
# object, the same threshold)
cdef object threshold_of = None
cdef int64_t threshold_val = 0


cdef inline int64_t threshold(object ns) except? -1:
    """Server.slowlog_ns as a C number (a huge slowlog-log-slower-than: never)."""
    global threshold_of, threshold_val
    if ns is threshold_of:
        return threshold_val
    cdef int64_t v = ns if ns < (1 << 62) else (1 << 62)
    threshold_of = ns
    threshold_val = v
    return v


cdef inline bint reader_holds_data(reader) except -1:
    if type(reader) is reader_type:
        return reader_has_data(reader)
    return reader.has_data()


cdef inline int add_to(object pending, object client) except -1:
    if type(pending) is set:
        return PySet_Add(pending, client)
    pending.add(client)
    return 0


# The name of the last request framed here and what the table gave for it (unchanged
# while the table's size is: it is built at start-up), its Command and Entry.
cdef bytes memo_name = b""
cdef PyObject *memo_found = NULL
cdef Py_ssize_t memo_table_size = -1
cdef PyObject *last_cmd = NULL
cdef Entry last_entry = None
# one DbState serves every read (data_received does not nest; a new one if it did)
cdef DbState shared_state = None


cdef inline Entry entry_of(PyObject *found):
    """The Entry of a command found in the table, the last one remembered (a read is
    mostly one command repeated)."""
    global last_cmd, last_entry
    if found != last_cmd:
        last_entry = entry_for(<object>found)
        last_cmd = found
    return last_entry


cdef inline bint arity_fits(Entry e, Py_ssize_t nargs) noexcept:
    return nargs == e.arity or (e.arity < 0 and nargs >= -e.arity)


cdef inline object in_c(Entry e, DbState st, client, srv, list argv):
    """The reply of a command run in C (GET, SET, INCR/DECR, MSET in their plain
    case), or None: the handler must run."""
    cdef int kind = e.kind
    if kind == K_PYTHON or kind == K_EXEC:
        return None
    if not st.fresh:
        st.load(client, srv)
    if kind == K_GET:
        return get_string(st, srv, argv)
    if kind == K_SET:
        return set_string(st, srv, argv)
    if kind == K_INCR or kind == K_DECR:
        return incr_string(st, srv, argv, 1 if kind == K_INCR else -1)
    if kind == K_EXPIRE:
        return expire_key(st, srv, argv)
    return mset_strings(st, srv, argv)


DEF RAN_C = 0
DEF RAN_REPLY = 1  # the Python handler, which returned a reply
DEF RAN_NO_REPLY = 2  # the Python handler, which returned none or raised


cdef inline int run_entry(Entry e, DbState st, client, srv, list argv, list out) except -1:
    """Run one command, its reply queued on out: in C (in_c) or by its handler."""
    r = in_c(e, st, client, srv, argv)
    if r is not None:
        out.append(r)
        return RAN_C
    if not e.defer and not e.script:
        flush_server_counters()
    if e.kind == K_EXEC:
        sset(client, CS.lastcmd, e.fullname)  # before the queued commands run
    st.fresh = False
    try:
        r = e.handler(client, argv)
    except Exception as exc:
        out.append(failed_reply(srv, e.cmd, exc))
        return RAN_NO_REPLY
    if r is None:
        return RAN_NO_REPLY
    out.append(r)
    return RAN_REPLY


cdef int propagate(srv, dbid, list argv) except -1:
    """Server.propagate for a client's command (a list, never a ReplOnly): the hooks
    called from here, or the EXEC/script block's collection."""
    also = sattr(srv, "also_propagate")
    if also is not None:
        also.append((dbid, argv))
        return 0
    for hook in sattr(srv, "propagate_hooks"):
        hook(dbid, argv)
    return 0


cdef int run_propagating(Entry e, DbState st, client, srv, list argv, list out) except -1:
    """run_entry while writes propagate (the replication feed, Server.propagate): what
    Client.execute does after a command that moved `dirty`, in the same order (the
    reply, then the command, or what it set in Client.prop, to the stream)."""
    r = in_c(e, st, client, srv, argv)
    if r is not None:
        out.append(r)
        if e.kind != K_GET:  # SET, INCR/DECR, MSET in C: always a write, as it came
            propagate(srv, sget(client, CS.db).id, argv)
        return RAN_C
    flush_server_counters()  # `dirty` complete before and after
    dirty = sattr(srv, "dirty")
    client.prop = None
    if e.kind == K_EXEC:
        sset(client, CS.lastcmd, e.fullname)
    st.fresh = False
    try:
        r = e.handler(client, argv)
    except Exception as exc:
        out.append(failed_reply(srv, e.cmd, exc))
        return RAN_NO_REPLY
    if r is not None:
        out.append(r)
    flush_server_counters()
    if sattr(srv, "dirty") > dirty:
        dbid = sget(client, CS.db).id
        prop = client.prop
        if prop is None:
            propagate(srv, dbid, argv)
        else:
            for a in prop:
                propagate(srv, dbid, a)
    return RAN_NO_REPLY if r is None else RAN_REPLY


cdef int replica_read_check(int *memo, srv) except -1:
    """On a replica: whether clients' commands other than writes run here (else every
    command takes call(), which refuses what the link's state does not allow), kept in
    *memo for the rest of the read."""
    memo[0] = 1 if srv.replica.serves_reads() else 0
    return memo[0]


cdef inline int64_t account(Entry e, int64_t d, int64_t slowlog_ns, DbState st, client,
                            srv, list argv) except? -1:
    """A command's calls/usec and the slow log; the slow-log threshold from now on."""
    count_call(e, d)
    if d > slowlog_ns:
        flush_counters()
        srv.slowlog_push(client, argv, d)
        st.fresh = False
        return threshold(sattr(srv, "slowlog_ns"))
    return slowlog_ns


cdef int can_queue(srv) except -1:
    """What call() checks of a queued command beyond the client and server flags: no
    write deniers, no tracking table to bound, no client eviction to run."""
    if sattr(srv, "write_deniers"):
        return 0
    trk = sattr(srv, "tracking")
    if trk is not None and trk.clients:
        return 0
    return 0 if srv.config["maxmemory-clients"] else 1


def data_received(self, data):
    """Client.data_received: see the module docstring."""
    global last_cmd, last_entry, memo_name, memo_found, memo_table_size, shared_state
    if type(self) is not client_type:
        py_process_input(self, data)
        return
    if truth(self, CS.closing):
        return
    if type(data) is not bytes:
        data = bytes(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef const char *buf = PyBytes_AS_STRING(data)
    if (n == 0 or buf[0] != 42 or BOCHO_SLOT(self, CS.inline_buf) != <PyObject *>None
            or truth(self, CS.tail) or not truth(self, CS.authenticated)
            or truth(self, CS.blocked) or BOCHO_SLOT(self, CS.pending_argv) != <PyObject *>None
            or BOCHO_SLOT(self, CS.backlog) != <PyObject *>None
            or reader_holds_data(sget(self, CS.reader))):
        flush_counters()
        py_process_input(self, data)
        return
    srv = sget(self, CS.server)
    sset(self, CS.net_in, sget(self, CS.net_in) + n)
    sset(self, CS.last_io, sattr(srv, "unixtime"))
    out = sget(self, CS.out)
    cdef DbState st = shared_state
    if st is None or st.busy:
        st = DbState()
    shared_state = None
    st.busy = True
    st.fresh = False
    cdef Py_ssize_t pos = 0, nxt = 0
    cdef int64_t t0, d
    cdef int64_t slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
    cdef PyObject *found
    cdef Entry e = None
    cdef Entry last = None
    cdef bint srv_slow = sattr(srv, "slow")
    cdef bint slow = srv_slow or truth(self, CS.slow)
    cdef bint queueing = not srv_slow and truth(self, CS.queueing)
    # writes to propagate, a replica's refusals: read only while either is in force
    cdef bint repl = sattr(srv, "repl_in_loop")
    cdef bint prop = repl and sattr(srv, "propagating")
    cdef bint guard = repl and sattr(srv, "replica_guard")
    cdef int reads_ok = -1  # (on a replica) asked once a read
    cdef int queue_ok = -1  # nothing else call() checks when queueing: asked once a read
    cdef int ran
    cmd = None
    sset(self, CS.current, True)
    try:
        while pos < n and buf[pos] == 42:
            argv = parse_request(buf, pos, n, &nxt)
            if argv is None:
                break
            pos = nxt
            t0 = now_ns()
            name = <object>PyList_GET_ITEM_0(argv)
            # the same name as the request before: the same command (the table does
            # not change while a read runs)
            if (memo_found is not NULL and PyBytes_GET_SIZE(name) == PyBytes_GET_SIZE(memo_name)
                    and memcmp(PyBytes_AS_STRING(name), PyBytes_AS_STRING(memo_name),
                               PyBytes_GET_SIZE(name)) == 0
                    and PyDict_GET_SIZE_(TABLE) == memo_table_size):
                found = memo_found
            else:
                found = PyDict_GetItemWithError(TABLE, name)
                memo_found = found
                memo_name = name
                memo_table_size = PyDict_GET_SIZE_(TABLE)
            e = None
            if found is not NULL and (not slow or queueing):
                e = entry_of(found)
                if e.handler is None or not arity_fits(e, PyList_GET_SIZE(argv)):
                    e = None
                elif guard and (e.write or e.kind == K_EXEC or not (
                        reads_ok if reads_ok >= 0 else replica_read_check(&reads_ok, srv))):
                    e = None  # call() refuses it (READONLY, MASTERDOWN) or checks EXEC's
                elif slow:
                    # inside MULTI, nothing else making the client or the server slow:
                    # plain commands are queued here, EXEC runs as any command; the rest
                    # (errors, WATCH, DISCARD...) takes call()
                    if e.queue:
                        if queue_ok < 0:
                            queue_ok = can_queue(srv)
                        if queue_ok:
                            sget(self, CS.multi).append((e.cmd, argv))
                            out.append(QUEUED)
                            cmd = e.cmd
                            last = e
                            continue
                    if e.kind != K_EXEC:
                        e = None
            if e is None:
                # the full path (processCommand's checks, MULTI, unknown commands...)
                cmd = <object>found if found is not NULL else None
                last = None
                flush_counters()
                st.fresh = False
                self.call(argv)
                srv_slow = sattr(srv, "slow")
                slow = srv_slow or truth(self, CS.slow)
                queueing = not srv_slow and truth(self, CS.queueing)
                repl = sattr(srv, "repl_in_loop")
                prop = repl and sattr(srv, "propagating")
                guard = repl and sattr(srv, "replica_guard")
                reads_ok = -1
                slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
                if truth(self, CS.blocked) or truth(self, CS.closing):
                    break
                continue
            cmd = e.cmd
            last = e
            if prop:
                ran = run_propagating(e, st, self, srv, argv, out)
            else:
                ran = run_entry(e, st, self, srv, argv, out)
            if ran != RAN_C:
                slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
            slowlog_ns = account(e, now_ns() - t0, slowlog_ns, st, self, srv, argv)
            if ran != RAN_C:
                # only a handler that gave no reply can have blocked or closed the client
                if ran == RAN_NO_REPLY and (truth(self, CS.blocked) or truth(self, CS.closing)):
                    break
                srv_slow = sattr(srv, "slow")
                slow = srv_slow or truth(self, CS.slow)
                queueing = not srv_slow and truth(self, CS.queueing)
                repl = sattr(srv, "repl_in_loop")
                prop = repl and sattr(srv, "propagating")
                guard = repl and sattr(srv, "replica_guard")
                reads_ok = -1
        # CLIENT LIST cmd=: the read's last command (call() records its own)
        if last is not None:
            if not last.container:
                sset(self, CS.lastcmd, last.fullname)
        elif cmd is not None and cmd.subcommands is None:
            self.lastcmd = cmd.fullname
    finally:
        sset(self, CS.current, False)
        st.busy = False
        st.data = None
        st.expires = None
        shared_state = st
    if truth(self, CS.closing):
        flush_counters()
        return
    if PyList_GET_SIZE(out) or PENDING or pending_srv is not None:
        # (flush_pending also adds up the counters)
        add_to(sattr(srv, "pending_writes"), self)
    if pos < n:
        # the rest is the Python path's, accounted there
        flush_counters()
        sset(self, CS.net_in, sget(self, CS.net_in) - (n - pos))
        py_process_input(self, data[pos:])
        return
    if not sattr(srv, "flush_scheduled") and sattr(srv, "pending_writes"):
        sattr_set(srv, "flush_scheduled", True)
        sattr(srv, "loop").call_soon(srv.flush_pending)


def flush_pending(srv):
    """Server.flush_pending: each client's queued replies in one write (Client.flush)."""
    if sattr(srv, "client_evict") and srv.defer_flush():
        return
    flush_counters()
    sattr_set(srv, "flush_scheduled", False)
    pending = sattr(srv, "pending_writes")
    cdef bint limits_on = sattr(srv, "obuf_limits_on")
    cdef Py_ssize_t size
    while pending:
        c = pending.pop()
        if type(c) is not client_type:
            if c.out and not c.closing:
                c.flush()
            continue
        out = sget(c, CS.out)
        if not PyList_GET_SIZE(out) or truth(c, CS.closing):
            continue
        if PyList_GET_SIZE(out) == 1:
            data = <object>PyList_GET_ITEM_0(out)
        else:
            data = b"".join(out)
        del out[:]
        size = PyBytes_GET_SIZE(data) if type(data) is bytes else len(data)
        sset(c, CS.net_out, sget(c, CS.net_out) + size)
        if truth(c, CS.obuf_hard) and c.over_hard_limit(size):
            continue
        sget(c, CS.write)(data)
        if limits_on and (truth(c, CS.obuf_soft_since) or sget(c, CS.wbuf_size)()):
            c.check_output_limits()


cdef inline Py_ssize_t _digits(Py_ssize_t v) noexcept:
    cdef Py_ssize_t d = 1
    while v >= 10:
        v //= 10
        d += 1
    return d


cdef inline char *_put_len(char *p, char kind, Py_ssize_t v, Py_ssize_t d) noexcept:
    """kind, v in d decimal digits, CRLF; returns the position after it."""
    cdef Py_ssize_t i
    p[0] = kind
    for i in range(d, 0, -1):
        p[i] = 48 + v % 10
        v //= 10
    p[d + 1] = 13
    p[d + 2] = 10
    return p + d + 3


cdef object _bulk_fallback = None


def set_bulk_fallback(fn):
    global _bulk_fallback
    _bulk_fallback = fn


def bulk_array(list items):
    """An array of bulk strings (resp.bulk_strings) written into one bytes object: the
    sizes summed first, then headers and payloads copied in. A list holding anything
    but bytes goes to the Python builder (set_bulk_fallback)."""
    cdef Py_ssize_t n = PyList_GET_SIZE(items)
    cdef Py_ssize_t i, ln, total
    cdef object x
    cdef bytes out
    cdef char *p
    if n == 0:
        return b"*0\r\n"
    total = 3 + _digits(n)
    for i in range(n):
        x = items[i]
        if type(x) is not bytes:
            return _bulk_fallback(items)
        ln = PyBytes_GET_SIZE(x)
        total += ln + 5 + _digits(ln)
    out = PyBytes_FromStringAndSize(NULL, total)
    p = PyBytes_AS_STRING(out)
    p = _put_len(p, 42, n, _digits(n))
    for i in range(n):
        x = items[i]
        ln = PyBytes_GET_SIZE(x)
        p = _put_len(p, 36, ln, _digits(ln))
        memcpy(p, PyBytes_AS_STRING(x), ln)
        p[ln] = 13
        p[ln + 1] = 10
        p += ln + 2
    return out


def exec_queued(self, list queued):
    """Client.exec_queued (EXEC's run of the queued commands) while neither the client
    nor the server is slow: as the loop above runs a request (GET/SET/INCR/MSET in C,
    the others' handlers, calls/usec and the slow log counted here), with EXEC's ACL
    re-check of each command. What execute() adds on top (MONITOR, propagation, NO-TOUCH)
    only happens while something is slow; if a queued command makes the client or the
    server slow, the rest goes through the Python loop."""
    if type(self) is not client_type:
        return py_exec_queued(self, queued)
    srv = sget(self, CS.server)
    if sattr(srv, "slow") or truth(self, CS.slow):
        return py_exec_queued(self, queued)
    out = sget(self, CS.out)
    acl_free = srv.acl_free
    cdef DbState st = DbState()
    cdef Py_ssize_t i, n = PyList_GET_SIZE(queued)
    cdef int64_t t0, d
    cdef int64_t slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
    cdef Entry e = None
    cdef int ran
    cdef bint prop = sattr(srv, "propagating")
    for i in range(n):
        cmd, argv = queued[i]
        if sget(self, CS.user) not in acl_free:
            flush_counters()
            denied = srv.acl.check_exec(self, cmd, argv)
            if denied is not None:
                srv.count_error(denied[1:len(denied) - 2])
                out.append(denied)
                continue
        e = entry_for(cmd)
        t0 = now_ns()
        if prop:
            ran = run_propagating(e, st, self, srv, argv, out)
        else:
            ran = run_entry(e, st, self, srv, argv, out)
        if ran != RAN_C:
            slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
        sset(self, CS.lastcmd, e.fullname)
        slowlog_ns = account(e, now_ns() - t0, slowlog_ns, st, self, srv, argv)
        if ran != RAN_C:
            if sattr(srv, "slow") or truth(self, CS.slow):
                flush_counters()
                return py_exec_queued(self, queued[i + 1:])
            prop = sattr(srv, "propagating")
    flush_server_counters()


# one DbState serves a script's commands (they do not nest; a new one if they did)
cdef DbState script_state = None


cdef int run_in_python(object client, object cmd, list argv) except -1:
    """Client.execute for a script's command, with what C counted so far flushed (its
    handler may read it: the script's own command did not flush, Entry.script)."""
    flush_counters()
    client.execute(cmd, argv)
    return 0


cdef int run_for_script(object client, object cmd, list argv) except -1:
    """Client.execute_plain in C, for the compiled redis.call (bocho/_luabridge.pyx
    cimports it: `from bocho._fastpath cimport run_for_script`; declared in
    bocho/_fastpath.pxd): run `cmd` (the Command argv[0] resolved to, already checked
    against the script run) with `argv` on the script's client, its reply appended to
    the client's `out`. Returns 0, or -1 with a Python exception set (a bug of ours: a
    handler's own errors are replies). Callable at any time, also when install did not
    run (BOCHO_PURE) or the client is not a Client: it then calls the Python method.

    As the request loop runs a command while neither the client nor the server is slow
    and no client tracks keys (whose reads execute() would remember): GET/SET/INCR/
    EXPIRE... in C or the handler, propagation while writes propagate, the command's
    calls/usec (added to the Command when read: flush_counters), the slow log, CLIENT
    LIST's cmd=; else Client.execute."""
    global script_state
    if client_type is None:
        client.execute_plain(cmd, argv)
        return 0
    if not isinstance(client, client_type):
        return run_in_python(client, cmd, argv)
    srv = sget(client, CS.server)
    if sattr(srv, "slow") or truth(client, CS.slow):
        return run_in_python(client, cmd, argv)
    trk = sattr(srv, "tracking")
    if trk is not None and trk.clients:
        return run_in_python(client, cmd, argv)
    cdef Entry e = entry_for(cmd)
    if e.handler is None:
        return run_in_python(client, cmd, argv)
    cdef DbState st = script_state
    if st is None or st.busy:
        # (busy: nested, or left so by an exception of ours: a fresh one)
        st = DbState()
        script_state = st
    st.busy = True
    st.fresh = False  # Python code (the script's, other commands') ran since the last
    cdef int64_t t0 = now_ns()
    if sattr(srv, "propagating"):
        run_propagating(e, st, client, srv, argv, sget(client, CS.out))
    else:
        run_entry(e, st, client, srv, argv, sget(client, CS.out))
    cdef int64_t slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
    sset(client, CS.lastcmd, e.fullname)
    account(e, now_ns() - t0, slowlog_ns, st, client, srv, argv)
    st.busy = False
    st.data = None  # (the db's dicts are not kept alive by this)
    st.expires = None
    return 0


def execute_plain(self, cmd, list argv):
    """Client.execute_plain (a script's redis.call run from Python): run_for_script."""
    run_for_script(self, cmd, argv)


def apply_stream(self, bytearray buf, Py_ssize_t pos):
    """A replica's master client (replica.py MasterClient._apply): the plain commands of
    the master's stream from buf[pos] on, run as data_received runs a client's (GET/SET/
    INCR/MSET in C, the others' handlers, calls/usec and the slow log counted here),
    their replies dropped. It stops before anything that is not a complete plain
    request of a command that runs outside call() and may be queued in MULTI (MULTI,
    EXEC, REPLCONF GETACK, unknown names, keep-alive newlines: the Python path's), and
    after a command that replied with an error, blocked the client or made it or the
    server slow. Returns (position after the last command run, (argv, reply) of the
    command that replied with an error or None); the caller moves the offsets past those bytes.
    Only called while neither the client nor the server is slow and no MULTI is open."""
    global last_cmd, last_entry, memo_name, memo_found, memo_table_size
    srv = sget(self, CS.server)
    out = sget(self, CS.out)
    cdef const char *b = PyByteArray_AS_STRING(buf)
    cdef Py_ssize_t n = PyByteArray_GET_SIZE(buf), nxt = 0, mark
    cdef int64_t t0
    cdef int64_t slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
    cdef PyObject *found
    cdef Entry e = None
    cdef Entry last = None
    cdef int ran
    cdef DbState st = DbState()
    failed = None
    try:
        while pos < n and b[pos] == 42:
            argv = parse_request(b, pos, n, &nxt)
            if argv is None:
                break
            name = <object>PyList_GET_ITEM_0(argv)
            found = PyDict_GetItemWithError(TABLE, name)
            if found is NULL:
                break
            e = entry_of(found)
            if not e.in_stream or not arity_fits(e, PyList_GET_SIZE(argv)):
                break
            pos = nxt
            last = e
            mark = PyList_GET_SIZE(out)
            t0 = now_ns()
            ran = run_entry(e, st, self, srv, argv, out)
            if ran != RAN_C:
                slowlog_ns = threshold(sattr(srv, "slowlog_ns"))
            slowlog_ns = account(e, now_ns() - t0, slowlog_ns, st, self, srv, argv)
            if ran != RAN_C:
                if PyList_GET_SIZE(out) > mark:
                    r = out[mark]
                    if type(r) is bytes and PyBytes_GET_SIZE(r) and PyBytes_AS_STRING(r)[0] == 45:
                        failed = (argv, r)
                        break
                if (truth(self, CS.blocked) or truth(self, CS.closing)
                        or sattr(srv, "slow") or truth(self, CS.slow)):
                    break
                del out[:]
            elif PyList_GET_SIZE(out) >= 64:
                del out[:]
        if last is not None and not last.container:
            sset(self, CS.lastcmd, last.fullname)
    finally:
        flush_counters()
    return pos, failed
