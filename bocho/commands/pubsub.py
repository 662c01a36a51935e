"""Pub/Sub (Redis's pubsub.c): SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE and their UN- forms,
PUBLISH/SPUBLISH, PUBSUB introspection. PUBLISH is also the path keyspace notifications
take (Server.notify).

Server side: server.pubsub_channels / pubsub_patterns / pubsub_shard map a channel or
pattern to an insertion-ordered dict of subscribed clients. Client side: c.channels,
c.patterns, c.shard_channels are insertion-ordered dicts (channel -> None), so that a
mass UNSUBSCRIBE answers in subscription order."""

from __future__ import annotations

from bocho import resp
from bocho.commands import command
from bocho.commands.connection import RESET_HOOKS
from bocho.commands.strings import key_spec
from bocho.errors import CommandError
from bocho.glob import stringmatch
from bocho.network import F_PUBSUB, Push

PS = "pubsub"

_MESSAGE = b"$7\r\nmessage\r\n"
_PMESSAGE = b"$8\r\npmessage\r\n"
_SMESSAGE = b"$8\r\nsmessage\r\n"


def _shard_map(server) -> dict:
    m = getattr(server, "pubsub_shard", None)
    if m is None:
        m = server.pubsub_shard = {}
    return m


def publish(server, channel: bytes, message: bytes) -> int:
    """Deliver to subscribers of channel and of matching patterns; receiver count."""
    n = 0
    subs = server.pubsub_channels.get(channel)
    if subs:
        # one encoded message per protocol, shared by every subscriber
        body = _MESSAGE + resp.bulk(channel) + resp.bulk(message)
        m2 = m3 = None
        for c in list(subs):
            if c.resp == 3:
                if m3 is None:
                    m3 = Push(b">3\r\n" + body)
                c.send(m3)
            else:
                if m2 is None:
                    m2 = Push(b"*3\r\n" + body)
                c.send(m2)
            n += 1
    if server.pubsub_patterns:
        tail = resp.bulk(channel) + resp.bulk(message)
        for pat, subs in list(server.pubsub_patterns.items()):
            if stringmatch(pat, channel):
                body = _PMESSAGE + resp.bulk(pat) + tail
                for c in list(subs):
                    c.send(Push((b">4\r\n" if c.resp == 3 else b"*4\r\n") + body))
                    n += 1
    return n


def spublish(server, channel: bytes, message: bytes) -> int:
    subs = _shard_map(server).get(channel)
    if not subs:
        return 0
    body = _SMESSAGE + resp.bulk(channel) + resp.bulk(message)
    for c in list(subs):
        c.send(Push((b">3\r\n" if c.resp == 3 else b"*3\r\n") + body))
    return len(subs)


def _count(c) -> int:
    return len(c.channels) + len(c.patterns)


def _notice(c, kind: bytes, name: bytes | None, count: int) -> bytes:
    hdr = b">3\r\n" if c.resp == 3 else b"*3\r\n"
    return hdr + resp.bulk(kind) + resp.bulk_or_null(name, c.resp) + resp.integer(count)


def _update_flags(c) -> None:
    if c.channels or c.patterns or c.shard_channels:
        c.flags |= F_PUBSUB
        c.obuf_class = "pubsub"
    else:
        c.flags &= ~F_PUBSUB
        if c.obuf_class == "pubsub":
            c.obuf_class = "normal"
    c.update_slow()


def _deny_blocking(c, what: str, in_multi_ok: bool = True) -> None:
    srv = c.server
    if (srv.in_exec and not in_multi_ok) or getattr(c, "is_script", False):
        raise CommandError(f"ERR {what} isn't allowed for a DENY BLOCKING client")


def _sub(c, registry: dict, mine: dict, key: bytes) -> None:
    if key not in mine:
        mine[key] = None
        registry.setdefault(key, {})[c] = None


def _unsub(c, registry: dict, mine: dict, key: bytes) -> None:
    if mine.pop(key, 0) is None:
        subs = registry.get(key)
        if subs is not None:
            subs.pop(c, None)
            if not subs:
                del registry[key]


