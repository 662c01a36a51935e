"""maxmemory: OOM refusal, the eviction policies, accounting that goes back down,
propagation/notification of evictions, the LFU counter."""

import contextlib

import pytest
import redis

from bocho.testing.server import wait_until


def used(c):
    return c.info("memory")["used_memory"]


@contextlib.contextmanager
def evicting(r, policy: str, headroom: int = 100 * 1024):
    """An empty server limited to `headroom` bytes above what it uses now, under
    `policy`; the limit and policy are restored after (the module shares the server)."""
    r.flushall()
    limit = used(r) + headroom
    r.config_set("maxmemory", limit)
    r.config_set("maxmemory-policy", policy)
    try:
        yield limit
    finally:
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", "noeviction")


def test_noeviction_refuses_writes(r):
    r.config_set("maxmemory-policy", "noeviction")
    r.set("a", "1")
    r.config_set("maxmemory", 1)
    try:
        with pytest.raises(redis.ResponseError) as e:
            r.set("b", "2")
        assert str(e.value) == "command not allowed when used memory > 'maxmemory'."
        assert r.get("a") == b"1"  # reads still work
        assert r.delete("a") == 1  # so does DEL (not denyoom)
    finally:
        r.config_set("maxmemory", 0)


@pytest.mark.parametrize("policy", ["allkeys-random", "allkeys-lru", "allkeys-lfu",
                                    "volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_limit_honoured(r, policy):
    with evicting(r, policy) as limit:
        n = 0
        while used(r) + 4096 <= limit:
            r.set(f"key:{n}:" + "x" * (n % 50), "x", ex=10000)
            n += 1
        assert n > 10
        for j in range(n):
            r.set(f"more:{j}", "x", ex=10000)
        assert used(r) < limit + 4096
        assert r.info("stats")["evicted_keys"] > 0


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_only_removes_volatile(r, policy):
    with evicting(r, policy) as limit:
        n = 0
        while used(r) + 4096 <= limit:
            if n % 2:
                r.set(f"key:{n}", "x", ex=10000)
            else:
                r.set(f"key:{n}", "x")
            n += 1
        for j in range(n):
            try:
                r.set(f"foo:{j}", "x", ex=10000)
            except redis.ResponseError:
                pass
        assert used(r) < limit + 4096
        for j in range(0, n, 2):
            assert r.exists(f"key:{j}")


def test_lru_evicts_cold_keys(r):
    r.flushall()
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.config_set("maxmemory-samples", 10)
    r.execute_command("DEBUG", "POPULATE", "300", "cold", "200")
    r.execute_command("DEBUG", "SLEEP", "0")
    import time
    time.sleep(2.1)  # the LRU clock has one-second resolution
    hot = [f"hot:{i}" for i in range(50)]
    for k in hot:
        r.set(k, "v" * 200)
    limit = used(r) - 20 * 1024
    try:
        r.config_set("maxmemory", limit)
        wait_until(lambda: used(r) <= limit, msg="eviction to the limit")
        assert all(r.exists(k) for k in hot)
        assert r.dbsize() < 350
    finally:
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", "noeviction")


def test_eviction_propagates_and_notifies(make_server):
    srv = make_server(config={"notify-keyspace-events": "Ee"})
    c = srv.client()
    p = c.pubsub()
    p.psubscribe("__keyevent@0__:evicted")
    wait_until(lambda: p.get_message(timeout=0.1) is not None)
    for k in ("asdf1", "asdf2", "asdf3"):
        c.set(k, "1")
    mon = srv.client()
    c.config_set("maxmemory-policy", "allkeys-lru")
    c.config_set("maxmemory", 1)
    wait_until(lambda: c.dbsize() == 0, msg="all keys evicted")
    got = set()

    def collect():
        m = p.get_message(timeout=0.1)
        if m and m["type"] == "pmessage":
            got.add(m["data"])
        return len(got) == 3
    wait_until(collect, msg="three evicted events")
    assert got == {b"asdf1", b"asdf2", b"asdf3"}
    assert c.info("stats")["evicted_keys"] == 3
    c.config_set("maxmemory", 0)
    p.close()
    mon.close()


def test_lfu_counter(r):
    r.config_set("maxmemory-policy", "allkeys-lfu")
    try:
        r.set("k", "v")
        assert r.object("freq", "k") >= 5
        for _ in range(200):
            r.get("k")
        assert r.object("freq", "k") > 5
    finally:
        r.config_set("maxmemory-policy", "noeviction")


def test_client_eviction_by_output_buffer(make_server):
    """maxmemory-clients: a subscriber that never reads is disconnected once its
    unsent output passes the limit; a CLIENT NO-EVICT one is spared."""
    import socket
    srv = make_server(config={"maxmemory-clients": "2mb"})
    c = srv.client()
    socks = []
    for name, protect in ((b"victim", False), (b"keeper", True)):
        s = socket.create_connection((srv.host, srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        cmds = b"CLIENT SETNAME %s\r\n" % name
        if protect:
            cmds += b"CLIENT NO-EVICT on\r\n"
        s.sendall(cmds + b"SUBSCRIBE ch\r\n")
        socks.append(s)
    wait_until(lambda: c.pubsub_numsub("ch")[0][1] == 2, msg="two subscribers")
    big = "x" * 100_000
    try:
        wait_until(lambda: c.publish("ch", big) < 2, timeout=30, msg="victim evicted")
        assert c.info("stats")["evicted_clients"] >= 1
        names = [cl["name"] for cl in c.client_list()]
        assert "victim" not in names
        assert "keeper" in names
        assert "Evicting client: " in srv.log()
    finally:
        for s in socks:
            s.close()


def test_info_eviction_exceeded_time(make_server):
    """While used memory stays over maxmemory (noeviction refuses the write), INFO's
    current_eviction_exceeded_time grows, and the period counts in the total once it ends."""
    srv = make_server()
    c = srv.client()
    c.execute_command("DEBUG", "POPULATE", 20000)
    c.config_set("maxmemory", used(c) // 2)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        c.set("x", "y")
    wait_until(lambda: c.info("stats")["current_eviction_exceeded_time"] > 0,
               msg="current_eviction_exceeded_time > 0")
    c.config_set("maxmemory", 0)
    c.config_set("maxmemory", used(c) * 4)
    c.set("x", "y")  # under the limit again: the period ends
    st = c.info("stats")
    assert st["current_eviction_exceeded_time"] == 0
    assert st["total_eviction_exceeded_time"] > 0
