"""RDB snapshots on disk: SAVE in the process itself, BGSAVE by a forked child, the save
points checked by the cron, the save before exiting, loading at start-up and DEBUG RELOAD
(Redis 7.0's rdb.c / server.c / childinfo.c behaviour; rdb.py does the file format).

A file is always written as temp-<pid>.rdb in `dir` (the process's working directory),
flushed, fsynced and renamed over `dbfilename`, so a failed or killed save never touches
the previous dump.

BGSAVE: gc.freeze() first (collections in the child then leave the old objects' GC headers
alone), fork; the child closes the listening sockets, writes the file and reports through
a pipe its progress (keys written) and its private dirty memory (the copy-on-write it
caused, from /proc/self/smaps_rollup), at most about once a second and once at the end,
then leaves with os._exit. The parent never waits for it: the cron reads the pipe and
reaps the child with waitpid(WNOHANG), then updates the INFO persistence fields.

The server attributes set here are the ones INFO persistence reads (introspection.py):
child_type, child_pid, rdb_save_time_start/_last, lastbgsave_ok, stat_rdb_saves,
stat_rdb_cow_bytes, stat_current_cow_*, stat_current_save_keys_*, current_fork_perc,
stat_fork_time, stat_total_forks, rdb_last_load_keys_*, loading_*."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bocho import log
from bocho.errors import CommandError
from bocho.memory import used_memory
from bocho.persistence import rdb, rdbio
from bocho.persistence.rdbio import RdbError

if TYPE_CHECKING:
    from bocho.server import Server

MISCONF = (b"MISCONF Redis is configured to save RDB snapshots, but it's currently unable "
           b"to persist to disk. Commands that may modify the data set are disabled, because "
           b"this instance is configured to report errors during writes if RDB snapshotting "
           b"fails (stop-writes-on-bgsave-error option). Please check the Redis logs for "
           b"details about the RDB error.")
LOADING = b"LOADING Redis is loading the dataset in memory"

RETRY_DELAY = 5  # seconds between a failed BGSAVE and the next automatic one

# child -> parent report: kind, keys written, private dirty bytes, when measured (us)
_INFO = struct.Struct("<qqqq")
INFO_CURRENT = 0
INFO_RDB_COW = 1
INFO_AOF_COW = 2


# -- set-up ------------------------------------------------------------------------------

def install(srv: Server) -> None:
    """Give srv its persistence state and hooks (called once by the Server)."""
    srv.child_type = None
    srv.rdb_child_type = "disk"  # or "socket": a diskless sync's child (replication)
    srv.child_pid = -1
    srv.child_info_fd = -1
    srv.child_info_buf = b""
    srv.lastbgsave_ok = True
    srv.lastbgsave_try = 0
    srv.dirty_before_bgsave = 0
    srv.rdb_bgsave_scheduled = False
    srv.rdb_save_time_start = -1
    srv.rdb_save_time_last = -1
    srv.stat_rdb_saves = 0
    srv.stat_rdb_cow_bytes = 0
    srv.stat_fork_time = 0
    srv.stat_total_forks = 0
    srv.rdb_last_load_keys_loaded = 0
    srv.rdb_last_load_keys_expired = 0
    srv.loading_start_time = 0
    srv.loading_total_bytes = 0
    srv.loading_loaded_bytes = 0
    srv.loading_rdb_used_mem = 0
    _reset_child_stats(srv)
    srv.save_hook = lambda: save(srv)
    srv.debug_reload_hook = lambda c, opts: debug_reload(srv, opts)
    srv.hooks_on_cron.append(lambda: cron(srv))
    from bocho.commands.keys import FLUSHALL_HOOKS
    if flushall_hook not in FLUSHALL_HOOKS:
        FLUSHALL_HOOKS.append(flushall_hook)


def _reset_child_stats(srv: Server) -> None:
    srv.stat_current_cow_peak = 0
    srv.stat_current_cow_bytes = 0
    srv.stat_current_cow_updated = 0
    srv.current_cow_size_age = 0
    srv.current_fork_perc = 0.0
    srv.stat_current_save_keys_processed = 0
    srv.stat_current_save_keys_total = 0


def write_denied(srv: Server) -> bytes | None:
    """writeCommandsDeniedByDiskError for RDB: MISCONF while the last BGSAVE failed, save
    points are set and stop-writes-on-bgsave-error is yes."""
    if srv.lastbgsave_ok:
        return None
    cfg = srv.config
    if cfg["stop-writes-on-bgsave-error"] and cfg["save"]:
        return MISCONF
    return None


def _set_status(srv: Server, ok: bool) -> None:
    srv.lastbgsave_ok = ok
    srv.update_slow()


def key_delay(usec: int) -> None:
    """debugDelay: rdb-key-save-delay / key-load-delay (negative: sleep 1us once in -N)."""
    if usec < 0:
        import random
        usec = 1 if random.randrange(-usec) == 0 else 0
    if usec:
        time.sleep(usec / 1e6)


def save_progress(srv: Server, progress: Callable[[int], None] | None,
                  every: int = 1024) -> tuple[Callable[[int], None] | None, int]:
    """The progress hook and interval of a dataset write (RDB or AOF rewrite): with
    rdb-key-save-delay every key also sleeps that long, as the TCL suite's slow saves
    expect."""
    delay = srv.config["rdb-key-save-delay"]
    if not delay:
        return progress, every

    def delayed(keys: int) -> None:
        key_delay(delay)
        if progress is not None:
            progress(keys)
    return delayed, 1


# -- writing a file ----------------------------------------------------------------------

def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(srv: Server, filename: str, progress: Callable[[int], None] | None = None,
               every: int = 1024, rsi: dict[bytes, bytes] | None = None) -> bool:
    """rdbSave: the dataset to temp-<pid>.rdb, fsync, rename over filename. Logs
    failures as Redis; the temp file never survives a failure."""
    tmp = f"temp-{os.getpid()}.rdb"
    progress, every = save_progress(srv, progress, every)
    try:
        f = open(tmp, "wb")  # noqa: SIM115 - closed below, before the rename
    except OSError as e:
        log.warning(f"Failed opening the temp RDB file {tmp} (in server root dir "
                    f"{_cwd()}) for saving: {e.strerror}")
        return False
    op = "rdbSaveRio"
    try:
        try:
            rdb.save(srv, f, rsi, progress=progress, every=every)
            op = "fflush"
            f.flush()
            op = "fsync"
            os.fsync(f.fileno())
        finally:
            f.close()
    except Exception as e:  # noqa: BLE001 - a write error or a value with no codec
        reason = e.strerror if isinstance(e, OSError) else str(e)
        log.warning(f"Write error saving DB on disk({op}): {reason}")
        unlink_quietly(tmp)
        return False
    try:
        os.rename(tmp, filename)
    except OSError as e:
        log.warning(f"Error moving temp DB file {tmp} on the final destination {filename} "
                    f"(in server root dir {_cwd()}): {e.strerror}")
        unlink_quietly(tmp)
        return False
    try:
        _fsync_dir(filename)
    except OSError as e:
        log.warning(f"Write error saving DB on disk(fsyncFileDir): {e.strerror}")
        return False
    log.notice("DB saved on disk")
    return True


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return "unknown"


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def repl_save_info(srv: Server) -> dict[bytes, bytes] | None:
    """rdbPopulateSaveInfo: every RDB file names the replication history it is a point
    of, so that a restart can continue it by PSYNC (replication/master.py)."""
    m = getattr(srv, "master_side", None)
    return m.save_info() if m is not None else None


def save(srv: Server) -> bool:
    """A blocking save in this process (SAVE, SHUTDOWN, FLUSHALL, DEBUG RELOAD). While it
    runs, a second SIGINT during a shutdown exits at once and removes the temp file, as
    Redis's signal handler does."""
    tmp = f"temp-{os.getpid()}.rdb"

    def insist(signum: int, frame: Any) -> None:
        # The event loop also hears this signal (its wakeup fd) once the save is over;
        # only the "exit now" case needs handling here.
        if srv.shutdown_asap and signum == signal.SIGINT:
            log.warning("You insist... exiting now.")
            unlink_quietly(tmp)
            for hook in srv.exit_now_hooks:
                hook()
            os._exit(1)

    old = None
    try:
        old = signal.signal(signal.SIGINT, insist)
    except ValueError:  # not the main thread
        pass
    try:
        ok = write_file(srv, srv.config["dbfilename"], rsi=repl_save_info(srv))
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if ok:
        srv.dirty = 0
        srv.lastsave = int(time.time())
        _set_status(srv, True)
    return ok


