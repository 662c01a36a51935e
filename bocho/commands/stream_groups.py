"""Consumer-group commands of t_stream.c: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER,
DELCONSUMER, HELP), XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO (STREAM, GROUPS,
CONSUMERS, HELP). XREADGROUP, which shares XREAD's read and blocking path, and the
helpers both files use live in streams.py.

XCLAIM and XAUTOCLAIM propagate one idempotent XCLAIM ... TIME RETRYCOUNT FORCE JUSTID
LASTID per PEL change (a claimed entry, or a PEL entry whose stream entry is gone), and
XGROUP SETID when only the group's last ID moved (XCLAIM LASTID)."""

from __future__ import annotations

from bocho import clock, resp
from bocho.commands import TABLE, command
from bocho.commands.streams import (
    ACL,
    EMPTY_ARRAY,
    GRP,
    INVALID,
    MAX_ID,
    create_consumer,
    entries_reply,
    entry_reply,
    event,
    get_group,
    lookup_consumer,
    nogroup,
    null,
    null_array,
    parse_id,
    parse_interval,
    parse_strict,
    range_bounds,
    read_stream,
    setid_argv,
    signal_ready,
    write_stream,
    xclaim_argv,
)
from bocho.commands.strings import key_spec
from bocho.errors import CommandError, syntax
from bocho.types.stream import Group, Nack, Stream, id_bulk, id_str
from bocho.util import parse_int

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
    prop = c.prop if c.server.propagating else None
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
                if prop is not None:
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
        if prop is not None:
            prop.append(xclaim_argv(key, gname, g, arg, nack))
        propagate_last_id = False
        srv.dirty += 1
    if propagate_last_id:
        if prop is not None:
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
    prop = c.prop if c.server.propagating else None
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
            if prop is not None:
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
        if prop is not None:
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


