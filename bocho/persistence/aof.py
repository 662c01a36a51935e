"""Append-only file persistence, Redis 7.0's multi-part layout (aof.c).

Writes reach the AOF only through Server.propagate: the hook `feed` appends each
command in RESP form (with a SELECT when the db changes) to one bytearray. The buffer
is written — and with appendfsync always, fdatasync'ed — once per event-loop turn,
just before the turn's replies leave (the hook wraps Server.flush_pending), so no
client hears of a write that is not on disk. everysec fsyncs from a thread at most
once a second; no leaves it to the kernel. With appendonly no nothing is installed:
the command path pays nothing.

The directory (appenddirname) holds a manifest (bocho/persistence/manifest.py), one
base file (an RDB preamble or commands) and the incremental files written since.
BGREWRITEAOF forks a child that writes a new base from the dataset while the parent
opens a new incremental file; on success the manifest switches atomically and the
files it no longer names are deleted. Loading replays the base and the incremental
files through the command table with a fake client.

Server attributes kept here for INFO persistence (commands/introspection.py):
aof_state, aof_rewrite_scheduled, aof_rewrite_time_start/_last, aof_lastbgrewrite_ok,
stat_aof_rewrites, stat_aofrw_consecutive_failures, aof_last_write_ok,
aof_current_size, aof_rewrite_base_size, aof_buffer_length, aof_pending_bio_fsync,
aof_delayed_fsync, stat_aof_cow_bytes."""

from __future__ import annotations

import errno
import os
import queue
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from bocho import log
from bocho.config import ConfigError, on_apply
from bocho.persistence import manifest as mf
from bocho.persistence import snapshot
from bocho.persistence.aof_load import (
    AOF_EMPTY,
    AOF_FAILED,
    AOF_NOT_EXIST,
    AOF_OK,
    AOF_OPEN_ERR,
    file_size,
    load_files,
)
from bocho.persistence.aof_rewrite import write_dataset
from bocho.persistence.snapshot import save_progress, unlink_quietly

if TYPE_CHECKING:
    from bocho.network import Client
    from bocho.server import Server

OFF, ON, WAIT_REWRITE = 0, 1, 2
ALWAYS, EVERYSEC, NO = 0, 1, 2
_POLICY = {"always": ALWAYS, "everysec": EVERYSEC, "no": NO}


WRITE_ERROR_LOG_RATE = 30  # seconds between two logs of the same write error
REWRITE_LIMIT_THRESHOLD = 3
REWRITE_LIMIT_MAX_MINUTES = 60


