# cython: language_level=3
"""Small integers as text, both ways, and RESP bulk strings, for the compiled modules
(_fastpath and _luabridge cimport them: one copy of each rule)."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy


cdef inline int _digits(unsigned long long x, char *tmp) noexcept:
    """The decimal digits of x into tmp, least significant first; how many."""
    cdef int nd = 0
    while True:
        tmp[nd] = 48 + x % 10
        nd += 1
        x //= 10
        if x == 0:
            return nd


cdef inline object decimal(long long v, bint reply):
    """The decimal of v as bytes; as a RESP integer (":v\r\n") if reply."""
    cdef char tmp[24]
    cdef char out[32]
    cdef int k = 0, i
    cdef int nd = _digits(<unsigned long long>(-v) if v < 0 else <unsigned long long>v, tmp)
    if reply:
        out[k] = 58
        k += 1
    if v < 0:
        out[k] = 45
        k += 1
    for i in range(nd):
        out[k] = tmp[nd - 1 - i]
        k += 1
    if reply:
        out[k] = 13
        out[k + 1] = 10
        k += 2
    return PyBytes_FromStringAndSize(out, k)


cdef inline bint small_int(const char *p, Py_ssize_t n, Py_ssize_t max_digits,
                           long long *out) noexcept:
    """p[:n] in string2ll's form (no leading zero but "0", no "-0", ASCII digits) with at
    most max_digits digits (<= 18: no overflow possible): its value in *out."""
    cdef Py_ssize_t i = 0
    cdef bint neg = False
    cdef long long v = 0
    if n and p[0] == 45:
        neg = True
        i = 1
    if n - i < 1 or n - i > max_digits or (p[i] == 48 and (n - i > 1 or neg)):
        return False
    while i < n:
        if p[i] < 48 or p[i] > 57:
            return False
        v = v * 10 + (p[i] - 48)
        i += 1
    out[0] = -v if neg else v
    return True


cdef inline object bulk(const char *s, Py_ssize_t n):
    """s[:n] as a RESP bulk string ($<n>\r\n<s>\r\n), in one allocation."""
    cdef char digits[24]
    cdef int i
    cdef int nd = _digits(<unsigned long long>n, digits)
    r = PyBytes_FromStringAndSize(NULL, n + nd + 5)
    cdef char *p = PyBytes_AS_STRING(r)
    p[0] = 36
    for i in range(nd):
        p[1 + i] = digits[nd - 1 - i]
    p[nd + 1] = 13
    p[nd + 2] = 10
    memcpy(p + nd + 3, s, n)
    p[n + nd + 3] = 13
    p[n + nd + 4] = 10
    return r
