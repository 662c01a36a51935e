"""DUMP, RESTORE, RESTORE-ASKING and MIGRATE: one value as a DUMP payload (the RDB
serialisation of the value, the RDB version and a CRC-64, bocho/persistence/rdb.py) and
back, and moving keys to another server with those payloads.

RESTORE follows Redis 7.0's order of checks, since each error text is observable:
options, then the existing key (BUSYKEY), then the TTL, then the payload's footer, then
its body. A payload that does not load changes nothing. How deeply a payload is checked
is sanitize-dump-payload's business: "yes" always, "clients" for every client except
our master and users with skip-sanitize-payload, "no" never (the codecs still refuse
what they cannot decode).

MIGRATE talks to the target with a plain blocking socket, as Redis does: every connect,
write and read is bounded by the command's timeout, so the event loop waits at most
that long. Connections are cached per host:port and closed by the cron after 10 s
unused."""

from __future__ import annotations

import socket
import time

from bocho import clock, log, notify, resp
from bocho.commands import command
from bocho.commands.keys import _server_del, spec
from bocho.errors import CommandError, syntax
from bocho.network import F_MASTER
from bocho.persistence import rdb, rdbio
from bocho.util import parse_int

BUSYKEY = b"BUSYKEY Target key name already exists."
BAD_FOOTER = b"ERR DUMP payload version or checksum are wrong"
BAD_DATA = b"ERR Bad data format"

_RESTORE_COMPLEXITY = (
    "O(1) to create the new key and additional O(N*M) to reconstruct the serialized "
    "value, where N is the number of Redis objects composing the value and M their "
    "average size. For small string values the time complexity is thus O(1)+O(1*M) "
    "where M is small, so simply O(1). However for sorted set values the complexity is "
    "O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")


# -- DUMP ------------------------------------------------------------------------------------

@command("dump", 2, "readonly", keys=(1, 1, 1), acl=("keyspace",), since="2.6.0",
         tips=("nondeterministic_output",), key_specs=[spec("RO access")],
         summary="Return a serialized version of the value stored at the specified key.",
         complexity="O(1) to access the key and additional O(N*M) to serialize it, where "
                    "N is the number of Redis objects composing the value and M their "
                    "average size. For small string values the time complexity is thus "
                    "O(1)+O(1*M) where M is small, so simply O(1).")
def dump(c, argv):
    v = c.db.lookup_read(argv[1])
    if v is None:
        return resp.null(c.resp)
    return resp.bulk(rdb.dump(v, c.server.config["rdbcompression"]))


# -- RESTORE ---------------------------------------------------------------------------------

def deep_check(c) -> bool:
    """Whether this client's payloads get the deep integrity check."""
    srv = c.server
    mode = srv.config["sanitize-dump-payload"]
    if mode != "clients":
        return mode == "yes"
    if srv.loading or c.flags & F_MASTER:
        return False
    user = srv.acl.get_user(c.user)
    return user is None or "skip-sanitize-payload" not in user.flags


def load_payload(c, payload: bytes):
    """The value of a DUMP payload, or the error reply RESTORE gives for it."""
    srv = c.server
    if not rdbio.check_dump_footer(payload, not getattr(srv, "skip_checksum_validation",
                                                        False)):
        raise CommandError(BAD_FOOTER)
    ctx = rdb.LoadContext(srv, srv.config, deep_check(c))
    try:
        return rdb.undump(payload, ctx, verify_crc=False)
    except Exception as e:  # noqa: BLE001 - any failure of a codec is a bad payload
        msg = e.message if isinstance(e, rdbio.RdbError) else f"{type(e).__name__}: {e}"
        off = getattr(e, "offset", -1)
        log.verbose(f"Internal error in RDB reading offset {max(off, 0)}, "
                    f"function at rdb.py -> {msg}")
        raise CommandError(BAD_DATA) from None


