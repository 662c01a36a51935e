# The C entries of bocho/_fastpath.pyx other compiled modules cimport (see each one's
# docstring there).

cdef int run_for_script(object client, object cmd, list argv) except -1
