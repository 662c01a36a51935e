"""The one clock: wall time for expiry (absolute unix ms, as PEXPIREAT uses) and a
monotonic clock for timeouts and durations. Everything asks here, never `time` directly,
so that tests of pure logic can substitute a fake."""

import time

_time_ns = time.time_ns
_mono_ns = time.monotonic_ns


def mstime() -> int:
    """Unix time in milliseconds."""
    return _time_ns() // 1_000_000


def monotonic_ms() -> int:
    return _mono_ns() // 1_000_000

