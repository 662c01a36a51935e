"""DEBUG (debug.c): test hooks. Refused unless enable-debug-command is yes (or local and
the client is local), with Redis's exact error.

Persistence hooks (RELOAD, LOADAOF) call server.debug_reload_hook / loadaof_hook when the
persistence layer has installed them; until then they reply an error saying so."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from bocho import log, notify, resp
from bocho.commands import command
from bocho.config import on_apply, parse_memory
from bocho.db import TYPE_NAMES, encoding_name
from bocho.errors import CommandError
from bocho.util import parse_int

NOT_ALLOWED = (
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.")
NO_SUCH_KEY = b"ERR no such key"
NOT_POSITIVE = b"ERR value is out of range, must be positive"
SHARED_REFCOUNT = 2147483647

HELP = [
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
]


def _atoi(b: bytes) -> int:
    """C atoi: leading integer, 0 when none."""
    s = b.strip()
    i = 0
    if s[:1] in (b"-", b"+"):
        i = 1
    while i < len(s) and 48 <= s[i] <= 57:
        i += 1
    try:
        return int(s[:i])
    except ValueError:
        return 0


def _strtod(b: bytes) -> float:
    """C strtod: the longest leading number, 0 when none."""
    s = b.strip().decode("latin-1")
    for end in range(len(s), 0, -1):
        try:
            v = float(s[:end])
            return 0.0 if math.isnan(v) else v
        except ValueError:
            continue
    return 0.0


def allowed(c) -> bool:
    mode = c.server.config["enable-debug-command"]
    if mode == "yes":
        return True
    if mode == "local":
        return c.unix or c.peer_ip.startswith("127.") or c.peer_ip in ("::1", "unix") \
            or c.peer_ip.startswith("::ffff:127.")
    return False


# -- DIGEST ------------------------------------------------------------------------------
# Redis's algorithm: a key/value digest mixes (SHA1 chaining) ordered parts and xors
# unordered ones, so the same dataset gives the same digest whatever the encoding or
# iteration order, and bocho and Redis agree on plain data.

ZERO = bytes(20)
_TYPE_CODE = {b"string": 0, b"list": 1, b"set": 2, b"zset": 3, b"hash": 4, b"stream": 6}

# python type -> value -> its elements for the digest, by Redis TYPE: list: elements in
# order; set: members; hash: (field, value); zset: (member, score); stream:
# (ms, seq, [field, value, ...]) per entry. Types not registered are walked by duck
# typing (iteration, .items()).
DIGEST_ELEMENTS: dict[type, Callable[[Any], Iterable]] = {}


def register_digest(cls: type, elements: Callable[[Any], Iterable]) -> None:
    DIGEST_ELEMENTS[cls] = elements


def _xor(d: bytes, data: bytes) -> bytes:
    h = hashlib.sha1(data).digest()
    return (int.from_bytes(d, "big") ^ int.from_bytes(h, "big")).to_bytes(20, "big")


def _mix(d: bytes, data: bytes) -> bytes:
    return hashlib.sha1(_xor(d, data)).digest()


def _b(e) -> bytes:
    t = type(e)
    if t is bytes:
        return e
    if t is bytearray or t is memoryview:
        return bytes(e)
    if t is int:
        return b"%d" % e
    if t is float:
        return b"%.17g" % e
    if t is str:
        return e.encode()
    return bytes(e)


def _score(s) -> bytes:
    s = float(s)
    if math.isinf(s):
        return b"inf" if s > 0 else b"-inf"
    return b"%.17g" % s


def _zset_items(v):
    for attr in ("dict", "scores", "members"):
        d = getattr(v, attr, None)
        if isinstance(d, dict):
            return d.items()
    items = getattr(v, "items", None)
    return items() if items is not None else ()


def _stream_entries(v):
    """(ms, seq, [field, value, ...]) per entry, if the stream type lets us see them."""
    fn = getattr(v, "digest_entries", None) or getattr(v, "entries", None)
    if fn is None:
        return ()
    it = fn() if callable(fn) else fn
    if isinstance(it, dict):
        it = it.items()
    out = []
    for ent in it:
        sid, fields = ent[0], ent[1]
        ms, seq = (sid if isinstance(sid, tuple) else (sid >> 64, sid & (2**64 - 1)))
        flat = []
        if isinstance(fields, dict):
            for f, x in fields.items():
                flat += [f, x]
        else:
            flat = list(fields)
        out.append((ms, seq, flat))
    return out


def value_digest(db, key: bytes, v, d: bytes = ZERO) -> bytes:
    """xorObjectDigest: mix the value of `key` into d."""
    tname = TYPE_NAMES.get(type(v), b"none")
    d = _mix(d, struct.pack(">I", _TYPE_CODE.get(tname, 5)))
    custom = DIGEST_ELEMENTS.get(type(v))
    if tname == b"string":
        d = _mix(d, bytes(v))
    elif tname == b"list":
        for e in (custom(v) if custom else v):
            d = _mix(d, _b(e))
    elif tname == b"set":
        for e in (custom(v) if custom else v):
            d = _xor(d, _b(e))
    elif tname == b"zset":
        for m, s in (custom(v) if custom else _zset_items(v)):
            ed = _mix(_mix(ZERO, _b(m)), _score(s))
            d = _xor(d, ed)
    elif tname == b"hash":
        for f, x in (custom(v) if custom else v.items()):
            ed = _mix(_mix(ZERO, _b(f)), _b(x))
            d = _xor(d, ed)
    elif tname == b"stream":
        for ms, seq, flat in (custom(v) if custom else _stream_entries(v)):
            d = _mix(d, b"%d.%d" % (ms, seq))
            for part in flat:
                d = _mix(d, _b(part))
    if key in db.expires:
        d = _xor(d, b"!!expire!!")
    return d


_H_STRING = int.from_bytes(hashlib.sha1(struct.pack(">I", 0)).digest(), "big")
_H_EXPIRE = int.from_bytes(hashlib.sha1(b"!!expire!!").digest(), "big")


def dataset_digest(server) -> bytes:
    """computeDatasetDigest. Strings, the bulk of most datasets, take an inlined path
    (the same arithmetic as value_digest, with the xors done on ints)."""
    sha1 = hashlib.sha1
    fb = int.from_bytes
    final = ZERO
    for db in server.dbs:
        data = db.data
        if not data:
            continue
        final = _mix(final, struct.pack(">I", db.id))
        acc = fb(final, "big")
        expires = db.expires
        for key, v in data.items():
            t = type(v)
            if t is bytes or t is bytearray:
                d = sha1(sha1(key).digest()).digest()  # mix(ZERO, key)
                d = sha1((fb(d, "big") ^ _H_STRING).to_bytes(20, "big")).digest()
                di = fb(d, "big") ^ fb(sha1(v).digest(), "big")
                di = fb(sha1(di.to_bytes(20, "big")).digest(), "big")
                if expires and key in expires:
                    di ^= _H_EXPIRE
            else:
                di = fb(value_digest(db, key, v, _mix(ZERO, key)), "big")
            acc ^= fb(sha1(di.to_bytes(20, "big")).digest(), "big")
        final = acc.to_bytes(20, "big")
    return final


# -- OBJECT -----------------------------------------------------------------------------

def _len_prefix(n: int) -> int:
    return 1 if n < 64 else 2 if n < 16384 else 5 if n < 2**32 else 9


def _ser_len(e) -> int:
    b = _b(e)
    if len(b) <= 11:
        try:
            i = int(b)
            if b == b"%d" % i:
                return 2 if -128 <= i < 128 else 3 if -32768 <= i < 32768 else \
                    5 if -2**31 <= i < 2**31 else len(b) + 1
        except ValueError:
            pass
    return _len_prefix(len(b)) + len(b)


def serialized_length(v) -> int:
    """An estimate of the value's RDB length (rdbSavedObjectLen)."""
    tname = TYPE_NAMES.get(type(v), b"none")
    if tname == b"string":
        return _ser_len(v)
    try:
        n = len(v)
    except TypeError:
        return 1
    total = _len_prefix(n)
    if tname == b"hash":
        for f, x in v.items():
            total += _ser_len(f) + _ser_len(x)
    elif tname == b"zset":
        for m, _s in _zset_items(v):
            total += _ser_len(m) + 8
    elif tname in (b"list", b"set"):
        for e in v:
            total += _ser_len(e)
    else:
        total += 16 * n
    return total