# -- BGSAVE --------------------------------------------------------------------------------

def bgsave(srv: Server, rsi: dict[bytes, bytes] | None = None) -> bool:
    """rdbSaveBackground: fork a child that writes the dump (with the replication aux
    fields `rsi`, by default those of repl_save_info). False when a child is already running or
    fork failed."""
    if srv.child_type is not None:
        return False
    if rsi is None:
        rsi = repl_save_info(srv)
    srv.stat_rdb_saves += 1
    srv.dirty_before_bgsave = srv.dirty
    srv.lastbgsave_try = int(time.time())
    total = sum(len(db.data) for db in srv.dbs)

    def work(rep: _Reporter) -> bool:
        if not write_file(srv, srv.config["dbfilename"], rep.progress, rsi=rsi):
            return False
        rep.send(INFO_RDB_COW, 0)
        return True

    try:
        pid = fork_child(srv, "rdb", "redis-rdb-bgsave", work)
    except OSError as e:
        _set_status(srv, False)
        log.warning(f"Can't save in background: fork: {e.strerror}")
        return False
    log.notice(f"Background saving started by pid {pid}")
    srv.rdb_save_time_start = int(time.time())
    srv.stat_current_save_keys_total = total
    return True


# Other kinds of child (the AOF rewrite, aof.py): kind -> fn(srv, exitcode, bysignal),
# called when the cron reaps it, before the child state is reset.
DONE_HANDLERS: dict[str, Callable[[Any, int, int], None]] = {}
# Called after an RDB child (to disk, or to the replicas' sockets: srv.rdb_child_type)
# was reaped and its own handler ran: fn(srv, ok, socket_target). Replication hangs
# the replicas waiting for that RDB here.
RDB_DONE_HOOKS: list[Callable[[Any, bool, bool], None]] = []


