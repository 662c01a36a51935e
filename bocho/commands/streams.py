"""Stream commands (t_stream.c): XADD, XRANGE/XREVRANGE, XLEN, XDEL, XTRIM, XREAD,
XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO, XSETID.

The value is bocho.types.stream.Stream (see its docstring for the layout). Writes leave
in Redis 7.0's deterministic forms (Client.execute propagates c.prop when set): XADD with
the ID it assigned and an approximate trim rewritten as an exact one; XREADGROUP, XCLAIM
and XAUTOCLAIM as one XCLAIM ... FORCE JUSTID LASTID per PEL change, plus XGROUP SETID /
XGROUP CREATECONSUMER where XCLAIM cannot carry the change (NOACK reads)."""

from __future__ import annotations

from bocho import blocking, clock, notify, resp
from bocho.commands import TABLE, command
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
    s = b"%d-%d" % (sid >> 64, sid & MASK)
    return b"*2\r\n$%d\r\n%s\r\n%s" % (len(s), s, enc)


def entries_reply(items: list) -> bytes:
    parts = [resp.array_header(len(items))]
    for sid, enc in items:
        s = b"%d-%d" % (sid >> 64, sid & MASK)
        parts.append(b"*2\r\n$%d\r\n%s\r\n" % (len(s), s))
        parts.append(enc)
    return b"".join(parts)


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
    s.append(sid, argv[idpos + 1:], vals["stream-node-max-bytes"],
             vals["stream-node-max-entries"])
    idb = b"%d-%d" % (sid >> 64, sid & MASK)
    if db.watched:
        db.signal_modified(key)
    if srv.notify_flags & NOTIFY_STREAM:
        srv.notify(NOTIFY_STREAM, b"xadd", key, db.id)
    srv.dirty += 1
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
    if db.blocking and key in db.blocking:
        blocking.signal_key_as_ready(db, key)
    return b"$%d\r\n%s\r\n" % (len(idb), idb)


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
                history: bool, count: int, prop: list) -> bytes:
    """XREADGROUP for one stream: the consumer's own PEL (history) or new entries after
    `after`, updating the group, the PEL and propagation. -> the encoded entries array."""
    cons = lookup_consumer(g, r.consumer)
    if cons is None:
        cons = create_consumer(c, g, r.consumer, key)
        if r.noack:
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
            prop.append(xclaim_argv(key, r.group, g, id_str(sid), nack))
    if r.noack and advanced:
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
            body = serve_group(c, s, key, r, r.groups[k], gt, history, count, c.prop)
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
        prop: list = []
        body = serve_group(c, s, key, r, g, gt, False, count, prop)
        for argv in prop:
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


# -- XGROUP ----------------------------------------------------------------------------------

_XGROUP_HELP = [
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
]


def _subcommand_syntax(argv: list[bytes]) -> CommandError:
    return CommandError("ERR unknown subcommand or wrong number of arguments for '{}'. Try "
                        "XGROUP HELP.".format(argv[1].decode(errors="replace")))


