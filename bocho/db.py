"""One logical database: a dict of key -> value and a second dict of key -> absolute
expiry (unix ms), consulted only when it is non-empty and holds the key.

Value representation: strings are `bytes` (or `bytearray` once modified in place by
APPEND/SETRANGE/SETBIT, which is also how OBJECT ENCODING tells "raw" from "embstr").
Other types are classes their modules register with register_type(): the TYPE name and
one function each for COPY (a deep copy), OBJECT ENCODING, SORT (the elements) and the
lazy-free effort. COPY falls back to copy.deepcopy for an unregistered class.

Lookups, as Redis's: lookup_read() for a command's read (lazy expiry, access clock,
keyspace hits/misses, keymiss event), lookup() with the NOTOUCH/NOSTATS/NONOTIFY knobs,
lookup_write() for a write (expires even on a replica's write path, no stats), exists()
and peek() for internal checks that must not show in INFO.

Every mutation goes through the few functions here so that WATCH, keyspace
notifications and propagation of lazy expiry have one place each. Every removal of a
key must go through delete()/unlink()/_remove(): SCAN's cursor counts removals (see
scan()); unlink() frees big values off the command's path (free_async).

Access clock (db.lru): kept only while an LRU/LFU maxmemory-policy is set (see
server.set_lru_tracking): a second dict entry per key is memory Redis folds into its
object header and we cannot. Under an LRU policy it holds the server's lruclock (unix
seconds) of the last access; under LFU Redis's packed counter: (minutes << 8) | log-freq.
Handlers update it with touch(key), never by writing the dict, so both policies work."""

from __future__ import annotations

import copy as _copy
import random
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

from bocho import clock
from bocho.notify import KEY_MISS, NEW

if TYPE_CHECKING:
    from bocho.server import Server

# python type -> Redis TYPE name. Type modules add their classes (register_type).
TYPE_NAMES: dict[type, bytes] = {bytes: b"string", bytearray: b"string"}
# python type -> value -> independent copy (COPY). Immutable bytes are shared.
COPIERS: dict[type, Callable[[Any], Any]] = {bytes: lambda v: v, bytearray: bytearray}
# python type -> value -> OBJECT ENCODING name
ENCODINGS: dict[type, Callable[[Any], bytes]] = {}
# python type -> value -> (kind, elements) for SORT: kind is b"list", b"set" or b"zset";
# elements are bytes in the type's natural order (list order, zset by score). Types
# absent here (strings, hashes, streams) make SORT reply WRONGTYPE.
SORT_SOURCES: dict[type, Callable[[Any], tuple[bytes, list[bytes]]]] = {}
# python type -> value -> how much work freeing it is (lazyfree threshold, see free_async)
FREE_EFFORT: dict[type, Callable[[Any], int]] = {}
# python type -> (value, field) -> bytes or None: what SORT's BY/GET "key->field" reads
# (hashes register theirs).
FIELD_GETTERS: dict[type, Callable[[Any, bytes], bytes | None]] = {}
# Type name -> constructor from a list of bytes: SORT ... STORE builds FACTORIES[b"list"].
FACTORIES: dict[bytes, Callable[[list[bytes]], Any]] = {}

LAZYFREE_THRESHOLD = 64
SNAPSHOTS = 2  # key-order snapshots kept per db for SCAN (see Database.scan)
LFU_INIT_VAL = 5


def register_type(cls: type, name: bytes, copy: Callable[[Any], Any],
                  encoding: Callable[[Any], bytes],
                  sort_elements: Callable[[Any], tuple[bytes, list[bytes]]] | None = None,
                  free_effort: Callable[[Any], int] | None = None,
                  field_get: Callable[[Any, bytes], bytes | None] | None = None,
                  from_list: Callable[[list[bytes]], Any] | None = None) -> None:
    """The one registration a value type needs for the generic keyspace commands."""
    TYPE_NAMES[cls] = name
    if field_get is not None:
        FIELD_GETTERS[cls] = field_get
    if from_list is not None:
        FACTORIES[name] = from_list
    COPIERS[cls] = copy
    ENCODINGS[cls] = encoding
    if sort_elements is not None:
        SORT_SOURCES[cls] = sort_elements
    if free_effort is not None:
        FREE_EFFORT[cls] = free_effort