def _shard_count(c) -> int:
    return len(c.shard_channels)


# One subscription family each: reply words for (un)subscribing, the client's own set
# (attribute name), the server's registry, and the count its replies carry (shard
# channels are counted on their own).
_CHANNELS = (b"subscribe", b"unsubscribe", "channels", lambda srv: srv.pubsub_channels,
             _count)
_PATTERNS = (b"psubscribe", b"punsubscribe", "patterns", lambda srv: srv.pubsub_patterns,
             _count)
_SHARD = (b"ssubscribe", b"sunsubscribe", "shard_channels", _shard_map, _shard_count)


def _subscribe(c, argv, family) -> Push:
    word, _, attr, registry, count = family
    reg, mine = registry(c.server), getattr(c, attr)
    out = []
    for name in argv[1:]:
        _sub(c, reg, mine, name)
        out.append(_notice(c, word, name, count(c)))
    _update_flags(c)
    return Push(b"".join(out))


def _unsubscribe(c, names, family, notify: bool = True) -> list[bytes]:
    _, word, attr, registry, count = family
    reg, mine = registry(c.server), getattr(c, attr)
    out = []
    for name in names:
        _unsub(c, reg, mine, name)
        if notify:
            out.append(_notice(c, word, name, count(c)))
    return out


def _unsubscribe_cmd(c, argv, family) -> Push:
    """(P|S)UNSUBSCRIBE: the names given, or every one held; with none held the reply
    is still one notice, for a null name."""
    if len(argv) == 1:
        out = _unsubscribe(c, list(getattr(c, family[2])), family)
        if not out:
            out = [_notice(c, family[1], None, family[4](c))]
    else:
        out = _unsubscribe(c, argv[1:], family)
    _update_flags(c)
    return Push(b"".join(out))


def unsubscribe_all(c, notify: bool) -> list[bytes]:
    return _unsubscribe(c, list(c.channels), _CHANNELS, notify)


def punsubscribe_all(c, notify: bool) -> list[bytes]:
    return _unsubscribe(c, list(c.patterns), _PATTERNS, notify)


def sunsubscribe_all(c, notify: bool) -> list[bytes]:
    return _unsubscribe(c, list(c.shard_channels), _SHARD, notify)


@command("subscribe", -2, "pubsub noscript loading stale", group=PS, acl=(PS,),
         since="2.0.0", summary="Listen for messages published to the given channels")
def subscribe(c, argv):
    _deny_blocking(c, "SUBSCRIBE")
    return _subscribe(c, argv, _CHANNELS)


@command("psubscribe", -2, "pubsub noscript loading stale", group=PS, acl=(PS,),
         since="2.0.0", summary="Listen for messages published to channels matching the "
         "given patterns")
def psubscribe(c, argv):
    _deny_blocking(c, "PSUBSCRIBE")
    return _subscribe(c, argv, _PATTERNS)


@command("ssubscribe", -2, "pubsub noscript loading stale", keys=(1, -1, 1), group=PS,
         acl=(PS,), key_specs=[key_spec("not_key", lastkey=-1)], since="7.0.0", summary="Listen for messages published to the given "
         "shard channels")
def ssubscribe(c, argv):
    _deny_blocking(c, "SSUBSCRIBE", in_multi_ok=False)
    return _subscribe(c, argv, _SHARD)


@command("unsubscribe", -1, "pubsub noscript loading stale", group=PS, acl=(PS,),
         since="2.0.0", summary="Stop listening for messages posted to the given channels")
def unsubscribe(c, argv):
    return _unsubscribe_cmd(c, argv, _CHANNELS)


@command("punsubscribe", -1, "pubsub noscript loading stale", group=PS, acl=(PS,),
         since="2.0.0", summary="Stop listening for messages posted to channels matching "
         "the given patterns")
def punsubscribe(c, argv):
    return _unsubscribe_cmd(c, argv, _PATTERNS)


@command("sunsubscribe", -1, "pubsub noscript loading stale", keys=(1, -1, 1), group=PS,
         acl=(PS,), key_specs=[key_spec("not_key", lastkey=-1)], since="7.0.0", summary="Stop listening for messages posted to the given "
         "shard channels")
