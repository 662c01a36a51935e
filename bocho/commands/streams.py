"""Stream commands (t_stream.c): XADD, XTRIM, XRANGE/XREVRANGE, XLEN, XDEL, XREAD,
XREADGROUP, XSETID, and the helpers the consumer-group commands (stream_groups.py: XGROUP,
XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO) share with them.

The value is bocho.types.stream.Stream (see its docstring for the layout). Writes leave
in Redis 7.0's deterministic forms (Client.execute propagates c.prop when set): XADD with
the ID it assigned and an approximate trim rewritten as an exact one; XREADGROUP as one
XCLAIM ... FORCE JUSTID LASTID per delivered entry, plus XGROUP SETID / XGROUP
CREATECONSUMER where XCLAIM cannot carry the change (NOACK reads). XREAD/XREADGROUP
BLOCK wait through bocho/blocking.py."""

from __future__ import annotations

from bocho import blocking, clock, notify, resp
from bocho.commands import command
from bocho.commands.strings import key_spec
from bocho.errors import CommandError, syntax, wrong_args, wrongtype
from bocho.network import F_MASTER
from bocho.types.stream import (
    INVALID,
    MASK,
    MAX_ID,
    Consumer,
    Group,
    Nack,
    Stream,
    id_bulk,
    id_str,
)
from bocho.util import parse_int

GRP = "stream"
ACL = ("stream",)
NOTIFY_STREAM = notify.STREAM
U64 = 1 << 64
INVALID_ID = b"ERR Invalid stream ID specified as stream command argument"
NULL_BULK = resp.NULL_BULK
BULK_HDR = resp.BULK_HDR
CRLF = resp.CRLF
NULL3 = resp.NULL3
EMPTY_ARRAY = resp.EMPTY_ARRAY
XREAD_BLOCKED_DEFAULT_COUNT = 1000


# -- IDs -----------------------------------------------------------------------------------

def _ull(b: bytes) -> int | None:
    """Redis's string2ull: a strict int64 first (negatives refused), else strtoull's
    leniency (leading spaces, a sign, leading zeros; "-n" wraps), within 64 bits."""
    if b.isdigit() and b"%d" % int(b) == b and int(b) < U64:
        return int(b)
    s = b.lstrip(b" \t\n\v\f\r")
    sign = s[:1]
    digits = s[1:] if sign in (b"-", b"+") else s
    if not digits or not digits.isdigit():
        return None
    v = int(digits)
    if v >= U64:
        return None
    if sign == b"-":
        if b == b"-%d" % v and 0 < v <= 1 << 63:
            return None  # a canonical negative int64: string2ll took it, out of range
        return (-v) % U64
    return v


def parse_id(arg: bytes, missing_seq: int = 0, strict: bool = False,
             seq_star: bool = False) -> tuple[int, bool]:
    """streamGenericParseIDOrReply -> (id, seq_given). "-"/"+" unless strict; with
    seq_star the "<ms>-*" form gives seq_given False."""
    if len(arg) > 127:
        raise CommandError(INVALID_ID)
    if arg == b"-" or arg == b"+":
        if strict:
            raise CommandError(INVALID_ID)
        return (0 if arg == b"-" else MAX_ID), True
    dash = arg.find(b"-")
    if dash < 0:
        ms = _ull(arg)
        if ms is None:
            raise CommandError(INVALID_ID)
        return (ms << 64) | missing_seq, True
    ms = _ull(arg[:dash])
    tail = arg[dash + 1:]
    if ms is None:
        raise CommandError(INVALID_ID)
    if seq_star and tail == b"*":
        return ms << 64, False
    seq = _ull(tail)
    if seq is None:
        raise CommandError(INVALID_ID)
    return (ms << 64) | seq, True


def parse_strict(arg: bytes) -> int:
    return parse_id(arg, 0, True)[0]


def parse_interval(arg: bytes, missing_seq: int) -> tuple[int, bool]:
    """streamParseIntervalIDOrReply -> (id, exclusive)."""
    if len(arg) > 1 and arg[0] == 40:  # "("
        return parse_id(arg[1:], missing_seq, True)[0], True
    return parse_id(arg, missing_seq)[0], False


