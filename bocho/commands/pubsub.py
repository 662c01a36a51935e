"""Pub/sub delivery (PUBLISH is the path keyspace notifications take too)."""

from __future__ import annotations

from bocho import resp
from bocho.commands import command
from bocho.glob import stringmatch


def publish(server, channel: bytes, message: bytes) -> int:
    """Deliver to subscribers of channel and of matching patterns; receiver count."""
    n = 0
    subs = server.pubsub_channels.get(channel)
    if subs:
        for c in list(subs):
            hdr = resp.push_header(3, c.resp)
            c.send(hdr + b"$7\r\nmessage\r\n" + resp.bulk(channel) + resp.bulk(message))
            n += 1
    if server.pubsub_patterns:
        for pat, subs in list(server.pubsub_patterns.items()):
            if stringmatch(pat, channel):
                for c in list(subs):
                    hdr = resp.push_header(4, c.resp)
                    c.send(hdr + b"$8\r\npmessage\r\n" + resp.bulk(pat) + resp.bulk(channel)
                           + resp.bulk(message))
                    n += 1
    return n


@command("publish", 3, "pubsub loading stale fast may_replicate", group="pubsub",
         acl=("pubsub",), since="2.0.0", summary="Post a message to a channel")
def publish_cmd(c, argv):
    return resp.integer(publish(c.server, argv[1], argv[2]))
