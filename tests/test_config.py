"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP against a real bocho, compared with a real
redis-server where the two must agree."""

import os

import pytest
import redis
from conftest import redis_server_binary

from bocho.testing.server import free_port, no_retry, wait_until

# Values that differ between the two servers because of how the harness starts them
# (port, dir) or by design (none else).
HARNESS = {"port", "dir"}


def test_config_get_star_matches_redis(r, oracle):
    ours = r.config_get("*")
    real = oracle.client().config_get("*")
    assert set(ours) == set(real)
    diff = {k: (ours[k], real[k]) for k in real if k not in HARNESS and ours[k] != real[k]}
    assert diff == {}


def test_config_get_patterns_aliases_and_case(r):
    got = r.execute_command(b"config", "GET", "MAXMEMORY", "maxmemory", "maxmem*")
    flat = got if isinstance(got, dict) else dict(zip(got[::2], got[1::2], strict=True))
    flat = {(k.encode() if isinstance(k, str) else k): (v.encode() if isinstance(v, str) else v)
            for k, v in flat.items()}
    # the exact name is answered as spelled, once; the pattern adds the others
    assert flat[b"MAXMEMORY"] == b"0"
    assert b"maxmemory" not in flat
    assert flat[b"maxmemory-policy"] == b"noeviction"
    assert r.config_get("slave-read-only") == {"slave-read-only": "yes"}
    assert r.config_get("hash-max-ziplist-*") == {"hash-max-ziplist-entries": "512",
                                                  "hash-max-ziplist-value": "64"}
    assert r.config_get("nosuchthing") == {}


def test_config_get_hidden_needs_exact_name(r):
    assert r.config_get("rdb-key-save-delay") == {"rdb-key-save-delay": "0"}
    assert "rdb-key-save-delay" not in r.config_get("rdb-key*")


def test_config_get_resp3_is_a_map(r3):
    assert r3.config_get("maxmemory") == {"maxmemory": "0"} or \
        r3.config_get("maxmemory") == {b"maxmemory": b"0"}


def test_config_set_several_and_formatting(r):
    assert r.config_set("maxmemory", "1mb")
    assert r.config_get("maxmemory") == {"maxmemory": "1048576"}
    assert r.execute_command("CONFIG", "SET", "maxmemory", "0", "hz", "20", "loglevel", "warning")
    assert r.config_get("hz")["hz"] == "20"
    assert r.config_get("loglevel")["loglevel"] == "warning"
    r.config_set("loglevel", "notice")
    r.config_set("hz", "10")
    r.config_set("notify-keyspace-events", "KEA")
    assert r.config_get("notify-keyspace-events")["notify-keyspace-events"] == "AKE"
    r.config_set("notify-keyspace-events", "")
    r.config_set("save", "100 10 200 20")
    assert r.config_get("save")["save"] == "100 10 200 20"
    r.config_set("save", "")
    assert r.config_get("save")["save"] == ""
    r.config_set("client-output-buffer-limit", "normal 1mb 2mb 3")
    assert r.config_get("client-output-buffer-limit")["client-output-buffer-limit"] == \
        "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    r.config_set("client-output-buffer-limit", "normal 0 0 0")


def test_config_set_hz_is_clamped(r):
    r.config_set("hz", "100000")
    assert r.config_get("hz")["hz"] == "500"
    r.config_set("hz", "10")


@pytest.mark.parametrize("args", [
    ("maxmemory", "10x"),
    ("foo", "bar", "maxmemory", "10"),
    ("maxmemory", "10", "foo"),
    ("port", "1", "port", "2"),
    ("daemonize", "yes"),
    ("maxmemory", "1", "MAXMEMORY", "2"),
    ("save", "10 x"),
    ("client-output-buffer-limit", "normal 1 2"),
    ("hz", "-1"),
    ("appendfsync", "sometimes"),
    ("maxmemory-clients", "200%"),
    ("dbfilename", "a/b"),
    ("notify-keyspace-events", "Q"),
    ("latency-tracking-info-percentiles", "101"),
    ("shutdown-on-sigint", "save nosave"),
])
def test_config_set_errors_match_redis(r, oracle, args):
    o = oracle.client()
    with pytest.raises(redis.ResponseError) as real:
        o.execute_command("CONFIG", "SET", *args)
    with pytest.raises(redis.ResponseError) as ours:
        r.execute_command("CONFIG", "SET", *args)
    assert str(ours.value) == str(real.value)


def test_config_set_is_atomic(r):
    r.config_set("maxmemory", "0")
    with pytest.raises(redis.ResponseError, match="argument must be a memory value"):
        r.execute_command("CONFIG", "SET", "hz", "7", "maxmemory", "x")
    with pytest.raises(redis.ResponseError, match="argument couldn't be parsed"):
        r.execute_command("CONFIG", "SET", "maxmemory", "1000", "hz", "x")
    assert r.config_get("maxmemory")["maxmemory"] == "0"
    assert r.config_get("hz")["hz"] == "10"


def test_config_set_apply_failure_rolls_back(r, server):
    """A port that is in use fails at apply time: every value of the call comes back."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        with pytest.raises(redis.ResponseError, match="Unable to listen on this port"):
            r.execute_command("CONFIG", "SET", "maxmemory", "1000", "port", str(busy))
    assert r.config_get("maxmemory")["maxmemory"] == "0"
    assert r.config_get("port")["port"] == str(server.port)
    assert r.ping()


