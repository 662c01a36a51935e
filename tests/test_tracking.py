"""Client-side caching (CLIENT TRACKING): invalidation messages on the wire, compared
byte for byte with a real redis-server where the scenario is deterministic."""

from __future__ import annotations

import socket

import pytest
import redis
from raw import cmd, recv_until

from bocho.testing.server import wait_until

PUSH = b">2\r\n$10\r\ninvalidate\r\n"
CHANNEL_MSG = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"


def inv(*keys: bytes) -> bytes:
    return PUSH + b"*%d\r\n" % len(keys) + b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)


class Conn:
    """A raw connection: send a command, read exactly what came back by a deadline."""

    def __init__(self, port: int, resp3: bool = False) -> None:
        self.s = socket.create_connection(("127.0.0.1", port))
        if resp3:
            self.s.sendall(cmd("HELLO", "3"))
            recv_until(self.s, lambda b: b.endswith(b"modules\r\n*0\r\n"))

    def __call__(self, *args, until: bytes | None = None) -> bytes:
        self.s.sendall(cmd(*args))
        return self.read(until)

    def read(self, until: bytes | None = None, timeout: float = 5.0) -> bytes:
        if until is None:  # one line-terminated reply is enough for simple replies
            return recv_until(self.s, lambda b: b.endswith(b"\r\n"), timeout)
        return recv_until(self.s, lambda b: b.endswith(until), timeout)

    def quiet(self, wait: float = 0.1) -> bytes:
        """Whatever arrives unasked within `wait` seconds (expected: nothing)."""
        return recv_until(self.s, lambda b: False, wait)

    def close(self) -> None:
        self.s.close()


@pytest.fixture
def conns(server):
    made: list[Conn] = []

    def make(resp3: bool = False, port: int | None = None) -> Conn:
        c = Conn(port or server.port, resp3)
        made.append(c)
        return c

    c = make()
    c("FLUSHALL")
    c("CONFIG", "SET", "tracking-table-max-keys", "1000000")
    yield make
    for c in made:
        c.close()


def test_resp3_default_mode_invalidates_read_keys_only(conns):
    r = conns(resp3=True)
    other = conns()
    assert r("CLIENT", "TRACKING", "on") == b"+OK\r\n"
    other("SET", "a", "1")
    other("SET", "b", "1")
    assert r("GET", "a") == b"$1\r\n1\r\n"
    other("INCR", "b")  # never read: no message
    other("INCR", "a")
    assert r.read(until=inv(b"a")) == inv(b"a")
    other("INCR", "a")  # the entry is gone until the key is read again
    assert r("PING") == b"+PONG\r\n"
    assert r.quiet() == b""


def test_resp2_redirect_to_subscribed_client(conns):
    redir = conns()
    cid = int(redir("CLIENT", "ID")[1:-2])
    redir("SUBSCRIBE", "__redis__:invalidate", until=b":1\r\n")
    r = conns()
    other = conns()
    assert r("CLIENT", "TRACKING", "on", "REDIRECT", cid) == b"+OK\r\n"
    r("MGET", "k1", "k2")
    other("SET", "k2", "v")
    assert redir.read(until=b"k2\r\n") == CHANNEL_MSG + b"*1\r\n$2\r\nk2\r\n"
    assert r("CLIENT", "GETREDIR") == b":%d\r\n" % cid
    # FLUSHALL: a null (the tracking client's RESP2 null) in the channel
    other("FLUSHALL")
    assert redir.read(until=b"$-1\r\n") == CHANNEL_MSG + b"$-1\r\n"


def test_bcast_prefixes_and_noloop(conns):
    r = conns(resp3=True)
    other = conns()
    assert r("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:", "PREFIX", "b:",
             "NOLOOP") == b"+OK\r\n"
    other("MSET", "a:2", "1", "a:1", "1", "c:1", "1")
    assert r.read(until=b"a:2\r\n") == inv(b"a:1", b"a:2")
    r("SET", "b:mine", "1")  # NOLOOP: its own change is not reported
    other("SET", "b:theirs", "1")
    assert r.read(until=b"theirs\r\n") == inv(b"b:theirs")
    assert r.quiet() == b""


