"""CLIENT subcommands, and the client-state helpers other modules use (the CLIENT LIST
line, client types, pause)."""

from __future__ import annotations

from bocho import clock, resp, tracking
from bocho.blocking import Held
from bocho.commands import MAY_REPLICATE, WRITE, command
from bocho.commands.connection import RESET_HOOKS
from bocho.config import on_apply
from bocho.errors import SYNTAX, CommandError
from bocho.network import (
    F_BLOCKED,
    F_CLOSE_ASAP,
    F_DIRTY_CAS,
    F_MASTER,
    F_MONITOR,
    F_MULTI,
    F_NO_EVICT,
    F_NO_TOUCH,
    F_PUBSUB,
    F_READONLY,
    F_REPLICA,
    F_TRACKING,
    F_UNIX,
    QBUF_IOBUF,
    REPLY_OFF,
    REPLY_ON,
    REPLY_SKIP_NEXT,
)
from bocho.util import parse_int

CONN = "connection"
ADMIN_ACL = ("admin", "dangerous", "connection")

# Client types, as CLIENT LIST TYPE / CLIENT KILL TYPE / client-output-buffer-limit name them.
T_NORMAL, T_REPLICA, T_PUBSUB, T_MASTER = "normal", "replica", "pubsub", "master"
_TYPE_NAMES = {b"normal": T_NORMAL, b"slave": T_REPLICA, b"replica": T_REPLICA,
               b"pubsub": T_PUBSUB, b"master": T_MASTER}


def client_type(c) -> str:
    """getClientType: MONITOR clients count as normal ones."""
    f = c.flags
    if f & F_MASTER:
        return T_MASTER
    if f & F_REPLICA and not f & F_MONITOR:
        return T_REPLICA
    if f & F_PUBSUB:
        return T_PUBSUB
    return T_NORMAL


def _type_by_name(name: bytes) -> str:
    t = _TYPE_NAMES.get(name.lower())
    if t is None:
        raise CommandError(b"ERR Unknown client type '%s'" % name)
    return t


def validate_name(name: bytes) -> None:
    for ch in name:
        if ch < 33 or ch > 126:
            raise CommandError(
                b"ERR Client names cannot contain spaces, newlines or special characters.")


def _flag_letters(c) -> str:
    f = c.flags
    out = []
    if f & F_MONITOR:
        out.append("O")
    elif f & F_REPLICA:
        out.append("S")
    if f & F_MASTER:
        out.append("M")
    if f & F_PUBSUB:
        out.append("P")
    if c.multi is not None:
        out.append("x")
    if c.blocked or f & F_BLOCKED:
        out.append("b")
    if f & F_TRACKING:
        out.append("t")
        tr = c.tracking
        if tr is not None:
            if tr.broken:
                out.append("R")
            if tr.bcast:
                out.append("B")
    if c.dirty_cas or f & F_DIRTY_CAS:
        out.append("d")
    if c.closing and not f & F_CLOSE_ASAP:
        out.append("c")
    if f & F_CLOSE_ASAP:
        out.append("A")
    if f & F_UNIX:
        out.append("U")
    if f & F_READONLY:
        out.append("r")
    if f & F_NO_EVICT:
        out.append("e")
    return "".join(out) or "N"


def _argv_mem(argv) -> int:
    return sum(len(a) for a in argv) if argv else 0


def pending_output(c) -> int:
    """Bytes waiting to be written to this client."""
    t = c.transport
    n = sum(len(x) for x in c.out)
    if t is not None and not c.closing:
        try:
            n += t.get_write_buffer_size()
        except Exception:
            pass
    return n


def output_memory(c) -> int:
    """CLIENT LIST omem, Redis's reply list: what pending output does not fit in the
    client's static reply buffer (rbs), which tot-mem counts whether used or not."""
    n = pending_output(c) - c.rbs
    return n if n > 0 else 0


def partial_argv(c) -> int:
    """The arguments of an unfinished request that hiredis already parsed (Redis holds
    them in argv while the rest arrives): its bytes so far, less what the reader still
    buffers (query_buffer counts that)."""
    if c.part_at != c.net_in:
        return 0
    n = c.part_in - c.reader.len()
    return n if n > 0 else 0


