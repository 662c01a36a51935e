"""Client memory as Redis counts it (CLIENT LIST qbuf/qbuf-free/argv-mem/omem/tot-mem,
INFO used_memory and mem_clients_normal): the query buffer is the read buffer and the
big bulk being read, not everything a client ever sent; the parsed arguments of an
unfinished request are client memory; pending output that fits in the static reply
buffer (rbs) is not omem."""

from __future__ import annotations

import socket

from raw import cmd, recv_until

from bocho.commands.client_cmds import output_memory, partial_argv
from bocho.network import QBUF_IOBUF, REPLY_CHUNK, resize_query_buffer
from bocho.testing.server import wait_until


def _me(r, name: str) -> dict:
    for c in r.client_list():
        if c["name"] == name:
            return c
    raise AssertionError(f"no client {name}")


def _connect(server, name: str) -> socket.socket:
    s = socket.create_connection((server.host, server.port))
    s.sendall(cmd("CLIENT", "SETNAME", name))
    assert recv_until(s, lambda b: b.endswith(b"\r\n")) == b"+OK\r\n"
    return s


def test_many_small_requests_keep_the_read_buffer(r):
    """150 requests of 1 KB each, one at a time: Redis reads each into its 16 KB read
    buffer; the query buffer does not grow to what was sent since the last cron tick."""
    r.client_setname("small")
    for _ in range(150):
        r.lpush("l", "x" * 1000)
    c = _me(r, "small")
    assert QBUF_IOBUF <= int(c["qbuf"]) + int(c["qbuf-free"]) < 32768


def test_client_memory_same_whichever_path_runs_the_command(r):
    """The figure must not depend on whether the command took the fast path (GET, INFO)
    or the full one (CONFIG, CLIENT): eviction compares both (maxmemory tests subtract a
    few KB from INFO used_memory and set that as maxmemory). (The reply buffer may
    shrink in between: the cron resizes it to recent replies.)"""
    for i in range(50):
        r.set(f"k{i}", "v")
    a = r.info("memory")["mem_clients_normal"]
    r.config_get("maxmemory")
    b = r.info("memory")["mem_clients_normal"]
    assert abs(a - b) < 2000


def test_dropped_client_gives_its_memory_back(server, r):
    """obuf-limits: a client over its hard output limit is dropped before it gets its
    reply, and used_memory returns to what it was (within the suite's 10 KB)."""
    r.config_set("client-output-buffer-limit", "normal 100000 0 0")
    try:
        for _ in range(150):
            r.lpush("mylist", "x" * 1000)
        orig = r.info("memory")["used_memory"]
        s = _connect(server, "mybiglist")
        s.sendall(cmd("LRANGE", "mylist", 0, -1))
        wait_until(lambda: all(c["name"] != "mybiglist" for c in r.client_list()),
                   msg="client dropped")
        assert r.info("memory")["used_memory"] < orig + 10000
        assert recv_until(s, lambda b: False, timeout=0.5) == b""
        s.close()
    finally:
        r.config_set("client-output-buffer-limit", "normal 0 0 0")


def test_unfinished_request_arguments_are_client_memory(server, r):
    """A request whose 100 arguments of 1000 bytes arrived but not the rest: Redis holds
    them in argv (argv-mem, tot-mem, mem_clients_normal); once it completes they go."""
    s = _connect(server, "partial")
    before = r.info("memory")["mem_clients_normal"]
    s.sendall(b"*102\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n")
    for _ in range(99):
        s.sendall(b"$1000\r\n" + b"x" * 1000 + b"\r\n")
    wait_until(lambda: int(_me(r, "partial")["argv-mem"]) >= 99 * 1000,
               msg="parsed arguments counted")
    c = _me(r, "partial")
    assert int(c["argv-mem"]) < 99 * 1000 + 2048
    assert int(c["tot-mem"]) > 99 * 1000
    assert r.info("memory")["mem_clients_normal"] > before + 90 * 1000
    s.sendall(b"$1000\r\n" + b"x" * 1000 + b"\r\n")
    assert recv_until(s, lambda b: b.endswith(b"\r\n")) == b":100\r\n"
    c = _me(r, "partial")
    assert c["argv-mem"] == "0" and int(c["tot-mem"]) < 60000
    s.close()


def test_unfinished_request_after_complete_ones_in_one_read(server, r):
    """A read holding complete requests and the start of another: only the unfinished
    one's bytes count."""
    s = _connect(server, "mixed")
    head = b"".join(cmd("SET", f"m{i}", "y" * 5000) for i in range(20))
    s.sendall(head + b"*3\r\n$3\r\nSET\r\n$1\r\nz\r\n$10000\r\n" + b"z" * 100)
    wait_until(lambda: recv_until(s, lambda b: b.count(b"+OK") == 20, timeout=0.2),
               msg="20 replies")
    c = _me(r, "mixed")
    assert int(c["argv-mem"]) < 1100  # SET and z (and hiredis's unread bytes)
    assert int(c["qbuf"]) == 100 and int(c["qbuf-free"]) >= 10000 - 100
    s.sendall(b"z" * 9900 + b"\r\n")
    assert recv_until(s, lambda b: b.endswith(b"\r\n")) == b"+OK\r\n"
    assert r.strlen("z") == 10000
    s.close()


