"""Generic keyspace commands (db.c, expire.c, object.c): DEL/UNLINK, EXISTS, TYPE, the
EXPIRE and TTL families, PERSIST, RENAME, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB/FLUSHALL,
MOVE, COPY, SWAPDB, TOUCH and OBJECT. SORT lives in sort.py.

Handlers follow Redis's order of checks exactly (option parsing before key lookups,
lookups that count keyspace hits/misses where Redis counts them), since error replies
and INFO counters are observable."""

from __future__ import annotations

from bocho import clock, notify, resp
from bocho.commands import command
from bocho.db import LFU_INIT_VAL, copy_value, encoding_name, lfu_decr, type_name
from bocho.errors import NO_SUCH_KEY, NOT_INTEGER, CommandError, syntax
from bocho.glob import compile_glob
from bocho.util import I64_MAX, I64_MIN, parse_cursor, parse_int

GEN = "generic"
GENERIC = notify.GENERIC
SAME_OBJECT = b"ERR source and destination objects are the same"
DB_RANGE = b"ERR DB index is out of range"
MULTI_SHARD = ("request_policy:multi_shard", "response_policy:agg_sum")
ALL_SHARDS = ("request_policy:all_shards",)
I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def spec(flags: str, pos: int = 1, lastkey: int = 0) -> dict:
    """A key spec as Redis declares it (COMMAND INFO, ACL key permissions)."""
    return {"flags": flags.split(), "begin_search": {"index": {"pos": pos}},
            "find_keys": {"range": {"lastkey": lastkey, "step": 1, "limit": 0}}}


RO = [spec("RO")]
RO_ALL = [spec("RO", lastkey=-1)]
RW_UPDATE = [spec("RW update")]
RM_ALL = [spec("RM delete", lastkey=-1)]


def parse_dbid(b: bytes, err: bytes = NOT_INTEGER) -> int:
    """getIntFromObjectOrReply: a 32-bit int, `err` otherwise."""
    v = parse_int(b, err)
    if not I32_MIN <= v <= I32_MAX:
        raise CommandError(err)
    return v


def other_db(c, dbid: int):
    dbs = c.server.dbs
    if dbid < 0 or dbid >= len(dbs):
        raise CommandError(DB_RANGE)
    return dbs[dbid]


def cluster_enabled(c) -> bool:
    return bool(c.server.config["cluster-enabled"])


# -- DEL, UNLINK, EXISTS, TYPE, TOUCH -----------------------------------------------------

def _del(c, argv, lazy: bool) -> bytes:
    db = c.db
    srv = c.server
    n = 0
    for key in argv[1:]:
        if db.expires and key in db.expires:
            db.expire_if_needed(key)
        if (db.unlink(key) if lazy else db.delete(key)):
            srv.notify(GENERIC, b"del", key, db.id)
            srv.dirty += 1
            n += 1
    return resp.integer(n)


@command("del", -2, "write", keys=(1, -1, 1), group=GEN, acl=("keyspace",), tips=MULTI_SHARD,
         summary="Delete a key", complexity="O(N)",
         key_specs=RM_ALL)
def del_(c, argv):
    return _del(c, argv, c.server.config["lazyfree-lazy-user-del"])


@command("unlink", -2, "write fast", keys=(1, -1, 1), group=GEN, acl=("keyspace",),
         tips=MULTI_SHARD, since="4.0.0", complexity="O(1) for each key removed",
         summary="Delete a key asynchronously in another thread. Otherwise it is just as DEL,"
                 " but non blocking.",
         key_specs=RM_ALL)
def unlink(c, argv):
    return _del(c, argv, True)


@command("exists", -2, "readonly fast", keys=(1, -1, 1), group=GEN, acl=("keyspace",),
         tips=MULTI_SHARD, summary="Determine if a key exists", complexity="O(N)",
         key_specs=RO_ALL)
