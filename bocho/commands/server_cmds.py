"""Server commands: SLOWLOG, LATENCY, MEMORY, TIME, LOLWUT, SHUTDOWN."""

from __future__ import annotations

import gc
import random
import time

from bocho import REDIS_VERSION, latency, memory, resp
from bocho.blocking import Held
from bocho.commands import TABLE, command, lookup, sync_stats
from bocho.commands.strings import key_spec
from bocho.errors import CommandError, syntax
from bocho.util import parse_int

SRV = "server"
ADMIN_ACL = ("admin", "dangerous")


# -- SLOWLOG -------------------------------------------------------------------------------

SLOWLOG_HELP = [
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
]


@command("slowlog|help", 2, "loading stale", group=SRV, since="6.2.0",
         summary="Show helpful text about the different subcommands")
def slowlog_help(c, argv):
    return resp.help_reply("slowlog", SLOWLOG_HELP)


@command("slowlog|get", -2, "admin loading stale", group=SRV, acl=ADMIN_ACL, since="2.2.12",
         summary="Get the slow log's entries", tips=("request_policy:all_nodes",
                                                      "nondeterministic_output"))
def slowlog_get(c, argv):
    log = c.server.slowlog
    count = 10
    if len(argv) > 3:
        raise CommandError(b"ERR wrong number of arguments for 'slowlog|get' command")
    if len(argv) == 3:
        err = b"ERR count should be greater than or equal to -1"
        count = parse_int(argv[2], err)
        if count < -1:
            raise CommandError(err)
        if count == -1:
            count = len(log)
    out = []
    for eid, ts, dur, args, addr, name in log[:count]:
        out.append(b"*6\r\n" + resp.integer(eid) + resp.integer(ts) + resp.integer(dur)
                   + resp.bulk_array(args) + resp.bulk(addr) + resp.bulk(name))
    return resp.array_header(len(out)) + b"".join(out)


@command("slowlog|len", 2, "admin loading stale", group=SRV, acl=ADMIN_ACL, since="2.2.12",
         summary="Get the slow log's length", tips=("request_policy:all_nodes",
                                                    "response_policy:agg_sum",
                                                    "nondeterministic_output"))
def slowlog_len(c, argv):
    return resp.integer(len(c.server.slowlog))


