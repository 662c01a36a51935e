"""SHUTDOWN and the shutdown signals: log lines, exit codes, ABORT, refusal on save errors."""

import os
import signal

import pytest
import redis

from bocho.testing.server import wait_until


def _gone(srv):
    return srv.wait_exit(10)


def test_shutdown_nosave(make_server):
    srv = make_server()
    c = srv.client()
    c.shutdown(nosave=True)  # redis-py treats the dropped connection as success
    assert _gone(srv) == 0
    log = srv.log()
    assert "User requested shutdown..." in log
    assert "Redis is now ready to exit, bye bye..." in log


def test_shutdown_syntax_and_abort(make_server):
    srv = make_server()
    c = srv.client()
    for args in (("SAVE", "NOSAVE"), ("ABORT", "NOW"), ("BAD",)):
        with pytest.raises(redis.ResponseError, match="syntax error"):
            c.execute_command("SHUTDOWN", *args)
    with pytest.raises(redis.ResponseError, match="No shutdown in progress."):
        c.execute_command("SHUTDOWN", "ABORT")


def test_sigterm_abort_while_cron_paused(make_server):
    srv = make_server()
    c = srv.client()
    c.execute_command("DEBUG", "PAUSE-CRON", "1")
    os.kill(srv.pid, signal.SIGTERM)
    assert srv.wait_for_log("Received SIGTERM scheduling shutdown...")
    assert c.execute_command("SHUTDOWN", "ABORT") in (True, b"OK")
    assert srv.wait_for_log("Shutdown manually aborted")
    c.execute_command("DEBUG", "PAUSE-CRON", "0")
    assert c.ping()
    assert srv.alive()
    os.kill(srv.pid, signal.SIGTERM)
    assert _gone(srv) == 0
    assert "ready to exit, bye bye" in srv.log()


def test_sigint_with_save_points_saves(make_server):
    srv = make_server(config={"save": "900 1"})
    srv.client().set("k", "v")
    os.kill(srv.pid, signal.SIGINT)
    assert _gone(srv) == 0
    log = srv.log()
    assert "Received SIGINT scheduling shutdown..." in log
    assert "Saving the final RDB snapshot before exiting." in log
    assert "DB saved on disk" in log
    assert os.path.exists(os.path.join(srv.dir, "dump.rdb"))


def test_shutdown_on_sigterm_nosave(make_server):
    srv = make_server(config={"save": "900 1", "shutdown-on-sigterm": "nosave"})
    os.kill(srv.pid, signal.SIGTERM)
    assert _gone(srv) == 0
    assert "Saving the final RDB" not in srv.log()


def test_pidfile_removed(make_server, tmp_path):
    pidfile = tmp_path / "b.pid"
    srv = make_server(config={"pidfile": str(pidfile)})
    wait_until(pidfile.exists)
    srv.client().shutdown(nosave=True)
    assert _gone(srv) == 0
    assert not pidfile.exists()


def test_second_sigint_exits_now(make_server):
    srv = make_server()
    c = srv.client()
    c.execute_command("DEBUG", "PAUSE-CRON", "1")
    os.kill(srv.pid, signal.SIGINT)
    assert srv.wait_for_log("Received SIGINT")
    os.kill(srv.pid, signal.SIGINT)
    assert _gone(srv) == 1
    assert "You insist... exiting now." in srv.log()


def test_sigterm_the_moment_it_answers(make_server):
    """A harness signals a server as soon as it first answers. The first answer can come
    while start-up still runs the loop only to open the listener (before it, the signal
    killed the process; after it, uvloop dropped a signal that arrived between loop runs,
    and the server never exited). Each start is a new chance at that window."""
    for _ in range(12):
        srv = make_server(config={"shutdown-on-sigterm": "nosave"})
        os.kill(srv.pid, signal.SIGTERM)
        assert _gone(srv) == 0, srv.log()
        assert "scheduling shutdown" in srv.log()
