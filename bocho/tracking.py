"""Server-assisted client-side caching (CLIENT TRACKING), as Redis 7.0.

State lives in one Tracking object on the server (srv.tracking, None until a client
first enables tracking):

- table: key -> set of client ids that read it (default mode). The table ignores the
  db number, as Redis's. An entry is dropped when the key is invalidated; ids of clients
  that left or turned tracking off are skipped then (no clean-up on disconnect).
- prefixes: prefix -> Prefix(keys modified this event-loop turn, subscribed clients)
  for BCAST clients; the keys go out in one message per prefix at the end of the turn.
- pending: invalidations for the client that is running a command, sent after its reply
  (None in it stands for a flush).

Hooks: every write reaches Database.signal_modified (db.watched holds a sentinel entry
while tracking is active, so the `if db.watched:` guards all write paths use let it
through), which calls invalidate(). FLUSHDB/FLUSHALL call invalidate_flush(). Reads are
remembered by Client.execute after a read-only command (remember_keys). Tracking clients
take the full path (Client.update_slow), where call() marks the running client
(`current`, for NOLOOP and for delaying the client's own invalidations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bocho.network import F_PUBSUB, F_TRACKING, Push

if TYPE_CHECKING:
    from bocho.network import Client
    from bocho.server import Server

CHANNEL = b"__redis__:invalidate"
_CHANNEL_HDR = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
_PUSH_HDR = b">2\r\n$10\r\ninvalidate\r\n"

# A key that is never bytes: it sits in every db.watched while tracking is on.
SENTINEL: Any = object()
_NO_WATCHERS: list = []

# names of the read-only commands whose reads are not tracked themselves (scripts track
# their declared keys when they run a read-only command)
_SCRIPT_RO = {"eval_ro", "evalsha_ro", "fcall_ro"}


class ClientTracking:
    """A client's tracking options (Client.tracking while tracking is on)."""

    __slots__ = ("redirect", "bcast", "optin", "optout", "noloop", "caching", "broken",
                 "prefixes")

    def __init__(self) -> None:
        self.redirect = 0
        self.bcast = False
        self.optin = False
        self.optout = False
        self.noloop = False
        self.caching = False  # CLIENT CACHING given for the next command
        self.broken = False  # the redirect client is gone
        self.prefixes: set[bytes] = set()


class Prefix:
    __slots__ = ("keys", "clients")

    def __init__(self) -> None:
        # key -> the client whose command changed it last (None: expiry, eviction)
        self.keys: dict[bytes, Any] = {}
        self.clients: dict[Any, None] = {}


