# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The compiled request loop (optional; BOCHO_PURE=1 or a missing build selects the
pure-Python path in network.py, which stays the reference for every behaviour).

`data_received` replaces Client.data_received. It frames the read's requests itself,
straight out of the bytes object uvloop hands over (no hiredis, no batch list), and runs
each one the way Client.process_input's loop does: one lookup in the command TABLE,
the arity test, the handler, the per-command statistics (calls, usec, slow log) with
one clock read per command. Only the common case is handled here: a read that starts a
new request ('*'), from an authenticated client whose reader holds nothing, with plain
`*N $len payload` requests. At the first request that is anything else (incomplete,
inline, a nested array, an odd or oversized length, a protocol error), or when a
command blocked the client, the rest of the read goes to Client.process_input, which
then owns it (errors, limits, hiredis state) exactly as if it had arrived alone.

`flush_pending` replaces Server.flush_pending (the write of every client's queued
replies once per event-loop iteration), with Client.flush inlined.

Handlers stay Python: the GET and SET handlers' common case (plain string value, no
expiry, no LRU/LFU, no keyspace events, no WATCH) is done here instead, and anything
else calls the Python handler."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Contains, PyDict_GetItem, PyDict_SetItem, PyDict_Size
from cpython.list cimport PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int64_t
from libc.string cimport memcmp, memcpy


cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec *ts)
    int CLOCK_MONOTONIC


cdef inline int64_t now_ns() noexcept nogil:
    # the clock of time.perf_counter_ns on Linux: the Python path's readings compare
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


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


# Requests larger than these are left to the Python path (which knows the configured
# limits: proto-max-bulk-len can't be set below 1 MB, and Redis's multibulk limit).
DEF BULK_FAST_MAX = 1024 * 1024
DEF MULTIBULK_MAX = 1024 * 1024

cdef dict TABLE = {}
cdef object py_process_input = None
cdef object failed_reply = None
cdef bytes OK = b"+OK\r\n"

# flags of bocho.commands
DEF F_WRITE = 1
DEF F_FAST = 1 << 11

# what an Entry's command is done with
DEF K_PYTHON = 0
DEF K_GET = 1
DEF K_SET = 2


def install(table, client_cls, server_cls, failed_reply_fn):
    """Take over Client.data_received and Server.flush_pending (network.py calls this
    once at import unless BOCHO_PURE is set)."""
    global TABLE, py_process_input, failed_reply
    TABLE = table
    py_process_input = client_cls.process_input
    failed_reply = failed_reply_fn
    client_cls.data_received = data_received
    server_cls.flush_pending = flush_pending


cdef class Entry:
    """What the loop needs of one Command, read once (a Command's handler, arity and
    flags do not change once the table is built), and its statistics not yet added to
    the Command (calls, usec; see Loop.flush_stats)."""
    cdef object cmd
    cdef object handler
    cdef object fullname
    cdef Py_ssize_t arity
    cdef int kind
    cdef bint defer  # a data command: its stats may wait for the end of the run
    cdef bint container
    cdef long long calls
    cdef long long usec


cdef dict ENTRIES = {}  # Command -> Entry


cdef Entry entry_for(object cmd):
    cdef Entry e = ENTRIES.get(cmd)
    if e is not None:
        return e
    from bocho.commands import strings
    e = Entry()
    e.cmd = cmd
    e.handler = cmd.handler
    e.fullname = cmd.fullname
    e.arity = cmd.arity
    e.container = cmd.subcommands is not None
    flags = cmd.flags
    # commands that may read the statistics (INFO, CONFIG RESETSTAT...) are neither
    e.defer = bool(flags & (F_WRITE | F_FAST)) and not e.container
    if e.handler is strings.get:
        e.kind = K_GET
    elif e.handler is strings.set_:
        e.kind = K_SET
    else:
        e.kind = K_PYTHON
    ENTRIES[cmd] = e
    return e


