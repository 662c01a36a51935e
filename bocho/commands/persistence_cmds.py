"""SAVE, BGSAVE [SCHEDULE], LASTSAVE (rdb.c's saveCommand / bgsaveCommand); the work is
in bocho/persistence/snapshot.py."""

from __future__ import annotations

from bocho import resp
from bocho.commands import command
from bocho.errors import CommandError

SRV = "server"
ADMIN_ACL = ("admin", "dangerous")
IN_PROGRESS = b"ERR Background save already in progress"


@command("save", 1, "admin noscript no_async_loading no_multi", group=SRV, acl=ADMIN_ACL,
         summary="Synchronously save the dataset to disk", complexity="O(N) where N is the "
         "total number of keys in all databases")
def save(c, argv):
    from bocho.persistence import snapshot
    srv = c.server
    if srv.child_type == "rdb":
        raise CommandError(IN_PROGRESS)
    srv.stat_rdb_saves += 1
    if snapshot.save(srv):
        return resp.OK
    raise CommandError(b"ERR")


@command("bgsave", -1, "admin noscript no_async_loading", group=SRV, acl=ADMIN_ACL,
         summary="Asynchronously save the dataset to disk", complexity="O(1)")
def bgsave(c, argv):
    from bocho.persistence import snapshot
    srv = c.server
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise CommandError(b"ERR syntax error")
    if srv.child_type == "rdb":
        raise CommandError(IN_PROGRESS)
    if srv.child_type is not None or srv.in_exec:
        if schedule or srv.in_exec:
            srv.rdb_bgsave_scheduled = True
            return resp.simple(b"Background saving scheduled")
        raise CommandError(b"ERR Another child process is active (AOF?): can't BGSAVE right "
                           b"now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever "
                           b"possible.")
    if snapshot.bgsave(srv):
        return resp.simple(b"Background saving started")
    raise CommandError(b"ERR")


@command("lastsave", 1, "loading stale fast", group=SRV, acl=ADMIN_ACL,
         summary="Get the UNIX time stamp of the last successful save to disk",
         complexity="O(1)", tips=("nondeterministic_output",))
def lastsave(c, argv):
    return resp.integer(c.server.lastsave)
