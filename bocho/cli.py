"""`bocho-server [/path/to/redis.conf] [--directive value ...] [-]`, as redis-server.

The command line is turned into config text exactly as redis-server does it (each
`--name` starts a line, each following word is appended quoted), appended after the
config file and stdin, and parsed as one text: so line numbers in errors, `--save ""`,
`--loglevel --bla` and "last one wins" all behave the same."""

from __future__ import annotations

import os
import sys

from bocho import REDIS_VERSION, __version__, log
from bocho.config import (
    Config,
    ConfigError,
    ConfigLoadError,
    ConfigOpenError,
    catrepr,
    expand_template,
    split_args,
)

USAGE = """Usage: ./redis-server [/path/to/redis.conf] [options] [-]
       ./redis-server - (read config from stdin)
       ./redis-server -v or --version
       ./redis-server -h or --help
       ./redis-server --test-memory <megabytes>
       ./redis-server --check-system

Examples:
       ./redis-server (run the server with default conf)
       echo 'maxmemory 128mb' | ./redis-server -
       ./redis-server /etc/redis/6379.conf
       ./redis-server --port 7777
       ./redis-server --port 7777 --replicaof 127.0.0.1 8888
       ./redis-server /etc/myredis.conf --loglevel verbose -
       ./redis-server /etc/myredis.conf --loglevel verbose

Sentinel mode:
       ./redis-server /etc/sentinel.conf --sentinel
"""


def version_line() -> str:
    return (f"Redis server v={REDIS_VERSION} sha=00000000:0 malloc=libc bits=64 "
            f"build=0 bocho={__version__}")