def test_expired_key_is_reported_even_with_noloop(conns):
    r = conns(resp3=True)
    r("CLIENT", "TRACKING", "on", "BCAST", "NOLOOP")
    r("SET", "mykey", "v", "PX", "1")
    r("SET", "other", "v")
    assert r.read(until=b"mykey\r\n", timeout=5) == inv(b"mykey")


def test_optin_and_optout(conns):
    r = conns(resp3=True)
    other = conns()
    r("CLIENT", "TRACKING", "on", "OPTIN")
    r("GET", "k1")  # not cached: no CLIENT CACHING yes before it
    assert r("CLIENT", "CACHING", "yes") == b"+OK\r\n"
    r("GET", "k2")
    r("GET", "k3")  # CACHING lasts one command
    other("MSET", "k1", "1", "k2", "1", "k3", "1")
    assert r.read(until=b"k2\r\n") == inv(b"k2")
    assert r.quiet() == b""
    r("CLIENT", "TRACKING", "off")
    r("CLIENT", "TRACKING", "on", "OPTOUT")
    r("CLIENT", "CACHING", "no")
    r("GET", "k1")
    r("GET", "k2")
    other("MSET", "k1", "2", "k2", "2")
    assert r.read(until=b"k2\r\n") == inv(b"k2")


def test_own_invalidation_follows_the_reply(conns):
    r = conns(resp3=True)
    r("CLIENT", "TRACKING", "on")
    r("MSET", "a", "1", "b", "2")
    r("GET", "a")
    r("MULTI")
    r("INCR", "a")
    r("GET", "b")
    got = r("EXEC", until=inv(b"a"))
    assert got == b"*2\r\n:2\r\n$1\r\n2\r\n" + inv(b"a")
    # FLUSHDB inside MULTI: the null invalidation after the EXEC reply
    r("MULTI")
    r("FLUSHDB")
    assert r("EXEC", until=b"_\r\n") == b"*1\r\n+OK\r\n" + PUSH + b"_\r\n"


def test_blmove_served_client_gets_its_invalidation_after_reply(server, conns):
    rd = conns(resp3=True)
    other = conns()
    other("RPUSH", "l2", "a")
    rd("CLIENT", "TRACKING", "on")
    rd("LRANGE", "l2", "0", "-1", until=b"a\r\n")
    rd.s.sendall(cmd("BLMOVE", "l1", "l2", "LEFT", "LEFT", "0"))
    admin = server.client()
    wait_until(lambda: admin.info("clients")["blocked_clients"] == 1)
    admin.close()
    other("RPUSH", "l1", "foo")
    assert rd.read(until=inv(b"l2")) == b"$3\r\nfoo\r\n" + inv(b"l2")


def test_redirect_broken(conns):
    redir = conns()
    cid = int(redir("CLIENT", "ID")[1:-2])
    r = conns(resp3=True)
    other = conns()
    r("CLIENT", "TRACKING", "on", "REDIRECT", cid)
    r("GET", "k")
    redir.close()
    wait_until(lambda: b"id=%d " % cid not in other("CLIENT", "LIST", until=b"\r\n"))
    other("SET", "k", "1")
    want = b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % cid
    assert r.read(until=want) == want
    info = r("CLIENT", "TRACKINGINFO", until=b"prefixes\r\n*0\r\n")
    assert b"broken_redirect" in info
    line = other("CLIENT", "LIST", until=b"\r\n")
    mine = [x for x in line.split(b"\n") if b"flags=tR" in x]
    assert mine and b"redir=%d" % cid in mine[0]


