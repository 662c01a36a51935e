"""Active expiry: Redis's adaptive cycle (activeExpireCycle). Each cron tick (the slow
cycle) samples keys with a TTL in every database, deletes the expired ones, and repeats
on the same database while more than ACCEPTABLE_STALE percent (less with
active-expire-effort) of a sample was stale, within a CPU-time budget of SLOW_TIME_PERC
percent of a tick. After a cycle that ran out of time, fast cycles of FAST_DURATION us run
between ticks, no closer than twice that apart, until one finishes in time (Redis runs
them before sleeping; here they are scheduled on the event loop).

Redis samples hash buckets at a moving cursor. A Python dict has no buckets to index, so
each database walks a snapshot list of its expires keys (db.expire_snap) with its cursor
(db.expires_cursor): O(1) per sampled key, and every key with a TTL is visited once per
sweep. A key given a TTL after the snapshot is seen on the next sweep; keys removed
meanwhile are skipped."""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

from bocho import clock

if TYPE_CHECKING:
    from bocho.server import Server

KEYS_PER_LOOP = 20
ACCEPTABLE_STALE = 10  # percent
SLOW_TIME_PERC = 25  # percent of CPU per cron period
FAST_DURATION = 1000  # microseconds

# State across cycles (one server per process), as the statics of Redis's function.
_next_db = 0  # the db the next cycle starts with
_timelimit_exit = False  # the last cycle ran out of time
_fast_scheduled = False


def active_expire_cycle(server: Server, period_s: float, fast: bool = False) -> None:
    global _timelimit_exit
    if server.pause_end and clock.monotonic_ms() < server.pause_end:
        return  # clients paused: keep the dataset still
    if server.is_replica_of_master():
        return  # a replica waits for the master's DELs
    effort = server.config["active-expire-effort"] - 1
    per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP // 4 * effort
    stale_ok = ACCEPTABLE_STALE - effort
    if fast:
        # Redis compares its stale fraction (0..1) with a percentage here, so in effect
        # a fast cycle runs only after a cycle that ran out of time: so do we.
        if not _timelimit_exit:
            return
        budget = (FAST_DURATION + FAST_DURATION // 4 * effort) / 1e6
    else:
        budget = period_s * (SLOW_TIME_PERC + 2 * effort) / 100
    start = perf_counter()
    total_sampled = total_expired = 0
    iteration = 0
    timed_out = False
    global _next_db
    dbs = server.dbs
    last = _next_db - 1
    for j in range(len(dbs)):
        if timed_out:
            break
        # Start where the last cycle stopped, so that a db that eats the whole budget
        # does not starve the ones after it.
        idx = (_next_db + j) % len(dbs)
        db = dbs[idx]
        last = idx
        while True:
            iteration += 1
            expires = db.expires
            if not expires:
                db.avg_ttl = 0
                db.expire_snap = None
                break
            now = clock.mstime()
            keys = _next_sample(db, per_loop)
            expired = ttl_sum = ttl_n = 0
            for key in keys:
                when = expires.get(key)
                if when is None:
                    continue
                if now > when:
                    if key in db.data:
                        db.delete_expired(key)
                        expired += 1
                    else:
                        del expires[key]
                else:
                    ttl_sum += when - now
                    ttl_n += 1
            sampled = len(keys)
            total_sampled += sampled
            total_expired += expired
            if ttl_n:
                avg = ttl_sum // ttl_n
                if db.avg_ttl == 0:
                    db.avg_ttl = avg
                db.avg_ttl = db.avg_ttl // 50 * 49 + avg // 50
            if (iteration & 0xF) == 0 and perf_counter() - start > budget:
                server.stat_expired_time_cap_reached_count += 1
                timed_out = True
                break
            if sampled and expired * 100 // sampled <= stale_ok:
                break
    _next_db = (last + 1) % len(dbs)  # as Redis's current_db, one past the last db seen
    if total_sampled:
        perc = total_expired / total_sampled
    else:
        perc = 0.0
    server.stat_expired_stale_perc = perc * 0.05 + server.stat_expired_stale_perc * 0.95
    server.stat_expire_cycle_time_used += int((perf_counter() - start) * 1e6)
    _timelimit_exit = timed_out
    if timed_out and not fast:
        _schedule_fast(server, effort)


def _schedule_fast(server: Server, effort: int) -> None:
    """Run fast cycles between cron ticks while expired keys pile up."""
    global _fast_scheduled
    loop = server.loop
    if loop is None or _fast_scheduled:
        return
    gap = 2 * (FAST_DURATION + FAST_DURATION // 4 * effort) / 1e6

    def run() -> None:
        global _fast_scheduled
        _fast_scheduled = False
        if not server.debug_active_expire or server.cron_paused:
            return
        active_expire_cycle(server, 0.0, fast=True)
        if _timelimit_exit:
            _fast_scheduled = True
            loop.call_later(gap, run)
        if server.pending_writes:
            server.flush_pending()

    _fast_scheduled = True
    loop.call_later(gap, run)


def _next_sample(db, count: int) -> list[bytes]:
    """The next `count` keys of the db's expires snapshot, refreshing it once walked."""
    snap = db.expire_snap
    cur = db.expires_cursor
    if snap is None or cur >= len(snap):
        snap = db.expire_snap = list(db.expires)
        cur = 0
    keys = snap[cur:cur + count]
    db.expires_cursor = cur + len(keys)
    return keys
