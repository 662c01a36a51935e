"""DEBUG: refusal, SLEEP, OBJECT, POPULATE, DIGEST (same digests as real Redis), PROTOCOL."""

import os
import signal
import threading
import time

import pytest
import redis
from raw import script_busy, swallow

from bocho.testing.server import wait_until


def test_refused_unless_enabled(make_server):
    srv = make_server(config={"enable-debug-command": "no"})
    c = srv.client()
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("DEBUG", "SLEEP", "0")
    assert str(e.value).startswith("DEBUG command not allowed. If the enable-debug-command "
                                   "option is set to \"local\"")
    local = make_server(config={"enable-debug-command": "local"})
    assert local.client().execute_command("DEBUG", "SLEEP", "0") == b"OK"


def test_sleep_blocks(r):
    t = time.monotonic()
    assert r.execute_command("DEBUG", "SLEEP", "0.2") == b"OK"
    assert time.monotonic() - t >= 0.19
    assert r.execute_command("DEBUG", "SLEEP", "abc") == b"OK"  # strtod: 0


def test_populate_and_object(r):
    assert r.execute_command("DEBUG", "POPULATE", "3") == b"OK"
    assert sorted(r.keys()) == [b"key:0", b"key:1", b"key:2"]
    assert r.get("key:1") == b"value:1"
    r.execute_command("DEBUG", "POPULATE", "2", "p", "10")
    assert r.get("p:1") == b"value:1\x00\x00\x00"
    r.execute_command("DEBUG", "POPULATE", "2", "q", "3")
    assert r.get("q:1") == b"val"
    r.set("key:0", "mine")
    r.execute_command("DEBUG", "POPULATE", "1")  # existing keys are kept
    assert r.get("key:0") == b"mine"
    with pytest.raises(redis.ResponseError, match="out of range, must be positive"):
        r.execute_command("DEBUG", "POPULATE", "-1")
    line = r.execute_command("DEBUG", "OBJECT", "key:1")
    line = line.decode() if isinstance(line, bytes) else line
    assert line.startswith("Value at:0x")
    assert " refcount:1 encoding:embstr serializedlength:" in line
    assert "lru_seconds_idle:" in line
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.execute_command("DEBUG", "OBJECT", "nokey")


def test_digest_matches_real_redis(r, oracle):
    o = oracle.client()
    o.flushall()
    for c in (r, o):
        assert c.execute_command("DEBUG", "DIGEST") in (b"0" * 40, "0" * 40)
        c.execute_command("DEBUG", "POPULATE", "20")
        c.set("big", "x" * 300)
        c.set("n", 12345)
        c.expire("key:3", 1000)
    d1 = r.execute_command("DEBUG", "DIGEST")
    assert d1 == o.execute_command("DEBUG", "DIGEST")
    assert len(d1) == 40
    assert (r.execute_command("DEBUG", "DIGEST-VALUE", "key:3", "nokey")
            == o.execute_command("DEBUG", "DIGEST-VALUE", "key:3", "nokey"))
    r.set("key:4", "changed")
    assert r.execute_command("DEBUG", "DIGEST") != d1
    o.flushall()


def test_protocol_resp3(r3):
    assert r3.execute_command("DEBUG", "PROTOCOL", "true") is True
    assert r3.execute_command("DEBUG", "PROTOCOL", "false") is False
    assert r3.execute_command("DEBUG", "PROTOCOL", "double") == 3.141
    assert r3.execute_command("DEBUG", "PROTOCOL", "map") == {0: False, 1: True, 2: False}
    assert r3.execute_command("DEBUG", "PROTOCOL", "null") is None
    assert int(r3.execute_command("DEBUG", "PROTOCOL", "bignum")) == \
        1234567999999999999999999999999999999
    with pytest.raises(redis.ResponseError, match="Wrong protocol type name"):
        r3.execute_command("DEBUG", "PROTOCOL", "nope")