class Tracking:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.table: dict[bytes, set[int]] = {}
        self.items = 0
        self.prefixes: dict[bytes, Prefix] = {}
        self.clients = 0  # clients with tracking on
        self.current: Any = None  # the client running a command (full path)
        self.in_cmd = 0  # depth of command execution of `current`
        self.internal = 0  # >0 while the server itself deletes (expiry, eviction)
        self.pending: list[bytes | None] = []
        self.bcast_scheduled = False
        self.limit_counter = 0
        self.hooked = False

    # -- the write hook -------------------------------------------------------------------

    def set_hook(self, on: bool) -> None:
        """Put the sentinel in (or take it out of) every db.watched."""
        if not on and not self.hooked:
            return
        self.hooked = on  # (on: again each time, for databases made since)
        for db in self.srv.dbs:
            if on:
                db.watched[SENTINEL] = _NO_WATCHERS
            else:
                db.watched.pop(SENTINEL, None)

    def invalidate(self, key: bytes) -> None:
        """trackingInvalidateKey: key changed; tell those who read it."""
        origin = None if self.internal else self.current
        if self.prefixes:
            self.remember_for_broadcast(key, origin)
        ids = self.table.pop(key, None)
        if ids is None:
            return
        self.items -= len(ids)
        clients = self.srv.clients
        cur = self.current
        for cid in sorted(ids):
            t = clients.get(cid)
            if t is None or not t.flags & F_TRACKING:
                continue
            tr = t.tracking
            if tr.bcast:
                continue
            if t is cur:
                if tr.noloop:
                    continue
                if self.in_cmd:
                    self.pending.append(key)
                    continue
            send_message(t, _one_key(key))

    def remember_for_broadcast(self, key: bytes, origin: Any) -> None:
        for p, st in self.prefixes.items():
            if key.startswith(p):
                st.keys[key] = origin
        if not self.bcast_scheduled and any(st.keys for st in self.prefixes.values()):
            self.bcast_scheduled = True
            loop = self.srv.loop
            if loop is not None:
                loop.call_soon(self.broadcast)

    def invalidate_flush(self) -> None:
        """trackingInvalidateKeysOnFlush: a null invalidation to every tracking client,
        and the table is emptied."""
        if self.clients:
            cur = self.current
            for t in list(self.srv.clients.values()):
                if t.flags & F_TRACKING:
                    if t is cur and self.in_cmd:
                        self.pending.append(None)
                    else:
                        send_message(t, _null(t.resp))
        self.table = {}
        self.items = 0

    def flush_pending(self, c: Client) -> None:
        """After the client's top-level command: its own invalidations follow its reply."""
        pend = self.pending
        self.pending = []
        if c.closing:
            return
        for key in pend:
            send_message(c, _null(c.resp) if key is None else _one_key(key))

    def broadcast(self) -> None:
        """trackingBroadcastInvalidationMessages: one message per prefix with the keys
        changed since the last turn (NOLOOP clients without their own changes)."""
        self.bcast_scheduled = False
        prefixes = self.prefixes
        for p in sorted(prefixes):  # prefix order, as Redis's radix tree walk
            st = prefixes[p]
            keys = st.keys
            if not keys:
                continue
            st.keys = {}
            ordered = sorted(keys)
            common = _key_array(ordered)
            for t in list(st.clients):
                if t.closing:
                    continue
                if t.tracking is not None and t.tracking.noloop:
                    mine = [k for k in ordered if keys[k] is not t]
                    if mine:
                        send_message(t, _key_array(mine))
                else:
                    send_message(t, common)
        srv = self.srv
        if srv.pending_writes:
            srv.flush_pending()

    # -- reads ----------------------------------------------------------------------------

    def remember(self, c: Client, keys: list[bytes]) -> None:
        tr = c.tracking
        if (tr.optin and not tr.caching) or (tr.optout and tr.caching):
            return
        table = self.table
        cid = c.id
        for k in keys:
            ids = table.get(k)
            if ids is None:
                table[k] = {cid}
                self.items += 1
            elif cid not in ids:
                ids.add(cid)
                self.items += 1

    def limit(self) -> None:
        """trackingLimitUsedSlots: over tracking-table-max-keys, invalidate keys (oldest
        first here), with more effort each time the limit is still exceeded."""
        mx = self.srv.config["tracking-table-max-keys"]
        table = self.table
        if not mx or len(table) <= mx:
            self.limit_counter = 0
            return
        effort = 100 * (self.limit_counter + 1)
        saved, self.internal = self.internal, self.internal + 1
        try:
            while effort > 0 and table:
                effort -= 1
                self.invalidate_table_key(next(iter(table)))
                if len(table) <= mx:
                    self.limit_counter = 0
                    return
        finally:
            self.internal = saved
        self.limit_counter += 1

    def invalidate_table_key(self, key: bytes) -> None:
        """Drop one table entry, sending its invalidations at once (no broadcast)."""
        ids = self.table.pop(key)
        self.items -= len(ids)
        clients = self.srv.clients
        for cid in sorted(ids):
            t = clients.get(cid)
            if t is None or not t.flags & F_TRACKING or t.tracking.bcast:
                continue
            send_message(t, _one_key(key))

    def cron(self) -> None:
        if self.clients:
            self.limit()

    def totals(self) -> tuple[int, int, int]:
        return len(self.table), self.items, len(self.prefixes)


# -- messages ---------------------------------------------------------------------------

def _bulk(k: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(k), k)


def _one_key(key: bytes) -> bytes:
    return b"*1\r\n$%d\r\n%s\r\n" % (len(key), key)


