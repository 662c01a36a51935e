"""The master side of replication (Redis 7.0's replication.c, master half).

A replica connects as a normal client, says who it is with REPLCONF (listening-port,
ip-address, capa eof / psync2) and asks for the data with PSYNC <replid> <offset> (or
the old SYNC). Either the backlog still holds what it lacks (+CONTINUE, then those
bytes), or it gets a full copy: an RDB made by a forked child, to disk and then sent as
"$<len>\\r\\n<file>", or streamed through a pipe as "$EOF:<mark>\\r\\n<rdb><mark>"
(diskless). While that copy is made, the stream of writes from the fork's offset on is
kept for the replica and sent after the RDB.

The stream: every write leaves Server.propagate; the hook here turns it into RESP (with a
SELECT when the db changes, one selected db for the whole stream as Redis's slaveseldb)
and hands it to srv.repl.feed_raw, which moves the offset, fills the backlog and calls
send() here. The hook is installed only while the backlog exists (a first replica
created it; repl-backlog-ttl frees it), so a server without replicas keeps its fast path.

Replica states (INFO's state=): wait_bgsave (waiting for an RDB to start, then for it
to end), send_bulk, online. A replica that got a diskless RDB is online but its stream
starts at its first REPLCONF ACK, so that nothing follows the EOF mark at once."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from bocho import clock, log, resp
from bocho.errors import CommandError
from bocho.network import F_REPLICA
from bocho.replication.handshake import CONNECTED, RUN_ID_SIZE, encode

if TYPE_CHECKING:
    from bocho.network import Client
    from bocho.server import Server

WAIT_BGSAVE_START = 1
WAIT_BGSAVE_END = 2
SEND_BULK = 3
ONLINE = 4
STATE_NAMES = {WAIT_BGSAVE_START: "wait_bgsave", WAIT_BGSAVE_END: "wait_bgsave",
               SEND_BULK: "send_bulk", ONLINE: "online"}

EOF_MARK_SIZE = 40
PIPE_READ = 1 << 16
PIPE_HIGH = 1 << 16  # a replica's unsent RDB bytes that pause reading the child's pipe

NOREPLICAS = b"NOREPLICAS Not enough good replicas to write."


def _link_up(srv: Server) -> bool:
    """Whether this replica's link with its master is up (a sub-replica may sync only
    then)."""
    return srv.replica.state == CONNECTED


def select_cmd(dbid: int) -> bytes:
    s = b"%d" % dbid
    return b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n" % (len(s), s)




class Replica:
    """What the master knows of one replica connection (Redis keeps it in the client)."""

    __slots__ = ("c", "state", "capa_eof", "capa_psync2", "port", "ip", "ack_off",
                 "ack_time", "pre_psync", "initial_offset", "held_from", "stream_on_ack",
                 "socket_target", "partial_since", "soft_since")

    def __init__(self, c: Client) -> None:
        self.c = c
        self.state = 0
        self.capa_eof = False
        self.capa_psync2 = False
        self.port = 0
        self.ip: str | None = None
        self.ack_off = 0
        self.ack_time = 0
        self.pre_psync = False
        self.initial_offset = 0
        # the offset of the first stream byte held for it until it can take them
        # (after its RDB); the backlog keeps them meanwhile (Master.repin)
        self.held_from: int | None = None
        self.stream_on_ack = False
        self.socket_target = False
        self.partial_since = 0  # when a diskless RDB write last stayed partly unsent
        self.soft_since = 0  # when what it was owed passed the soft output limit

    @property
    def name(self) -> str:
        """replicationGetSlaveName: its address as the replica announced it."""
        ip = self.ip or self.c.peer_ip
        if not ip:
            return f"client id #{self.c.id}"
        if self.port:
            return f"[{ip}]:{self.port}" if ":" in ip else f"{ip}:{self.port}"
        return f"{ip}:<unknown-replica-port>"

    @property
    def streaming(self) -> bool:
        return self.state == ONLINE and not self.stream_on_ack


class Master:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.repl = srv.repl
        self.links: dict[Client, Replica] = {}  # every client that spoke REPLCONF/SYNC
        self.replicas: list[Replica] = []  # Redis's server.slaves, in arrival order
        self.seldb = -1
        self.hooked = False
        self.no_replicas_since = time.time()
        # Redis's replication cron first runs as the server starts, before any replica
        # can be there (its PING round 0): start counting from round 1
        self.cron_loops = 1
        self.last_cron = time.time()
        self.good = 0
        self.get_ack = False
        self.waiters: list[Client] = []
        self.unblock_other = srv.unblock_client
        srv.unblock_client = self.client_unblock
        self.pipe_fd = -1
        self.pipe_paused = False
        self.repl.send_to_replicas = self.send

    # -- the stream ------------------------------------------------------------------------

    def feed(self, dbid: int, argv: list[bytes]) -> None:
        """replicationFeedSlaves (a propagate hook)."""
        if self.srv.role == "slave":
            return  # a replica relays its master's bytes as they are (replica.py)
        repl = self.repl
        if repl.backlog is None and not self.replicas:
            return
        if dbid != self.seldb and dbid >= 0:
            self.seldb = dbid
            repl.feed_raw(select_cmd(dbid) + encode(argv))
        else:
            repl.feed_raw(resp.bulk_strings(argv if type(argv) is list else list(argv)))

    feed.replication = True  # type: ignore[attr-defined]  # gets ReplOnly argvs too
    feed.in_loop = True  # type: ignore[attr-defined]  # no reason for the slow path

    def send(self, data: bytes) -> None:
        """Stream bytes to every replica: at once to the online ones (one write per loop
        turn, through the client's output buffer), kept for the ones still syncing."""
        queued = False
        over = None
        for r in self.replicas:
            if r.streaming:
                r.c.send(data)
                queued = True
            elif r.held_from is not None and self.owes_too_much(r):
                over = (over or []) + [r]
        if queued:
            self.schedule_flush()
        for r in over or ():
            r.c.output_limit_reached()

    def schedule_flush(self) -> None:
        """Stream bytes queued outside a client's turn (cron, a child's end) leave on
        the next loop turn."""
        srv = self.srv
        if not srv.flush_scheduled and srv.loop is not None:
            srv.flush_scheduled = True
            srv.loop.call_soon(srv.flush_pending)

    def hook(self) -> None:
        if not self.hooked:
            self.hooked = True
            self.srv.add_propagate_hook(self.feed)

    def unhook(self) -> None:
        if self.hooked:
            self.hooked = False
            self.srv.remove_propagate_hook(self.feed)

    def write_direct(self, r: Replica, data: bytes) -> None:
        """Bytes outside the stream (+FULLRESYNC, the RDB, keep-alive newlines)."""
        c = r.c
        if c.closing or c.transport is None:
            return
        c.net_out += len(data)
        self.srv.stat_net_repl_output_bytes += len(data)
        c._write(data)

    def start_stream(self, r: Replica) -> None:
        """replicaStartCommandStream: what piled up since the fork goes now."""
        if not r.stream_on_ack and r.held_from is None:
            return  # started already
        r.stream_on_ack = False
        held, r.held_from = r.held_from, None
        bl = self.repl.backlog
        data = bl.range_from(held) if held is not None and bl is not None else None
        self.repin()
        if data:
            r.c.send(data)
            self.schedule_flush()

    def owes_too_much(self, r: Replica) -> bool:
        """What a replica waiting for its RDB is owed counts as its output buffer
        (Redis: its share of the replication buffer), against its class's limits."""
        srv = self.srv
        owed = self.repl.master_repl_offset + 1 - (r.held_from or 0)
        hard, soft, secs = srv.obuf_limit(r.c)
        if hard and owed >= hard:
            return True
        if soft and owed >= soft:
            if not r.soft_since:
                r.soft_since = srv.unixtime
            return srv.unixtime - r.soft_since > secs
        r.soft_since = 0
        return False

    def repin(self) -> None:
        """The backlog keeps what the replicas still waiting for their RDB lack."""
        bl = self.repl.backlog
        if bl is not None:
            bl.pin(min((r.held_from for r in self.replicas if r.held_from is not None),
                       default=0))

    def put_online(self, r: Replica) -> None:
        r.state = ONLINE
        r.ack_time = self.srv.unixtime
        self.refresh_good()
        log.notice(f"Synchronization with replica {r.name} succeeded")

    # -- SYNC / PSYNC ----------------------------------------------------------------------

    def link(self, c: Client) -> Replica:
        r = self.links.get(c)
        if r is None:
            r = self.links[c] = Replica(c)
        return r

    def sync(self, c: Client, argv: list[bytes]) -> bytes | None:
        srv = self.srv
        if c.flags & F_REPLICA:
            return None
        if len(argv) > 3 and argv[0].lower() == b"psync" and argv[3].lower() == b"failover":
            self.failover_request(c, argv[1])
        if srv.failover_state != "no-failover":
            raise CommandError(b"NOMASTERLINK Can't SYNC while failing over")
        if srv.config["replicaof"] and not _link_up(srv):
            raise CommandError(b"NOMASTERLINK Can't SYNC while not connected with my master")
        if c.out:
            raise CommandError(b"ERR SYNC and PSYNC are invalid with pending output")
        r = self.link(c)
        log.notice(f"Replica {r.name} asks for synchronization")
        if argv[0].lower() == b"psync":
            try:
                offset = int(argv[2])
                if not -2**63 <= offset < 2**63 or argv[2] != b"%d" % offset:
                    raise ValueError
            except ValueError:
                log.warning(f"Replica {r.name} asks for synchronization but with a wrong offset")
                raise CommandError(b"ERR value is not an integer or out of range") from None
            if self.try_partial(r, argv[1].decode(errors="replace"), offset):
                srv.stat_sync_partial_ok += 1
                return None
            if argv[1][:1] != b"?":
                srv.stat_sync_partial_err += 1
        else:
            r.pre_psync = True
        srv.stat_sync_full += 1
        r.state = WAIT_BGSAVE_START
        self.attach(r)
        repl = self.repl
        if len(self.replicas) == 1 and repl.backlog is None:
            repl.change_replid()
            repl.create_backlog()
            log.notice(f"Replication backlog created, my new replication IDs are "
                       f"'{repl.replid}' and '{repl.replid2}'")
        self.hook()
        if srv.child_type == "rdb" and srv.rdb_child_type == "disk":
            other = next((x for x in self.replicas if x.state == WAIT_BGSAVE_END), None)
            if other is not None and (not other.capa_eof or r.capa_eof):
                r.held_from = other.held_from
                self.setup_full_resync(r, other.initial_offset)
                log.notice("Waiting for end of BGSAVE for SYNC")
            else:
                log.notice("Can't attach the replica to the current BGSAVE. Waiting for "
                           "next BGSAVE for SYNC")
        elif srv.child_type == "rdb":
            log.notice("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC")
        elif (srv.config["repl-diskless-sync"] and r.capa_eof
              and srv.config["repl-diskless-sync-delay"]):
            log.notice("Delay next BGSAVE for diskless SYNC")
        elif srv.child_type is None:
            self.start_bgsave(r.capa_eof)
        else:
            log.notice("No BGSAVE in progress, but another BG operation is active. "
                       "BGSAVE for replication delayed")
        return None

    def failover_request(self, c: Client, replid: bytes) -> None:
        """PSYNC ... FAILOVER: our master hands its role over to us. It must be the
        master whose history we follow; then we turn master (REPLICAOF NO ONE) and the
        PSYNC goes on as any other, with that history as our second ID."""
        srv = self.srv
        log.warning(f"Failover request received for replid {replid.decode(errors='replace')}.")
        if srv.replica.masterhost is None:
            raise CommandError(b"ERR PSYNC FAILOVER can't be sent to a master.")
        if replid.decode(errors="replace").lower() != self.repl.replid:
            raise CommandError(b"ERR PSYNC FAILOVER replid must match my replid.")
        srv.replica.unset_master()
        from bocho.commands.client_cmds import client_info_string
        log.notice(f"MASTER MODE enabled (failover request from "
                   f"'{client_info_string(srv, c)}')")

    def attach(self, r: Replica) -> None:
        c = r.c
        c.flags |= F_REPLICA
        c.update_slow()  # its commands take call(), which drops a replica that replies
        c.obuf_class = "replica"
        if self.srv.config["repl-disable-tcp-nodelay"]:
            sock = c.transport.get_extra_info("socket") if c.transport else None
            if sock is not None:
                import socket
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
                except OSError:
                    pass
        self.replicas.append(r)

    def try_partial(self, r: Replica, replid: str, offset: int) -> bool:
        """masterTryPartialResynchronization."""
        repl = self.repl
        if replid.lower() != repl.replid and (
                replid.lower() != repl.replid2 or offset > repl.second_replid_offset):
            if replid[:1] == "?":
                log.notice(f"Full resync requested by replica {r.name}")
            elif replid.lower() not in (repl.replid, repl.replid2):
                log.notice(f"Partial resynchronization not accepted: Replication ID "
                           f"mismatch (Replica asked for '{replid}', my replication IDs "
                           f"are '{repl.replid}' and '{repl.replid2}')")
            else:
                log.notice(f"Partial resynchronization not accepted: Requested offset for "
                           f"second ID was {offset}, but I can reply up to "
                           f"{repl.second_replid_offset}")
            return False
        bl = repl.backlog
        data = bl.range_from(offset) if bl is not None else None
        if data is None:
            log.notice(f"Unable to partial resync with replica {r.name} for lack of "
                       f"backlog (Replica request was: {offset}).")
            if offset > repl.master_repl_offset:
                log.warning(f"Warning: replica {r.name} tried to PSYNC with an offset "
                            f"that is greater than the master replication offset.")
            return False
        r.state = ONLINE
        r.ack_time = self.srv.unixtime
        r.stream_on_ack = False
        self.attach(r)
        self.hook()
        self.write_direct(r, b"+CONTINUE %s\r\n" % repl.replid.encode() if r.capa_psync2
                          else b"+CONTINUE\r\n")
        if data:
            r.c.send(data)
        log.notice(f"Partial resynchronization request from {r.name} accepted. Sending "
                   f"{len(data)} bytes of backlog starting from offset {offset}.")
        self.refresh_good()
        return True

    def setup_full_resync(self, r: Replica, offset: int) -> None:
        """replicationSetupSlaveForFullResync."""
        r.initial_offset = offset
        r.state = WAIT_BGSAVE_END
        if r.held_from is None:
            r.held_from = offset + 1
        self.repin()
        self.seldb = -1  # the next write selects its db again, for this replica's sake
        if not r.pre_psync:
            self.write_direct(r, b"+FULLRESYNC %s %d\r\n" % (self.repl.replid.encode(), offset))

    def save_info(self) -> dict[bytes, bytes] | None:
        """rdbPopulateSaveInfo: the aux fields naming the history an RDB is a point of
        (None when this node is in no replication chain: a master without backlog, a
        replica that never synced)."""
        repl = self.repl
        rep = self.srv.replica
        if rep.masterhost is None:
            if repl.backlog is None:
                return None
            dbid = max(self.seldb, 0)  # -1: the next write selects its db anyway
        elif rep.master is not None:
            dbid = rep.master.db.id  # the db our master's stream has selected
        elif rep.cached is not None:
            dbid = rep.cached.dbid
        else:
            return None
        return {b"repl-stream-db": b"%d" % dbid,
                b"repl-id": repl.replid.encode(),
                b"repl-offset": b"%d" % repl.master_repl_offset}

    def start_bgsave(self, eof: bool) -> bool:
        """startBgsaveForReplication: an RDB to disk, or to the replicas' sockets when
        diskless sync is on and every waiting replica reads the EOF-mark form."""
        srv = self.srv
        socket_target = srv.config["repl-diskless-sync"] and eof
        log.notice("Starting BGSAVE for SYNC with target: "
                   + ("replicas sockets" if socket_target else "disk"))
        rsi = self.save_info()
        waiting = [r for r in self.replicas if r.state == WAIT_BGSAVE_START]
        if socket_target:
            ok = self.fork_to_sockets(waiting, rsi)
        else:
            from bocho.persistence import snapshot
            ok = snapshot.bgsave(srv, rsi)
            if ok:
                for r in waiting:
                    self.setup_full_resync(r, self.repl.master_repl_offset)
        if not ok:
            log.warning("BGSAVE for replication failed")
            for r in waiting:
                self.detach(r)
                r.c.send(b"-ERR BGSAVE failed, replication can't continue\r\n")
                r.c.flush()
                r.c.close()
        return ok

    def fork_to_sockets(self, waiting: list[Replica], rsi: dict[bytes, bytes]) -> bool:
        """rdbSaveToSlavesSockets: the child writes the EOF-mark form into a pipe that
        the parent relays to the replicas (pipe_readable)."""
        srv = self.srv
        from bocho.persistence import rdb, snapshot
        for r in waiting:
            self.setup_full_resync(r, self.repl.master_repl_offset)
            r.socket_target = True
        rfd, wfd = os.pipe()
        mark = os.urandom(EOF_MARK_SIZE // 2).hex().encode()

        def work(rep: Any) -> bool:
            os.close(rfd)
            with os.fdopen(wfd, "wb", buffering=1 << 16) as f:
                f.write(b"$EOF:" + mark + b"\r\n")
                progress, every = snapshot.save_progress(srv, rep.progress)
                rdb.save(srv, f, rsi, progress=progress, every=every)
                f.write(mark)
            rep.send(snapshot.INFO_RDB_COW, 0)
            return True

        try:
            pid = snapshot.fork_child(srv, "rdb", "redis-rdb-to-slaves", work)
        except OSError as e:
            os.close(rfd)
            os.close(wfd)
            log.warning(f"Can't save in background: fork: {e.strerror}")
            for r in waiting:
                r.state = WAIT_BGSAVE_START
                r.socket_target = False
            return False
        os.close(wfd)
        srv.rdb_child_type = "socket"
        srv.stat_rdb_saves += 1
        srv.rdb_save_time_start = int(time.time())
        srv.stat_current_save_keys_total = sum(len(db.data) for db in srv.dbs)
        log.notice(f"Background RDB transfer started by pid {pid}")
        os.set_blocking(rfd, False)
        self.pipe_fd = rfd
        if srv.loop is not None:
            srv.loop.add_reader(rfd, self.pipe_readable)
        return True

    def pipe_targets(self) -> list[Replica]:
        return [r for r in self.replicas
                if r.socket_target and r.state == WAIT_BGSAVE_END and not r.c.closing]

    def pipe_readable(self, drain: bool = False) -> None:
        """rdbPipeReadHandler: relay what the child wrote to every replica it is for.
        The pipe is read no faster than the slowest of them takes it (a replica's
        unsent bytes above PIPE_HIGH pause the reading, see pipe_resume), so the child
        waits for it as Redis's does; `drain` (the child is gone) reads to the end."""
        fd = self.pipe_fd
        if fd < 0:
            return
        while True:
            targets = self.pipe_targets()
            if not drain and targets and any(r.c._wbuf_size() > PIPE_HIGH for r in targets):
                if not self.pipe_paused:
                    self.pipe_paused = True
                    self.srv.loop.remove_reader(fd)
                return
            try:
                chunk = os.read(fd, PIPE_READ)
            except BlockingIOError:
                return
            except OSError as e:
                log.warning(f"Diskless rdb transfer, read error sending DB to replicas: "
                            f"{e.strerror}")
                self.close_pipe()
                return
            if not chunk:
                log.warning(f"Diskless rdb transfer, done reading from pipe, {len(targets)} "
                            f"replicas still up.")
                self.close_pipe()
                return
            if not targets:
                log.warning("Diskless rdb transfer, last replica dropped, killing fork child.")
                self.close_pipe()
                from bocho.persistence.snapshot import kill_child
                kill_child(self.srv)
                return
            now = self.srv.unixtime
            for r in targets:
                self.write_direct(r, chunk)
                # a write the socket did not take whole: the full-sync timeout runs
                if r.c.transport is not None and r.c._wbuf_size():
                    if not r.partial_since:
                        r.partial_since = now
                else:
                    r.partial_since = 0

    def pipe_resume(self, c: Client | None = None) -> None:
        """A replica's transport drained (or the cron looks): read the pipe again once
        every target is below PIPE_HIGH."""
        if not self.pipe_paused or self.pipe_fd < 0:
            return
        targets = self.pipe_targets()
        if any(r.c._wbuf_size() > PIPE_HIGH for r in targets):
            return
        for r in targets:
            r.partial_since = 0
        self.pipe_paused = False
        self.srv.loop.add_reader(self.pipe_fd, self.pipe_readable)
        self.pipe_readable()

    def close_pipe(self) -> None:
        fd = self.pipe_fd
        if fd < 0:
            return
        self.pipe_fd = -1
        loop = self.srv.loop
        if loop is not None and not self.pipe_paused:
            loop.remove_reader(fd)
        self.pipe_paused = False
        try:
            os.close(fd)
        except OSError:
            pass

    def rdb_done(self, srv: Server, ok: bool, socket: bool) -> None:
        """updateSlavesWaitingBgsave (an RDB child was reaped)."""
        if socket and self.pipe_fd >= 0:
            os.set_blocking(self.pipe_fd, True)  # the child is gone: read to the end
            self.pipe_readable(drain=True)
            self.close_pipe()
        for r in list(self.replicas):
            if r.state != WAIT_BGSAVE_END:
                continue
            if not ok:
                log.warning("SYNC failed. BGSAVE child returned an error")
                r.c.close_now()
                continue
            if socket:
                if not r.socket_target:
                    continue
                log.notice(f"Streamed RDB transfer with replica {r.name} succeeded "
                           f"(socket). Waiting for REPLCONF ACK from slave to enable "
                           f"streaming")
                r.stream_on_ack = True
                self.put_online(r)
                if r.pre_psync:  # it will never ACK
                    self.start_stream(r)
                continue
            self.send_file(r)
        self.start_pending()

    def send_file(self, r: Replica) -> None:
        """sendBulkToSlave: the dump written by the BGSAVE, then the stream."""
        name = self.srv.config["dbfilename"]
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as e:
            log.warning(f"SYNC failed. Can't open/stat DB after BGSAVE: {e.strerror}")
            r.c.close_now()
            return
        r.state = SEND_BULK
        self.write_direct(r, b"$%d\r\n" % len(data))
        self.write_direct(r, data)
        self.put_online(r)
        self.start_stream(r)

    def start_pending(self) -> None:
        """replicationStartPendingFork: replicas waiting for an RDB to start get one when
        no child runs (diskless: after repl-diskless-sync-delay, or as soon as
        repl-diskless-sync-max-replicas are there)."""
        srv = self.srv
        if srv.child_type is not None:
            return
        waiting = [r for r in self.replicas if r.state == WAIT_BGSAVE_START]
        if not waiting:
            return
        cfg = srv.config
        idle = max(srv.unixtime - r.c.last_io for r in waiting)
        most = cfg["repl-diskless-sync-max-replicas"]
        if (not cfg["repl-diskless-sync"] or (most > 0 and len(waiting) >= most)
                or idle >= cfg["repl-diskless-sync-delay"]):
            self.start_bgsave(all(r.capa_eof for r in waiting))

    def detach(self, r: Replica) -> None:
        try:
            self.replicas.remove(r)
        except ValueError:
            pass
        r.c.flags &= ~F_REPLICA
        r.state = 0
        if r.held_from is not None:
            r.held_from = None
            self.repin()  # what only it needed goes
        if not self.replicas:
            self.no_replicas_since = time.time()

    def client_gone(self, c: Client) -> None:
        r = self.links.pop(c, None)
        if c in self.waiters:
            self.waiters.remove(c)
        if r is None or r not in self.replicas:
            return
        log.notice(f"Connection with replica {r.name} lost.")
        was_waiting = r.state == WAIT_BGSAVE_END
        self.detach(r)
        self.refresh_good()
        srv = self.srv
        if (was_waiting and not srv.config["save"] and srv.child_type == "rdb"
                and srv.rdb_child_type == "disk"
                and not any(x.state == WAIT_BGSAVE_END for x in self.replicas)):
            # nobody needs the dump that child is writing any more
            from bocho.persistence.snapshot import kill_child
            kill_child(srv)
        if (r.socket_target and self.pipe_fd >= 0 and not any(
                x.socket_target and x.state == WAIT_BGSAVE_END for x in self.replicas)):
            log.warning("Diskless rdb transfer, last replica dropped, killing fork child.")
            self.close_pipe()
            from bocho.persistence.snapshot import kill_child
            kill_child(self.srv)

    # -- REPLCONF --------------------------------------------------------------------------

    def replconf(self, c: Client, argv: list[bytes]) -> bytes | None:
        if len(argv) % 2 == 0:
            raise CommandError(b"ERR syntax error")
        for j in range(1, len(argv), 2):
            opt = argv[j].lower()
            val = argv[j + 1]
            if opt == b"listening-port":
                try:
                    port = int(val)
                except ValueError:
                    raise CommandError(b"ERR value is not an integer or out of range") from None
                self.link(c).port = port
            elif opt == b"ip-address":
                if len(val) >= 46:
                    raise CommandError(b"ERR REPLCONF ip-address provided by replica "
                                       b"instance is too long: %d bytes" % len(val))
                self.link(c).ip = val.decode(errors="replace")
            elif opt == b"capa":
                r = self.link(c)
                if val.lower() == b"eof":
                    r.capa_eof = True
                elif val.lower() == b"psync2":
                    r.capa_psync2 = True
            elif opt == b"ack":
                r = self.links.get(c)
                if r is None or not c.flags & F_REPLICA:
                    return None
                try:
                    off = int(val)
                except ValueError:
                    return None
                if off > r.ack_off:
                    r.ack_off = off
                r.ack_time = self.srv.unixtime
                if r.stream_on_ack and r.state == ONLINE:
                    # after this command: its own output must stay empty (see
                    # Client.replica_replied)
                    loop = self.srv.loop
                    if loop is not None:
                        loop.call_soon(self.start_stream, r)
                    else:
                        self.start_stream(r)
                if self.waiters:
                    self.serve_waiters()
                if self.srv.failover_state == "waiting-for-sync":
                    self.srv.failover.schedule()
                return None
            elif opt == b"getack":
                # only a master asks, and the replica side answers its master client
                # before dispatch: from anyone else it gets no reply, as in Redis
                return None
            elif opt == b"rdb-only":
                if val not in (b"0", b"1"):
                    raise CommandError(b"ERR value is out of range, must be positive")
            elif opt == b"rdb-filter-only":
                for f in val.split():
                    if f.lower() != b"functions":
                        raise CommandError(b"ERR Unsupported rdb-filter-only option: %s" % f)
            else:
                raise CommandError(b"ERR Unrecognized REPLCONF option: %s" % argv[j])
        return resp.OK

    # -- WAIT, min-replicas --------------------------------------------------------------------

    def count_acks(self, offset: int) -> int:
        return sum(1 for r in self.replicas if r.state == ONLINE and r.ack_off >= offset)

    def wait(self, c: Client, argv: list[bytes]) -> bytes | None:
        srv = self.srv
        if srv.config["replicaof"]:
            raise CommandError(
                b"ERR WAIT cannot be used with replica instances. Please also note that "
                b"since Redis 4.0 if a replica is configured to be writable (which is not "
                b"the default) writes to replicas are just local and are not propagated.")
        from bocho.blocking import may_block, parse_timeout_ms
        from bocho.util import parse_int
        num = parse_int(argv[1])
        deadline = parse_timeout_ms(argv[2])
        offset = self.repl.master_repl_offset
        acks = self.count_acks(offset)
        if acks >= num or not may_block(c):
            return resp.integer(acks)
        c.blocked = True
        c.block_state = WaitState(offset, num, deadline)
        self.waiters.append(c)
        if deadline and srv.loop is not None:
            delay = max(0, deadline - clock.monotonic_ms()) / 1000.0
            c.block_state.timer = srv.loop.call_later(delay, self.wait_timeout, c)
        self.request_acks()
        return None

    def request_acks(self) -> None:
        """REPLCONF GETACK * into the stream, once per loop turn (Redis: beforeSleep)."""
        if self.get_ack:
            return
        self.get_ack = True
        loop = self.srv.loop
        if loop is not None:
            loop.call_soon(self.send_getack)

    def send_getack(self) -> None:
        self.get_ack = False
        if self.replicas and not self.srv.config["replicaof"]:
            self.repl.feed_raw(encode([b"REPLCONF", b"GETACK", b"*"]))

    def serve_waiters(self) -> None:
        for c in list(self.waiters):
            st = c.block_state
            if not isinstance(st, WaitState):
                continue
            n = self.count_acks(st.offset)
            if n >= st.num:
                self.unblock(c, resp.integer(n))

    def client_unblock(self, c: Client, as_error: bool) -> None:
        """CLIENT UNBLOCK of a client in WAIT (others go to the key-blocking code)."""
        st = c.block_state
        if not isinstance(st, WaitState):
            self.unblock_other(c, as_error)
            return
        if as_error:
            from bocho.blocking import UNBLOCKED_ERROR
            self.unblock(c, UNBLOCKED_ERROR)
        else:
            self.unblock(c, resp.integer(self.count_acks(st.offset)))

    def wait_timeout(self, c: Client) -> None:
        st = c.block_state
        if c.closing or not isinstance(st, WaitState):
            return
        self.unblock(c, resp.integer(self.count_acks(st.offset)))
        if self.srv.pending_writes:
            self.srv.flush_pending()

    def unblock(self, c: Client, reply: bytes) -> None:
        st = c.block_state
        if isinstance(st, WaitState) and st.timer is not None:
            st.timer.cancel()
        if c in self.waiters:
            self.waiters.remove(c)
        c.block_state = None
        c.blocked = False
        if reply[:1] == b"-":
            self.srv.count_error(reply[1:].split(b"\r\n", 1)[0])
        c.send(reply)
        srv = self.srv
        if srv.loop is not None:
            from bocho.blocking import _resume
            srv.loop.call_soon(_resume, c)
            self.schedule_flush()

    def refresh_good(self) -> None:
        """refreshGoodSlavesCount."""
        cfg = self.srv.config
        need, lag = cfg["min-replicas-to-write"], cfg["min-replicas-max-lag"]
        if not need or not lag:
            return
        now = self.srv.unixtime
        self.good = sum(1 for r in self.replicas
                        if r.state == ONLINE and now - r.ack_time <= lag)
        self.srv.repl_good_slaves_count = self.good

    def write_denied(self) -> bytes | None:
        """checkGoodReplicasStatus."""
        cfg = self.srv.config
        if (self.srv.config["replicaof"] or not cfg["min-replicas-max-lag"]
                or not cfg["min-replicas-to-write"] or self.good >= cfg["min-replicas-to-write"]):
            return None
        return NOREPLICAS

    def update_denier(self) -> None:
        srv = self.srv
        cfg = srv.config
        on = bool(cfg["min-replicas-to-write"] and cfg["min-replicas-max-lag"])
        srv.replicas_denier = self.write_denied if on else None
        self.refresh_good()
        srv.update_slow()

    # -- cron ----------------------------------------------------------------------------------

    def cron(self) -> None:
        """replicationCron, once a second; pending forks are looked at every tick."""
        srv = self.srv
        now = time.time()
        if self.pipe_paused:
            self.pipe_resume()
        if now - self.last_cron < 1.0:
            if self.replicas:
                self.start_pending()
            return
        self.last_cron = now
        cfg = srv.config
        if (self.cron_loops % cfg["repl-ping-replica-period"] == 0 and self.replicas
                and not cfg["replicaof"]):
            self.repl.feed_raw(b"*1\r\n$4\r\nPING\r\n")
        self.cron_loops += 1
        socket_child = srv.child_type == "rdb" and srv.rdb_child_type == "socket"
        for r in list(self.replicas):
            if r.state == WAIT_BGSAVE_START or (r.state == WAIT_BGSAVE_END
                                                 and not socket_child):
                self.write_direct(r, b"\n")
            if (r.state == ONLINE and not r.pre_psync
                    and srv.unixtime - r.ack_time > cfg["repl-timeout"]):
                log.warning(f"Disconnecting timedout replica (streaming sync): {r.name}")
                r.c.close_now()
                continue
            if (r.state == WAIT_BGSAVE_END and socket_child and r.partial_since
                    and srv.unixtime - r.partial_since > cfg["repl-timeout"]):
                log.warning(f"Disconnecting timedout replica (full sync): {r.name}")
                r.c.close_now()
        ttl = cfg["repl-backlog-ttl"]
        repl = self.repl
        if (not self.replicas and ttl and repl.backlog is not None and not cfg["replicaof"]
                and now - self.no_replicas_since > ttl):
            repl.change_replid()
            repl.free_backlog()
            self.unhook()
            log.notice(f"Replication backlog freed after {ttl} seconds without connected "
                       f"replicas.")
        self.start_pending()
        self.refresh_good()

    def buffer_memory(self) -> tuple[int, int]:
        """(mem_replication_backlog, mem_total_replication_buffers): the backlog holds
        the stream for the backlog and the waiting replicas alike; what it holds beyond
        its size is the replicas' (Redis's getMemoryOverheadData)."""
        bl = self.repl.backlog
        total = bl.histlen if bl is not None else 0
        size = self.srv.config["repl-backlog-size"]
        held = (size if self.replicas and total > size else total)
        # A replica that does not read (paused, slow) keeps the stream it has not been sent
        # in Redis's shared buffer; here it waits in the replica's transport.
        for r in self.replicas:
            tr = r.c.transport
            if tr is not None:
                pending = tr.get_write_buffer_size()
                if pending > total:
                    total = pending
        return held, total

    # -- shutdown ------------------------------------------------------------------------------

    def in_sync(self) -> bool:
        """isReadyToShutdown: every replica acknowledged the whole stream."""
        off = self.repl.master_repl_offset
        return all(r.ack_off == off for r in self.replicas)

    def report_on_shutdown(self, force: bool) -> bool:
        """finishShutdown's account of the replicas (never refuses the exit)."""
        off = self.repl.master_repl_offset
        lagging = 0
        for r in self.replicas:
            if r.ack_off != off:
                lagging += 1
                lag = int(time.time()) - r.ack_time if r.state == ONLINE else 0
                log.warning(f"Lagging replica {r.name} reported offset {off - r.ack_off} "
                            f"behind master, lag={lag}, state={STATE_NAMES.get(r.state, '')}.")
        if self.replicas:
            n = len(self.replicas)
            log.notice(f"{n - lagging} of {n} replicas are in sync when shutting down.")
        return True

    # -- INFO / ROLE -----------------------------------------------------------------------------

    def info_lines(self) -> list[str]:
        out = []
        for i, r in enumerate(self.replicas):
            lag = int(time.time()) - r.ack_time if r.state == ONLINE else 0
            out.append(f"slave{i}:ip={r.ip or r.c.peer_ip},port={r.port},"
                       f"state={STATE_NAMES.get(r.state, 'online')},offset={r.ack_off},lag={lag}")
        return out

    def role(self) -> bytes:
        rows = [resp.bulk_strings([(r.ip or r.c.peer_ip).encode(), b"%d" % r.port,
                                   b"%d" % r.ack_off])
                for r in self.replicas if r.state == ONLINE]
        return (b"*3\r\n$6\r\nmaster\r\n" + resp.integer(self.repl.master_repl_offset)
                + b"*%d\r\n" % len(rows) + b"".join(rows))


class WaitState:
    """c.block_state of a client in WAIT."""

    __slots__ = ("offset", "num", "deadline", "timer")

    def __init__(self, offset: int, num: int, deadline: int) -> None:
        self.offset = offset
        self.num = num
        self.deadline = deadline
        self.timer: Any = None


def saved_history(aux: dict[bytes, bytes]) -> tuple[str, int, int] | None:
    """(replication ID, offset, stream db) of an RDB's aux fields, when all three are
    there and valid."""
    try:
        replid = aux[b"repl-id"].decode()
        offset = int(aux[b"repl-offset"])
        dbid = int(aux[b"repl-stream-db"])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if len(replid) != RUN_ID_SIZE or offset == -1 or dbid == -1:
        return None
    return replid, offset, dbid


def expired_feeder(srv: Server, aux: dict[bytes, bytes]):
    """Before a master loads an RDB holding its replication history at start-up: a
    backlog, and a callable that puts a DEL of each key found expired into it (the
    replicas that continue that history still have those keys)."""
    if srv.replica.masterhost is not None or saved_history(aux) is None:
        return None
    m = srv.master_side
    srv.repl.create_backlog()
    cmd = b"UNLINK" if srv.config["lazyfree-lazy-expire"] else b"DEL"

    def expired(dbid: int, key: bytes) -> None:
        m.feed(dbid, [cmd, key])
    return expired


def adopt_saved_history(srv: Server, aux: dict[bytes, bytes]) -> None:
    """loadDataFromDisk's end: the replication history the RDB was a point of. A
    replica goes on as if its master's link had just dropped at that offset (PSYNC may
    continue it); a master keeps it as its second ID, so that its old replicas continue
    with it, with its own offset moved on from there."""
    hist = saved_history(aux)
    repl = srv.repl
    rep = srv.replica
    if hist is None:
        if rep.masterhost is None:
            repl.free_backlog()
        return
    replid, offset, dbid = hist
    if rep.masterhost is not None:
        repl.replid = replid
        repl.master_repl_offset = offset
        rep.cache_myself()
        assert rep.cached is not None
        rep.cached.dbid = dbid if 0 <= dbid < len(srv.dbs) else 0
        return
    m = srv.master_side
    repl.create_backlog()
    bl = repl.backlog
    assert bl is not None
    repl.replid2 = replid
    repl.second_replid_offset = offset + 1
    repl.master_repl_offset += offset
    bl.first = repl.master_repl_offset - bl.histlen + 1
    m.no_replicas_since = time.time()
    m.hook()


def _rdb_done(srv: Server, ok: bool, socket: bool) -> None:
    m = getattr(srv, "master_side", None)
    if m is not None:
        m.rdb_done(srv, ok, socket)


def _client_gone(c: Client) -> None:
    m = getattr(c.server, "master_side", None)
    if m is not None:
        m.client_gone(c)


def install(srv: Server) -> Master:
    """Give srv its master side (srv.master_side) and hooks (called once by the Server)."""
    m = Master(srv)
    srv.master_side = m
    srv.stat_sync_full = 0
    srv.stat_sync_partial_ok = 0
    srv.stat_sync_partial_err = 0
    srv.stat_net_repl_output_bytes = 0
    srv.repl_good_slaves_count = 0
    srv.replicas_info = m.info_lines
    srv.hooks_on_cron.append(m.cron)
    srv.on_resume_writing = m.pipe_resume
    hooks = type(srv).client_gone_hooks  # the class's list: others add to it later
    if _client_gone not in hooks:
        hooks.append(_client_gone)
    srv.change_replication_id = srv.repl.change_replid
    srv.replicas_in_sync = m.in_sync
    srv.before_shutdown_wait = m.send_getack
    srv.shutdown_hooks = [m.report_on_shutdown, *srv.shutdown_hooks]

    def feed_replicas_only(dbid: int, argv: list[bytes]) -> None:
        m.feed(dbid, argv)
    srv.feed_replicas_only = feed_replicas_only
    from bocho.persistence import snapshot
    if _rdb_done not in snapshot.RDB_DONE_HOOKS:
        snapshot.RDB_DONE_HOOKS.append(_rdb_done)
    m.update_denier()
    return m