def test_unfinished_inline_request_is_query_buffer(server, r):
    s = _connect(server, "inline")
    s.sendall(b"SET a " + b"b" * 3000)
    wait_until(lambda: int(_me(r, "inline")["qbuf"]) >= 3000, msg="inline qbuf")
    assert _me(r, "inline")["argv-mem"] == "0"
    s.close()


class _FakeReader:
    def __init__(self, n: int = 0) -> None:
        self.n = n

    def len(self) -> int:
        return self.n

    def has_data(self) -> bool:
        return self.n > 0


class _Fake:
    """The Client attributes the memory figures read."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.transport = None
        self.closing = False
        self.rbs = REPLY_CHUNK
        self.reader = _FakeReader()
        self.net_in = 0
        self.qbuf_mark = 0
        self.qbuf_alloc = 0
        self.qbuf_peak = 0
        self.last_io = 0
        self.part_in = 0
        self.part_at = -1


def test_output_within_the_reply_buffer_is_not_omem():
    c = _Fake()
    c.out.append(b"x" * 10000)
    assert output_memory(c) == 0
    c.out.append(b"x" * 10000)
    assert output_memory(c) == 20000 - REPLY_CHUNK
    c.rbs = 1024
    assert output_memory(c) == 20000 - 1024


def test_partial_argv_only_while_the_request_is_unfinished():
    c = _Fake()
    c.net_in = c.part_at = 5000
    c.part_in = 5000
    c.reader.n = 1200
    assert partial_argv(c) == 3800
    c.net_in += 10  # a later read completed it (nothing recorded since)
    assert partial_argv(c) == 0


def test_query_buffer_resize_from_reads_and_big_bulks():
    c = _Fake()
    c.net_in = 200_000  # much sent since the last tick, in small requests
    c.last_io = 100
    resize_query_buffer(c, 100)
    assert c.qbuf_alloc == QBUF_IOBUF
    # a big bulk was read (check_query_limits sized the buffer for it): kept this tick
    c.qbuf_alloc = c.qbuf_peak = 400_002
    c.net_in += 400_000
    resize_query_buffer(c, 101)
    assert c.qbuf_alloc == 400_002
    # small traffic afterwards: down to the peak (the next read takes 16 KB again)
    c.net_in += 100
    resize_query_buffer(c, 101)
    assert c.qbuf_alloc == 100
    c.net_in += 100
    resize_query_buffer(c, 101)
    assert c.qbuf_alloc == QBUF_IOBUF
    # idle for more than 2 s: freed
    resize_query_buffer(c, 104)
    assert c.qbuf_alloc == 0


# -- maxmemory-clients ----------------------------------------------------------------


def test_input_sent_first_is_counted_before_the_next_request(make_server):
    """A big unfinished bulk sent just before another client asks CLIENT LIST is already
    client memory when the answer is made (the suite's client-eviction units check it
    right after writing): replies leave after the loop polled again, so a client just
    answered does not jump the queue of sockets with input."""
    srv = make_server(config={"maxmemory": "6mb", "maxmemory-clients": "7%"})
    r = srv.client()
    n = 220_000
    late = 0
    for i in range(60):
        s = _connect(srv, f"big{i}")
        r.client_list()
        s.sendall(b"*1\r\n$%d\r\n" % n + b"v" * n)
        if int(_me(r, f"big{i}")["tot-mem"]) < n:
            late += 1
        s.close()
    assert late <= 3


def test_big_replies_evict_before_the_next_command(make_server):
    """A client that does not read its replies is evicted as soon as its output takes
    the clients over maxmemory-clients: no other client's command sees it over."""
    srv = make_server(config={"maxmemory-clients": "3mb"})
    r = srv.client()
    r.client_no_evict("on")
    r.setrange("k", 200_000, "v")
    s = _connect(srv, "reader")
    for _ in range(200):
        clients = [c for c in r.client_list() if c["name"] == "reader"]
        if not clients:
            break
        assert int(clients[0]["tot-mem"]) < 3 * 1024 * 1024
        s.sendall(cmd("GET", "k"))
    else:
        raise AssertionError("never evicted")
    assert r.info("stats")["evicted_clients"] == 1
    s.close()


def test_output_limit_goes_before_client_eviction(make_server):
    """Clients over their hard output limit are closed for it, not counted for client
    eviction, which would otherwise drop an innocent big client."""
    mb = 1024 * 1024
    srv = make_server(config={"maxmemory-clients": "10mb",
                              "client-output-buffer-limit": "normal 3mb 0 0"})
    r = srv.client()
    r.client_no_evict("on")
    r.setrange("k", 4 * mb, "v")
    big = _connect(srv, "qbuf-client")
    q = 6 * mb
    big.sendall(b"*1\r\n$%d\r\n" % q + b"v" * q)
    wait_until(lambda: int(_me(r, "qbuf-client")["qbuf"]) == q, msg="qbuf filled")
    readers = [_connect(srv, f"obuf-{i}") for i in range(2)]
    for s in readers:
        s.sendall(cmd("GET", "k"))
    wait_until(lambda: not any(c["name"].startswith("obuf-") for c in r.client_list()),
               msg="obuf clients closed")
    assert _me(r, "qbuf-client")["name"] == "qbuf-client"
    assert r.info("stats")["evicted_clients"] == 0
    for s in readers + [big]:
        s.close()
