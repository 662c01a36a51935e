"""RDB snapshots end to end, on real bocho-server processes: SAVE / BGSAVE by a forked
child and a restart that loads the dump, crashes of the child or the parent in the middle
of a BGSAVE, bad files refused at start-up, save points, SHUTDOWN's save, -LOADING while a
slow load runs, the INFO persistence fields, and dumps exchanged with real Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis

from bocho.testing.server import ServerProcess, wait_until
from tests.conftest import redis_server_binary

MISCONF = "MISCONF Redis is configured to save RDB snapshots"


def client(s: ServerProcess, **kw):
    """A client that shows BGSAVE's status reply as sent."""
    c = s.client(**kw)
    c.set_response_callback("BGSAVE", lambda r, **kw: r)
    return c


def persistence(c) -> dict:
    return c.info("persistence")


def child_of(pid: int) -> int:
    """The server's forked child (as the TCL suite's get_child_pid: pgrep -P)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return int(out.split()[0])


def wait_bgsave_done(c) -> None:
    wait_until(lambda: persistence(c)["rdb_bgsave_in_progress"] == 0, msg="bgsave end")


def restart(old: ServerProcess, make_server, **config) -> ServerProcess:
    """A new server on the same dir (and port) as old, which is stopped first."""
    old.stop()
    cfg = {k: v for k, v in old.config.items()}
    cfg.update(config)
    return make_server(dir=old.dir, port=old.port, config=cfg)


def kill9(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def dump_dir(tmp_path):
    return str(tmp_path)


def test_save_and_restart_restores_data(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.set("a", "1")
    c.set("big", "x" * 5000)
    c.set("ttl", "v", ex=1000)
    c.select(3)
    c.set("in3", "three")
    assert c.save() is True
    assert persistence(c)["rdb_changes_since_last_save"] == 0
    assert c.lastsave()
    s2 = restart(s, make_server)
    c2 = client(s2)
    assert c2.get("a") == b"1"
    assert c2.get("big") == b"x" * 5000
    assert 990 < c2.ttl("ttl") <= 1000
    c2.select(3)
    assert c2.get("in3") == b"three"
    assert "Done loading RDB, keys loaded: 4, keys expired: 0." in s2.log()
    assert "DB loaded from disk:" in s2.log()
    assert persistence(c2)["rdb_last_load_keys_loaded"] == 4


def test_bgsave_forks_and_restart_loads(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    for i in range(200):
        c.set(f"k{i}", f"v{i}")
    assert c.execute_command("BGSAVE") == b"Background saving started"
    wait_bgsave_done(c)
    p = persistence(c)
    assert p["rdb_last_bgsave_status"] == "ok"
    assert p["rdb_changes_since_last_save"] == 0
    assert p["rdb_saves"] == 1
    assert p["rdb_last_bgsave_time_sec"] >= 0
    assert p["rdb_last_cow_size"] > 0
    st = c.info("stats")
    assert st["total_forks"] == 1 and st["latest_fork_usec"] > 0
    log = s.log()
    assert "Background saving started by pid" in log
    assert "Background saving terminated with success" in log
    assert "Fork CoW for RDB: current" in log
    s2 = restart(s, make_server)
    c2 = client(s2)
    assert c2.dbsize() == 200
    assert c2.get("k199") == b"v199"


def test_bgsave_errors_and_schedule(make_server, dump_dir):
    s = make_server(dir=dump_dir, config={"rdb-key-save-delay": "100000"})
    c = client(s)
    for i in range(30):
        c.set(f"k{i}", "v")
    assert c.execute_command("BGSAVE") == b"Background saving started"
    with pytest.raises(redis.ResponseError, match="Background save already in progress"):
        c.execute_command("BGSAVE")
    with pytest.raises(redis.ResponseError, match="Background save already in progress"):
        c.execute_command("SAVE")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        c.execute_command("BGSAVE", "foo")
    assert persistence(c)["rdb_bgsave_in_progress"] == 1
    kill9(child_of(s.pid))
    wait_bgsave_done(c)
    # inside MULTI a BGSAVE is scheduled, then run by the cron
    c.config_set("rdb-key-save-delay", "0")
    pipe = c.pipeline(transaction=True)
    pipe.execute_command("BGSAVE")
    assert pipe.execute() == [b"Background saving scheduled"]
    wait_until(lambda: persistence(c)["rdb_last_bgsave_status"] == "ok", msg="scheduled save")


def test_killed_child_keeps_old_dump_and_refuses_writes(make_server, dump_dir):
    s = make_server(dir=dump_dir, config={"save": "3600 1000000"})
    c = client(s)
    c.set("old", "1")
    assert c.save()
    path = os.path.join(dump_dir, "dump.rdb")
    before = open(path, "rb").read()
    for i in range(50):
        c.set(f"k{i}", "v")
    c.config_set("rdb-key-save-delay", "100000")
    c.execute_command("BGSAVE")
    child = child_of(s.pid)
    tmp = os.path.join(dump_dir, f"temp-{child}.rdb")
    wait_until(lambda: os.path.exists(tmp), msg="temp file")
    kill9(child)
    wait_bgsave_done(c)
    assert open(path, "rb").read() == before
    assert not os.path.exists(tmp)
    assert persistence(c)["rdb_last_bgsave_status"] == "err"
    assert "Background saving terminated by signal 9" in s.log()
    assert c.get("old") == b"1"  # reads still work
    with pytest.raises(redis.ResponseError, match=MISCONF):
        c.set("x", "y")
    with pytest.raises(redis.ResponseError, match=MISCONF):
        c.eval("return redis.call('set','x',1)", 1, "x")
    assert c.eval("return redis.call('get','old')", 1, "old") == b"1"
    c.config_set("rdb-key-save-delay", "0")
    c.execute_command("BGSAVE")
    wait_bgsave_done(c)
    assert persistence(c)["rdb_last_bgsave_status"] == "ok"
    assert c.set("x", "y")


def test_killed_parent_leaves_old_dump_for_restart(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.set("old", "kept")
    assert c.save()
    for i in range(50):
        c.set(f"k{i}", "v")
    c.config_set("rdb-key-save-delay", "200000")
    c.execute_command("BGSAVE")
    child = child_of(s.pid)
    kill9(s.pid)
    kill9(child)
    s.wait_exit()
    s2 = make_server(dir=dump_dir, port=s.port)
    c2 = client(s2)
    assert c2.dbsize() == 1
    assert c2.get("old") == b"kept"


@pytest.mark.parametrize("damage,needle", [
    (lambda d: d[:-20], "Short read or OOM loading DB"),
    (lambda d: d[:-8] + b"foobar00", "RDB CRC error"),
])
def test_bad_file_stops_startup_and_is_untouched(make_server, dump_dir, damage, needle):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.set("a", "1")
    c.set("b", "2")
    assert c.save()
    s.stop()
    path = os.path.join(dump_dir, "dump.rdb")
    bad = damage(open(path, "rb").read())
    open(path, "wb").write(bad)
    seen = len(s.log())
    s2 = make_server(dir=dump_dir, wait_ready=False).start()
    assert s2.wait_exit() == 1
    log = s2.log()[seen:]
    assert needle in log
    assert "Internal error in RDB reading offset" in log
    assert f"Failed loading RDB file {path} at offset" in log
    assert "Terminating server after rdb file reading failure." in log
    assert "Ready to accept connections" not in log
    assert open(path, "rb").read() == bad


def test_save_point_triggers_bgsave(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.config_set("save", "1 2")
    c.set("a", "1")
    c.set("b", "2")
    assert s.wait_for_log("2 changes in 1 seconds. Saving...")
    wait_until(lambda: "Background saving terminated with success" in s.log(), msg="save")
    assert persistence(c)["rdb_changes_since_last_save"] == 0
    assert os.path.exists(os.path.join(dump_dir, "dump.rdb"))


def test_shutdown_saves_and_refuses_when_save_fails(make_server, dump_dir):
    s = make_server(dir=dump_dir, config={"save": "3600 1"})
    c = client(s)
    c.set("a", "1")
    path = os.path.join(dump_dir, "dump.rdb")
    os.mkdir(path)  # the rename fails: SHUTDOWN must not exit
    with pytest.raises(redis.ResponseError, match="Errors trying to SHUTDOWN"):
        c.shutdown()
    assert c.ping()
    assert "Error trying to save the DB, can't exit." in s.log()
    os.rmdir(path)
    c.shutdown()
    assert s.wait_exit() == 0
    assert "Saving the final RDB snapshot before exiting." in s.log()
    s2 = make_server(dir=dump_dir)
    assert s2.client().get("a") == b"1"


def test_sigterm_saves_with_save_points(make_server, dump_dir):
    s = make_server(dir=dump_dir, config={"save": "3600 1"})
    s.client().set("a", "sig")
    assert s.stop() == 0
    s2 = make_server(dir=dump_dir)
    assert s2.client().get("a") == b"sig"


def test_shutdown_kills_bgsave_child_and_removes_temp(make_server, dump_dir):
    s = make_server(dir=dump_dir, config={"rdb-key-save-delay": "100000"})
    c = client(s)
    for i in range(20):
        c.set(f"k{i}", "v")
    c.execute_command("BGSAVE")
    child = child_of(s.pid)
    tmp = os.path.join(dump_dir, f"temp-{child}.rdb")
    wait_until(lambda: os.path.exists(tmp), msg="temp file")
    c.shutdown(nosave=True)
    assert s.wait_exit() == 0
    assert not os.path.exists(tmp)
    wait_until(lambda: not os.path.exists(f"/proc/{child}") or
               open(f"/proc/{child}/stat").read().split()[2] == "Z", msg="child gone")
    assert "There is a child saving an .rdb. Killing it!" in s.log()


def test_flushall_writes_empty_dump_with_save_points(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.set("a", "1")
    assert c.save()
    c.flushall()  # no save points: the dump stays
    s2 = restart(s, make_server)
    c2 = client(s2)
    assert c2.get("a") == b"1"
    c2.config_set("save", "3600 1")
    c2.flushall()
    assert persistence(c2)["rdb_changes_since_last_save"] == 0
    s3 = restart(s2, make_server)
    assert s3.client().dbsize() == 0


def test_loading_reply_during_slow_load(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.execute_command("DEBUG", "POPULATE", "3000", "key", "100")
    assert c.save()
    s.stop()
    seen = len(s.log())
    s2 = make_server(dir=dump_dir, wait_ready=False, port=s.port,
                     config={"key-load-delay": "1000",
                             "loading-process-events-interval-bytes": "1024"}).start()

    def ask(cmd: bytes) -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", s2.port), timeout=5) as sock:
                sock.sendall(cmd)
                return sock.recv(65536)
        except OSError:
            return b""

    wait_until(lambda: ask(b"GET key:1\r\n").startswith(b"-LOADING Redis is loading the "
                                                        b"dataset in memory"),
               msg="a LOADING reply")
    p = ask(b"INFO persistence\r\n")
    assert b"loading:1" in p
    assert b"loading_total_bytes:" in p and b"loading_loaded_perc:" in p
    assert "Ready to accept connections" not in s2.log()[seen:]
    c2 = client(s2)
    wait_until(lambda: persistence(c2)["loading"] == 0, timeout=30, msg="end of loading")
    assert c2.dbsize() == 3000
    assert s2.wait_for_log("Ready to accept connections")


def test_debug_reload(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.set("a", "1")
    c.set("t", "2", px=100000)
    assert c.execute_command("DEBUG", "RELOAD") == b"OK"
    assert c.get("a") == b"1" and c.pttl("t") > 0
    c.set("b", "2")
    assert c.execute_command("DEBUG", "RELOAD", "NOSAVE") == b"OK"
    assert c.get("b") is None
    os.unlink(os.path.join(dump_dir, "dump.rdb"))
    with pytest.raises(redis.ResponseError, match="Error trying to load the RDB dump"):
        c.execute_command("DEBUG", "RELOAD", "NOSAVE")
    with pytest.raises(redis.ResponseError, match="only supports the MERGE"):
        c.execute_command("DEBUG", "RELOAD", "BLA")
    # a library (or key) already there: an error without MERGE, replaced with it
    c.function_load("#!lua name=lib\nredis.register_function('f', function() return 1 end)")
    with pytest.raises(redis.ResponseError, match="Error trying to load the RDB dump"):
        c.execute_command("DEBUG", "RELOAD", "NOFLUSH")
    assert "Failed loading library, Library 'lib' already exists" in s.log()
    assert c.execute_command("DEBUG", "RELOAD", "NOFLUSH", "MERGE") == b"OK"
    assert c.fcall("f", 0) == 1
    # a bad file is an error reply, not the end of the server
    path = os.path.join(dump_dir, "dump.rdb")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 5)
    with pytest.raises(redis.ResponseError, match="Error trying to load the RDB dump"):
        c.execute_command("DEBUG", "RELOAD", "NOSAVE")
    assert c.ping()


def test_redis_reads_bocho_dump_and_bocho_reads_redis_dump(make_server, tmp_path):
    binary = redis_server_binary()
    ours = tmp_path / "ours"
    theirs = tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    s = make_server(dir=str(ours))
    c = client(s)
    data = {b"s": b"hello", b"i": b"12345", b"neg": b"-7", b"big": b"ab" * 3000,
            b"empty": b""}
    for k, v in data.items():
        c.set(k, v)
    c.set("ttl", "x", ex=5000)
    assert c.save()
    path = str(ours / "dump.rdb")
    check = subprocess.run(["redis-check-rdb", path], capture_output=True, text=True)
    assert "RDB looks OK" in check.stdout, check.stdout
    shutil.copy(path, theirs / "dump.rdb")
    r = make_server(binary=binary, dir=str(theirs))
    rc = client(r)
    for k, v in data.items():
        assert rc.get(k) == v
    assert rc.ttl("ttl") > 4900
    rc.set("from-redis", "yes")
    assert rc.save()
    shutil.copy(theirs / "dump.rdb", ours / "dump.rdb")
    s2 = restart(s, make_server)
    c2 = client(s2)
    assert c2.get("from-redis") == b"yes"
    assert c2.get("big") == b"ab" * 3000
    assert "Loading RDB produced by version 7.0.15" in s2.log()


def test_every_type_survives_bgsave_and_restart(make_server, dump_dir):
    s = make_server(dir=dump_dir)
    c = client(s)
    c.rpush("list", *range(10))
    c.rpush("biglist", *(f"e{i}" * 20 for i in range(300)))
    c.hset("hash", mapping={"a": "1", "b": "x" * 100})
    c.hset("bighash", mapping={f"f{i}": i for i in range(600)})
    c.sadd("intset", 1, 2, 3)
    c.sadd("set", *(f"m{i}" for i in range(200)))
    c.zadd("zset", {"a": 1.5, "b": -2})
    c.zadd("bigzset", {f"z{i}": i / 3 for i in range(300)})
    c.xadd("stream", {"f": "v"})
    c.set("str", "v", px=500000)
    c.select(5)
    c.lpush("l5", "x")
    digest = c.execute_command("DEBUG", "DIGEST")
    c.execute_command("BGSAVE")
    wait_bgsave_done(c)
    assert persistence(c)["rdb_last_bgsave_status"] == "ok"
    s2 = restart(s, make_server)
    c2 = client(s2)
    assert c2.execute_command("DEBUG", "DIGEST") == digest
    assert c2.execute_command("DEBUG", "RELOAD") == b"OK"
    assert c2.execute_command("DEBUG", "DIGEST") == digest


def test_failed_save_point_bgsave_retries_after_delay(make_server, dump_dir):
    s = make_server(dir=dump_dir, config={"rdb-key-save-delay": "1000000"})
    c = client(s)
    c.set("a", "1")
    c.config_set("save", "1 1")
    line = "1 changes in 1 seconds. Saving..."
    assert s.wait_for_log(line)
    kill9(child_of(s.pid))
    wait_bgsave_done(c)
    failed_at = time.monotonic()
    assert persistence(c)["rdb_last_bgsave_status"] == "err"
    with pytest.raises(redis.ResponseError, match=MISCONF):
        c.ping()
    c.config_set("stop-writes-on-bgsave-error", "no")
    assert c.set("b", "2")
    c.config_set("rdb-key-save-delay", "0")
    wait_until(lambda: s.log().count(line) == 2, timeout=15, msg="the retry")
    assert time.monotonic() - failed_at > 4
    wait_until(lambda: persistence(c)["rdb_last_bgsave_status"] == "ok", msg="good save")
