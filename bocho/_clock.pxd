# cython: language_level=3
"""bocho/clock.py's clocks for the compiled modules: the same system clocks its
time.monotonic_ns and time.time_ns read (CLOCK_MONOTONIC, CLOCK_REALTIME on Linux), so
readings taken in C and in Python compare."""

from libc.stdint cimport int64_t


cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec *ts)
    int CLOCK_MONOTONIC
    int CLOCK_REALTIME


cdef inline int64_t now_ns() noexcept nogil:
    """clock.monotonic_ns (also time.perf_counter_ns's clock on Linux)."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline long long wall_ms() noexcept nogil:
    """clock.mstime: the time TTLs are written in."""
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <long long>ts.tv_sec * 1000 + ts.tv_nsec // 1000000