def query_buffer(c) -> tuple[int, int]:
    """(qbuf, qbuf-free): the query buffer as Redis would hold it. While a client runs
    its command, that command is still in its buffer (Redis trims it afterwards)."""
    used = len(c.inline_buf or b"") + len(c.tail or b"")
    if c.qbuf_used and c.reader.has_data():
        used += c.qbuf_used
    if c.current and c.argv:
        used += _resp_len(c.argv)
    alloc = max(c.qbuf_alloc, used)
    if alloc < QBUF_IOBUF and c.net_in != c.qbuf_mark:
        alloc = QBUF_IOBUF  # it read since the cron last looked: it has its read buffer
    return used, alloc - used


def _resp_len(argv) -> int:
    n = len(str(len(argv))) + 3
    for a in argv:
        n += len(a) + len(str(len(a))) + 5
    return n


def client_memory(c) -> int:
    """tot-mem, as getClientMemoryUsage: query buffer, reply buffer, pending output, the
    running command's arguments, queued MULTI commands and watched keys, subscriptions,
    the client structure."""
    qbuf, free = query_buffer(c)
    mem = qbuf + free + c.rbs + output_memory(c) + 774
    if c.current and c.argv and not (c.multi and c.multi[-1][1] is c.argv):
        mem += _argv_mem(c.argv) + 8 * len(c.argv)  # (a queued command counts once)
    else:
        mem += partial_argv(c)
    if c.backlog:  # requests parsed but waiting behind a blocked one
        mem += sum(_argv_mem(a) + 8 * len(a) for a in c.backlog if type(a) is list)
    if c.multi:
        mem += sum(_argv_mem(a) + 8 * len(a) for _, a in c.multi) + 40 * len(c.multi)
    mem += 56 * len(c.watched_keys)
    mem += 24 * (len(c.channels) + len(c.patterns) + len(c.shard_channels))
    tr = c.tracking
    if tr is not None and tr.prefixes:  # its BCAST prefixes (a radix tree in Redis)
        mem += sum(len(p) + 32 for p in tr.prefixes)
    return mem


def client_info_string(server, c) -> str:
    unixtime = server.unixtime
    qbuf, qfree = query_buffer(c)
    omem = output_memory(c)
    multi_mem = sum(_argv_mem(a) + 8 * len(a) for _, a in c.multi) if c.multi else 0
    events = "r"
    if omem or pending_output(c):
        events = "rw"
    name = c.name.decode("latin-1")
    return (
        f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={name} "
        f"age={unixtime - c.ctime} idle={unixtime - c.last_io} flags={_flag_letters(c)} "
        f"db={c.db.id} sub={len(c.channels)} psub={len(c.patterns)} "
        f"ssub={len(c.shard_channels)} multi={len(c.multi) if c.multi is not None else -1} "
        f"qbuf={qbuf} qbuf-free={qfree} argv-mem={_argv_mem(c.argv) if c.current else partial_argv(c)} "
        f"multi-mem={multi_mem} rbs={c.rbs} rbp={c.rbp} obl=0 oll={1 if omem else 0} "
        f"omem={omem} tot-mem={client_memory(c)} events={events} cmd={c.lastcmd} "
        f"user={c.user.decode('latin-1')} redir={_redir(c)} resp={c.resp}")


def _redir(c) -> int:
    tr = c.tracking
    if tr is None or not c.flags & F_TRACKING:
        return -1
    return tr.redirect


# -- CLIENT ------------------------------------------------------------------------------

HELP = [
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
]


@command("client|help", 2, "loading stale", group=CONN, acl=(CONN,), since="5.0.0",
         summary="Show helpful text about the different subcommands")
def client_help(c, argv):
    return resp.help_reply("client", HELP)


@command("client|id", 2, "noscript loading stale", group=CONN, acl=(CONN,), since="5.0.0",
         summary="Returns the client ID for the current connection")
def client_id(c, argv):
    return resp.integer(c.id)


@command("client|setname", 3, "noscript loading stale", group=CONN, acl=(CONN,),
         since="2.6.9", summary="Set the current connection name")
