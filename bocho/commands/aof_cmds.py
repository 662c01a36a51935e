"""BGREWRITEAOF (the AOF itself is bocho/persistence/aof.py)."""

from __future__ import annotations

from bocho.commands import command


@command("bgrewriteaof", 1, "admin noscript no_async_loading", group="server",
         acl=("admin", "dangerous"), since="1.0.0", complexity="O(1)",
         summary="Asynchronously rewrite the append-only file")
def bgrewriteaof(c, argv):
    srv = c.server
    return srv.aof.bgrewriteaof(srv.in_exec)
