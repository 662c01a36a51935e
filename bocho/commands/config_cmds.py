"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP, and the apply hooks of directives that
act at once when CONFIG SET changes them (port, bind, maxclients, proc title...)."""

from __future__ import annotations

import asyncio
import socket

from bocho import log, resp
from bocho.commands import TABLE, all_commands, command, sync_stats
from bocho.config import ConfigError, ConfigSetError, on_apply
from bocho.errors import CommandError
from bocho.listen import bind_listener

SRV = "server"
ADMIN = "admin noscript loading stale"


def is_local_client(c) -> bool:
    """islocalClient: a unix socket or a loopback peer."""
    ip = c.peer_ip
    return c.unix or ip.startswith("127.") or ip == "::1" or ip.startswith("::ffff:127.")


def allow_protected(setting: str, c) -> bool:
    """enable-protected-configs / enable-debug-command: yes, or local for local clients."""
    return setting == "yes" or (setting == "local" and is_local_client(c))


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@command("config|get", -3, ADMIN, group=SRV, since="2.0.0",
         summary="Get the values of configuration parameters",
         complexity="O(N) when N is the number of configuration parameters provided")
def config_get(c, argv):
    found = c.server.config.get([_s(a) for a in argv[2:]])
    parts = [resp.map_header(len(found), c.resp)]
    for k, v in found.items():
        parts.append(resp.bulk(k.encode("utf-8", "surrogateescape")))
        parts.append(resp.bulk(v.encode("utf-8", "surrogateescape")))
    return b"".join(parts)


@command("config|set", -4, ADMIN, group=SRV, since="2.0.0",
         summary="Set configuration parameters to the given values",
         complexity="O(N) when N is the number of configuration parameters provided",
         tips=("request_policy:all_nodes", "response_policy:all_succeeded"))
def config_set(c, argv):
    if len(argv) % 2:
        raise CommandError(b"ERR syntax error")
    srv = c.server
    cfg = srv.config
    cfg.loading = bool(getattr(srv, "loading", False))
    pairs = [(_s(argv[i]), _s(argv[i + 1])) for i in range(2, len(argv), 2)]
    try:
        cfg.set(pairs, allow_protected(cfg["enable-protected-configs"], c))
    except ConfigSetError as e:
        raise CommandError(e.message()) from None
    return resp.OK


@command("config|resetstat", 2, ADMIN, group=SRV, since="2.0.0",
         summary="Reset the stats returned by INFO", complexity="O(1)")
def config_resetstat(c, argv):
    reset_stats(c.server)
    return resp.OK


@command("config|rewrite", 2, ADMIN, group=SRV, since="2.8.0",
         summary="Rewrite the configuration file with the in memory configuration",
         complexity="O(1)")
def config_rewrite(c, argv):
    cfg = c.server.config
    if cfg.file is None:
        raise CommandError(b"ERR The server is running without a config file")
    try:
        cfg.rewrite()
    except OSError as e:
        msg = e.strerror or str(e)
        log.warning(f"CONFIG REWRITE failed: {msg}")
        raise CommandError(f"ERR Rewriting config file: {msg}") from None
    log.warning("CONFIG REWRITE executed with success.")
    return resp.OK


@command("config|help", 2, "loading stale", group=SRV, since="5.0.0",
         summary="Show helpful text about the different subcommands", complexity="O(1)")
def config_help(c, argv):
    return resp.help_reply("config", [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ])


_container = TABLE[b"config"]
_container.summary = "A container for server configuration commands"
_container.complexity = "Depends on subcommand."
_container.since = "2.0.0"
_container.group = SRV


# -- CONFIG RESETSTAT --------------------------------------------------------------------

# Other modules add functions that clear their own counters (latency, slowlog-free...).
RESET_HOOKS: list = []


def reset_stats(srv) -> None:
    """resetServerStats + resetCommandTableStats + resetErrorTableStats."""
    for name, v in list(vars(srv).items()):
        if name.startswith("stat_") and type(v) in (int, float):
            setattr(srv, name, type(v)(0))
    # Byte counters are "closed clients' totals + live clients' counters": start the
    # closed part below zero so that the sum restarts at 0 now.
    live = list(srv.clients.values())
    srv.stat_net_in_closed = -sum(c.net_in for c in live)
    srv.stat_net_out_closed = -sum(c.net_out for c in live)
    srv.errorstats.clear()
    srv.ops_samples.clear()
    srv.__dict__.pop("_net_samples", None)  # instantaneous kbps (introspection.sample_net)
    for attr in ("aof_delayed_fsync",):
        if hasattr(srv, attr):
            setattr(srv, attr, 0)
    sync_stats()  # what the compiled loop counted so far is reset too
    for cmd in all_commands():
        _reset_cmd(cmd)
    for hook in RESET_HOOKS:
        hook(srv)


def _reset_cmd(cmd) -> None:
    cmd.calls = cmd.usec = cmd.rejected_calls = cmd.failed_calls = 0
    if cmd.subcommands:
        for sub in cmd.subcommands.values():
            _reset_cmd(sub)


# -- apply hooks -------------------------------------------------------------------------

def _tcp_servers(srv) -> list:
    out = []
    for s in srv.servers:
        socks = getattr(s, "sockets", None) or ()
        if any(sk.family in (socket.AF_INET, socket.AF_INET6) for sk in socks):
            out.append(s)
    return out


def _close_tcp(srv) -> None:
    for old in _tcp_servers(srv):
        old.close()
        srv.servers.remove(old)


def _bind_sockets(srv, port: int, binds: list[str]) -> list[socket.socket]:
    """Open listening sockets like listenToPort; OSError when a required one fails."""
    opened: list[socket.socket] = []
    if port == 0:
        return opened
    backlog = srv.config["tcp-backlog"]
    try:
        # an empty bind list means no TCP listener at all (listenToPort)
        for addr in binds:
            sock = bind_listener(addr, port, backlog)
            if sock is None:
                continue
            opened.append(sock)
    except OSError:
        for s in opened:
            s.close()
        raise
    return opened


def _relisten(srv, port: int, binds: list[str], err: str, close_first: bool) -> None:
    """Replace the TCP listeners. A new port is opened before the old one is closed
    (changeListenPort); new addresses on the same port need the old sockets closed first
    (changeBindAddr), and a failure there is undone by CONFIG SET's rollback, which
    applies the previous addresses again."""
    if srv.loop is None:
        return
    if close_first:
        _close_tcp(srv)
    try:
        socks = _bind_sockets(srv, port, binds)
    except OSError:
        raise ConfigError(err) from None
    if not close_first:
        _close_tcp(srv)
    from bocho.network import Client
    loop = srv.loop
    backlog = srv.config["tcp-backlog"]

    async def serve(sock: socket.socket) -> None:
        s = await loop.create_server(lambda: Client(srv), sock=sock, backlog=backlog)
        srv.servers.append(s)

    for sock in socks:
        asyncio.ensure_future(serve(sock), loop=loop)


@on_apply("port")
def apply_port(srv) -> None:
    cfg = srv.config
    _relisten(srv, cfg["port"], cfg["bind"], "Unable to listen on this port. Check server logs.",
              close_first=False)


@on_apply("bind")
def apply_bind(srv) -> None:
    cfg = srv.config
    _relisten(srv, cfg["port"], cfg["bind"], "Failed to bind to specified addresses.",
              close_first=True)
    if cfg["tls-port"] and srv.loop is not None:  # changeBindAddr moves the TLS port too
        from bocho import tls
        tls.close_listeners(srv)
        try:
            tls.relisten(srv, cfg["tls-port"])
        except OSError:
            raise ConfigError("Failed to bind to specified addresses.") from None


def adjust_open_files(srv) -> int:
    """adjustOpenFilesLimit: raise RLIMIT_NOFILE to maxclients + 32; the number of
    clients the limit we got allows (maxclients when all went well)."""
    import resource
    maxclients = srv.config["maxclients"]
    want = maxclients + 32
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or want <= soft:
        return maxclients
    # As Redis: ask for the whole amount (soft and hard), then step down by 16.
    best, err = min(want, _nr_open()), ""
    if best < want:
        err = "Operation not permitted"
    while best > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (best, best))
            break
        except (ValueError, OSError) as e:
            err = err or getattr(e, "strerror", None) or str(e)
            best -= 16
    else:
        best = soft
    if best >= want:
        log.notice(f"Increased maximum number of open files to {want} (it was originally "
                   f"set to {soft}).")
        return maxclients
    log.warning(f"Server can't set maximum open files to {want} because of OS error: {err}.")
    return max(1, best - 32)


def _nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1 << 20


def startup_limits(srv) -> None:
    """At start-up Redis lowers maxclients to what the descriptor limit allows."""
    allowed = adjust_open_files(srv)
    if allowed < srv.config["maxclients"]:
        log.warning(f"You requested maxclients of {srv.config['maxclients']} requiring at "
                    f"least {srv.config['maxclients'] + 32} max file descriptors.")
        log.warning(f"Current maximum open files is {allowed + 32}. maxclients has been "
                    f"reduced to {allowed} to compensate for low ulimit. If you need higher "
                    "maxclients increase 'ulimit -n'.")
        srv.config["maxclients"] = allowed
    if srv.config["oom-score-adj"] != "no":
        try:
            apply_oom_score(srv)
        except ConfigError:
            pass


@on_apply("maxclients")
def apply_maxclients(srv) -> None:
    allowed = adjust_open_files(srv)
    if allowed < srv.config["maxclients"]:
        raise ConfigError("The operating system is not able to handle the specified number "
                          f"of clients, try with {allowed}")


@on_apply("proc-title-template")
def apply_proc_title(srv) -> None:
    from bocho.cli import set_proc_title
    if not set_proc_title(srv.config):
        raise ConfigError("failed to set process title")


@on_apply("repl-backlog-size")
def apply_backlog_size(srv) -> None:
    """resizeReplicationBacklog: never below 16k."""
    if srv.config["repl-backlog-size"] < 16 * 1024:
        srv.config["repl-backlog-size"] = 16 * 1024


TLS_DIRECTIVES = ("tls-cluster", "tls-replication", "tls-session-cache-size",
                  "tls-session-cache-timeout", "tls-prefer-server-ciphers",
                  "tls-session-caching", "tls-cert-file", "tls-key-file", "tls-key-file-pass",
                  "tls-client-cert-file", "tls-client-key-file", "tls-client-key-file-pass",
                  "tls-dh-params-file", "tls-ca-cert-file", "tls-ca-cert-dir", "tls-protocols",
                  "tls-ciphers", "tls-ciphersuites")


@on_apply(*TLS_DIRECTIVES)
def apply_tls(srv) -> None:
    """applyTlsCfg: a new context from the tls-* directives (bocho/tls.py)."""
    from bocho import tls
    err = tls.apply_cfg(srv)
    if err:
        raise ConfigError(err)


@on_apply("tls-port")
def apply_tls_port(srv) -> None:
    from bocho import tls
    err = tls.apply_port(srv)
    if err:
        raise ConfigError(err)


@on_apply("tls-auth-clients")
def apply_tls_auth_clients(srv) -> None:
    from bocho import tls
    tls.apply_auth_clients(srv)


OOM_MASTER, OOM_REPLICA, OOM_BGCHILD = 0, 1, 2
_oom = {"adjusted": False, "base": 0}  # did we change it, and the value we found then


def set_oom_score_adj(srv, process_class: int = -1) -> None:
    """setOOMScoreAdj: write our oom_score_adj for this process class (a forked child
    passes OOM_BGCHILD); with oom-score-adj no, put back the value we found. ConfigError
    when /proc refuses."""
    cfg = srv.config
    if process_class == -1:
        process_class = OOM_REPLICA if cfg["replicaof"] else OOM_MASTER
    path = "/proc/self/oom_score_adj"
    try:
        if cfg["oom-score-adj"] != "no":
            if not _oom["adjusted"]:
                _oom["adjusted"] = True
                with open(path) as f:
                    _oom["base"] = int(f.read().strip() or 0)
            val = cfg["oom-score-adj-values"][process_class]
            if cfg["oom-score-adj"] == "yes":  # relative (the enum's first name for it)
                val += _oom["base"]
            val = max(-1000, min(1000, val))
        elif _oom["adjusted"]:
            _oom["adjusted"] = False
            val = _oom["base"]
        else:
            return
        with open(path, "w") as f:
            f.write(f"{val}\n")
    except (OSError, ValueError) as e:
        log.warning(f"Unable to write oom_score_adj: {getattr(e, 'strerror', None) or e}")
        raise ConfigError("Failed to set current oom_score_adj. Check server logs.") from None


@on_apply("oom-score-adj", "oom-score-adj-values")
def apply_oom_score(srv) -> None:
    set_oom_score_adj(srv)