def range_bounds(start_arg: bytes, end_arg: bytes) -> tuple[int, int]:
    start, ex = parse_interval(start_arg, 0)
    if ex:
        if start == MAX_ID:
            raise CommandError(b"ERR invalid start ID for the interval")
        start += 1
    end, ex = parse_interval(end_arg, MASK)
    if ex:
        if end == 0:
            raise CommandError(b"ERR invalid end ID for the interval")
        end -= 1
    return start, end


# -- shared helpers --------------------------------------------------------------------------

def read_stream(c, key: bytes) -> Stream | None:
    v = c.db.lookup_read(key)
    if v is None or type(v) is Stream:
        return v
    raise wrongtype()


def write_stream(c, key: bytes) -> Stream | None:
    v = c.db.lookup_write(key)
    if v is None or type(v) is Stream:
        return v
    raise wrongtype()


def entry_reply(sid: int, enc: bytes) -> bytes:
    """An entry's reply: what the stream stores for it."""
    return enc


def entries_reply(items: list) -> bytes:
    n = len(items)
    hdr = resp.array_header(n)
    if n == 1:
        return hdr + items[0][1]
    return hdr + b"".join([v for _sid, v in items])


def null(c) -> bytes:
    return NULL3 if c.resp == 3 else NULL_BULK


def null_array(c) -> bytes:
    return NULL3 if c.resp == 3 else resp.NULL_ARRAY


def event(c, name: bytes, key: bytes) -> None:
    srv = c.server
    if srv.notify_flags & NOTIFY_STREAM:
        srv.notify(NOTIFY_STREAM, name, key, c.db.id)


def modified(c, key: bytes) -> None:
    db = c.db
    if db.watched:
        db.signal_modified(key)


def signal_ready(c, key: bytes) -> None:
    """Wake clients blocked on key (XREAD/XREADGROUP BLOCK) after an in-place change."""
    if key in c.db.blocking:
        blocking.signal_key_as_ready(c.db, key)


def nogroup(key: bytes, group: bytes, tail: str = "") -> CommandError:
    return CommandError(b"NOGROUP No such key '%s' or consumer group '%s'%s"
                        % (key, group, tail.encode()))


def get_group(s: Stream | None, name: bytes) -> Group | None:
    if s is None or not s.groups:
        return None
    return s.groups.get(name)


def create_consumer(c, g: Group, name: bytes, key: bytes) -> Consumer | None:
    """streamCreateConsumer (dirty and the event included); None if it exists."""
    if name in g.consumers:
        return None
    cons = Consumer(name)
    g.consumers[name] = cons
    c.server.dirty += 1
    event(c, b"xgroup-createconsumer", key)
    return cons


def lookup_consumer(g: Group, name: bytes, refresh: bool = True) -> Consumer | None:
    cons = g.consumers.get(name)
    if cons is not None and refresh:
        cons.seen_time = clock.mstime()
    return cons


def xclaim_argv(key: bytes, group: bytes, g: Group, sid_arg: bytes, nack: Nack) -> list:
    """streamPropagateXCLAIM: the idempotent form of a PEL change."""
    return [b"XCLAIM", key, group, nack.consumer.name, b"0", sid_arg, b"TIME",
            b"%d" % nack.delivery_time, b"RETRYCOUNT", b"%d" % nack.delivery_count,
            b"FORCE", b"JUSTID", b"LASTID", id_str(g.last_id)]


def setid_argv(key: bytes, group: bytes, g: Group) -> list:
    return [b"XGROUP", b"SETID", key, group, id_str(g.last_id), b"ENTRIESREAD",
            b"%d" % g.entries_read]


# -- XADD / XTRIM ----------------------------------------------------------------------------

class TrimArgs:
    __slots__ = ("maxlen", "minid", "approx", "limit", "arg_idx", "nomkstream", "id",
                 "id_given", "seq_given")

    def __init__(self) -> None:
        self.maxlen = None
        self.minid = None
        self.approx = False
        self.limit = 0
        self.arg_idx = 0
        self.nomkstream = False
        self.id = 0
        self.id_given = False
        self.seq_given = True


