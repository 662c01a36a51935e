"""Clients blocked on keys (Redis's blocked.c + timeout.c): BLPOP and friends, BZPOPMIN
and friends, XREAD/XREADGROUP BLOCK. The one blocking mechanism; a family's commands
use it through the few functions below.

API (stable: other families build on it)
----------------------------------------
parse_timeout(arg) -> deadline
    A blocking command's timeout argument in seconds (fractions allowed), as Redis's
    getTimeoutFromObjectOrReply(UNIT_SECONDS): "ERR timeout is not a float or out of
    range", "ERR timeout is negative". Returns the absolute deadline on the monotonic
    clock (bocho.clock.monotonic_ms), or 0 for "wait forever". parse_timeout_ms(arg)
    is the same for a timeout in milliseconds (XREAD BLOCK), with Redis's integer error.

may_block(c) -> bool
    False inside MULTI/EXEC (server.in_exec) and for a script's client (one with an
    `is_script` attribute that is true): Redis's CLIENT_DENY_BLOCKING. A command
    that cannot serve at once then answers as if it timed out immediately.

block_for_keys(c, argv, kind, keys, deadline, serve, data=None, on_timeout=None,
               on_other=None) -> None
    Block client c (running command argv) until one of `keys` (in c.db) can serve it.
    The handler returns None right after this call (the reply comes later).
    - kind: the Redis TYPE name of the value that can serve the client (b"list",
      b"zset", b"stream"). When a key becomes ready and holds a value of that type,
      serve(c, key, value) is called for the blocked clients of that key, first
      blocked first, until one empties (deletes) the key or changes its type.
    - serve(c, key, value) -> bytes | None: do the command's work on `value` (pop,
      push, notify, `srv.dirty += 1`, and propagate its non-blocking form with
      blocking.propagate(c, argv), e.g. BLPOP -> LPOP key) and return the reply
      (an error reply is fine: "-WRONGTYPE ...\\r\\n"); None keeps the client blocked
      (an XREAD whose ID is not reached yet). c.block_state.data is `data`.
    - on_timeout(c) -> bytes: the reply when the deadline passes or CLIENT UNBLOCK
      TIMEOUT is used; default: the null array (RESP2 *-1, RESP3 _), as Redis.
    - on_other(c, key, value) -> bytes | None: called instead of serve when a ready
      key is missing or holds another type (deleted, overwritten, flushed, swapped);
      bytes unblocks the client with that reply (XREADGROUP's -UNBLOCKED when its
      stream is deleted), None (the default) keeps it blocked.
    Timing, INFO blocked_clients / clients_in_timeout_table, CLIENT LIST flag b,
    commandstats and the slow log (as Redis 7.0: the call counts when it blocks, its
    slow log entry and failure when it is served or CLIENT UNBLOCKed), CLIENT UNBLOCK,
    CLIENT KILL/disconnect and resuming the client's pipelined input are done here.

signal_key_as_ready(db, key) -> None
    A write made `key` possibly able to serve blocked clients. The database calls it
    itself whenever a key with blocked clients is added, overwritten, removed, flushed
    or swapped (db.add/set_key/_remove/flush/swap_with), so a family only calls it
    after an in-place change that can serve a client of an existing key (XADD onto an
    existing stream). Cheap when nobody waits on the key.

disconnect_all_blocked(srv)
    For the replication layer when a master turns replica: every client blocked on
    keys gets -UNBLOCKED and is closed after the reply (disconnectAllBlockedClients).

Ready keys are served by serve_ready_keys(srv): by Client.call() right after the
command that made them ready (after EXEC for a transaction, so pushes inside MULTI
serve only once it ends), and from the event loop otherwise. While any client is
blocked on keys the server's slow flag is set, so every command takes Client.call().

A served or timed-out client gets its reply with Client.send and then resumes its
pipelined input on the next loop turn (process_input(None))."""

from __future__ import annotations

import math
from collections.abc import Callable
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from bocho import clock, longdouble, resp
from bocho.commands import TABLE, lookup
from bocho.db import type_name
from bocho.errors import CommandError

if TYPE_CHECKING:
    from bocho.db import Database
    from bocho.network import Client
    from bocho.server import Server

TIMEOUT_NOT_FLOAT = b"ERR timeout is not a float or out of range"
TIMEOUT_NOT_INT = b"ERR timeout is not an integer or out of range"
TIMEOUT_NEGATIVE = b"ERR timeout is negative"
UNBLOCKED_ERROR = b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
_LLONG = 2**63
FORCE_UNBLOCKED = (b"-UNBLOCKED force unblock from blocking operation, instance state "
                   b"changed (master -> replica?)\r\n")
