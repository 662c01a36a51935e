"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET."""

from __future__ import annotations

from bocho import REDIS_VERSION, resp
from bocho.commands import command
from bocho.errors import WRONGPASS, CommandError, wrong_args
from bocho.util import parse_int

CONN = "connection"


@command("ping", -1, "fast sentinel", group=CONN, acl=("connection",),
         tips=("request_policy:all_shards", "response_policy:all_succeeded"),
         summary="Ping the server")
def ping(c, argv):
    if len(argv) > 2:
        raise wrong_args("ping")
    if c.resp == 2 and (c.channels or c.patterns or c.shard_channels):
        msg = argv[1] if len(argv) == 2 else b""
        return b"*2\r\n$4\r\npong\r\n" + resp.bulk(msg)
    if len(argv) == 2:
        return resp.bulk(argv[1])
    return resp.PONG


@command("echo", 2, "loading stale fast", group=CONN, acl=("connection",), summary="Echo the given string")
def echo(c, argv):
    return resp.bulk(argv[1])


@command("quit", -1, "allow_busy noscript loading stale fast no_auth", group=CONN,
         acl=("connection",), summary="Close the connection")
def quit_(c, argv):
    c.out.append(resp.OK)
    c.flush()
    c.close()
    return None


@command("select", 2, "loading stale fast", group=CONN, acl=("connection",),
         summary="Change the selected database for the current connection")
def select(c, argv):
    try:
        dbid = int(argv[1])
    except ValueError:
        raise CommandError(b"ERR value is not an integer or out of range") from None
    srv = c.server
    if srv.config["cluster-enabled"] and dbid != 0:
        raise CommandError(b"ERR SELECT is not allowed in cluster mode")
    if not 0 <= dbid < len(srv.dbs):
        raise CommandError(b"ERR DB index is out of range")
    c.select(dbid)
    return resp.OK


def auth_ok(c, user: bytes = b"default") -> None:
    c.authenticated = True
    c.user = user
    c.update_slow()


@command("auth", -2, "noscript loading stale fast no_auth allow_busy", group=CONN,
         acl=("connection",), summary="Authenticate to the server")
def auth(c, argv):
    if len(argv) > 3:
        raise CommandError(b"ERR syntax error")
    srv = c.server
    if len(argv) == 2:
        if srv.acl.default.nopass:
            raise CommandError(
                b"ERR AUTH <password> called without any password configured for the default "
                b"user. Are you sure your configuration is correct?")
        user, pw = b"default", argv[1]
    else:
        user, pw = argv[1], argv[2]
    if srv.acl.authenticate(c, user, pw, argv[0]):
        return resp.OK
    raise CommandError(WRONGPASS)


@command("hello", -1, "noscript loading stale fast no_auth allow_busy", group=CONN,
         acl=("connection",), since="6.0.0",
         summary="Handshake with the server, optionally switching protocol")
def hello(c, argv):
    ver = 0
    i = 1
    if len(argv) > 1:
        ver = parse_int(argv[1], b"ERR Protocol version is not an integer or out of range")
        if ver < 2 or ver > 3:
            raise CommandError(b"NOPROTO unsupported protocol version")
        i = 2
    name = creds = None
    while i < len(argv):
        opt = argv[i].lower()
        more = len(argv) - i - 1
        if opt == b"auth" and more >= 2:
            creds = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == b"setname" and more >= 1:
            name = argv[i + 1]
            i += 2
        else:
            raise CommandError(b"ERR Syntax error in HELLO option '%s'" % argv[i])
    if creds is not None:
        if not c.server.acl.authenticate(c, *creds, argv[0]):
            raise CommandError(WRONGPASS)
    if not c.authenticated:
        raise CommandError(b"NOAUTH HELLO must be called with the client already "
                           b"authenticated, otherwise the HELLO <proto> AUTH <user> <pass> "
                           b"option can be used to authenticate the client and select the "
                           b"RESP protocol version at the same time")
    if name is not None:
        from bocho.commands.client_cmds import validate_name
        validate_name(name)
        c.name = name
    if ver:
        c.resp = ver
    c.update_slow()
    srv = c.server
    info = {
        "server": "redis",
        "version": REDIS_VERSION,
        "proto": c.resp,
        "id": c.id,
        "mode": "sentinel" if getattr(srv.config, "sentinel_mode", False) else (
            "cluster" if srv.config["cluster-enabled"] else "standalone"),
        "role": "replica" if srv.role in ("slave", "replica") else "master",
        "modules": [],
    }
    if info["mode"] == "sentinel":
        del info["role"]
    return resp.encode(info, c.resp)


@command("reset", 1, "noscript loading stale fast no_auth allow_busy", group=CONN,
         acl=("connection",), since="6.2.0", summary="Reset the connection")
def reset(c, argv):
    from bocho.network import F_MASTER, F_MONITOR, F_NO_TOUCH, F_READONLY, F_REPLICA
    if c.flags & (F_REPLICA | F_MASTER) and not c.flags & F_MONITOR:
        raise CommandError(b"ERR can only reset normal client connections")
    srv = c.server
    if c.flags & F_MONITOR:
        from bocho.commands.monitor import stop_monitor
        stop_monitor(c)
    for hook in RESET_HOOKS:
        hook(c)
    c.select(0)
    c.resp = 2
    c.name = b""
    c.reply_mode = 0
    c.flags &= ~(F_READONLY | F_NO_TOUCH)  # Redis 7.2 (which has NO-TOUCH) clears it
    c.user = b"default"
    c.authenticated = not srv.default_needs_auth
    c.update_slow()
    return b"+RESET\r\n"


# Modules with per-client state (MULTI, pub/sub, tracking) register how RESET clears it.
RESET_HOOKS: list = []