_CONFLICT = b"ERR syntax error, MAXLEN and MINID options at the same time are not compatible"


def parse_add_trim(c, argv: list[bytes], xadd: bool) -> tuple[TrimArgs, int]:
    """streamParseAddOrTrimArgsOrReply -> (args, position of the ID for XADD)."""
    a = TrimArgs()
    n = len(argv)
    i = 2
    limit_given = False
    strategy = False
    while i < n:
        more = n - 1 - i
        opt = argv[i]
        if xadd and opt == b"*":
            break
        lo = opt.lower()
        if lo == b"maxlen" and more:
            if strategy:
                raise CommandError(_CONFLICT)
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            v = parse_int(argv[i + 1])
            if v < 0:
                raise CommandError(b"ERR The MAXLEN argument must be >= 0.")
            a.maxlen = v
            i += 1
            strategy = True
            a.arg_idx = i
        elif lo == b"minid" and more:
            if strategy:
                raise CommandError(_CONFLICT)
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            a.minid = parse_strict(argv[i + 1])
            i += 1
            strategy = True
            a.arg_idx = i
        elif lo == b"limit" and more:
            v = parse_int(argv[i + 1])
            if v < 0:
                raise CommandError(b"ERR The LIMIT argument must be >= 0.")
            a.limit = v
            limit_given = True
            i += 1
        elif xadd and lo == b"nomkstream":
            a.nomkstream = True
        elif xadd:
            a.id, a.seq_given = parse_id(opt, 0, True, True)
            a.id_given = True
            break
        else:
            raise syntax()
        i += 1
    if a.limit and not strategy:
        raise CommandError(b"ERR syntax error, LIMIT cannot be used without specifying a "
                           b"trimming strategy")
    if not xadd and not strategy:
        raise CommandError(b"ERR syntax error, XTRIM must be called with a trimming strategy")
    if c.flags & F_MASTER:
        a.limit = 0  # the master's (or AOF's) trims are exact already
    elif limit_given:
        if not a.approx:
            raise CommandError(b"ERR syntax error, LIMIT cannot be used without the special "
                               b"~ option")
    elif a.approx:
        lim = 100 * c.server.config["stream-node-max-entries"]
        if lim <= 0:
            lim = 10000
        a.limit = min(lim, 1000000)
    else:
        a.limit = 0
    return a, i


def do_trim(s: Stream, a: TrimArgs) -> int:
    return s.trim(a.maxlen, a.minid, a.approx, a.limit)


def rewrite_trim(s: Stream, a: TrimArgs, argv: list[bytes]) -> None:
    """An approximate (or LIMITed) trim propagates as the exact one it amounted to."""
    argv[a.arg_idx - 1] = b"="
    if a.maxlen is not None:
        argv[a.arg_idx] = b"%d" % s.length
    else:
        first = s.first_entry(skip_tombstones=False)
        argv[a.arg_idx] = id_str(MAX_ID if first is None else first)


@command("xadd", -5, "write denyoom fast", keys=(1, 1, 1), group=GRP, acl=ACL,
         since="5.0.0", summary="Appends a new entry to a stream",
         complexity="O(1) when adding a new entry, O(N) when trimming where N being the "
                    "number of entries evicted.", tips=("nondeterministic_output",),
         key_specs=[key_spec("RW update", notes="UPDATE instead of INSERT because of the "
                                                 "optional trimming feature")])
