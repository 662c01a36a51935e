# cython: language_level=3
"""Reading and writing the __slots__ of bocho's Python classes (Client, RunCtx...)
from the compiled modules at C speed: a slot is a PyObject * at a fixed offset in the
object, which the class's member descriptor gives once (offset())."""

from cpython.ref cimport Py_INCREF, PyObject


cdef extern from *:
    """
    #include "structmember.h"

    /* The offset of an object slot (a __slots__ entry) of a class, -1 if `name` is not
       a plain writable object slot there. */
    static Py_ssize_t bocho_slot_offset(PyObject *cls, PyObject *name) {
        PyObject *d;
        PyMemberDef *m;
        if (!PyType_Check(cls))
            return -1;
        d = _PyType_Lookup((PyTypeObject *)cls, name);
        if (d == NULL || Py_TYPE(d) != &PyMemberDescr_Type)
            return -1;
        m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY))
            return -1;
        return m->offset;
    }
    #define BOCHO_SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))
    """
    Py_ssize_t bocho_slot_offset(object cls, object name)
    PyObject *BOCHO_SLOT(object o, Py_ssize_t off)
    void Py_XDECREF(PyObject *o)


cdef inline object sget(object o, Py_ssize_t off):
    """The object in a slot (AttributeError if unset, as Python)."""
    cdef PyObject *v = BOCHO_SLOT(o, off)
    if v is NULL:
        raise AttributeError("slot at offset %d of %s is not set" % (off, type(o).__name__))
    return <object>v


cdef inline void sset(object o, Py_ssize_t off, object v) noexcept:
    cdef PyObject *old = BOCHO_SLOT(o, off)
    Py_INCREF(v)
    (<PyObject **>(<char *><PyObject *>o + off))[0] = <PyObject *>v
    Py_XDECREF(old)


cdef inline Py_ssize_t offset(object cls, str name) except -2:
    cdef Py_ssize_t off = bocho_slot_offset(cls, name)
    if off < 0:
        raise LookupError(f"{cls.__name__}.{name} is not an object slot")
    return off
