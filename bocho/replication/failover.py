"""FAILOVER: a master hands its role to one of its replicas without losing a write
(Redis 7.0's coordinated failover, replication.c).

The steps: writes pause (reads go on); the master waits until a replica has acknowledged
the whole stream (REPLCONF ACK == master_repl_offset), or, with FORCE, until TIMEOUT
passes; then it becomes a replica of that one and asks it `PSYNC <replid> <offset>
FAILOVER`. The target, seeing its own master's replication ID, turns master (as REPLICAOF
NO ONE does) and answers +CONTINUE: the old master continues the new history with no
full sync. The pause ends when that PSYNC got its answer; a refused PSYNC, FAILOVER ABORT
or the timeout without FORCE put everything back as it was.

srv.failover_state is what INFO shows (master_failover_state) and what REPLICAOF and
SYNC refuse to run under."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bocho import clock, log, resp
from bocho.errors import SYNTAX, CommandError
from bocho.util import parse_int

if TYPE_CHECKING:
    from bocho.replication.master import Replica
    from bocho.server import Server

NO_FAILOVER = "no-failover"
WAIT_FOR_SYNC = "waiting-for-sync"
IN_PROGRESS = "failover-in-progress"

PAUSE_PURPOSE = "failover"
FOREVER = 2**62  # the pause lasts until the failover ends, whatever the clock says


class Failover:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.end_ms = 0  # monotonic ms; 0: no TIMEOUT
        self.force = False
        self.host: str | None = None
        self.port = 0
        self.scheduled = False
        srv.failover_state = NO_FAILOVER

    @property
    def state(self) -> str:
        return self.srv.failover_state

    def _set(self, state: str) -> None:
        self.srv.failover_state = state

    # -- the command ------------------------------------------------------------------------

    def command(self, argv: list[bytes]) -> bytes:
        """FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: checks in Redis's order."""
        srv = self.srv
        if srv.config["cluster-enabled"]:
            raise CommandError(b"ERR FAILOVER not allowed in cluster mode. Use CLUSTER "
                               b"FAILOVER command instead.")
        if len(argv) == 2 and argv[1].lower() == b"abort":
            if self.state == NO_FAILOVER:
                raise CommandError(b"ERR No failover in progress.")
            self.abort("Failover manually aborted")
            return resp.OK
        timeout = port = 0
        force = False
        host: str | None = None
        j, n = 1, len(argv)
        while j < n:
            opt = argv[j].lower()
            if opt == b"timeout" and j + 1 < n and not timeout:
                timeout = parse_int(argv[j + 1])
                if timeout <= 0:
                    raise CommandError(b"ERR FAILOVER timeout must be greater than 0")
                j += 2
            elif opt == b"to" and j + 2 < n and host is None:
                port = parse_int(argv[j + 2])
                host = argv[j + 1].decode("utf-8", "replace")
                j += 3
            elif opt == b"force" and not force:
                force = True
                j += 1
            else:
                raise CommandError(SYNTAX)
        if self.state != NO_FAILOVER:
            raise CommandError(b"ERR FAILOVER already in progress.")
        if srv.replica.masterhost is not None:
            raise CommandError(b"ERR FAILOVER is not valid when server is a replica.")
        if not srv.master_side.replicas:
            raise CommandError(b"ERR FAILOVER requires connected replicas.")
        if force and (not timeout or host is None):
            raise CommandError(b"ERR FAILOVER with force option requires both a timeout "
                               b"and target HOST and IP.")
        if host is not None:
            from bocho.replication.master import ONLINE
            r = find_replica(srv, host, port)
            if r is None:
                raise CommandError(b"ERR FAILOVER target HOST and PORT is not a replica.")
            if r.state != ONLINE:
                raise CommandError(b"ERR FAILOVER target replica is not online.")
        self.start(host, port, timeout, force)
        return resp.OK

    # -- start / end --------------------------------------------------------------------

    def start(self, host: str | None, port: int, timeout_ms: int, force: bool) -> None:
        from bocho.commands.client_cmds import pause
        srv = self.srv
        if host is not None:
            self.host, self.port = host, port
            log.notice(f"FAILOVER requested to {host}:{port}.")
        else:
            log.notice("FAILOVER requested to any replica.")
        self.end_ms = clock.monotonic_ms() + timeout_ms if timeout_ms else 0
        self.force = force
        self._set(WAIT_FOR_SYNC)
        pause(srv, FOREVER, False, PAUSE_PURPOSE)
        self.schedule()

    def clear(self) -> None:
        """clearFailoverState: done (or given up); writes flow again."""
        from bocho.commands.client_cmds import unpause
        self.end_ms = 0
        self.force = False
        self.host = None
        self.port = 0
        self._set(NO_FAILOVER)
        unpause(self.srv, PAUSE_PURPOSE)

    def abort(self, why: str) -> None:
        """abortFailover: back to master if the switch had started."""
        if self.state == NO_FAILOVER:
            return
        if self.host is not None:
            log.notice(f"FAILOVER to {self.host}:{self.port} aborted: {why}")
        else:
            log.notice(f"FAILOVER to any replica aborted: {why}")
        if self.state == IN_PROGRESS:
            self.srv.replica.unset_master()
        self.clear()

    # -- progress ---------------------------------------------------------------------------

    def schedule(self) -> None:
        """Look at the replicas' offsets once this loop turn is over (Redis does it in
        beforeSleep: an ACK may be what it waited for)."""
        if self.scheduled or self.state != WAIT_FOR_SYNC:
            return
        loop = self.srv.loop
        if loop is None:
            self.update()
            return
        self.scheduled = True
        loop.call_soon(self._scheduled)

    def _scheduled(self) -> None:
        self.scheduled = False
        self.update()

    def update(self) -> None:
        """updateFailoverStatus: the timeout, or a replica that caught up."""
        if self.state != WAIT_FOR_SYNC:
            return
        srv = self.srv
        if self.end_ms and self.end_ms <= clock.monotonic_ms():
            if self.force:
                log.notice(f"FAILOVER to {self.host}:{self.port} time out exceeded, "
                           f"failing over.")
                self._switch()
            else:
                self.abort("Replica never caught up before timeout")
            return
        offset = srv.repl.master_repl_offset
        master = srv.master_side
        if self.host is not None:
            r = find_replica(srv, self.host, self.port)
        else:
            r = next((x for x in master.replicas if x.ack_off == offset), None)
            if r is not None:
                self.host = r.ip or r.c.peer_ip
                self.port = r.port
        if r is not None and r.ack_off == offset:
            log.notice(f"Failover target {self.host}:{self.port} is synced, failing over.")
            self._switch()

    def _switch(self) -> None:
        self._set(IN_PROGRESS)
        assert self.host is not None
        self.srv.replica.set_master(self.host, self.port)

    def psync_answered(self, accepted: bool) -> bool:
        """The target answered our PSYNC FAILOVER: +CONTINUE or +FULLRESYNC end the
        failover; anything else undoes it. False when it was undone."""
        if self.state != IN_PROGRESS:
            return True
        if accepted:
            self.clear()
            return True
        self.abort("Failover target rejected psync request")
        return False


def find_replica(srv: Server, host: str, port: int) -> Replica | None:
    """findReplica: by the address it announced (or its peer address) and its port."""
    for r in srv.master_side.replicas:
        ip = r.ip or r.c.peer_ip
        if ip and ip.lower() == host.lower() and r.port == port:
            return r
    return None


def install(srv: Server) -> Failover:
    fo = Failover(srv)
    srv.failover = fo
    srv.hooks_on_cron.append(fo.update)
    return fo
