"""The Server: databases, clients, the cron (hz), propagate(), statistics, start-up and
shutdown. One instance per process; commands reach it as client.server."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from bocho import REDIS_VERSION, __version__, blocking, clock, log, notify
from bocho.config import APPLY_HOOKS, Config, ConfigError
from bocho.db import Database
from bocho.listen import bind_listener
from bocho.network import F_MONITOR, Client, client_cron, install_fastpath
from bocho.replication.state import ReplOnly


class Server:
    NOTIFY_EXPIRED = notify.EXPIRED
    NOTIFY_EVICTED = notify.EVICTED

    def __init__(self, config: Config, config_file: str | None = None,
                 executable: str = "", argv: list[str] | None = None) -> None:
        self.config = config
        self.config_file = config_file
        self.executable = executable
        self.exec_argv = argv or []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.dbs = [Database(self, i) for i in range(config["databases"])]
        self.clients: dict[int, Client] = {}
        self._next_id = 0
        self.pending_writes: set[Client] = set()
        self.flush_scheduled = False
        self.monitors: list[Client] = []
        self.servers: list[Any] = []
        # TLS (bocho/tls.py): the live contexts and the tls-port listeners, apart from
        # the plain ones in self.servers
        self.tls_ctx: Any = None
        self.tls_client_ctx: Any = None
        self.tls_servers: list[Any] = []
        self.tls_pending: list[Any] = []  # listening sockets whose server is starting
        self.tls_gen = 0
        self.start_time = time.time()
        self.start_mono = clock.monotonic_ms()
        self.unixtime = int(self.start_time)
        self.lruclock = self.unixtime
        self.no_touch = False  # see current_client_no_touch
        # client-side caching state (bocho/tracking.py), None until first used
        self.tracking: Any = None
        self.dirty = 0
        self.lastsave = self.unixtime
        self.run_id = os.urandom(20).hex()
        self.shutdown_asap = False
        self.signal_pending = False  # a SIGTERM/SIGINT not yet seen by the loop
        self.exiting = False
        self.exit_code = 0
        self.stopped: asyncio.Future | None = None
        # stats
        self.stat_numconnections = 0
        self.stat_rejected_conn = 0
        self.stat_expiredkeys = 0
        self.stat_expired_stale_perc = 0.0
        self.stat_expired_time_cap_reached_count = 0
        self.stat_expire_cycle_time_used = 0
        self.stat_lazyfreed_objects = 0
        self.lazyfree_pending_objects = 0
        self.lazyfree_queue: list = []  # values waiting to be freed (db.free_async)
        self.lfu = False  # maxmemory-policy is an LFU one (db.touch keeps counters)
        self.stat_evictedkeys = 0
        self.stat_evictedclients = 0
        self.stat_keyspace_hits = 0
        self.stat_keyspace_misses = 0
        self.stat_total_error_replies = 0
        self.stat_unexpected_error_replies = 0
        self.stat_client_qbuf_limit_disconnections = 0
        self.stat_client_outbuf_limit_disconnections = 0
        self.stat_io_reads = 0
        self.stat_net_in_closed = 0
        self.stat_net_out_closed = 0
        self.errorstats: dict[bytes, int] = {}
        self.stat_total_eviction_exceeded_time = 0
        # pause (CLIENT PAUSE, FAILOVER): pauses holds (end ms, all) per purpose,
        # pause_end/pause_all the one in force (commands/client_cmds.py)
        self.pauses: dict[str, tuple[int, bool]] = {}
        self.pause_end = 0  # monotonic ms
        self.pause_all = False
        self.paused_clients: list[Client] = []
        # clients blocked on keys (bocho/blocking.py): how many, how many with a
        # deadline, and the keys a write made ready to serve them, in order
        self.blocked_on_keys = 0
        self.clients_in_timeout_table = 0
        self.ready_keys: list = []
        self.ready_marks: set = set()
        # propagation consumers: each a callable(dbid, argv)
        self.propagate_hooks: list[Callable[[int, list[bytes]], None]] = []
        # while not None (EXEC, scripts), writes are collected here and leave as one block
        self.also_propagate: list[tuple[int, list[bytes]]] | None = None
        self.in_exec = False
        # scripting (bocho/scripting.py): the running script, the one past
        # busy-reply-threshold (BUSY to others), and the EVAL scripts' Lua state
        self.script_ctx: Any = None
        self.busy_script: Any = None
        self.busy_accepted: list = []  # connections accepted while a script was busy
        self.eval_engine: Any = None
        self.propagating = False
        self.propagate_db = -1
        # cached config for the hot path
        self.requirepass = ""
        self.maxmemory = 0
        self.slowlog_ns = 10_000_000
        self.obuf_limits_on = False
        # maxmemory-clients is set: client memory is checked around every command (as
        # Redis before each one), and replies leave one loop turn later (flush_pending)
        self.client_evict = False
        self.flush_deferred = 0
        self.lazyfree_lazy_expire = False
        self.notify_flags = 0
        self.slow = False
        self.replica_guard = False  # role is "slave" (update_slow)
        self.repl_in_loop = False
        self.slowlog: list = []
        self.slowlog_id = 0
        self.latency_events: dict[str, Any] = {}
        self.pubsub_channels: dict[bytes, dict[Client, None]] = {}
        self.pubsub_patterns: dict[bytes, dict[Client, None]] = {}
        # the AOF (bocho/persistence/aof.py), set at start-up; write_deniers: callables
        # returning the MISCONF error that refuses writes (persistence failing) or None
        self.aof: Any = None
        self.write_deniers: list[Callable[[], bytes | None]] = []
        # a client's transport drained below its low-water mark (replication/master.py
        # paces the diskless RDB relay with it)
        self.on_resume_writing: Callable[[Client], None] | None = None
        # min-replicas-to-write (replication/master.py): refuses writes, not PING
        self.replicas_denier: Callable[[], bytes | None] | None = None
        self.startup_banner = ""  # the logo, logged once listening (cli.py)
        # SAVE on shutdown; set by the persistence layer (persistence/snapshot.py)
        self.save_hook: Callable[[], bool] | None = None
        self.hooks_on_cron: list[Callable[[], None]] = []
        self.debug_active_expire = True
        self.cron_paused = False
        self.script_disable_deny_script = False  # DEBUG SET-DISABLE-DENY-SCRIPTS
        self.loading = False
        self.async_loading = False  # with loading: a replica's swapdb load (replica.py)
        self.lastbgsave_ok = True  # False after a failed BGSAVE (MISCONF, snapshot.py)
        self.child_type: str | None = None  # "rdb" while a BGSAVE child runs
        self.role = "master"
        self.ops_samples: list[tuple[int, int]] = []
        config.on_change = self.apply_config
        self.shutdown_flags: dict | None = None  # set while a shutdown is in progress
        self.shutdown_waiters: list[Client] = []  # SHUTDOWN callers while it waits
        self.last_sig = ""
        self.latency_ns = 2**62
        # ACL (bocho/acl.py): users; acl_free names the unrestricted ones (fast path)
        self.acl_free: set[bytes] = {b"default"}
        self.default_needs_auth = False
        from bocho.acl import Acl
        self.acl = Acl(self)
        config.rewrite_users = lambda: None if config["aclfile"] else self.acl.config_lines()
        for name in ("requirepass", "maxmemory", "maxmemory-clients", "maxmemory-policy",
                     "slowlog-log-slower-than",
                     "latency-monitor-threshold", "client-output-buffer-limit", "lazyfree-lazy-expire",
                     "notify-keyspace-events", "loglevel"):
            self.apply_config(name)
        from bocho.persistence import snapshot
        snapshot.install(self)
        from bocho.replication.state import ReplState
        self.repl = ReplState(self)
        from bocho.replication import master
        master.install(self)
        from bocho.replication.replica import Replica
        self.replica = Replica(self)
        self.hooks_on_cron.append(self.replica.cron)
        from bocho.replication import failover
        failover.install(self)

    # -- small helpers used everywhere ---------------------------------------------------

    def next_client_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def cmd_time_ms(self) -> int:
        """The time keys expire against: a script sees the time it started at."""
        ctx = self.script_ctx
        if ctx is not None:
            return ctx.snapshot
        return clock.mstime()

    def is_replica_of_master(self) -> bool:
        return self.replica.masterhost is not None

    def current_client_is_master(self) -> bool:
        """The master's stream is running a command (its keys are not expired here)."""
        return self.replica.executing

    def current_client_no_touch(self) -> bool:
        """Whether the running command comes from a CLIENT NO-TOUCH client (set around
        that client's commands by Client.run_no_touch; only asked while an LRU/LFU
        policy keeps db.lru)."""
        return self.no_touch

    # Set by the compiled loop (network.install_fastpath): it propagates the writes it
    # runs itself when every propagate hook is marked `in_loop` (the replication feed),
    # and on a replica it sends writes (and everything while reads are refused) to
    # call() for its refusal; the Python loop leaves both to call().
    LOOP_HANDLES_REPLICATION = False

    def update_slow(self) -> None:
        """Whether every command must take the full path (rare server states)."""
        in_loop = self.LOOP_HANDLES_REPLICATION
        self.replica_guard = self.role == "slave"
        repl = self.replica_guard or self.propagating
        self.slow = bool(self.maxmemory or self.client_evict or self.monitors or self.pause_end
                         or self.propagating and not (in_loop and all(
                             getattr(h, "in_loop", False) for h in self.propagate_hooks))
                         or self.loading or self.blocked_on_keys
                         or self.busy_script is not None or not self.lastbgsave_ok
                         or self.replica_guard and not in_loop
                         or self.replicas_denier is not None)
        # what the compiled loop handles itself the Python loop (which takes the rest of
        # a read the compiled one leaves) sends to call()
        self.repl_in_loop = in_loop and repl

    def apply_config(self, name: str) -> None:
        cfg = self.config
        # Hooks registered with config.on_apply (port/bind rebinding, maxclients...);
        # one that raises ConfigError makes CONFIG SET roll back.
        for hook in APPLY_HOOKS.get(name, ()):
            hook(self)
        if name == "requirepass":
            self.acl.set_requirepass(cfg["requirepass"])
            # truthy while the default user needs AUTH (protected mode, new clients)
            self.requirepass = "x" if self.default_needs_auth else ""
        elif name == "maxmemory":
            self.maxmemory = cfg["maxmemory"]
            self.update_slow()
            if self.maxmemory and self.loop is not None:
                from bocho.evict import maxmemory_changed
                maxmemory_changed(self)
        elif name == "maxmemory-clients":
            self.client_evict = bool(cfg["maxmemory-clients"])
            self.update_slow()
        elif name == "maxmemory-policy":
            self.lfu = cfg["maxmemory-policy"].endswith("lfu")
            self.set_lru_tracking(cfg["maxmemory-policy"].endswith(("lru", "lfu")))
        elif name in ("slowlog-log-slower-than", "latency-monitor-threshold"):
            # The hot loop makes one test, `d > slowlog_ns`: the lower of the two
            # thresholds; slowlog_push sorts out which of the two applies.
            v = cfg["slowlog-log-slower-than"]
            self.slowlog_us = v
            slow_ns = v * 1000 - 1 if v >= 0 else 2**62
            ms = cfg["latency-monitor-threshold"]
            self.latency_ns = ms * 1_000_000 - 1 if ms > 0 else 2**62
            self.slowlog_ns = min(slow_ns, self.latency_ns)
        elif name == "client-output-buffer-limit":
            self.obuf_limits_on = any(h or s for h, s, _ in cfg[name].values())
            for c in self.clients.values():
                c.refresh_obuf()
        elif name == "lazyfree-lazy-expire":
            self.lazyfree_lazy_expire = cfg[name]
        elif name == "notify-keyspace-events":
            try:
                self.notify_flags = notify.parse_flags(cfg[name])
            except KeyError:
                raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmd'.") from None
            if not self.notify_flags & (notify.KEYSPACE | notify.KEYEVENT):
                self.notify_flags = 0
        elif name in ("loglevel", "logfile"):
            log.logger.configure(cfg["loglevel"], cfg["logfile"])
        elif name == "dir":
            try:
                os.chdir(cfg["dir"])
            except OSError as e:
                raise ConfigError(e.strerror or str(e)) from None

    def set_lru_tracking(self, on: bool) -> None:
        for db in self.dbs:
            if on and db.lru is None:
                db.lru = {}
            elif not on:
                db.lru = None

    def rebind(self) -> None:
        raise ConfigError("Unable to listen on this port")

    # -- errors, slowlog, monitor --------------------------------------------------------

    def count_error(self, msg: bytes) -> None:
        self.stat_total_error_replies += 1
        sp = msg.find(b" ")
        prefix = msg[:sp] if sp > 0 else msg
        if len(self.errorstats) >= 128 and prefix not in self.errorstats:
            prefix = b"ERRORSTATS_DISABLED"
            return
        self.errorstats[prefix] = self.errorstats.get(prefix, 0) + 1

    def slowlog_push(self, c: Client, argv: list[bytes], ns: int) -> None:
        """A command took more than slowlog_ns: latency event and/or slow log entry."""
        if c.blocked and isinstance(c.block_state, blocking.BlockState):
            return  # logged when it is served (blocking.unblock)
        from bocho.slowlog import record
        record(self, c, argv, ns)

    def feed_monitors(self, c: Client, argv: list[bytes], cmd: Any = None) -> None:
        """One MONITOR line per executed command (bocho/commands/monitor.py)."""
        from bocho.commands.monitor import feed
        feed(self, c, argv, cmd)

    # -- propagation ---------------------------------------------------------------------

    def propagate(self, dbid: int, argv: list[bytes]) -> None:
        """The one exit for writes: AOF, replication backlog and replicas hang off here."""
        if self.also_propagate is not None:
            self.also_propagate.append((dbid, argv))
            return
        if type(argv) is ReplOnly:
            for hook in self.propagate_hooks:
                if getattr(hook, "replication", False):
                    hook(dbid, argv)
            return
        for hook in self.propagate_hooks:
            hook(dbid, argv)

    def propagate_internal(self, dbid: int, argv: list[bytes]) -> None:
        """A write the server made on its own (lazy/active expiry, eviction). It does not
        count in `dirty` (as Redis): a read command that expires a key on its way must
        not be propagated itself (Client.execute propagates when dirty moved)."""
        if self.propagating:
            self.propagate(dbid, argv)

    def add_propagate_hook(self, hook: Callable[[int, list[bytes]], None]) -> None:
        self.propagate_hooks.append(hook)
        self.propagating = True
        self.update_slow()

    def remove_propagate_hook(self, hook: Callable[[int, list[bytes]], None]) -> None:
        if hook in self.propagate_hooks:
            self.propagate_hooks.remove(hook)
        self.propagating = bool(self.propagate_hooks)
        self.update_slow()

    # -- keyspace notifications ----------------------------------------------------------

    def notify(self, etype: int, event: bytes, key: bytes, dbid: int) -> None:
        flags = self.notify_flags
        if not flags & etype:
            return
        from bocho.commands.pubsub import publish
        if flags & notify.KEYSPACE:
            publish(self, b"__keyspace@%d__:%s" % (dbid, key), event)
        if flags & notify.KEYEVENT:
            publish(self, b"__keyevent@%d__:%s" % (dbid, event), key)

    # -- clients -------------------------------------------------------------------------

    def client_gone(self, c: Client) -> None:
        if self.clients.pop(c.id, None) is None:
            return
        self.stat_net_in_closed += c.net_in
        self.stat_net_out_closed += c.net_out
        self.pending_writes.discard(c)
        if c.blocked and self.blocked_on_keys:
            blocking.client_gone(c)
        if c.flags & F_MONITOR and c in self.monitors:
            self.monitors.remove(c)
            self.update_slow()
        for hook in self.client_gone_hooks:
            hook(c)

    client_gone_hooks: list[Callable[[Client], None]] = []

    @staticmethod
    def tracking_totals(srv: Server) -> tuple[int, int, int]:
        """INFO stats: tracking_total_keys / _items / _prefixes."""
        trk = srv.tracking
        return trk.totals() if trk is not None else (0, 0, 0)

    @property
    def tracking_clients(self) -> int:
        trk = self.tracking
        return trk.clients if trk is not None else 0

    def flush_pending(self) -> None:
        if self.client_evict and self.defer_flush():
            return
        self.flush_scheduled = False
        while self.pending_writes:
            c = self.pending_writes.pop()
            if c.out and not c.closing:
                c.flush()

    def defer_flush(self) -> bool:
        """While maxmemory-clients is set, replies leave one loop turn after the commands
        that made them, once the loop has polled again: a client just answered is then
        no longer first in line (level-triggered epoll keeps a read socket queued until
        the next poll), so input that reached the server before that client's next
        request is read, and counted as client memory, before that request runs, as in
        Redis. True: deferred, the caller writes nothing now."""
        if self.flush_deferred == 2:  # the deferred turn: write now
            self.flush_deferred = 0
            return False
        if not self.flush_deferred and self.loop is not None:
            self.flush_deferred = 1
            self.loop.call_soon(self._deferred_flush)
        return True

    def _deferred_flush(self) -> None:
        self.flush_deferred = 2
        self.flush_pending()  # (the AOF's wrapper, if installed, runs first)
        self.flush_deferred = 0

    def client_info(self, c: Client) -> str:
        from bocho.commands.client_cmds import client_info_string
        return client_info_string(self, c)

    def obuf_limit(self, c: Client) -> tuple[int, int, int]:
        cls = c._obuf_class or "normal"
        hard, soft, secs = self.config["client-output-buffer-limit"].get(cls, (0, 0, 0))
        if cls == "replica" and hard and hard < self.config["repl-backlog-size"]:
            # a replica may be sent up to a whole backlog by a PSYNC: a lower hard
            # limit would drop it right after accepting it (Redis raises it too)
            hard = self.config["repl-backlog-size"]
        return hard, soft, secs

    def check_paused(self, c: Client, cmd: Any, argv: list[bytes]) -> bool:
        """CLIENT PAUSE: hold this client's command until the pause ends."""
        from bocho.commands.client_cmds import should_pause
        if self.pause_end and should_pause(self, c, cmd, argv):
            c.pending_argv = argv
            c.blocked = True
            self.paused_clients.append(c)
            return True
        return False

    def unblock_client(self, c: Client, as_error: bool) -> None:
        """CLIENT UNBLOCK: end a wait on keys with the timeout reply or an error."""
        from bocho.blocking import unblock_client
        unblock_client(c, as_error)

    def over_maxmemory(self, c: Client) -> bool:
        from bocho.evict import perform_evictions
        return not perform_evictions(self)

    # -- cron ----------------------------------------------------------------------------

    async def cron(self) -> None:
        """serverCron: hz times a second."""
        from bocho.expire import active_expire_cycle
        loop = asyncio.get_running_loop()
        while not self.exiting:
            hz = max(1, min(500, self.config["hz"]))
            await asyncio.sleep(1.0 / hz)
            if self.cron_paused:
                continue
            now = time.time()
            self.unixtime = int(now)
            self.lruclock = self.unixtime
            if self.shutdown_asap and self.shutdown_flags is None:
                # A signal asked for it; shutting down happens here, not in the handler.
                if self.prepare_for_shutdown(**self.signal_shutdown_flags()):
                    self.request_exit(0)
                    return
            elif self.shutdown_mstime and self.shutdown_wait_over():
                if self.complete_shutdown():
                    return
            try:
                if self.pause_end and clock.monotonic_ms() >= self.pause_end:
                    from bocho.commands.client_cmds import unpause
                    unpause(self)
                if self.debug_active_expire:
                    t0 = time.perf_counter()
                    active_expire_cycle(self, 1.0 / hz)
                    if self.latency_ns < 2**62:
                        from bocho.latency import add_sample
                        add_sample(self, "expire-cycle", int((time.perf_counter() - t0) * 1000))
                self.clients_cron()
                for hook in self.hooks_on_cron:
                    hook()
                self.ops_samples.append((clock.monotonic_ms(), self.total_commands()))
                del self.ops_samples[:-16]
            except Exception as e:  # the cron must survive a bug in one of its parts
                log.warning(f"cron error: {e!r}")
            if self.pending_writes:
                # Replies made by the cron (expired-key events to subscribers, unblocked
                # clients) leave now, not on the receiver's next read.
                self.flush_pending()
        del loop

    def clients_cron(self) -> None:
        timeout = self.config["timeout"]
        now = self.unixtime
        now_ms = clock.monotonic_ms()
        for c in list(self.clients.values()):
            if (timeout and now - c.last_io > timeout and not c.flags & (8 | 16 | 2)
                    and not c.blocked and not (c.channels or c.patterns)):
                log.verbose("Closing idle client")
                c.close()
                continue
            if c.obuf_soft_since and self.obuf_limits_on and c.transport is not None:
                c.check_output_limits()
            client_cron(c, now, now_ms)

    def total_commands(self) -> int:
        from bocho.commands import all_commands, sync_stats
        sync_stats()
        n = 0
        for cmd in all_commands():
            n += cmd.calls
            if cmd.subcommands:
                for s in cmd.subcommands.values():
                    n += s.calls
        return n

    def instantaneous_ops(self) -> int:
        s = self.ops_samples
        if len(s) < 2:
            return 0
        dt = s[-1][0] - s[0][0]
        return int((s[-1][1] - s[0][1]) * 1000 / dt) if dt > 0 else 0

    # -- start-up and shutdown -----------------------------------------------------------

    def listen(self) -> bool:
        loop = self.loop
        assert loop is not None
        cfg = self.config
        port = cfg["port"]
        backlog = cfg["tcp-backlog"]
        ok_any = False
        if port:
            for addr in cfg["bind"]:
                try:
                    sock = bind_listener(addr, port, backlog)
                except OSError:
                    log.warning(f"Failed listening on port {port} (tcp), aborting.")
                    return False
                if sock is None:
                    continue
                srv = loop.run_until_complete(
                    loop.create_server(lambda: Client(self), sock=sock, backlog=backlog))
                self.servers.append(srv)
                ok_any = True
        path = cfg["unixsocket"]
        if path:
            try:
                if os.path.exists(path):
                    os.unlink(path)
                srv = loop.run_until_complete(
                    loop.create_unix_server(lambda: Client(self, unix=True), path=path,
                                            backlog=backlog))
                perm = cfg["unixsocketperm"]
                if perm:
                    os.chmod(path, perm)
                self.servers.append(srv)
                ok_any = True
                log.notice(f"The server is now ready to accept connections at {path}")
            except OSError as e:
                log.warning(f"Failed opening Unix socket: {e.strerror}")
                return False
        from bocho import tls
        if not tls.listen_at_startup(self):
            return False
        ok_any = ok_any or bool(self.tls_servers)
        if not ok_any and (port or cfg["tls-port"]):
            log.warning("Configured to not listen anywhere, exiting.")
            return False
        return True

    def install_signals(self) -> None:
        """SIGTERM and SIGINT get plain Python handlers, not the loop's: uvloop drops a
        signal that arrives while its loop is not running (between the loop runs of
        start-up), and a harness may signal a server the moment it first answers."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._signal_received)
        from bocho.crash import install_crash_handlers
        install_crash_handlers(self)

    def _signal_received(self, signum: int, frame: Any) -> None:
        """sigShutdownHandler. A second SIGINT while a shutdown is pending exits here
        (the loop may be stuck); the rest runs from the loop, as logging inside whatever
        Python code the signal interrupted could re-enter the log's file."""
        if signum == signal.SIGINT and (self.shutdown_asap or self.signal_pending):
            try:
                log.warning("You insist... exiting now.")
                for hook in self.exit_now_hooks:
                    hook()
                log.logger.reopen()
            finally:
                os._exit(1)
        self.signal_pending = True
        name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
        self.loop.call_soon_threadsafe(self._on_signal, name)

    def _on_signal(self, name: str) -> None:
        """Only log and flag it; the cron does the shutdown."""
        self.signal_pending = False
        if self.loading:
            log.warning("Received shutdown signal during loading, scheduling shutdown.")
        else:
            log.warning(f"Received {name} scheduling shutdown...")
        self.shutdown_asap = True
        self.last_sig = name

    # Called when the process must exit at once (second SIGINT): remove temp files.
    exit_now_hooks: list[Callable[[], None]] = []
    # Called by finish_shutdown before saving: each returns False to refuse the exit
    # (an AOF that cannot be flushed...); `force` says errors must be ignored.
    shutdown_hooks: list[Callable[[bool], bool]] = []

    def signal_shutdown_flags(self) -> dict:
        opt = self.config["shutdown-on-sigint" if self.last_sig == "SIGINT"
                          else "shutdown-on-sigterm"]
        words = opt.split() if isinstance(opt, str) else list(opt)
        return {w: True for w in words if w in ("save", "nosave", "now", "force")}

    # Replication sets these: whether every replica acknowledged the master's offset
    # (None: no replicas, ready), a call made when a shutdown starts waiting for them
    # (send REPLCONF GETACK), and one made as the shutdown completes (log lagging
    # replicas and "N of M replicas are in sync").
    replicas_in_sync: Callable[[], bool] | None = None
    before_shutdown_wait: Callable[[], None] | None = None
    report_replicas_on_shutdown: Callable[[], None] | None = None
    shutdown_mstime = 0  # while waiting for replicas: the deadline (unix ms)

    def prepare_for_shutdown(self, nosave: bool = False, save: bool = False,
                             now: bool = False, force: bool = False) -> bool:
        """Redis's prepareForShutdown: True when the process may exit now. False when it
        failed (then cancelled: the server keeps running) or when it waits for lagging
        replicas (shutdown_mstime set; the cron completes it, see shutdown_wait_over)."""
        if self.shutdown_mstime:
            return False  # already waiting
        if self.loading:
            save, nosave = False, True
        self.shutdown_flags = {"nosave": nosave, "save": save, "now": now, "force": force}
        log.warning("User requested shutdown...")
        timeout = self.config["shutdown-timeout"]
        ready = self.replicas_in_sync
        if not now and timeout and ready is not None and not ready():
            self.shutdown_mstime = clock.mstime() + timeout * 1000
            if self.before_shutdown_wait is not None:
                self.before_shutdown_wait()
            log.notice("Waiting for replicas before shutting down.")
            return False
        return self._finish_or_cancel()

    def _finish_or_cancel(self) -> bool:
        f = self.shutdown_flags or {}
        if self.finish_shutdown(f.get("nosave", False), f.get("save", False),
                                f.get("force", False)):
            return True
        log.warning("Errors trying to shut down the server. Check the logs for more "
                    "information.")
        self.cancel_shutdown()
        return False

    def shutdown_wait_over(self) -> bool:
        ready = self.replicas_in_sync
        return clock.mstime() >= self.shutdown_mstime or ready is None or ready()

    def complete_shutdown(self) -> bool:
        """The cron ends a shutdown that waited for replicas: exit, or (on a save
        error) cancel it and tell the SHUTDOWN callers."""
        if self.report_replicas_on_shutdown is not None:
            self.report_replicas_on_shutdown()
        if self._finish_or_cancel():
            self.request_exit(0)
            return True
        return False

    def shutdown_in_ms(self) -> int:
        """INFO shutdown_in_milliseconds."""
        return max(0, self.shutdown_mstime - clock.mstime()) if self.shutdown_mstime else 0

    def finish_shutdown(self, nosave: bool, save: bool, force: bool) -> bool:
        if self.child_type == "rdb":
            from bocho.persistence.snapshot import kill_child_for_shutdown
            kill_child_for_shutdown(self)
        for hook in self.shutdown_hooks:
            if not hook(force):
                return False
        if ((self.config["save"] and not nosave) or save) and self.save_hook is not None:
            log.notice("Saving the final RDB snapshot before exiting.")
            if not self.save_hook():
                if force:
                    log.warning("Error trying to save the DB. Exit anyway.")
                else:
                    log.warning("Error trying to save the DB, can't exit.")
                    return False
        pidfile = self.config["pidfile"]
        if pidfile:
            log.notice("Removing the pid file.")
            try:
                os.unlink(pidfile)
            except OSError:
                pass
        for srv in self.servers + self.tls_servers + self.tls_pending:
            srv.close()
        path = self.config["unixsocket"]
        if path:
            log.notice("Removing the unix socket file.")
            try:
                os.unlink(path)
            except OSError as e:
                log.warning(f"Error removing the unix socket file: {e.strerror}")
        log.warning("Redis is now ready to exit, bye bye...")
        return True

    def cancel_shutdown(self) -> None:
        self.shutdown_asap = False
        self.shutdown_flags = None
        self.last_sig = ""
        self.shutdown_mstime = 0
        # SHUTDOWN callers that were waiting get their error and go on with their input
        waiters, self.shutdown_waiters = self.shutdown_waiters, []
        for c in waiters:
            if c.closing:
                continue
            c.blocked = False
            c.block_state = None
            c.send(b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n")
            if self.loop is not None:
                self.loop.call_soon(c.process_input)

    def abort_shutdown(self) -> bool:
        """SHUTDOWN ABORT: cancel a shutdown requested by a signal, or waiting for
        replicas."""
        if not self.shutdown_asap and self.shutdown_flags is None:
            return False
        self.cancel_shutdown()
        log.notice("Shutdown manually aborted.")
        return True

    def request_exit(self, code: int = 0) -> None:
        """Leave run() with `code` once the current event is done (after a successful
        prepare_for_shutdown)."""
        self.exit_code = code
        self.exiting = True
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(None)

    def run(self) -> int:
        """Start listening and serve until shut down; returns the exit code."""
        try:
            import uvloop
            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self.stopped = loop.create_future()
        log.notice("Server initialized")
        if not self.load_acl_at_startup():
            return 1
        # Running the loop to open a listener can already serve a client that connected
        # at once (a readiness probe): it must find the signal handlers in place (it may
        # send SIGTERM next) and must not see the keyspace before the data is loaded.
        self.install_signals()
        self.loading = True
        listening = self.listen()
        self.loading = False
        if not listening:
            return 1
        if self.startup_banner:
            log.logger.raw(self.startup_banner)
        self.write_pidfile()
        from bocho.persistence import aof
        from bocho.replication.replica import replicaof_startup
        replicaof_startup(self)
        aof_loaded = aof.startup(self)
        if aof_loaded is False:
            return 1
        if aof_loaded is None:  # appendonly no: the RDB is the source
            from bocho.persistence.snapshot import load_at_startup
            if not load_at_startup(self, loop):
                return 1
        from bocho.replication.master import adopt_saved_history
        adopt_saved_history(self, getattr(self, "rdb_loaded_aux", None) or {})
        gc.freeze()
        cron = loop.create_task(self.cron())
        from bocho import memory
        memory.install(self)
        if self.maxmemory:
            from bocho.evict import maxmemory_changed
            maxmemory_changed(self)
        log.notice("Ready to accept connections")
        loop.run_until_complete(self.stopped)
        cron.cancel()
        for c in list(self.clients.values()):
            c.close()
        return self.exit_code

    def load_acl_at_startup(self) -> bool:
        """ACLLoadUsersAtStartup: `user` lines of the config file, or the aclfile."""
        cfg = self.config
        if cfg["aclfile"] and cfg.users:
            log.warning("Configuring Redis with users defined in redis.conf and at the same "
                        "setting an ACL file path is invalid. This setup is very likely to "
                        "lead to configuration errors and security holes, please define "
                        "either an ACL file or declare users directly in your redis.conf, "
                        "but not both.")
            return False
        if cfg.users:
            err = self.acl.load_configured(cfg.users)
            if err is not None:
                log.warning(err)
                log.warning("Critical error while loading ACLs. Exiting.")
                return False
        if cfg["aclfile"]:
            err = self.acl.load_file(cfg["aclfile"])
            if err is not None:
                log.warning(f"Aborting Redis startup because of ACL errors: {err}")
                return False
        self.sync_default_auth()
        return True

    def sync_default_auth(self) -> None:
        """Mirror the default user's state into the cached requirepass flag."""
        self.requirepass = "x" if self.default_needs_auth else ""

    def write_pidfile(self) -> None:
        path = self.config["pidfile"]
        if not path:
            return
        try:
            with open(path, "w") as f:
                f.write(f"{os.getpid()}\n")
        except OSError as e:
            log.warning(f"Failed to write PID file: {e.strerror}")


def banner(server: Server) -> str:
    """The start-up banner. The TCL harness waits for ' PID: <pid>' in it."""
    cfg = server.config
    mode = "cluster" if cfg["cluster-enabled"] else "standalone"
    return (
        "\n"
        f"    bocho {__version__}  (Redis {REDIS_VERSION} compatible) 64 bit\n"
        f"    Running in {mode} mode\n"
        f"    Port: {cfg['port'] or cfg['tls-port']}\n"
        f"    PID: {os.getpid()}\n"
        "\n"
        "    https://github.com/ (bocho: a Redis-compatible server in Python)\n\n"
    )


install_fastpath(Server)

