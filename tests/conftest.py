"""Fixtures: real bocho-server processes on free loopback ports (bocho.testing)."""

from __future__ import annotations

import os
import shutil

import pytest

from bocho.testing.server import ServerProcess

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="module")
def server():
    """One bocho-server for the test module; tests get a flushed client from `r`."""
    srv = ServerProcess()
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture
def r(server):
    c = server.client()
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def r3(server):
    """A RESP3 client."""
    c = server.client(protocol=3)
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def make_server(tmp_path):
    """Factory for extra servers with their own config; all stopped at test end."""
    started: list[ServerProcess] = []

    def make(**kw) -> ServerProcess:
        srv = ServerProcess(**kw)
        started.append(srv)
        return srv.start() if kw.get("wait_ready", True) else srv

    yield make
    for srv in started:
        srv.cleanup()


def debian_binary(name: str) -> str:
    """A Debian Redis binary (redis-server, redis-check-rdb...) as an oracle; in CI its
    absence fails the test."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (apt-get install redis-server)")
        pytest.skip(f"{name} not installed")
    return path


def redis_server_binary() -> str | None:
    return debian_binary("redis-server")


@pytest.fixture
def pair(server, oracle):
    """(bocho client, redis client) factory, both flushed, for a protocol version."""
    made = []

    def make(protocol=2):
        a = server.client(protocol=protocol)
        b = oracle.client(protocol=protocol)
        a.flushall()
        b.flushall()
        made.extend((a, b))
        return a, b

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="module")
def oracle():
    """A real redis-server to compare against."""
    path = redis_server_binary()
    srv = ServerProcess(binary=path)
    srv.start()
    yield srv
    srv.cleanup()


@pytest.fixture
def inproc():
    """A Server and one socketless Client (no replica or AOF to read propagation from
    yet): commands run through Client.call, every propagated command is recorded in
    run.log as (db, argv); run.argvs() gives the argvs alone."""
    from bocho.commands import load_all
    from bocho.config import Config
    from bocho.network import Client
    from bocho.server import Server

    load_all()
    cfg = Config()
    cfg["save"] = []  # as the test servers (`save ""`): FLUSHALL writes no dump.rdb here
    srv = Server(cfg)
    c = Client(srv)
    log: list[tuple[int, list[bytes]]] = []
    srv.add_propagate_hook(lambda db, argv: log.append((db, [bytes(a) for a in argv])))

    def run(*args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        c.out.clear()
        c.call(argv)
        return b"".join(c.out)

    run.server = srv
    run.log = log
    run.argvs = lambda: [argv for _, argv in log]
    return run


@pytest.fixture
def deferred(server):
    """Factory of deferring clients (raw.Deferred) of `server`, closed at test end."""
    from raw import Deferred
    made = []

    def make(protocol=2):
        d = Deferred(server, protocol)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