class KeySnapshot(list):
    """A list of a db's keys in dict order, with the unix second it was taken."""

    __slots__ = ("made",)


def type_name(value: Any) -> bytes:
    return TYPE_NAMES.get(type(value), b"none")


def copy_value(value: Any) -> Any:
    fn = COPIERS.get(type(value))
    return fn(value) if fn is not None else _copy.deepcopy(value)


def _is_long(v: bytes) -> bool:
    """Redis's string2l: the string is exactly the canonical form of a 64-bit integer."""
    n = len(v)
    if n == 0 or n > 20:
        return False
    if not v.isdigit():
        if not (v[0] == 45 and n > 1 and v[1:].isdigit()):
            return False
    try:
        i = int(v)
    except ValueError:
        return False
    return -(2**63) <= i < 2**63 and b"%d" % i == v


def string_encoding(v: Any) -> bytes:
    """int for canonical integers, embstr up to 44 bytes, raw beyond (and once mutated)."""
    if type(v) is bytearray:  # mutated in place: Redis never re-encodes those
        return b"raw"
    if _is_long(v):
        return b"int"
    return b"raw" if len(v) > 44 else b"embstr"


ENCODINGS[bytes] = string_encoding
ENCODINGS[bytearray] = string_encoding


def encoding_name(value: Any) -> bytes:
    fn = ENCODINGS.get(type(value))
    return fn(value) if fn is not None else b"unknown"


def free_effort(value: Any) -> int:
    fn = FREE_EFFORT.get(type(value))
    return fn(value) if fn is not None else 1


# -- LFU (Redis's logarithmic access counter, 8 bits, decaying per lfu-decay-time minute)

