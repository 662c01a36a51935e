"""Active expiry: Redis's adaptive cycle. Each cron tick samples keys with a TTL in every
database, deletes the expired ones, and repeats while more than a quarter (scaled by
active-expire-effort) of a sample was stale, within a CPU-time budget per tick."""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

from bocho import clock

if TYPE_CHECKING:
    from bocho.server import Server

KEYS_PER_LOOP = 20
ACCEPTABLE_STALE = 10  # percent
SLOW_TIME_PERC = 25  # percent of CPU per cron period


def active_expire_cycle(server: "Server", period_s: float) -> None:
    effort = server.config["active-expire-effort"] - 1
    per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP // 4 * effort
    stale_ok = ACCEPTABLE_STALE - effort
    budget = period_s * (SLOW_TIME_PERC + 2 * effort) / 100
    start = perf_counter()
    total_sampled = total_expired = 0
    for db in server.dbs:
        expires = db.expires
        if not expires:
            continue
        while expires:
            now = clock.mstime()
            keys = _window(db, per_loop)
            expired = 0
            for key in keys:
                when = expires.get(key)
                if when is not None and when <= now and key in db.data:
                    db.delete_expired(key)
                    expired += 1
            total_sampled += len(keys)
            total_expired += expired
            if perf_counter() - start > budget:
                server.stat_expired_time_cap_reached_count += 1
                break
            if not keys or expired * 100 // len(keys) <= stale_ok:
                break
    if total_sampled:
        perc = total_expired / total_sampled
        server.stat_expired_stale_perc = perc * 0.05 + server.stat_expired_stale_perc * 0.95
    server.stat_expire_cycle_time_used += int((perf_counter() - start) * 1e6)


def _window(db, count: int) -> list[bytes]:
    """The next `count` keys of db.expires after the db's cursor (round robin)."""
    from itertools import islice
    expires = db.expires
    n = len(expires)
    if n <= count:
        db.expires_cursor = 0
        return list(expires)
    cur = db.expires_cursor
    if cur >= n:
        cur = 0
    keys = list(islice(expires, cur, cur + count))
    db.expires_cursor = cur + len(keys)
    return keys