def parse_argv(args: list[str]) -> tuple[str | None, str, bool]:
    """(config file or None, options as config text, read stdin too), as redis-server's
    main() builds them."""
    conf = None
    j = 0
    if args and not args[0].startswith("-"):
        conf = args[0]
        j = 1
    options = ""
    stdin = False
    handled_last = True  # the previous `--name` already has an argument
    n = len(args)
    while j < n:
        a = args[j]
        if a == "-" and (j == 0 or j == n - 1):
            stdin = True
        elif handled_last and a.startswith("--"):
            if options:
                options += "\n"
            options += a[2:] + " "
            try:
                words = split_args(a)
            except ValueError:
                words = [a]
            if len(words) == 1:
                # Only a name: its value follows, even if it starts with "--".
                handled_last = False
                nxt = args[j + 1] if j + 1 < n else None
                low = a.lower()
                if low == "--save" and (nxt is None or nxt.startswith("--")):
                    # `--save` with no value means `--save ""` (pre-7.0.1 behaviour)
                    options += '""'
                    handled_last = nxt is not None
                elif low == "--sentinel" and (nxt is None or nxt.startswith("--")):
                    handled_last = nxt is not None
            else:
                handled_last = True  # "--port 6380" as one argument
        else:
            options += catrepr(a) + " "
            handled_last = True
        j += 1
    return conf, options, stdin


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-v", "--version"):
        print(version_line())
        return 0
    if args and args[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 1
    if args and args[0] in ("--test-memory", "--check-system"):
        sys.stderr.write(f"{args[0]} is not supported by bocho\n")
        return 1
    conf, options, stdin = parse_argv(args)
    config = Config()
    prog = os.path.basename(sys.argv[0])
    config.sentinel_mode = "--sentinel" in args or "sentinel" in prog
    # The command table must exist before the config: rename-command acts on it.
    from bocho.commands import load_all
    load_all()
    config.rename_hook = rename_command
    try:
        config.load(conf, options, stdin=stdin)
    except ConfigLoadError as e:
        sys.stderr.write(e.report(REDIS_VERSION))
        return 1
    except ConfigOpenError as e:
        log.logger.role = "C"
        path = os.path.abspath(e.path) if e.path == conf else e.path
        log.warning(f"Fatal error, can't open config file '{path}': {e.err.strerror}")
        return 1
    return start(config, conf, argc=len(args) + 1)


def rename_command(old: str, new: str) -> None:
    """`rename-command OLD NEW` (NEW "" removes the command), as Redis checks it."""
    from bocho.commands import TABLE
    cmd = TABLE.get(old.lower().encode("utf-8", "surrogateescape"))
    if cmd is None:
        raise ConfigError("No such command in rename-command")
    for k in [k for k, v in TABLE.items() if v is cmd and k.lower() == old.lower().encode()]:
        del TABLE[k]
    if new:
        key = new.lower().encode("utf-8", "surrogateescape")
        if key in TABLE:
            raise ConfigError("Target command name already exists")
        TABLE[key] = cmd
        TABLE[new.upper().encode("utf-8", "surrogateescape")] = cmd


def daemonize() -> None:
    """Fork into the background as Redis does: the parent exits, the child leads a new
    session with stdio on /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def is_supervised(mode: str) -> bool:
    if mode == "systemd":
        return True
    return mode == "auto" and bool(os.environ.get("NOTIFY_SOCKET"))


def start(config: Config, conf: str | None, argc: int = 2) -> int:
    supervised = is_supervised(config["supervised"])
    if config["daemonize"] and not supervised:
        daemonize()
        if not config["pidfile"]:
            config["pidfile"] = "/var/run/redis.pid"  # a daemon always has one
    log.logger.configure(config["loglevel"], config["logfile"])
    log.logger.role = "C"  # as Redis, until the server is initialised
    pid = os.getpid()
    log.warning("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo")
    log.warning(f"Redis version={REDIS_VERSION}, bits=64, commit=00000000, modified=0, "
                f"pid={pid}, just started")
    if argc == 1:
        log.warning("Warning: no config file specified, using the default config. In order "
                    f"to specify a config file use {sys.argv[0]} /path/to/redis.conf")
    else:
        log.warning("Configuration loaded")
    from bocho.server import Server, banner
    exe = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    server = Server(config, config_file=config.file, executable=exe, argv=sys.argv[:])
    log.logger.role = "M"
    from bocho.commands.config_cmds import startup_limits
    from bocho.commands.introspection import sample_net
    startup_limits(server)
    server.hooks_on_cron.append(lambda: sample_net(server))
    set_proc_title(config)
    show_logo = (config["always-show-logo"]
                 or (not config["syslog-enabled"] and not config["logfile"] and sys.stdout.isatty()))
    if show_logo:
        log.logger.raw(banner(server))
    else:
        mode = "cluster" if config["cluster-enabled"] else "standalone"
        log.notice(f"Running mode={mode}, port={config['port'] or config['tls-port']}.")
    if supervised:
        sd_notify("READY=1")
    return server.run()


def sd_notify(msg: str) -> None:
    """Tell systemd we are up (supervised systemd)."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    import socket
    if path.startswith("@"):
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(path)
            s.sendall(msg.encode())
    except OSError:
        pass


def program_name() -> str:
    """argv[0] as Redis sees its own: the console script's path, or under `python -m
    bocho` what the python binary was exec'd as (a wrapper can name it, `exec -a`)."""
    if not sys.argv:
        return "bocho-server"
    if sys.argv[0].endswith("__main__.py"):
        return sys.orig_argv[0]
    return sys.argv[0]


def proc_title(config: Config, title: str | None = None) -> str | None:
    """proc-title-template expanded as Redis's redisProcTitleGetVariable does."""
    if title is None:
        title = program_name()
    port, tls = config["port"], config["tls-port"]

    def var(name: str) -> str | None:
        if name == "title":
            return title
        if name == "listen-addr":
            if port or tls:
                return f"{(config['bind'] or ['*'])[0]}:{port or tls}"
            return f"unixsocket:{config['unixsocket']}"
        if name == "server-mode":
            if config["cluster-enabled"]:
                return "[cluster]"
            return "[sentinel]" if config.sentinel_mode else ""
        if name == "config-file":
            return config.file or "-"
        if name == "port":
            return str(port)
        if name == "tls-port":
            return str(tls)
        if name == "unixsocket":
            return config["unixsocket"]
        return None

    res = expand_template(config["proc-title-template"], var)
    return None if res is None else res.strip(" ")


def set_proc_title(config: Config) -> bool:
    if not config["set-proc-title"]:
        return True
    title = proc_title(config)
    if title is None:
        return False
    try:
        import setproctitle
    except ImportError:
        return True
    setproctitle.setproctitle(title)
    return True
