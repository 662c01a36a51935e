"""A replica's diskless load: the one RDB reader fed the master's payload as it comes
(rdb.Loader, pure logic), then real processes: a swapdb load serves the old data while
the master's payload is still coming and the new one after; a master going away
mid-transfer leaves the old data (swapdb) or none (disabled); other clients get
-LOADING while a load without swapdb is under way."""

from __future__ import annotations

import random
import signal

import pytest

from bocho.persistence import rdb
from bocho.persistence.rdbio import RdbError
from bocho.testing.server import wait_until
from tests.test_rdb_types import Local, contents, new_server, populate_cmds, run_all, save_bytes


def _saved() -> bytes:
    srv = new_server()
    call = Local(srv)
    run_all(call, populate_cmds(big=False))
    call("function", "load", "#!lua name=lib\nredis.register_function('f', "
         "function() return 1 end)")
    return srv, save_bytes(srv)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_loader_fed_in_pieces_reads_what_a_whole_load_reads(seed):
    src, data = _saved()
    rnd = random.Random(seed)
    srv = new_server()
    ld = rdb.Loader(srv)
    pos = 0
    while pos < len(data):
        n = rnd.choice((1, 2, 7, 100, 4096, 70000))
        done = ld.feed(data[pos:pos + n])
        pos += n
        assert not done or pos >= len(data)
        while ld.more():  # with a budget too: what the replica does between events
            ld.feed(b"", budget=rnd.choice((1, 50, 5000)))
    assert ld.feed(b"", final=True)
    assert ld.res.keys_loaded == rdb.load(new_server(), data).keys_loaded
    assert contents(Local(srv)) == contents(Local(src))
    assert Local(srv)("fcall", "f", 0) == 1