def _key_array(keys: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(keys) + b"".join(_bulk(k) for k in keys)


def _null(resp: int) -> bytes:
    return b"_\r\n" if resp == 3 else b"$-1\r\n"


def send_message(c: Client, payload: bytes) -> None:
    """sendTrackingMessage: to the client, or to its redirect client (RESP3 push, or a
    __redis__:invalidate message for a subscribed RESP2 one). A gone redirect client
    marks the redirection broken and tells a RESP3 client so."""
    tr = c.tracking
    redirected = False
    if tr is not None and tr.redirect:
        r = c.server.clients.get(tr.redirect)
        if r is None or r.closing:
            tr.broken = True
            if c.resp == 3:
                c.send(Push(b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % tr.redirect))
            return
        c = r
        redirected = True
    if c.resp == 3:
        c.send(Push(_PUSH_HDR + payload))
    elif redirected and c.flags & F_PUBSUB:
        c.send(Push(_CHANNEL_HDR + payload))


# -- enabling / disabling ---------------------------------------------------------------

def get(srv: Server) -> Tracking:
    trk = srv.tracking
    if trk is None:
        trk = srv.tracking = Tracking(srv)
        srv.hooks_on_cron.append(trk.cron)
        hooks = type(srv).client_gone_hooks
        if client_gone not in hooks:
            hooks.append(client_gone)
    return trk


def enable(c: Client, redirect: int, bcast: bool, optin: bool, optout: bool, noloop: bool,
           prefixes: list[bytes]) -> None:
    srv = c.server
    trk = get(srv)
    tr = c.tracking
    if not c.flags & F_TRACKING or tr is None:
        trk.clients += 1
        tr = c.tracking = ClientTracking()
    c.flags |= F_TRACKING
    tr.broken = False
    tr.redirect = redirect
    tr.bcast = bcast
    tr.optin = optin
    tr.optout = optout
    tr.noloop = noloop
    if bcast:
        for p in prefixes or [b""]:
            st = trk.prefixes.get(p)
            if st is None:
                st = trk.prefixes[p] = Prefix()
            st.clients[c] = None
            tr.prefixes.add(p)
    trk.set_hook(True)
    c.update_slow()


def disable(c: Client) -> None:
    tr = c.tracking
    trk = c.server.tracking
    if tr is None or trk is None:
        c.flags &= ~F_TRACKING
        return
    for p in tr.prefixes:
        st = trk.prefixes.get(p)
        if st is not None:
            st.clients.pop(c, None)
            if not st.clients:
                del trk.prefixes[p]
    if c.flags & F_TRACKING:
        trk.clients -= 1
    c.flags &= ~F_TRACKING
    c.tracking = None
    if not trk.clients and not trk.table:
        trk.set_hook(False)
    c.update_slow()


def client_gone(c: Client) -> None:
    if c.flags & F_TRACKING:
        disable(c)


def check_prefixes(tr: ClientTracking | None, prefixes: list[bytes]) -> bytes | None:
    """checkPrefixCollisionsOrReply: the error text, or None."""
    existing = sorted(tr.prefixes) if tr is not None else []
    for i, p in enumerate(prefixes):
        for e in existing:
            if p.startswith(e) or e.startswith(p):
                return (b"ERR Prefix '%s' overlaps with an existing prefix '%s'. Prefixes for "
                        b"a single client must not overlap." % (p, e))
        for q in prefixes[i + 1:]:
            if p.startswith(q) or q.startswith(p):
                return (b"ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                        b"Prefixes for a single client must not overlap." % (p, q))
    return None


def remember_keys(c: Client, cmd: Any, argv: list[bytes]) -> None:
    """After a read-only command (Client.execute, only while tracking clients exist):
    remember its keys for a default-mode tracking client. A script's reads make its
    caller remember the script's declared keys."""
    srv = c.server
    name = cmd.fullname if hasattr(cmd, "fullname") else cmd.name
    if name in _SCRIPT_RO:
        return
    ctx = srv.script_ctx
    if ctx is not None and c is ctx.sc:
        c = ctx.caller
        argv = ctx.argv  # EVAL/FCALL's own arguments (also when run by EXEC)
        if not argv:
            return
        from bocho.commands import lookup
        cmd = lookup(argv[0])
        if cmd is None:
            return
        if cmd.subcommands is not None and len(argv) > 1:
            cmd = cmd.subcommands.get(argv[1].lower(), cmd)
    if not c.flags & F_TRACKING or c.tracking.bcast:
        return
    from bocho.commands import PUBSUB
    if cmd.flags & PUBSUB:
        return
    try:
        pos = cmd.keys(argv)
    except Exception:
        return
    if pos:
        srv.tracking.remember(c, [argv[i] for i in pos])
