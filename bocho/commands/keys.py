"""Generic keyspace commands (db.c, expire.c)."""

from __future__ import annotations

from bocho import resp
from bocho.commands import command
from bocho.errors import syntax

GEN = "generic"


def flush_option(argv: list[bytes]) -> bool:
    """FLUSHDB/FLUSHALL [ASYNC|SYNC]; True for async."""
    if len(argv) == 1:
        return False
    if len(argv) == 2:
        opt = argv[1].lower()
        if opt == b"async":
            return True
        if opt == b"sync":
            return False
    raise syntax()


@command("flushdb", -1, "write", group="server", acl=("keyspace", "dangerous"),
         summary="Remove all keys from the current database")
def flushdb(c, argv):
    flush_option(argv)
    srv = c.server
    srv.dirty += c.db.flush() + 1
    return resp.OK


@command("flushall", -1, "write", group="server", acl=("keyspace", "dangerous"),
         summary="Remove all keys from all databases")
def flushall(c, argv):
    flush_option(argv)
    srv = c.server
    n = 0
    for db in srv.dbs:
        n += db.flush()
    srv.dirty += n + 1
    return resp.OK