def fork_child(srv: Server, kind: str, title: str, work: Callable[[Any], bool]) -> int:
    """Fork a child of `kind` ("rdb", "aof") that runs work(reporter) and exits 0 when it
    returns True; the parent records it as srv.child_type / child_pid with the info
    pipe open. Raises OSError when fork fails."""
    rfd, wfd = os.pipe()
    used_memory(srv)  # refreshed here: the child's used-mem must not list every key
    gc.freeze()
    t0 = time.perf_counter_ns()
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        raise
    if pid == 0:
        os.close(rfd)
        _child(srv, wfd, title, work)  # never returns
    fork_us = (time.perf_counter_ns() - t0) // 1000
    os.close(wfd)
    os.set_blocking(rfd, False)
    srv.stat_fork_time = fork_us
    srv.stat_total_forks += 1
    if srv.latency_ns < 2**62:
        from bocho.latency import add_sample
        add_sample(srv, "fork", fork_us // 1000)
    srv.child_type = kind
    srv.child_pid = pid
    srv.child_info_fd = rfd
    srv.child_info_buf = b""
    _reset_child_stats(srv)
    return pid


def private_dirty() -> int:
    """This process's private dirty memory in bytes (zmalloc_get_private_dirty)."""
    for path in ("/proc/self/smaps_rollup", "/proc/self/smaps"):
        try:
            with open(path, "rb") as f:
                total = 0
                for line in f:
                    if line.startswith(b"Private_Dirty:"):
                        total += int(line.split()[1]) * 1024
                return total
        except OSError:
            continue
    return 0


class _Reporter:
    """The child's side of the info pipe (sendChildInfoGeneric): progress once a second
    at most, measuring the copy-on-write no more often than its own cost allows."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.last = time.monotonic()
        self.cow = 0
        self.peak = 0
        self.sum = 0
        self.count = 0
        self.cow_at = 0.0
        self.cost = 0.0

    def measure(self, final: bool) -> None:
        now = time.monotonic()
        if not final and self.count and now - self.cow_at < self.cost * 100:
            return
        self.cow = private_dirty()
        self.cow_at = time.monotonic()
        self.cost = self.cow_at - now
        self.peak = max(self.peak, self.cow)
        self.sum += self.cow
        self.count += 1
        if self.cow or final:
            msg = (f"Fork CoW for RDB: current {self.cow >> 20} MB, peak {self.peak >> 20} "
                   f"MB, average {(self.sum // self.count) >> 20} MB")
            log.notice(msg) if final else log.verbose(msg)

    def send(self, kind: int, keys: int) -> None:
        self.measure(kind != INFO_CURRENT)
        data = _INFO.pack(kind, keys, self.cow, int(self.cow_at * 1e6))
        try:
            os.write(self.fd, data)
        except OSError as e:
            log.warning(f"Child failed reporting info to parent, exiting. {e.strerror}")
            os._exit(1)

    def progress(self, keys: int) -> None:
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            self.send(INFO_CURRENT, keys)


def _child(srv: Server, wfd: int, title: str, work: Callable[[Any], bool]) -> None:
    """The forked child: do the work and leave, never returning to the event loop."""
    code = 1
    try:
        gc.disable()
        log.logger.role = "C"
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError):
            pass
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        _close_listeners(srv)
        _child_title(srv, title)
        _oom_score_adj(srv)
        if work(_Reporter(wfd)):
            code = 0
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
        code = 1
    finally:
        os._exit(code)


def _close_listeners(srv: Server) -> None:
    """closeChildUnusedResourceAfterFork: the child holds no listening socket (a restart
    after the parent died must be able to bind the port)."""
    for group in (srv.servers, srv.tls_servers):
        for s in group:
            for sock in getattr(s, "sockets", None) or ():
                try:
                    os.close(sock.fileno())
                except OSError:
                    pass


def _child_title(srv: Server, name: str) -> None:
    if not srv.config["set-proc-title"]:
        return
    try:
        import setproctitle

        from bocho.cli import proc_title
    except ImportError:
        return
    title = proc_title(srv.config, name)
    if title is not None:
        setproctitle.setproctitle(title)


def _oom_score_adj(srv: Server) -> None:
    """setOOMScoreAdj(CONFIG_OOM_BGCHILD) in the child."""
    if srv.config["oom-score-adj"] == "no":
        return
    from bocho.commands.config_cmds import OOM_BGCHILD, set_oom_score_adj
    try:
        set_oom_score_adj(srv, OOM_BGCHILD)
    except Exception:  # noqa: BLE001 - logged by set_oom_score_adj; the save goes on
        pass


def receive_child_info(srv: Server) -> None:
    """receiveChildInfo: drain the pipe, keep the latest figures."""
    fd = srv.child_info_fd
    if fd < 0:
        return
    buf = srv.child_info_buf
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    size = _INFO.size
    while len(buf) >= size:
        kind, keys, cow, cow_at = _INFO.unpack_from(buf)
        buf = buf[size:]
        if cow > srv.stat_current_cow_peak:
            srv.stat_current_cow_peak = cow
        if kind == INFO_CURRENT:
            srv.stat_current_cow_bytes = cow
            srv.stat_current_cow_updated = cow_at
            srv.stat_current_save_keys_processed = keys
            total = srv.stat_current_save_keys_total
            srv.current_fork_perc = keys * 100.0 / total if total else 0.0
        elif kind == INFO_RDB_COW:
            srv.stat_rdb_cow_bytes = srv.stat_current_cow_peak
        elif kind == INFO_AOF_COW:
            srv.stat_aof_cow_bytes = srv.stat_current_cow_peak
    srv.child_info_buf = buf
    if srv.stat_current_cow_updated:
        srv.current_cow_size_age = max(
            0, int(time.monotonic() - srv.stat_current_cow_updated / 1e6))


def _close_child_pipe(srv: Server) -> None:
    if srv.child_info_fd >= 0:
        try:
            os.close(srv.child_info_fd)
        except OSError:
            pass
    srv.child_info_fd = -1
    srv.child_info_buf = b""


def check_child_done(srv: Server) -> None:
    """checkChildrenDone: reap the child if it ended and run its kind's handler."""
    pid = srv.child_pid
    try:
        wpid, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        wpid, status = pid, 1 << 8  # gone already: count it as a failed save
    if wpid == 0:
        return
    exitcode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    bysignal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    if not bysignal and exitcode == 0:
        receive_child_info(srv)
    if srv.child_type == "rdb":
        socket = srv.rdb_child_type == "socket"
        (socket_done if socket else background_done)(srv, exitcode, bysignal)
        reset_child(srv)
        for hook in RDB_DONE_HOOKS:
            hook(srv, not bysignal and exitcode == 0, socket)
        return
    DONE_HANDLERS[srv.child_type](srv, exitcode, bysignal)
    reset_child(srv)


def socket_done(srv: Server, exitcode: int, bysignal: int) -> None:
    """backgroundSaveDoneHandlerSocket: an RDB streamed to replicas leaves the dump file
    and the save status alone."""
    if not bysignal and exitcode == 0:
        log.notice("Background RDB transfer terminated with success")
    elif not bysignal:
        log.warning("Background transfer error")
    else:
        log.warning(f"Background transfer terminated by signal {bysignal}")
    srv.rdb_save_time_last = int(time.time()) - srv.rdb_save_time_start
    srv.rdb_save_time_start = -1


def background_done(srv: Server, exitcode: int, bysignal: int) -> None:
    """backgroundSaveDoneHandlerDisk."""
    now = int(time.time())
    if not bysignal and exitcode == 0:
        log.notice("Background saving terminated with success")
        srv.dirty = srv.dirty - srv.dirty_before_bgsave
        srv.lastsave = now
        _set_status(srv, True)
    elif not bysignal:
        log.warning("Background saving error")
        _set_status(srv, False)
    else:
        log.warning(f"Background saving terminated by signal {bysignal}")
        remove_temp_file(srv.child_pid)
        if bysignal != signal.SIGUSR1:
            _set_status(srv, False)
    srv.rdb_save_time_last = now - srv.rdb_save_time_start
    srv.rdb_save_time_start = -1


def reset_child(srv: Server) -> None:
    srv.child_type = None
    srv.rdb_child_type = "disk"
    srv.child_pid = -1
    _close_child_pipe(srv)
    _reset_child_stats(srv)


def remove_temp_file(pid: int) -> None:
    unlink_quietly(f"temp-{pid}.rdb")


def kill_child(srv: Server) -> None:
    """killRDBChild: stop a running BGSAVE (SIGUSR1: not counted as an error); the cron
    reaps it and removes its temp file."""
    if srv.child_type != "rdb":
        return
    try:
        os.kill(srv.child_pid, signal.SIGUSR1)
    except ProcessLookupError:
        pass


def kill_child_for_shutdown(srv: Server) -> None:
    """prepareForShutdown: a saving child must not overwrite the final save."""
    if srv.child_type != "rdb":
        return
    log.warning("There is a child saving an .rdb. Killing it!")
    pid = srv.child_pid
    kill_child(srv)
    remove_temp_file(pid)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    reset_child(srv)


# -- the cron --------------------------------------------------------------------------------

def cron(srv: Server) -> None:
    """serverCron's persistence part: reap the child, or start a BGSAVE for a save point
    or a scheduled one."""
    if srv.child_type is not None and srv.child_pid > 0:
        receive_child_info(srv)
        check_child_done(srv)
        return
    if srv.child_type is not None or srv.loading:
        return
    now = int(time.time())
    may_retry = srv.lastbgsave_ok or now - srv.lastbgsave_try > RETRY_DELAY
    if not may_retry:
        return
    for seconds, changes in srv.config["save"]:
        if srv.dirty >= changes and now - srv.lastsave > seconds:
            log.notice(f"{changes} changes in {seconds} seconds. Saving...")
            bgsave(srv)
            return
    if srv.rdb_bgsave_scheduled and bgsave(srv):
        srv.rdb_bgsave_scheduled = False


def flushall_hook(srv: Server) -> None:
    """flushAllDataAndResetRDB: FLUSHALL stops a BGSAVE and, with save points set, writes
    the (now empty) dump at once."""
    if getattr(srv, "child_type", None) == "rdb":
        kill_child(srv)
    if srv.config["save"]:
        save(srv)


# -- loading -----------------------------------------------------------------------------------

def _aux_fields(data: bytes) -> dict[bytes, bytes]:
    """The AUX fields at the head of a file (for the start-up log lines)."""
    out: dict[bytes, bytes] = {}
    try:
        rdb.check_header(data)
        r = rdbio.Reader(data, 9)
        while r.pos < len(data) and data[r.pos] == rdbio.OPCODE_AUX:
            r.byte()
            k = r.string()
            out[k] = r.string()
    except RdbError:
        pass
    return out


def log_aux(srv: Server, aux: dict[bytes, bytes]) -> None:
    for k, v in aux.items():
        if k.startswith(b"%"):
            log.notice(f"RDB '{k.decode(errors='replace')}': {v.decode(errors='replace')}")
        elif k == b"redis-ver":
            log.notice(f"Loading RDB produced by version {v.decode(errors='replace')}")
        elif k == b"ctime":
            try:
                age = max(0, int(time.time()) - int(v))
            except ValueError:
                age = 0
            log.notice(f"RDB age {age} seconds")
        elif k == b"used-mem":
            try:
                used = int(v)
            except ValueError:
                used = 0
            log.notice(f"RDB memory usage when created {used / (1024 * 1024):.2f} Mb")
            srv.loading_rdb_used_mem = used
        elif k == b"aof-preamble" and v not in (b"0", b""):
            log.notice("RDB has an AOF tail")
        elif k == b"aof-base" and v not in (b"0", b""):
            log.notice("RDB is base AOF")


class LoadFailed(Exception):
    """The file is corrupt or truncated (already logged)."""


def load_file(srv: Server, filename: str, *, allow_dup: bool = False,
              events: Callable[[], None] | None = None, fatal: bool = True,
              data: bytes | None = None,
              on_expired: Callable[[int, bytes], None] | None = None) -> rdb.LoadResult:
    """rdbLoad: filename into srv's databases. False when the file cannot be opened (errno
    in the exception's place: see load_at_startup); LoadFailed when it is bad. events()
    is called every loading-process-events-interval-bytes (processEventsWhileBlocked).
    fatal: a bad file ends the server (start-up) rather than a command (DEBUG RELOAD,
    Redis's "restore context": the details are logged at verbose level). Returns what rdb.load
    found (the AUX fields: a replica selects the db its master's stream is in). data: the
    file's bytes when the caller read them already; on_expired: see rdb.load."""
    if data is None:
        with open(filename, "rb") as f:
            data = f.read()
    cfg = srv.config
    srv.loading = True
    srv.update_slow()
    srv.loading_start_time = int(time.time())
    srv.loading_total_bytes = len(data)
    srv.loading_loaded_bytes = 0
    srv.loading_rdb_used_mem = 0
    log_aux(srv, _aux_fields(data))
    delay = cfg["key-load-delay"]
    interval = max(1024, cfg["loading-process-events-interval-bytes"])
    mark = [0]

    def progress(pos: int) -> None:
        if delay:
            key_delay(delay)
        srv.loading_loaded_bytes = pos
        if events is not None and pos - mark[0] >= interval:
            mark[0] = pos
            events()

    gc_was = gc.isenabled()
    gc.disable()
    try:
        # a replica keeps keys already expired: its master's DELs remove them
        res = rdb.load(srv, data, allow_dup=allow_dup, progress=progress,
                       expire=not srv.is_replica_of_master(),
                       every=1 if delay else 64, on_expired=on_expired,
                       verify_crc=not getattr(srv, "skip_checksum_validation", False)
                       and cfg["rdbchecksum"])
    except RdbError as e:
        _report_bad_file(data, filename, e, fatal)
        raise LoadFailed(str(e)) from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError) as e:
        err = RdbError(f"Bad RDB data: {e}", srv.loading_loaded_bytes)
        _report_bad_file(data, filename, err, fatal)
        raise LoadFailed(str(err)) from None
    finally:
        if gc_was:
            gc.enable()
        srv.loading = False
        srv.update_slow()
    srv.loading_loaded_bytes = len(data)
    srv.rdb_last_load_keys_loaded = res.keys_loaded
    srv.rdb_last_load_keys_expired = res.keys_expired
    log_done_loading(res)
    return res