def xadd(c, argv):
    if argv[2] == b"*" and len(argv) == 5:
        r = _xadd_common(c, argv)
        if r is not None:
            return r
    if argv[2] == b"*" and len(argv) & 1:
        a = None
        idpos = 2
    else:
        a, idpos = parse_add_trim(c, argv, True)
    nf = len(argv) - idpos - 1
    if nf < 2 or nf & 1:
        raise wrong_args("xadd")
    if a is not None and a.id_given and a.seq_given and a.id == 0:
        raise CommandError(b"ERR The ID specified in XADD must be greater than 0-0")
    db = c.db
    key = argv[1]
    s = db.lookup_write(key)
    if s is None:
        if a is not None and a.nomkstream:
            return null(c)
        s = Stream()
        db.add(key, s)
    elif type(s) is not Stream:
        raise wrongtype()
    last = s.last_id
    if last == MAX_ID:
        raise CommandError(b"ERR The stream has exhausted the last possible ID, unable to "
                           b"add more items")
    if a is None or not a.id_given:
        ms = clock.mstime()
        sid = ms << 64 if ms > last >> 64 else last + 1
    elif a.seq_given:
        sid = a.id
    elif last >> 64 == a.id >> 64:
        if last & MASK == MASK:
            raise CommandError(b"ERR Elements are too large to be stored")
        sid = last + 1
    else:
        sid = a.id
    if sid <= last:
        raise CommandError(b"ERR The ID specified in XADD is equal or smaller than the "
                           b"target stream top item")
    srv = c.server
    vals = srv.config.values
    idb = b"%d-%d" % (sid >> 64, sid & MASK)
    s.append(sid, argv[idpos + 1:], vals["stream-node-max-bytes"],
             vals["stream-node-max-entries"], idb)
    _added(c, db, srv, key)
    if a is None:
        if srv.propagating:  # the ID it was given, for replicas and the AOF
            rewritten = list(argv)
            rewritten[2] = idb
            c.prop = [rewritten]
    else:
        rewritten = None
        if a.maxlen is not None or a.minid is not None:
            if do_trim(s, a):
                event(c, b"xtrim", key)
            if a.approx:
                rewritten = list(argv)
                rewrite_trim(s, a, rewritten)
        if not a.id_given or not a.seq_given:
            if rewritten is None:
                rewritten = list(argv)
            rewritten[idpos] = idb
        if rewritten is not None:
            c.prop = [rewritten]
    return b"$%d\r\n%s\r\n" % (len(idb), idb)


def _added(c, db, srv, key: bytes) -> None:
    """After an entry went in: WATCH, the xadd event, dirty, blocked readers."""
    if db.watched:
        db.signal_modified(key)
    if srv.notify_flags & NOTIFY_STREAM:
        srv.notify(NOTIFY_STREAM, b"xadd", key, db.id)
    srv.dirty += 1
    if db.blocking and key in db.blocking:
        blocking.signal_key_as_ready(db, key)


_SEQ = [b"%d" % i for i in range(1024)]


def _xadd_common(c, argv) -> bytes | None:
    """XADD key * field value onto an existing stream: the common case, with the fewest
    steps (measured: integer formatting and bytes %-formatting dominate XADD's cost, so
    the ms part of the ID is formatted once per millisecond and the entry is joined).
    None when it does not apply (the general path then runs from the start)."""
    db = c.db
    key = argv[1]
    s = db.lookup_write(key)
    if type(s) is not Stream:
        return None
    last = s.last_id
    lms = last >> 64
    ms = clock.mstime()
    if ms > lms:
        seq = 0
    else:
        seq = (last & MASK) + 1
        ms = lms
        if seq > MASK or seq >= 1024:
            return None
    cache = s.idcache
    if cache is not None and cache[0] == ms:
        prefix = cache[1]
    else:
        prefix = b"%d-" % ms
        s.idcache = (ms, prefix)
    idb = prefix + _SEQ[seq]
    idbulk = BULK_HDR[len(idb)] + idb + CRLF
    sid = (ms << 64) | seq
    srv = c.server
    vals = srv.config.values
    if not s.append1(sid, ms, seq, argv[3], argv[4], idbulk, vals["stream-node-max-bytes"],
                     vals["stream-node-max-entries"]):
        return None
    _added(c, db, srv, key)
    if srv.propagating:  # the ID it was given, for replicas and the AOF
        c.prop = [[argv[0], key, idb, argv[3], argv[4]]]
    return idbulk


@command("xtrim", -4, "write", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Trims the stream to (approximately if '~' is passed) a certain size",
         complexity="O(N), with N being the number of evicted entries. Constant times are "
                    "very small however, since entries are organized in macro nodes "
                    "containing multiple entries that can be released with a single "
                    "deallocation.", tips=("nondeterministic_output",),
         key_specs=[key_spec("RW delete")])
