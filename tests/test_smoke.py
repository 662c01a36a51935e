"""First contact: the server starts, answers redis-py and redis-cli, stops by SIGTERM."""

import redis


def test_ping_get_set(r):
    assert r.ping()
    assert r.set("k", "v")
    assert r.get("k") == b"v"
    assert r.get("missing") is None


def test_unknown_command(r):
    try:
        r.execute_command("NOSUCH", "a", "b")
    except redis.ResponseError as e:
        assert str(e) == "unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    else:
        raise AssertionError("no error")


def test_redis_cli(server):
    out = server.cli("ping")
    assert out.stdout.strip() == "PONG"


def test_sigterm_logs_shutdown(make_server):
    srv = make_server()
    assert srv.wait_for_log("Ready to accept connections")
    assert srv.stop() == 0
    assert "ready to exit, bye bye" in srv.log()
