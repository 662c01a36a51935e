"""Loading the AOF (aof.c's loadAppendOnlyFiles / loadSingleAppendOnlyFile): the
base file (an RDB preamble, or commands) and the incremental files named by the
manifest, replayed through the command table by a fake client, with Redis's handling of
a truncated tail (aof-load-truncated), an unfinished MULTI and a corrupt command."""

from __future__ import annotations

import errno
import os
import time
from typing import TYPE_CHECKING, Any

from bocho import log
from bocho.persistence.snapshot import key_delay

if TYPE_CHECKING:
    from bocho.network import Client
    from bocho.persistence.aof import Aof
    from bocho.server import Server

# loadSingleAppendOnlyFile / loadAppendOnlyFiles results
AOF_OK, AOF_NOT_EXIST, AOF_EMPTY, AOF_OPEN_ERR, AOF_FAILED, AOF_TRUNCATED = range(6)
LINE_MAX = 1024  # fgets buffer of the loader (AOF_ANNOTATION_LINE_MAX_LEN)


def file_size(dirname: str, name: str) -> tuple[int, int]:
    """getAppendOnlyFileSize: (size, status), logging a failed stat."""
    try:
        return os.stat(os.path.join(dirname, name)).st_size, AOF_OK
    except OSError as e:
        log.warning(f"Unable to obtain the AOF file {name} length. stat: {e.strerror}")
        return 0, (AOF_NOT_EXIST if e.errno == errno.ENOENT else AOF_OPEN_ERR)


def load_files(aof: Aof, events: Any = None) -> int:
    """loadAppendOnlyFiles: the base, then each incremental file. events() (when
    given) serves the clients now and then, as processEventsWhileBlocked."""
    srv = aof.srv
    m = aof.manifest
    fname = aof.filename
    if os.path.isfile(fname) and (
            not os.path.isdir(aof.dirname) or m.empty()
            or (m.base is not None and not m.incr and m.base.name == fname
                and not os.path.exists(aof.path(fname)))):
        if not aof.upgrade_prepare():
            return AOF_FAILED
    if m.empty():
        return AOF_NOT_EXIST
    files = m.files()
    total = 0
    for ai in files:
        size, status = file_size(aof.dirname, ai.name)
        if status != AOF_OK:
            return AOF_FAILED if status == AOF_NOT_EXIST else status
        total += size
    if total == 0:
        return AOF_EMPTY
    base_size = 0
    loaded = 0
    ret = AOF_OK
    _start_loading(srv, total)
    try:
        for i, ai in enumerate(files):
            last = i == len(files) - 1
            if ai is m.base:
                base_size = file_size(aof.dirname, ai.name)[0]
            t0 = time.time()
            srv.loading_loaded_bytes = loaded
            ret = load_single(aof, ai.name, events)
            loaded += file_size(aof.dirname, ai.name)[0]
            if ret == AOF_EMPTY and ai is not m.base:
                ret = AOF_OK  # an empty incremental file is fine (the total is not 0)
            if ret == AOF_OK or (ret == AOF_TRUNCATED and last):
                kind = "base" if ai is m.base else "incr"
                log.notice(f"DB loaded from {kind} file {ai.name}: "
                           f"{time.time() - t0:.3f} seconds")
            if ret == AOF_TRUNCATED and not last:
                ret = AOF_FAILED
                log.warning("Fatal error: the truncated file is not the last file")
            if ret in (AOF_OPEN_ERR, AOF_FAILED):
                return ret
        srv.aof_current_size = total
        srv.aof_rewrite_base_size = base_size
        return ret
    finally:
        _stop_loading(srv)