def xtrim(c, argv):
    a, _ = parse_add_trim(c, argv, False)
    key = argv[1]
    s = write_stream(c, key)
    if s is None:
        return resp.ZERO
    deleted = do_trim(s, a)
    if deleted:
        event(c, b"xtrim", key)
        if a.approx:
            rewritten = list(argv)
            rewrite_trim(s, a, rewritten)
            c.prop = [rewritten]
        modified(c, key)
        c.server.dirty += deleted
    return resp.integer(deleted)


# -- reads -----------------------------------------------------------------------------------

def _range(c, argv, rev: bool) -> bytes:
    start_arg, end_arg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start, end = range_bounds(start_arg, end_arg)
    count = -1
    n = len(argv)
    j = 4
    while j < n:
        if argv[j].lower() == b"count" and j + 1 < n:
            count = parse_int(argv[j + 1])
            if count < 0:
                count = 0
            j += 2
        else:
            raise syntax()
    s = read_stream(c, argv[1])
    if s is None:
        return EMPTY_ARRAY
    if count == 0:
        return null_array(c)
    return entries_reply(s.range(start, end, max(count, 0), rev))


@command("xrange", -4, "readonly", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Return a range of elements in a stream, with IDs matching the specified "
                 "IDs interval",
         complexity="O(N) with N being the number of elements being returned. If N is "
                    "constant (e.g. always asking for the first 10 elements with COUNT), you "
                    "can consider it O(1).")
def xrange(c, argv):
    return _range(c, argv, False)


@command("xrevrange", -4, "readonly", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Return a range of elements in a stream, with IDs matching the specified "
                 "IDs interval, in reverse order (from greater to smaller IDs) compared to "
                 "XRANGE",
         complexity="O(N) with N being the number of elements returned. If N is constant "
                    "(e.g. always asking for the first 10 elements with COUNT), you can "
                    "consider it O(1).")
def xrevrange(c, argv):
    return _range(c, argv, True)


@command("xlen", 2, "readonly fast", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Return the number of entries in a stream", complexity="O(1)",
         key_specs=[key_spec("RO")])
def xlen(c, argv):
    s = read_stream(c, argv[1])
    return resp.integer(s.length) if s is not None else resp.ZERO


@command("xdel", -3, "write fast", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Removes the specified entries from the stream. Returns the number of items "
                 "actually deleted, that may be different from the number of IDs passed in "
                 "case certain IDs do not exist.",
         complexity="O(1) for each single item to delete in the stream, regardless of the "
                    "stream size.", key_specs=[key_spec("RW delete")])
def xdel(c, argv):
    key = argv[1]
    s = write_stream(c, key)
    if s is None:
        return resp.ZERO
    ids = [parse_strict(a) for a in argv[2:]]
    deleted = 0
    first_gone = False
    for sid in ids:
        if s.delete(sid):
            if sid == s.first_id:
                first_gone = True
            if sid > s.max_deleted:
                s.max_deleted = sid
            deleted += 1
    if deleted:
        if s.length == 0:
            s.first_id = 0
        elif first_gone:
            s.first_id = s.first_entry() or 0
        modified(c, key)
        event(c, b"xdel", key)
        c.server.dirty += deleted
    return resp.integer(deleted)


# -- XREAD / XREADGROUP ----------------------------------------------------------------------

class ReadArgs:
    __slots__ = ("timeout", "count", "keys", "ids", "group", "consumer", "noack",
                 "groups")


