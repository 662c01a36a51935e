"""Memory figures for INFO memory and maxmemory."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bocho.server import Server

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


def used_memory(server: "Server") -> int:
    return rss()
