"""SYNC, PSYNC, REPLCONF, WAIT, ROLE: the commands of the master side of replication
(bocho/replication/master.py does the work)."""

from __future__ import annotations

from bocho.commands import command
from bocho.config import on_apply

DANGER = ("admin", "dangerous")


@command("sync", 1, "admin noscript no_async_loading no_multi", group="server", acl=DANGER,
         since="1.0.0", summary="Internal command used for replication")
def sync(c, argv):
    return c.server.master_side.sync(c, argv)


@command("psync", -3, "admin noscript no_async_loading no_multi", group="server",
         acl=DANGER, since="2.8.0", summary="Internal command used for replication")
def psync(c, argv):
    return c.server.master_side.sync(c, argv)


@command("replconf", -1, "admin noscript loading stale allow_busy", group="server",
         acl=DANGER, since="3.0.0", summary="An internal command for configuring the "
         "replication stream")
def replconf(c, argv):
    return c.server.master_side.replconf(c, argv)


@command("wait", 3, "noscript", group="generic", acl=("connection",), since="3.0.0",
         summary="Wait for the synchronous replication of all the write commands sent in "
         "the context of the current connection", complexity="O(1)",
         tips=("request_policy:all_shards", "response_policy:agg_min"))
def wait(c, argv):
    return c.server.master_side.wait(c, argv)


@command("role", 1, "noscript loading stale fast", group="server", acl=DANGER,
         since="2.8.12", summary="Return the role of the instance in the context of "
         "replication", complexity="O(1)")
def role(c, argv):
    srv = c.server
    if srv.config["replicaof"]:
        return srv.replica.role_command(c)
    return srv.master_side.role()


@command("failover", -1, "admin noscript stale", group="server", acl=DANGER, since="6.2.0",
         summary="Start a coordinated failover between this server and one of its replicas.",
         complexity="O(1)")
def failover(c, argv):
    return c.server.failover.command(argv)


@on_apply("repl-backlog-size")
def _backlog_size(srv):
    bl = srv.repl.backlog
    if bl is not None:
        bl.resize(srv.config["repl-backlog-size"])
    for r in srv.master_side.replicas:
        r.c.refresh_obuf()  # their hard limit is at least the backlog's size


@on_apply("min-replicas-to-write", "min-replicas-max-lag")
def _min_replicas(srv):
    m = getattr(srv, "master_side", None)
    if m is not None:
        m.update_denier()