def parse_read(c, argv: list[bytes], xreadgroup: bool) -> ReadArgs:
    timeout = -1
    count = 0
    streams_arg = 0
    group = consumer = None
    noack = False
    n = len(argv)
    i = 1
    while i < n:
        more = n - i - 1
        o = argv[i].lower()
        if o == b"block" and more:
            if getattr(c, "is_script", False):  # Redis refuses it outright, not as a nil
                raise CommandError(b"ERR %s command is not allowed with BLOCK option from "
                                   b"scripts" % argv[0])
            i += 1
            timeout = blocking.parse_timeout_ms(argv[i])
        elif o == b"count" and more:
            i += 1
            count = parse_int(argv[i])
            if count < 0:
                count = 0
        elif o == b"streams" and more:
            streams_arg = i + 1
            if (n - streams_arg) % 2:
                raise CommandError(b"ERR Unbalanced XREAD list of streams: for each stream "
                                   b"key an ID or '$' must be specified.")
            break
        elif o == b"group" and more >= 2:
            if not xreadgroup:
                raise CommandError(b"ERR The GROUP option is only supported by XREADGROUP. "
                                   b"You called XREAD instead.")
            group, consumer = argv[i + 1], argv[i + 2]
            i += 2
        elif o == b"noack":
            if not xreadgroup:
                raise CommandError(b"ERR The NOACK option is only supported by XREADGROUP. "
                                   b"You called XREAD instead.")
            noack = True
        else:
            raise syntax()
        i += 1
    if not streams_arg:
        raise syntax()
    if xreadgroup and group is None:
        raise CommandError(b"ERR Missing GROUP option for XREADGROUP")
    half = (n - streams_arg) // 2
    keys = argv[streams_arg:streams_arg + half]
    ids: list[int] = []
    groups: list = []
    db = c.db
    for k, key in enumerate(keys):
        arg = argv[streams_arg + half + k]
        s = db.lookup_read(key)
        if s is not None and type(s) is not Stream:
            raise wrongtype()
        if group is not None:
            g = get_group(s, group)
            if g is None:
                raise CommandError(b"NOGROUP No such key '%s' or consumer group '%s' in "
                                   b"XREADGROUP with GROUP option" % (key, group))
            groups.append(g)
        if arg == b"$":
            if xreadgroup:
                raise CommandError(
                    b"ERR The $ ID is meaningless in the context of XREADGROUP: you want to "
                    b"read the history of this consumer by specifying a proper ID, or use "
                    b"the > ID to get new messages. The $ ID would just return an empty "
                    b"result set.")
            ids.append(s.last_id if s is not None else 0)
            continue
        if arg == b">":
            if not xreadgroup:
                raise CommandError(b"ERR The > ID can be specified only when calling "
                                   b"XREADGROUP using the GROUP <group> <consumer> option.")
            ids.append(MAX_ID)
            continue
        ids.append(parse_strict(arg))
    r = ReadArgs()
    r.timeout, r.count, r.keys, r.ids = timeout, count, keys, ids
    r.group, r.consumer, r.noack, r.groups = group, consumer, noack, groups
    return r


def serve_group(c, s: Stream, key: bytes, r: ReadArgs, g: Group, after: int,
                history: bool, count: int, prop: list | None) -> bytes:
    """XREADGROUP for one stream: the consumer's own PEL (history) or new entries after
    `after`, updating the group and the PEL; the commands that replicate the change go
    to `prop` (None: nothing listens). -> the encoded entries array."""
    cons = lookup_consumer(g, r.consumer)
    if cons is None:
        cons = create_consumer(c, g, r.consumer, key)
        if r.noack and prop is not None:
            prop.append([b"XGROUP", b"CREATECONSUMER", key, r.group, r.consumer])
    c.server.dirty += 1
    start = after + 1 if after < MAX_ID else MAX_ID
    if history:
        return _serve_history(c, s, cons, start, count)
    items = s.range(start, MAX_ID, count)
    if not items:
        return EMPTY_ARRAY
    now = clock.mstime()
    advanced = False
    pel = g.pel
    for sid, _enc in items:
        if sid > g.last_id:
            if g.entries_read != INVALID and not s.range_has_tombstones(sid):
                g.entries_read += 1
            elif s.entries_added:
                g.entries_read = s.estimate_distance(sid)
            g.last_id = sid
            advanced = True
        if not r.noack:
            nack = pel.get(sid)
            if nack is None:
                nack = Nack(cons, now)
                pel[sid] = nack
                cons.pel[sid] = nack
            else:
                del nack.consumer.pel[sid]
                nack.consumer = cons
                nack.delivery_time = now
                nack.delivery_count = 1
                cons.pel[sid] = nack
            if prop is not None:
                prop.append(xclaim_argv(key, r.group, g, id_str(sid), nack))
    if r.noack and advanced and prop is not None:
        prop.append(setid_argv(key, r.group, g))
    return entries_reply(items)


