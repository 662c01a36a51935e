# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The compiled hot paths of RDB files (optional, as _fastpath: BOCHO_PURE=1 or a missing
build leaves rdb.py's Python loops, which stay the reference for every byte).

save_keys(): the keyspace walk of rdb.save. A BGSAVE child that walks the keyspace in
Python writes the reference count of every key and value it reads, so every page of the
heap gets copied by the kernel (copy-on-write) and the child ends up as big as the
parent. Here the db's dicts are walked with PyDict_Next and the keys, values and expiry
times are only ever held as borrowed PyObject* (Cython emits no Py_INCREF/Py_DECREF on
a PyObject*), strings are read in place (bytes and bytearray buffers), so a string key
costs the child no page of its own. A value that is not a string goes to rdb.save_value
(the registered Python saver of its type), which touches that value's own objects only.
It writes exactly what rdb.save's per-key loop writes for a database without an LRU/LFU
clock: [EXPIRETIME_MS] type key value, strings as rdbio.put_str (an integer form for the
canonical text of a 32-bit integer, LZF when over 20 bytes and it saves at least 4, raw
otherwise). LZF is the lzf package's own C function, called through the address cffi
gives for it, so the compressed bytes are the ones rdbio.lzf_compress produces. Output
goes to a C buffer handed to the Writer (w.buf, w.flush(): the CRC stays the Writer's)
every FLUSH_AT bytes.

load_strings(): the run of plain string keys rdb.load meets ([EXPIRETIME_MS] type-0 key
value), stored straight into the db's dicts. It stops, before the record, at anything
else (another opcode or type, a key already present, a malformed or truncated record,
an LZF string of length 0) and rdb.load's Python loop reads that record, so every error
and every other case keeps its one implementation there."""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING as bytes_ptr, PyBytes_FromStringAndSize
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc, realloc
from libc.stdio cimport snprintf
from libc.string cimport memcpy

import lzf

from bocho.persistence import rdbio


cdef extern from "Python.h":
    int PyDict_SetItem(PyObject *d, object key, object value) except -1
    PyObject *PyDict_SetDefault(PyObject *d, object key, object value) except NULL
    # Borrowed-reference forms of the C API, declared with PyObject* so Cython neither
    # increments nor decrements anything it reads through them.
    int PyDict_Next(PyObject *d, Py_ssize_t *pos, PyObject **key, PyObject **value)
    PyObject *PyDict_GetItemWithError(PyObject *d, PyObject *key) except? NULL
    Py_ssize_t PyDict_GET_SIZE(PyObject *d)
    bint PyBytes_CheckExact(PyObject *o)
    bint PyByteArray_CheckExact(PyObject *o)
    char *PyBytes_AS_STRING(PyObject *o)
    Py_ssize_t PyBytes_GET_SIZE(PyObject *o)
    char *PyByteArray_AS_STRING_ "PyByteArray_AS_STRING" (PyObject *o)
    Py_ssize_t PyByteArray_GET_SIZE_ "PyByteArray_GET_SIZE" (PyObject *o)
    long long PyLong_AsLongLong(PyObject *o) except? -1


ctypedef unsigned int (*lzf_fn)(const void *, unsigned int, void *, unsigned int) noexcept nogil


cdef lzf_fn _lzf(name):
    return <lzf_fn><uintptr_t>int(lzf.ffi.cast("uintptr_t", lzf.ffi.addressof(lzf.lib, name)))


cdef lzf_fn _lzf_compress = _lzf("lzf_compress")
cdef lzf_fn _lzf_decompress = _lzf("lzf_decompress")

cdef Py_ssize_t FLUSH_AT = rdbio.Writer.FLUSH_AT
cdef int TYPE_STRING = rdbio.TYPE_STRING
cdef int OPCODE_EXPIRETIME_MS = rdbio.OPCODE_EXPIRETIME_MS


cdef class _Out:
    """A growable C buffer, handed to the Writer in chunks."""
    cdef char *p
    cdef Py_ssize_t n, cap
    cdef char *scratch  # LZF output
    cdef Py_ssize_t scap
    cdef object w

    def __cinit__(self, w):
        self.cap = FLUSH_AT * 2
        self.p = <char *>malloc(self.cap)
        self.scap = 0
        self.scratch = NULL
        self.n = 0
        self.w = w
        if self.p == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.p)
        free(self.scratch)

    cdef int room(self, Py_ssize_t k) except -1:
        cdef char *q
        cdef Py_ssize_t cap
        if self.n + k <= self.cap:
            return 0
        cap = self.cap
        while cap < self.n + k:
            cap *= 2
        q = <char *>realloc(self.p, cap)
        if q == NULL:
            raise MemoryError()
        self.p = q
        self.cap = cap
        return 0

    cdef int hand_over(self, bint flush) except -1:
        """Append the buffer to w.buf (and flush the Writer when asked)."""
        w = self.w
        if self.n:
            w.buf += PyBytes_FromStringAndSize(self.p, self.n)
            self.n = 0
        if flush:
            w.flush()
        return 0

    cdef inline void byte(self, int b):
        self.p[self.n] = <char>b
        self.n += 1

    cdef inline void length(self, unsigned long long v):
        """rdbSaveLen (the caller made room for 9 bytes)."""
        cdef uint8_t *q = <uint8_t *>(self.p + self.n)
        cdef int i
        if v < 64:
            q[0] = <uint8_t>v
            self.n += 1
        elif v < 16384:
            q[0] = <uint8_t>(0x40 | (v >> 8))
            q[1] = <uint8_t>(v & 0xFF)
            self.n += 2
        elif v <= 0xFFFFFFFF:
            q[0] = 0x80
            for i in range(4):
                q[1 + i] = <uint8_t>(v >> (8 * (3 - i)))
            self.n += 5
        else:
            q[0] = 0x81
            for i in range(8):
                q[1 + i] = <uint8_t>(v >> (8 * (7 - i)))
            self.n += 9

    cdef int string(self, const char *s, Py_ssize_t n, bint compress) except -1:
        """rdbio.put_str of the n bytes at s."""
        cdef long long v = 0
        cdef unsigned int c
        cdef Py_ssize_t maxout
        cdef char *q
        self.room(n + 20)
        if n <= 11:
            if canonical_int(s, n, &v):
                q = self.p + self.n
                if -128 <= v <= 127:
                    q[0] = <char>0xC0
                    q[1] = <char>(v & 0xFF)
                    self.n += 2
                    return 0
                if -32768 <= v <= 32767:
                    q[0] = <char>0xC1
                    q[1] = <char>(v & 0xFF)
                    q[2] = <char>((v >> 8) & 0xFF)
                    self.n += 3
                    return 0
                if -2147483648 <= v <= 2147483647:
                    q[0] = <char>0xC2
                    q[1] = <char>(v & 0xFF)
                    q[2] = <char>((v >> 8) & 0xFF)
                    q[3] = <char>((v >> 16) & 0xFF)
                    q[4] = <char>((v >> 24) & 0xFF)
                    self.n += 5
                    return 0
        elif compress and n > 20:
            maxout = n - 4
            if self.scap < maxout:
                free(self.scratch)
                self.scratch = <char *>malloc(maxout)
                if self.scratch == NULL:
                    self.scap = 0
                    raise MemoryError()
                self.scap = maxout
            with nogil:
                c = _lzf_compress(s, <unsigned int>n, self.scratch, <unsigned int>maxout)
            if c:
                self.byte(0xC3)
                self.length(c)
                self.length(n)
                memcpy(self.p + self.n, self.scratch, c)
                self.n += c
                return 0
        self.length(n)
        memcpy(self.p + self.n, s, n)
        self.n += n
        return 0


cdef inline bint canonical_int(const char *s, Py_ssize_t n, long long *out):
    """Whether s is the canonical decimal text of an integer (as `b"%d" % int(s) == s`
    decides, for n <= 11: an optional '-', no leading zero, no "-0"); its value."""
    cdef Py_ssize_t i = 0
    cdef long long v = 0
    cdef bint neg = False
    if n == 0:
        return False
    if s[0] == 45:
        neg = True
        i = 1
        if n == 1:
            return False
    if s[i] == 48 and (n - i > 1 or neg):
        return False
    while i < n:
        if s[i] < 48 or s[i] > 57:
            return False
        v = v * 10 + (s[i] - 48)
        i += 1
    out[0] = -v if neg else v
    return True


cdef inline int put_obj(_Out out, PyObject *o, bint compress) except -1:
    """A string key or value (bytes/bytearray read in place); 1 when o is neither."""
    if PyBytes_CheckExact(o):
        out.string(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), compress)
        return 0
    if PyByteArray_CheckExact(o):
        out.string(PyByteArray_AS_STRING_(o), PyByteArray_GET_SIZE_(o), compress)
        return 0
    return 1


def save_keys(w, dict data, dict expires, bint compress, save_value):
    """Every key of one database (data: key -> value, expires: key -> unix ms) in
    rdb.save's per-key form, appended to the Writer w; the number of keys written."""
    cdef _Out out = _Out(w)
    cdef PyObject *d = <PyObject *>data
    cdef PyObject *ex = <PyObject *>expires
    cdef bint has_ex = len(expires) > 0
    cdef Py_ssize_t pos = 0
    cdef PyObject *key
    cdef PyObject *value
    cdef PyObject *when
    cdef long long ms
    cdef int t, i
    cdef Py_ssize_t keys = 0, slot, m
    cdef bytearray tmp
    cdef Py_ssize_t size = PyDict_GET_SIZE(d)
    while PyDict_Next(d, &pos, &key, &value):
        if PyDict_GET_SIZE(d) != size:
            raise RuntimeError("dictionary changed size during iteration")
        out.room(32)
        if has_ex:
            when = PyDict_GetItemWithError(ex, key)
            if when != NULL:
                ms = PyLong_AsLongLong(when)
                out.byte(OPCODE_EXPIRETIME_MS)
                for i in range(8):
                    out.byte(<int>((<unsigned long long>ms >> (8 * i)) & 0xFF))
        slot = out.n
        out.byte(TYPE_STRING)
        if put_obj(out, key, compress):
            tmp = bytearray()
            rdbio.put_str(tmp, <object>key, compress)
            out.room(len(tmp))
            memcpy(out.p + out.n, PyByteArray_AS_STRING(tmp), len(tmp))
            out.n += len(tmp)
        if put_obj(out, value, compress):
            # not a string: the type's Python saver, into a buffer of its own
            tmp = bytearray()
            t = save_value(tmp, <object>value, compress)
            out.p[slot] = <char>t
            m = PyByteArray_GET_SIZE(tmp)
            out.room(m)
            memcpy(out.p + out.n, PyByteArray_AS_STRING(tmp), m)
            out.n += m
        keys += 1
        if out.n >= FLUSH_AT:
            out.hand_over(True)
    out.hand_over(False)
    return keys


# -- loading ---------------------------------------------------------------------------------

cdef int OPCODE_EXPIRETIME_MS_ = 252


cdef object read_string(const unsigned char *b, Py_ssize_t *pp, Py_ssize_t end):
    """rdbio.Reader.string at b[pp[0]:end], advancing pp; None where the Python reader
    would do anything but return a non-empty-LZF string (its errors included)."""
    cdef Py_ssize_t p = pp[0]
    cdef unsigned long long n
    cdef unsigned long long clen
    cdef int t, k, enc
    cdef long long v
    cdef char num[24]
    cdef object out
    if p >= end:
        return None
    t = b[p] >> 6
    if t == 3:
        enc = b[p] & 0x3F
        p += 1
        if enc == 0:
            if p + 1 > end:
                return None
            v = <signed char>b[p]
            p += 1
        elif enc == 1:
            if p + 2 > end:
                return None
            v = <short>(b[p] | (b[p + 1] << 8))
            p += 2
        elif enc == 2:
            if p + 4 > end:
                return None
            v = <int>(<unsigned int>b[p] | (<unsigned int>b[p + 1] << 8)
                      | (<unsigned int>b[p + 2] << 16) | (<unsigned int>b[p + 3] << 24))
            p += 4
        elif enc == 3:
            if not read_len(b, &p, end, &clen) or not read_len(b, &p, end, &n):
                return None
            if n == 0 or clen > <unsigned long long>(end - p) or n > 0x7FFFFFFF \
                    or clen > 0xFFFFFFFF:
                return None
            out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>n)
            if _lzf_decompress(b + p, <unsigned int>clen, bytes_ptr(out),
                               <unsigned int>n) != n:
                return None
            pp[0] = p + <Py_ssize_t>clen
            return out
        else:
            return None
        k = snprintf(num, sizeof(num), "%lld", v)
        pp[0] = p
        return PyBytes_FromStringAndSize(num, k)
    if not read_len(b, &p, end, &n) or n > <unsigned long long>(end - p):
        return None
    pp[0] = p + <Py_ssize_t>n
    return PyBytes_FromStringAndSize(<const char *>(b + p), <Py_ssize_t>n)


