"""serverLog: Redis's log format, so that tools and test harnesses that wait for log lines
work unchanged.

    <pid>:<role> <dd Mon yyyy HH:MM:SS.mmm> <level-char> <message>

role is M (master), S (replica), C (forked child), X (sentinel); the level chars are
. (debug) - (verbose) * (notice) # (warning)."""

from __future__ import annotations

import os
import sys
import time

DEBUG, VERBOSE, NOTICE, WARNING, NOTHING = 0, 1, 2, 3, 4
LEVELS = {"debug": DEBUG, "verbose": VERBOSE, "notice": NOTICE, "warning": WARNING,
          "nothing": NOTHING}
_MARK = ".-*#"


class Logger:
    def __init__(self) -> None:
        self.level = NOTICE
        self.path = ""  # "" = stdout
        self.role = "M"
        self._file = None

    def configure(self, level: str, path: str) -> None:
        self.level = LEVELS.get(level, NOTICE)
        if path != self.path:
            if self._file is not None:
                self._file.close()
                self._file = None
            self.path = path

    def _out(self):
        if not self.path:
            return sys.stdout
        if self._file is None:
            self._file = open(self.path, "a", buffering=1, encoding="utf-8", errors="replace")
        return self._file

    def log(self, level: int, msg: str) -> None:
        if level < self.level:
            return
        self.raw(self.format(level, msg))

    def format(self, level: int, msg: str) -> str:
        t = time.time()
        ms = int(t * 1000) % 1000
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(t))
        return f"{os.getpid()}:{self.role} {stamp}.{ms:03d} {_MARK[level]} {msg}\n"

    def raw(self, text: str) -> None:
        try:
            f = self._out()
            f.write(text)
            f.flush()
        except OSError:
            pass

    def reopen(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


logger = Logger()


def debug(msg: str) -> None:
    if logger.level <= DEBUG:
        logger.log(DEBUG, msg)


def verbose(msg: str) -> None:
    if logger.level <= VERBOSE:
        logger.log(VERBOSE, msg)


def notice(msg: str) -> None:
    logger.log(NOTICE, msg)


def warning(msg: str) -> None:
    logger.log(WARNING, msg)
