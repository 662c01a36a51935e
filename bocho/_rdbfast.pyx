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
goes to a C buffer written to the Writer's file every FLUSH_AT bytes (its CRC and
byte count kept in the Writer, as Writer.flush keeps them).

load_strings(): the run of plain string keys rdb.load meets ([EXPIRETIME_MS] type-0 key
value), stored straight into the db's dicts. It stops, before the record, at anything
else (another opcode or type, a key already present, a malformed or truncated record,
an LZF string of length 0) and rdb.load's Python loop reads that record, so every error
and every other case keeps its one implementation there."""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING as bytes_ptr, PyBytes_FromStringAndSize
from cpython.buffer cimport PyBUF_READ
from cpython.long cimport PyLong_FromLongLong
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.stdio cimport snprintf
from libc.string cimport memcmp, memcpy

import lzf

from bocho.persistence import rdbio
from bocho.persistence.rdbio import crc64


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
    Py_hash_t PyObject_Hash_ "PyObject_Hash" (PyObject *o) except? -1
    int _PySet_NextEntry(PyObject *s, Py_ssize_t *pos, PyObject **key, Py_ssize_t *hash)
    Py_ssize_t PySet_GET_SIZE(PyObject *s)
    Py_ssize_t PyList_GET_SIZE(PyObject *o)
    PyObject *PyList_GET_ITEM(PyObject *o, Py_ssize_t i)
    PyObject *PyTuple_GET_ITEM(PyObject *o, Py_ssize_t i)
    double PyFloat_AsDouble_ "PyFloat_AsDouble" (PyObject *o) except? -1.0
    bint PyFloat_CheckExact(PyObject *o)
    bint PyList_CheckExact(PyObject *o)
    bint PyTuple_CheckExact(PyObject *o)
    Py_ssize_t PyTuple_GET_SIZE(PyObject *o)
    PyObject *Py_TYPE_ "(PyObject *)Py_TYPE" (PyObject *o)
    PyObject *Py_None


cdef extern from *:
    """
    #include "structmember.h"

    /* The offset of a __slots__ entry `name` of class cls; -1 if it is not one. */
    static Py_ssize_t rdbfast_slot(PyObject *cls, PyObject *name) {
        PyObject *d = PyType_Check(cls) ? _PyType_Lookup((PyTypeObject *)cls, name) : NULL;
        if (d == NULL || Py_TYPE(d) != &PyMemberDescr_Type)
            return -1;
        return ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX
            ? ((PyMemberDescrObject *)d)->d_member->offset : -1;
    }
    #define RDBFAST_AT(o, off) (*(PyObject **)((char *)(o) + (off)))

    /* array.array's object, as Modules/arraymodule.c lays it out (checked at import
       against the buffer protocol: see _array_layout_ok). */
    struct rdbfast_arraydescr { char typecode; int itemsize; };
    typedef struct { PyObject_VAR_HEAD char *ob_item; Py_ssize_t allocated;
                     const struct rdbfast_arraydescr *ob_descr; } rdbfast_array;
    #define RDBFAST_ARRAY_ITEMS(o) (((rdbfast_array *)(o))->ob_item)
    #define RDBFAST_ARRAY_CODE(o) (((rdbfast_array *)(o))->ob_descr->typecode)
    #define RDBFAST_SIZE(o) Py_SIZE(o)

    /* collections.deque's blocks, as Modules/_collectionsmodule.c lays them out
       (checked at import against iteration: see _deque_layout_ok). */
    #define RDBFAST_BLOCKLEN 64
    typedef struct rdbfast_block { struct rdbfast_block *leftlink;
        PyObject *data[RDBFAST_BLOCKLEN]; struct rdbfast_block *rightlink; } rdbfast_block;
    typedef struct { PyObject_VAR_HEAD rdbfast_block *leftblock; rdbfast_block *rightblock;
                     Py_ssize_t leftindex; } rdbfast_deque;

    /* Borrowed pointers to the items of deque d, in order, into out[0..Py_SIZE(d)). */
    static void rdbfast_deque_items(PyObject *d, PyObject **out) {
        rdbfast_block *b = ((rdbfast_deque *)d)->leftblock;
        Py_ssize_t i = ((rdbfast_deque *)d)->leftindex, k, n = Py_SIZE(d);
        for (k = 0; k < n; k++) {
            out[k] = b->data[i];
            if (++i == RDBFAST_BLOCKLEN) {
                b = b->rightlink;
                i = 0;
            }
        }
    }
    """
    void rdbfast_deque_items(PyObject *d, PyObject **out)
    Py_ssize_t rdbfast_slot(object cls, object name)
    PyObject *RDBFAST_AT(PyObject *o, Py_ssize_t off)
    char *RDBFAST_ARRAY_ITEMS(PyObject *o)
    char RDBFAST_ARRAY_CODE(PyObject *o)
    Py_ssize_t RDBFAST_SIZE(PyObject *o)


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

    cdef int hand_over(self) except -1:
        """Write the buffer to the Writer's file, adding to its CRC and byte count, as
        Writer.flush does, but from this buffer: a forked child that allocated a fresh
        chunk per flush would land it in free holes of the parent's heap and copy those
        pages too (the caller flushed the Writer's own buffer first)."""
        w = self.w
        if self.n:
            view = PyMemoryView_FromMemory(self.p, self.n, PyBUF_READ)
            if w.checksum:
                w.crc = crc64(view, w.crc)
            w.f.write(view)
            w.written += self.n
            self.n = 0
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
            if as_int64(s, n, &v):
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


cdef inline bint as_int64(const char *s, Py_ssize_t n, long long *out):
    """Whether s is the canonical decimal text of a signed 64-bit integer (string2ll, as
    `b"%d" % int(s) == s` decides: an optional '-', no leading zero, no "-0"); its value."""
    cdef Py_ssize_t i = 0
    cdef unsigned long long v = 0
    cdef bint neg = False
    if n == 0 or n > 20:
        return False
    if s[0] == 45:
        neg = True
        i = 1
        if n == 1:
            return False
    if (s[i] == 48 and (n - i > 1 or neg)) or n - i > 19:
        return False
    while i < n:
        if s[i] < 48 or s[i] > 57:
            return False
        v = v * 10 + <unsigned long long>(s[i] - 48)
        i += 1
    if neg:
        if v > 9223372036854775808ULL:
            return False
        out[0] = <long long>(0ULL - v)
    elif v > 9223372036854775807ULL:
        return False
    else:
        out[0] = <long long>v
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


# -- containers (the bytes of rdb_types' savers) ------------------------------------------

cdef double LL_HALF = 4611686018427387904.0  # 2^62: double2ll's range
cdef double INF = float("inf")
cdef int TYPE_SET = rdbio.TYPE_SET
cdef int TYPE_HASH = rdbio.TYPE_HASH
cdef int TYPE_ZSET_2 = rdbio.TYPE_ZSET_2
cdef int TYPE_SET_INTSET = rdbio.TYPE_SET_INTSET
cdef int TYPE_HASH_LISTPACK = rdbio.TYPE_HASH_LISTPACK
cdef int TYPE_ZSET_LISTPACK = rdbio.TYPE_ZSET_LISTPACK
cdef int TYPE_LIST_QUICKLIST_2 = rdbio.TYPE_LIST_QUICKLIST_2


cdef bint _array_layout_ok():
    """Whether array.array objects are laid out as declared above (else the arrays go
    through the Python savers)."""
    from array import array
    a = array("d", [1.5, 2.5, 3.5])
    cdef double[::1] m = a
    return (<char *>&m[0] == RDBFAST_ARRAY_ITEMS(<PyObject *>a)
            and RDBFAST_SIZE(<PyObject *>a) == 3 and RDBFAST_ARRAY_CODE(<PyObject *>a) == b"d")


cdef bint ARRAYS_OK = _array_layout_ok()


cdef bint _deque_layout_ok():
    """Whether deques are laid out as declared above (else lists go to the Python saver):
    a walk of a few shifted deques must meet the very objects iteration meets."""
    from collections import deque
    cdef PyObject *got[400]
    cdef Py_ssize_t i
    for shift in (0, 1, 63, 64, 100):
        d = deque([object() for _ in range(200)])
        for _ in range(shift):
            d.appendleft(object())
        d.rotate(shift)
        want = list(d)
        rdbfast_deque_items(<PyObject *>d, got)
        for i in range(len(want)):
            if got[i] != <PyObject *>want[i]:
                return False
    return True


cdef bint DEQUES_OK = _deque_layout_ok()


def layouts_ok():
    """(arrays, deques): whether their C layouts were confirmed at import."""
    return ARRAYS_OK, DEQUES_OK


cdef class _Kinds:
    """The value classes save_keys encodes itself, with the slot offsets of ZSet."""
    cdef PyObject *hash
    cdef PyObject *lphash
    cdef PyObject *set_
    cdef PyObject *intset
    cdef PyObject *zset
    cdef PyObject *list_
    cdef Py_ssize_t zd, zx, zy, zo
    cdef object keep

    def __init__(self):
        from bocho.commands.hashes import Hash, LpHash
        from bocho.commands.sets import IntSet, Set
        from bocho.commands.lists import List
        from bocho.types.zset import ZSet
        self.keep = (Hash, LpHash, Set, IntSet, ZSet, List)
        self.list_ = <PyObject *>List
        self.hash = <PyObject *>Hash
        self.lphash = <PyObject *>LpHash
        self.set_ = <PyObject *>Set
        self.intset = <PyObject *>IntSet
        self.zset = <PyObject *>ZSet
        self.zd = rdbfast_slot(ZSet, "d")
        self.zx = rdbfast_slot(ZSet, "x")
        self.zy = rdbfast_slot(ZSet, "y")
        self.zo = rdbfast_slot(ZSet, "o")


cdef _Kinds KINDS = _Kinds()


def _containers_enabled():
    """Whether the registered savers are the ones this module writes the bytes of
    (rdb_types' save_hash, save_lphash, save_set, save_intset, save_zset, and save_list
    where deques can be walked)."""
    from bocho.persistence import rdb, rdb_types
    k = KINDS.keep if DEQUES_OK else KINDS.keep[:5]
    names = ("save_hash", "save_lphash", "save_set", "save_intset", "save_zset", "save_list")
    return ARRAYS_OK and min(KINDS.zd, KINDS.zx, KINDS.zy, KINDS.zo) >= 0 and all(
        getattr(rdb_types, n, None) is not None and rdb.SAVERS.get(c) is getattr(rdb_types, n)
        for c, n in zip(k, names))


cdef inline void lp_backlen(_Out o, Py_ssize_t n):
    """listpack's backlen of an entry of n bytes (room made by the caller)."""
    if n <= 127:
        o.byte(<int>n)
    elif n < 16383:
        o.byte(<int>(n >> 7))
        o.byte(<int>((n & 127) | 128))
    elif n < 2097151:
        o.byte(<int>(n >> 14))
        o.byte(<int>(((n >> 7) & 127) | 128))
        o.byte(<int>((n & 127) | 128))
    elif n < 268435455:
        o.byte(<int>(n >> 21))
        o.byte(<int>(((n >> 14) & 127) | 128))
        o.byte(<int>(((n >> 7) & 127) | 128))
        o.byte(<int>((n & 127) | 128))
    else:
        o.byte(<int>((n >> 28) & 0xFF))
        o.byte(<int>(((n >> 21) & 127) | 128))
        o.byte(<int>(((n >> 14) & 127) | 128))
        o.byte(<int>(((n >> 7) & 127) | 128))
        o.byte(<int>((n & 127) | 128))


cdef inline void le(_Out o, unsigned long long v, int k):
    cdef int i
    for i in range(k):
        o.byte(<int>((v >> (8 * i)) & 0xFF))


cdef int lp_int(_Out o, long long v) except -1:
    """listpack.encode_int."""
    cdef unsigned long long u
    o.room(12)
    if 0 <= v <= 127:
        o.byte(<int>v)
        o.byte(1)
    elif -4096 <= v <= 4095:
        u = <unsigned long long>v & 0x1FFF
        o.byte(<int>(0xC0 | (u >> 8)))
        o.byte(<int>(u & 0xFF))
        o.byte(2)
    elif -32768 <= v <= 32767:
        o.byte(0xF1)
        le(o, <unsigned long long>v, 2)
        o.byte(3)
    elif -8388608 <= v <= 8388607:
        o.byte(0xF2)
        le(o, <unsigned long long>v, 3)
        o.byte(4)
    elif -2147483648 <= v <= 2147483647:
        o.byte(0xF3)
        le(o, <unsigned long long>v, 4)
        o.byte(5)
    else:
        o.byte(0xF4)
        le(o, <unsigned long long>v, 8)
        o.byte(9)
    return 0


cdef int lp_str(_Out o, const char *s, Py_ssize_t n) except -1:
    """listpack.encode_str."""
    cdef int h
    o.room(n + 12)
    if n < 64:
        o.byte(<int>(0x80 | n))
        h = 1
    elif n < 4096:
        o.byte(<int>(0xE0 | (n >> 8)))
        o.byte(<int>(n & 0xFF))
        h = 2
    else:
        o.byte(0xF0)
        le(o, <unsigned long long>n, 4)
        h = 5
    memcpy(o.p + o.n, s, n)
    o.n += n
    lp_backlen(o, h + n)
    return 0


cdef inline int lp_elem(_Out o, const char *s, Py_ssize_t n) except -1:
    """listpack.encode: an integer entry for the canonical text of an int64."""
    cdef long long v
    if n <= 20 and as_int64(s, n, &v):
        return lp_int(o, v)
    return lp_str(o, s, n)


cdef inline void lp_begin(_Out o):
    o.n = 6


cdef inline void lp_end(_Out o, Py_ssize_t count):
    """The listpack's end byte and header (total bytes, element count)."""
    cdef Py_ssize_t total
    o.byte(0xFF)
    total = o.n
    o.n = 0
    le(o, <unsigned long long>total, 4)
    le(o, <unsigned long long>(count if count < 65535 else 65535), 2)
    o.n = total


cdef int put_lphash(_Out out, _Out lp, _Out tmp, PyObject *h, bint compress) except -1:
    """rdb_types.save_lphash: the LpHash's fields and values (separators FS/VS, 0xFF
    escaped as FF 00) as a listpack."""
    cdef const unsigned char *b = <const unsigned char *>PyByteArray_AS_STRING_(h)
    cdef Py_ssize_t m = PyByteArray_GET_SIZE_(h)
    cdef Py_ssize_t p = 0, q, count = 0
    cdef bint escaped
    lp.room(7)
    lp_begin(lp)
    while p < m:
        if p + 1 >= m or b[p] != 0xFF or (b[p + 1] != 1 and b[p + 1] != 2):
            raise ValueError("malformed LpHash")
        p += 2
        q = p
        escaped = False
        while q < m and not (b[q] == 0xFF and q + 1 < m and b[q + 1] != 0):
            if b[q] == 0xFF:
                escaped = True
                q += 1
            q += 1
        if escaped:
            tmp.n = 0
            tmp.room(q - p)
            while p < q:
                tmp.p[tmp.n] = <char>b[p]
                tmp.n += 1
                p += 2 if b[p] == 0xFF else 1
            lp_elem(lp, tmp.p, tmp.n)
        else:
            lp_elem(lp, <const char *>(b + p), q - p)
        p = q
        count += 1
    lp.room(1)
    lp_end(lp, count)
    return out.string(lp.p, lp.n, compress)


cdef int put_intset(_Out out, _Out blob, PyObject *a, bint compress) except -1:
    """rdb_types.save_intset: intset bytes (width, count, values) of the sorted array."""
    cdef const long long *v = <const long long *>RDBFAST_ARRAY_ITEMS(a)
    cdef Py_ssize_t n = RDBFAST_SIZE(a), i
    cdef int w = 2
    if RDBFAST_ARRAY_CODE(a) != b"q":
        raise TypeError("IntSet of typecode other than q")
    if n:
        if not (-32768 <= v[0] and v[n - 1] <= 32767):
            w = 4 if -2147483648 <= v[0] and v[n - 1] <= 2147483647 else 8
    blob.n = 0
    blob.room(8 + w * n)
    le(blob, <unsigned long long>w, 4)
    le(blob, <unsigned long long>n, 4)
    for i in range(n):
        le(blob, <unsigned long long>v[i], w)
    return out.string(blob.p, blob.n, compress)


cdef int put_score_entry(_Out lp, double d) except -1:
    """rdb_types.score_entry: an integer entry for an integral score within 2^62, else
    the text d2string makes ("%.17g", inf, -inf)."""
    cdef char num[40]
    cdef int k
    if -LL_HALF <= d <= LL_HALF and d == <double>(<long long>d):
        return lp_int(lp, <long long>d)
    if d == INF:
        return lp_str(lp, "inf", 3)
    if d == -INF:
        return lp_str(lp, "-inf", 4)
    k = snprintf(num, sizeof(num), "%.17g", d)
    return lp_str(lp, num, k)


cdef int put_zset(_Out out, _Out lp, PyObject *z, bint compress) except -1:
    """rdb_types.save_zset: a listpack of member, score (listpack encoding), or the
    members from the highest score down with binary scores (skiplist)."""
    cdef PyObject *d = RDBFAST_AT(z, KINDS.zd)
    cdef PyObject *x = RDBFAST_AT(z, KINDS.zx)
    cdef PyObject *y
    cdef PyObject *o
    cdef const char *mb
    cdef const unsigned int *offs = NULL
    cdef const unsigned char *offs8 = NULL
    cdef Py_ssize_t a, b
    cdef const double *sc
    cdef Py_ssize_t n, i, j
    cdef PyObject *inner
    cdef PyObject *pair
    cdef double score
    if d == Py_None:
        y = RDBFAST_AT(z, KINDS.zy)
        o = RDBFAST_AT(z, KINDS.zo)
        # the offsets are bytes (one each) or an array of uint32 (ZSet's layout)
        if PyBytes_CheckExact(o):
            offs8 = <const unsigned char *>PyBytes_AS_STRING(o)
        elif RDBFAST_ARRAY_CODE(o) == b"I":
            offs = <const unsigned int *>RDBFAST_ARRAY_ITEMS(o)
        else:
            raise TypeError("unexpected ZSet listpack layout")
        if not PyBytes_CheckExact(x) or RDBFAST_ARRAY_CODE(y) != b"d":
            raise TypeError("unexpected ZSet listpack layout")
        mb = PyBytes_AS_STRING(x)
        sc = <const double *>RDBFAST_ARRAY_ITEMS(y)
        n = RDBFAST_SIZE(y)
        lp.room(7)
        lp_begin(lp)
        for i in range(n):
            if offs8 != NULL:
                a = offs8[i]
                b = offs8[i + 1]
            else:
                a = offs[i]
                b = offs[i + 1]
            lp_elem(lp, mb + a, b - a)
            put_score_entry(lp, sc[i])
        lp.room(1)
        lp_end(lp, 2 * n)
        out.string(lp.p, lp.n, compress)
        return TYPE_ZSET_LISTPACK
    out.room(9)
    out.length(<unsigned long long>PyDict_GET_SIZE(d))
    lists = (<object>x)._lists  # the SortedList's own lists (one reference taken)
    i = PyList_GET_SIZE(<PyObject *>lists)
    while i > 0:
        i -= 1
        inner = PyList_GET_ITEM(<PyObject *>lists, i)
        j = PyList_GET_SIZE(inner)
        while j > 0:
            j -= 1
            pair = PyList_GET_ITEM(inner, j)
            if not PyTuple_CheckExact(pair) or PyTuple_GET_SIZE(pair) != 2:
                raise TypeError("unexpected ZSet skiplist entry")
            if put_obj(out, PyTuple_GET_ITEM(pair, 1), compress):
                raise TypeError("ZSet member is not a string")
            score = PyFloat_AsDouble_(PyTuple_GET_ITEM(pair, 0))
            out.room(8)
            memcpy(out.p + out.n, &score, 8)
            out.n += 8
    return TYPE_ZSET_2


cdef int put_list(_Out out, _Out lp, _Out encs, PyObject *v, bint compress,
                  long fill, long long threshold) except -1:
    """rdb_types.save_list: the quicklist nodes an RPUSH of the elements would make
    (rdb_types.list_nodes), each a packed listpack or a plain element."""
    cdef Py_ssize_t n = RDBFAST_SIZE(v), i, k, start, ln, size, new_size, total, nn = 0
    cdef PyObject **items = <PyObject **>malloc((n + 1) * sizeof(PyObject *))
    cdef Py_ssize_t *ends = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
    # nodes: (first element, end element, plain) triples
    cdef Py_ssize_t *nodes = <Py_ssize_t *>malloc((3 * n + 3) * sizeof(Py_ssize_t))
    cdef Py_ssize_t level = 0
    cdef bint fits, have = False
    try:
        if items == NULL or ends == NULL or nodes == NULL:
            raise MemoryError()
        rdbfast_deque_items(v, items)
        encs.n = 0
        ends[0] = 0
        for i in range(n):
            if PyBytes_CheckExact(items[i]):
                lp_elem(encs, PyBytes_AS_STRING(items[i]), PyBytes_GET_SIZE(items[i]))
            elif PyByteArray_CheckExact(items[i]):
                lp_elem(encs, PyByteArray_AS_STRING_(items[i]), PyByteArray_GET_SIZE_(items[i]))
            else:
                raise TypeError("list element is not a string")
            ends[i + 1] = encs.n
        if -5 <= fill < 0:
            level = 4096 << (-fill - 1)  # rdb_types.NODE_SIZE_LEVELS
        if level and threshold > level and 7 + encs.n + 8 <= level:
            nodes[0], nodes[1], nodes[2] = 0, n, 0
            nn = 1
        else:
            start = 0
            size = 0
            for i in range(n):
                ln = (PyBytes_GET_SIZE(items[i]) if PyBytes_CheckExact(items[i])
                      else PyByteArray_GET_SIZE_(items[i]))
                if ln >= threshold:
                    if have:
                        nodes[3 * nn], nodes[3 * nn + 1], nodes[3 * nn + 2] = start, i, 0
                        nn += 1
                    have = False
                    nodes[3 * nn], nodes[3 * nn + 1], nodes[3 * nn + 2] = i, i + 1, 1
                    nn += 1
                    continue
                if have:
                    new_size = size + ln + 8
                    if level:
                        fits = new_size <= level
                    else:
                        fits = new_size <= 8192 and i - start < fill
                    if fits:
                        size += ends[i + 1] - ends[i]
                        continue
                    nodes[3 * nn], nodes[3 * nn + 1], nodes[3 * nn + 2] = start, i, 0
                    nn += 1
                have = True
                start = i
                size = 7 + ends[i + 1] - ends[i]
            if have:
                nodes[3 * nn], nodes[3 * nn + 1], nodes[3 * nn + 2] = start, n, 0
                nn += 1
        out.room(9)
        out.length(<unsigned long long>nn)
        for k in range(nn):
            start = nodes[3 * k]
            i = nodes[3 * k + 1]
            out.room(1)
            if nodes[3 * k + 2]:
                out.byte(1)  # QUICKLIST_NODE_PLAIN: the element itself
                put_obj(out, items[start], compress)
                continue
            out.byte(2)  # QUICKLIST_NODE_PACKED
            total = ends[i] - ends[start]
            lp.n = 0
            lp.room(total + 7)
            lp_begin(lp)
            memcpy(lp.p + lp.n, encs.p + ends[start], total)
            lp.n += total
            lp_end(lp, i - start)
            out.string(lp.p, lp.n, compress)
    finally:
        free(items)
        free(ends)
        free(nodes)
    return 0


cdef int put_container(_Out out, _Out lp, _Out tmp, PyObject *v, bint compress,
                       long fill, long long threshold) except -2:
    """The RDB type byte after writing v, or -1 when v is not one of the KINDS."""
    cdef PyObject *t = Py_TYPE_(v)
    cdef Py_ssize_t pos = 0
    cdef PyObject *a
    cdef PyObject *b
    cdef Py_ssize_t hsh
    if t == KINDS.lphash:
        put_lphash(out, lp, tmp, v, compress)
        return TYPE_HASH_LISTPACK
    if t == KINDS.zset:
        return put_zset(out, lp, v, compress)
    if t == KINDS.intset:
        put_intset(out, lp, v, compress)
        return TYPE_SET_INTSET
    if t == KINDS.hash:
        out.room(9)
        out.length(<unsigned long long>PyDict_GET_SIZE(v))
        while PyDict_Next(v, &pos, &a, &b):
            if put_obj(out, a, compress) or put_obj(out, b, compress):
                raise TypeError("Hash field or value is not a string")
        return TYPE_HASH
    if t == KINDS.list_ and DEQUES_OK:
        put_list(out, lp, tmp, v, compress, fill, threshold)
        return TYPE_LIST_QUICKLIST_2
    if t == KINDS.set_:
        out.room(9)
        out.length(<unsigned long long>PySet_GET_SIZE(v))
        while _PySet_NextEntry(v, &pos, &a, &hsh):
            if put_obj(out, a, compress):
                raise TypeError("Set member is not a string")
        return TYPE_SET
    return -1


cdef struct _Ent:
    Py_hash_t h
    PyObject *k
    long long ms


cdef class _Expiry:
    """The expires dict as a table of its own, looked up by content. A dict lookup of a
    key that is equal but not identical to the stored one (the usual case: a TTL set by
    a later command holds that command's key object) takes a reference to the stored
    key while comparing, which would copy the page of every such key into a child."""
    cdef _Ent *t
    cdef Py_ssize_t mask
    cdef bint exact  # every key is a bytes object (else: dict lookups)
    cdef dict ex

    def __cinit__(self, dict ex):
        cdef Py_ssize_t cap = 8, pos = 0, i
        cdef PyObject *k
        cdef PyObject *v
        cdef Py_hash_t h
        self.ex = ex
        self.exact = True
        while cap < 2 * len(ex):
            cap <<= 1
        self.t = <_Ent *>calloc(cap, sizeof(_Ent))
        if self.t == NULL:
            raise MemoryError()
        self.mask = cap - 1
        while PyDict_Next(<PyObject *>ex, &pos, &k, &v):
            if not PyBytes_CheckExact(k):
                self.exact = False
                return
            h = PyObject_Hash_(k)
            i = h & self.mask
            while self.t[i].k != NULL:
                i = (i + 1) & self.mask
            self.t[i].h = h
            self.t[i].k = k
            self.t[i].ms = PyLong_AsLongLong(v)

    def __dealloc__(self):
        free(self.t)

    cdef bint find(self, PyObject *key, long long *ms) except -1:
        cdef Py_hash_t h
        cdef Py_ssize_t i, n
        cdef PyObject *when
        if not self.exact or not PyBytes_CheckExact(key):
            when = PyDict_GetItemWithError(<PyObject *>self.ex, key)
            if when == NULL:
                return False
            ms[0] = PyLong_AsLongLong(when)
            return True
        h = PyObject_Hash_(key)
        n = PyBytes_GET_SIZE(key)
        i = h & self.mask
        while self.t[i].k != NULL:
            if self.t[i].h == h and (self.t[i].k == key or (
                    PyBytes_GET_SIZE(self.t[i].k) == n
                    and memcmp(PyBytes_AS_STRING(self.t[i].k), PyBytes_AS_STRING(key), n) == 0)):
                ms[0] = self.t[i].ms
                return True
            i = (i + 1) & self.mask
        return False


def save_keys(w, dict data, dict expires, bint compress, save_value, progress=None,
              Py_ssize_t every=1024, Py_ssize_t done=0):
    """Every key of one database (data: key -> value, expires: key -> unix ms) in
    rdb.save's per-key form, appended to the Writer w; the number of keys written.
    progress(keys) is called as rdb.save calls it: whenever the count of keys written
    by the whole save (`done` before this database) reaches a multiple of `every`."""
    cdef _Out out = _Out(w)
    cdef _Out lp = _Out(None)
    cdef _Out esc = _Out(None)
    cdef bint containers = _containers_enabled()
    cdef long fill = 0
    cdef long long threshold = 0
    if containers:
        from bocho.persistence import rdb_types
        fill, threshold = rdb_types.LIST_OPTS
    w.flush()  # what precedes the keys, before they are written from out
    cdef PyObject *d = <PyObject *>data
    cdef bint has_ex = len(expires) > 0
    cdef _Expiry expiry = _Expiry(expires if has_ex else {})
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
            if expiry.find(key, &ms):
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
            t = put_container(out, lp, esc, value, compress, fill, threshold) \
                if containers else -1
            if t < 0:
                # neither a string nor a container done here: the type's Python saver
                tmp = bytearray()
                t = save_value(tmp, <object>value, compress)
                m = PyByteArray_GET_SIZE(tmp)
                out.room(m)
                memcpy(out.p + out.n, PyByteArray_AS_STRING(tmp), m)
                out.n += m
            out.p[slot] = <char>t
        keys += 1
        if out.n >= FLUSH_AT:
            out.hand_over()
        if progress is not None and (done + keys) % every == 0:
            progress(done + keys)
    out.hand_over()
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


cdef object _UINT7 = [b"%d" % i for i in range(128)]


def lp_text_of(py_lp_text):
    """rdb_types.lp_text with the common (not deep) case in C, the deep one left to
    py_lp_text."""
    def lp_text(buf, deep=False):
        if deep or not PyBytes_CheckExact(<PyObject *>buf):
            return py_lp_text(buf, deep)
        return _lp_text(buf)
    lp_text.python = py_lp_text
    return lp_text


def string_of(py_string):
    """Reader.string with the common case in C: a bytes input and a well-formed string.
    Anything else (other inputs, errors, an LZF string of length 0) goes to py_string,
    so errors keep their one implementation."""
    def string(self):
        cdef Py_ssize_t p, end
        cdef object data = self.data
        cdef object v
        if not PyBytes_CheckExact(<PyObject *>data):
            return py_string(self)
        p = self.pos
        end = self.end
        if end > PyBytes_GET_SIZE(<PyObject *>data) or p < 0:
            return py_string(self)
        v = read_string(<const unsigned char *>PyBytes_AS_STRING(<PyObject *>data), &p, end)
        if v is None:
            return py_string(self)
        self.pos = p
        return v
    string.python = py_string
    return string


cdef list _lp_text(const unsigned char[::1] buf):
    """rdb_types.lp_text without the deep checks: the elements of a listpack as text
    (integers written out), ValueError where it raises one (a bad header, an unknown
    entry encoding, entries that do not end exactly at the end byte)."""
    cdef Py_ssize_t size = buf.shape[0], p = 6, q, end, ln, k
    cdef const unsigned char *b
    cdef unsigned int c
    cdef long long v
    cdef unsigned long long u
    cdef char num[24]
    cdef list out = []
    if size < 7:
        raise ValueError("bad listpack header")
    b = &buf[0]
    if b[size - 1] != 255 or (<Py_ssize_t>b[0] | (<Py_ssize_t>b[1] << 8) | (<Py_ssize_t>b[2] << 16)
                              | (<Py_ssize_t>b[3] << 24)) != size:
        raise ValueError("bad listpack header")
    end = size - 1
    while p < end:
        c = b[p]
        if c < 0x80:
            out.append(_UINT7[c])
            p += 2
            continue
        if c < 0xC0:
            q = p + 1 + (c & 0x3F)
            out.append(PyBytes_FromStringAndSize(<const char *>(b + p + 1),
                                                 (q if q < size else size) - p - 1))
            p = q + 1
            continue
        if c < 0xE0:
            v = <long long>((((c & 0x1F) << 8) | b[p + 1]) ^ 4096) - 4096
            q = p + 2
        elif c < 0xF0:
            q = p + 2 + (((c & 0x0F) << 8) | b[p + 1])
            out.append(PyBytes_FromStringAndSize(<const char *>(b + p + 2),
                                                 (q if q < size else size) - p - 2))
        elif c == 0xF0:
            u = 0
            for k in range(4):
                if p + 1 + k < size:
                    u |= <unsigned long long>b[p + 1 + k] << (8 * k)
            if u > <unsigned long long>size:
                raise ValueError("listpack entries overflow")
            q = p + 5 + <Py_ssize_t>u
            out.append(PyBytes_FromStringAndSize(<const char *>(b + p + 5),
                                                 (q if q < size else size) - p - 5
                                                 if p + 5 < size else 0))
        elif c <= 0xF4:
            k = (2, 3, 4, 8)[c - 0xF1]
            q = p + 1 + k
            if q > size:
                raise ValueError("listpack entries overflow")
            u = 0
            for i in range(k):
                u |= <unsigned long long>b[p + 1 + i] << (8 * i)
            if k < 8 and u >> (8 * k - 1):  # sign-extend
                u |= ~0ULL << (8 * k)
            v = <long long>u
        else:
            raise ValueError("bad listpack entry encoding")
        if c < 0xE0 or c > 0xF0:
            out.append(PyBytes_FromStringAndSize(num, snprintf(num, sizeof(num), "%lld", v)))
        ln = q - p
        p = q + (1 if ln <= 127 else 2 if ln < 16383 else 3 if ln < 2097151 else
                 4 if ln < 268435455 else 5)
    if p != end:
        raise ValueError("listpack entries overflow")
    return out