def test_tracking_table_max_keys(conns):
    r = conns(resp3=True)
    r("CLIENT", "TRACKING", "on")
    for i in range(5):
        r("GET", f"key{i}")
    r("CONFIG", "SET", "tracking-table-max-keys", "2")
    got = r("PING", until=b"+PONG\r\n")
    assert got.count(PUSH) == 3 and got.endswith(b"+PONG\r\n")


def test_info_counts(server, conns):
    r = conns(resp3=True)
    b = conns()
    r("CLIENT", "TRACKING", "on")
    r("MGET", "x", "y")
    b("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p:", "PREFIX", "q:")
    info = server.client().info()
    assert info["tracking_clients"] == 2
    assert info["tracking_total_keys"] == 2
    assert info["tracking_total_items"] == 2
    assert info["tracking_total_prefixes"] == 2
    b("CLIENT", "TRACKING", "off")
    r("FLUSHALL")
    info = server.client().info()
    assert info["tracking_clients"] == 1
    assert info["tracking_total_keys"] == 0
    assert info["tracking_total_prefixes"] == 0


def test_script_tracks_declared_keys_when_it_reads(conns):
    r = conns(resp3=True)
    other = conns()
    r("CLIENT", "TRACKING", "on")
    r("EVAL", "redis.call('set', 'k3', 'bar')", "2", "k1", "k2")
    other("MSET", "k1", "1", "k2", "1")
    assert r.quiet() == b""
    r("EVAL", "redis.call('get', 'k3')", "2", "k1", "k2")
    other("MSET", "k2", "2", "k1", "2")
    assert r.read(until=inv(b"k1")) == inv(b"k2") + inv(b"k1")
    # queued in MULTI: EXEC runs it, the script's declared keys are still the ones kept
    r("MULTI")
    r("EVAL", "return redis.call('get', 'k3')", "1", "k9")
    r("EXEC", until=b"_\r\n")
    other("SET", "k9", "1")
    assert r.read(until=inv(b"k9")) == inv(b"k9")
    # EVAL_RO itself is not a tracked read; its reads are
    r("EVAL_RO", "return 1", "1", "k8")
    other("SET", "k8", "1")
    assert r.quiet() == b""