def _restore_options(argv) -> tuple[bool, bool, int, int]:
    replace = absttl = False
    idle = freq = -1
    i, n = 4, len(argv)
    while i < n:
        opt = argv[i].lower()
        more = n - i - 1
        if opt == b"replace":
            replace = True
        elif opt == b"absttl":
            absttl = True
        elif opt == b"idletime" and more and freq == -1:
            i += 1
            idle = parse_int(argv[i])
            if idle < 0:
                raise CommandError(b"ERR Invalid IDLETIME value, must be >= 0")
        elif opt == b"freq" and more and idle == -1:
            i += 1
            freq = parse_int(argv[i])
            if not 0 <= freq <= 255:
                raise CommandError(b"ERR Invalid FREQ value, must be >= 0 and <= 255")
        else:
            raise syntax()
        i += 1
    return replace, absttl, idle, freq


def restore(c, argv):
    replace, absttl, idle, freq = _restore_options(argv)
    db = c.db
    srv = c.server
    key = argv[1]
    if not replace and db.lookup_write(key) is not None:
        raise CommandError(BUSYKEY)
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise CommandError(b"ERR Invalid TTL value, must be >= 0")
    value = load_payload(c, argv[3])
    deleted = False
    if replace and key in db.data:
        _server_del(db, key)
        deleted = True
    now = clock.mstime()
    if ttl and not absttl:
        ttl += now
    if ttl and ttl <= now and not srv.loading and not srv.is_replica_of_master():
        # Born expired: nothing is created; a replaced key is simply deleted.
        if deleted:
            c.prop = [[b"DEL", key]]
            srv.notify(notify.GENERIC, b"del", key, db.id)
            srv.dirty += 1
        return resp.OK
    db.add(key, value)
    if ttl:
        db.set_expire(key, ttl)
        if not absttl:  # replicas and the AOF get the absolute time
            c.prop = [[argv[0], key, b"%d" % ttl, *argv[3:], b"ABSTTL"]]
    if freq >= 0:
        db.set_freq(key, freq)
    elif idle >= 0:
        db.set_idle(key, idle)
    srv.notify(notify.GENERIC, b"restore", key, db.id)
    srv.dirty += 1
    return resp.OK


command("restore", -4, "write denyoom", keys=(1, 1, 1), acl=("keyspace", "dangerous"),
        since="2.6.0", key_specs=[spec("OW update")], complexity=_RESTORE_COMPLEXITY,
        summary="Create a key using the provided serialized value, previously obtained "
                "using DUMP.")(restore)
command("restore-asking", -4, "write denyoom asking", keys=(1, 1, 1), group="server",
        acl=("keyspace", "dangerous"), since="3.0.0", key_specs=[spec("OW update")],
        complexity=_RESTORE_COMPLEXITY,
        summary="An internal command for migrating keys in a cluster")(restore)


def _set_doc_flags() -> None:
    from bocho.commands import TABLE
    TABLE[b"restore-asking"].doc_flags = ("syscmd",)


_set_doc_flags()


# -- MIGRATE ---------------------------------------------------------------------------------

CACHE_ITEMS = 64
CACHE_TTL = 10