REPLY_OFF = 1  # network.REPLY_OFF (CLIENT REPLY OFF): the late reply is silenced too


class Held:
    """block_state of a client the server itself holds, not a blocking command: a
    command waiting for CLIENT PAUSE to end (Redis's BLOCKED_POSTPONE), SHUTDOWN waiting
    for lagging replicas (BLOCKED_SHUTDOWN). It counts in INFO blocked_clients and shows
    flag 'b'; CLIENT UNBLOCK leaves it alone."""

    __slots__ = ("kind",)
    timeout = 0
    keys = ()

    def __init__(self, kind: str) -> None:
        self.kind = kind


class BlockState:
    """c.block_state of a client blocked on keys."""

    __slots__ = ("kind", "keys", "db", "deadline", "serve", "data", "on_timeout",
                 "on_other", "cmd", "argv", "timer")

    def __init__(self, kind: bytes, keys: list[bytes], db: Database, deadline: int,
                 serve: Callable, data: Any, on_timeout: Callable | None,
                 on_other: Callable | None, cmd: Any, argv: list[bytes]) -> None:
        self.kind = kind
        self.keys = keys
        self.db = db
        self.deadline = deadline
        self.serve = serve
        self.data = data
        self.on_timeout = on_timeout
        self.on_other = on_other
        self.cmd = cmd
        self.argv = argv
        self.timer: Any = None


# -- arguments ---------------------------------------------------------------------------

def _deadline(ms: int) -> int:
    if ms < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    return clock.monotonic_ms() + ms if ms > 0 else 0


def parse_timeout(arg: bytes) -> int:
    """Seconds (a long double, as strtold reads it) -> deadline (0 = forever)."""
    if arg.isdigit() and len(arg) < 15:
        return _deadline(int(arg) * 1000)
    v = longdouble.parse(arg)
    if v is None:
        raise CommandError(TIMEOUT_NOT_FLOAT)
    if isinstance(v, float):  # +-inf: the C cast to long long gives LLONG_MIN
        ms = -_LLONG
    else:
        ms = math.ceil(v * 1000)
        if not -_LLONG <= ms < _LLONG:
            ms = -_LLONG
    return _deadline(ms)


def parse_timeout_ms(arg: bytes) -> int:
    """Milliseconds (an integer) -> deadline (0 = forever)."""
    from bocho.util import parse_int
    return _deadline(parse_int(arg, TIMEOUT_NOT_INT))


def may_block(c: Client) -> bool:
    return not c.server.in_exec and not getattr(c, "is_script", False)


# -- blocking ----------------------------------------------------------------------------

def block_for_keys(c: Client, argv: list[bytes], kind: bytes, keys, deadline: int,
                   serve: Callable, data: Any = None, on_timeout: Callable | None = None,
                   on_other: Callable | None = None) -> None:
    srv = c.server
    db = c.db
    cmd = TABLE.get(argv[0]) or lookup(argv[0])
    uniq = list(dict.fromkeys(keys))
    st = BlockState(kind, uniq, db, deadline, serve, data, on_timeout, on_other, cmd, argv)
    blocking = db.blocking
    for key in uniq:
        lst = blocking.get(key)
        if lst is None:
            blocking[key] = [c]
        else:
            lst.append(c)
    c.block_state = st
    c.blocked = True
    srv.blocked_on_keys += 1
    srv.update_slow()
    if deadline:
        srv.clients_in_timeout_table += 1
        loop = srv.loop
        if loop is not None:
            delay = max(0, deadline - clock.monotonic_ms()) / 1000.0
            st.timer = loop.call_later(delay, _timer_fired, c, st)


def _detach(c: Client, st: BlockState) -> None:
    """Remove c from the wait lists and counters (it stays c.blocked)."""
    srv = c.server
    blocking = st.db.blocking
    for key in st.keys:
        lst = blocking.get(key)
        if lst is not None:
            try:
                lst.remove(c)
            except ValueError:
                pass
            if not lst:
                del blocking[key]
    if st.timer is not None:
        st.timer.cancel()
        st.timer = None
    if st.deadline:
        srv.clients_in_timeout_table -= 1
    c.block_state = None
    srv.blocked_on_keys -= 1
    srv.update_slow()