def load_single(aof: Aof, name: str, events: Any = None) -> int:
    """loadSingleAppendOnlyFile: replay one file through a fake client."""
    srv = aof.srv
    path = aof.path(name)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError as e:
        log.warning(f"The append log file {name} doesn't exist: {e.strerror}")
        return AOF_NOT_EXIST
    except OSError as e:
        log.warning(f"Fatal error: can't open the append log file {name} for reading: "
                    f"{e.strerror}")
        return AOF_OPEN_ERR
    if not data:
        return AOF_EMPTY
    truncated_ok = srv.config["aof-load-truncated"]
    load_delay = srv.config["key-load-delay"]
    done_before = getattr(srv, "loading_loaded_bytes", 0)
    loops = 0
    c = fake_client(srv)
    pos = 0
    valid_up_to = 0
    valid_before_multi = 0
    size = len(data)
    if data[:5] == b"REDIS":
        from bocho.persistence import rdb
        from bocho.persistence.rdbio import RdbError
        old_style = name == aof.filename
        log.notice("Reading RDB preamble from AOF file..." if old_style
                   else "Reading RDB base file on AOF loading...")
        try:
            res = rdb.load(srv, data, expire=False)
        except RdbError as e:
            log.warning(f"{e}")
            log.warning(f"Error reading the RDB preamble of the AOF file {name}, AOF "
                        "loading aborted" if old_style else
                        f"Error reading the RDB base file {name}, AOF loading aborted")
            log.warning(f"Unrecoverable error reading the append only file {name}: "
                        "Success")
            return AOF_FAILED
        pos = valid_up_to = valid_before_multi = res.end
        if old_style:
            log.notice("Reading the remaining AOF tail...")
    from bocho.commands import lookup
    from bocho.errors import CommandError
    error = None  # "eof" (unexpected end), "fmt" (bad format)
    last_ok = pos  # where the last command read whole ends
    while pos < size:
        nl = data.find(b"\n", pos, pos + LINE_MAX - 1)
        end = nl + 1 if nl >= 0 else min(size, pos + LINE_MAX - 1)
        line = data[pos:end]
        pos = end
        if line[:1] == b"#":
            continue
        if line[:1] != b"*":
            error = "fmt"
            break
        if len(line) == 1:
            error = "eof"
            break
        argc = _atoi(line[1:])
        if argc < 1:
            error = "fmt"
            break
        argv = []
        for _ in range(argc):
            if pos >= size:
                error = "eof"
                break
            nl = data.find(b"\n", pos, pos + LINE_MAX - 1)
            end = nl + 1 if nl >= 0 else min(size, pos + LINE_MAX - 1)
            line = data[pos:end]
            pos = end
            if line[:1] != b"$":
                error = "fmt"
                break
            n = _atoi(line[1:])
            if n > 0 and pos + n > size:
                error = "eof"
                break
            n = max(n, 0)
            argv.append(data[pos:pos + n])
            pos += n
            if pos + 2 > size:
                error = "eof"
                break
            pos += 2
        if error:
            break
        cmd = _resolve(lookup, argv)
        if cmd is None:
            log.warning(f"Unknown command '{argv[0].decode('utf-8', 'replace')}' "
                        f"reading the append only file {name}")
            return AOF_FAILED
        lname = cmd.name if cmd.parent is None else cmd.parent.name
        if lname == "multi":
            valid_before_multi = valid_up_to
        if c.multi is not None and lname != "exec":
            c.multi.append((cmd, argv))
        else:
            try:
                cmd.handler(c, argv)
            except CommandError:
                pass
            except Exception as e:  # noqa: BLE001 - a replayed command's own failure
                log.warning(f"Error replaying '{cmd.fullname}' from the AOF: {e!r}")
        c.out.clear()
        last_ok = pos
        if truncated_ok:
            valid_up_to = pos
        loops += 1
        if load_delay:
            key_delay(load_delay)
        if not loops & 1023:
            srv.loading_loaded_bytes = done_before + pos
            if events is not None:
                events()
    else:
        if c.multi is not None:
            log.warning(f"Revert incomplete MULTI/EXEC transaction in AOF file {name}")
            valid_up_to = valid_before_multi
            error = "eof"
    if error is None:
        return AOF_OK
    if error == "fmt":
        # (the TCL suite reads Redis's line as the log's last)
        log.warning(f"The last good command of {name} ends at offset {last_ok}; what "
                    "follows is not a command")
        log.warning(f"Bad file format reading the append only file {name}: make a "
                    "backup of your AOF file, then use ./redis-check-aof --fix "
                    "<filename.manifest>")
        return AOF_FAILED
    if truncated_ok:
        log.warning(f"!!! Warning: short read while loading the AOF file {name}!!!")
        log.warning(f"!!! Truncating the AOF {name} at offset {valid_up_to} !!!")
        try:
            os.truncate(path, valid_up_to)
        except OSError as e:
            log.warning(f"Error truncating the AOF file {name}: {e.strerror}")
        else:
            log.warning(f"AOF {name} loaded anyway because aof-load-truncated is "
                        "enabled")
            return AOF_TRUNCATED
    log.warning(f"Unexpected end of file reading the append only file {name}. You can: "
                "1) Make a backup of your AOF file, then use ./redis-check-aof --fix "
                "<filename.manifest>. 2) Alternatively you can set the "
                "'aof-load-truncated' configuration option to yes and restart the "
                "server.")
    return AOF_FAILED


def _atoi(b: bytes) -> int:
    """C's atoi/strtol on a header line: leading digits, 0 when none."""
    b = b.strip(b" \t")
    i = 1 if b[:1] in (b"-", b"+") else 0
    j = i
    while j < len(b) and 48 <= b[j] <= 57:
        j += 1
    return int(b[:j]) if j > i else 0


def _resolve(lookup: Any, argv: list[bytes]) -> Any:
    """lookupCommand: the command (or subcommand) argv names, None if unknown."""
    cmd = lookup(argv[0])
    if cmd is None or cmd.subcommands is None:
        return cmd
    if len(argv) > 1:
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is not None:
            return sub
        return None
    return cmd if cmd.handler is not None else None


def fake_client(srv: Server) -> Client:
    """The AOF client: runs commands, its replies are dropped, never listed. Flagged as
    a master's: both must be obeyed (mustObeyClient), e.g. XADD's exact LIMIT."""
    from bocho.network import F_MASTER, Client
    c = Client(srv)
    c.flags |= F_MASTER
    c.current = True  # out-of-band sends stay in c.out (cleared after each command)
    c.authenticated = True
    return c


def _start_loading(srv: Server, total: int) -> None:
    srv.loading = True
    srv.loading_start_time = int(time.time())
    srv.loading_total_bytes = total
    srv.loading_loaded_bytes = 0
    srv.update_slow()


def _stop_loading(srv: Server) -> None:
    srv.loading = False
    srv.update_slow()