def test_protocol_raw_bytes(server):
    """Byte-exact replies for the RESP3 types redis-py flattens."""
    import socket
    with socket.create_connection((server.host, server.port)) as s:
        s.sendall(b"HELLO 3\r\n")
        time.sleep(0.1)
        s.recv(65536)
        s.sendall(b"DEBUG PROTOCOL bignum\r\nDEBUG PROTOCOL attrib\r\n"
                  b"DEBUG PROTOCOL verbatim\r\n")
        want = (b"(1234567999999999999999999999999999999\r\n|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"
                b"$39\r\nSome real reply following the attribute\r\n"
                b"=29\r\ntxt:This is a verbatim\nstring\r\n")
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < len(want) and time.monotonic() < deadline:
            got += s.recv(65536)
        assert got == want


def test_misc_subcommands(r):
    assert r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"OK"
    r.set("k", "v", px=50)
    time.sleep(0.3)
    assert r.dbsize() == 1  # only lazy expiry now
    assert r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"OK"
    assert r.execute_command("DEBUG", "PAUSE-CRON", "1") == b"OK"
    assert r.execute_command("DEBUG", "PAUSE-CRON", "0") == b"OK"
    assert r.execute_command("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100") == b"OK"
    with pytest.raises(redis.ResponseError, match="bigger than 1 and smaller than 4gb"):
        r.execute_command("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb")
    assert r.execute_command("DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1") == b"OK"
    assert r.execute_command("DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "NEVER") == b"OK"
    assert r.execute_command("DEBUG", "LOG", "hello") == b"OK"
    assert r.execute_command("DEBUG", "CHANGE-REPL-ID") == b"OK"
    ht = r.execute_command("DEBUG", "HTSTATS", "0")
    assert b"[Dictionary HT]" in ht and b"[Expires HT]" in ht
    with pytest.raises(redis.ResponseError, match="unknown subcommand or wrong number of "
                                                  "arguments for 'nope'. Try DEBUG HELP."):
        r.execute_command("DEBUG", "nope")
    assert r.execute_command("DEBUG", "HELP")[0].startswith(b"DEBUG <subcommand>")
    with pytest.raises(redis.ResponseError, match="^my error$"):
        r.execute_command("DEBUG", "ERROR", "my error")


def test_segfault_logs_crash(make_server):
    srv = make_server()
    try:
        srv.client().execute_command("DEBUG", "SEGFAULT")
    except redis.ConnectionError:
        pass
    assert srv.wait_exit(10) is not None
    assert "crashed by signal" in srv.log()
    assert srv.returncode == -11


def test_object_address_stays_across_incr(r):
    """INCR changes an unshared integer in place in Redis: DEBUG OBJECT's address stays
    (unit/type/incr "INCR can modify objects in-place")."""
    r.set("foo", 20000)
    r.incr("foo")

    def addr():
        return r.execute_command("DEBUG", "OBJECT", "foo").split()[1]

    old = addr()
    r.incr("foo")
    assert old.startswith(b"at:") and addr() == old
    r.set("bar", "x")
    assert r.execute_command("DEBUG", "OBJECT", "bar").split()[1] != old


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "in-a-script"])
def test_sigabrt_logs_crash_and_dies_by_it(make_server, busy):
    """kill -SIGABRT: the bug report, then death by the same signal, also while a
    script keeps the event loop from running."""
    srv = make_server(config={"busy-reply-threshold": "100"})
    c = srv.client()
    if busy:
        spinner = srv.client(socket_timeout=30)
        t = threading.Thread(target=lambda: swallow(
            spinner.eval, "local i = 0 while true do i = i + 1 end", 0), daemon=True)
        t.start()
        wait_until(lambda: script_busy(c), msg="the script turned busy")
    os.kill(srv.pid, signal.SIGABRT)
    assert srv.wait_exit(10) == -signal.SIGABRT, srv.log()
    assert "crashed by signal: 6" in srv.log()