def exists(c, argv):
    db = c.db
    data = db.data
    n = 0
    for key in argv[1:]:
        # The common case inline; anything else (expiry, misses) takes db.lookup.
        if key in data and not db.expires:
            n += 1
            c.server.stat_keyspace_hits += 1
        elif db.lookup(key, touch=False) is not None:
            n += 1
    return resp.integer(n)


@command("type", 2, "readonly fast", keys=(1, 1, 1), group=GEN, acl=("keyspace",),
         summary="Determine the type stored at key", complexity="O(1)",
         key_specs=RO)
def type_(c, argv):
    v = c.db.lookup(argv[1], touch=False)
    return b"+none\r\n" if v is None else b"+%s\r\n" % type_name(v)


@command("touch", -2, "readonly fast", keys=(1, -1, 1), group=GEN, acl=("keyspace",),
         tips=MULTI_SHARD, since="3.2.1", complexity="O(N)",
         summary="Alters the last access time of a key(s). Returns the number of existing "
                 "keys specified.",
         key_specs=RO_ALL)
def touch(c, argv):
    db = c.db
    n = 0
    for key in argv[1:]:
        if db.lookup_read(key) is not None:
            n += 1
    return resp.integer(n)


# -- EXPIRE family ------------------------------------------------------------------------

EXPIRE_NX, EXPIRE_XX, EXPIRE_GT, EXPIRE_LT = 1, 2, 4, 8
_EXPIRE_OPTS = {b"nx": EXPIRE_NX, b"xx": EXPIRE_XX, b"gt": EXPIRE_GT, b"lt": EXPIRE_LT}


def _expire_flags(argv) -> int:
    flags = 0
    for opt in argv[3:]:
        f = _EXPIRE_OPTS.get(opt.lower())
        if f is None:
            raise CommandError(b"ERR Unsupported option " + opt)
        flags |= f
    if flags & EXPIRE_NX and flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT):
        raise CommandError(b"ERR NX and XX, GT or LT options at the same time are not compatible")
    if flags & EXPIRE_GT and flags & EXPIRE_LT:
        raise CommandError(b"ERR GT and LT options at the same time are not compatible")
    return flags


