"""Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis's multi.c).

Queueing happens in Client.call (network.py): while c.multi is a list, commands other
than EXEC/DISCARD/MULTI/WATCH/QUIT/RESET are checked and appended as (cmd, argv); an
error while queueing sets c.multi_error so that EXEC answers EXECABORT.

WATCH: db.watched maps key -> list of WatchedKey entries; Database.signal_modified sets
`entry.dirty_cas = True`, which lands on the watching client unless the key was already
expired when it was watched and is now simply gone (no logical change)."""

from __future__ import annotations

from bocho import clock, resp
from bocho.commands import command
from bocho.commands.connection import RESET_HOOKS
from bocho.commands.strings import key_spec
from bocho.errors import CommandError

TX = "transactions"
EXECABORT = b"EXECABORT Transaction discarded because of previous errors."


class WatchedKey:
    """One WATCHed key of one client, in one db."""

    __slots__ = ("client", "db", "key", "expired")

    def __init__(self, client, db, key: bytes) -> None:
        self.client = client
        self.db = db
        self.key = key
        self.expired = key_is_expired(db, key)

    @property
    def dirty_cas(self) -> bool:
        return self.client.dirty_cas

    @dirty_cas.setter
    def dirty_cas(self, value: bool) -> None:
        if self.expired:
            if self.key not in self.db.data or key_is_expired(self.db, self.key):
                # An already-expired key that got deleted (or flushed) changed nothing.
                self.expired = False
                return
        self.client.dirty_cas = True


def key_is_expired(db, key: bytes) -> bool:
    when = db.expires.get(key) if db.expires else None
    return when is not None and key in db.data and when <= clock.mstime()


def unwatch_all(c) -> None:
    for wk in c.watched_keys:
        lst = wk.db.watched.get(wk.key)
        if lst is None:
            continue
        try:
            lst.remove(wk)
        except ValueError:
            pass
        if not lst:
            del wk.db.watched[wk.key]
    c.watched_keys = []


def discard_transaction(c) -> None:
    c.multi = None
    c.multi_error = False
    c.dirty_cas = False
    unwatch_all(c)
    c.update_slow()


@command("multi", 1, "noscript loading stale fast allow_busy", group=TX, acl=("transaction",),
         since="1.2.0", summary="Mark the start of a transaction block")
def multi(c, argv):
    if c.multi is not None:
        raise CommandError(b"ERR MULTI calls can not be nested")
    c.multi = []
    c.multi_error = False
    if c.slow:
        c.update_slow()
    else:  # (what update_slow would find: slow only for the transaction)
        c.slow = c.queueing = True
    return resp.OK


@command("discard", 1, "noscript loading stale fast allow_busy", group=TX, acl=("transaction",),
         since="2.0.0", summary="Discard all commands issued after MULTI")
def discard(c, argv):
    if c.multi is None:
        raise CommandError(b"ERR DISCARD without MULTI")
    discard_transaction(c)
    return resp.OK


def _watched_key_expired(c) -> bool:
    for wk in c.watched_keys:
        if not wk.expired and key_is_expired(wk.db, wk.key):
            return True
    return False


@command("exec", 1, "noscript loading stale skip_slowlog", group=TX, acl=("transaction",),
         since="1.2.0", summary="Execute all commands issued after MULTI")
def exec_(c, argv):
    queued = c.multi
    if queued is None:
        raise CommandError(b"ERR EXEC without MULTI")
    if c.watched_keys and _watched_key_expired(c):
        c.dirty_cas = True
    if c.multi_error:
        discard_transaction(c)
        raise CommandError(EXECABORT)
    if c.dirty_cas:
        discard_transaction(c)
        return resp.null_array(c.resp)
    if c.watched_keys:
        unwatch_all(c)
    c.multi = None
    if c.queueing:  # (what update_slow would find: slow only for the transaction)
        c.slow = c.queueing = False
    else:
        c.update_slow()
    srv = c.server
    out = c.out
    out.append(resp.array_header(len(queued)))
    outer = srv.also_propagate
    buf: list = [] if outer is None else outer
    srv.also_propagate = buf
    srv.in_exec = True
    try:
        c.exec_queued(queued)
    finally:
        srv.in_exec = False
        srv.also_propagate = outer
    if outer is None and buf:
        propagate_block(srv, buf)
    c.prop = []  # what it wrote has left above: execute() must not add the EXEC itself
    c.multi_error = False
    c.dirty_cas = False
    return None


def propagate_block(srv, ops: list) -> None:
    """What a transaction wrote leaves as one MULTI ... EXEC block (a single write goes
    alone, as Redis 7.0 does)."""
    if len(ops) == 1:
        srv.propagate(*ops[0])
        return
    first_db = ops[0][0]
    srv.propagate(first_db, [b"MULTI"])
    for dbid, argv in ops:
        srv.propagate(dbid, argv)
    srv.propagate(ops[-1][0], [b"EXEC"])


@command("watch", -2, "noscript loading stale fast allow_busy", keys=(1, -1, 1), group=TX,
         acl=("transaction",), key_specs=[key_spec("RO", lastkey=-1)], since="2.2.0", summary="Monitor changes to keys to determine execution "
         "of the MULTI/EXEC block")
def watch(c, argv):
    if c.multi is not None:
        raise CommandError(b"ERR WATCH inside MULTI is not allowed")
    if c.dirty_cas:
        return resp.OK
    db = c.db
    for key in argv[1:]:
        if any(wk.db is db and wk.key == key for wk in c.watched_keys):
            continue
        wk = WatchedKey(c, db, key)
        db.watched.setdefault(key, []).append(wk)
        c.watched_keys.append(wk)
    return resp.OK


@command("unwatch", 1, "noscript loading stale fast allow_busy", group=TX, acl=("transaction",),
         since="2.2.0", summary="Forget about all watched keys")
def unwatch(c, argv):
    unwatch_all(c)
    c.dirty_cas = False
    return resp.OK


def _on_reset(c) -> None:
    discard_transaction(c)


RESET_HOOKS.append(_on_reset)


def _register_gone_hook() -> None:
    from bocho.server import Server
    Server.client_gone_hooks.append(unwatch_all)


_register_gone_hook()