ERROR_CASES = [
    [("CLIENT", "TRACKING", "on", "PREFIX", "a")],
    [("CLIENT", "TRACKING", "on", "BCAST", "OPTIN")],
    [("CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT")],
    [("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "FOOBAR", "PREFIX", "FOO")],
    [("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "FOO"),
     ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "FO")],
    [("CLIENT", "TRACKING", "on"), ("CLIENT", "TRACKING", "on", "BCAST")],
    [("CLIENT", "TRACKING", "on", "OPTIN"), ("CLIENT", "TRACKING", "on", "OPTOUT")],
    [("CLIENT", "TRACKING", "on", "REDIRECT", "999999")],
    [("CLIENT", "TRACKING", "on", "REDIRECT", "abc")],
    [("CLIENT", "TRACKING", "maybe")],
    [("CLIENT", "TRACKING", "on", "FOO")],
    [("CLIENT", "CACHING", "yes")],
    [("CLIENT", "TRACKING", "on", "OPTOUT"), ("CLIENT", "CACHING", "yes")],
    [("CLIENT", "TRACKING", "on", "OPTIN"), ("CLIENT", "CACHING", "no")],
    [("CLIENT", "TRACKING", "on", "OPTIN"), ("CLIENT", "CACHING", "maybe")],
]


@pytest.mark.parametrize("cmds", ERROR_CASES)
def test_errors_match_redis(pair, cmds):
    from oracle import assert_same, run
    a, b = pair()
    cmds = list(cmds) + [("CLIENT", "TRACKINGINFO"), ("CLIENT", "GETREDIR"),
                         ("CLIENT", "TRACKING", "off")]
    assert_same(run(a, cmds), run(b, cmds), cmds)


@pytest.mark.parametrize("protocol", [2, 3])
def test_trackinginfo_matches_redis(pair, protocol):
    from oracle import assert_same, run
    a, b = pair(protocol)
    cmds = [("CLIENT", "TRACKINGINFO"),
            ("CLIENT", "TRACKING", "on", "OPTIN", "NOLOOP"), ("CLIENT", "CACHING", "yes"),
            ("CLIENT", "TRACKINGINFO"), ("CLIENT", "GETREDIR"),
            ("CLIENT", "TRACKING", "off"),
            ("CLIENT", "TRACKING", "on", "OPTOUT"), ("CLIENT", "CACHING", "no"),
            ("CLIENT", "TRACKINGINFO"), ("CLIENT", "TRACKING", "off"),
            ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "foo", "PREFIX", "bar"),
            ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "baz"),
            ("CLIENT", "TRACKINGINFO"), ("CLIENT", "TRACKING", "off"),
            ("CLIENT", "TRACKING", "on", "BCAST"), ("CLIENT", "TRACKINGINFO"),
            ("CLIENT", "TRACKING", "off"), ("CLIENT", "TRACKINGINFO")]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def _wire_scenario(port: int) -> list[bytes]:
    """A deterministic RESP3 + RESP2-redirect session; every byte that came back."""
    out = []
    admin = Conn(port)
    admin("FLUSHALL")
    r = Conn(port, resp3=True)
    other = Conn(port)
    out.append(r("CLIENT", "TRACKING", "on"))
    other("MSET", "a", "1", "b", "2", "c", "3")
    out.append(r("MGET", "a", "b", "zz", until=b"_\r\n"))
    other("DEL", "a", "zz")
    out.append(r.read(until=b"zz\r\n"))
    other("FLUSHDB")
    out.append(r.read(until=b"_\r\n"))
    out.append(r("CLIENT", "TRACKING", "off"))
    out.append(r("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x"))
    other("MSET", "x2", "1", "x1", "1", "y", "1")
    out.append(r.read(until=b"x2\r\n"))
    for c in (admin, r, other):
        c.close()
    return out


def test_wire_bytes_match_redis(server, oracle):
    assert _wire_scenario(server.port) == _wire_scenario(oracle.port)


def test_reset_turns_tracking_off(conns):
    r = conns(resp3=True)
    other = conns()
    r("CLIENT", "TRACKING", "on", "BCAST")
    assert r("RESET") == b"+RESET\r\n"
    assert r("CLIENT", "GETREDIR") == b":-1\r\n"
    other("SET", "k", "1")
    assert r.quiet() == b""


def test_client_list_flags(conns):
    r = conns(resp3=True)
    other = conns()
    r("CLIENT", "TRACKING", "on", "BCAST")
    line = r("CLIENT", "INFO", until=b"\r\n\r\n")
    assert b"flags=tB " in line and b"redir=0 " in line
    r("CLIENT", "TRACKING", "off")
    line = other("CLIENT", "LIST", until=b"\r\n")
    assert b"flags=t" not in line


def test_redis_py_client_side_cache(server):
    """redis-py's own client-side cache relies on RESP3 invalidation pushes."""
    try:
        from redis.cache import CacheConfig
    except ImportError:
        pytest.skip("this redis-py has no client-side cache")
    cached = redis.Redis(host=server.host, port=server.port, protocol=3,
                         cache_config=CacheConfig())
    writer = server.client()
    try:
        try:
            cached.ping()
        except redis.ConnectionError as e:  # redis-py caches only for servers >= 7.4
            pytest.skip(f"redis-py refuses its cache for a 7.0 server: {e}")
        writer.set("csc", "v1")
        assert cached.get("csc") == b"v1"
        assert cached.get("csc") == b"v1"  # from the local cache
        writer.set("csc", "v2")
        assert wait_until(lambda: cached.get("csc") == b"v2", timeout=5)
    finally:
        cached.close()
        writer.close()
