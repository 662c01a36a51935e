"""The replica side of replication (replication.c's slave half): REPLICAOF, the link to
the master (handshake, the RDB of a full sync, the command stream), the cached master
that lets a broken link continue with PSYNC, and the replica's INFO/ROLE fields.

srv.replica is the one Replica. The protocol decisions live in handshake.py (sans I/O);
MasterClient is the asyncio protocol of the link and, once synced, the master client
that applies the stream (a Client flagged F_MASTER: obeyed even on a read-only replica,
never answered except REPLCONF GETACK)."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from bocho import clock, log, network
from bocho.db import Database
from bocho.network import F_MASTER, F_REPLICA, Client
from bocho.replication import handshake as hs
from bocho.replication.handshake import CONNECT, CONNECTED, NONE, TRANSFER

if TYPE_CHECKING:
    from bocho.server import Server

READONLY_ERR = b"READONLY You can't write against a read only replica."
MASTERDOWN_ERR = (b"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is "
                  b"set to 'no'.")


class Cached:
    """What survives a lost link for PSYNC: the master's replication ID, the offset
    applied and the db its stream had selected."""

    __slots__ = ("replid", "reploff", "dbid")

    def __init__(self, replid: str, reploff: int, dbid: int) -> None:
        self.replid = replid
        self.reploff = reploff
        self.dbid = dbid


class Replica:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.masterhost: str | None = None
        self.masterport = 0
        self.state = NONE
        self.link: MasterClient | None = None  # the connection, from connect to close
        self.master: MasterClient | None = None  # the link once synced
        self.cached: Cached | None = None
        self.down_since = 0
        self.transfer_size = -1
        self.transfer_read = 0
        self.transfer_lastio = 0
        self.executing = False  # the master client's command runs (expiry: not expired)
        self.last_cron = 0
        self.connect_task: asyncio.Task | None = None
        self.attempt = 0  # numbers connection attempts: a late one finds itself stale
        # (dbid, key) given a TTL by this replica's own clients (replica-read-only no):
        # no master will DEL them, so they expire here (Redis's slaveKeysWithExpire)
        self.own_expires: set[tuple[int, bytes]] = set()

    # -- role changes ---------------------------------------------------------------------

    def set_master(self, host: str, port: int) -> None:
        """replicationSetMaster."""
        srv = self.srv
        was_master = self.masterhost is None
        self.masterhost = None
        if self.master is not None:
            self.master.close_now()  # caches it (no reconnect: masterhost is None)
        from bocho.blocking import disconnect_all_blocked
        disconnect_all_blocked(srv)  # their keys now change only by the master's will
        self.masterhost, self.masterport = host, port
        srv.config["replicaof"] = [host, str(port)]
        self._role(True)
        self.cancel_handshake(False)
        if was_master:
            self.discard_cached()
            self.cache_myself()
        self.state = CONNECT
        log.notice(f"Connecting to MASTER {host}:{port}")
        self.connect()

    def unset_master(self) -> None:
        """replicationUnsetMaster: keep the data, start a new history."""
        if self.masterhost is None:
            return
        srv = self.srv
        self.masterhost = None
        srv.config["replicaof"] = None
        if self.master is not None:
            self.master.close_now()
        self.discard_cached()
        self.cancel_handshake(False)
        srv.repl.shift_replid()
        disconnect_replicas(srv)
        self.state = NONE
        master_side = getattr(srv, "master_side", None)
        if master_side is not None:
            master_side.seldb = -1  # our own stream starts with a SELECT
        self.down_since = 0
        self._role(False)
        restart_aof(srv)  # stopped if a sync was under way

    def _role(self, replica: bool) -> None:
        srv = self.srv
        srv.role = "slave" if replica else "master"
        log.logger.role = "S" if replica else "M"
        srv.update_slow()

    def cache_myself(self) -> None:
        """A master turning replica: its own history may be continued by the new master
        (it may have been this node's replica)."""
        log.notice("Before turning into a replica, using my own master parameters to "
                   "synthesize a cached master: I may be able to synchronize with the new "
                   "master with just a partial transfer.")
        repl = self.srv.repl
        self.cached = Cached(repl.replid, repl.master_repl_offset, 0)

    def discard_cached(self) -> None:
        if self.cached is not None:
            log.notice("Discarding previously cached master state.")
            self.cached = None

    # -- connecting -----------------------------------------------------------------------

    def connect(self) -> None:
        """connectWithMaster: the connection completes (or fails) later."""
        srv = self.srv
        loop = srv.loop
        if loop is None or self.masterhost is None:
            return
        self.transfer_lastio = srv.unixtime
        self.state = hs.CONNECTING
        log.notice("MASTER <-> REPLICA sync started")
        self.attempt += 1
        self.connect_task = loop.create_task(
            self._connect(self.masterhost, self.masterport, self.attempt))

    async def _connect(self, host: str, port: int, attempt: int) -> None:
        srv = self.srv
        cfg = srv.config
        kw: dict[str, Any] = {}
        if cfg["bind-source-addr"]:
            kw["local_addr"] = (cfg["bind-source-addr"], 0)
        if cfg["tls-replication"] and srv.tls_client_ctx is not None:
            kw["ssl"] = srv.tls_client_ctx
            kw["server_hostname"] = None
        try:
            await srv.loop.create_connection(lambda: MasterClient(srv, self, attempt),
                                             host, port, **kw)
        except OSError as e:
            if attempt == self.attempt and self.state == hs.CONNECTING:
                if isinstance(e, socket.gaierror):  # Redis resolves before connecting
                    log.warning(f"Unable to connect to MASTER: {e.strerror or e}")
                else:
                    log.warning(f"Error condition on socket for SYNC: {e.strerror or e}")
                self.state = CONNECT
        finally:
            if attempt == self.attempt:
                self.connect_task = None

    def cancel_handshake(self, reconnect: bool) -> bool:
        """cancelReplicationHandshake: drop a connection that is not synced yet."""
        if self.state == TRANSFER or self.state == hs.CONNECTING or hs.in_handshake(self.state):
            link = self.link
            self.link = None
            if link is not None:
                link.abort_transfer()
                link.close_now()
            self.attempt += 1  # a connection still under way is dropped when it completes
            self.connect_task = None
            self.state = CONNECT
        else:
            return False
        if reconnect and self.masterhost is not None:
            log.notice(f"Reconnecting to MASTER {self.masterhost}:{self.masterport} after "
                       "failure")
            self.connect()
        return True

    def master_lost(self, mc: MasterClient, cache: bool = True) -> None:
        """The synced link went down: cache it for PSYNC, reconnect at once."""
        if cache:
            log.warning("Connection with master lost.")
            log.notice("Caching the disconnected master state.")
            self.cached = Cached(mc.replid, mc.reploff, mc.db.id)
        self.master = None
        self.link = None
        self.state = CONNECT
        self.down_since = self.srv.unixtime
        if self.masterhost is not None:
            log.notice(f"Reconnecting to MASTER {self.masterhost}:{self.masterport}")
            self.connect()

    # -- the cron (once a second) -----------------------------------------------------------

    def cron(self) -> None:
        srv = self.srv
        m = self.master
        if m is not None and m.parser.pending() and srv.busy_script is None:
            m.process_input()  # what arrived while a script was busy
        if self.own_expires and srv.debug_active_expire:
            self.expire_own_keys()
        now_ms = clock.monotonic_ms()
        if now_ms - self.last_cron < 1000:
            return
        self.last_cron = now_ms
        if self.masterhost is None:
            return
        now = int(time.time())
        timeout = srv.config["repl-timeout"]
        state = self.state
        if (state == hs.CONNECTING or hs.in_handshake(state)) and \
                now - self.transfer_lastio > timeout:
            log.warning("Timeout connecting to the MASTER...")
            self.cancel_handshake(True)
        elif state == TRANSFER and now - self.transfer_lastio > timeout:
            log.warning("Timeout receiving bulk data from MASTER... If the problem persists "
                        "try to set the 'repl-timeout' parameter in redis.conf to a larger "
                        "value.")
            self.cancel_handshake(True)
        elif state == CONNECTED and self.master is not None and \
                now - self.master.last_io > timeout:
            log.warning("MASTER timeout: no data nor PING received...")
            self.master.close_now()
        if self.state == CONNECT:
            log.notice(f"Connecting to MASTER {self.masterhost}:{self.masterport}")
            self.connect()
        if self.master is not None:
            self.master.send_ack()

    def expire_own_keys(self) -> None:
        """expireSlaveKeys: the keys this replica gave a TTL to itself, once past it."""
        srv = self.srv
        if self.masterhost is None:
            self.own_expires.clear()
            return
        now = clock.mstime()
        for dbid, key in list(self.own_expires)[:1000]:
            db = srv.dbs[dbid] if dbid < len(srv.dbs) else None
            when = db.expires.get(key) if db is not None else None
            if when is None:
                self.own_expires.discard((dbid, key))
            elif when <= now:
                db.delete_expired(key)
                self.own_expires.discard((dbid, key))

    # -- what clients see -------------------------------------------------------------------

    def refusal(self, c: Client, cmd: Any, exec_: bool) -> bytes | None:
        """processCommand's replica checks for a command from a client other than the
        master: writes on a read-only replica, and anything without the `stale` flag
        while the link is down and replica-serve-stale-data is no (an EXEC: the
        commands it would run)."""
        from bocho.commands import STALE, WRITE
        cfg = self.srv.config
        cmds = [q for q, _ in c.multi] if exec_ and c.multi else [cmd]
        if cfg["replica-read-only"] and any(q.flags & WRITE for q in cmds):
            return READONLY_ERR
        if (self.state != CONNECTED and not cfg["replica-serve-stale-data"]
                and (not cmd.flags & STALE or any(not q.flags & STALE for q in cmds))):
            return MASTERDOWN_ERR
        return None

    def serves_reads(self) -> bool:
        """Whether refusal() lets every non-write command of a client through (the
        compiled loop then runs them itself)."""
        return self.state == CONNECTED or self.srv.config["replica-serve-stale-data"]

    def offsets(self) -> tuple[int, int]:
        """(applied, read) offsets of the master link, 1 when there is none."""
        m = self.master
        if m is not None:
            return m.reploff, m.read_reploff
        if self.cached is not None:
            return self.cached.reploff, self.cached.reploff
        return 1, 1

    def info_lines(self) -> list[str]:
        srv = self.srv
        cfg = srv.config
        now = srv.unixtime
        applied, read = self.offsets()
        m = self.master
        lines = [
            f"master_host:{self.masterhost}",
            f"master_port:{self.masterport}",
            f"master_link_status:{'up' if self.state == CONNECTED else 'down'}",
            f"master_last_io_seconds_ago:{now - m.last_io if m is not None else -1}",
            f"master_sync_in_progress:{int(self.state == TRANSFER)}",
            f"slave_read_repl_offset:{read}",
            f"slave_repl_offset:{applied}",
        ]
        if self.state == TRANSFER:
            size = max(self.transfer_size, 0)
            got = self.transfer_read
            perc = got / size * 100 if size else 0.0
            lines += [
                f"master_sync_total_bytes:{self.transfer_size}",
                f"master_sync_read_bytes:{got}",
                f"master_sync_left_bytes:{self.transfer_size - got}",
                f"master_sync_perc:{perc:.2f}",
                f"master_sync_last_io_seconds_ago:{now - self.transfer_lastio}",
            ]
        if self.state != CONNECTED:
            since = now - self.down_since if self.down_since else -1
            lines.append(f"master_link_down_since_seconds:{since}")
        lines += [
            f"slave_priority:{cfg['replica-priority']}",
            f"slave_read_only:{int(cfg['replica-read-only'])}",
            f"replica_announced:{int(cfg['replica-announced'])}",
        ]
        return lines

    def role_command(self, c: Client) -> bytes:
        from bocho import resp
        return resp.encode(self.role_reply(), c.resp)

    def role_reply(self) -> list:
        m = self.master
        return [b"slave", (self.masterhost or "").encode(), self.masterport,
                hs.state_name(self.state).encode(), m.reploff if m is not None else -1]


def restart_aof(srv: Server) -> None:
    """restartAOFAfterSYNC: appendonly yes and the AOF off (stopped for a load): a
    rewrite of the new dataset starts it again."""
    aof = srv.aof
    if aof is None or aof.state != 0 or not srv.config["appendonly"]:
        return
    if not aof.start():
        log.warning("Failed enabling the AOF after successful master synchronization! "
                    "Trying it again in one second.")


def disconnect_replicas(srv: Server) -> None:
    """disconnectSlaves: they must resync (or PSYNC) with the new history."""
    for c in list(srv.clients.values()):
        if c.flags & F_REPLICA:
            c.close_now()


def replicaof_startup(srv: Server) -> None:
    """`replicaof` in the config: a replica from the start (before the data is loaded:
    keys already expired stay, as the master will DEL them), connecting from the cron."""
    rep = srv.replica
    master = srv.config["replicaof"]
    if master:
        rep.masterhost, rep.masterport = master[0], int(master[1])
        rep.state = CONNECT
        rep._role(True)


# -- the link ---------------------------------------------------------------------------------

# LOADING: the payload all received, its end still being read by the loader
HANDSHAKE, BULK_HEADER, PAYLOAD, LOADING, STREAM = range(5)


class MasterClient(Client):
    """The connection to the master: handshake and RDB transfer first, then (registered
    as a client, flagged M) the command stream, applied as the master's own commands."""

    __slots__ = ("rep", "attempt", "mode", "hshake", "line", "payload", "tmpfile", "tmpfd", "diskless",
                 "replid", "reploff", "read_reploff", "parser", "unfed", "inflight",
                 "usemark", "swap", "loader", "step", "paused", "payload_done", "after",
                 "newline_sent")

    def __init__(self, srv: Server, rep: Replica, attempt: int) -> None:
        super().__init__(srv)
        self.rep = rep
        self.attempt = attempt
        self.mode = HANDSHAKE
        cfg = srv.config
        port = cfg["replica-announce-port"] or (
            cfg["tls-port"] if cfg["tls-replication"] and cfg["tls-port"] else cfg["port"])
        self.hshake = hs.Handshake(
            masteruser=cfg["masteruser"], masterauth=cfg["masterauth"], port=port,
            announce_ip=cfg["replica-announce-ip"],
            cached=(rep.cached.replid, rep.cached.reploff) if rep.cached else None,
            failover=srv.failover_state == "failover-in-progress")
        self.line = b""
        self.payload: hs.Payload | None = None
        self.tmpfile = ""
        self.tmpfd = -1
        self.diskless = False
        self.swap = False  # a diskless load into databases aside (repl-diskless-load swapdb)
        self.loader: Any = None  # rdb.Loader of a diskless load under way
        self.step: asyncio.Handle | None = None  # its next step, scheduled
        self.paused = False  # socket reads paused: the loader is behind
        self.payload_done = False
        self.after = b""  # what came after the payload while it was still being loaded
        self.newline_sent = 0
        self.replid = ""
        self.reploff = 0
        self.read_reploff = 0
        self.parser = hs.StreamParser()
        self.unfed: list[bytes] = []  # applied inside MULTI, fed at EXEC
        self.inflight = b""  # the raw bytes of a command held (client pause)
        self.usemark = False
        self.authenticated = True

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        rep = self.rep
        self.transport = transport
        self._write = transport.write
        self._wbuf_size = transport.get_write_buffer_size
        if rep.state != hs.CONNECTING or rep.link is not None or self.attempt != rep.attempt:
            transport.close()  # REPLICAOF NO ONE (or another master) meanwhile
            self.closing = True
            return
        peer = transport.get_extra_info("peername") or ("?", 0)
        local = transport.get_extra_info("sockname") or ("?", 0)
        from bocho.network import _fmt_addr
        self.peer_ip = peer[0]
        self.addr = _fmt_addr(peer)
        self.laddr = _fmt_addr(local)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                self.fd = sock.fileno()
            except OSError:
                pass
        rep.link = self
        rep.transfer_lastio = self.server.unixtime
        self._run(self.hshake.start())
        rep.state = self.hshake.state

    def connection_lost(self, exc: Exception | None) -> None:
        was_closing = self.closing
        self.closing = True
        srv = self.server
        rep = self.rep
        if self.mode == STREAM:
            srv.client_gone(self)
            if rep.master is self:
                rep.master_lost(self)
            return
        if rep.link is self and not was_closing:
            if self.loader is not None:
                self._load_failed("Unexpected EOF reading RDB file", short=True)
            elif self.mode == PAYLOAD or self.mode == BULK_HEADER:
                log.warning("I/O error trying to sync with MASTER: connection lost")
                rep.cancel_handshake(True)
            else:
                log.warning("Master did not respond to command during SYNC handshake")
                self.abort_transfer()
                rep.link = None
                rep.state = CONNECT

    def eof_received(self) -> bool | None:
        """The master closed the link: the state changes at once, not on the next loop
        turn (a client asking INFO right after must not see the link up)."""
        if self.mode == STREAM:
            self.close_now()
        return None

    def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        if self.closing:
            return
        if self.mode != STREAM:
            self.closing = True
            if self.transport is not None:
                self.transport.abort()
            return
        self.closing = True
        self.out.clear()
        if self.transport is not None:
            self.transport.abort()
        self.server.client_gone(self)
        rep = self.rep
        if rep.master is self:
            rep.master_lost(self)

    def flush(self) -> None:
        self.out.clear()  # the master gets no replies

    def process_input(self, data: bytes | None = None) -> None:
        if self.closing:
            return
        rep = self.rep
        srv = self.server
        self.last_io = srv.unixtime
        if data is None:
            if self.mode == STREAM:
                self._apply()
            return
        if self.mode == STREAM:
            self.net_in += len(data)
            self.read_reploff += len(data)
            self.parser.feed(data)
            self._apply()
            return
        rep.transfer_lastio = srv.unixtime
        if self.mode == PAYLOAD:
            self._payload(data)
            return
        if self.mode == LOADING:
            self.after += data
            return
        buf = self.line + data
        while not self.closing and self.mode in (HANDSHAKE, BULK_HEADER):
            nl = buf.find(b"\n")
            if nl < 0:
                self.line = buf
                return
            line = buf[:nl]
            buf = buf[nl + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            if self.mode == HANDSHAKE:
                self._handshake_line(line)
            else:
                self._bulk_header(line)
        self.line = b""
        if buf and not self.closing:
            self.process_input(buf)

    data_received = process_input

    # -- handshake --------------------------------------------------------------------------

    def _run(self, acts: list[tuple]) -> None:
        for a in acts:
            if a[0] == "send":
                self._write(a[1])
            elif a[1] == "warning":
                log.warning(a[2])
            else:
                log.notice(a[2])

    def _handshake_line(self, line: bytes) -> None:
        rep = self.rep
        acts, outcome = self.hshake.on_line(line)
        self._run(acts)
        rep.state = self.hshake.state
        if outcome is None:
            return
        if self.hshake.failover and outcome.kind != "error" and \
                not self.server.failover.psync_answered(outcome.kind != "rejected"):
            return  # no longer a replica: unset_master dropped this link
        if outcome.kind in ("error", "rejected"):
            rep.link = None
            self.closing = True
            self.transport.abort()
            rep.state = CONNECT
        elif outcome.kind == "continue":
            self._continue(outcome.replid)
        else:
            self.replid = outcome.replid or ""
            self.reploff = outcome.offset
            self._start_transfer()

    def _continue(self, newid: str | None) -> None:
        """+CONTINUE: the cached master's state goes on with this connection."""
        rep = self.rep
        srv = self.server
        cached = rep.cached
        assert cached is not None
        repl = srv.repl
        if newid and newid != cached.replid:
            log.warning(f"Master replication ID changed to {newid}")
            repl.replid2 = cached.replid
            repl.second_replid_offset = repl.master_repl_offset + 1
            repl.replid = newid
            cached.replid = newid
            disconnect_replicas(srv)
        rep.cached = None
        self.replid = cached.replid
        self.reploff = self.read_reploff = cached.reploff
        self.select(cached.dbid)
        self._become_master_client()
        if repl.backlog is None:
            repl.create_backlog()
        log.notice("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")

    def _become_master_client(self) -> None:
        rep = self.rep
        srv = self.server
        self.mode = STREAM
        self.flags |= F_MASTER
        self.ctime = srv.unixtime
        srv.clients[self.id] = self
        rep.master = self
        rep.state = CONNECTED
        rep.down_since = 0

    # -- the RDB ----------------------------------------------------------------------------

    def _start_transfer(self) -> None:
        rep = self.rep
        srv = self.server
        cfg = srv.config
        mode = cfg["repl-diskless-load"]
        self.diskless = mode == "swapdb" or (
            mode == "on-empty-db" and not any(db.data for db in srv.dbs))
        if not self.diskless:
            for _ in range(5):
                name = f"temp-{srv.unixtime}.{os.getpid()}.rdb"
                try:
                    self.tmpfd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
                    self.tmpfile = name
                    break
                except FileExistsError:
                    srv.unixtime += 1
                except OSError as e:
                    log.warning("Opening the temp file needed for MASTER <-> REPLICA "
                                f"synchronization: {e.strerror}")
                    break
            if self.tmpfd < 0:
                rep.link = None
                self.closing = True
                self.transport.abort()
                rep.state = CONNECT
                return
        self.mode = BULK_HEADER
        rep.state = TRANSFER
        rep.transfer_size = -1
        rep.transfer_read = 0
        rep.transfer_lastio = srv.unixtime

    def _bulk_header(self, line: bytes) -> None:
        rep = self.rep
        kind, arg = hs.bulk_header(line)
        if kind == "ping":
            return
        if kind == "error":
            log.warning(str(arg))
            rep.cancel_handshake(True)
            return
        where = "to parser" if self.diskless else "to disk"
        if kind == "eof":
            self.usemark = True
            self.payload = hs.Payload(mark=arg)  # type: ignore[arg-type]
            rep.transfer_size = 0
            log.notice(f"MASTER <-> REPLICA sync: receiving streamed RDB from master with "
                       f"EOF {where}")
        else:
            self.payload = hs.Payload(size=arg)  # type: ignore[arg-type]
            rep.transfer_size = arg  # type: ignore[assignment]
            log.notice(f"MASTER <-> REPLICA sync: receiving {arg} bytes from master {where}")
        self.mode = PAYLOAD
        if self.diskless:
            self.swap = self.server.config["repl-diskless-load"] == "swapdb"
            self._prelude(self.swap)
            self._start_loading()
        if self.payload.size == 0:
            self._payload(b"")

    def _start_loading(self) -> None:
        """A diskless load parses the payload as it comes (rdb.Loader), in steps of
        loading-process-events-interval-bytes with the clients served in between:
        LOADING for them meanwhile, or with swapdb on the same history (async_loading)
        the old data, the new one filling databases aside until it is complete."""
        from bocho.persistence import rdb
        srv = self.server
        cfg = srv.config
        async_ = self.swap and self.replid == srv.repl.replid
        srv.async_loading = async_
        srv.loading = True
        srv.loading_start_time = int(time.time())
        srv.loading_total_bytes = max(self.rep.transfer_size, 0)
        srv.loading_loaded_bytes = 0
        srv.loading_rdb_used_mem = 0
        srv.update_slow()
        dbs = None
        if self.swap:
            dbs = [Database(srv, i) for i in range(len(srv.dbs))]
            if srv.dbs[0].lru is not None:
                for db in dbs:
                    db.lru = {}

        def progress(pos: int) -> None:
            delay = cfg["key-load-delay"]
            if delay:
                from bocho.persistence.snapshot import key_delay
                key_delay(delay)
            srv.loading_loaded_bytes = pos

        self.loader = rdb.Loader(
            srv, dbs=dbs, expire=False, progress=progress, load_functions=not self.swap,
            verify_crc=not getattr(srv, "skip_checksum_validation", False)
            and cfg["rdbchecksum"])

    def _stop_loading(self) -> None:
        srv = self.server
        if srv.loading or getattr(srv, "async_loading", False):
            srv.loading = False
            srv.async_loading = False
            srv.update_slow()

    def _payload(self, data: bytes) -> None:
        rep = self.rep
        assert self.payload is not None
        keep, done, rest = self.payload.feed(data)
        rep.transfer_read = self.payload.read
        ld = self.loader
        if ld is not None:
            if keep:
                ld.add(keep)
            if done:
                self.payload_done = True
                self.after = rest
                self.mode = LOADING
            self._load_soon()
            return
        if keep:
            try:
                os.write(self.tmpfd, keep)
            except OSError as e:
                log.warning("Write error or short write writing to the DB dump file "
                            "needed for MASTER <-> REPLICA synchronization: "
                            f"{e.strerror}")
                rep.cancel_handshake(True)
                return
        if done:
            self._load(rest)

    # The payload waiting in the loader: above HIGH the socket is not read (the master's
    # writes then block, as on a Redis replica reading only as fast as it loads).
    HIGH = 1 << 20
    LOW = 1 << 18

    def _load_soon(self) -> None:
        ld = self.loader
        if ld is None or self.closing:
            return
        if self.step is None and (ld.more() or self.payload_done):
            self.step = self.server.loop.call_soon(self._load_step)
        if self.transport is None:
            return
        busy = ld.more() and not self.payload_done  # (a record bigger than HIGH: read on)
        if not self.paused and busy and ld.pending >= self.HIGH:
            self.transport.pause_reading()
            self.paused = True
        elif self.paused and (not busy or ld.pending < self.LOW):
            self.transport.resume_reading()
            self.paused = False

    def _load_step(self) -> None:
        """Read about loading-process-events-interval-bytes of the payload (every record
        it completes), then let the loop serve the clients (processEventsWhileBlocked)."""
        from bocho.persistence.rdbio import RdbError
        self.step = None
        ld = self.loader
        if ld is None or self.closing:
            return
        srv = self.server
        cfg = srv.config
        ld.every = 1 if cfg["key-load-delay"] else 64
        gc_was = gc.isenabled()
        gc.disable()
        try:
            done = ld.feed(b"", final=self.payload_done,
                           budget=max(1024, cfg["loading-process-events-interval-bytes"]))
        except RdbError as e:
            self._load_failed(e.message, short=e.message.startswith("Unexpected EOF"))
            return
        except (ValueError, TypeError, IndexError, KeyError, OverflowError) as e:
            self._load_failed(f"Bad RDB data: {e}", short=False)
            return
        finally:
            if gc_was:
                gc.enable()
        srv.loading_loaded_bytes = ld.offset
        rep = self.rep
        now = int(time.time())
        rep.transfer_lastio = srv.unixtime  # loading is progress (Redis reads as it loads)
        if not done and now != self.newline_sent and self.transport is not None:
            self.newline_sent = now  # replicationSendNewlineToMaster: we are alive
            self._write(b"\n")
        if done:
            self._loaded()
        else:
            self._load_soon()

    def _load_failed(self, msg: str, short: bool) -> None:
        """rdbReportError for a socket load, then the sync starts over (the old data
        back with swapdb, none without)."""
        srv = self.server
        if not self.diskless:
            log.warning(f"Internal error in RDB reading offset {srv.loading_loaded_bytes}, "
                        f"function at rdb.c:0 -> {msg}")
            log.warning("Failed trying to load the MASTER synchronization DB from disk")
            self.rep.cancel_handshake(True)
            return
        tail = (" Failure loading rdb format from socket, assuming connection error, "
                "resuming operation." if short else " Failure loading rdb format")
        log.warning(f"Internal error in RDB reading offset {srv.loading_loaded_bytes}, "
                    f"function at rdb.c:0 -> {msg}.{tail}")
        log.warning("Failed trying to load the MASTER synchronization DB from socket: "
                    + ("Connection reset by peer" if short else "Invalid argument"))
        self.rep.cancel_handshake(True)

    def _loaded(self) -> None:
        """readSyncBulkPayload's end of a load: the new data in place of the old
        (swapped in whole with swapdb)."""
        from bocho.persistence import rdb, snapshot
        srv = self.server
        ld = self.loader
        assert ld is not None
        res = ld.res
        self.loader = None
        self._stop_loading()
        srv.rdb_last_load_keys_loaded = res.keys_loaded
        srv.rdb_last_load_keys_expired = res.keys_expired
        snapshot.log_aux(srv, res.aux)
        snapshot.log_done_loading(res)
        if self.swap:
            self._attach_to_new_history()
            log.notice("MASTER <-> REPLICA sync: Swapping active DB with loaded DB")
            for db, new in zip(srv.dbs, ld.dbs, strict=True):
                db.swap_with(new)
            reg = getattr(srv, "functions", None)
            if reg is not None:
                reg.flush()
            if res.functions:
                try:
                    rdb._load_functions(srv, res.functions)
                except rdb.RdbError as e:
                    log.warning(str(e))
            log.notice("MASTER <-> REPLICA sync: Discarding old DB in background")
        if self.diskless:
            srv.dirty += 1
        else:
            cfg = srv.config
            if cfg["rdb-del-sync-files"] and not cfg["save"] and not cfg["appendonly"]:
                log.notice("Removing the RDB file obtained from the master. This replica "
                           "has persistence disabled")
                snapshot.unlink_quietly(cfg["dbfilename"])
        rest, self.after = self.after, b""
        self._synced(res)
        if rest and not self.closing:
            self.process_input(rest)

    def abort_transfer(self) -> None:
        ld = self.loader
        if ld is not None:
            self.loader = None
            if self.step is not None:
                self.step.cancel()
                self.step = None
            self._stop_loading()
            if self.swap:
                log.notice("MASTER <-> REPLICA sync: Discarding temporary DB in background")
            else:
                from bocho.persistence import snapshot
                snapshot.empty_data(self.server)  # the half-loaded data
        if self.tmpfd >= 0:
            os.close(self.tmpfd)
            self.tmpfd = -1
            try:
                os.unlink(self.tmpfile)
            except OSError:
                pass

    def _prelude(self, swap: bool) -> None:
        """Before the load: no AOF of the old data nor a child racing it; the old data
        out (kept aside with swapdb until the new one loaded fine). A diskless load
        does this as the payload starts (Redis parses it as it comes)."""
        from bocho.persistence import snapshot
        srv = self.server
        aof = srv.aof
        if aof is not None and aof.state != 0:
            aof.stop()
        if srv.child_type == "rdb":
            if not self.diskless:
                log.notice("Replica is about to load the RDB file received from the master, "
                           "but there is a pending RDB child running. Killing process "
                           f"{getattr(srv, 'child_pid', -1)} and removing its temp file to "
                           "avoid any race")
            snapshot.kill_child(srv)
        if not swap:
            self._attach_to_new_history()
            log.notice("MASTER <-> REPLICA sync: Flushing old data")
            snapshot.empty_data(srv)
        if self.diskless:
            log.notice("MASTER <-> REPLICA sync: Loading DB in memory")

    def _load(self, rest: bytes) -> None:
        """readSyncBulkPayload's end for a payload saved to disk: the old data out, the
        file in (read by the same steps as a diskless load: clients get LOADING
        meanwhile); `rest` is the start of the stream, applied after."""
        rep = self.rep
        cfg = self.server.config
        self._prelude(False)
        try:
            os.fsync(self.tmpfd)
        except OSError:
            pass
        os.close(self.tmpfd)
        self.tmpfd = -1
        try:
            os.rename(self.tmpfile, cfg["dbfilename"])
            log.notice("MASTER <-> REPLICA sync: Loading DB in memory")
            with open(cfg["dbfilename"], "rb") as f:
                data = f.read()
        except OSError as e:
            log.warning(f"Failed trying to rename the temp DB into {cfg['dbfilename']} in "
                        f"MASTER <-> REPLICA synchronization: {e.strerror}")
            rep.cancel_handshake(True)
            return
        self.swap = False
        self._start_loading()
        self.server.loading_total_bytes = len(data)
        self.loader.add(data)
        self.payload_done = True
        self.after = rest
        self.mode = LOADING
        self._load_soon()

    def _synced(self, res: Any) -> None:
        """The dataset is the master's: its stream comes next, in the db it names."""
        srv = self.server
        aux = getattr(res, "aux", {}) or {}
        try:
            dbid = int(aux.get(b"repl-stream-db", b"0"))
        except ValueError:
            dbid = 0
        self.select(dbid if 0 <= dbid < len(srv.dbs) else 0)
        self.read_reploff = self.reploff
        self._become_master_client()
        repl = srv.repl
        repl.replid = self.replid or repl.replid
        repl.master_repl_offset = self.reploff
        repl.clear_replid2()
        if repl.backlog is None:
            repl.create_backlog()
        log.notice("MASTER <-> REPLICA sync: Finished with success")
        if self.usemark:
            self.send_ack()
        restart_aof(srv)

    def _attach_to_new_history(self) -> None:
        """replicationAttachToNewMaster: our own replicas must sync again, the backlog
        and a cached master are no good."""
        self.rep.discard_cached()
        disconnect_replicas(self.server)
        self.server.repl.free_backlog()

    # -- the stream ---------------------------------------------------------------------------

    def send_ack(self) -> None:
        if self.mode == STREAM and not self.closing and self.reploff >= 0:
            self._write(hs.encode([b"REPLCONF", b"ACK", b"%d" % self.reploff]))

    def _apply(self) -> None:
        """Run every complete command; the applied offset (and what sub-replicas and the
        backlog get) moves past each, a MULTI block at its EXEC."""
        srv = self.server
        rep = self.rep
        parser = self.parser
        if srv.busy_script is not None:
            return  # kept until the script ends (the cron resumes), as Redis does
        if self.inflight:
            if self.blocked:
                return
            raw, self.inflight = self.inflight, b""
            if self.pending_argv is not None:
                argv, self.pending_argv = self.pending_argv, None
                self._exec(argv)
                if self.blocked:
                    self.inflight = raw
                    return
            self._applied(raw)
        while not self.closing and not self.blocked:
            if (network.APPLY_STREAM is not None and self.multi is None and not self.unfed
                    and not srv.slow and not self.slow and parser.pos < len(parser.buf)
                    and parser.buf[parser.pos] == 42 and self._apply_plain()):
                continue
            try:
                item = parser.next()
            except ValueError as e:
                log.warning("WARNING: Receiving inline protocol from master, master stream "
                            "corruption? Closing the master connection and discarding the "
                            f"cached master. ({e})")
                rep.master = None  # closed without being cached
                self.close_now()
                rep.master_lost(self, cache=False)
                return
            if item is None:
                break
            argv, raw = item
            if len(argv) >= 2 and argv[0].lower() == b"replconf" and \
                    argv[1].lower() == b"getack":
                self.send_ack()
            elif argv:
                self._exec(argv)
                if self.blocked:
                    self.inflight = raw
                    break
            self._applied(raw)
        parser.compact()
        self.out.clear()
        srv.pending_writes.discard(self)

    def _apply_plain(self) -> bool:
        """The run of plain commands at the parser's position, by the compiled loop
        (_fastpath.apply_stream); the offsets move past them at once. False when it ran
        none (the next command is the Python path's)."""
        parser = self.parser
        start = parser.pos
        rep = self.rep
        rep.executing = True
        self.current = True
        try:
            end, failed = network.APPLY_STREAM(self, parser.buf, start)
        finally:
            rep.executing = False
            self.current = False
        self.out.clear()
        if end == start:
            return False
        parser.pos = end
        if failed is not None:
            self._error_to_master(*failed)
        self._applied(bytes(parser.buf[start:end]))
        return True

    def _exec(self, argv: list[bytes]) -> None:
        rep = self.rep
        rep.executing = True
        self.current = True
        mark = len(self.out)
        try:
            self.call(argv)
        finally:
            rep.executing = False
            self.current = False
            self.argv = []  # done with it (CLIENT LIST argv-mem, memory accounting)
        for reply in self.out[mark:]:
            if reply[:1] == b"-":
                self._error_to_master(argv, reply)
                break
        self.out.clear()

    def _error_to_master(self, argv: list[bytes], reply: bytes) -> None:
        """A command of the master's failed here: the datasets may have diverged. Logged
        as Redis does (afterErrorReply), and fatal under propagation-error-behavior
        panic / panic-on-replicas on a read-only replica."""
        from bocho.commands import lookup
        srv = self.server
        name = self.lastcmd if lookup(argv[0]) is not None else "<unknown>"
        text = reply[1:].rstrip(b"\r\n")[:4096].decode("utf-8", "replace")
        log.warning("== CRITICAL == This replica is sending an error to its master: "
                    f"'{text}' after processing the command '{name}'")
        bl = srv.repl.backlog
        if bl is not None and bl.histlen:
            from bocho.config_types import catrepr_bytes
            dump = catrepr_bytes(bytes(bl.buf[-256:])).decode("latin-1")
            log.warning(f"Latest backlog is: '{dump}'")
        srv.stat_unexpected_error_replies += 1
        cfg = srv.config
        if cfg["replica-read-only"] and cfg["propagation-error-behavior"] in (
                "panic", "panic-on-replicas"):
            log.warning("Guru Meditation: This replica panicked sending an error to its "
                        f"master after processing the command '{name}' #replica.py")
            log.logger.reopen()
            os._exit(1)

    def _applied(self, raw: bytes) -> None:
        if self.multi is not None:
            self.unfed.append(raw)
            return
        if self.unfed:
            self.unfed.append(raw)
            raw = b"".join(self.unfed)
            self.unfed = []
        self.reploff += len(raw)
        self.server.repl.feed_raw(raw)
