"""CLIENT subcommands (LIST/INFO fields, KILL filters, PAUSE, REPLY, ...) and MONITOR."""

import re
import socket
import threading
import time

import pytest
import redis

from bocho.testing.server import no_retry, wait_until

FIELDS = ("id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free "
          "argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp").split()


def _parse(line: str) -> dict:
    return dict(kv.split("=", 1) for kv in line.split(" "))


def test_client_list_fields_match_redis_format(r, oracle):
    for conn in (r, oracle.client()):
        raw = conn.execute_command("client", "info")
        text = raw.decode() if isinstance(raw, bytes) else raw
        fields = [kv.split("=", 1)[0] for kv in text.strip().split(" ")]
        assert fields == FIELDS
        info = _parse(text.strip())
        assert info["flags"] == "N" and info["cmd"] == "client|info"
        assert info["qbuf"] == "26" and info["multi"] == "-1"


def test_client_id_setname_getname(r):
    cid = r.client_id()
    assert r.execute_command("client", "getname") is None
    with pytest.raises(redis.ResponseError,
                       match="Client names cannot contain spaces, newlines or special"):
        r.execute_command("client", "setname", "a b")
    r.execute_command("client", "setname", "myname")
    assert r.execute_command("client", "getname") == b"myname"
    listed = r.execute_command("client", "list", "id", cid)
    listed = listed.decode() if isinstance(listed, bytes) else listed
    assert f"id={cid} " in listed and "name=myname " in listed


def test_client_list_type_and_errors(r, server):
    p = server.client().pubsub()
    p.subscribe("ch")
    p.get_message(timeout=1)
    out = r.execute_command("client", "list", "type", "pubsub")
    out = out.decode() if isinstance(out, bytes) else out
    assert out.count("\n") == 1 and "flags=P" in out and "sub=1" in out
    with pytest.raises(redis.ResponseError, match="Unknown client type 'bogus'"):
        r.execute_command("client", "list", "type", "bogus")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("client", "list", "foo")
    p.close()


def test_client_kill_forms(r, server):
    victim = server.client()
    vid = victim.client_id()
    info = _parse(victim.execute_command("client", "info").decode().strip())
    with pytest.raises(redis.ResponseError, match="No such client"):
        r.execute_command("client", "kill", "1.2.3.4:5")
    assert r.execute_command("client", "kill", info["addr"]) in (b"OK", True, "OK")
    wait_until(lambda: vid not in [c["id"] for c in r.client_list()])
    with pytest.raises(redis.ResponseError, match="client-id should be greater than 0"):
        r.execute_command("client", "kill", "id", "0")
    with pytest.raises(redis.ResponseError, match="No such user 'nobody'"):
        r.execute_command("client", "kill", "user", "nobody")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("client", "kill", "skipme", "maybe")
    v2 = server.client()
    v2id = v2.client_id()
    assert r.execute_command("client", "kill", "id", v2id) == 1
    assert r.execute_command("client", "kill", "id", v2id) == 0
    # LADDR and SKIPME: every normal client but me
    v3 = server.client()
    v3.ping()
    n = r.execute_command("client", "kill", "laddr", f"{server.host}:{server.port}",
                          "skipme", "yes")
    assert n >= 1 and r.ping()


