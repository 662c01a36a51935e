"""REPLICAOF / SLAVEOF (replication.c's replicaofCommand); the work is in
bocho/replication/replica.py (ROLE is in repl_cmds.py)."""

from __future__ import annotations

from bocho import log, resp
from bocho.commands import command
from bocho.errors import CommandError
from bocho.network import F_REPLICA
from bocho.util import parse_int

ADMIN_ACL = ("admin", "slow", "dangerous")


def _client_desc(c) -> str:
    from bocho.commands.client_cmds import client_info_string
    return client_info_string(c.server, c)


@command("replicaof", 3, "admin noscript stale no_async_loading", group="server",
         acl=ADMIN_ACL, since="5.0.0",
         summary="Make the server a replica of another instance, or promote it as master.",
         complexity="O(1)")
def replicaof(c, argv):
    srv = c.server
    rep = srv.replica
    if srv.config["cluster-enabled"]:
        raise CommandError(b"ERR REPLICAOF not allowed in cluster mode.")
    if getattr(srv, "failover_state", "no-failover") != "no-failover":
        raise CommandError(b"ERR REPLICAOF not allowed while failing over.")
    host, port_arg = argv[1], argv[2]
    if host.lower() == b"no" and port_arg.lower() == b"one":
        if rep.masterhost is not None:
            rep.unset_master()
            log.notice(f"MASTER MODE enabled (user request from '{_client_desc(c)}')")
        return resp.OK
    if c.flags & F_REPLICA:
        raise CommandError(b"ERR Command is not valid when client is a replica.")
    port = parse_int(port_arg, b"ERR Invalid master port")
    if not 0 <= port <= 65535:
        raise CommandError(b"ERR Invalid master port")
    hoststr = host.decode("latin-1")
    if rep.masterhost is not None and rep.masterhost.lower() == hoststr.lower() \
            and rep.masterport == port:
        log.notice("REPLICAOF would result into synchronization with the master we are "
                   "already connected with. No operation performed.")
        return b"+OK Already connected to specified master\r\n"
    rep.set_master(hoststr, port)
    log.notice(f"REPLICAOF {hoststr}:{port} enabled (user request from "
               f"'{_client_desc(c)}')")
    return resp.OK


@command("slaveof", 3, "admin noscript stale no_async_loading", group="server",
         acl=ADMIN_ACL, since="1.0.0",
         summary="Make the server a replica of another instance, or promote it as master.",
         complexity="O(1)")
def slaveof(c, argv):
    return replicaof(c, argv)
