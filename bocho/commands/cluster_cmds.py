"""Cluster commands (cluster.c). Only READONLY/READWRITE so far: without cluster mode
they answer Redis's error, and ACL rules may name them (`+readonly`)."""

from __future__ import annotations

from bocho.commands import command
from bocho.errors import CommandError

CLUSTER_DISABLED = b"ERR This instance has cluster support disabled"


@command("readonly", 1, "loading stale fast", group="cluster", acl=("connection",), since="3.0.0",
         summary="Enables read queries for a connection to a cluster replica node")
def readonly(c, argv):
    raise CommandError(CLUSTER_DISABLED)


@command("readwrite", 1, "loading stale fast", group="cluster", acl=("connection",), since="3.0.0",
         summary="Disables read queries for a connection to a cluster replica node")
def readwrite(c, argv):
    raise CommandError(CLUSTER_DISABLED)