def client_setname(c, argv):
    validate_name(argv[2])
    c.name = argv[2]
    return resp.OK


@command("client|getname", 2, "noscript loading stale", group=CONN, acl=(CONN,),
         since="2.6.9", summary="Get the current connection name")
def client_getname(c, argv):
    return resp.bulk_or_null(c.name or None, c.resp)


@command("client|info", 2, "noscript loading stale", group=CONN, acl=(CONN,),
         tips=("nondeterministic_output",),
         since="6.2.0", summary="Returns information about the current client connection.")
def client_info(c, argv):
    return resp.verbatim((client_info_string(c.server, c) + "\n").encode(), c.resp)


@command("client|list", -2, "admin noscript loading stale", group=CONN, acl=ADMIN_ACL,
         tips=("nondeterministic_output",),
         since="2.4.0", summary="Get the list of client connections")
def client_list(c, argv):
    srv = c.server
    clients = list(srv.clients.values())
    if len(argv) == 4 and argv[2].lower() == b"type":
        t = _type_by_name(argv[3])
        clients = [x for x in clients if client_type(x) == t]
    elif len(argv) > 3 and argv[2].lower() == b"id":
        ids = [parse_int(a, b"ERR Invalid client ID") for a in argv[3:]]
        clients = [srv.clients[i] for i in ids if i in srv.clients]
    elif len(argv) != 2:
        raise CommandError(SYNTAX)
    text = "".join(client_info_string(srv, x) + "\n" for x in clients)
    return resp.verbatim(text.encode(), c.resp)


@command("client|reply", 3, "noscript loading stale", group=CONN, acl=(CONN,),
         since="3.2.0", summary="Instruct the server whether to reply to commands")
def client_reply(c, argv):
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = REPLY_ON
        c.update_slow()
        return resp.OK
    if mode == b"off":
        c.reply_mode = REPLY_OFF
    elif mode == b"skip":
        if c.reply_mode != REPLY_OFF:
            c.reply_mode = REPLY_SKIP_NEXT
    else:
        raise CommandError(SYNTAX)
    c.update_slow()
    return None


@command("client|no-evict", 3, "admin noscript loading stale", group=CONN, acl=ADMIN_ACL,
         since="7.0.0", summary="Set client eviction mode for the current connection")
def client_no_evict(c, argv):
    mode = argv[2].lower()
    if mode == b"on":
        c.flags |= F_NO_EVICT
    elif mode == b"off":
        c.flags &= ~F_NO_EVICT
    else:
        raise CommandError(SYNTAX)
    return resp.OK


@command("client|kill", -3, "admin noscript loading stale", group=CONN, acl=ADMIN_ACL,
         since="2.4.0", summary="Kill the connection of a client")
def client_kill(c, argv):
    srv = c.server
    addr = laddr = user = ctype = None
    cid = 0
    maxage = 0
    skipme = True
    old_form = len(argv) == 3
    if old_form:
        addr = argv[2].decode("latin-1")
        skipme = False
    else:
        i = 2
        while i < len(argv):
            opt = argv[i].lower()
            if i + 1 >= len(argv):
                raise CommandError(SYNTAX)
            val = argv[i + 1]
            if opt == b"id":
                cid = parse_int(val, b"ERR client-id should be greater than 0")
                if cid < 1:
                    raise CommandError(b"ERR client-id should be greater than 0")
            elif opt == b"type":
                ctype = _type_by_name(val)
            elif opt == b"addr":
                addr = val.decode("latin-1")
            elif opt == b"laddr":
                laddr = val.decode("latin-1")
            elif opt == b"user":
                if not _user_exists(srv, val):
                    raise CommandError(b"ERR No such user '%s'" % val)
                user = val
            elif opt == b"skipme":
                v = val.lower()
                if v == b"yes":
                    skipme = True
                elif v == b"no":
                    skipme = False
                else:
                    raise CommandError(SYNTAX)
            elif opt == b"maxage":
                maxage = parse_int(val)
            else:
                raise CommandError(SYNTAX)
            i += 2
    killed = 0
    kill_self = False
    for x in list(srv.clients.values()):
        if addr is not None and x.addr != addr:
            continue
        if laddr is not None and x.laddr != laddr:
            continue
        if ctype is not None and client_type(x) != ctype:
            continue
        if cid and x.id != cid:
            continue
        if user is not None and x.user != user:
            continue
        if maxage and srv.unixtime - x.ctime < maxage:
            continue
        if x is c:
            if skipme:
                continue
            kill_self = True
        else:
            free_client(x)
        killed += 1
    reply = resp.integer(killed)
    if old_form:
        if not killed:
            raise CommandError(b"ERR No such client")
        reply = resp.OK
    if kill_self:
        c.out.append(reply)
        c.flush()
        c.close()
        return None
    return reply