class Fsyncer:
    """Redis's bio thread for the AOF: fdatasync (and close) off the event loop.
    Counters are written by one side each, so no lock is needed."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.submitted = 0  # fsync jobs queued (loop thread)
        self.done = 0  # fsync jobs finished (worker thread)
        self.ok = True
        self.errno = 0

    def _start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="bocho-aof-fsync",
                                           daemon=True)
            self.thread.start()

    def fsync(self, fd: int) -> None:
        self._start()
        self.submitted += 1
        self.q.put((fd, False))

    def fsync_and_close(self, fd: int) -> None:
        self._start()
        self.q.put((fd, True))

    def fsync_then(self, fd: int, done: Any) -> None:
        """appendfsync always's group commit: fdatasync, then done(errno or 0) on the
        event loop."""
        self._start()
        self.q.put((fd, done))

    def in_progress(self) -> bool:
        return self.submitted != self.done

    def pending(self) -> int:
        return self.submitted - self.done

    def _run(self) -> None:
        while True:
            fd, close = self.q.get()
            if close is not True and close is not False:
                try:
                    os.fdatasync(fd)
                    err = 0
                except OSError as e:
                    err = e.errno or errno.EIO
                try:
                    self.srv.loop.call_soon_threadsafe(close, err)
                except RuntimeError:  # the loop is closed: the process is exiting
                    pass
                continue
            try:
                os.fdatasync(fd)
                if not close:
                    self.ok = True
            except OSError as e:
                if not close and e.errno not in (errno.EBADF, errno.EINVAL):
                    self.errno = e.errno or 0
                    self.ok = False
                    log.warning(f"Fail to fsync the AOF file: {e.strerror}")
            if close:
                try:
                    os.close(fd)
                except OSError:
                    pass
            else:
                self.done += 1


def _write_all(fd: int, data: bytearray) -> tuple[int, int]:
    """aofWrite: (bytes written or -1 when none, errno of the failure or 0)."""
    total = 0
    size = len(data)
    mv = memoryview(data)
    try:
        while total < size:
            try:
                total += os.write(fd, mv[total:])
            except OSError as e:
                return (total or -1), e.errno or 0
    finally:
        mv.release()
    return total, 0


class Aof:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        cfg = srv.config
        self.state = OFF
        self.fd = -1
        self.buf = bytearray()
        self.selected_db = -1
        self.manifest = mf.Manifest()
        self.last_incr_size = 0
        self.last_incr_fsync_offset = 0
        self.last_fsync = srv.unixtime
        self.flush_postponed_start = 0
        self.cur_timestamp = 0
        self.last_write_errno = 0
        self.bio = Fsyncer(srv)
        self.policy = _POLICY[cfg["appendfsync"]]
        self.timestamps = cfg["aof-timestamp-enabled"]
        self.feeding = False  # feed() appends (ON, or WAIT_REWRITE with our child)
        # appendfsync always's group commit: the fd being fdatasync'ed (-1: none), the
        # size it covers, and the replies (client, parts of its output) waiting for it
        self.sync_fd = -1
        self.sync_target = 0
        self.sync_t0 = 0.0
        self.held: list[tuple[Any, int]] = []
        self.installed = False
        self._class_flush = type(srv).flush_pending
        self._write_error_logged = 0
        self._limit_delay = 0
        self._limit_until = 0
        srv.aof_state = OFF
        srv.aof_rewrite_scheduled = False
        srv.aof_rewrite_time_start = -1
        srv.aof_rewrite_time_last = -1
        srv.aof_lastbgrewrite_ok = True
        srv.stat_aof_rewrites = 0
        srv.stat_aofrw_consecutive_failures = 0
        srv.aof_last_write_ok = True
        srv.aof_current_size = 0
        srv.aof_rewrite_base_size = 0
        srv.aof_buffer_length = 0
        srv.aof_pending_bio_fsync = 0
        srv.aof_delayed_fsync = 0
        srv.stat_aof_cow_bytes = 0

    # -- names -----------------------------------------------------------------------

    @property
    def dirname(self) -> str:
        return self.srv.config["appenddirname"]

    @property
    def filename(self) -> str:
        return self.srv.config["appendfilename"]

    def path(self, name: str) -> str:
        return os.path.join(self.dirname, name)

    @property
    def child_pid(self) -> int:
        """The rewrite child's pid, -1 when none runs (the child bookkeeping is
        snapshot.py's: srv.child_type / srv.child_pid)."""
        srv = self.srv
        return srv.child_pid if getattr(srv, "child_type", None) == "aof" else -1

    def set_state(self, state: int) -> None:
        self.state = state
        self.srv.aof_state = state
        self.update_feeding()

    def update_feeding(self) -> None:
        self.feeding = self.state == ON or (self.state == WAIT_REWRITE
                                            and self.child_pid > 0)

    # -- the hot path: propagate -> buffer -> one write per loop turn -----------------

    def feed(self, dbid: int, argv: list[bytes]) -> None:
        """feedAppendOnlyFile (a propagate hook)."""
        if not self.feeding:
            return
        buf = self.buf
        if self.timestamps:
            now = self.srv.unixtime
            if self.cur_timestamp < now:
                self.cur_timestamp = now
                buf += b"#TS:%d\r\n" % now
        if dbid != self.selected_db:
            s = b"%d" % dbid
            buf += b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n" % (len(s), s)
            self.selected_db = dbid
        buf += b"*%d\r\n" % len(argv)
        for a in argv:
            buf += b"$%d\r\n%s\r\n" % (len(a), a)
        srv = self.srv
        if not srv.flush_scheduled and srv.loop is not None:
            # writes made outside a client's turn (cron expiry) leave on their own
            srv.flush_scheduled = True
            srv.loop.call_soon(srv.flush_pending)

    def flush_then_reply(self) -> None:
        """Server.flush_pending while the AOF is on: the buffer is on disk first.

        With appendfsync always the fdatasync runs in the fsync thread (a group commit)
        while the loop goes on reading and running commands: the replies queued until
        then are held and leave when it completes; what comes meanwhile waits for the
        next one. No reply leaves before the writes made ahead of it are synced."""
        srv = self.srv
        if self.policy != ALWAYS or self.fd < 0:
            if self.buf:
                self.flush(False)
            self._class_flush(srv)
            return
        srv.flush_scheduled = False
        if self.sync_fd >= 0:
            return  # the completion calls us again
        if self.buf:
            self.flush(False, sync=False)
        if self.last_incr_fsync_offset == self.last_incr_size or (
                srv.config["no-appendfsync-on-rewrite"] and _child_active(srv)):
            self._class_flush(srv)
            return
        pending = srv.pending_writes
        self.held = [(c, len(c.out)) for c in pending]
        pending.clear()
        self.sync_fd = self.fd
        self.sync_target = self.last_incr_size
        self.sync_t0 = time.perf_counter()
        self.bio.fsync_then(self.fd, self._synced)

    def before_direct_reply(self) -> None:
        """A reply about to be written outside flush_pending (inline commands, a
        closing client): everything written so far goes to disk first, synced inline
        with appendfsync always."""
        if self.buf or self.last_incr_fsync_offset != self.last_incr_size:
            self.flush(True)

    def _synced(self, err: int) -> None:
        """The group commit's fdatasync returned (on the loop)."""
        srv = self.srv
        fd, self.sync_fd = self.sync_fd, -1
        if fd == self.fd:
            if err:
                log.warning("Can't persist AOF for fsync error when the AOF fsync policy "
                            f"is 'always': {os.strerror(err)}. Exiting...")
                os._exit(1)
            self._latency("aof-fsync-always", self.sync_t0)
            if self.last_incr_fsync_offset < self.sync_target:
                self.last_incr_fsync_offset = self.sync_target
            self.last_fsync = srv.unixtime
        # (a file switched meanwhile was fsynced before it was let go)
        held, self.held = self.held, []
        pending = srv.pending_writes
        for c, n in held:
            if c.closing or not c.out:
                continue
            if n >= len(c.out):
                c.flush()
            else:
                rest = c.out[n:]
                del c.out[n:]
                c.flush()
                c.out.extend(rest)
                pending.add(c)
        self.flush_then_reply()

    def install(self) -> None:
        if self.installed:
            return
        srv = self.srv
        srv.add_propagate_hook(self.feed)
        srv.flush_pending = self.flush_then_reply
        self.installed = True
        self.update_denier()

    def uninstall(self) -> None:
        if not self.installed:
            return
        srv = self.srv
        if self.feed in srv.propagate_hooks:
            srv.propagate_hooks.remove(self.feed)
        srv.propagating = bool(srv.propagate_hooks)
        srv.update_slow()
        srv.__dict__.pop("flush_pending", None)
        self.installed = False
        self.update_denier()

    # -- writing -----------------------------------------------------------------------

    def flush(self, force: bool, sync: bool = True) -> None:
        """flushAppendOnlyFile. sync=False leaves appendfsync always's fdatasync to the
        caller (the group commit of flush_then_reply)."""
        srv = self.srv
        buf = self.buf
        policy = self.policy
        sync_in_progress = False
        if self.fd < 0:
            return
        if not buf:
            # an fsync may still be due for what an earlier turn wrote
            if (policy == EVERYSEC and self.last_incr_fsync_offset != self.last_incr_size
                    and srv.unixtime > self.last_fsync):
                if self.bio.in_progress():
                    return
            elif not (policy == ALWAYS
                      and self.last_incr_fsync_offset != self.last_incr_size):
                return
            self._try_fsync(policy, False, sync)
            return
        if policy == EVERYSEC:
            sync_in_progress = self.bio.in_progress()
            if sync_in_progress and not force:
                srv.aof_buffer_length = len(buf)  # (INFO: what waits to be written)
                if not self.flush_postponed_start:
                    self.flush_postponed_start = srv.unixtime
                    return
                if srv.unixtime - self.flush_postponed_start < 2:
                    return
                srv.aof_delayed_fsync += 1
                log.notice("Asynchronous AOF fsync is taking too long (disk is busy?). "
                           "Writing the AOF buffer without waiting for fsync to complete, "
                           "this may slow down Redis.")
        sleep_us = getattr(srv, "aof_flush_sleep", 0)
        if sleep_us:
            time.sleep(sleep_us / 1e6)
        t0 = time.perf_counter()
        nwritten, err = _write_all(self.fd, buf)
        self._latency("aof-write", t0)
        self.flush_postponed_start = 0
        if nwritten != len(buf):
            can_log = srv.unixtime - self._write_error_logged > WRITE_ERROR_LOG_RATE
            if can_log:
                self._write_error_logged = srv.unixtime
            if nwritten == -1:
                if can_log:
                    log.warning(f"Error writing to the AOF file: {os.strerror(err)}")
                self.last_write_errno = err
            else:
                if can_log:
                    log.warning(f"Short write while writing to the AOF file: "
                                f"(nwritten={nwritten}, expected={len(buf)})")
                try:
                    os.ftruncate(self.fd, self.last_incr_size)
                except OSError as e:
                    if can_log:
                        log.warning("Could not remove short write from the append-only "
                                    "file.  Redis may refuse to load the AOF the next time "
                                    f"it starts.  ftruncate: {e.strerror}")
                else:
                    nwritten = -1
                self.last_write_errno = errno.ENOSPC
            if policy == ALWAYS:
                # the batch's replies are not sent: nothing unwritten was acknowledged
                log.warning("Can't recover from AOF write error when the AOF fsync policy "
                            "is 'always'. Exiting...")
                os._exit(1)
            if srv.aof_last_write_ok:
                srv.aof_last_write_ok = False
                self.update_denier()
            if nwritten > 0:
                srv.aof_current_size += nwritten
                self.last_incr_size += nwritten
                del buf[:nwritten]
            srv.aof_buffer_length = len(buf)
            return
        if not srv.aof_last_write_ok:
            log.warning("AOF write error looks solved, Redis can write again.")
            srv.aof_last_write_ok = True
            self.update_denier()
        srv.aof_current_size += nwritten
        self.last_incr_size += nwritten
        if len(buf) < 4000:
            buf.clear()
        else:
            self.buf = bytearray()
        srv.aof_buffer_length = 0
        self._try_fsync(policy, sync_in_progress, sync)

    def _try_fsync(self, policy: int, sync_in_progress: bool, sync: bool = True) -> None:
        srv = self.srv
        if srv.config["no-appendfsync-on-rewrite"] and _child_active(srv):
            return
        if policy == ALWAYS:
            if not sync:
                return
            t0 = time.perf_counter()
            try:
                os.fdatasync(self.fd)
            except OSError as e:
                log.warning("Can't persist AOF for fsync error when the AOF fsync policy "
                            f"is 'always': {e.strerror}. Exiting...")
                os._exit(1)
            self._latency("aof-fsync-always", t0)
            self.last_incr_fsync_offset = self.last_incr_size
            self.last_fsync = srv.unixtime
        elif policy == EVERYSEC and srv.unixtime > self.last_fsync:
            if not sync_in_progress:
                self.bio.fsync(self.fd)
                self.last_incr_fsync_offset = self.last_incr_size
            self.last_fsync = srv.unixtime
        srv.aof_pending_bio_fsync = self.bio.pending()

    def _latency(self, event: str, t0: float) -> None:
        srv = self.srv
        if srv.latency_ns < 2**62:
            from bocho.latency import add_sample
            add_sample(srv, event, int((time.perf_counter() - t0) * 1000))

    def update_denier(self) -> None:
        """Writes are refused (write_denied in srv.write_deniers, which call() consults
        only while it is not empty) while the AOF is on and its last write or
        background fsync failed."""
        srv = self.srv
        deny = self.installed and self.state != OFF and not (srv.aof_last_write_ok
                                                             and self.bio.ok)
        there = self.write_denied in srv.write_deniers
        if deny and not there:
            srv.write_deniers.append(self.write_denied)
        elif there and not deny:
            srv.write_deniers.remove(self.write_denied)

    def write_denied(self) -> bytes | None:
        """writeCommandsDeniedByDiskError for the AOF: the MISCONF error, or None."""
        if self.state == OFF:
            return None
        if self.srv.aof_last_write_ok:
            if self.bio.ok:
                return None
            self.last_write_errno = self.bio.errno
        return (b"MISCONF Errors writing to the AOF file: "
                + os.strerror(self.last_write_errno).encode())

    # -- cron ------------------------------------------------------------------------

    def cron(self) -> None:
        srv = self.srv
        active = _child_active(srv)
        if not active and srv.aof_rewrite_scheduled and not self.rewrite_limited():
            self.rewrite_background()
        elif not active and self.state == ON:
            perc = srv.config["auto-aof-rewrite-percentage"]
            if perc and srv.aof_current_size > srv.config["auto-aof-rewrite-min-size"]:
                base = srv.aof_rewrite_base_size or 1
                growth = srv.aof_current_size * 100 // base - 100
                if growth >= perc and not self.rewrite_limited():
                    log.notice(f"Starting automatic rewriting of AOF on {growth}% growth")
                    self.rewrite_background()
        if self.state != OFF and self.sync_fd < 0:
            # postponed flushes, failed writes (retried until the disk has room again)
            # and the fsync everysec owes for an idle second
            self.flush(False)
            srv.aof_pending_bio_fsync = self.bio.pending()
            self.update_denier()  # (the fsync thread's status may have changed)

    def rewrite_limited(self) -> bool:
        """aofRewriteLimited: after 3 failures in a row, automatic rewrites wait 1, 2,
        4 ... 60 minutes."""
        srv = self.srv
        if srv.stat_aofrw_consecutive_failures < REWRITE_LIMIT_THRESHOLD:
            self._limit_delay = 0
            self._limit_until = 0
            return False
        if self._limit_until:
            if srv.unixtime < self._limit_until:
                return True
            self._limit_until = 0
            return False
        self._limit_delay = min(REWRITE_LIMIT_MAX_MINUTES, self._limit_delay * 2 or 1)
        self._limit_until = srv.unixtime + self._limit_delay * 60
        log.warning("Background AOF rewrite has repeatedly failed and triggered the "
                    f"limit, will retry in {self._limit_delay} minutes")
        return True

    # -- manifest and files ------------------------------------------------------------

    def persist_manifest(self, m: mf.Manifest) -> bool:
        if not m.dirty:
            return True
        try:
            mf.write_file(self.dirname, self.filename, m)
        except OSError as e:
            log.warning("Error trying to write the temporary AOF manifest file "
                        f"{mf.TEMP_PREFIX}{mf.manifest_name(self.filename)}: {e.strerror}")
            return False
        return True

    def load_manifest(self) -> bool:
        """aofLoadManifestFromDisk; False (after logging) when the manifest is bad."""
        self.manifest = mf.Manifest()
        path = self.path(mf.manifest_name(self.filename))
        if not os.path.isdir(self.dirname) or not os.path.exists(path):
            return True
        try:
            self.manifest = mf.read_file(path)
        except OSError as e:
            log.warning(f"Fatal error: can't open the AOF manifest file {path} for "
                        f"reading: {e.strerror}")
            return False
        except mf.ManifestError as e:
            log.warning("\n*** FATAL AOF MANIFEST FILE ERROR ***\n")
            if e.line is not None:
                log.warning(f"Reading the manifest file, at line {e.linenum}\n")
                log.warning(f">>> '{e.line}'\n")
            log.warning(f"{e.msg}\n")
            return False
        return True

    def make_dir(self) -> bool:
        try:
            os.makedirs(self.dirname, exist_ok=True)
        except OSError as e:
            log.warning(f"Can't open or create append-only dir {self.dirname}: {e.strerror}")
            return False
        return True

    def del_history_files(self) -> None:
        """aofDelHistoryFiles."""
        m = self.manifest
        if self.srv.config["aof-disable-auto-gc"] or not m.history:
            return
        for ai in m.history:
            log.notice(f"Removing the history file {ai.name} in the background")
            unlink_quietly(self.path(ai.name))
        m.history = []
        m.dirty = True
        self.persist_manifest(m)

    def upgrade_prepare(self) -> bool:
        """aofUpgradePrepare: an old single appendonly.aof moves into the directory as
        the base file of a new manifest."""
        if not self.make_dir():
            return False
        m = self.manifest
        m.base = mf.AofInfo(self.filename, 1, mf.BASE)
        m.base_seq = 1
        m.dirty = True
        if not self.persist_manifest(m):
            return False
        try:
            os.rename(self.filename, self.path(self.filename))
        except OSError as e:
            log.warning(f"Error trying to move the old AOF file {self.filename} into dir "
                        f"{self.dirname}: {e.strerror}")
            return False
        log.notice(f"Successfully migrated an old-style AOF file ({self.filename}) into "
                   f"the AOF directory ({self.dirname}).")
        return True

    # -- loading -----------------------------------------------------------------------

    # -- start-up, DEBUG LOADAOF -------------------------------------------------------

    def open_on_server_start(self) -> bool:
        """aofOpenIfNeededOnServerStart."""
        if self.state != ON:
            return True
        if not self.make_dir():
            return False
        m = self.manifest
        had_incr = bool(m.incr)
        if m.base is None and not m.incr:
            base = m.new_base(self.filename, self.srv.config["aof-use-rdb-preamble"])
            if not self.rewrite_file(self.path(base)):
                return False
            log.notice(f"Creating AOF base file {base} on server start")
        name = m.last_incr(self.filename)
        try:
            self.fd = os.open(self.path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning(f"Can't open the append-only file {name}: {e.strerror}")
            return False
        if not self.persist_manifest(m):
            return False
        self.last_incr_size = file_size(self.dirname, name)[0]
        self.last_incr_fsync_offset = self.last_incr_size
        if had_incr:
            log.notice(f"Opening AOF incr file {name} on server start")
        else:
            log.notice(f"Creating AOF incr file {name} on server start")
        return True

    def debug_loadaof(self, c: Client) -> None:
        """DEBUG LOADAOF: write out the buffer, empty the dataset, load the AOF again."""
        srv = self.srv
        if self.state != OFF:
            self.flush(True)
        _empty_data(srv)
        installed = self.installed
        if installed:
            srv.propagate_hooks.remove(self.feed)
        try:
            if not self.load_manifest():
                os._exit(1)
            self.del_history_files()
            ret = load_files(self)
        finally:
            if installed:
                srv.propagate_hooks.append(self.feed)
        if ret not in (AOF_OK, AOF_EMPTY):
            os._exit(1)

    # -- switching on and off (CONFIG SET appendonly) ----------------------------------

    def start(self) -> bool:
        """startAppendOnly."""
        srv = self.srv
        self.set_state(WAIT_REWRITE)
        ctype = getattr(srv, "child_type", None)
        if _child_active(srv) and ctype != "aof":
            srv.aof_rewrite_scheduled = True
            log.warning("AOF was enabled but there is already another background "
                        "operation. An AOF background was scheduled to start when possible.")
        elif srv.in_exec:
            srv.aof_rewrite_scheduled = True
            log.warning("AOF was enabled during a transaction. An AOF background was "
                        "scheduled to start when possible.")
        else:
            if ctype == "aof":
                log.warning("AOF was enabled but there is already an AOF rewriting in "
                            "background. Stopping background AOF and starting a rewrite now.")
                self.kill_child()
            if not self.rewrite_background():
                self.set_state(OFF)
                log.warning("Redis needs to enable the AOF but can't trigger a background "
                            "AOF rewrite operation. Check the above logs for more info "
                            "about the error.")
                return False
        self.install()
        self.last_fsync = srv.unixtime
        if not self.bio.ok:
            log.warning("AOF reopen, just ignore the AOF fsync error in bio job")
            self.bio.ok = True
        if not srv.aof_last_write_ok:
            log.warning("AOF reopen, just ignore the last error.")
            srv.aof_last_write_ok = True
        self.update_denier()
        return True

    def stop(self) -> None:
        """stopAppendOnly."""
        srv = self.srv
        self.flush(True)
        if self.fd >= 0:
            try:
                os.fdatasync(self.fd)
                self.last_fsync = srv.unixtime
            except OSError as e:
                log.warning(f"Fail to fsync the AOF file: {e.strerror}")
            os.close(self.fd)
        self.fd = -1
        self.selected_db = -1
        self.set_state(OFF)
        srv.aof_rewrite_scheduled = False
        self.last_incr_size = 0
        self.last_incr_fsync_offset = 0
        self.kill_child()
        self.buf = bytearray()
        srv.aof_buffer_length = 0
        self.uninstall()

    # -- rewriting ---------------------------------------------------------------------

    def rewrite_file(self, filename: str, progress: Any = None) -> bool:
        """rewriteAppendOnlyFile: the dataset into filename via a temp file, fsynced and
        renamed (RDB preamble or commands, by aof-use-rdb-preamble). progress(keys) is
        called every 1024 keys (every key with rdb-key-save-delay, which it sleeps)."""
        srv = self.srv
        tmp = f"temp-rewriteaof-{os.getpid()}.aof"
        progress, every = save_progress(srv, progress)
        try:
            with open(tmp, "wb") as f:
                if srv.config["aof-use-rdb-preamble"]:
                    from bocho.persistence import rdb
                    rdb.save(srv, f, aof_base=True, progress=progress, every=every)
                else:
                    ts = int(time.time()) if srv.config["aof-timestamp-enabled"] else None
                    write_dataset(srv, f.write, ts, progress=progress, every=every)
                f.flush()
                os.fsync(f.fileno())
        except Exception as e:  # noqa: BLE001 - a write error or a value with no codec
            reason = e.strerror if isinstance(e, OSError) else str(e)
            log.warning(f"Write error writing append only file on disk: {reason}")
            unlink_quietly(tmp)
            return False
        try:
            os.rename(tmp, filename)
        except OSError as e:
            log.warning("Error moving temp append only file on the final destination: "
                        f"{e.strerror}")
            unlink_quietly(tmp)
            return False
        return True

    def open_new_incr_for_append(self) -> bool:
        """openNewIncrAofForAppend: writes made during the rewrite go to a new file."""
        if self.state == OFF:
            return True
        temp_am = None
        if self.state == WAIT_REWRITE:
            name = mf.temp_incr_name(self.filename)
        else:
            temp_am = self.manifest.copy()
            name = temp_am.new_incr(self.filename)
        try:
            newfd = os.open(self.path(name), os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning(f"Can't open the append-only file {name}: {e.strerror}")
            return False
        if temp_am is not None and not self.persist_manifest(temp_am):
            os.close(newfd)
            return False
        log.notice(f"Creating AOF incr file {name} on background rewrite")
        if self.fd >= 0:
            self.bio.fsync_and_close(self.fd)
            self.last_fsync = self.srv.unixtime
        self.fd = newfd
        self.last_incr_size = 0
        self.last_incr_fsync_offset = 0
        if temp_am is not None:
            self.manifest = temp_am
        return True

    def rewrite_background(self) -> bool:
        """rewriteAppendOnlyFileBackground."""
        srv = self.srv
        if _child_active(srv):
            return False
        if not self.make_dir():
            srv.aof_lastbgrewrite_ok = False
            return False
        self.selected_db = -1
        self.flush(True)
        if not self.open_new_incr_for_append():
            srv.aof_lastbgrewrite_ok = False
            return False
        srv.stat_aof_rewrites += 1
        try:
            pid = snapshot.fork_child(srv, "aof", "redis-aof-rewrite", self._child_main)
        except OSError as e:
            srv.aof_lastbgrewrite_ok = False
            log.warning(f"Can't rewrite append only file in background: fork: {e.strerror}")
            return False
        self.update_feeding()
        log.notice(f"Background append only file rewriting started by pid {pid}")
        srv.aof_rewrite_scheduled = False
        srv.aof_rewrite_time_start = int(time.time())
        return True

    def _child_main(self, rep: Any) -> bool:
        tmpfile = f"temp-rewriteaof-bg-{os.getpid()}.aof"
        if not self.rewrite_file(tmpfile, rep.progress):
            return False
        log.notice(f"Successfully created the temporary AOF base file {tmpfile}")
        rep.send(snapshot.INFO_AOF_COW, 0)
        return True

    def rewrite_done(self, exitcode: int, bysignal: int) -> None:
        """backgroundRewriteDoneHandler."""
        srv = self.srv
        pid = self.child_pid
        if not bysignal and exitcode == 0:
            log.notice("Background AOF rewrite terminated with success")
            self._install_new_base(pid)
        elif not bysignal:
            srv.aof_lastbgrewrite_ok = False
            srv.stat_aofrw_consecutive_failures += 1
            log.warning("Background AOF rewrite terminated with error")
        else:
            if bysignal != signal.SIGUSR1:
                srv.aof_lastbgrewrite_ok = False
                srv.stat_aofrw_consecutive_failures += 1
            log.warning(f"Background AOF rewrite terminated by signal {bysignal}")
        _remove_temp_files(pid)
        if self.state == WAIT_REWRITE:
            self.buf = bytearray()
            tmp = mf.temp_incr_name(self.filename)
            log.notice(f"Removing the temp incr aof file {tmp} in the background")
            unlink_quietly(self.path(tmp))
        start = srv.aof_rewrite_time_start
        srv.aof_rewrite_time_last = int(time.time()) - start if start >= 0 else -1
        srv.aof_rewrite_time_start = -1
        self._reset_child()
        if self.state == WAIT_REWRITE:
            srv.aof_rewrite_scheduled = True

    def _install_new_base(self, pid: int) -> None:
        srv = self.srv
        cfg = srv.config
        tmpfile = f"temp-rewriteaof-bg-{pid}.aof"
        temp_am = self.manifest.copy()
        base = temp_am.new_base(self.filename, cfg["aof-use-rdb-preamble"])
        base_path = self.path(base)
        try:
            os.rename(tmpfile, base_path)
        except OSError as e:
            log.warning(f"Error trying to rename the temporary AOF base file {tmpfile} "
                        f"into {base_path}: {e.strerror}")
            self._rewrite_failed()
            return
        log.notice(f"Successfully renamed the temporary AOF base file {tmpfile} into {base}")
        incr_path = None
        if self.state == WAIT_REWRITE:
            tmp_incr = mf.temp_incr_name(self.filename)
            incr = temp_am.new_incr(self.filename)
            incr_path = self.path(incr)
            try:
                os.rename(self.path(tmp_incr), incr_path)
            except OSError as e:
                log.warning(f"Error trying to rename the temporary AOF incr file "
                            f"{self.path(tmp_incr)} into {incr_path}: {e.strerror}")
                unlink_quietly(base_path)
                self._rewrite_failed()
                return
            log.notice(f"Successfully renamed the temporary AOF incr file {tmp_incr} "
                       f"into {incr}")
        temp_am.incr_to_history(keep_last=self.fd >= 0)
        if not self.persist_manifest(temp_am):
            unlink_quietly(base_path)
            if incr_path:
                unlink_quietly(incr_path)
            self._rewrite_failed()
            return
        self.manifest = temp_am
        if self.state != OFF:
            srv.aof_current_size = file_size(self.dirname, base)[0] + self.last_incr_size
            srv.aof_rewrite_base_size = srv.aof_current_size
        self.del_history_files()
        srv.aof_lastbgrewrite_ok = True
        srv.stat_aofrw_consecutive_failures = 0
        log.notice("Background AOF rewrite finished successfully")
        if self.state == WAIT_REWRITE:
            self.set_state(ON)

    def _rewrite_failed(self) -> None:
        self.srv.aof_lastbgrewrite_ok = False
        self.srv.stat_aofrw_consecutive_failures += 1

    def _reset_child(self) -> None:
        snapshot.reset_child(self.srv)
        self.update_feeding()

    def kill_child(self) -> None:
        """killAppendOnlyChild."""
        pid = self.child_pid
        if pid <= 0:
            return
        log.notice(f"Killing running AOF rewrite child: {pid}")
        try:
            os.kill(pid, signal.SIGUSR1)
            os.waitpid(pid, 0)
        except OSError:
            pass
        _remove_temp_files(pid)
        self._reset_child()
        self.srv.aof_rewrite_time_start = -1

    def bgrewriteaof(self, in_exec: bool) -> bytes:
        """BGREWRITEAOF's reply."""
        srv = self.srv
        if self.child_pid > 0:
            return b"-ERR Background append only file rewriting already in progress\r\n"
        if _child_active(srv) or in_exec:
            srv.aof_rewrite_scheduled = True
            srv.stat_aofrw_consecutive_failures = 0
            return b"+Background append only file rewriting scheduled\r\n"
        if self.rewrite_background():
            return b"+Background append only file rewriting started\r\n"
        return (b"-ERR Can't execute an AOF background rewriting. Please check the server "
                b"logs for more information.\r\n")

    # -- shutdown ----------------------------------------------------------------------

    def on_shutdown(self, force: bool) -> bool:
        if self.child_pid > 0:
            if self.state == WAIT_REWRITE:
                if force:
                    log.warning("Writing initial AOF. Exit anyway.")
                else:
                    log.warning("Writing initial AOF, can't exit.")
                    return False
            log.warning("There is a child rewriting the AOF. Killing it!")
            self.kill_child()
        if self.state != OFF:
            log.notice("Calling fsync() on the AOF file.")
            self.flush(True)
            if self.fd >= 0:
                try:
                    os.fdatasync(self.fd)
                except OSError as e:
                    log.warning(f"Fail to fsync the AOF file: {e.strerror}.")
        return True

    def on_exit_now(self) -> None:
        if self.child_pid > 0:
            try:
                os.kill(self.child_pid, signal.SIGUSR1)
            except OSError:
                pass
            _remove_temp_files(self.child_pid)


# -- helpers -------------------------------------------------------------------------------

def _child_active(srv: Server) -> bool:
    return getattr(srv, "child_type", None) is not None


def _remove_temp_files(pid: int) -> None:
    unlink_quietly(f"temp-rewriteaof-bg-{pid}.aof")
    unlink_quietly(f"temp-rewriteaof-{pid}.aof")


def _empty_data(srv: Server) -> None:
    for db in srv.dbs:
        db.flush()
    reg = getattr(srv, "functions", None)
    if reg is not None:
        reg.flush()


# -- wiring --------------------------------------------------------------------------------

def startup(srv: Server) -> bool | None:
    """At start-up, before serving: the manifest, then (appendonly yes) the dataset from
    the AOF, then the files to append to. Returns False when the server must exit, True
    when the AOF loaded the dataset (the RDB is then not read), None when the RDB is
    the source (appendonly no)."""
    aof = Aof(srv)
    srv.aof = aof
    snapshot.DONE_HANDLERS["aof"] = lambda _srv, code, sig: aof.rewrite_done(code, sig)
    srv.loadaof_hook = aof.debug_loadaof
    srv.hooks_on_cron.append(aof.cron)
    srv.shutdown_hooks.append(aof.on_shutdown)
    srv.exit_now_hooks.append(aof.on_exit_now)
    if not aof.load_manifest():
        return False
    if not srv.config["appendonly"]:
        return None
    aof.set_state(ON)
    t0 = time.time()
    ret = load_files(aof, snapshot.loading_events(srv, srv.loop))
    if ret in (AOF_FAILED, AOF_OPEN_ERR):
        return False
    if ret != AOF_NOT_EXIST:
        log.notice(f"DB loaded from append only file: {time.time() - t0:.3f} seconds")
    if not aof.open_on_server_start():
        return False
    aof.del_history_files()
    aof.install()
    return True


@on_apply("appendonly")
def _apply_appendonly(srv: Server) -> None:
    aof = getattr(srv, "aof", None)
    if aof is None:
        return
    on = srv.config["appendonly"]
    if on and aof.state == OFF:
        if not aof.start():
            raise ConfigError("Unable to turn on AOF. Check server logs.")
    elif not on and aof.state != OFF:
        aof.stop()


@on_apply("appendfsync", "aof-timestamp-enabled")
def _apply_aof_options(srv: Server) -> None:
    aof = getattr(srv, "aof", None)
    if aof is not None:
        aof.policy = _POLICY[srv.config["appendfsync"]]
        aof.timestamps = srv.config["aof-timestamp-enabled"]


@on_apply("aof-disable-auto-gc")
def _apply_auto_gc(srv: Server) -> None:
    aof = getattr(srv, "aof", None)
    if aof is not None and not srv.config["aof-disable-auto-gc"]:
        aof.del_history_files()