def unblock(c: Client, reply: bytes | None, ns: int | None = 0,
            failed: bool = False) -> None:
    """End c's wait with `reply` and resume its input. As Redis 7.0, the command's call
    was counted when it blocked; a served or CLIENT UNBLOCKed client's command is
    accounted now (updateStatsOnUnblock: failed_calls, the slow log with `ns`, the
    serving time), a timed-out one (ns None) is not."""
    st = c.block_state
    if not isinstance(st, BlockState):
        return
    _detach(c, st)
    c.blocked = False
    srv = c.server
    cmd = st.cmd
    if reply is not None and reply[:1] == b"-":
        srv.count_error(reply[1:].split(b"\r\n", 1)[0])
        failed = True
    if ns is not None:
        if failed and cmd is not None:
            cmd.failed_calls += 1
        if ns > srv.slowlog_ns:
            from bocho.slowlog import record
            record(srv, c, st.argv, ns)
    if reply is not None and c.reply_mode != REPLY_OFF:
        c.send(reply)
    if srv.loop is not None:
        srv.loop.call_soon(_resume, c)
        if not srv.flush_scheduled and srv.pending_writes:
            srv.flush_scheduled = True
            srv.loop.call_soon(srv.flush_pending)


def _resume(c: Client) -> None:
    if c.closing or c.blocked:
        return
    c.process_input()
    srv = c.server
    if srv.pending_writes:
        srv.flush_pending()


def timeout_reply(c: Client) -> bytes:
    st = c.block_state
    if st.on_timeout is not None:
        return st.on_timeout(c)
    return resp.null_array(c.resp)


def _timer_fired(c: Client, st: BlockState) -> None:
    if c.block_state is not st or c.closing:
        return
    st.timer = None
    left = st.deadline - clock.monotonic_ms()
    if left > 0:  # the loop's timer fired early by a rounding step
        st.timer = c.server.loop.call_later(left / 1000.0, _timer_fired, c, st)
        return
    unblock(c, timeout_reply(c), None)
    srv = c.server
    if srv.pending_writes:
        srv.flush_pending()


def unblock_client(c: Client, as_error: bool) -> None:
    """CLIENT UNBLOCK id [TIMEOUT|ERROR] (Server.unblock_client). Redis 7.0 counts a
    failed call either way."""
    unblock(c, UNBLOCKED_ERROR if as_error else timeout_reply(c), failed=True)


def disconnect_all_blocked(srv: Server) -> None:
    for c in list(srv.clients.values()):
        if isinstance(c.block_state, BlockState):
            unblock(c, FORCE_UNBLOCKED, None)
            c.close()


def client_gone(c: Client) -> None:
    st = c.block_state
    if isinstance(st, BlockState):
        _detach(c, st)


# -- serving -----------------------------------------------------------------------------

def signal_key_as_ready(db: Database, key: bytes) -> None:
    if key not in db.blocking:
        return
    srv = db.server
    ready = srv.ready_keys
    marks = srv.ready_marks
    mark = (db.id, key)
    if mark in marks:
        return
    marks.add(mark)
    ready.append((db, key))
    if len(ready) == 1 and srv.loop is not None:
        # outside a client's command (cron, expiry...): serve on the next loop turn
        srv.loop.call_soon(serve_ready_keys, srv)


def propagate(c: Client, argv: list[bytes]) -> None:
    """A served command's write leaves as its non-blocking form."""
    srv = c.server
    if srv.propagating:
        srv.propagate(c.db.id, argv)


def serve_ready_keys(srv: Server) -> None:
    """handleClientsBlockedOnKeys: serve the clients blocked on the ready keys, key by
    key in the order they became ready, each key's clients in the order they blocked.
    Serving may make more keys ready (BLMOVE's push): those are served too."""
    while srv.ready_keys:
        batch = srv.ready_keys
        srv.ready_keys = []
        for db, key in batch:
            srv.ready_marks.discard((db.id, key))
            waiting = db.blocking.get(key)
            if not waiting:
                continue
            value = db.lookup(key, touch=False, stats=False, notify_miss=False)
            kind = type_name(value) if value is not None else None
            for c in list(waiting):
                st = c.block_state
                if not isinstance(st, BlockState) or c.closing:
                    continue
                t0 = perf_counter_ns()
                trk = srv.tracking
                if trk is not None and trk.clients:
                    # the served client runs its command now: its own invalidations
                    # (BLMOVE's push) follow its reply (bocho/tracking.py)
                    prev = trk.current
                    trk.current = c
                    trk.in_cmd += 1
                else:
                    trk = None
                try:
                    if st.kind == kind:
                        reply = st.serve(c, key, value)
                    else:
                        reply = st.on_other(c, key, value) if st.on_other is not None else None
                    if reply is not None:
                        unblock(c, reply, perf_counter_ns() - t0)
                finally:
                    if trk is not None:
                        trk.in_cmd -= 1
                        if trk.pending:
                            trk.flush_pending(c)
                        trk.current = prev
                if value is not None and db.data.get(key) is not value:
                    break  # emptied (deleted) or replaced: the rest keep waiting
    if srv.pending_writes and not srv.flush_scheduled and srv.loop is not None:
        srv.flush_scheduled = True
        srv.loop.call_soon(srv.flush_pending)