def _serve_history(c, s: Stream, cons: Consumer, start: int, count: int) -> bytes:
    parts = []
    now = clock.mstime()
    for sid in cons.pel.irange(minimum=start):
        if count and len(parts) >= count:
            break
        enc = s.get(sid)
        if enc is None:
            parts.append(b"*2\r\n" + id_bulk(sid) + null_array(c))
        else:
            nack = cons.pel[sid]
            nack.delivery_time = now
            nack.delivery_count += 1
            parts.append(entry_reply(sid, enc))
    return resp.array_header(len(parts)) + b"".join(parts)


def read_streams(c, r: ReadArgs, count: int) -> list[bytes]:
    """Serve what can be served now: the encoded [key, entries] pairs (without the
    top-level header)."""
    out = []
    db = c.db
    xreadgroup = r.group is not None
    for k, key in enumerate(r.keys):
        s = db.lookup_read(key)  # Redis looks each key up again here (stats included)
        if s is None or type(s) is not Stream:
            continue
        gt = r.ids[k]
        history = False
        if xreadgroup:
            g = r.groups[k]
            if gt != MAX_ID:
                history = True
            elif s.length and s.last_valid_id() > g.last_id:
                gt = g.last_id
            else:
                continue
        elif not (s.length and s.last_valid_id() > gt):
            continue
        head = b"*2\r\n" if c.resp == 2 else b""
        if xreadgroup:
            body = serve_group(c, s, key, r, r.groups[k], gt, history, count,
                               c.prop if c.server.propagating else None)
        else:
            body = entries_reply(s.range(gt + 1, MAX_ID, count))
        out.append(head + resp.bulk(key) + body)
    return out


def wrap_streams(c, parts: list[bytes]) -> bytes:
    n = len(parts)
    hdr = resp.array_header(n) if c.resp == 2 else b"%%%d\r\n" % n
    return hdr + b"".join(parts)


def _xread(c, argv, xreadgroup: bool):
    r = parse_read(c, argv, xreadgroup)
    if xreadgroup:
        c.prop = []  # only what the reads changed is propagated
    parts = read_streams(c, r, r.count)
    if parts:
        return wrap_streams(c, parts)
    if r.timeout != -1 and blocking.may_block(c):
        gts: dict[bytes, int] = {}
        for key, gt in zip(r.keys, r.ids, strict=True):
            gts.setdefault(key, gt)
        blocking.block_for_keys(c, argv, b"stream", r.keys, r.timeout, _serve_blocked,
                                data=(r, gts), on_other=_blocked_other if xreadgroup else None)
        return None
    return null_array(c)


def _serve_blocked(c, key: bytes, s: Stream) -> bytes | None:
    """serveClientsBlockedOnStreamKey for one client: reply if the stream has moved past
    what the client waits for (for a group: its last delivered ID, read now)."""
    r, gts = c.block_state.data
    g = None
    if r.group is not None:
        g = get_group(s, r.group)
        if g is None:
            return (b"-NOGROUP the consumer group this client was blocked on no longer "
                    b"exists\r\n")
        gt = g.last_id
    else:
        gt = gts[key]
    if s.last_id <= gt:
        return None
    count = r.count or XREAD_BLOCKED_DEFAULT_COUNT
    if g is not None:
        prop: list | None = [] if c.server.propagating else None
        body = serve_group(c, s, key, r, g, gt, False, count, prop)
        for argv in prop or ():
            blocking.propagate(c, argv)
    else:
        body = entries_reply(s.range(gt + 1, MAX_ID, count))
    head = b"*1\r\n*2\r\n" if c.resp == 2 else b"%1\r\n"
    return head + resp.bulk(key) + body


def _blocked_other(c, key: bytes, value) -> bytes:
    return b"-UNBLOCKED the stream key no longer exists\r\n"