cdef object bulk_reply(object v):
    """$<len>\r\n<v>\r\n in one allocation."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(v)
    cdef char digits[24]
    cdef int nd = 0, i
    cdef Py_ssize_t x = n
    while True:
        digits[nd] = 48 + x % 10
        nd += 1
        x //= 10
        if x == 0:
            break
    r = PyBytes_FromStringAndSize(NULL, n + nd + 5)
    cdef char *p = PyBytes_AS_STRING(r)
    p[0] = 36
    for i in range(nd):
        p[1 + i] = digits[nd - 1 - i]
    p[nd + 1] = 13
    p[nd + 2] = 10
    memcpy(p + nd + 3, PyBytes_AS_STRING(v), n)
    p[n + nd + 3] = 13
    p[n + nd + 4] = 10
    return r


cdef class Loop:
    """One read's worth of state: what the GET/SET code needs from the client's
    database and the server, read once and read again only after Python code ran (a
    handler, call(), the slow log), and the counters it bumps (keyspace hits, dirty,
    the current command's calls/usec), added to the Python objects before any Python
    code runs and at the end of the read."""
    cdef object client
    cdef object srv
    cdef bint fresh  # the fields below are current
    cdef object data
    cdef object expires
    cdef bint plain  # no LRU/LFU clock on the db
    cdef bint watched
    cdef bint notify
    cdef long long slowlog_ns
    cdef long long hits
    cdef long long dirty
    cdef Entry pending  # whose calls/usec wait

    cdef int load(self) except -1:
        db = self.client.db
        self.data = db.data
        self.expires = db.expires
        self.plain = db.lru is None and type(self.data) is dict and type(self.expires) is dict
        self.watched = bool(db.watched)
        self.notify = bool(self.srv.notify_flags)
        self.fresh = True
        return 0

    cdef int flush_stats(self) except -1:
        """Before Python code runs (it may read them) and at the end of the read."""
        cdef Entry e = self.pending
        if e is not None:
            self.pending = None
            cmd = e.cmd
            cmd.calls += e.calls
            cmd.usec += e.usec
            e.calls = 0
            e.usec = 0
        if self.hits:
            self.srv.stat_keyspace_hits += self.hits
            self.hits = 0
        if self.dirty:
            self.srv.dirty += self.dirty
            self.dirty = 0
        return 0

    cdef object get(self, list argv):
        """GET of a plain bytes value on a key without TTL: the reply, or None for the
        Python handler (misses, TTLs, other types, LRU/LFU)."""
        if not self.plain:
            return None
        key = <object>PyList_GET_ITEM_1(argv)
        cdef PyObject *found = PyDict_GetItem(self.data, key)
        if found is NULL or type(<object>found) is not bytes:
            return None
        if PyDict_GET_SIZE_(self.expires) and PyDict_Contains(self.expires, key):
            return None
        self.hits += 1
        return bulk_reply(<object>found)

    cdef object set(self, list argv):
        """SET key value (no options), no keyspace events, TTL, LRU/LFU or WATCH in
        play: store and OK; else None for the Python handler."""
        if PyList_GET_SIZE(argv) != 3 or not self.plain or self.notify or self.watched:
            return None
        key = <object>PyList_GET_ITEM_1(argv)
        if PyDict_GET_SIZE_(self.expires) and PyDict_Contains(self.expires, key):
            return None
        PyDict_SetItem(self.data, key, <object>PyList_GET_ITEM_2(argv))
        self.dirty += 1
        return OK


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


def data_received(self, data):
    """Client.data_received: see the module docstring."""
    if self.closing:
        return
    srv = self.server
    if type(data) is not bytes:
        data = bytes(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef const char *buf = PyBytes_AS_STRING(data)
    if (n == 0 or buf[0] != 42 or self.inline_buf is not None or self.tail
            or not self.authenticated or self.blocked or self.pending_argv is not None
            or self.backlog is not None or self.reader.has_data()):
        py_process_input(self, data)
        return
    self.net_in += n
    self.last_io = srv.unixtime
    out = self.out
    cdef Loop lp = Loop()
    lp.client = self
    lp.srv = srv
    lp.slowlog_ns = srv.slowlog_ns
    cdef Py_ssize_t pos = 0, nxt = 0, nargs
    cdef int64_t t0, t1, d
    cdef PyObject *found
    cdef PyObject *prev_found = NULL
    cdef const char *prev_name = NULL
    cdef Py_ssize_t prev_len = -1
    cdef Entry e = None
    cdef Entry last = None
    cdef bint slow = srv.slow or self.slow
    cdef bint ran_python
    cmd = None
    self.current = True
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
            if (PyBytes_GET_SIZE(name) == prev_len and prev_found is not NULL
                    and memcmp(PyBytes_AS_STRING(name), prev_name, prev_len) == 0):
                found = prev_found
            else:
                found = PyDict_GetItem(TABLE, name)
                prev_found = found
                prev_len = PyBytes_GET_SIZE(name)
                prev_name = PyBytes_AS_STRING(name)
                prev_name_obj = name  # keeps prev_name's buffer alive
            e = None
            if found is not NULL and not slow:
                e = entry_for(<object>found)
                nargs = PyList_GET_SIZE(argv)
                if e.handler is None or not (nargs == e.arity or (e.arity < 0 and nargs >= -e.arity)):
                    e = None
            if e is None:
                cmd = <object>found if found is not NULL else None
                last = None
                lp.flush_stats()
                lp.fresh = False
                self.call(argv)
                slow = srv.slow or self.slow
                lp.slowlog_ns = srv.slowlog_ns
                if self.blocked or self.closing:
                    break
                continue
            cmd = e.cmd
            last = e
            if lp.pending is not e and lp.pending is not None:
                lp.flush_stats()
            r = None
            ran_python = True
            if e.kind == K_GET:
                if not lp.fresh:
                    lp.load()
                r = lp.get(argv)
                ran_python = r is None
            elif e.kind == K_SET:
                if not lp.fresh:
                    lp.load()
                r = lp.set(argv)
                ran_python = r is None
            if ran_python:
                if lp.hits or lp.dirty:
                    lp.flush_stats()
                lp.fresh = False
                try:
                    r = e.handler(self, argv)
                    if r is not None:
                        out.append(r)
                except Exception as exc:
                    r = None
                    out.append(failed_reply(srv, cmd, exc))
            else:
                out.append(r)
            t1 = now_ns()
            d = t1 - t0
            e.calls += 1
            e.usec += d
            lp.pending = e
            if not e.defer:
                lp.flush_stats()
            if ran_python:
                lp.slowlog_ns = srv.slowlog_ns
            if d > lp.slowlog_ns:
                lp.flush_stats()
                srv.slowlog_push(self, argv, d)
                lp.fresh = False
                lp.slowlog_ns = srv.slowlog_ns
            if ran_python:
                # only a handler that gave no reply can have blocked or closed the client
                if r is None and (self.blocked or self.closing):
                    break
                slow = srv.slow or self.slow
        # CLIENT LIST cmd=: the read's last command (call() records its own)
        if last is not None:
            if not last.container:
                self.lastcmd = last.fullname
        elif cmd is not None and cmd.subcommands is None:
            self.lastcmd = cmd.fullname
    finally:
        lp.flush_stats()
        self.current = False
    if self.closing:
        return
    if PyList_GET_SIZE(out):
        srv.pending_writes.add(self)
    if pos < n:
        # the rest is the Python path's, accounted there
        self.net_in -= n - pos
        py_process_input(self, data[pos:])
        return
    if not srv.flush_scheduled and srv.pending_writes:
        srv.flush_scheduled = True
        srv.loop.call_soon(srv.flush_pending)


def flush_pending(srv):
    """Server.flush_pending: each client's queued replies in one write (Client.flush)."""
    srv.flush_scheduled = False
    pending = srv.pending_writes
    while pending:
        c = pending.pop()
        out = c.out
        if not PyList_GET_SIZE(out) or c.closing:
            continue
        if PyList_GET_SIZE(out) == 1:
            data = out[0]
        else:
            data = b"".join(out)
        del out[:]
        c.net_out += len(data)
        if c.obuf_hard and c.over_hard_limit(len(data)):
            continue
        c._write(data)
        if srv.obuf_limits_on and (c.obuf_soft_since or c._wbuf_size()):
            c.check_output_limits()