class _Cached:
    """A connection to a migration target: socket, the db last SELECTed there (-1 for
    unknown), when it was last used, and reply bytes read ahead."""

    __slots__ = ("sock", "last_dbid", "last_use", "pending")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.last_dbid = -1
        self.last_use = time.time()
        self.pending = b""

    def read_line(self, timeout: float) -> bytes:
        """One reply line (without CRLF); TimeoutError or OSError on failure."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line.rstrip(b"\r")

    def write(self, data: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            sent = self.sock.send(view[:65536])
            view = view[sent:]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _cache(srv) -> dict[bytes, _Cached]:
    cache = getattr(srv, "migrate_sockets", None)
    if cache is None:
        cache = srv.migrate_sockets = {}
        srv.hooks_on_cron.append(lambda: close_idle(srv))
    return cache


def close_idle(srv) -> None:
    """migrateCloseTimedoutSockets, from the cron."""
    cache = getattr(srv, "migrate_sockets", None)
    if not cache:
        return
    now = time.time()
    for name, cs in list(cache.items()):
        if now - cs.last_use > CACHE_TTL:
            cs.close()
            del cache[name]


def _get_socket(srv, host: bytes, port: bytes, timeout: float) -> _Cached | None:
    cache = _cache(srv)
    name = host + b":" + port
    cs = cache.get(name)
    if cs is not None:
        cs.last_use = time.time()
        return cs
    if len(cache) >= CACHE_ITEMS:
        victim = next(iter(cache))
        cache.pop(victim).close()
    try:
        sock = socket.create_connection((host.decode("latin-1"), int(port)),
                                        timeout=timeout)
    except (OSError, ValueError, OverflowError):
        return None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cs = cache[name] = _Cached(sock)
    return cs


def _close_socket(srv, host: bytes, port: bytes) -> None:
    cs = _cache(srv).pop(host + b":" + port, None)
    if cs is not None:
        cs.close()


def _bulk(buf: bytearray, s: bytes) -> None:
    buf += b"$%d\r\n" % len(s)
    buf += s
    buf += b"\r\n"


def migrate_keys(argv: list[bytes]) -> list[int]:
    """migrateGetKeys: argv[3], or what follows KEYS when argv[3] is empty."""
    i = 6
    n = len(argv)
    skip = {b"auth": 1, b"auth2": 2}
    while i < n:
        opt = argv[i].lower()
        if opt == b"keys":
            if argv[3]:
                return []
            return list(range(i + 1, n))
        i += skip.get(opt, 0) + 1
    return [3]


def _migrate_options(argv):
    copy = replace = False
    user = password = None
    first, nkeys = 3, 1
    i, n = 6, len(argv)
    while i < n:
        opt = argv[i].lower()
        more = n - 1 - i
        if opt == b"copy":
            copy = True
        elif opt == b"replace":
            replace = True
        elif opt == b"auth":
            if not more:
                raise syntax()
            i += 1
            password = argv[i]
        elif opt == b"auth2":
            if more < 2:
                raise syntax()
            user, password = argv[i + 1], argv[i + 2]
            i += 2
        elif opt == b"keys":
            if argv[3]:
                raise CommandError(b"ERR When using MIGRATE KEYS option, the key argument "
                                   b"must be set to the empty string")
            first, nkeys = i + 1, n - i - 1
            break
        else:
            raise syntax()
        i += 1
    return copy, replace, user, password, first, nkeys


@command("migrate", -6, "write", keys=(3, 3, 1), acl=("keyspace", "dangerous"),
         since="2.6.0", tips=("nondeterministic_output",), getkeys=migrate_keys,
         key_specs=[spec("RW access delete", pos=3),
                    {"flags": ["RW", "access", "delete", "incomplete"],
                     "begin_search": {"keyword": {"keyword": "KEYS", "startfrom": -2}},
                     "find_keys": {"range": {"lastkey": -1, "step": 1, "limit": 0}}}],
         summary="Atomically transfer a key from a Redis instance to another one.",
         complexity="This command actually executes a DUMP+DEL in the source instance, "
                    "and a RESTORE in the target instance. See the pages of these commands "
                    "for time complexity. Also an O(N) data transfer between the two "
                    "instances is performed.")
def migrate(c, argv):
    copy, replace, user, password, first, nkeys = _migrate_options(argv)
    timeout_ms = parse_int(argv[5])
    dbid = parse_int(argv[4])
    if timeout_ms <= 0:
        timeout_ms = 1000
    timeout = timeout_ms / 1000
    db = c.db
    srv = c.server
    keys = [k for k in argv[first:first + nkeys] if db.lookup_read(k) is not None]
    if not keys:
        return b"+NOKEY\r\n"
    host, port = argv[1], argv[2]
    restore_name = b"RESTORE-ASKING" if srv.config["cluster-enabled"] else b"RESTORE"
    compress = srv.config["rdbcompression"]
    may_retry = True
    while True:
        cs = _get_socket(srv, host, port, timeout)
        if cs is None:
            raise CommandError(b"IOERR error or timeout connecting to the client")
        buf = bytearray()
        if password is not None:
            buf += b"*3\r\n" if user is not None else b"*2\r\n"
            _bulk(buf, b"AUTH")
            if user is not None:
                _bulk(buf, user)
            _bulk(buf, password)
        select = cs.last_dbid != dbid
        if select:
            buf += b"*2\r\n"
            _bulk(buf, b"SELECT")
            _bulk(buf, b"%d" % dbid)
        sent = []
        for k in keys:
            ttl = 0
            when = db.get_expire(k)
            if when != -1:
                ttl = when - clock.mstime()
                if ttl < 0:
                    continue
                ttl = max(ttl, 1)
            v = db.peek(k)
            if v is None:
                continue
            sent.append(k)
            buf += b"*5\r\n" if replace else b"*4\r\n"
            _bulk(buf, restore_name)
            _bulk(buf, k)
            _bulk(buf, b"%d" % ttl)
            _bulk(buf, rdb.dump(v, compress))
            if replace:
                _bulk(buf, b"REPLACE")
        failed = _exchange(c, cs, bytes(buf), sent, password is not None, select, copy,
                           timeout)
        if failed is None:
            cs.last_dbid = dbid
            return resp.OK
        error, no_retry, writing, broken = failed
        if broken:
            _close_socket(srv, host, port)
        if error is not None:
            raise CommandError(b"ERR Target instance replied with error: " + error)
        if may_retry and not no_retry:
            may_retry = False
            continue
        raise CommandError(b"IOERR error or timeout %s to target instance"
                           % (b"writing" if writing else b"reading"))


def _read_line(cs: _Cached, timeout: float) -> tuple[bytes | None, bool]:
    """(reply line, False), or (None, whether it timed out)."""
    try:
        return cs.read_line(timeout), False
    except TimeoutError:
        return None, True
    except OSError:
        return None, False


def _exchange(c, cs: _Cached, request: bytes, keys: list[bytes], auth: bool, select: bool,
              copy: bool, timeout: float):
    """Send the request, read the AUTH/SELECT/RESTORE replies, delete what the target
    acknowledged (unless COPY; MIGRATE then propagates as DEL of those keys). None on
    success, else (the target's first error text or None, whether retrying is out,
    whether it failed writing, whether the connection is broken).
    An I/O failure before any RESTORE reply, not a timeout, may be retried by the
    caller on a fresh connection."""
    try:
        cs.write(request, timeout)
    except TimeoutError:
        return None, True, True, True
    except OSError:
        return None, False, True, True
    auth_reply = select_reply = b""
    if auth:
        auth_reply, timed_out = _read_line(cs, timeout)
        if auth_reply is None:
            return None, timed_out, False, True
    if select:
        select_reply, timed_out = _read_line(cs, timeout)
        if select_reply is None:
            return None, timed_out, False, True
    db = c.db
    srv = c.server
    deleted: list[bytes] = []
    error = None
    failed = None
    for j, k in enumerate(keys):
        line, timed_out = _read_line(cs, timeout)
        if line is None:
            failed = (error, timed_out or j > 0, False, True)
            break
        if auth_reply[:1] == b"-" or select_reply[:1] == b"-" or line[:1] == b"-":
            if error is None:
                cs.last_dbid = -1
                src = (auth_reply if auth_reply[:1] == b"-" else
                       select_reply if select_reply[:1] == b"-" else line)
                error = src[1:]
        elif not copy:
            _server_del(db, k)
            srv.notify(notify.GENERIC, b"del", k, db.id)
            srv.dirty += 1
            deleted.append(k)
    if deleted:
        c.prop = [[b"DEL", *deleted]]
        if (failed is not None or error is not None) and srv.propagating:
            # MIGRATE replies an error but the keys it moved are gone all the same:
            # their DEL leaves now (Client.execute propagates nothing for an error)
            srv.propagate(db.id, [b"DEL", *deleted])
    if failed is not None:
        return failed
    if error is not None:
        return error, True, False, False
    return None