def test_loader_fed_in_pieces_checks_the_crc_and_the_end():
    _, data = _saved()
    bad = bytearray(data)
    bad[-1] ^= 1
    ld = rdb.Loader(new_server())
    for i in range(0, len(bad), 1000):
        ld.feed(bytes(bad[i:i + 1000]))
    with pytest.raises(RdbError, match="Wrong RDB checksum"):
        ld.feed(b"", final=True)
    ld = rdb.Loader(new_server())
    ld.feed(data[:len(data) // 2])
    with pytest.raises(RdbError, match="Unexpected EOF"):
        ld.feed(b"", final=True)


def test_loader_into_other_dbs_leaves_the_servers_and_the_functions_to_the_caller():
    _, data = _saved()
    srv = new_server()
    Local(srv)("set", "old", "1")
    from bocho.db import Database
    fresh = [Database(srv, i) for i in range(len(srv.dbs))]
    ld = rdb.Loader(srv, dbs=fresh, load_functions=False)
    assert ld.feed(data, final=True)
    assert list(srv.dbs[0].data) == [b"old"]
    assert sum(len(d.data) for d in fresh) == ld.res.keys_loaded
    assert len(ld.res.functions) == 1


# -- real processes: bocho master and replica -----------------------------------------------

def _persistence(c) -> dict:
    return c.info("persistence")


def _slow_master(make_server, keys: int = 400, delay_us: int = 5000):
    """A bocho master whose full sync payload takes keys * delay_us to come."""
    m_srv = make_server(config={"repl-diskless-sync": "yes", "repl-diskless-sync-delay": "0",
                                "rdbcompression": "no"})
    m = m_srv.client()
    m.execute_command("DEBUG", "POPULATE", keys, "master", 5000)
    m.config_set("rdb-key-save-delay", delay_us)
    return m_srv, m


def test_swapdb_load_serves_the_old_data_while_the_payload_comes(make_server):
    """Same history (async_loading): reads get the old data while the payload is being
    read (and loaded as it comes: loading_loaded_bytes moves), the new data after."""
    m_srv, m = _slow_master(make_server)
    m.config_set("rdb-key-save-delay", 0)
    r_srv = make_server(config={"repl-diskless-load": "swapdb",
                                "loading-process-events-interval-bytes": "1024"})
    r = r_srv.client()
    r.execute_command("REPLICAOF", "127.0.0.1", m_srv.port)
    wait_until(lambda: r.info("replication")["master_link_status"] == "up", msg="first sync")
    r.config_set("replica-read-only", "no")
    r.set("mine", "old")
    m.config_set("rdb-key-save-delay", 5000)
    with m.pipeline(transaction=True) as p:  # a full sync again, on the same history
        p.execute_command("CLIENT", "KILL", "TYPE", "replica")
        p.set("new", "1")  # after the kill: only the coming payload carries it
        p.config_set("repl-backlog-size", 16384)
        for i in range(10):
            p.set(f"fill{i}", "A" * 16384)
        p.execute()
    wait_until(lambda: _persistence(r)["async_loading"] == 1, msg="async_loading")
    first = _persistence(r)["loading_loaded_bytes"]
    wait_until(lambda: _persistence(r)["loading_loaded_bytes"] > first, msg="loading as it comes")
    info = _persistence(r)
    assert info["async_loading"] == 1 and info["loading"] == 0
    assert r.get("mine") == b"old" and r.get("new") is None
    m.config_set("rdb-key-save-delay", 0)
    wait_until(lambda: r.info("replication")["master_link_status"] == "up"
               and _persistence(r)["async_loading"] == 0, msg="second sync")
    assert r.get("mine") is None and r.get("new") == b"1"
    assert r.dbsize() == m.dbsize()


@pytest.mark.parametrize("mode,kept", [("swapdb", True), ("disabled", True),
                                       ("on-empty-db", False)])
def test_master_killed_mid_transfer(make_server, mode, kept):
    """swapdb: the old data stays; disabled: nothing was flushed yet (the payload goes to
    disk first); on-empty-db on an empty replica: the keys loaded so far go."""
    m_srv, m = _slow_master(make_server)
    r_srv = make_server(config={"repl-diskless-load": mode,
                                "loading-process-events-interval-bytes": "1024"})
    r = r_srv.client()
    if kept:
        r.execute_command("DEBUG", "POPULATE", 50, "old", 10)
    r.execute_command("REPLICAOF", "127.0.0.1", m_srv.port)
    if mode == "disabled":
        wait_until(lambda: r.info("replication").get("master_sync_read_bytes", 0) > 0,
                   msg="transfer")
    else:
        wait_until(lambda: _persistence(r).get("loading_loaded_bytes", 0) > 0,
                   msg="loading")
        assert _persistence(r)["loading"] == 1
    m_srv.stop(signal.SIGKILL)
    wait_until(lambda: _persistence(r)["loading"] == 0
               and r.info("replication")["master_sync_in_progress"] == 0, msg="abort")
    assert r.dbsize() == (50 if kept else 0)
    if kept:
        assert r.get("old:0") == b"value:0\0\0\0"  # POPULATE pads to 10 bytes
    if mode != "disabled":
        assert "Unexpected EOF reading RDB file" in r_srv.log()


def test_loading_answered_during_a_slow_load(make_server):
    """Clients are served during the load (disk-based here, key-load-delay slowing it):
    -LOADING for data commands, INFO's loading fields moving."""
    m_srv = make_server(config={"repl-diskless-sync-delay": "0"})
    m = m_srv.client()
    m.execute_command("DEBUG", "POPULATE", 2000, "k", 100)
    r_srv = make_server(config={"key-load-delay": "1000",  # 2000 keys: 2 s
                                "loading-process-events-interval-bytes": "1024"})
    r = r_srv.client()
    r.execute_command("REPLICAOF", "127.0.0.1", m_srv.port)
    wait_until(lambda: _persistence(r)["loading"] == 1, msg="loading")
    # (redis-py retries LOADING: ask with redis-cli)
    assert r_srv.cli("GET", "k:1").stdout.startswith("LOADING")
    first = _persistence(r)["loading_loaded_bytes"]
    wait_until(lambda: _persistence(r)["loading_loaded_bytes"] > first, msg="progress")
    assert _persistence(r)["loading_total_bytes"] > first
    r.config_set("key-load-delay", 0)  # CONFIG SET is served while loading
    wait_until(lambda: r.info("replication")["master_link_status"] == "up", msg="sync")
    assert r.dbsize() == 2000 and r.get("k:1").startswith(b"value:1\0")


def test_a_record_bigger_than_the_read_ahead_loads(make_server):
    """A value larger than what the replica reads ahead of its loader (1 MB) still
    comes whole: the socket is read on while the loader waits for the record's end."""
    m_srv = make_server(config={"repl-diskless-sync": "yes", "repl-diskless-sync-delay": "0",
                                "rdbcompression": "no"})
    m = m_srv.client()
    m.set("big", b"x" * (5 << 20))
    m.rpush("biglist", *[b"y" * 100000 for _ in range(40)])
    r_srv = make_server(config={"repl-diskless-load": "swapdb"})
    r = r_srv.client()
    r.execute_command("REPLICAOF", "127.0.0.1", m_srv.port)
    wait_until(lambda: r.info("replication")["master_link_status"] == "up", msg="sync")
    assert r.strlen("big") == 5 << 20 and r.llen("biglist") == 40


def test_watchdog_fires_during_a_load_which_goes_on(make_server):
    """watchdog-period: the cron does not push the SIGALRM back while loading (Redis's
    does not run then), so a slow load logs WATCHDOG TIMER EXPIRED, and carries on."""
    m_srv, m = _slow_master(make_server, keys=200, delay_us=10000)
    r_srv = make_server(config={"repl-diskless-load": "on-empty-db"})
    r = r_srv.client()
    r.config_set("watchdog-period", 200)
    r.execute_command("REPLICAOF", "127.0.0.1", m_srv.port)
    wait_until(lambda: "Loading DB in memory" in r_srv.log(), msg="loading")
    wait_until(lambda: "--- WATCHDOG TIMER EXPIRED ---" in r_srv.log(), msg="watchdog")
    assert _persistence(r)["loading"] == 1
    assert "Reconnecting to MASTER" not in r_srv.log()
    r.config_set("watchdog-period", 0)
    m.config_set("rdb-key-save-delay", 0)
    wait_until(lambda: r.info("replication")["master_link_status"] == "up", msg="sync")
    assert r.dbsize() == 200