_MAX_SECONDS = I64_MAX // 1000
_MIN_SECONDS = -(-I64_MIN // 1000)  # LLONG_MIN / 1000: C division truncates


def _expire_time_error(name: str) -> CommandError:
    return CommandError(f"ERR invalid expire time in '{name}' command")


def expire_generic(c, argv, name: str, absolute: bool, unit_ms: int) -> bytes:
    """EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT. A time already past deletes the key (on a
    master, outside loading) and is propagated as DEL/UNLINK; otherwise the command is
    propagated as PEXPIREAT with the absolute time, keeping its NX/XX/GT/LT flags."""
    flags = _expire_flags(argv) if len(argv) > 3 else 0
    key = argv[1]
    when = parse_int(argv[2])
    if unit_ms != 1:
        if when > _MAX_SECONDS or when < _MIN_SECONDS:
            raise _expire_time_error(name)
        when *= 1000
    now = clock.mstime()
    base = 0 if absolute else now
    if when > I64_MAX - base:
        raise _expire_time_error(name)
    when += base
    db = c.db
    if db.lookup_write(key) is None:
        return resp.ZERO
    if flags:
        cur = db.get_expire(key)
        if flags & EXPIRE_NX and cur != -1:
            return resp.ZERO
        if flags & EXPIRE_XX and cur == -1:
            return resp.ZERO
        if flags & EXPIRE_GT and (when <= cur or cur == -1):
            return resp.ZERO
        if flags & EXPIRE_LT and cur != -1 and when >= cur:
            return resp.ZERO
    srv = c.server
    if when <= now and not srv.loading and not srv.is_replica_of_master():
        lazy = srv.lazyfree_lazy_expire
        if lazy:
            db.unlink(key)
        else:
            db.delete(key)
        srv.dirty += 1
        c.prop = [[b"UNLINK" if lazy else b"DEL", key]]
        srv.notify(GENERIC, b"del", key, db.id)
        return resp.ONE
    db.set_expire(key, when)
    if db.watched:
        db.signal_modified(key)
    srv.notify(GENERIC, b"expire", key, db.id)
    srv.dirty += 1
    c.prop = [[b"PEXPIREAT", key, b"%d" % when] + argv[3:]]
    return resp.ONE


_EXP_DOC = dict(group=GEN, acl=("keyspace",), complexity="O(1)")


@command("expire", -3, "write fast", keys=(1, 1, 1), summary="Set a key's time to live in seconds",
         **_EXP_DOC,
         key_specs=RW_UPDATE)
def expire(c, argv):
    return expire_generic(c, argv, "expire", False, 1000)


@command("pexpire", -3, "write fast", keys=(1, 1, 1), since="2.6.0",
         summary="Set a key's time to live in milliseconds", **_EXP_DOC,
         key_specs=RW_UPDATE)
def pexpire(c, argv):
    return expire_generic(c, argv, "pexpire", False, 1)


@command("expireat", -3, "write fast", keys=(1, 1, 1), since="1.2.0",
         summary="Set the expiration for a key as a UNIX timestamp", **_EXP_DOC,
         key_specs=RW_UPDATE)
def expireat(c, argv):
    return expire_generic(c, argv, "expireat", True, 1000)


@command("pexpireat", -3, "write fast", keys=(1, 1, 1), since="2.6.0",
         summary="Set the expiration for a key as a UNIX timestamp specified in milliseconds",
         **_EXP_DOC,
         key_specs=RW_UPDATE)
def pexpireat(c, argv):
    return expire_generic(c, argv, "pexpireat", True, 1)


def ttl_generic(c, key: bytes, ms: bool, absolute: bool) -> bytes:
    db = c.db
    if db.lookup(key, touch=False) is None:
        return b":-2\r\n"
    when = db.get_expire(key)
    if when == -1:
        return b":-1\r\n"
    ttl = when if absolute else when - clock.mstime()
    if ttl < 0:
        ttl = 0
    return resp.integer(ttl if ms else (ttl + 500) // 1000)


@command("ttl", 2, "readonly fast", keys=(1, 1, 1), tips=("nondeterministic_output",),
         summary="Get the time to live for a key in seconds", **_EXP_DOC,
         key_specs=[spec("RO access")])
def ttl(c, argv):
    return ttl_generic(c, argv[1], False, False)


@command("pttl", 2, "readonly fast", keys=(1, 1, 1), tips=("nondeterministic_output",),
         since="2.6.0", summary="Get the time to live for a key in milliseconds", **_EXP_DOC,
         key_specs=[spec("RO access")])
def pttl(c, argv):
    return ttl_generic(c, argv[1], True, False)


@command("expiretime", 2, "readonly fast", keys=(1, 1, 1), since="7.0.0",
         summary="Get the expiration Unix timestamp for a key", **_EXP_DOC,
         key_specs=[spec("RO access")])
def expiretime(c, argv):
    return ttl_generic(c, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", keys=(1, 1, 1), since="7.0.0",
         summary="Get the expiration Unix timestamp for a key in milliseconds", **_EXP_DOC,
         key_specs=[spec("RO access")])
def pexpiretime(c, argv):
    return ttl_generic(c, argv[1], True, True)


@command("persist", 2, "write fast", keys=(1, 1, 1), since="2.2.0",
         summary="Remove the expiration from a key", **_EXP_DOC,
         key_specs=RW_UPDATE)
def persist(c, argv):
    db = c.db
    key = argv[1]
    if db.lookup_write(key) is None or not db.persist(key):
        return resp.ZERO
    if db.watched:
        db.signal_modified(key)
    srv = c.server
    srv.notify(GENERIC, b"persist", key, db.id)
    srv.dirty += 1
    return resp.ONE


# -- RENAME, MOVE, COPY, SWAPDB -----------------------------------------------------------

def _server_del(db, key: bytes) -> None:
    """dbDelete: an implicit deletion, lazy when lazyfree-lazy-server-del is set."""
    if db.server.config["lazyfree-lazy-server-del"]:
        db.unlink(key)
    else:
        db.delete(key)


def _transfer(srv, src_db, src: bytes, dst_db, dst: bytes, v, when: int,
              event: bytes) -> None:
    """RENAME and MOVE: the value goes to dst with its LRU/LFU state and TTL (`when`,
    -1 for none), src is deleted, <event>_from / <event>_to are notified."""
    meta = src_db.access_meta(src)
    dst_db.add(dst, v)
    dst_db.set_access_meta(dst, meta)
    if when != -1:
        dst_db.set_expire(dst, when)
    src_db.delete(src)
    srv.notify(GENERIC, event + b"_from", src, src_db.id)
    srv.notify(GENERIC, event + b"_to", dst, dst_db.id)
    srv.dirty += 1


def rename_generic(c, argv, nx: bool) -> bytes:
    db = c.db
    src, dst = argv[1], argv[2]
    v = db.lookup_write(src)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        return resp.ZERO if nx else resp.OK
    when = db.get_expire(src)
    if db.lookup_write(dst) is not None:
        if nx:
            return resp.ZERO
        _server_del(db, dst)
    _transfer(c.server, db, src, db, dst, v, when, b"rename")
    return resp.ONE if nx else resp.OK


@command("rename", 3, "write", keys=(1, 2, 1), group=GEN, acl=("keyspace",),
         summary="Rename a key", complexity="O(1)",
         key_specs=[spec("RW access delete"), spec("OW update", pos=2)])
def rename(c, argv):
    return rename_generic(c, argv, False)


@command("renamenx", 3, "write fast", keys=(1, 2, 1), group=GEN, acl=("keyspace",),
         summary="Rename a key, only if the new key does not exist", complexity="O(1)",
         key_specs=[spec("RW access delete"), spec("OW insert", pos=2)])
def renamenx(c, argv):
    return rename_generic(c, argv, True)


@command("move", 3, "write fast", keys=(1, 1, 1), group=GEN, acl=("keyspace",),
         summary="Move a key to another database", complexity="O(1)",
         key_specs=[spec("RW access update")])
def move(c, argv):
    if cluster_enabled(c):
        raise CommandError(b"ERR MOVE is not allowed in cluster mode")
    src = c.db
    dst = other_db(c, parse_dbid(argv[2]))
    if src is dst:
        raise CommandError(SAME_OBJECT)
    key = argv[1]
    v = src.lookup_write(key)
    if v is None:
        return resp.ZERO
    when = src.get_expire(key)
    if dst.lookup_write(key) is not None:
        return resp.ZERO
    _transfer(c.server, src, key, dst, key, v, when, b"move")
    return resp.ONE


@command("copy", -3, "write denyoom", keys=(1, 2, 1), group=GEN, acl=("keyspace",),
         since="6.2.0", summary="Copy a key", complexity="O(N) worst case for collections",
         key_specs=[spec("RO access"), spec("OW update", pos=2)])
def copy(c, argv):
    src = dst = c.db
    replace = False
    i, n = 3, len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and i + 1 < n:
            dst = other_db(c, parse_dbid(argv[i + 1]))
            i += 1
        else:
            raise syntax()
        i += 1
    if cluster_enabled(c) and (src.id != 0 or dst.id != 0):
        raise CommandError(b"ERR Copying to another database is not allowed in cluster mode")
    key, newkey = argv[1], argv[2]
    if src is dst and key == newkey:
        raise CommandError(SAME_OBJECT)
    v = src.lookup_read(key)
    if v is None:
        return resp.ZERO
    when = src.get_expire(key)
    exists = dst.lookup_write(newkey) is not None
    if exists and not replace:
        return resp.ZERO
    nv = copy_value(v)
    if exists:
        _server_del(dst, newkey)
    dst.add(newkey, nv)
    if when != -1:
        dst.set_expire(newkey, when)
    srv = c.server
    srv.notify(GENERIC, b"copy_to", newkey, dst.id)
    srv.dirty += 1
    return resp.ONE


@command("swapdb", 3, "write fast", group=GEN, acl=("keyspace", "dangerous"), since="4.0.0",
         summary="Swaps two Redis databases", complexity="O(N)")
def swapdb(c, argv):
    if cluster_enabled(c):
        raise CommandError(b"ERR SWAPDB is not allowed in cluster mode")
    id1 = parse_dbid(argv[1], b"ERR invalid first DB index")
    id2 = parse_dbid(argv[2], b"ERR invalid second DB index")
    dbs = c.server.dbs
    if not (0 <= id1 < len(dbs) and 0 <= id2 < len(dbs)):
        raise CommandError(DB_RANGE)
    if id1 != id2:
        dbs[id1].swap_with(dbs[id2])
        for hook in SWAPDB_HOOKS:
            hook(c.server, id1, id2)
    c.server.dirty += 1
    return resp.OK


# Called after SWAPDB with (server, id1, id2): blocked-client modules re-check the keys
# their clients wait for (a key may now exist in the db they are blocked on).
SWAPDB_HOOKS: list = []


# -- KEYS, SCAN, RANDOMKEY, DBSIZE --------------------------------------------------------

@command("keys", 2, "readonly", group=GEN, acl=("keyspace", "dangerous"),
         tips=ALL_SHARDS + ("nondeterministic_output_order",),
         summary="Find all keys matching the given pattern", complexity="O(N)")
def keys(c, argv):
    db = c.db
    pat = argv[1]
    if pat == b"*":
        found = list(db.data)
    else:
        m = compile_glob(pat)
        found = [k for k in db.data if m(k)]
    if db.expires and not c.server.loading:
        # Logically expired keys are left out but not deleted (keyIsExpired).
        expires = db.expires
        now = c.server.cmd_time_ms()
        found = [k for k in found if expires.get(k, now) >= now]
    return resp.bulk_array(found)


def parse_scan_options(argv, start: int, allow_type: bool):
    """COUNT/MATCH[/TYPE] after the cursor, as scanGenericCommand: (count, pattern, type)."""
    count = 10
    pat = None
    typ = None
    i, n = start, len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"count" and i + 1 < n:
            count = parse_int(argv[i + 1])
            if count < 1:
                raise syntax()
        elif opt == b"match" and i + 1 < n:
            pat = None if argv[i + 1] == b"*" else argv[i + 1]
        elif opt == b"type" and allow_type and i + 1 < n:
            typ = argv[i + 1].lower()
        else:
            raise syntax()
        i += 2
    return count, pat, typ


def scan_reply(cursor: int, items: list[bytes]) -> bytes:
    cur = b"%d" % cursor
    return b"*2\r\n$%d\r\n%s\r\n" % (len(cur), cur) + resp.bulk_array(items)


EMPTY_SCAN = b"*2\r\n$1\r\n0\r\n*0\r\n"

# -- HSCAN/SSCAN/ZSCAN over a big container -----------------------------------------------
# A Python dict or set has no stable cursor (a set reorders itself when it grows), so a
# scan of a container in its hashtable/skiplist encoding walks a list of its elements
# taken when the scan starts (cursor 0). The cursor carries the position reached and the
# snapshot's id; the container keeps its few newest snapshots in its `snaps` slot, and the
# snapshot goes when its scan ends. Elements present for the whole scan are returned;
# elements removed meanwhile are filtered out (the caller checks membership), elements
# added meanwhile are not returned (allowed by SCAN's guarantees). A cursor whose snapshot
# is gone (more than SCAN_SNAPSHOTS scans of one container at once) resumes at its
# position in a fresh snapshot: best effort, as Redis's own cursor after a rehash.

SCAN_SNAPSHOTS = 4
_SNAP_BITS = 24
_SNAP_MASK = (1 << _SNAP_BITS) - 1
_snap_ids = [0]


def scan_container(v, cursor: int, count: int, elements) -> tuple[int, list]:
    """One step over `elements(v)` (a list builder) for container v, which has a `snaps`
    slot (None or dict of id -> list): (next cursor, candidate elements)."""
    snaps = v.snaps
    pos = cursor >> _SNAP_BITS
    snap = None
    if cursor and snaps:
        sid = cursor & _SNAP_MASK
        snap = snaps.get(sid)
    if snap is None:
        if snaps is None:
            snaps = v.snaps = {}
        nxt = _snap_ids[0] % _SNAP_MASK + 1
        _snap_ids[0] = nxt
        sid = nxt
        snap = snaps[sid] = elements(v)
        while len(snaps) > SCAN_SNAPSHOTS:
            del snaps[next(iter(snaps))]
    items = snap[pos:pos + count]
    end = pos + len(items)
    if end >= len(snap):
        snaps.pop(sid, None)
        if not snaps:
            v.snaps = None
        return 0, items
    return (end << _SNAP_BITS) | sid, items


@command("scan", -2, "readonly", group=GEN, acl=("keyspace",), since="2.8.0",
         tips=("nondeterministic_output", "request_policy:special"),
         summary="Incrementally iterate the keys space",
         complexity="O(1) for every call. O(N) for a complete iteration")
def scan(c, argv):
    cursor = parse_cursor(argv[1])
    count, pat, typ = parse_scan_options(argv, 2, True)
    db = c.db
    cursor, found = db.scan(cursor, count)
    data = db.data
    out = []
    m = compile_glob(pat) if pat is not None else None
    for key in found:
        if key not in data:
            continue
        if m is not None and not m(key):
            continue
        if typ is not None:
            v = db.lookup(key, touch=False)
            if (b"none" if v is None else type_name(v)) != typ:
                continue
        if db.expires and key in db.expires and db.expire_if_needed(key):
            continue
        out.append(key)
    return scan_reply(cursor, out)


@command("randomkey", 1, "readonly", group=GEN, acl=("keyspace",),
         tips=ALL_SHARDS + ("nondeterministic_output",),
         summary="Return a random key from the keyspace", complexity="O(1)")
def randomkey(c, argv):
    return resp.bulk_or_null(c.db.random_key(), c.resp)


@command("dbsize", 1, "readonly fast", group="server", acl=("keyspace",),
         tips=ALL_SHARDS + ("response_policy:agg_sum",),
         summary="Return the number of keys in the selected database", complexity="O(1)")
def dbsize(c, argv):
    return resp.integer(len(c.db.data))


# -- FLUSHDB, FLUSHALL --------------------------------------------------------------------

def flush_option(c, argv: list[bytes]) -> bool:
    """FLUSHDB/FLUSHALL [ASYNC|SYNC]; True for async (the default follows
    lazyfree-lazy-user-flush)."""
    if len(argv) == 1:
        return bool(c.server.config["lazyfree-lazy-user-flush"])
    if len(argv) == 2:
        opt = argv[1].lower()
        if opt == b"async":
            return True
        if opt == b"sync":
            return False
    raise syntax()


_FLUSH_TIPS = ("request_policy:all_shards", "response_policy:all_succeeded")


@command("flushdb", -1, "write", group="server", acl=("keyspace", "dangerous"), tips=_FLUSH_TIPS,
         summary="Remove all keys from the current database",
         complexity="O(N) where N is the number of keys in the selected database")
def flushdb(c, argv):
    lazy = flush_option(c, argv)
    # A flush is propagated even when there was nothing to remove (dirty must move).
    c.server.dirty += c.db.flush(lazy) or 1
    if c.server.tracking is not None:
        c.server.tracking.invalidate_flush()
    return resp.OK


# Called after FLUSHALL with the server: persistence saves a fresh RDB when save points
# are configured and stops a running BGSAVE, as Redis does.
FLUSHALL_HOOKS: list = []


@command("flushall", -1, "write", group="server", acl=("keyspace", "dangerous"),
         tips=_FLUSH_TIPS, summary="Remove all keys from all databases",
         complexity="O(N) where N is the total number of keys in all databases")
def flushall(c, argv):
    lazy = flush_option(c, argv)
    srv = c.server
    n = 0
    for db in srv.dbs:
        n += db.flush(lazy)
    srv.dirty += n
    if srv.tracking is not None:
        srv.tracking.invalidate_flush()
    for hook in FLUSHALL_HOOKS:
        hook(srv)
    if srv.propagating:
        # forceCommandPropagation: logged also when nothing was removed or the save a
        # hook made reset `dirty` (a write propagates only when it grew: Client.execute)
        srv.propagate(c.db.id, argv)
        c.prop = []
    return resp.OK


# -- OBJECT -------------------------------------------------------------------------------

SHARED_INTEGERS = 10000
SHARED_REFCOUNT = 2147483647

_OBJ = dict(group=GEN, acl=("keyspace",), since="2.2.3", complexity="O(1)",
            keys=(2, 2, 1), tips=("nondeterministic_output",), key_specs=[spec("RO", pos=2)])


def _object_lookup(c, key: bytes):
    return c.db.lookup(key, touch=False, notify_miss=False)


@command("object|encoding", 3, "readonly", summary="Inspect the internal encoding of a Redis "
         "object", **_OBJ)
def object_encoding(c, argv):
    v = _object_lookup(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    return resp.bulk(encoding_name(v))


def _shared_int(c, v) -> bool:
    """Redis shares the objects of small integers unless an LRU/LFU policy needs a
    per-object access clock (and maxmemory is set)."""
    srv = c.server
    if type(v) is not bytes or not 0 < len(v) <= 4 or not v.isdigit():
        return False
    if len(v) > 1 and v[0] == 48:
        return False
    return int(v) < SHARED_INTEGERS and not (srv.maxmemory and c.db.lru is not None)


@command("object|refcount", 3, "readonly", summary="Get the number of references to the "
         "value of the key", **_OBJ)
def object_refcount(c, argv):
    v = _object_lookup(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    return resp.integer(SHARED_REFCOUNT if _shared_int(c, v) else 1)


@command("object|idletime", 3, "readonly", summary="Get the time since a Redis object was "
         "last accessed", **_OBJ)
def object_idletime(c, argv):
    """Seconds since the last access. Without an LRU/LFU policy no access clock is kept
    (see db.py), and every key reads as just used: 0."""
    key = argv[2]
    v = _object_lookup(c, key)
    if v is None:
        return resp.null(c.resp)
    srv = c.server
    if srv.lfu:
        raise CommandError(
            b"ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
            b"when switching between policies at runtime LRU and LFU data will take some time "
            b"to adjust.")
    lru = c.db.lru
    if lru is None:
        return resp.ZERO
    last = lru.get(key)
    return resp.integer(max(0, srv.lruclock - last) if last is not None else 0)


@command("object|freq", 3, "readonly", summary="Get the logarithmic access frequency counter "
         "of a Redis object", **{**_OBJ, "since": "4.0.0"})
def object_freq(c, argv):
    key = argv[2]
    v = _object_lookup(c, key)
    if v is None:
        return resp.null(c.resp)
    srv = c.server
    if not srv.lfu:
        raise CommandError(
            b"ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
            b"Please note that when switching between policies at runtime LRU and LFU data "
            b"will take some time to adjust.")
    lru = c.db.lru
    packed = lru.get(key) if lru is not None else None
    if packed is None:
        return resp.integer(LFU_INIT_VAL)
    return resp.integer(lfu_decr(packed, srv.config["lfu-decay-time"]))


_OBJECT_HELP = [
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
]


@command("object|help", 2, "loading stale", group=GEN, acl=("keyspace",), since="6.2.0",
         summary="Show helpful text about the different subcommands", complexity="O(1)")
def object_help(c, argv):
    return resp.help_reply("object", _OBJECT_HELP)