def test_config_set_port_rebinds(make_server):
    srv = make_server()
    c = srv.client()
    old, new = srv.port, free_port()
    assert c.config_set("port", str(new))
    srv.port = new  # later calls and the cleanup talk to the new port
    c2 = srv.client()
    assert wait_until(lambda: _ping(c2), msg="new port")
    assert c2.config_get("port")["port"] == str(new)
    gone = redis.Redis(host="127.0.0.1", port=old, socket_timeout=1)
    assert wait_until(lambda: not _ping(gone), msg="old port closed")


def _ping(c) -> bool:
    try:
        return c.ping()
    except redis.ConnectionError:
        return False


def test_protected_configs(make_server):
    srv = make_server(config={"enable-protected-configs": "no"})
    c = srv.client()
    with pytest.raises(redis.ResponseError) as e:
        c.config_set("dir", "/tmp")
    assert str(e.value) == ("CONFIG SET failed (possibly related to argument 'dir') - "
                            "can't set protected config")
    # allowed with "yes" (the default fixture) and for local clients with "local"
    srv2 = make_server(config={"enable-protected-configs": "local"})
    c2 = srv2.client()
    assert c2.config_set("dbfilename", "x.rdb")
    assert c2.config_get("dbfilename")["dbfilename"] == "x.rdb"


def test_config_set_dir(make_server, tmp_path):
    srv = make_server()
    c = srv.client()
    d = tmp_path / "newdir"
    d.mkdir()
    assert c.config_set("dir", str(d))
    assert c.config_get("dir")["dir"] == str(d)
    with pytest.raises(redis.ResponseError, match="No such file or directory"):
        c.config_set("dir", str(tmp_path / "missing"))
    assert c.config_get("dir")["dir"] == str(d)


def test_config_resetstat(r):
    r.set("a", "1")
    r.get("a")
    r.get("missing")
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCHCMD")
    info = r.info()
    assert info["keyspace_hits"] >= 1 and info["total_error_replies"] >= 1
    assert r.config_resetstat()
    info = r.info("all")
    assert info["keyspace_hits"] == 0
    assert info["keyspace_misses"] == 0
    assert info["total_error_replies"] == 0
    assert not any(k.startswith("errorstat_") for k in info)
    assert not any(k.startswith("cmdstat_get") for k in info)
    assert info["total_net_input_bytes"] < 200


def test_config_rewrite_without_file(r):
    with pytest.raises(redis.ResponseError) as e:
        r.config_rewrite()
    assert str(e.value) == "The server is running without a config file"


CONF = """# my comment
save 900 1
save 300 10
maxmemory 1mb
slave-read-only yes
rename-command FLUSHDB ""
unknown-to-rewrite-but-valid-lines-stay

# tail
hz 10
"""


def test_config_rewrite_keeps_layout(make_server):
    conf = CONF.replace("unknown-to-rewrite-but-valid-lines-stay\n", "")
    srv = make_server(conf_file=conf)
    c = srv.client()
    c.config_set("maxmemory", "2000000")
    c.config_set("hz", "20")
    c.config_set("save", "100 1")
    assert c.config_rewrite()
    with open(os.path.join(srv.dir, "redis.conf")) as f:
        lines = f.read().split("\n")
    assert lines[0] == "# my comment"
    assert lines[1] == "save 100 1"
    assert lines[2] == ""  # the second save line is blanked
    assert lines[3] == "maxmemory 2000000"
    assert lines[4] == "replica-read-only yes"  # an alias is rewritten under its name
    assert lines[5] == 'rename-command FLUSHDB ""'
    assert "# tail" in lines and "hz 20" in lines
    sig = lines.index("# Generated by CONFIG REWRITE")
    tail = lines[sig + 1:]
    assert f'dir "{srv.dir}"' in tail
    assert f"port {srv.port}" in tail
    assert "user default on nopass ~* &* +@all" in tail
    # the rewritten file starts a server with the same configuration
    c.config_set("maxmemory", "3000000")
    assert c.config_rewrite()
    with open(os.path.join(srv.dir, "redis.conf")) as f:
        text = f.read()
    assert text.count("# Generated by CONFIG REWRITE") == 1
    assert "maxmemory 3000000" in text


def test_config_rewrite_matches_redis(make_server, tmp_path):
    """Same file, same CONFIG SETs: the same rewritten lines (order aside)."""
    binary = redis_server_binary()
    outs = []
    for b in (None, binary):
        srv = make_server(conf_file=CONF.replace("unknown-to-rewrite-but-valid-lines-stay\n", ""),
                          binary=b)
        c = srv.client()
        c.config_set("maxmemory", "2gb")
        c.config_set("notify-keyspace-events", "Kx")
        c.config_set("maxmemory-clients", "10%")
        c.config_set("client-output-buffer-limit", "pubsub 1mb 0 0")
        c.config_rewrite()
        with open(os.path.join(srv.dir, "redis.conf")) as f:
            outs.append(sorted(f.read().replace(srv.dir, "DIR")
                               .replace(str(srv.port), "PORT").split("\n")))
    assert outs[0] == outs[1]