def _lfu_minutes() -> int:
    return (clock.mstime() // 60000) & 0xFFFF


def lfu_decr(packed: int, decay_time: int) -> int:
    """The counter after decaying for the minutes elapsed since the last access."""
    counter = packed & 0xFF
    if decay_time <= 0:
        return counter
    then = packed >> 8
    now = _lfu_minutes()
    elapsed = now - then if now >= then else 65535 - then + now
    periods = elapsed // decay_time
    return max(0, counter - periods) if periods else counter


def lfu_incr(counter: int, log_factor: int) -> int:
    if counter == 255:
        return 255
    base = counter - LFU_INIT_VAL
    if base < 0:
        base = 0
    if random.random() < 1.0 / (base * log_factor + 1):
        counter += 1
    return counter


class Database:
    __slots__ = ("id", "data", "expires", "lru", "watched", "server", "expires_cursor",
                 "avg_ttl", "blocking", "dels", "snaps", "expire_snap")

    def __init__(self, server: Server, dbid: int) -> None:
        self.id = dbid
        self.server = server
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # Access clock per key (see the module comment), None while not tracked.
        self.lru: dict[bytes, int] | None = None
        self.watched: dict[bytes, list] = {}
        # key -> clients blocked on it, first blocked first (bocho/blocking.py)
        self.blocking: dict[bytes, list] = {}
        self.expires_cursor = 0
        self.avg_ttl = 0
        # Removals so far (SCAN cursors and the key snapshot below use it).
        self.dels = 0
        # Lists of the keys in dict order, by the removal count when each was taken (at
        # most SNAPSHOTS of them). The one for the current count is a prefix of the live
        # order (keys added since go to the end); older ones serve the SCANs that started
        # on them. They make SCAN and RANDOMKEY O(COUNT) instead of a walk of the dict.
        self.snaps: dict[int, KeySnapshot] = {}
        # Active expiry walks a snapshot of the expires keys (see expire.py).
        self.expire_snap: list[bytes] | None = None

    # -- lookups -------------------------------------------------------------------------

    def lookup_read(self, key: bytes) -> Any:
        """lookupKeyRead: the value at key or None. Expires it lazily, updates the access
        clock, counts keyspace hits/misses and fires the keymiss event."""
        v = self.data.get(key)
        srv = self.server
        if v is not None and self.expires and key in self.expires and self.expire_if_needed(key):
            v = None
        if v is None:
            srv.stat_keyspace_misses += 1
            if srv.notify_flags & KEY_MISS:
                srv.notify(KEY_MISS, b"keymiss", key, self.id)
            return None
        srv.stat_keyspace_hits += 1
        if self.lru is not None and not srv.current_client_no_touch():
            self.touch(key)
        return v

    def lookup(self, key: bytes, touch: bool = True, stats: bool = True,
               notify_miss: bool = True) -> Any:
        """lookupKeyReadWithFlags: lookup_read with the NOTOUCH/NOSTATS/NONOTIFY knobs."""
        v = self.data.get(key)
        srv = self.server
        if v is not None and self.expires and key in self.expires and self.expire_if_needed(key):
            v = None
        if v is None:
            if stats:
                srv.stat_keyspace_misses += 1
            if notify_miss and srv.notify_flags & KEY_MISS:
                srv.notify(KEY_MISS, b"keymiss", key, self.id)
            return None
        if stats:
            srv.stat_keyspace_hits += 1
        if touch and self.lru is not None and not srv.current_client_no_touch():
            self.touch(key)
        return v

    def lookup_write(self, key: bytes) -> Any:
        """lookupKeyWrite: expires lazily and touches; no stats, no keymiss event."""
        v = self.data.get(key)
        if v is None:
            return None
        if self.expires and key in self.expires and self.expire_if_needed(key, force=True):
            return None
        if self.lru is not None and not self.server.current_client_no_touch():
            self.touch(key)
        return v

    def exists(self, key: bytes) -> bool:
        """Whether key is live (expiring it if due); no stats, no access clock."""
        if key not in self.data:
            return False
        if self.expires and key in self.expires and self.expire_if_needed(key):
            return False
        return True

    def peek(self, key: bytes) -> Any:
        """The value without expiring or touching it (OBJECT, DEBUG, SCAN filters)."""
        return self.data.get(key)

    def is_expired(self, key: bytes) -> bool:
        """keyIsExpired: logically expired (whether or not it has been deleted yet)."""
        when = self.expires.get(key)
        if when is None or self.server.loading:
            return False
        return self.server.cmd_time_ms() > when

    def expire_if_needed(self, key: bytes, force: bool = False) -> bool:
        """Delete key if its time has passed; True when it is (now) logically gone.
        A replica only reports it missing and waits for the master's DEL (force: a
        write on a writable replica deletes it)."""
        when = self.expires.get(key)
        if when is None:
            return False
        srv = self.server
        if srv.loading or srv.cmd_time_ms() <= when:
            return False
        if srv.is_replica_of_master():
            if getattr(srv, "current_client_is_master", None) and srv.current_client_is_master():
                return False
            if not force:
                return True
        if srv.pause_end and clock.monotonic_ms() < srv.pause_end:
            # Clients are paused: the dataset stays still, the key only reads as gone.
            return True
        self.delete_expired(key)
        return True

    def delete_expired(self, key: bytes) -> None:
        """deleteExpiredKeyAndPropagate: remove, notify, propagate DEL/UNLINK, count."""
        srv = self.server
        lazy = srv.lazyfree_lazy_expire
        v = self.data.get(key)
        trk = srv.tracking
        if trk is not None:  # the server deletes it: no client to exclude (NOLOOP)
            trk.internal += 1
            try:
                self._remove(key)
            finally:
                trk.internal -= 1
        else:
            self._remove(key)
        if lazy and v is not None:
            free_async(srv, v)
        srv.notify(srv.NOTIFY_EXPIRED, b"expired", key, self.id)
        srv.propagate_internal(self.id, [b"UNLINK" if lazy else b"DEL", key])
        srv.stat_expiredkeys += 1

    # -- mutation ------------------------------------------------------------------------

    def set_key(self, key: bytes, value: Any, keepttl: bool = False) -> None:
        """SET semantics: overwrite, drop the TTL unless keepttl."""
        if self.server.notify_flags & NEW and key not in self.data:
            self.server.notify(NEW, b"new", key, self.id)
        self.data[key] = value
        if not keepttl and self.expires:
            self.expires.pop(key, None)
        if self.lru is not None:
            self.touch(key)
        if self.watched:
            self.signal_modified(key)
        if self.blocking and key in self.blocking:
            signal_key_as_ready(self, key)

    def add(self, key: bytes, value: Any) -> None:
        """Add a key known not to exist (types that create on first write)."""
        self.data[key] = value
        if self.server.notify_flags & NEW:  # as Redis's dbAdd
            self.server.notify(NEW, b"new", key, self.id)
        if self.lru is not None:
            self.touch(key, new=True)
        if self.watched:
            self.signal_modified(key)
        if self.blocking and key in self.blocking:
            signal_key_as_ready(self, key)

    def access_meta(self, key: bytes) -> int | None:
        """The access clock entry of key, to carry it along when the value moves."""
        return self.lru.get(key) if self.lru is not None else None

    def set_access_meta(self, key: bytes, meta: int | None) -> None:
        if meta is not None and self.lru is not None:
            self.lru[key] = meta

    def set_idle(self, key: bytes, seconds: int) -> None:
        """RESTORE ... IDLETIME: the key reads as unused for `seconds` (LRU policies)."""
        if self.lru is not None and not self.server.lfu:
            self.lru[key] = self.server.lruclock - seconds

    def set_freq(self, key: bytes, freq: int) -> None:
        """RESTORE ... FREQ: the key's LFU counter (LFU policies)."""
        if self.lru is not None and self.server.lfu:
            self.lru[key] = (_lfu_minutes() << 8) | min(255, max(0, freq))

    def delete(self, key: bytes) -> bool:
        if key not in self.data:
            return False
        self._remove(key)
        return True

    def unlink(self, key: bytes) -> bool:
        """UNLINK: delete, freeing a big value off the command's path (free_async)."""
        v = self.data.get(key)
        if v is None:
            return False
        self._remove(key)
        free_async(self.server, v)
        return True

    def _remove(self, key: bytes) -> None:
        del self.data[key]
        self.dels += 1
        if self.expires:
            self.expires.pop(key, None)
        if self.lru is not None:
            self.lru.pop(key, None)
        if self.watched:
            self.signal_modified(key)
        if self.blocking and key in self.blocking:
            signal_key_as_ready(self, key)

    def set_expire(self, key: bytes, when_ms: int) -> None:
        self.expires[key] = when_ms
        srv = self.server
        if srv.role == "slave" and not srv.replica.executing \
                and not srv.config["replica-read-only"]:
            srv.replica.own_expires.add((self.id, key))  # a writable replica's own TTL

    def get_expire(self, key: bytes) -> int:
        """Absolute expiry in unix ms, or -1."""
        return self.expires.get(key, -1)

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None

    def touch(self, key: bytes, new: bool = False) -> None:
        """Update the access clock of key (only call while self.lru is not None). Under
        LFU a new value starts at LFU_INIT_VAL; an access decays then maybe increments."""
        srv = self.server
        lru = self.lru
        if srv.lfu:
            old = None if new else lru.get(key)
            if old is None:
                counter = LFU_INIT_VAL
            else:
                cfg = srv.config
                counter = lfu_incr(lfu_decr(old, cfg["lfu-decay-time"]), cfg["lfu-log-factor"])
            lru[key] = (_lfu_minutes() << 8) | counter
        else:
            lru[key] = srv.lruclock

    def signal_modified(self, key: bytes) -> None:
        """signalModifiedKey: a write to key makes every transaction watching it fail
        and invalidates it for the clients tracking it (bocho/tracking.py keeps a
        sentinel in db.watched while tracking is on, so writes come here)."""
        clients = self.watched.get(key)
        if clients:
            for c in clients:
                c.dirty_cas = True
        trk = self.server.tracking
        if trk is not None and trk.hooked:
            trk.invalidate(key)

    def _touch_watched(self, other: Database | None = None) -> None:
        """touchAllWatchedKeysInDb: this db is emptied (FLUSH*) or replaced by `other`
        (SWAPDB). A watched key that exists here or there fails its transactions, except
        where nothing logically changes: a key already expired when watched that is now
        gone or still expired, or a missing key replaced by an expired one (which then
        counts as watched-expired)."""
        for key, entries in self.watched.items():
            here = key in self.data
            there = other is not None and key in other.data
            if not (here or there):
                continue
            for wk in entries:
                if getattr(wk, "expired", False):
                    if not there:
                        wk.expired = False
                        continue
                    if other.is_expired(key):
                        continue
                elif not here and other.is_expired(key):
                    if hasattr(wk, "expired"):
                        wk.expired = True
                    continue
                getattr(wk, "client", wk).dirty_cas = True

    def flush(self, lazy: bool = False) -> int:
        """Empty the db; returns the number of keys removed."""
        n = len(self.data)
        if self.watched:
            self._touch_watched()
        if self.blocking:
            for key in list(self.blocking):
                if key in self.data:
                    signal_key_as_ready(self, key)
        if lazy and n:
            srv = self.server
            _defer_free(srv, (self.data, self.expires, self.lru), n)
        self.data = {}
        self.expires = {}
        if self.lru is not None:
            self.lru = {}
        self.expires_cursor = 0
        self.avg_ttl = 0
        self.dels += n
        self.snaps = {}
        self.expire_snap = None
        return n

    def swap_with(self, other: Database) -> None:
        """SWAPDB: exchange contents; watchers and blocked clients stay with their db."""
        self._touch_watched(other)
        other._touch_watched(self)
        for name in ("data", "expires", "lru", "avg_ttl", "expires_cursor", "dels", "snaps",
                     "expire_snap"):
            a = getattr(self, name)
            setattr(self, name, getattr(other, name))
            setattr(other, name, a)
        if (self.lru is None) != (other.lru is None):  # tracking is server-wide
            self.lru = self.lru if self.lru is not None else {}
            other.lru = other.lru if other.lru is not None else {}
        # blocked clients stay with their db: the keys they wait on may be there now
        for db in (self, other):
            for key in list(db.blocking):
                signal_key_as_ready(db, key)

    # -- ordered access: SCAN, RANDOMKEY, sampling ---------------------------------------

    def keys_snapshot(self) -> list[bytes]:
        """The keys in live dict order (the snapshot for the current removal count,
        extended with the keys added since it was taken)."""
        snaps = self.snaps
        snap = snaps.get(self.dels)
        if snap is None:
            snap = snaps[self.dels] = KeySnapshot(self.data)
            snap.made = self.server.unixtime
            while len(snaps) > SNAPSHOTS:
                del snaps[next(iter(snaps))]
        elif len(snap) < len(self.data):
            snap.extend(islice(self.data, len(snap), None))
        return snap

    def scan(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """One SCAN step: (next cursor, candidate keys, not yet filtered).

        Keys are walked in dict (insertion) order, through a snapshot: the cursor holds
        the position reached and the removal count that names the snapshot, so a scan
        keeps walking the list it started on whatever is removed meanwhile. If that
        snapshot is gone (a newer one replaced it), the walk moves to the live order:
        a new key goes to the end and an overwrite keeps its place, so only removals move
        keys, each one place towards the front, and starting that many places earlier
        misses nothing. Guarantee: a key present from the first call to the last is
        returned at least once; keys added or removed meanwhile may or may not be, and a
        key may come more than once."""
        pos = cursor >> 32
        snap = None
        if cursor:
            tag = cursor & 0xFFFFFFFF
            for dels, s in self.snaps.items():
                if dels & 0xFFFFFFFF == tag:
                    snap, ident = s, dels
                    break
            else:
                pos = max(0, pos - ((self.dels - tag) & 0xFFFFFFFF))
        if snap is None or ident == self.dels:
            snap, ident = self.keys_snapshot(), self.dels
        keys = snap[pos:pos + count]
        nxt = pos + len(keys)
        if nxt >= len(snap):
            return 0, keys
        return (nxt << 32) | (ident & 0xFFFFFFFF), keys

    def random_key(self) -> bytes | None:
        """A random live key (RANDOMKEY). Expired keys met on the way are deleted; a
        replica gives up after 100 expired tries and returns one anyway (as Redis).
        Picks come from the newest key snapshot while it still roughly matches the
        keyspace, so removals (expiry!) do not make each call copy the key list."""
        data = self.data
        replica = self.server.is_replica_of_master()
        tries = 100
        snap = self._random_source()
        misses = 0
        while data:
            key = snap[random.randrange(len(snap))] if snap else None
            if key is None or key not in data:
                misses += 1
                if misses >= 8 and misses & (misses - 1) == 0:
                    snap = self.keys_snapshot()  # exact again: every entry is live
                continue
            if self.expires and key in self.expires:
                if replica:
                    tries -= 1
                    if tries == 0:
                        return key
                if self.expire_if_needed(key):
                    continue
            return key
        return None

    def _random_source(self) -> list[bytes]:
        """The newest snapshot if it was taken this second and is within a quarter of
        the keyspace's size, else the current one."""
        snaps = self.snaps
        if snaps:
            dels = next(reversed(snaps))
            snap = snaps[dels]
            n = len(self.data)
            if (dels != self.dels and snap.made == self.server.unixtime
                    and abs(len(snap) - n) <= n >> 2):
                return snap
        return self.keys_snapshot()


# -- lazy free ---------------------------------------------------------------------------

def signal_key_as_ready(db: Database, key: bytes) -> None:
    from bocho.blocking import signal_key_as_ready as signal
    signal(db, key)


def free_async(srv: Server, value: Any) -> None:
    """freeObjAsync: a value whose freeing is real work (> 64 elements) is released after
    the current event instead of inside the command (counted in lazyfreed_objects).
    A dict/set/list/deque value is emptied in place: it must be referenced nowhere else (COPY
    copies, RENAME/MOVE delete without freeing)."""
    if free_effort(value) > LAZYFREE_THRESHOLD:
        _defer_free(srv, value, 1)


LAZYFREE_STEP = 20000  # container items released per event-loop turn


def _defer_free(srv: Server, obj: Any, n: int) -> None:
    """Queue obj (a value, or a tuple of a flushed db's dicts) to be released off the
    command's path; n is what it counts for in lazyfree_pending/lazyfreed_objects."""
    queue = srv.lazyfree_queue
    parts = [p for p in obj if p] if type(obj) is tuple else [obj]
    for i, part in enumerate(parts):
        queue.append([part, n if i == 0 else 0])
    srv.lazyfree_pending_objects += n
    if not parts:
        srv.lazyfree_pending_objects -= n
        srv.stat_lazyfreed_objects += n
    elif len(queue) == len(parts):
        if srv.loop is not None:
            srv.loop.call_soon(_drain, srv)
        else:
            while queue:
                _drain(srv)


def _drain(srv: Server) -> None:
    """Release up to LAZYFREE_STEP items of the queued containers (dicts, sets, lists are
    emptied piecewise, so that freeing millions of keys never stalls the loop for
    long), then come back on the next loop turn if anything is left."""
    queue = srv.lazyfree_queue
    budget = LAZYFREE_STEP
    while queue and budget > 0:
        entry = queue[-1]
        obj = entry[0]
        if isinstance(obj, dict):
            k = min(budget, len(obj))
            pop = obj.popitem
            for _ in range(k):
                pop()
            budget -= k + 1
            done = not obj
        elif isinstance(obj, (set, list, deque)):
            k = min(budget, len(obj))
            if not isinstance(obj, list):
                pop = obj.pop
                for _ in range(k):
                    pop()
            else:
                del obj[len(obj) - k:]
            budget -= k + 1
            done = not obj
        else:
            budget -= 1
            done = True
        if done:
            queue.pop()
            n = entry[1]
            entry.clear()
            del obj  # the last reference: CPython frees it here
            srv.lazyfree_pending_objects -= n
            srv.stat_lazyfreed_objects += n
    if queue and srv.loop is not None:
        srv.loop.call_soon(_drain, srv)