def sunsubscribe(c, argv):
    return _unsubscribe_cmd(c, argv, _SHARD)


@command("publish", 3, "pubsub loading stale fast may_replicate", group=PS, acl=(PS,), since="2.0.0",
         summary="Post a message to a channel")
def publish_cmd(c, argv):
    n = publish(c.server, argv[1], argv[2])
    _to_replicas(c, argv)
    return resp.integer(n)


def _to_replicas(c, argv) -> None:
    """Outside cluster mode a message also goes down the replication stream (not to
    the AOF), as Redis 7.0 does."""
    srv = c.server
    if srv.propagating and not srv.config["cluster-enabled"]:
        from bocho.replication.state import ReplOnly
        srv.propagate(c.db.id, ReplOnly(argv))


@command("spublish", 3, "pubsub loading stale fast may_replicate", keys=(1, 1, 1), group=PS, acl=(PS,),
         key_specs=[key_spec("not_key")],
         since="7.0.0", summary="Post a message to a shard channel")
def spublish_cmd(c, argv):
    n = spublish(c.server, argv[1], argv[2])
    _to_replicas(c, argv)
    return resp.integer(n)


PUBSUB_HELP = [
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
]


@command("pubsub|help", 2, "loading stale", group=PS, acl=(), since="6.2.0",
         summary="Show helpful text about the different subcommands")
def pubsub_help(c, argv):
    return resp.help_reply("pubsub", PUBSUB_HELP)


def _channel_list(reg: dict, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise CommandError(
            b"ERR unknown subcommand or wrong number of arguments for '%s'. Try PUBSUB HELP."
            % argv[1])
    pat = argv[2] if len(argv) == 3 else None
    names = [ch for ch in reg if pat is None or stringmatch(pat, ch)]
    return resp.bulk_array(names)


@command("pubsub|channels", -2, "pubsub loading stale", group=PS, acl=(PS,), since="2.8.0",
         summary="List active channels")
def pubsub_channels(c, argv):
    return _channel_list(c.server.pubsub_channels, argv)


@command("pubsub|shardchannels", -2, "pubsub loading stale", group=PS, acl=(PS,),
         since="7.0.0", summary="List active shard channels")
def pubsub_shardchannels(c, argv):
    return _channel_list(_shard_map(c.server), argv)


def _numsub(reg: dict, argv: list[bytes]) -> bytes:
    parts = [resp.array_header(2 * (len(argv) - 2))]
    for ch in argv[2:]:
        parts.append(resp.bulk(ch))
        parts.append(resp.integer(len(reg.get(ch, ()))))
    return b"".join(parts)


@command("pubsub|numsub", -2, "pubsub loading stale", group=PS, acl=(PS,), since="2.8.0",
         summary="Get the count of subscribers for channels")
def pubsub_numsub(c, argv):
    return _numsub(c.server.pubsub_channels, argv)


@command("pubsub|shardnumsub", -2, "pubsub loading stale", group=PS, acl=(PS,),
         since="7.0.0", summary="Get the count of subscribers for shard channels")
def pubsub_shardnumsub(c, argv):
    return _numsub(_shard_map(c.server), argv)


@command("pubsub|numpat", 2, "pubsub loading stale", group=PS, acl=(PS,), since="2.8.0",
         summary="Get the count of unique patterns pattern subscriptions")
def pubsub_numpat(c, argv):
    return resp.integer(len(c.server.pubsub_patterns))


def forget_client(c) -> None:
    """Disconnect or RESET: drop every subscription without notifications."""
    if c.channels:
        unsubscribe_all(c, False)
    if c.patterns:
        punsubscribe_all(c, False)
    if c.shard_channels:
        sunsubscribe_all(c, False)
    _update_flags(c)


RESET_HOOKS.append(forget_client)


def _register_gone_hook() -> None:
    from bocho.server import Server
    Server.client_gone_hooks.append(forget_client)


_register_gone_hook()