@command("xread", -4, "readonly blocking", group=GRP, acl=ACL, since="5.0.0",
         summary="Return never seen elements in multiple streams, with IDs greater than the "
                 "ones reported by the caller for each stream. Can block.",
         complexity="For each stream mentioned: O(N) with N being the number of elements "
                    "being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note "
                    "that when the BLOCK option is used, XADD will pay O(M) time in order to "
                    "serve the M clients blocked on the stream getting new data.",
         getkeys=lambda argv: _read_keys(argv),
         key_specs=[{"flags": ["RO", "access"],
                     "begin_search": {"keyword": {"keyword": "STREAMS", "startfrom": 1}},
                     "find_keys": {"range": {"lastkey": -1, "step": 1, "limit": 2}}}])
def xread(c, argv):
    return _xread(c, argv, False)


@command("xreadgroup", -7, "write blocking", group=GRP, acl=ACL, since="5.0.0",
         summary="Return new entries from a stream using a consumer group, or access the "
                 "history of the pending entries for a given consumer. Can block.",
         complexity="For each stream mentioned: O(M) with M being the number of elements "
                    "returned. If M is constant (e.g. always asking for the first 10 elements "
                    "with COUNT), you can consider it O(1). On the other side when XREADGROUP "
                    "blocks, XADD will pay the O(N) time in order to serve the N clients "
                    "blocked on the stream getting new data.",
         getkeys=lambda argv: _read_keys(argv),
         key_specs=[{"flags": ["RO", "access"],
                     "begin_search": {"keyword": {"keyword": "STREAMS", "startfrom": 4}},
                     "find_keys": {"range": {"lastkey": -1, "step": 1, "limit": 2}}}])
def xreadgroup(c, argv):
    return _xread(c, argv, True)


def _read_keys(argv: list[bytes]) -> list[int]:
    """xreadGetKeys: the keys are the first half of what follows STREAMS."""
    n = len(argv)
    for i in range(1, n):
        a = argv[i].lower()
        if a in (b"block", b"count"):
            continue
        if a == b"streams":
            num = n - i - 1
            if num == 0 or num % 2:
                return []
            return list(range(i + 1, i + 1 + num // 2))
    return []


# -- XSETID ----------------------------------------------------------------------------------

@command("xsetid", -3, "write denyoom fast", keys=(1, 1, 1), group=GRP, acl=ACL,
         since="5.0.0", summary="An internal command for replicating stream values",
         complexity="O(1)", key_specs=[key_spec("RW update")])
def xsetid(c, argv):
    sid = parse_strict(argv[2])
    entries_added = -1
    max_xdel = 0
    n = len(argv)
    i = 3
    while i < n:
        more = n - 1 - i
        o = argv[i].lower()
        if o == b"entriesadded" and more:
            entries_added = parse_int(argv[i + 1])
            if entries_added < 0:
                raise CommandError(b"ERR entries_added must be positive")
            i += 2
        elif o == b"maxdeletedid" and more:
            max_xdel = parse_strict(argv[i + 1])
            if sid < max_xdel:
                raise CommandError(b"ERR The ID specified in XSETID is smaller than the "
                                   b"provided max_deleted_entry_id")
            i += 2
        else:
            raise syntax()
    key = argv[1]
    s = write_stream(c, key)
    if s is None:
        raise CommandError(b"ERR no such key")
    if s.length:
        if sid < s.last_valid_id():
            raise CommandError(b"ERR The ID specified in XSETID is smaller than the target "
                               b"stream top item")
        if entries_added != -1 and s.length > entries_added:
            raise CommandError(b"ERR The entries_added specified in XSETID is smaller than "
                               b"the target stream length")
    s.last_id = sid
    if entries_added != -1:
        s.entries_added = entries_added
    if max_xdel:
        s.max_deleted = max_xdel
    c.server.dirty += 1
    event(c, b"xsetid", key)
    return resp.OK


# -- keyspace integration --------------------------------------------------------------------

def _register() -> None:
    from bocho.commands.debug import register_digest
    from bocho.db import register_type
    from bocho.types.stream import fields

    register_type(Stream, b"stream", copy=Stream.copy, encoding=lambda v: b"stream",
                  free_effort=lambda v: len(v.nodes) + (len(v.groups) if v.groups else 0))
    register_digest(Stream, lambda v: [(sid >> 64, sid & MASK, fields(enc))
                                       for sid, enc in v.entries()])


_register()