def log_done_loading(res: rdb.LoadResult) -> None:
    empty = getattr(res, "empty_keys", 0)
    if empty:
        log.warning(f"Done loading RDB, keys loaded: {res.keys_loaded}, keys expired: "
                    f"{res.keys_expired}, empty keys skipped: {empty}.")
    else:
        log.notice(f"Done loading RDB, keys loaded: {res.keys_loaded}, keys expired: "
                   f"{res.keys_expired}.")


def _report_bad_file(data: bytes, filename: str, e: RdbError, fatal: bool) -> None:
    """rdbReportError, with the file and the offset named. Start-up: warnings and the
    termination line; DEBUG RELOAD: the details at verbose level."""
    msg = e.message
    offset = max(0, e.offset)
    if msg.startswith("Failed loading library"):
        log.warning(msg)  # then read as a short read, as Redis does
        msg = "Unexpected EOF reading RDB file"
    if msg.startswith("Unexpected EOF"):
        log.warning("Short read or OOM loading DB. Unrecoverable error, aborting now.")
    elif msg.startswith("Wrong RDB checksum"):
        stored = int.from_bytes(data[offset:offset + 8], "little")
        log.warning(f"Wrong RDB checksum expected: ({rdbio.crc64(data[:offset]):x}) but got "
                    f"({stored:x}). Aborting now.")
        msg = "RDB CRC error"
    detail = log.warning if fatal else log.verbose
    detail(f"Internal error in RDB reading offset {offset}, function at rdb.c:0 -> {msg}")
    detail(f"Failed loading RDB file {os.path.abspath(filename)} at offset {offset}: "
           f"{msg}. The file was left untouched.")
    if fatal:
        log.warning("Terminating server after rdb file reading failure.")