@command("slowlog|reset", 2, "admin loading stale", group=SRV, acl=ADMIN_ACL, since="2.2.12",
         summary="Clear all entries from the slow log",
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"))
def slowlog_reset(c, argv):
    c.server.slowlog.clear()
    return resp.OK


# -- LATENCY -------------------------------------------------------------------------------

LATENCY_HELP = [
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the "
    "specified command names.",
    "    If no commands are specified then all histograms are replied.",
]
LAT_FLAGS = "admin noscript loading stale"
LAT_TIPS = ("nondeterministic_output", "request_policy:all_nodes", "response_policy:special")


@command("latency|help", 2, "loading stale", group=SRV, since="2.8.13",
         summary="Show helpful text about the different subcommands")
def latency_help(c, argv):
    return resp.help_reply("latency", LATENCY_HELP)


@command("latency|latest", 2, LAT_FLAGS, group=SRV, acl=ADMIN_ACL, since="2.8.13",
         summary="Return the latest latency samples for all events", tips=LAT_TIPS)
def latency_latest(c, argv):
    events = c.server.latency_events
    out = [resp.array_header(len(events))]
    for name, ts in events.items():
        t, ms = ts.samples[-1] if ts.samples else (0, 0)
        out.append(b"*4\r\n" + resp.bulk(name.encode()) + resp.integer(t) + resp.integer(ms)
                   + resp.integer(ts.max))
    return b"".join(out)


@command("latency|history", 3, LAT_FLAGS, group=SRV, acl=ADMIN_ACL, since="2.8.13",
         summary="Return timestamp-latency samples for the event", tips=LAT_TIPS)
def latency_history(c, argv):
    ts = c.server.latency_events.get(argv[2].decode(errors="replace"))
    if ts is None:
        return resp.EMPTY_ARRAY
    return resp.array_header(len(ts.samples)) + b"".join(
        b"*2\r\n" + resp.integer(t) + resp.integer(ms) for t, ms in ts.samples)


@command("latency|graph", 3, LAT_FLAGS, group=SRV, acl=ADMIN_ACL, since="2.8.13",
         summary="Return a latency graph for the event", tips=LAT_TIPS)
def latency_graph(c, argv):
    name = argv[2].decode(errors="replace")
    ts = c.server.latency_events.get(name)
    if ts is None:
        raise CommandError(f"ERR No samples available for event '{name}'")
    return resp.verbatim(latency.graph(name, ts).encode(), c.resp)


@command("latency|doctor", 2, LAT_FLAGS, group=SRV, acl=ADMIN_ACL, since="2.8.13",
         summary="Return a human readable latency analysis report", tips=LAT_TIPS)
def latency_doctor(c, argv):
    return resp.verbatim(latency.doctor(c.server).encode(), c.resp)


@command("latency|reset", -2, LAT_FLAGS, group=SRV, acl=ADMIN_ACL, since="2.8.13",
         summary="Reset latency data for one or more events",
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"))
def latency_reset(c, argv):
    events = [a.decode(errors="replace") for a in argv[2:]] if len(argv) > 2 else None
    return resp.integer(latency.reset(c.server, events))


def _histogram(cmd, r: int) -> bytes:
    """A command's latency distribution. The hot loop keeps only each command's call
    count and total time (no per-call bucket update), so all calls are reported in the
    power-of-two bucket of their mean latency: right count, approximate shape."""
    calls = cmd.calls
    mean_ns = cmd.usec / calls if calls else 0
    b = 1024
    while b < mean_ns:
        b <<= 1
    buckets = resp.map_header(1, r) + resp.integer(b // 1000) + resp.integer(calls)
    return (resp.map_header(2, r) + resp.bulk(b"calls") + resp.integer(calls)
            + resp.bulk(b"histogram_usec") + buckets)


def _with_data(cmd) -> list:
    out = []
    if cmd.handler is not None and cmd.calls:
        out.append(cmd)
    if cmd.subcommands:
        out.extend(s for s in cmd.subcommands.values() if s.calls)
    return out


def _lookup_full(name: bytes):
    if b"|" in name:
        parent, _, sub = name.partition(b"|")
        p = lookup(parent)
        if p is None or not p.subcommands or b"|" in sub:
            return None
        s = p.subcommands.get(sub.lower())
        if s is None:
            return None
        # a subcommand asked by name reports itself only
        return [s] if s.calls else []
    cmd = lookup(name)
    return None if cmd is None else _with_data(cmd)


@command("latency|histogram", -2, LAT_FLAGS, group=SRV, acl=ADMIN_ACL, since="7.0.0",
         summary="Return the cumulative distribution of latencies of a subset of commands "
                 "or all commands", tips=LAT_TIPS)
def latency_histogram(c, argv):
    sync_stats()
    tracking = c.server.config["latency-tracking"]
    picked = []
    if len(argv) == 2:
        seen = set()
        for cmd in TABLE.values():
            if id(cmd) not in seen:
                seen.add(id(cmd))
                picked.extend(_with_data(cmd))
    else:
        for name in argv[2:]:
            found = _lookup_full(name)
            if found:
                picked.extend(found)
    if not tracking:
        picked = []
    out = [resp.map_header(len(picked), c.resp)]
    for cmd in picked:
        out.append(resp.bulk(cmd.fullname.lower().encode()))
        out.append(_histogram(cmd, c.resp))
    return b"".join(out)


# -- MEMORY --------------------------------------------------------------------------------

MEMORY_HELP = [
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
]
MEM_TIPS = ("nondeterministic_output", "request_policy:all_shards", "response_policy:special")


@command("memory|help", 2, "loading stale", group=SRV, since="4.0.0",
         summary="Show helpful text about the different subcommands")
def memory_help(c, argv):
    return resp.help_reply("memory", MEMORY_HELP)


@command("memory|usage", -3, "readonly", keys=(2, 2, 1), group=SRV, acl=("read",),
         key_specs=[key_spec("RO", pos=2)],
         since="4.0.0", summary="Estimate the memory usage of a key", complexity="O(N)")
def memory_usage(c, argv):
    samples = 5
    j = 3
    while j < len(argv):
        if argv[j].lower() == b"samples" and j + 1 < len(argv):
            samples = parse_int(argv[j + 1])
            if samples < 0:
                raise syntax()
            j += 2
        else:
            raise syntax()
    key = argv[2]
    v = c.db.data.get(key)
    if v is None:
        return resp.null(c.resp)
    return resp.integer(memory.key_cost(key, v, samples))


@command("memory|stats", 2, "", group=SRV, since="4.0.0",
         summary="Show memory usage details", tips=MEM_TIPS)
def memory_stats(c, argv):
    return resp.encode(memory.stats(c.server), c.resp)


@command("memory|doctor", 2, "", group=SRV, since="4.0.0",
         summary="Outputs memory problems report", tips=MEM_TIPS)
def memory_doctor(c, argv):
    srv = c.server
    used = memory.used_memory(srv)
    if used < 5 * 1024 * 1024:
        text = ("Hi Sam, this instance is empty or is using very little memory, my issues "
                "detector can't be used in these conditions. Please, leave for your mission "
                "on Earth and fill it with some data. The new Sam and I will be back to our "
                "programming as soon as I finished rebooting.")
    else:
        m = memory.model(srv)
        issues = []
        if m.peak > used * 3 // 2:
            issues.append(" * Peak memory: In the past this instance used more than 150% "
                          "the memory that is currently using.")
        if m.clients_normal > 200 * 1024:
            issues.append(" * Big client buffers: The clients output buffers are using "
                          "more than 200 KB of memory.")
        if issues:
            text = ("Sam, I detected a few issues in this Redis instance memory "
                    "implants:\n\n" + "\n\n".join(issues) + "\n")
        else:
            text = ("Hi Sam, I can't find any memory issue in your instance. I can only "
                    "account for what occurs on this base.")
    return resp.verbatim(text.encode(), c.resp)


@command("memory|malloc-stats", 2, "", group=SRV, since="4.0.0",
         summary="Show allocator internal stats", tips=MEM_TIPS)
def memory_malloc_stats(c, argv):
    return resp.verbatim(b"Stats not supported for the current allocator", c.resp)


@command("memory|purge", 2, "", group=SRV, since="4.0.0",
         summary="Ask the allocator to release memory",
         tips=("request_policy:all_shards", "response_policy:all_succeeded"))
def memory_purge(c, argv):
    gc.collect()
    return resp.OK


# -- TIME, LOLWUT --------------------------------------------------------------------------


@command("time", 1, "loading stale fast", group=SRV, since="2.6.0",
         summary="Return the current server time", tips=("nondeterministic_output",))
def time_(c, argv):
    now = time.time_ns() // 1000
    s, us = b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)
    return b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(s), s, len(us), us)


def _lolwut_art(cols: int, rows: int, seed: int) -> str:
    """Our own piece: a field of waves whose order dissolves towards the bottom, drawn
    with box characters (deterministic for the same arguments)."""
    rnd = random.Random(seed)
    glyphs = "╱╲─│┼·"
    lines = []
    for y in range(rows):
        chaos = y / max(1, rows - 1)
        row = []
        for x in range(cols):
            if rnd.random() < chaos * 0.8:
                row.append(rnd.choice(glyphs))
            else:
                row.append("╱" if (x + y) % 4 < 2 else "╲")
        lines.append("".join(row))
    return "\n".join(lines)


@command("lolwut", -1, "readonly fast", group=SRV, acl=("read",), since="5.0.0",
         summary="Display some computer art and the Redis version")
def lolwut(c, argv):
    version = 0
    params: list[int] = []
    i = 1
    while i < len(argv):
        if argv[i].lower() == b"version" and i + 1 < len(argv):
            version = parse_int(argv[i + 1])
            i += 2
        else:
            params.append(parse_int(argv[i]))
            i += 1
    cols = max(1, min(params[0] if params else 66, 1000))
    rows = max(1, min(params[1] if len(params) > 1 else 12, 1000))
    if version in (5, 6) or (version == 0 and params):
        art = _lolwut_art(cols, rows, version * 1000 + cols * 7 + rows)
        text = f"{art}\n\nbocho: waves, lines on a terminal. Redis ver. {REDIS_VERSION}\n"
    else:
        text = f"Redis ver. {REDIS_VERSION}\n"
    return resp.verbatim(text.encode(), c.resp)


# -- SHUTDOWN ------------------------------------------------------------------------------


SHUTDOWN_WAIT = Held("shutdown")  # a SHUTDOWN caller waiting for lagging replicas


@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group=SRV,
         acl=ADMIN_ACL, since="1.0.0",
         summary="Synchronously save the dataset to disk and then shut down the server")
def shutdown(c, argv):
    flags = {"nosave": False, "save": False, "now": False, "force": False}
    abort = False
    for a in argv[1:]:
        w = a.lower().decode(errors="replace")
        if w in flags:
            flags[w] = True
        elif w == "abort":
            abort = True
        else:
            raise syntax()
    if (abort and any(flags.values())) or (flags["nosave"] and flags["save"]):
        raise syntax()
    srv = c.server
    if abort:
        if srv.abort_shutdown():
            return resp.OK
        raise CommandError(b"ERR No shutdown in progress.")
    if srv.prepare_for_shutdown(**flags):
        # Redis exits right here: nothing more of this client's pipeline runs, no reply.
        c.blocked = True
        srv.request_exit(0)
        return None
    if srv.shutdown_mstime:
        # Waiting for lagging replicas: the caller blocks until the shutdown completes
        # (no reply, the process exits) or fails/is aborted (error, see cancel_shutdown).
        c.blocked = True
        c.block_state = SHUTDOWN_WAIT
        srv.shutdown_waiters.append(c)
        return None
    raise CommandError(b"ERR Errors trying to SHUTDOWN. Check logs.")