def test_config_help(r):
    lines = r.execute_command("CONFIG", "HELP")
    assert lines[0].startswith(b"CONFIG <subcommand>")
    assert b"REWRITE" in lines and lines[-1] == b"    Prints this help."


def test_config_unknown_subcommand(r):
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("CONFIG", "GET_XX")


def test_maxclients_applies(r):
    r.config_set("maxclients", "3")
    port = r.connection_pool.connection_kwargs["port"]
    extra = [redis.Redis(host="127.0.0.1", port=port, retry=no_retry()) for _ in range(4)]
    try:
        with pytest.raises(redis.ConnectionError, match="max number of clients reached"):
            for c in extra:
                c.ping()
    finally:
        for c in extra:
            c.close()
        r.config_set("maxclients", "10000")


# Directives the comparison leaves alone: they move the servers (listeners, files, mode).
NOT_SET = {"port", "dir", "bind", "unixsocket", "logfile", "pidfile", "daemonize", "replicaof",
           "slaveof", "tls-port", "dbfilename", "appendonly", "maxclients",
           "enable-protected-configs"}


def _try_set(c, k, v):
    try:
        c.config_set(k, v)
        return "OK"
    except redis.ResponseError as e:
        return str(e)


def test_config_set_every_directive_like_redis(r, oracle):
    """Each directive with values of every kind: same reply, same value afterwards."""
    o = oracle.client(decode_responses=True)
    b = r.connection_pool.connection_kwargs["port"]
    b = redis.Redis(port=b, decode_responses=True)
    diffs = []
    for k in sorted(o.config_get("*")):
        if k in NOT_SET:
            continue
        saved_o, saved_b = o.config_get(k)[k], b.config_get(k)[k]
        for v in ("bogus!", "-1", "0", "1", "100%", "yes", "1gb", ""):
            ro, rb = _try_set(o, k, v), _try_set(b, k, v)
            go, gb = o.config_get(k)[k], b.config_get(k)[k]
            if (ro, go) != (rb, gb):
                diffs.append((k, v, ro, go, rb, gb))
            _try_set(o, k, saved_o)
            _try_set(b, k, saved_b)
    b.close()
    assert diffs == []


def test_config_set_bind_rebinds_or_rolls_back(make_server, oracle):
    srv = make_server()
    c = srv.client()
    assert c.config_set("bind", "127.0.0.1 -::1")
    c2 = srv.client()
    assert wait_until(lambda: _ping(c2), msg="rebound")
    assert c2.config_get("bind")["bind"] == "127.0.0.1 -::1"
    o = oracle.client()
    msgs = []
    for cl in (c2, o):
        with pytest.raises(redis.ResponseError) as e:
            cl.config_set("bind", "192.0.2.123")  # TEST-NET-1: not on this host
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]
    assert c2.config_get("bind")["bind"] == "127.0.0.1 -::1"
    assert srv.client().ping()


def test_rewrite_force_all_matches_redis(make_server):
    """DEBUG CONFIG-REWRITE-FORCE-ALL writes every directive: the same lines as Redis."""
    binary = redis_server_binary()
    outs = []
    for b in (None, binary):
        srv = make_server(conf_file="# hi\n", binary=b)
        assert srv.client().execute_command("DEBUG", "CONFIG-REWRITE-FORCE-ALL")
        with open(os.path.join(srv.dir, "redis.conf")) as f:
            outs.append(sorted(f.read().replace(srv.dir, "DIR")
                               .replace(str(srv.port), "PORT").split("\n")))
    assert outs[0] == outs[1]


def test_config_set_dir_rolls_back_with_the_call(make_server, tmp_path):
    srv = make_server()
    c = srv.client()
    before = c.config_get("dir")["dir"]
    with pytest.raises(redis.ResponseError):
        c.execute_command("CONFIG", "SET", "dir", str(tmp_path), "maxmemory", "bad")
    assert c.config_get("dir")["dir"] == before


def test_config_set_bind_empty_stops_tcp(make_server, tmp_path):
    """bind "" means no TCP listener (Redis's listenToPort): new TCP connections are
    refused, the unix socket still serves, and `bind *` brings TCP back."""
    import socket as _socket

    sock_path = str(tmp_path / "bocho.sock")
    srv = make_server(config={"unixsocket": sock_path})
    c = srv.client()
    assert c.config_set("bind", "")
    assert c.config_get("bind")["bind"] == ""
    with pytest.raises(ConnectionRefusedError):
        _socket.create_connection((srv.host, srv.port), timeout=2).close()
    u = redis.Redis(unix_socket_path=sock_path)
    assert u.ping()
    assert u.config_set("bind", "127.0.0.1")

    def tcp_ok() -> bool:
        try:
            return srv.client().ping()
        except redis.ConnectionError:
            return False

    wait_until(tcp_ok, msg="TCP listener back")
    u.close()