def _xgroup_common(c, argv: list[bytes], sub: bytes):
    """The shared prologue of XGROUP: options, the key, the group."""
    mkstream = False
    entries_read = INVALID
    n = len(argv)
    i = 5
    while i < n:
        o = argv[i].lower()
        if sub == b"create" and o == b"mkstream":
            mkstream = True
            i += 1
        elif sub in (b"create", b"setid") and o == b"entriesread" and i + 1 < n:
            entries_read = parse_int(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID:
                raise CommandError(b"ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise _subcommand_syntax(argv)
    key = argv[2]
    s = write_stream(c, key)
    g = None
    if not mkstream:
        if s is None:
            raise CommandError(b"ERR The XGROUP subcommand requires the key to exist. Note "
                               b"that for CREATE you may want to use the MKSTREAM option to "
                               b"create an empty stream automatically.")
        g = get_group(s, argv[3])
        if g is None and sub in (b"setid", b"createconsumer", b"delconsumer"):
            raise CommandError(b"NOGROUP No such consumer group '%s' for key name '%s'"
                               % (argv[3], key))
    return s, g, mkstream, entries_read


_XG = dict(group=GRP, acl=ACL, since="5.0.0")


@command("xgroup|create", -5, "write denyoom", keys=(2, 2, 1), **_XG,
         summary="Create a consumer group.", complexity="O(1)",
         key_specs=[key_spec("RW insert", pos=2)])
def xgroup_create(c, argv):
    s, _g, mkstream, entries_read = _xgroup_common(c, argv, b"create")
    if len(argv) > 8:
        raise _subcommand_syntax(argv)
    key = argv[2]
    if argv[4] == b"$":
        sid = s.last_id if s is not None else 0
    else:
        sid = parse_strict(argv[4])
    if s is None:
        s = Stream()
        c.db.add(key, s)
    if s.groups is None:
        s.groups = {}
    name = argv[3]
    if name in s.groups:
        raise CommandError(b"BUSYGROUP Consumer Group name already exists")
    s.groups[name] = Group(sid, entries_read)
    c.server.dirty += 1
    event(c, b"xgroup-create", key)
    return resp.OK


@command("xgroup|setid", -5, "write", keys=(2, 2, 1), **_XG,
         summary="Set a consumer group to an arbitrary last delivered ID value.",
         complexity="O(1)", key_specs=[key_spec("RW update", pos=2)])
def xgroup_setid(c, argv):
    s, g, _mk, entries_read = _xgroup_common(c, argv, b"setid")
    if len(argv) not in (5, 7):
        raise _subcommand_syntax(argv)
    if argv[4] == b"$":
        sid = s.last_id
    else:
        sid = parse_id(argv[4])[0]
    g.last_id = sid
    g.entries_read = entries_read
    c.server.dirty += 1
    event(c, b"xgroup-setid", argv[2])
    return resp.OK


@command("xgroup|destroy", 4, "write", keys=(2, 2, 1), **_XG,
         summary="Destroy a consumer group.",
         complexity="O(N) where N is the number of entries in the group's pending entries "
                    "list (PEL).", key_specs=[key_spec("RW delete", pos=2)])
def xgroup_destroy(c, argv):
    s, g, _mk, _er = _xgroup_common(c, argv, b"destroy")
    if g is None:
        return resp.ZERO
    del s.groups[argv[3]]
    c.server.dirty += 1
    event(c, b"xgroup-destroy", argv[2])
    signal_ready(c, argv[2])
    return resp.ONE


@command("xgroup|createconsumer", 5, "write denyoom", keys=(2, 2, 1), group=GRP, acl=ACL,
         since="6.2.0", summary="Create a consumer in a consumer group.", complexity="O(1)",
         key_specs=[key_spec("RW insert", pos=2)])
def xgroup_createconsumer(c, argv):
    _s, g, _mk, _er = _xgroup_common(c, argv, b"createconsumer")
    return resp.ONE if create_consumer(c, g, argv[4], argv[2]) is not None else resp.ZERO


@command("xgroup|delconsumer", 5, "write", keys=(2, 2, 1), **_XG,
         summary="Delete a consumer from a consumer group.", complexity="O(1)",
         key_specs=[key_spec("RW delete", pos=2)])
def xgroup_delconsumer(c, argv):
    _s, g, _mk, _er = _xgroup_common(c, argv, b"delconsumer")
    cons = lookup_consumer(g, argv[4], refresh=False)
    pending = 0
    if cons is not None:
        pending = len(cons.pel)
        g.delete_consumer(cons)
        c.server.dirty += 1
        event(c, b"xgroup-delconsumer", argv[2])
    return resp.integer(pending)


@command("xgroup|help", 2, "loading stale", **_XG,
         summary="Show helpful text about the different subcommands", complexity="O(1)")
def xgroup_help(c, argv):
    return resp.help_reply("xgroup", _XGROUP_HELP)


_xgroup = TABLE[b"xgroup"]
_xgroup.summary = "A container for consumer groups commands"
_xgroup.complexity = "Depends on subcommand."
_xgroup.since = "5.0.0"
_xgroup.group = GRP


# -- XSETID, XACK, XPENDING ------------------------------------------------------------------

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


@command("xack", -4, "write fast", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Marks a pending message as correctly processed, effectively removing it "
                 "from the pending entries list of the consumer group. Return value of the "
                 "command is the number of messages successfully acknowledged, that is, the "
                 "IDs we were actually able to resolve in the PEL.",
         complexity="O(1) for each message ID processed.", key_specs=[key_spec("RW update")])
def xack(c, argv):
    s = read_stream(c, argv[1])
    g = get_group(s, argv[2])
    if g is None:
        return resp.ZERO
    ids = [parse_strict(a) for a in argv[3:]]
    acked = 0
    pel = g.pel
    for sid in ids:
        nack = pel.pop(sid, None)
        if nack is not None:
            del nack.consumer.pel[sid]
            acked += 1
    if acked:
        c.server.dirty += acked
    return resp.integer(acked)


@command("xpending", -3, "readonly", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Return information and entries from a stream consumer group pending "
                 "entries list, that are messages fetched but never acknowledged.",
         complexity="O(N) with N being the number of elements returned, so asking for a "
                    "small fixed number of entries per call is O(1). O(M), where M is the "
                    "total number of entries scanned when used with the IDLE filter. When the "
                    "command returns just the summary and the list of consumers is small, it "
                    "runs in O(1) time; otherwise, an additional O(N) time for iterating every "
                    "consumer.", tips=("nondeterministic_output",))
def xpending(c, argv):
    n = len(argv)
    if n != 3 and (n < 6 or n > 9):
        raise syntax()
    minidle = 0
    consumer_name = None
    if n >= 6:
        si = 3
        if argv[3].lower() == b"idle":
            minidle = parse_int(argv[4])
            if n < 8:
                raise syntax()
            si += 2
        count = parse_int(argv[si + 2])
        if count < 0:
            count = 0
        start, end = range_bounds(argv[si], argv[si + 1])
        if si + 3 < n:
            consumer_name = argv[si + 3]
    key, gname = argv[1], argv[2]
    s = read_stream(c, key)
    g = get_group(s, gname)
    if g is None:
        raise nogroup(key, gname)
    if n == 3:
        pel = g.pel
        if not pel:
            return b"*4\r\n:0\r\n" + null(c) + null(c) + null_array(c)
        owners = [(cons.name, len(cons.pel)) for cons in g.sorted_consumers() if cons.pel]
        parts = [b"*4\r\n", resp.integer(len(pel)), id_bulk(pel.peekitem(0)[0]),
                 id_bulk(pel.peekitem(-1)[0]), resp.array_header(len(owners))]
        for name, cnt in owners:
            parts.append(b"*2\r\n" + resp.bulk(name) + resp.bulk(b"%d" % cnt))
        return b"".join(parts)
    if consumer_name is not None:
        cons = g.consumers.get(consumer_name)
        if cons is None:
            return EMPTY_ARRAY
        pel = cons.pel
    else:
        pel = g.pel
    now = clock.mstime()
    parts = []
    if count and start <= end:
        for sid in pel.irange(start, end):
            nack = pel[sid]
            if minidle and now - nack.delivery_time < minidle:
                continue
            elapsed = max(0, now - nack.delivery_time)
            parts.append(b"*4\r\n" + id_bulk(sid) + resp.bulk(nack.consumer.name)
                         + resp.integer(elapsed) + resp.integer(nack.delivery_count))
            if len(parts) >= count:
                break
    return resp.array_header(len(parts)) + b"".join(parts)


# -- XCLAIM / XAUTOCLAIM ---------------------------------------------------------------------

@command("xclaim", -6, "write fast", keys=(1, 1, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Changes (or acquires) ownership of a message in a consumer group, as if the "
                 "message was delivered to the specified consumer.",
         complexity="O(log N) with N being the number of messages in the PEL of the consumer "
                    "group.", tips=("nondeterministic_output",),
         key_specs=[key_spec("RW update")])
def xclaim(c, argv):
    key, gname = argv[1], argv[2]
    s = read_stream(c, key)
    g = get_group(s, gname)
    if g is None:
        raise nogroup(key, gname)
    minidle = parse_int(argv[4], b"ERR Invalid min-idle-time argument for XCLAIM")
    if minidle < 0:
        minidle = 0
    n = len(argv)
    ids = []
    j = 5
    while j < n:
        try:
            ids.append(parse_strict(argv[j]))
        except CommandError:
            break
        j += 1
    now = clock.mstime()
    deliverytime = -1
    retrycount = -1
    force = justid = False
    last_id = 0
    while j < n:
        more = n - 1 - j
        o = argv[j].lower()
        if o == b"force":
            force = True
        elif o == b"justid":
            justid = True
        elif o == b"idle" and more:
            j += 1
            deliverytime = now - parse_int(argv[j], b"ERR Invalid IDLE option argument for "
                                                    b"XCLAIM")
        elif o == b"time" and more:
            j += 1
            deliverytime = parse_int(argv[j], b"ERR Invalid TIME option argument for XCLAIM")
        elif o == b"retrycount" and more:
            j += 1
            retrycount = parse_int(argv[j], b"ERR Invalid RETRYCOUNT option argument for "
                                            b"XCLAIM")
        elif o == b"lastid" and more:
            j += 1
            last_id = parse_strict(argv[j])
        else:
            raise CommandError(b"ERR Unrecognized XCLAIM option '%s'" % argv[j])
        j += 1
    c.prop = []
    prop = c.prop
    srv = c.server
    propagate_last_id = False
    if last_id > g.last_id:
        g.last_id = last_id
        propagate_last_id = True
    if deliverytime != -1:
        if deliverytime < 0 or deliverytime > now:
            deliverytime = now
    else:
        deliverytime = now
    cons = None
    parts = []
    pel = g.pel
    for k, sid in enumerate(ids):
        arg = argv[5 + k]
        nack = pel.get(sid)
        enc = s.get(sid)
        if enc is None:
            if nack is not None:
                prop.append(xclaim_argv(key, gname, g, arg, nack))
                propagate_last_id = False
                srv.dirty += 1
                del pel[sid]
                del nack.consumer.pel[sid]
            continue
        if force and nack is None:
            nack = Nack(None, now)
            pel[sid] = nack
        if nack is None:
            continue
        if nack.consumer is not None and minidle and now - nack.delivery_time < minidle:
            continue
        if cons is None:
            cons = lookup_consumer(g, argv[3])
            if cons is None:
                cons = create_consumer(c, g, argv[3], key)
        if nack.consumer is not cons and nack.consumer is not None:
            del nack.consumer.pel[sid]
        nack.delivery_time = deliverytime
        if retrycount >= 0:
            nack.delivery_count = retrycount
        elif not justid:
            nack.delivery_count += 1
        if nack.consumer is not cons:
            cons.pel[sid] = nack
            nack.consumer = cons
        parts.append(id_bulk(sid) if justid else entry_reply(sid, enc))
        prop.append(xclaim_argv(key, gname, g, arg, nack))
        propagate_last_id = False
        srv.dirty += 1
    if propagate_last_id:
        prop.append(setid_argv(key, gname, g))
        srv.dirty += 1
    return resp.array_header(len(parts)) + b"".join(parts)


@command("xautoclaim", -6, "write fast", keys=(1, 1, 1), group=GRP, acl=ACL, since="6.2.0",
         summary="Changes (or acquires) ownership of messages in a consumer group, as if the "
                 "messages were delivered to the specified consumer.",
         complexity="O(1) if COUNT is small.", tips=("nondeterministic_output",),
         key_specs=[key_spec("RW delete")])
def xautoclaim(c, argv):
    key, gname = argv[1], argv[2]
    minidle = parse_int(argv[4], b"ERR Invalid min-idle-time argument for XAUTOCLAIM")
    if minidle < 0:
        minidle = 0
    start, ex = parse_interval(argv[5], 0)
    if ex:
        if start == MAX_ID:
            raise CommandError(b"ERR invalid start ID for the interval")
        start += 1
    count = 100
    justid = False
    n = len(argv)
    j = 6
    max_count = (2**63 - 1) // 16
    while j < n:
        more = n - 1 - j
        o = argv[j].lower()
        if o == b"count" and more:
            count = parse_int(argv[j + 1], b"ERR COUNT must be > 0")
            if count < 1 or count > max_count:
                raise CommandError(b"ERR COUNT must be > 0")
            j += 1
        elif o == b"justid":
            justid = True
        else:
            raise syntax()
        j += 1
    s = read_stream(c, key)
    g = get_group(s, gname)
    if g is None:
        raise nogroup(key, gname)
    c.prop = []
    prop = c.prop
    srv = c.server
    attempts = count * 10
    pel = g.pel
    now = clock.mstime()
    cons = None
    parts = []
    deleted = []
    it = iter(list(pel.irange(minimum=start)))
    cursor = 0
    for sid in it:
        if not attempts or not count:
            cursor = sid
            break
        attempts -= 1
        nack = pel[sid]
        enc = s.get(sid)
        if enc is None:
            prop.append(xclaim_argv(key, gname, g, id_str(sid), nack))
            srv.dirty += 1
            del pel[sid]
            del nack.consumer.pel[sid]
            deleted.append(sid)
            count -= 1
            continue
        if minidle and now - nack.delivery_time < minidle:
            continue
        if cons is None:
            cons = lookup_consumer(g, argv[3])
            if cons is None:
                cons = create_consumer(c, g, argv[3], key)
        if nack.consumer is not cons:
            if nack.consumer is not None:
                del nack.consumer.pel[sid]
        nack.delivery_time = now
        if not justid:
            nack.delivery_count += 1
        if nack.consumer is not cons:
            cons.pel[sid] = nack
            nack.consumer = cons
        parts.append(id_bulk(sid) if justid else entry_reply(sid, enc))
        count -= 1
        prop.append(xclaim_argv(key, gname, g, id_str(sid), nack))
        srv.dirty += 1
    return (b"*3\r\n" + id_bulk(cursor) + resp.array_header(len(parts)) + b"".join(parts)
            + resp.array_header(len(deleted)) + b"".join(id_bulk(d) for d in deleted))


# -- XINFO -----------------------------------------------------------------------------------

_XINFO_HELP = [
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
]


def _xinfo_key(c, argv) -> Stream:
    s = read_stream(c, argv[2])
    if s is None:
        raise CommandError(b"ERR no such key")
    return s


def _kv(name: bytes, value: bytes) -> bytes:
    return resp.bulk(name) + value


def _opt_int(c, v: int) -> bytes:
    """entries-read: nil while the counter is invalid."""
    return null(c) if v == INVALID else resp.integer(v)


def _lag(c, v: int | None) -> bytes:
    """lag: nil when it cannot be known (it can be negative after XGROUP SETID)."""
    return null(c) if v is None else resp.integer(v)


@command("xinfo|consumers", 4, "readonly", keys=(2, 2, 1), group=GRP, acl=ACL,
         since="5.0.0", summary="List the consumers in a consumer group", complexity="O(1)",
         tips=("nondeterministic_output",))
def xinfo_consumers(c, argv):
    s = _xinfo_key(c, argv)
    g = get_group(s, argv[3])
    if g is None:
        raise CommandError(b"NOGROUP No such consumer group '%s' for key name '%s'"
                           % (argv[3], argv[2]))
    now = clock.mstime()
    cons = g.sorted_consumers()
    parts = [resp.array_header(len(cons))]
    for cn in cons:
        parts.append(resp.map_header(3, c.resp) + _kv(b"name", resp.bulk(cn.name))
                     + _kv(b"pending", resp.integer(len(cn.pel)))
                     + _kv(b"idle", resp.integer(max(0, now - cn.seen_time))))
    return b"".join(parts)


@command("xinfo|groups", 3, "readonly", keys=(2, 2, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="List the consumer groups of a stream", complexity="O(1)")
def xinfo_groups(c, argv):
    s = _xinfo_key(c, argv)
    groups = s.sorted_groups()
    parts = [resp.array_header(len(groups))]
    for name, g in groups:
        parts.append(resp.map_header(6, c.resp) + _kv(b"name", resp.bulk(name))
                     + _kv(b"consumers", resp.integer(len(g.consumers)))
                     + _kv(b"pending", resp.integer(len(g.pel)))
                     + _kv(b"last-delivered-id", id_bulk(g.last_id))
                     + _kv(b"entries-read", _opt_int(c, g.entries_read))
                     + _kv(b"lag", _lag(c, s.lag(g))))
    return b"".join(parts)


@command("xinfo|stream", -3, "readonly", keys=(2, 2, 1), group=GRP, acl=ACL, since="5.0.0",
         summary="Get information about a stream", complexity="O(1)")
def xinfo_stream(c, argv):
    full = False
    count = 10
    opts = argv[3:]
    if opts:
        if len(opts) not in (1, 3) or opts[0].lower() != b"full":
            raise _xinfo_syntax(argv)
        full = True
        if len(opts) == 3:
            if opts[1].lower() != b"count":
                raise _xinfo_syntax(argv)
            count = parse_int(opts[2])
            if count < 0:
                count = 10
    s = _xinfo_key(c, argv)
    r = c.resp
    parts = [resp.map_header(9 if full else 10, r),
             _kv(b"length", resp.integer(s.length)),
             _kv(b"radix-tree-keys", resp.integer(len(s.nodes))),
             _kv(b"radix-tree-nodes", resp.integer(s.rax_nodes())),
             _kv(b"last-generated-id", id_bulk(s.last_id)),
             _kv(b"max-deleted-entry-id", id_bulk(s.max_deleted)),
             _kv(b"entries-added", resp.integer(s.entries_added)),
             _kv(b"recorded-first-entry-id", id_bulk(s.first_id))]
    if not full:
        parts.append(_kv(b"groups", resp.integer(len(s.groups) if s.groups else 0)))
        first = s.range(0, MAX_ID, 1)
        last = s.range(0, MAX_ID, 1, rev=True)
        parts.append(_kv(b"first-entry", entry_reply(*first[0]) if first else null(c)))
        parts.append(_kv(b"last-entry", entry_reply(*last[0]) if last else null(c)))
        return b"".join(parts)
    parts.append(_kv(b"entries", entries_reply(s.range(0, MAX_ID, count))))
    groups = s.sorted_groups()
    parts.append(resp.bulk(b"groups") + resp.array_header(len(groups)))
    for name, g in groups:
        parts.append(resp.map_header(7, r) + _kv(b"name", resp.bulk(name))
                     + _kv(b"last-delivered-id", id_bulk(g.last_id))
                     + _kv(b"entries-read", _opt_int(c, g.entries_read))
                     + _kv(b"lag", _lag(c, s.lag(g)))
                     + _kv(b"pel-count", resp.integer(len(g.pel))))
        pend = []
        for sid, nack in g.pel.items():
            if count and len(pend) >= count:
                break
            pend.append(b"*4\r\n" + id_bulk(sid) + resp.bulk(nack.consumer.name)
                        + resp.integer(nack.delivery_time)
                        + resp.integer(nack.delivery_count))
        parts.append(_kv(b"pending", resp.array_header(len(pend)) + b"".join(pend)))
        cons = g.sorted_consumers()
        parts.append(resp.bulk(b"consumers") + resp.array_header(len(cons)))
        for cn in cons:
            cp = []
            for sid, nack in cn.pel.items():
                if count and len(cp) >= count:
                    break
                cp.append(b"*3\r\n" + id_bulk(sid) + resp.integer(nack.delivery_time)
                          + resp.integer(nack.delivery_count))
            parts.append(resp.map_header(4, r) + _kv(b"name", resp.bulk(cn.name))
                         + _kv(b"seen-time", resp.integer(cn.seen_time))
                         + _kv(b"pel-count", resp.integer(len(cn.pel)))
                         + _kv(b"pending", resp.array_header(len(cp)) + b"".join(cp)))
    return b"".join(parts)


def _xinfo_syntax(argv) -> CommandError:
    return CommandError("ERR unknown subcommand or wrong number of arguments for '{}'. Try "
                        "XINFO HELP.".format(argv[1].decode(errors="replace")))


@command("xinfo|help", 2, "loading stale", group=GRP, acl=ACL, since="5.0.0",
         summary="Show helpful text about the different subcommands", complexity="O(1)")
def xinfo_help(c, argv):
    return resp.help_reply("xinfo", _XINFO_HELP)


_xinfo = TABLE[b"xinfo"]
_xinfo.summary = "A container for stream introspection commands"
_xinfo.complexity = "Depends on subcommand."
_xinfo.since = "5.0.0"
_xinfo.group = GRP


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