def test_client_reply_modes(server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    s.sendall(b"CLIENT REPLY OFF\r\nPING a\r\nNOSUCH\r\nCLIENT REPLY ON\r\nPING b\r\n"
              b"CLIENT REPLY SKIP\r\nPING c\r\nPING d\r\n")
    buf = b""
    while b"$1\r\nd\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk
        buf += chunk
    assert buf == b"+OK\r\n$1\r\nb\r\n$1\r\nd\r\n"
    s.close()


def test_client_pause_write_holds_writes_not_reads(r, server):
    other = server.client()
    r.execute_command("client", "pause", "100000", "write")
    try:
        assert other.get("k") is None  # reads go on
        result = {}

        def writer():
            c = server.client()
            result["set"] = c.set("k", "v")
            c.close()

        t = threading.Thread(target=writer)
        t.start()
        wait_until(lambda: any("b" in c["flags"] for c in r.client_list()),
                   msg="writer held")
        assert "set" not in result
        assert r.get("k") is None
    finally:
        r.execute_command("client", "unpause")
    t.join(5)
    assert result["set"] is True and r.get("k") == b"v"
    other.close()


def test_client_pause_timeout_and_errors(r, server):
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        r.execute_command("client", "pause", "-1")
    with pytest.raises(redis.ResponseError, match="timeout is not an integer or out of range"):
        r.execute_command("client", "pause", "abc")
    with pytest.raises(redis.ResponseError, match="CLIENT PAUSE mode must be WRITE or ALL"):
        r.execute_command("client", "pause", "10", "bla")
    r.execute_command("client", "pause", "300")
    c = server.client()
    t0 = time.monotonic()
    assert c.ping()
    assert time.monotonic() - t0 >= 0.2
    c.close()


def test_client_help_and_unknown(r):
    lines = r.execute_command("client", "help")
    assert lines[0].startswith(b"CLIENT <subcommand>") and lines[-1] == b"    Prints this help."
    with pytest.raises(redis.ResponseError, match="unknown subcommand 'foo'. Try CLIENT HELP."):
        r.execute_command("client", "foo")


def test_monitor_output(r, server):
    s = socket.create_connection((server.host, server.port), timeout=5)
    s.sendall(b"MONITOR\r\n")
    assert s.recv(100) == b"+OK\r\n"
    r.set("foo", 'a "q"\n')
    try:
        r.execute_command("auth", "secret")
    except redis.RedisError:
        pass
    buf = b""
    while buf.count(b"\r\n") < 2:
        buf += s.recv(4096)
    lines = buf.split(b"\r\n")
    assert re.fullmatch(rb'\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "foo" "a \\"q\\"\\n"',
                        lines[0]), lines[0]
    assert lines[1].endswith(b'"auth" "(redacted)"'), lines[1]
    s.close()


def test_slow_monitor_reader_is_disconnected(make_server):
    srv = make_server(config={"client-output-buffer-limit": ["normal", "256kb", "0", "0"]})
    mon = socket.socket()
    mon.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    mon.connect((srv.host, srv.port))
    mon.sendall(b"MONITOR\r\n")
    c = srv.client()
    wait_until(lambda: any("O" in x["flags"] for x in c.client_list()))
    value = "x" * 50_000
    for _ in range(400):
        c.set("k", value)
        if not any("O" in x["flags"] for x in c.client_list()):
            break
    wait_until(lambda: not any("O" in x["flags"] for x in c.client_list()),
               msg="monitor dropped")
    assert c.ping()
    assert srv.wait_for_log("for overcoming of output buffer limits")
    mon.close()
    c.close()


def test_pause_write_holds_exec_with_writes_and_counts_blocked(r, server):
    tx = server.client()
    tx.execute_command("multi")
    tx.execute_command("set", "pk", "1")
    r.execute_command("client", "pause", "100000", "write")
    result = {}

    def run_exec():
        result["exec"] = tx.execute_command("exec")

    t = threading.Thread(target=run_exec)
    try:
        t.start()
        wait_until(lambda: r.info("clients")["blocked_clients"] == 1, msg="EXEC held")
        assert "exec" not in result and r.get("pk") is None
        # a read-only transaction is not held
        ro = server.client()
        ro.execute_command("multi")
        ro.execute_command("get", "pk")
        assert ro.execute_command("exec") == [None]
        ro.close()
    finally:
        r.execute_command("client", "unpause")
    t.join(5)
    assert result["exec"] == [b"OK"] or result["exec"] == [True]
    assert r.get("pk") == b"1"
    tx.close()


@pytest.mark.parametrize("cmd", [("HRANDFIELD", "h"), ("HRANDFIELD", "h", "WITHVALUES"),
                                 ("SRANDMEMBER", "s"), ("ZRANDMEMBER", "z"),
                                 ("ZRANDMEMBER", "z", "WITHSCORES")])
def test_huge_random_count_stops_at_output_limit(make_server, cmd):
    """A huge negative count is stopped mid-run at the client's hard output limit (the
    client is dropped), as Redis does; the server neither builds the reply nor dies."""
    srv = make_server(config={"client-output-buffer-limit": ["normal", "1000000", "0", "0"]})
    c = srv.client()
    c.hset("h", "a", "b")
    c.sadd("s", "m")
    c.zadd("z", {"m": 1})
    victim = srv.client(retry=no_retry())
    args = list(cmd)
    args.insert(2, "-999999999")
    with pytest.raises(redis.ConnectionError):
        victim.execute_command(*args)
    assert c.ping()
    assert srv.wait_for_log("for overcoming of output buffer limits")
    # a count that fits is answered in full
    args[2] = "-5000"
    assert len(victim.execute_command(*args)) == 5000  # (redis-py pairs WITH* replies)
    c.close()
    victim.close()
