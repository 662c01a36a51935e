"""Crash reports: on SIGABRT/SIGSEGV/SIGBUS/SIGFPE/SIGILL (and DEBUG SEGFAULT) log a bug
report in Redis's shape ("crashed by signal", the Python stack, INFO-like facts), then
die by the same signal with its default action, so the exit status says what happened.

A fault inside C code never returns to Python: faulthandler writes the C-level stack
for those; signals sent by another process (kill -SIGABRT) and DEBUG SEGFAULT get the
full report from here."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING

from bocho import REDIS_VERSION, log

if TYPE_CHECKING:
    from bocho.server import Server

CRASH_SIGNALS = (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL)


def install_crash_handlers(server: Server) -> None:
    try:
        faulthandler.enable(file=sys.stderr, all_threads=False)
    except (OSError, ValueError, RuntimeError):
        pass
    # Plain handlers, not the loop's: uvloop drops a signal that arrives while its loop
    # is not running, and a busy server (a long script) must still report at once.
    for sig in (signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL):
        try:
            signal.signal(sig, lambda signum, frame: crash(server, signum, ""))
        except (ValueError, OSError):
            pass


def crash(server: Server, sig: int, why: str = "") -> None:
    """Log the bug report and die by `sig`."""
    try:
        report(server, sig, why)
    except Exception:  # noqa: BLE001 - the report is best effort; dying by sig is not
        pass
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)  # not reached unless the signal is blocked


def report(server: Server, sig: int, why: str = "") -> None:
    w = log.warning
    log.logger.raw("\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n")
    w(f"Redis {REDIS_VERSION} crashed by signal: {sig}, si_code: 0")
    if why:
        w(why)
    log.logger.raw("\n------ STACK TRACE (Python) ------\n")
    log.logger.raw("".join(traceback.format_stack()[:-2]))
    log.logger.raw("\n------ INFO OUTPUT ------\n")
    try:
        keys = sum(len(db.data) for db in server.dbs)
        log.logger.raw(f"redis_version:{REDIS_VERSION}\nprocess_id:{os.getpid()}\n"
                       f"connected_clients:{len(server.clients)}\nkeys:{keys}\n")
    except Exception:
        pass
    log.logger.raw(
        "\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n"
        "       Please report the crash by opening an issue on github.\n\n")
    pidfile = server.config["pidfile"]
    if server.config["daemonize"] and pidfile:
        try:
            os.unlink(pidfile)
        except OSError:
            pass