cdef inline bint read_len(const unsigned char *b, Py_ssize_t *pp, Py_ssize_t end,
                          unsigned long long *out):
    """A plain (not encoded) rdbLoadLen length at b[pp[0]]."""
    cdef Py_ssize_t p = pp[0]
    cdef unsigned long long v = 0
    cdef int t, i, k
    if p >= end:
        return False
    t = b[p] >> 6
    if t == 0:
        out[0] = b[p] & 0x3F
        pp[0] = p + 1
        return True
    if t == 1:
        if p + 2 > end:
            return False
        out[0] = ((b[p] & 0x3F) << 8) | b[p + 1]
        pp[0] = p + 2
        return True
    if b[p] == 0x80:
        k = 4
    elif b[p] == 0x81:
        k = 8
    else:
        return False
    if p + 1 + k > end:
        return False
    for i in range(k):
        v = (v << 8) | b[p + 1 + i]
    out[0] = v
    pp[0] = p + 1 + k
    return True


def load_strings(const unsigned char[::1] data, Py_ssize_t pos, Py_ssize_t end,
                 dict d, dict ex, long long now_ms, bint expire, Py_ssize_t limit):
    """Store the plain string records from data[pos:] (at most `limit`) into d (and
    their times into ex), dropping those already expired when `expire`, as rdb.load
    would. Returns (position of the first record not handled, stored, expired)."""
    cdef const unsigned char *b
    cdef Py_ssize_t p, q, loaded = 0, expired = 0
    cdef long long ms
    cdef int i
    cdef PyObject *dp = <PyObject *>d
    cdef PyObject *ep = <PyObject *>ex
    if end > data.shape[0]:
        end = data.shape[0]
    if pos >= end:
        return pos, 0, 0
    b = &data[0]
    while pos < end and loaded + expired < limit:
        p = pos
        ms = -1
        if b[p] == OPCODE_EXPIRETIME_MS_:
            if p + 9 > end:
                break
            ms = 0
            for i in range(8):
                ms |= (<long long>b[p + 1 + i]) << (8 * i)
            p += 9
        if p >= end or b[p] != TYPE_STRING:
            break
        q = p + 1
        key = read_string(b, &q, end)
        if key is None:
            break
        value = read_string(b, &q, end)
        if value is None:
            break
        if expire and ms != -1 and ms < now_ms:
            expired += 1
        else:
            if PyDict_SetDefault(dp, key, value) != <PyObject *>value:
                break  # a key already there: the Python loop's case
            if ms != -1:
                PyDict_SetItem(ep, key, PyLong_FromLongLong(ms))
            loaded += 1
        pos = q
    return pos, loaded, expired
