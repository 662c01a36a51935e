"""The RDB file format (rdb.c): a whole dataset to a file and back, and one value to a
DUMP payload and back.

File: "REDIS" + 4-digit version, AUX fields, the function libraries, then per non-empty
database SELECTDB + RESIZEDB and its keys ([EXPIRETIME_MS] [IDLE|FREQ] type key value),
EOF and the CRC-64 of everything before it (zero when rdbchecksum is off).

Value codecs are registered per type, so each type's module (or the codec module next
to it) owns its encoding:
- SAVERS[python class](buf, value, compress) appends the value's payload to buf and
  returns its RDB type byte (the caller has already written the type slot and the key);
- LOADERS[rdb type](reader, ctx) reads one value and returns it (raising RdbError or
  ValueError on malformed input).

save() writes to any binary file object (snapshot.py does the temp file, fsync and
rename); load() reads a whole file's bytes into the server's databases."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from bocho import log
from bocho.persistence import rdbio
from bocho.persistence.rdbio import (
    OPCODE_AUX,
    OPCODE_EOF,
    OPCODE_EXPIRETIME,
    OPCODE_EXPIRETIME_MS,
    OPCODE_FREQ,
    OPCODE_FUNCTION2,
    OPCODE_FUNCTION_PRE_GA,
    OPCODE_IDLE,
    OPCODE_MODULE_AUX,
    OPCODE_RESIZEDB,
    OPCODE_SELECTDB,
    RDB_VERSION,
    TYPE_STRING,
    EmptyKeyError,
    RdbError,
    Reader,
    Writer,
    put_len,
    put_str,
)

if TYPE_CHECKING:
    from bocho.server import Server

REDIS_VER = b"7.0.15"

SAVERS: dict[type, Callable[[bytearray, Any, bool], int]] = {}
LOADERS: dict[int, Callable[[Reader, LoadContext], Any]] = {}


class LoadContext:
    """What a value loader may consult: the encoding limits of the current config (a
    loaded value is encoded as the running config says, as Redis converts on load) and
    whether to check payloads deeply (sanitize-dump-payload)."""

    __slots__ = ("config", "deep", "server")

    def __init__(self, server: Server | None, config: dict, deep: bool = False) -> None:
        self.server = server
        self.config = config
        self.deep = deep


def register(cls: type, saver: Callable[[bytearray, Any, bool], int],
             loaders: dict[int, Callable[[Reader, LoadContext], Any]]) -> None:
    SAVERS[cls] = saver
    LOADERS.update(loaders)


# -- strings ---------------------------------------------------------------------------------

def _save_string(buf: bytearray, v, compress: bool) -> int:
    put_str(buf, v, compress)
    return TYPE_STRING


def _load_string(r: Reader, ctx: LoadContext) -> bytes:
    return r.string()


register(bytes, _save_string, {TYPE_STRING: _load_string})
SAVERS[bytearray] = _save_string


def save_value(buf: bytearray, value: Any, compress: bool) -> int:
    saver = SAVERS.get(type(value))
    if saver is None:
        raise TypeError(f"no RDB encoding for {type(value).__name__}")
    return saver(buf, value, compress)


def load_value(r: Reader, rdbtype: int, ctx: LoadContext) -> Any:
    loader = LOADERS.get(rdbtype)
    if loader is None:
        raise RdbError(f"Unknown RDB encoding type {rdbtype}", r.pos - 1)
    try:
        return loader(r, ctx)
    except (ValueError, IndexError, KeyError) as e:
        raise RdbError(f"Bad value of RDB type {rdbtype}: {e}", r.pos) from None


# -- DUMP / RESTORE payloads ----------------------------------------------------------------

def dump(value: Any, compress: bool = True) -> bytes:
    """A DUMP payload: type, value, RDB version, CRC-64."""
    buf = bytearray(b"\x00")
    buf[0] = save_value(buf, value, compress)
    return rdbio.dump_footer(bytes(buf))


def undump(payload: bytes, ctx: LoadContext, verify_crc: bool = True) -> Any:
    """The value of a DUMP payload; RdbError when the footer or the body is bad."""
    if not rdbio.check_dump_footer(payload, verify_crc):
        raise RdbError("DUMP payload version or checksum are wrong")
    # As Redis, the value is read from the whole payload: a value that runs into the
    # footer is read from its bytes, bytes left before the footer are ignored.
    r = Reader(payload, 0, len(payload))
    return load_value(r, r.byte(), ctx)


# -- whole files -----------------------------------------------------------------------------

def _aux(buf: bytearray, key: bytes, value: bytes) -> None:
    buf.append(OPCODE_AUX)
    put_str(buf, key, False)
    put_str(buf, value, False)


def aux_fields(srv: Server, rsi: dict[bytes, bytes] | None) -> list[tuple[bytes, bytes]]:
    """rdbSaveInfoAuxFields: what Redis 7.0 writes ahead of the data. used-mem is the
    cached estimate: measuring it afresh lists every key, which in a forked child would
    copy every page holding one (a BGSAVE refreshes it in the parent before forking)."""
    from bocho.memory import used_memory
    fields = [(b"redis-ver", REDIS_VER), (b"redis-bits", b"64"),
              (b"ctime", b"%d" % int(time.time())),
              (b"used-mem", b"%d" % used_memory(srv, refresh=False))]
    if rsi:
        fields += list(rsi.items())
    fields.append((b"aof-base", b"0"))
    return fields


def save(srv: Server, f: BinaryIO, rsi: dict[bytes, bytes] | None = None,
         aof_base: bool = False, progress: Callable[[int], None] | None = None,
         every: int = 1024) -> int:
    """rdbSaveRio: the whole dataset to f. Returns the number of keys written.
    progress(keys written so far) is called after every `every` keys (snapshot.py uses it
    for rdb-key-save-delay and a child's progress reports)."""
    cfg = srv.config
    compress = cfg["rdbcompression"]
    rdb_types.configure(srv)
    w = Writer(f, cfg["rdbchecksum"])
    buf = w.buf
    buf += b"REDIS%04d" % RDB_VERSION
    for k, v in aux_fields(srv, rsi):
        _aux(buf, k, b"1" if aof_base and k == b"aof-base" else v)
    _save_functions(srv, buf, compress)
    policy = cfg["maxmemory-policy"]
    save_lru = policy.endswith("lru")
    save_lfu = policy.endswith("lfu")
    keys = 0
    now_ms = int(time.time() * 1000)
    for db in srv.dbs:
        data = db.data
        if not data:
            continue
        expires = db.expires
        lru = db.lru if (save_lru or save_lfu) else None
        buf.append(OPCODE_SELECTDB)
        put_len(buf, db.id)
        buf.append(OPCODE_RESIZEDB)
        put_len(buf, len(data))
        put_len(buf, len(expires))
        if _compiled is not None and lru is None:
            # the same bytes, walked in C with borrowed references (_rdbfast.pyx)
            keys += _compiled.save_keys(w, data, expires, compress, save_value, progress,
                                        every, keys)
            continue
        for key, value in data.items():
            if expires:
                when = expires.get(key)
                if when is not None:
                    buf.append(OPCODE_EXPIRETIME_MS)
                    buf += when.to_bytes(8, "little", signed=True)
            if lru is not None:
                meta = lru.get(key)
                if meta is not None:
                    if save_lru:
                        buf.append(OPCODE_IDLE)
                        put_len(buf, max(0, srv.lruclock - meta))
                    else:
                        buf.append(OPCODE_FREQ)
                        buf.append(_lfu_count(meta, now_ms))
            slot = len(buf)
            buf.append(0)
            put_str(buf, key, compress)
            buf[slot] = save_value(buf, value, compress)
            keys += 1
            if len(buf) >= Writer.FLUSH_AT:
                w.flush()
            if progress is not None and keys % every == 0:
                progress(keys)
    w.finish()
    return keys


def _lfu_count(meta: int, now_ms: int) -> int:
    return meta & 0xFF


def _save_functions(srv: Server, buf: bytearray, compress: bool) -> None:
    reg = getattr(srv, "functions", None)
    if reg is None:
        return
    for lib in reg.libraries.values():
        buf.append(OPCODE_FUNCTION2)
        put_str(buf, lib.code, compress)


class LoadResult:
    __slots__ = ("keys_loaded", "keys_expired", "empty_keys", "aux", "version", "functions",
                 "end")

    def __init__(self) -> None:
        self.keys_loaded = 0
        self.keys_expired = 0
        self.empty_keys = 0  # empty containers skipped (Redis logs the first 10)
        self.aux: dict[bytes, bytes] = {}
        self.version = 0
        self.functions: list[bytes] = []
        self.end = 0  # offset after the file's EOF opcode and checksum


def check_header(data) -> int:
    """The RDB version of a file's header; RdbError when it is not an RDB file."""
    if len(data) < 9 or bytes(data[:5]) != b"REDIS":
        raise RdbError("Wrong signature trying to load DB from file", 0)
    try:
        version = int(bytes(data[5:9]))
    except ValueError:
        raise RdbError("Wrong signature trying to load DB from file", 0) from None
    if version < 1 or version > RDB_VERSION + 1:
        raise RdbError(f"Can't handle RDB format version {version}", 5)
    return version


def load(srv: Server | None, data, *, expire: bool = True, allow_dup: bool = False,
         progress: Callable[[int], None] | None = None,
         on_key: Callable[[int, bytes, Any, int, int | None], None] | None = None,
         verify_crc: bool = True, deep: bool | None = None,
         trace: Callable[[str, int, Any], None] | None = None,
         every: int = 1024,
         on_expired: Callable[[int, bytes], None] | None = None) -> LoadResult:
    """rdbLoad: a whole file's bytes into srv's databases (which the caller has emptied
    unless merging). Keys already expired are dropped when `expire` (a master's load).
    on_key(dbid, key, value, expire_ms, lru_meta) replaces storing (bocho-check-rdb uses
    it with srv None). progress(offset) is called after every `every` keys. deep forces
    the deep payload checks on or off (default: sanitize-dump-payload yes). trace(what, offset,
    arg) follows the reading step by step for bocho-check-rdb: ("type", None) before
    each opcode or type byte, ("op", opcode or type),
    ("aux", (field, value)), ("db", id), ("key", key), ("eof", None). on_expired(dbid,
    key) hears of each key dropped as expired (a master restarting with its replication
    history puts their DELs in the backlog). Raises RdbError."""
    ld = Loader(srv, expire=expire, allow_dup=allow_dup, progress=progress, on_key=on_key,
                verify_crc=verify_crc, deep=deep, trace=trace, every=every,
                on_expired=on_expired)
    ld.feed(data, final=True)
    return ld.res


class Loader:
    """The one RDB reader, fed as the bytes come: feed(chunk) stores every record the
    bytes so far complete (a replica's diskless load parses the master's payload as it
    arrives, as rdbLoad reading from the socket does), feed(rest, final=True) the last
    bytes. A record cut by the end of what was fed is read again, whole, once more bytes
    came (a failure before the final bytes is taken for a cut, not for bad data).
    dbs: the databases to fill (a swapdb load fills fresh ones while clients read the
    old); load_functions False leaves res.functions for the caller to install."""

    def __init__(self, srv: Server | None, *, dbs: list | None = None, expire: bool = True,
                 allow_dup: bool = False, progress: Callable[[int], None] | None = None,
                 on_key: Callable[[int, bytes, Any, int, int | None], None] | None = None,
                 verify_crc: bool = True, deep: bool | None = None,
                 trace: Callable[[str, int, Any], None] | None = None, every: int = 1024,
                 load_functions: bool = True,
                 on_expired: Callable[[int, bytes], None] | None = None) -> None:
        self.srv = srv
        self.dbs = dbs if dbs is not None else (srv.dbs if srv is not None else None)
        self.expire = expire
        self.allow_dup = allow_dup
        self.progress = progress
        self.on_key = on_key
        self.on_expired = on_expired
        self.verify_crc = verify_crc
        self.trace = trace
        self.every = every
        self.load_functions = load_functions
        self.ctx = LoadContext(srv, srv.config if srv is not None else _default_limits(),
                               deep=_deep_sanitize(srv) if deep is None else deep)
        self.res = LoadResult()
        self.done = False
        self.buf = b""  # holds the bytes not read yet, from self.off
        self.chunks: list = []  # fed since the last attempt
        self.pending = 0  # bytes in buf + chunks
        self.retry_at = 0  # a cut record: wait until this many bytes are pending
        self.base = 0  # the payload offset of buf[0]
        self.off = 0  # where the unread bytes of buf start
        self.crc = 0  # of the bytes before buf[off]
        self.started = False
        self.cut = False
        # the state between records: the db selected, the expire/LRU/LFU read ahead of a key
        self.db = self.dbs[0] if self.dbs is not None else None
        self.dbid = 0
        self.expire_ms = -1
        self.lru_idle: int | None = None
        self.lfu_freq: int | None = None
        self.n_since = 0

    def add(self, data) -> None:
        """More bytes, read by the next feed."""
        self.chunks.append(data)
        self.pending += len(data)

    def feed(self, data, final: bool = False, budget: int = -1) -> bool:
        """Read what data completes; True once the file's end was read. budget >= 0:
        stop after about that many bytes (the rest waits for the next feed, possibly of
        b""), so the caller can serve its clients in between. RdbError when the bytes
        are bad, or when the final bytes end inside a record."""
        if data:
            self.add(data)
        if self.done or (not final and self.pending < self.retry_at):
            return self.done
        if self.chunks:
            rest = self.buf[self.off:] if self.off else self.buf  # (unread: mostly small)
            self.base += self.off
            self.off = 0
            if rest or len(self.chunks) > 1:
                self.buf = bytes(rest) + b"".join(self.chunks)
            else:
                self.buf = self.chunks[0]
            self.chunks = []
        data = self.buf
        pos = self.off
        if not self.started:
            if len(data) < 9 and not final:
                self.retry_at = 9
                return False
            self.res.version = check_header(data)
            self.started = True
            pos = 9
        self.cut = False
        try:
            pos = self._records(data, pos, final, budget)
        except RdbError as e:
            if e.offset >= 0:
                e.offset += self.base
            raise
        if self.done:
            self.buf = b""
            self.base += self.off
            self.off = self.pending = 0
            return True
        if final and (budget < 0 or pos >= len(data)):
            raise RdbError("Unexpected EOF reading RDB file", self.base + pos)
        if self.verify_crc and pos > self.off:
            self.crc = rdbio.crc64(memoryview(data)[self.off:pos], self.crc)
        self.off = pos  # (the buffer is not cut here: a whole file is read in place)
        self.pending = len(data) - pos
        # a cut record is read again once the bytes pending have doubled (linear overall)
        self.retry_at = 2 * self.pending if self.cut else 0
        return False

    @property
    def offset(self) -> int:
        """The payload's bytes read so far."""
        return self.base + self.off

    def more(self) -> bool:
        """Whether feed(b"") could read more now (a budget stopped it short)."""
        return not self.done and self.pending > 0 and self.pending >= self.retry_at

    def _records(self, data, pos: int, final: bool, budget: int) -> int:
        """Read records of data from pos; the position after the last one read whole."""
        srv = self.srv
        res = self.res
        ctx = self.ctx
        trace = self.trace
        on_key = self.on_key
        on_expired = self.on_expired
        progress = self.progress
        every = self.every
        expire = self.expire
        allow_dup = self.allow_dup
        base = self.base
        # (the final bytes are read to their end: a short file fails inside a read)
        stop = (len(data) + final) if budget < 0 else min(len(data), pos + budget)
        r = Reader(data, pos)
        db = self.db
        dbid = self.dbid
        expire_ms = self.expire_ms
        lru_idle = self.lru_idle
        lfu_freq = self.lfu_freq
        n_since = self.n_since
        now_ms = int(time.time() * 1000)
        # plain string records in C (_rdbfast.pyx), which stops at anything else
        fast = (_compiled.load_strings if _compiled is not None and srv is not None
                and on_key is None and trace is None and on_expired is None
                and not srv.config["key-load-delay"] else None)
        start = pos
        try:
            while start < stop:
                if fast is not None and expire_ms == -1 and lru_idle is None \
                        and lfu_freq is None and db.lru is None:
                    r.pos, n, x = fast(data, r.pos, r.end, db.data, db.expires, now_ms,
                                       expire,
                                       every - n_since if progress is not None else every)
                    res.keys_loaded += n
                    res.keys_expired += x
                    n_since += n + x
                    start = r.pos
                    if progress is not None and n_since >= every:
                        n_since = 0
                        progress(base + r.pos)
                    if start >= stop:
                        break
                if trace is not None:
                    trace("type", r.pos, None)
                op = r.byte()
                if trace is not None:
                    trace("op", r.pos, op)
                if op == OPCODE_EXPIRETIME_MS:
                    expire_ms = r.millis()
                    start = r.pos
                    continue
                if op == OPCODE_EXPIRETIME:
                    expire_ms = int.from_bytes(r.take(4), "little", signed=True) * 1000
                    start = r.pos
                    continue
                if op == OPCODE_IDLE:
                    lru_idle = r.length()
                    start = r.pos
                    continue
                if op == OPCODE_FREQ:
                    lfu_freq = r.byte()
                    start = r.pos
                    continue
                if op == OPCODE_EOF:
                    if trace is not None:
                        trace("eof", r.pos, None)
                    if res.version >= 5:
                        end = r.pos
                        stored = int.from_bytes(r.take(8), "little")
                        if self.verify_crc and stored and stored != rdbio.crc64(
                                memoryview(data)[self.off:end], self.crc):
                            raise RdbError("Wrong RDB checksum", end)
                    start = r.pos
                    res.end = base + start
                    self.done = True
                    break
                if op == OPCODE_SELECTDB:
                    at = r.pos
                    n = r.length()
                    if srv is not None:
                        if n >= len(self.dbs):
                            raise RdbError(f"FATAL: Data file was created with a Redis server "
                                           f"configured to handle more than {len(self.dbs)} "
                                           f"databases. Exiting", at)
                        db = self.dbs[n]
                    dbid = n
                    if trace is not None:
                        trace("db", r.pos, dbid)
                    start = r.pos
                    continue
                if op == OPCODE_RESIZEDB:
                    r.length()
                    r.length()
                    start = r.pos
                    continue
                if op == OPCODE_AUX:
                    k = r.string()
                    v = r.string()
                    res.aux[k] = v
                    if trace is not None:
                        trace("aux", r.pos, (k, v))
                    start = r.pos
                    continue
                if op == OPCODE_MODULE_AUX:
                    raise RdbError("The RDB file contains AUX module data I can't load: "
                                   "no matching module", r.pos)
                if op == OPCODE_FUNCTION2:
                    res.functions.append(r.string())
                    start = r.pos
                    continue
                if op == OPCODE_FUNCTION_PRE_GA:
                    raise RdbError("Pre-release function format not supported.", r.pos)
                key = r.string()
                if trace is not None:
                    trace("key", r.pos, key)
                try:
                    value = load_value(r, op, ctx)
                except EmptyKeyError:
                    res.empty_keys += 1
                    if res.empty_keys <= 10:
                        log.warning("rdbLoadObject skipping empty key: "
                                    + key.decode("utf-8", "backslashreplace"))
                    expire_ms = -1
                    lru_idle = lfu_freq = None
                    start = r.pos
                    continue
                if on_key is not None:
                    on_key(dbid, key, value, expire_ms,
                           lru_idle if lfu_freq is None else lfu_freq)
                elif expire and expire_ms != -1 and expire_ms < now_ms:
                    res.keys_expired += 1
                    if on_expired is not None:
                        on_expired(dbid, key)
                else:
                    _store(db, key, value, expire_ms, lru_idle, lfu_freq, allow_dup, r.pos)
                    res.keys_loaded += 1
                expire_ms = -1
                lru_idle = lfu_freq = None
                start = r.pos
                n_since += 1
                if progress is not None and n_since >= every:
                    n_since = 0
                    progress(base + r.pos)
        except (RdbError, ValueError, IndexError) as e:
            if final or (isinstance(e, RdbError) and e.message.startswith(
                    ("Wrong RDB checksum", "FATAL", "The RDB file contains", "Pre-release",
                     "RDB has duplicated"))):
                raise
            self.cut = True  # by the end of the bytes fed so far: read again once come
        finally:
            self.db, self.dbid, self.n_since = db, dbid, n_since
            self.expire_ms, self.lru_idle, self.lfu_freq = expire_ms, lru_idle, lfu_freq
        if self.done and srv is not None and res.functions and self.load_functions:
            _load_functions(srv, res.functions, self.allow_dup)
        return start


def _store(db, key: bytes, value: Any, expire_ms: int, idle: int | None,
           freq: int | None, allow_dup: bool, pos: int) -> None:
    data = db.data
    if key in data:
        if not allow_dup:
            raise RdbError(f"RDB has duplicated key '{key.decode('latin-1')}' in DB "
                           f"{db.id}", pos)
        db.delete(key)
    data[key] = value
    if expire_ms != -1:
        db.expires[key] = expire_ms
    if db.lru is not None:
        if idle is not None:
            db.set_idle(key, idle)
        elif freq is not None:
            db.set_freq(key, freq)
        else:
            db.touch(key, new=True)


def _load_functions(srv: Server, codes: list[bytes], allow_dup: bool = False) -> None:
    """The libraries; one already loaded is an error unless allow_dup (DEBUG RELOAD
    MERGE), as functionsCreateWithLibraryCtx."""
    from bocho.commands.functions import registry
    reg = registry(srv)
    for code in codes:
        try:
            reg.create(code, allow_dup, 0)
        except Exception as e:  # noqa: BLE001 - the library's own compile error
            msg = getattr(e, "msg", None)
            reason = msg.decode(errors="replace") if isinstance(msg, bytes) else str(e)
            if reason.startswith("ERR "):
                reason = reason[4:]
            raise RdbError(f"Failed loading library, {reason}") from None


def _deep_sanitize(srv: Server | None) -> bool:
    return srv is not None and srv.config["sanitize-dump-payload"] == "yes"


def _default_limits():
    from bocho.config import Config
    return Config()


# The other types' codecs register themselves; imported last since they use register().
from bocho.persistence import rdb_stream, rdb_types  # noqa: E402,F401,I001


def _compiled_saver():
    """bocho/_rdbfast.pyx (save_keys, load_strings) when it is built and BOCHO_PURE is
    not set. It also takes over the common case of two hot readers (Reader.string and
    rdb_types.lp_text), handing every other case to the Python ones."""
    if os.environ.get("BOCHO_PURE", "") not in ("", "0"):
        return None
    try:
        from bocho import _rdbfast
    except ImportError:
        return None
    Reader.string = _rdbfast.string_of(Reader.string)
    rdb_types.lp_text = _rdbfast.lp_text_of(rdb_types.lp_text)
    return _rdbfast


_compiled = _compiled_saver()