def _shared_int(c, v) -> bool:
    """Redis shares small integer objects unless an LRU/LFU policy needs per-object clocks."""
    if type(v) is not bytes or not 0 < len(v) <= 4 or not v.isdigit():
        return False
    if len(v) > 1 and v[0] == 48:
        return False
    return int(v) < 10000 and not (c.server.maxmemory and c.db.lru is not None)


def debug_object(c, key: bytes) -> bytes:
    db = c.db
    v = db.data.get(key)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    srv = c.server
    enc = encoding_name(v).decode()
    lru = db.lru
    clock = srv.lruclock & 0xFFFFFF
    last = lru.get(key) if lru is not None else None
    if last is None or srv.lfu:
        lru_val, idle = clock, 0
    else:
        lru_val, idle = last & 0xFFFFFF, max(0, srv.lruclock - last)
    extra = ""
    if enc == "quicklist":
        n = len(v)
        fill = srv.config["list-max-listpack-size"]
        per = fill if fill > 0 else 128
        nodes = max(1, -(-n // per))
        size = sum(len(_b(e)) + 2 for e in v) if n < 100000 else n * 8
        extra = (f" ql_nodes:{nodes} ql_avg_node:{n / nodes:.2f} ql_listpack_max:{fill} "
                 f"ql_compressed:{int(srv.config['list-compress-depth'] != 0)} "
                 f"ql_uncompressed_size:{size}")
    refcount = SHARED_REFCOUNT if _shared_int(c, v) else 1
    # Strings are immutable bytes, replaced on every write; Redis modifies an unshared
    # int-encoded string in place (INCR), so its address stays. The key's slot is the
    # stable thing here: strings report an address derived from it.
    addr = id(v) if type(v) is not bytes else (id(db) ^ hash(key)) & 0x7FFFFFFFFFF8
    line = (f"Value at:0x{addr:x} refcount:{refcount} encoding:{enc} "
            f"serializedlength:{serialized_length(v)} lru:{lru_val} "
            f"lru_seconds_idle:{idle}{extra}")
    return resp.simple(line.encode())


# -- HTSTATS ----------------------------------------------------------------------------

def _ht_stats(n: int, label: str = "main hash table", child: bool = False) -> str:
    """What Redis's dictGetStats reports; a Python dict has no chains, so every used
    slot holds one element. While a fork child runs, Redis grows a table only past 5
    elements per slot (dict_force_resize_ratio): the size stays at the power of two
    below n."""
    if n == 0:
        return f"Hash table 0 stats ({label}):\nNo stats available for empty dictionaries\n"
    size = 4
    while size < n:
        size <<= 1
    if child and size > n and size // 2 >= 4 and n <= (size // 2) * 5:
        size //= 2
    slots = min(n, size)
    empty = size - slots
    chain = n / slots
    return (f"Hash table 0 stats ({label}):\n"
            f" table size: {size}\n"
            f" number of elements: {n}\n"
            f" different slots: {slots}\n"
            f" max chain length: {-(-n // slots)}\n"
            f" avg chain length (counted): {chain:.2f}\n"
            f" avg chain length (computed): {chain:.2f}\n"
            f" Chain length distribution:\n"
            f"   0: {empty} ({empty * 100 / size:.2f}%)\n"
            f"   1: {slots} ({slots * 100 / size:.2f}%)\n")


# -- the command ------------------------------------------------------------------------

def _unknown(argv) -> CommandError:
    return CommandError("ERR unknown subcommand or wrong number of arguments for '{}'. "
                        "Try DEBUG HELP.".format(argv[1].decode(errors="replace")[:128]))


def _populate(c, argv) -> bytes:
    try:
        count = int(argv[2])
    except ValueError:
        raise CommandError(b"ERR value is not an integer or out of range") from None
    if count < 0:
        raise CommandError(NOT_POSITIVE)
    prefix = argv[3] if len(argv) >= 4 else b"key"
    size = 0
    if len(argv) == 5:
        try:
            size = int(argv[4])
        except ValueError:
            raise CommandError(b"ERR value is not an integer or out of range") from None
        if size < 0:
            raise CommandError(NOT_POSITIVE)
    db = c.db
    data = db.data
    # db.add's extra work (access clock, WATCH, "new" events) only when something needs it
    add = db.add if (db.lru is not None or db.watched
                     or c.server.notify_flags & notify.NEW) else data.__setitem__
    for j in range(count):
        key = b"%s:%d" % (prefix, j)
        if key in data and db.exists(key):
            continue
        val = b"value:%d" % j
        if size:
            val = val[:size] + bytes(max(0, size - len(val)))
        add(key, val)
    return resp.OK


def _protocol(c, name: bytes) -> bytes:
    r3 = c.resp == 3
    n = name.lower()
    if n == b"string":
        return resp.bulk(b"Hello World")
    if n == b"integer":
        return resp.integer(12345)
    if n == b"double":
        return resp.double(3.141, c.resp)
    if n == b"bignum":
        return resp.big_number(1234567999999999999999999999999999999, c.resp)
    if n == b"null":
        return resp.null(c.resp)
    if n == b"array":
        return b"*3\r\n:0\r\n:1\r\n:2\r\n"
    if n == b"set":
        return resp.set_header(3, c.resp) + b":0\r\n:1\r\n:2\r\n"
    if n == b"map":
        return resp.map_header(3, c.resp) + b"".join(
            resp.integer(j) + resp.boolean(j == 1, c.resp) for j in range(3))
    if n == b"attrib":
        head = (b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" if r3 else b"")
        return head + resp.bulk(b"Some real reply following the attribute")
    if n == b"push":
        if not r3:
            raise CommandError(b"ERR RESP2 is not supported by this command")
        return (b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n"
                + resp.bulk(b"Some real reply following the push reply"))
    if n == b"true":
        return resp.boolean(True, c.resp)
    if n == b"false":
        return resp.boolean(False, c.resp)
    if n == b"verbatim":
        return resp.verbatim(b"This is a verbatim\nstring", c.resp)
    raise CommandError(b"ERR Wrong protocol type name. Please use one of the following: "
                       b"string|integer|double|bignum|null|array|set|map|attrib|push|"
                       b"verbatim|true|false")


def _restart(c, delay_ms: int, graceful: bool) -> None:
    """RESTART / CRASH-AND-RECOVER: exec ourselves again with the same arguments."""
    srv = c.server
    if graceful:
        rewrite = getattr(srv.config, "rewrite", None)
        if srv.config_file and rewrite is not None:
            try:
                rewrite(srv.config_file)
            except Exception as e:
                log.warning(f"Could not rewrite config before restart: {e}")
        if srv.save_hook is not None and not srv.save_hook():
            raise CommandError(b"ERR failed to restart the server. Check server logs.")
    for s in srv.servers:
        s.close()
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    log.logger.reopen()
    try:
        os.execv(sys.executable, [sys.executable] + sys.argv)
    except OSError as e:
        log.warning(f"Can't restart: execve: {e.strerror}")
    raise CommandError(b"ERR failed to restart the server. Check server logs.")


# DEBUG <sub> <0|1> switches: the Server attribute each one sets.
_FLAG_SUBS = {
    b"set-active-expire": "debug_active_expire",
    b"pause-cron": "cron_paused",
    b"set-skip-checksum-validation": "skip_checksum_validation",
    b"set-disable-deny-scripts": "script_disable_deny_script",
}


@command("debug", -2, "admin noscript loading stale", group="server",
         acl=("admin", "dangerous"), summary="A container for debugging commands",
         complexity="Depends on subcommand.")
def debug(c, argv):
    if not allowed(c):
        raise CommandError(NOT_ALLOWED)
    srv = c.server
    sub = argv[1].lower()
    n = len(argv)
    if sub == b"help" and n == 2:
        return resp.help_reply("debug", HELP)
    if sub == b"sleep" and n == 3:
        secs = _strtod(argv[2])
        if secs > 0:
            time.sleep(secs)
        return resp.OK
    flag = _FLAG_SUBS.get(sub)
    if flag is not None and n == 3:
        setattr(srv, flag, bool(_atoi(argv[2])))
        return resp.OK
    if sub == b"object" and n == 3:
        return debug_object(c, argv[2])
    if sub == b"populate" and 3 <= n <= 5:
        return _populate(c, argv)
    if sub == b"digest" and n == 2:
        return resp.simple(dataset_digest(srv).hex().encode())
    if sub == b"digest-value":
        out = [resp.array_header(n - 2)]
        for key in argv[2:]:
            v = c.db.data.get(key)
            d = value_digest(c.db, key, v) if v is not None else ZERO
            out.append(resp.simple(d.hex().encode()))
        return b"".join(out)
    if sub == b"protocol" and n == 3:
        return _protocol(c, argv[2])
    if sub == b"log" and n == 3:
        log.warning("DEBUG LOG: " + argv[2].decode(errors="replace"))
        return resp.OK
    if sub == b"leak" and n == 3:
        return resp.OK
    if sub == b"error" and n == 3:
        return b"-" + argv[2].replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
    if sub == b"quicklist-packed-threshold" and n == 3:
        sz = parse_memory(argv[2].decode("latin-1"))
        if sz is None or sz < 0 or sz > (1 << 32) - (1 << 20):
            raise CommandError(b"ERR argument must be a memory value bigger than 1 and "
                               b"smaller than 4gb")
        srv.quicklist_packed_threshold = sz or (1 << 30)
        return resp.OK
    if sub == b"aof-flush-sleep" and n == 3:
        srv.aof_flush_sleep = _atoi(argv[2])
        return resp.OK
    if sub == b"drop-cluster-packet-filter" and n == 3:
        srv.cluster_drop_packet_filter = parse_int(argv[2])
        return resp.OK
    if sub == b"replybuffer" and n == 4:
        opt = argv[2].lower()
        if opt == b"peak-reset-time":
            val = argv[3].lower()
            if val == b"never":
                srv.reply_buffer_peak_reset_time = -1
            elif val == b"reset":
                srv.reply_buffer_peak_reset_time = 5000
            else:
                srv.reply_buffer_peak_reset_time = parse_int(argv[3])
        elif opt == b"resizing":
            srv.reply_buffer_resizing_enabled = bool(_atoi(argv[3]))
        else:
            raise _unknown(argv)
        return resp.OK
    if sub == b"change-repl-id" and n == 2:
        log.warning("Changing replication IDs after receiving DEBUG change-repl-id")
        hook = getattr(srv, "change_replication_id", None)
        if hook is not None:
            hook()
        return resp.OK
    if sub == b"replicate" and n >= 3:
        hook = getattr(srv, "feed_replicas_only", None)
        if hook is not None:
            hook(c.db.id, list(argv[2:]))
        return resp.OK
    if sub == b"htstats" and n == 3:
        dbid = parse_int(argv[2])
        if not 0 <= dbid < len(srv.dbs):
            raise CommandError(b"ERR Out of range database")
        db = srv.dbs[dbid]
        child = getattr(srv, "child_type", None) is not None
        text = ("[Dictionary HT]\n" + _ht_stats(len(db.data), child=child)
                + "[Expires HT]\n" + _ht_stats(len(db.expires), child=child))
        return resp.verbatim(text.encode(), c.resp)
    if sub == b"htstats-key" and n == 3:
        v = c.db.data.get(argv[2])
        if v is None:
            raise CommandError(NO_SUCH_KEY)
        if encoding_name(v) not in (b"hashtable", b"skiplist"):
            raise CommandError(b"ERR The value stored at the specified key is not "
                               b"represented using an hash table")
        return resp.verbatim(_ht_stats(len(v)).encode(), c.resp)
    if sub == b"sdslen" and n == 3:
        v = c.db.data.get(argv[2])
        if v is None:
            raise CommandError(NO_SUCH_KEY)
        if TYPE_NAMES.get(type(v)) != b"string" or encoding_name(v) == b"int":
            raise CommandError(b"ERR Not an sds encoded string.")
        k = argv[2]
        line = (f"key_sds_len:{len(k)}, key_sds_avail:0, key_zmalloc: {len(k) + 4}, "
                f"val_sds_len:{len(v)}, val_sds_avail:0, val_zmalloc: {len(v) + 4}")
        return resp.simple(line.encode())
    if sub in (b"listpack", b"quicklist") and (n == 3 or (sub == b"quicklist" and n == 4)):
        v = c.db.data.get(argv[2])
        if v is None:
            raise CommandError(NO_SUCH_KEY)
        if encoding_name(v) != sub:
            raise CommandError(f"ERR Not a {sub.decode()} encoded object.")
        sys.stdout.write(f"{sub.decode()} of {len(v)} entries\n")
        return resp.simple(b"%s structure printed on stdout" % sub.capitalize())
    if sub == b"structsize" and n == 2:
        return resp.bulk(b"bits:64 robj:16 dictentry:24 sdshdr5:1 sdshdr8:3 sdshdr16:5 "
                         b"sdshdr32:9 sdshdr64:17 ")
    if sub == b"stringmatch-test" and n == 2:
        _stringmatch_fuzz()
        return resp.simple(b"Apparently Redis did not crash: test passed")
    if sub == b"client-eviction" and n == 2:
        if not srv.config["maxmemory-clients"]:
            raise CommandError(b"ERR maxmemory-clients is disabled.")
        return resp.verbatim(b"bucket          0 - all: tot-mem: 0, clients: %d\n"
                             % len(srv.clients), c.resp)
    if sub == b"config-rewrite-force-all" and n == 2:
        rewrite = getattr(srv.config, "rewrite", None)
        if rewrite is None or not srv.config_file:
            raise CommandError(b"ERR CONFIG-REWRITE-FORCE-ALL failed: no config file")
        try:
            rewrite(srv.config_file, force_all=True)
        except TypeError:
            rewrite(srv.config_file)
        except OSError as e:
            raise CommandError(f"ERR CONFIG-REWRITE-FORCE-ALL failed: {e.strerror}") from None
        return resp.OK
    if sub == b"reload":
        opts = {a.lower() for a in argv[2:]}
        if opts - {b"merge", b"noflush", b"nosave"}:
            raise CommandError(b"ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and "
                               b"NOSAVE options.")
        hook = getattr(srv, "debug_reload_hook", None)
        if hook is None:
            raise CommandError(b"ERR DEBUG RELOAD is not available: RDB persistence is not "
                               b"implemented yet")
        hook(c, opts)
        log.warning("DB reloaded by DEBUG RELOAD")
        return resp.OK
    if sub == b"loadaof":
        hook = getattr(srv, "loadaof_hook", None)
        if hook is None:
            raise CommandError(b"ERR DEBUG LOADAOF is not available: AOF persistence is not "
                               b"implemented yet")
        hook(c)
        srv.dirty = 0
        log.warning("Append Only File loaded by DEBUG LOADAOF")
        return resp.OK
    if sub in (b"restart", b"crash-and-recover"):
        delay = parse_int(argv[2]) if n >= 3 else 0
        _restart(c, max(0, delay), sub == b"restart")
        return None
    if sub == b"oom":
        return resp.OK  # a Python process cannot be made to fail an allocation on demand
    if sub == b"segfault":
        from bocho.crash import crash
        c.flush()
        crash(srv, signal.SIGSEGV, "Crashed by DEBUG SEGFAULT")
    if sub in (b"panic", b"assert"):
        from bocho.crash import crash
        if sub == b"panic":
            log.warning(f"Guru Meditation: DEBUG PANIC called at Unix time {int(time.time())}")
        else:
            log.warning("=== ASSERTION FAILED ===")
            log.warning("==> debug.c '1 == 2' is not true")
        crash(srv, signal.SIGABRT)
    raise _unknown(argv)


def _stringmatch_fuzz() -> None:
    """Random patterns against random strings: the matcher must neither crash nor hang."""
    import random

    from bocho.glob import stringmatch
    alphabet = b"*?[]^-\\ab"
    for _ in range(2000):
        pat = bytes(random.choice(alphabet) for _ in range(random.randint(0, 12)))
        s = bytes(random.choice(alphabet) for _ in range(random.randint(0, 12)))
        stringmatch(pat, s, bool(random.getrandbits(1)))


# -- the software watchdog (watchdog-period) ---------------------------------------------------
# A one-shot SIGALRM the cron pushes back each time it runs: when the server is stuck (a
# slow command, a load: Redis's cron does not run while it loads) for longer than the
# period, it fires and logs where the main thread is.

def _watchdog_expired(signum: int, frame: Any) -> None:
    import traceback
    log.warning("\n--- WATCHDOG TIMER EXPIRED ---")
    for entry in traceback.format_stack(frame):
        for line in entry.rstrip().splitlines():
            log.warning(line)
    log.warning("--------\n")


def _watchdog_schedule(period_ms: int) -> None:
    signal.setitimer(signal.ITIMER_REAL, period_ms / 1000)


def _watchdog_cron(srv: Any) -> None:
    period = srv.config["watchdog-period"]
    if period and not srv.loading:
        _watchdog_schedule(period)


@on_apply("watchdog-period")
def _apply_watchdog(srv: Any) -> None:
    """applyWatchdogPeriod: at least two cron periods, or off (and SIGALRM ignored)."""
    cfg = srv.config
    if not cfg["watchdog-period"]:
        _watchdog_schedule(0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        return
    signal.signal(signal.SIGALRM, _watchdog_expired)
    least = (1000 // max(1, cfg["hz"])) * 2
    if cfg["watchdog-period"] < least:
        cfg["watchdog-period"] = least
    if not any(getattr(h, "func", None) is _watchdog_cron for h in srv.hooks_on_cron):
        import functools
        srv.hooks_on_cron.append(functools.partial(_watchdog_cron, srv))
    _watchdog_schedule(cfg["watchdog-period"])
