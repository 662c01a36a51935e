"""One logical database: a dict of key -> value and a second dict of key -> absolute
expiry (unix ms), consulted only when it is non-empty and holds the key.

Value representation: strings are `bytes` (or `bytearray` once modified in place by
APPEND/SETRANGE/SETBIT, which is also how OBJECT ENCODING tells "raw" from "embstr").
Other types are classes registered in TYPE_NAMES by their modules.

Every mutation goes through the few functions here so that WATCH, keyspace
notifications and propagation of lazy expiry have one place each."""

from __future__ import annotations

import random
from itertools import islice
from typing import TYPE_CHECKING, Any

from bocho import clock

if TYPE_CHECKING:
    from bocho.server import Server

# python type -> Redis TYPE name. Type modules add their classes.
TYPE_NAMES: dict[type, bytes] = {bytes: b"string", bytearray: b"string"}


def type_name(value: Any) -> bytes:
    return TYPE_NAMES.get(type(value), b"none")


class Database:
    __slots__ = ("id", "data", "expires", "lru", "watched", "server", "expires_cursor",
                 "avg_ttl", "blocking")

    def __init__(self, server: "Server", dbid: int) -> None:
        self.id = dbid
        self.server = server
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # Access clock per key, kept only while an LRU/LFU maxmemory-policy needs it
        # (see server.set_lru_tracking): a second dict entry per key is memory Redis
        # folds into its object header and we cannot.
        self.lru: dict[bytes, int] | None = None
        self.watched: dict[bytes, list] = {}
        self.blocking: dict[bytes, list] = {}
        self.expires_cursor = 0
        self.avg_ttl = 0

    # -- lookups -------------------------------------------------------------------------

    def lookup_read(self, key: bytes) -> Any:
        """The value at key, or None. Expires it lazily; updates the access clock."""
        v = self.data.get(key)
        if v is None:
            return None
        if self.expires and key in self.expires and self.expire_if_needed(key):
            self.server.stat_keyspace_misses += 1
            return None
        if self.lru is not None and not self.server.current_client_no_touch():
            self.lru[key] = self.server.lruclock
        return v

    def lookup_write(self, key: bytes) -> Any:
        v = self.data.get(key)
        if v is None:
            return None
        if self.expires and key in self.expires and self.expire_if_needed(key):
            return None
        if self.lru is not None:
            self.lru[key] = self.server.lruclock
        return v

    def exists(self, key: bytes) -> bool:
        """Like lookup without touching the access clock (EXISTS, TTL, TYPE)."""
        if key not in self.data:
            return False
        if self.expires and key in self.expires and self.expire_if_needed(key):
            return False
        return True

    def peek(self, key: bytes) -> Any:
        """The value without expiring or touching it (OBJECT, DEBUG, SCAN filters)."""
        return self.data.get(key)

    def expire_if_needed(self, key: bytes) -> bool:
        """Delete key if its time has passed; True when it is (now) gone."""
        when = self.expires.get(key)
        if when is None:
            return False
        srv = self.server
        if when > srv.cmd_time_ms():
            return False
        if srv.is_replica_of_master():
            # A replica waits for the master's DEL, but reports the key as missing.
            return True
        self.delete_expired(key)
        return True

    def delete_expired(self, key: bytes) -> None:
        srv = self.server
        self._remove(key)
        srv.stat_expiredkeys += 1
        srv.propagate_internal(self.id, [b"UNLINK" if srv.lazyfree_lazy_expire else b"DEL", key])
        srv.notify(srv.NOTIFY_EXPIRED, b"expired", key, self.id)

    # -- mutation ------------------------------------------------------------------------

    def set_key(self, key: bytes, value: Any, keepttl: bool = False) -> None:
        """SET semantics: overwrite, drop the TTL unless keepttl."""
        if self.server.notify_flags & 8192 and key not in self.data:  # notify.NEW
            self.server.notify(8192, b"new", key, self.id)
        self.data[key] = value
        if not keepttl and self.expires:
            self.expires.pop(key, None)
        if self.lru is not None:
            self.lru[key] = self.server.lruclock
        if self.watched:
            self.signal_modified(key)

    def add(self, key: bytes, value: Any) -> None:
        """Add a key known not to exist (types that create on first write)."""
        self.data[key] = value
        if self.server.notify_flags & 8192:  # notify.NEW, as Redis's dbAdd
            self.server.notify(8192, b"new", key, self.id)
        if self.lru is not None:
            self.lru[key] = self.server.lruclock
        if self.watched:
            self.signal_modified(key)

    def delete(self, key: bytes) -> bool:
        if key not in self.data:
            return False
        self._remove(key)
        return True

    def _remove(self, key: bytes) -> None:
        del self.data[key]
        if self.expires:
            self.expires.pop(key, None)
        if self.lru is not None:
            self.lru.pop(key, None)
        if self.watched:
            self.signal_modified(key)

    def set_expire(self, key: bytes, when_ms: int) -> None:
        self.expires[key] = when_ms

    def get_expire(self, key: bytes) -> int:
        """Absolute expiry in unix ms, or -1."""
        return self.expires.get(key, -1)

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def signal_modified(self, key: bytes) -> None:
        """WATCH: a write to key makes every transaction watching it fail."""
        clients = self.watched.get(key)
        if clients:
            for c in clients:
                c.dirty_cas = True

    def signal_all_modified(self) -> None:
        for clients in self.watched.values():
            for c in clients:
                c.dirty_cas = True

    def flush(self) -> int:
        n = len(self.data)
        if self.watched:
            # Only keys that existed dirty their watchers (as Redis's touchAllWatchedKeysInDb).
            for key, clients in self.watched.items():
                if key in self.data:
                    for c in clients:
                        c.dirty_cas = True
        self.data = {}
        self.expires = {}
        if self.lru is not None:
            self.lru = {}
        self.expires_cursor = 0
        self.avg_ttl = 0
        return n

    # -- sampling ------------------------------------------------------------------------

    def random_key(self) -> bytes | None:
        """A random live key (RANDOMKEY). Expired keys met on the way are deleted."""
        data = self.data
        for _ in range(100):
            n = len(data)
            if n == 0:
                return None
            key = next(islice(data, random.randrange(n), None))
            if self.expires and key in self.expires and self.expire_if_needed(key):
                continue
            return key
        return None

    def sample(self, d: dict, count: int) -> list:
        """Up to `count` keys of d from a random position (eviction and active-expire
        sampling). A contiguous window: Python dicts offer no O(1) random access."""
        n = len(d)
        if n == 0:
            return []
        if n <= count:
            return list(d)
        start = random.randrange(n)
        out = list(islice(d, start, start + count))
        if len(out) < count:
            out.extend(islice(d, 0, count - len(out)))
        return out


def now_ms() -> int:
    return clock.mstime()