def _user_exists(srv, name: bytes) -> bool:
    acl = getattr(srv, "acl", None)
    if acl is not None and hasattr(acl, "get_user"):
        return acl.get_user(name) is not None
    return name == b"default"


def free_client(x) -> None:
    """freeClient() from another client's command: drop it, unsent replies and all."""
    x.close_now()


@command("client|unblock", -3, "admin noscript loading stale", group=CONN, acl=ADMIN_ACL,
         since="5.0.0", summary="Unblock a client blocked in a blocking command from a "
         "different connection")
def client_unblock(c, argv):
    if len(argv) > 4:
        raise CommandError(SYNTAX)
    as_error = False
    if len(argv) == 4:
        how = argv[3].lower()
        if how == b"error":
            as_error = True
        elif how != b"timeout":
            raise CommandError(b"ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    cid = parse_int(argv[2])
    x = c.server.clients.get(cid)
    unblock = getattr(c.server, "unblock_client", None)
    if (x is None or not x.blocked or x.block_state is None or type(x.block_state) is Held
            or unblock is None):
        return resp.ZERO
    unblock(x, as_error)
    return resp.ONE


# -- pause -------------------------------------------------------------------------------

def parse_timeout_ms(b: bytes) -> int:
    v = parse_int(b, b"ERR timeout is not an integer or out of range")
    if v < 0:
        raise CommandError(b"ERR timeout is negative")
    return v


@command("client|pause", -3, "admin noscript loading stale", group=CONN, acl=ADMIN_ACL,
         since="2.9.50", summary="Stop processing commands from clients for some time")
def client_pause(c, argv):
    if len(argv) > 4:
        raise CommandError(SYNTAX)
    pause_all = True
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b"write":
            pause_all = False
        elif mode != b"all":
            raise CommandError(b"ERR CLIENT PAUSE mode must be WRITE or ALL")
    ms = parse_timeout_ms(argv[2])
    pause(c.server, clock.monotonic_ms() + ms, pause_all)
    return resp.OK


@command("client|unpause", 2, "admin noscript loading stale", group=CONN, acl=ADMIN_ACL,
         since="6.2.0", summary="Resume processing of clients that were paused")
def client_unpause(c, argv):
    unpause(c.server, "client")
    return resp.OK


def pause(srv, end_ms: int, pause_all: bool, purpose: str = "client") -> None:
    """pauseClients: each purpose (CLIENT PAUSE, FAILOVER) holds its own pause; a second
    one of the same purpose extends it and keeps the more restrictive mode. The server
    pauses as the most restrictive of them, until the furthest end of that kind."""
    old = srv.pauses.get(purpose)
    if old is not None:
        end_ms = max(end_ms, old[0])
        pause_all = pause_all or old[1]
    srv.pauses[purpose] = (max(end_ms, 1), pause_all)
    _update_pause(srv)


def _update_pause(srv) -> None:
    now = clock.monotonic_ms()
    live = {p: v for p, v in srv.pauses.items() if v[0] > now}
    srv.pauses = live
    pause_all = any(a for _, a in live.values())
    end = max((e for e, a in live.values() if a == pause_all), default=0)
    was_all, was_on = srv.pause_all, bool(srv.pause_end)
    srv.pause_end = end
    srv.pause_all = pause_all
    srv.update_slow()
    if (was_on and not end) or (was_all and not pause_all):
        _release_held(srv)  # they run again, or are held again by what remains


def paused_now(srv) -> bool:
    """Clients are paused (and keys must not expire) until the end time passes."""
    if not srv.pause_end:
        return False
    if clock.monotonic_ms() >= srv.pause_end:
        unpause(srv)
        return False
    return True


def command_paused(srv, c, cmd, argv) -> bool:
    if c.flags & (F_REPLICA | F_MASTER) and not c.flags & F_MONITOR:
        return False
    if srv.pause_all:
        return True
    from bocho.scripting import effective_flags
    if effective_flags(srv, cmd, argv) & (WRITE | MAY_REPLICATE):
        return True
    if cmd.name == "exec" and c.multi:
        return any(effective_flags(srv, q, a) & (WRITE | MAY_REPLICATE) for q, a in c.multi)
    return False


POSTPONED = Held("postpone")  # a command waiting for CLIENT PAUSE to end


def should_pause(server, c, cmd, argv) -> bool:
    """Server.check_paused asks; a True answer holds the command (the state is set here,
    the hold itself by check_paused)."""
    if paused_now(server) and command_paused(server, c, cmd, argv):
        c.block_state = POSTPONED
        return True
    return False


def unpause(server, purpose: str | None = None) -> None:
    """unpauseClients: end that purpose's pause (None: only the ones past their end)."""
    if purpose is not None:
        server.pauses.pop(purpose, None)
    _update_pause(server)


def _release_held(server) -> None:
    """Held clients run their command, then the rest of their input."""
    held, server.paused_clients = server.paused_clients, []
    for x in held:
        if x.closing:
            continue
        x.blocked = False
        x.flags &= ~F_BLOCKED
        if x.block_state is POSTPONED:
            x.block_state = None
        if server.loop is not None:
            server.loop.call_soon(_resume, x)
        else:
            _resume(x)


def _resume(x) -> None:
    if x.closing or x.blocked:
        return
    x.process_input()
    srv = x.server
    if srv.pending_writes:
        srv.flush_pending()


# -- tracking and the 7.2 client-library subcommands -------------------------------------

@command("client|tracking", -3, "noscript loading stale", group=CONN, acl=(CONN,),
         since="6.0.0", summary="Enable or disable server assisted client side caching support")
def client_tracking(c, argv):
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    n = len(argv)
    j = 3
    while j < n:
        opt = argv[j].lower()
        more = j + 1 < n
        if opt == b"redirect" and more:
            j += 1
            if redirect:
                raise CommandError(b"ERR A client can only redirect to a single other client")
            redirect = parse_int(argv[j])
            if redirect not in c.server.clients:
                raise CommandError(b"ERR The client ID you want redirect to does not exist")
        elif opt == b"bcast":
            bcast = True
        elif opt == b"optin":
            optin = True
        elif opt == b"optout":
            optout = True
        elif opt == b"noloop":
            noloop = True
        elif opt == b"prefix" and more:
            j += 1
            prefixes.append(argv[j])
        else:
            raise CommandError(SYNTAX)
        j += 1
    mode = argv[2].lower()
    if mode == b"off":
        tracking.disable(c)
        return resp.OK
    if mode != b"on":
        raise CommandError(SYNTAX)
    if prefixes and not bcast:
        raise CommandError(b"ERR PREFIX option requires BCAST mode to be enabled")
    tr = c.tracking if c.flags & F_TRACKING else None
    if tr is not None and tr.bcast != bcast:
        raise CommandError(b"ERR You can't switch BCAST mode on/off before disabling tracking "
                           b"for this client, and then re-enabling it with a different mode.")
    if bcast and (optin or optout):
        raise CommandError(b"ERR OPTIN and OPTOUT are not compatible with BCAST")
    if optin and optout:
        raise CommandError(b"ERR You can't specify both OPTIN mode and OPTOUT mode")
    if tr is not None and (optin and tr.optout or optout and tr.optin):
        raise CommandError(b"ERR You can't switch OPTIN/OPTOUT mode before disabling tracking "
                           b"for this client, and then re-enabling it with a different mode.")
    if bcast:
        err = tracking.check_prefixes(tr, prefixes)
        if err is not None:
            raise CommandError(err)
    tracking.enable(c, redirect, bcast, optin, optout, noloop, prefixes)
    return resp.OK


@command("client|trackinginfo", 2, "noscript loading stale", group=CONN, acl=(CONN,),
         since="6.2.0", summary="Return information about server assisted client side caching "
         "for the current connection")
def client_trackinginfo(c, argv):
    tr = c.tracking if c.flags & F_TRACKING else None
    if tr is None:
        return resp.encode({"flags": ["off"], "redirect": -1, "prefixes": []}, c.resp)
    flags = ["on"]
    if tr.bcast:
        flags.append("bcast")
    if tr.optin:
        flags.append("optin")
        if tr.caching:
            flags.append("caching-yes")
    if tr.optout:
        flags.append("optout")
        if tr.caching:
            flags.append("caching-no")
    if tr.noloop:
        flags.append("noloop")
    if tr.broken:
        flags.append("broken_redirect")
    return resp.encode({"flags": flags, "redirect": tr.redirect,
                        "prefixes": sorted(tr.prefixes)}, c.resp)


@command("client|getredir", 2, "noscript loading stale", group=CONN, acl=(CONN,),
         since="6.0.0", summary="Get tracking notifications redirection client ID if any")
def client_getredir(c, argv):
    return resp.integer(c.tracking.redirect if c.flags & F_TRACKING else -1)


@command("client|caching", 3, "noscript loading stale", group=CONN, acl=(CONN,),
         since="6.0.0", summary="Instruct the server about tracking or not keys in the next "
         "request")
def client_caching(c, argv):
    tr = c.tracking if c.flags & F_TRACKING else None
    if tr is None:
        raise CommandError(b"ERR CLIENT CACHING can be called only when the client is in "
                           b"tracking mode with OPTIN or OPTOUT mode enabled")
    opt = argv[2].lower()
    if opt == b"yes":
        if not tr.optin:
            raise CommandError(b"ERR CLIENT CACHING YES is only valid when tracking is enabled "
                               b"in OPTIN mode.")
    elif opt == b"no":
        if not tr.optout:
            raise CommandError(b"ERR CLIENT CACHING NO is only valid when tracking is enabled "
                               b"in OPTOUT mode.")
    else:
        raise CommandError(SYNTAX)
    tr.caching = True
    return resp.OK


__all__ = ["F_MULTI", "F_PUBSUB"]

RESET_HOOKS.append(tracking.client_gone)  # RESET turns tracking off


@command("client|no-touch", 3, "noscript loading stale", group=CONN, acl=(CONN,),
         since="7.2.0", summary="Controls whether commands sent by the client will alter "
         "the LRU/LFU of the keys they access")
def client_no_touch(c, argv):
    mode = argv[2].lower()
    if mode == b"on":
        c.flags |= F_NO_TOUCH
    elif mode == b"off":
        c.flags &= ~F_NO_TOUCH
    else:
        raise CommandError(SYNTAX)
    c.update_slow()  # its commands take call() -> execute(), where no-touch is applied
    return resp.OK


@command("client|setinfo", 4, "noscript loading stale", group=CONN, acl=(CONN,),
         since="7.2.0", summary="Set client or connection specific info")
def client_setinfo(c, argv):
    attr = argv[2].lower()
    val = argv[3]
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(b"ERR Unrecognized option '%s'" % argv[2])
    for ch in val:
        if ch < 33 or ch > 126:
            raise CommandError(b"ERR %s cannot contain spaces, newlines or special characters."
                               % attr)
    if attr == b"lib-name":
        c.lib_name = val
    else:
        c.lib_ver = val
    return resp.OK


@on_apply("maxmemory-clients")
def _apply_maxmemory_clients(srv) -> None:
    """A lower maxmemory-clients evicts at once: right after the CONFIG SET, as Redis
    does before its next sleep (the caller's arguments no longer count then)."""
    if srv.config["maxmemory-clients"] and srv.loop is not None:
        from bocho.evict import evict_clients
        srv.loop.call_soon(evict_clients, srv)
