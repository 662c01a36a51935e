"""`bocho-server [/path/to/redis.conf] [--directive value ...]`, as redis-server."""

from __future__ import annotations

import os
import sys

from bocho import REDIS_VERSION, __version__, log
from bocho.config import Config, ConfigLoadError, ConfigOpenError

USAGE = """Usage: ./bocho-server [/path/to/redis.conf] [options] [-]
       ./bocho-server - (read config from stdin)
       ./bocho-server -v or --version
       ./bocho-server -h or --help

Examples:
       ./bocho-server (run the server with default conf)
       ./bocho-server /etc/redis/6379.conf
       ./bocho-server --port 7777
       ./bocho-server --port 7777 --replicaof 127.0.0.1 8888
       ./bocho-server /etc/myredis.conf --loglevel verbose -
       ./bocho-server /etc/myredis.conf --loglevel verbose
"""


def version_line() -> str:
    return (f"Redis server v={REDIS_VERSION} sha=00000000:0 malloc=libc bits=64 "
            f"build=0 bocho={__version__}")


def split_argv(args: list[str]) -> tuple[str | None, list[tuple[str, list[str]]], bool]:
    """(config file or None, [(directive, args)], read stdin too). A `--name` starts a
    directive; following words are its arguments, except that a `--word` right after a
    directive that has no argument yet is taken as its argument (`--loglevel --bla`)."""
    conf = None
    i = 0
    if args and not args[0].startswith("--") and args[0] != "-":
        conf = args[0]
        i = 1
    lines: list[tuple[str, list[str]]] = []
    stdin = False
    while i < len(args):
        a = args[i]
        if a == "-":
            stdin = True
        elif a.startswith("--") and (not lines or lines[-1][1] or i + 1 == len(args)
                                     or lines[-1][0] == ""):
            lines.append((a[2:].lower(), []))
        elif lines:
            lines[-1][1].append(a)
        else:
            lines.append(("", [a]))
        i += 1
    return conf, lines, stdin


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-v", "--version"):
        print(version_line())
        return 0
    if args and args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if args and args[0] == "--test-memory":
        print("--test-memory is not supported by bocho", file=sys.stderr)
        return 1
    conf, lines, stdin = split_argv(args)
    config = Config()
    try:
        if stdin and conf is None:
            conf = "-"
        config.load(conf, lines)
    except ConfigLoadError as e:
        sys.stderr.write(e.report(REDIS_VERSION))
        return 1
    except ConfigOpenError as e:
        sys.stderr.write(f"Fatal error, can't open config file '{os.path.abspath(e.path)}': "
                         f"{e.err.strerror}\n")
        return 1
    return start(config, conf)


def start(config: Config, conf: str | None) -> int:
    log.logger.configure(config["loglevel"], config["logfile"])
    if config["dir"]:
        try:
            os.chdir(config["dir"])
        except OSError as e:
            sys.stderr.write(f"Can't chdir to '{config['dir']}': {e.strerror}\n")
            return 1
    pid = os.getpid()
    log.notice("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo")
    log.notice(f"Redis version={REDIS_VERSION}, bits=64, commit=00000000, modified=0, "
               f"pid={pid}, just started (bocho {__version__})")
    if conf is None:
        log.warning("Warning: no config file specified, using the default config. In order "
                    "to specify a config file use bocho-server /path/to/redis.conf")
    else:
        log.notice("Configuration loaded")
    set_proc_title(config)
    from bocho.commands import load_all
    from bocho.server import Server, banner
    load_all()
    server = Server(config, config_file=None if conf in (None, "-") else os.path.abspath(conf),
                    executable=os.path.abspath(sys.argv[0]), argv=sys.argv[:])
    if config["always-show-logo"] or sys.stdout.isatty():
        log.logger.raw(banner(server))
    else:
        mode = "cluster" if config["cluster-enabled"] else "standalone"
        log.notice(f"Running mode={mode}, port={config['port']}.")
    return server.run()


def set_proc_title(config: Config) -> None:
    if not config["set-proc-title"]:
        return
    try:
        import setproctitle
    except ImportError:
        return
    tmpl = config["proc-title-template"]
    title = (tmpl.replace("{title}", sys.argv[0])
             .replace("{listen-addr}", f"{(config['bind'] or ['*'])[0]}:{config['port']}")
             .replace("{server-mode}", "[cluster]" if config["cluster-enabled"] else "")
             .replace("{port}", str(config["port"]))
             .replace("{tls-port}", str(config["tls-port"]))
             .replace("{unixsocket}", config["unixsocket"])
             .replace("{config-file}", ""))
    setproctitle.setproctitle(title.strip())