def loading_events(srv: Server, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """processEventsWhileBlocked for a load at start-up (the loop is not running yet):
    serve the clients once, and honour a SHUTDOWN or signal that came meanwhile."""
    def events() -> None:
        loop.run_until_complete(asyncio.sleep(0))
        if srv.exiting:  # SHUTDOWN from a client while loading: already done
            log.logger.reopen()
            os._exit(srv.exit_code)
        if srv.shutdown_asap:
            # a signal during loading: exit without saving (whileBlockedCron)
            if srv.prepare_for_shutdown(nosave=True):
                log.logger.reopen()
                os._exit(0)
    return events


def load_at_startup(srv: Server, loop: asyncio.AbstractEventLoop) -> bool:
    """loadDataFromDisk (RDB part), with the listeners already open: clients connecting
    meanwhile are served (-LOADING for most commands) between chunks of the file. False
    when the server must not start."""
    from bocho.replication.master import expired_feeder
    filename = srv.config["dbfilename"]
    start = time.perf_counter()
    try:
        with open(filename, "rb") as f:
            data = f.read()
        # the replication history the file holds is adopted after the load (master.py,
        # replica.py); a master's expired keys become DELs of that history
        res = load_file(srv, filename, data=data, events=loading_events(srv, loop),
                        on_expired=expired_feeder(srv, _aux_fields(data)))
        srv.rdb_loaded_aux = res.aux
    except FileNotFoundError:
        return True
    except OSError as e:
        log.warning(f"Fatal error loading the DB: {e.strerror}. Exiting.")
        return False
    except LoadFailed:
        return False
    log.notice(f"DB loaded from disk: {time.perf_counter() - start:.3f} seconds")
    return True


def empty_data(srv: Server) -> None:
    """emptyData(-1, no flags): every database and the function libraries."""
    for db in srv.dbs:
        db.flush()
    reg = getattr(srv, "functions", None)
    if reg is not None:
        reg.flush()


def debug_reload(srv: Server, opts: set[bytes]) -> None:
    """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty, load back (blocking). A bad
    file (or, without MERGE, a key or library already there) is an error reply; what
    was loaded before it stays, as in Redis."""
    if b"nosave" not in opts and not save(srv):
        raise CommandError(b"ERR")
    if b"noflush" not in opts:
        empty_data(srv)
    try:
        load_file(srv, srv.config["dbfilename"], allow_dup=b"merge" in opts, fatal=False)
    except (LoadFailed, OSError):
        raise CommandError(b"ERR Error trying to load the RDB dump") from None
