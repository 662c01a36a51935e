"""The compiled request loop (bocho/_fastpath.pyx) against the real redis-server: its
GET/SET/INCR/DECR shortcuts, the counters it adds up in C (INFO commandstats/stats, the
slow log), and where it must hand over to the Python path (TTLs, WATCH, keyspace
events, LRU, CLIENT PAUSE, unfinished requests). `make test` runs this file under both
paths (BOCHO_PURE=1 selects the Python one); the replies must not differ."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import time

import pytest
from raw import cmd, recv_until

from bocho.testing.server import wait_until

MARK = b"$11\r\nend-of-test\r\n"


def pipeline(srv, data: bytes) -> bytes:
    """Send `data` and an ECHO marker in one write; the replies up to the marker."""
    with socket.create_connection((srv.host, srv.port), timeout=10) as s:
        s.sendall(data + cmd("ECHO", "end-of-test"))
        got = recv_until(s, lambda b: b.endswith(MARK), 10)
    assert got.endswith(MARK), got[-200:]
    return got[: -len(MARK)]


def both(server, oracle, *cmds) -> tuple[bytes, bytes]:
    data = b"".join(cmd(*c) for c in cmds)
    return pipeline(server, data), pipeline(oracle, data)


def reset(*conns) -> None:
    for r in conns:
        r.flushall()
        r.config_set("notify-keyspace-events", "")
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("slowlog-log-slower-than", 10000)


def test_mode_in_info(r):
    if os.environ.get("BOCHO_PURE", "") not in ("", "0"):
        want = "python"
    else:
        want = "compiled" if importlib.util.find_spec("bocho._fastpath") else "python"
    assert r.info("server")["bocho_fastpath"] == want


COUNTERS = [
    ("SET", "n", "0"), ("INCR", "n"), ("DECR", "n"), ("DECR", "n"), ("DECR", "n"),
    ("INCR", "n"), ("GET", "n"), ("INCR", "fresh"), ("DECR", "fresh2"),
    ("SET", "z", "007"), ("INCR", "z"), ("SET", "m0", "-0"), ("INCR", "m0"),
    ("SET", "sp", " 1"), ("INCR", "sp"), ("SET", "e", ""), ("INCR", "e"),
    ("SET", "big", "999999999999999999"), ("INCR", "big"), ("INCR", "big"),
    ("SET", "nbig", "-999999999999999999"), ("DECR", "nbig"), ("DECR", "nbig"),
    ("SET", "max", "9223372036854775806"), ("INCR", "max"), ("INCR", "max"),
    ("SET", "min", "-9223372036854775807"), ("DECR", "min"), ("DECR", "min"),
    ("SET", "f", "1.5"), ("INCR", "f"), ("APPEND", "ba", "12"), ("INCR", "ba"), ("GET", "ba"),
    ("INCR", "n", "extra"), ("DECR",), ("INCRBY", "n", "10"), ("DECRBY", "n", "3"),
    ("GET", "n"),
]

STRINGS = [
    ("SET", "k", "v"), ("GET", "k"), ("GET", "missing"), ("SET", "k", "w"), ("GET", "k"),
    ("SET", "empty", ""), ("GET", "empty"), ("SET", "big", "x" * 70000), ("GET", "big"),
    ("SET", "k", "v", "GET"), ("SET", "k", "v2", "NX"), ("SET", "k", "v3", "XX"),
    ("GET", "k"), ("SET", "k"), ("GET", "k", "extra"), ("get", "k"), ("gEt", "k"),
    ("set", "lower", "1"), ("sEt", "mixed", "2"), ("MGET", "lower", "mixed"),
    ("APPEND", "app", "a"), ("APPEND", "app", "b"), ("GET", "app"), ("SET", "app", "c"),
    ("GET", "app"), ("NOSUCHCOMMAND", "x"), ("SET", "bin", b"\x00\r\n*3\r\n$"),
    ("GET", "bin"), ("STRLEN", "bin"), ("DEL", "k"), ("GET", "k"), ("SET", "k", "again"),
    ("GET", "k"), ("MSET", "m1", "a", "m2", "b", "m1", "c"), ("MGET", "m1", "m2"),
    ("MSET", "m1"), ("MSET", "m1", "a", "m2"), ("mset", "m2", "z"), ("GET", "m2"),
]


@pytest.mark.parametrize("cmds", [COUNTERS, STRINGS], ids=["counters", "strings"])
def test_pipelined_replies_byte_exact(server, oracle, r, cmds):
    rr = oracle.client()
    reset(r, rr)
    ours, theirs = both(server, oracle, *cmds)
    assert ours == theirs
    for key in ("n", "big", "nbig", "k", "app", "bin"):
        assert r.get(key) == rr.get(key)


def test_ttl_keys_take_the_full_path(server, oracle, r):
    """A TTL that has passed sends the command to Python (lazy expiry); GET and INCR of
    a key whose TTL is in the future run in C and keep it; EXPIRE to a future time runs
    in C, to a past one deletes in Python."""
    rr = oracle.client()
    reset(r, rr)
    for c in (r, rr):
        c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        c.set("gone", "1", px=1)
        c.set("gone2", "5", px=1)
        c.set("kept", "7", ex=1000)
    t0 = time.monotonic()
    wait_until(lambda: time.monotonic() - t0 > 0.02, timeout=5)
    try:
        ours, theirs = both(server, oracle, ("GET", "gone"), ("INCR", "gone2"),
                            ("GET", "gone2"), ("TTL", "gone2"), ("INCR", "kept"),
                            ("TTL", "kept"), ("GET", "kept"), ("SET", "kept", "1"),
                            ("TTL", "kept"), ("SET", "k2", "1", "EX", "100"),
                            ("MSET", "k2", "2", "other", "3"), ("TTL", "k2"), ("GET", "k2"),
                            ("EXPIRE", "other", "100"), ("TTL", "other"),
                            ("EXPIRE", "other", "2000"), ("TTL", "other"),
                            ("EXPIRE", "nokey", "10"), ("EXPIRE", "other", "012"),
                            ("EXPIRE", "other", "x"), ("EXPIRE", "other", "-1"),
                            ("EXISTS", "other"), ("SET", "k3", "v"),
                            ("EXPIRE", "k3", "0"), ("EXISTS", "k3"))
        assert ours == theirs
        ours_i, theirs_i = r.info("stats"), rr.info("stats")
        assert ours_i["expired_keys"] == theirs_i["expired_keys"] == 2
        for f in ("keyspace_hits", "keyspace_misses"):
            assert ours_i[f] == theirs_i[f], f
    finally:
        for c in (r, rr):
            c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


def _calls(info: dict, name: str) -> int:
    return info.get(f"cmdstat_{name}", {}).get("calls", 0)


def test_counters_seen_by_info_in_the_same_read(server, oracle, r):
    """Calls, keyspace hits and dirty that the loop adds up in C are in place when INFO
    runs later in the same pipeline, and on another connection afterwards."""
    rr = oracle.client()
    reset(r, rr)
    for c in (r, rr):
        c.config_resetstat()
    before = [c.info("persistence")["rdb_changes_since_last_save"] for c in (r, rr)]
    data = (cmd("SET", "a", "1") * 3 + cmd("GET", "a") * 4 + cmd("GET", "nope")
            + cmd("INCR", "a") * 2 + cmd("INFO", "commandstats") + cmd("INFO", "stats")
            + cmd("INFO", "persistence") + cmd("INFO", "commandstats"))
    ours, theirs = pipeline(server, data), pipeline(oracle, data)

    def figures(raw: bytes) -> list:
        out = []
        for name in (b"set", b"get", b"incr", b"info"):
            out.append(re.findall(rb"cmdstat_" + name + rb":calls=(\d+)", raw))
        for name in (b"keyspace_hits", b"keyspace_misses"):
            out.append(re.findall(name + rb":(\d+)", raw))
        return out

    for raw, b in ((ours, before[0]), (theirs, before[1])):
        assert re.findall(rb"rdb_changes_since_last_save:(\d+)", raw) == [b"%d" % (b + 5)]

    assert figures(ours) == figures(theirs)
    assert figures(ours)[0] == [b"3", b"3"]
    for name in ("set", "get", "incr"):
        assert _calls(r.info("commandstats"), name) == _calls(rr.info("commandstats"), name)
    assert r.info("stats")["keyspace_hits"] == rr.info("stats")["keyspace_hits"] == 4


def test_slowlog_logs_fast_commands(server, oracle, r):
    rr = oracle.client()
    reset(r, rr)
    logs = []
    for srv, c in ((server, r), (oracle, rr)):
        c.config_set("slowlog-log-slower-than", 0)
        c.slowlog_reset()
        pipeline(srv, cmd("SET", "s", "1") + cmd("GET", "s") + cmd("INCR", "s")
                 + cmd("GET", "s"))
        c.config_set("slowlog-log-slower-than", 10000)
        logs.append([e["command"] for e in c.slowlog_get(20)])
    assert logs[0] == logs[1]
    assert [b"GET s", b"INCR s", b"GET s", b"SET s 1"] == [
        x for x in logs[0] if x.endswith(b" s") or x == b"SET s 1"]


def test_watch_sees_fast_writes(server, r):
    r.flushall()
    w = server.client()
    try:
        w.set("wk", "0")
        p = w.pipeline()
        p.watch("wk")
        p.multi()
        p.set("wk", "from-exec")
        pipeline(server, cmd("INCR", "wk") + cmd("SET", "wk", "x"))
        with pytest.raises(Exception, match="[Ww]atch"):
            p.execute()
        assert r.get("wk") == b"x"
    finally:
        w.close()


def test_keyspace_events_of_fast_commands(server, oracle, r):
    rr = oracle.client()
    reset(r, rr)
    got = []
    for srv, c in ((server, r), (oracle, rr)):
        c.config_set("notify-keyspace-events", "KEA")
        sub = c.pubsub()
        sub.psubscribe("__keyspace@0__:*")
        wait_until(lambda s=sub: s.get_message(timeout=0.1) is not None, timeout=5)
        pipeline(srv, cmd("SET", "ev", "1") + cmd("INCR", "ev") + cmd("DECR", "ev")
                 + cmd("GET", "ev") + cmd("SET", "ev", "2"))
        events = []
        deadline = time.monotonic() + 5
        while len(events) < 4 and time.monotonic() < deadline:
            m = sub.get_message(timeout=0.2)
            if m and m["type"] == "pmessage":
                events.append(m["data"])
        sub.close()
        c.config_set("notify-keyspace-events", "")
        got.append(events)
    assert got[0] == got[1] == [b"set", b"incrby", b"incrby", b"set"]


def test_lru_policy_takes_the_python_path(server, oracle, r):
    rr = oracle.client()
    reset(r, rr)
    try:
        for c in (r, rr):
            c.config_set("maxmemory-policy", "allkeys-lru")
        ours, theirs = both(server, oracle, ("SET", "l", "1"), ("GET", "l"), ("INCR", "l"),
                            ("GET", "l"), ("OBJECT", "FREQ", "l"))
        assert ours == theirs
    finally:
        reset(r, rr)


def test_pause_holds_the_rest_of_a_read(server, r):
    """CLIENT PAUSE WRITE: the GET before the SET is answered, the SET and what follows it
    wait for UNPAUSE, in order."""
    r.flushall()
    r.set("p", "old")
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        r.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
        try:
            s.sendall(cmd("GET", "p") + cmd("SET", "p", "new") + cmd("GET", "p"))
            first = recv_until(s, lambda b: len(b) >= 9, 5)
            assert first == b"$3\r\nold\r\n"
        finally:
            r.execute_command("CLIENT", "UNPAUSE")
        rest = recv_until(s, lambda b: len(b) >= 14, 5)
        assert rest == b"+OK\r\n$3\r\nnew\r\n"


def test_unfinished_request_after_fast_ones(server, r):
    r.flushall()
    req = cmd("SET", "u", "0123456789")
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(cmd("SET", "a", "1") + cmd("GET", "a") + req[:9])
        assert recv_until(s, lambda b: len(b) >= 12, 5) == b"+OK\r\n$1\r\n1\r\n"
        s.sendall(req[9:] + cmd("GET", "u") + cmd("PING"))
        want = b"+OK\r\n$10\r\n0123456789\r\n+PONG\r\n"
        assert recv_until(s, lambda b: len(b) >= len(want), 5) == want


def test_compiled_bulk_array_matches_python():
    """LRANGE & co. build their array replies in C when compiled: the same bytes as the
    Python builder, for every element size and count; bytearrays go back to it."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import bocho.server  # noqa: F401 - installs the compiled loop unless BOCHO_PURE
    from bocho import network, resp
    if network.FASTPATH != "compiled":
        pytest.skip("the pure-Python path builds these replies in Python")
    build = resp.bulk_strings

    def ref(items):
        return b"*%d\r\n" % len(items) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x)
                                                   for x in items)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=300), max_size=1200))
    def check(items):
        assert build(items) == ref(items)

    check()
    assert build([b"a" * 100_000, b""]) == ref([b"a" * 100_000, b""])
    assert build([b"a", bytearray(b"bc")]) == ref([b"a", b"bc"])


TRANSACTIONS = [
    ("MULTI",), ("SET", "a", "1"), ("INCR", "a"), ("GET", "a"), ("MSET", "b", "2", "c", "3"),
    ("LPUSH", "l", "x"), ("INCR", "l"), ("GET", "nope"), ("DECR", "a"), ("EXEC",),
    ("MULTI",), ("SET", "a"), ("GET", "a"), ("EXEC",),
    ("MULTI",), ("NOSUCH",), ("EXEC",),
    ("MULTI",), ("MULTI",), ("WATCH", "a"), ("SET", "a", "2"), ("EXEC",),
    ("MULTI",), ("CONFIG", "SET", "maxmemory", "1gb"), ("SET", "a", "3"), ("GET", "a"),
    ("CONFIG", "SET", "maxmemory", "0"), ("INCR", "a"), ("CLIENT", "GETNAME"), ("EXEC",),
    ("MULTI",), ("DISCARD",), ("EXEC",), ("MULTI",), ("EXEC",),
    ("MULTI",), ("SET", "a", "4"), ("DISCARD",), ("GET", "a"),
    ("MULTI",), ("SET", "a", "5"), ("EXEC", "extra"), ("EXEC",), ("GET", "a"),
]


def test_transactions_byte_exact(server, oracle, r):
    """MULTI/EXEC pipelined (the compiled loop queues plain commands itself and runs
    EXEC's commands as its own requests): replies, data and command statistics as
    redis-server's, also when a queued command makes the server slow mid-EXEC."""
    rr = oracle.client()
    reset(r, rr)
    for c in (r, rr):
        c.config_resetstat()
    ours, theirs = both(server, oracle, *TRANSACTIONS)
    assert ours == theirs
    for key in ("a", "b", "c"):
        assert r.get(key) == rr.get(key)
    ci, ri = r.info("commandstats"), rr.info("commandstats")
    for name in ("set", "get", "incr", "decr", "mset", "lpush", "exec", "multi", "discard",
                 "config|set", "client|getname"):
        assert _calls(ci, name) == _calls(ri, name), name
        key = f"cmdstat_{name}"
        for field in ("rejected_calls", "failed_calls"):
            assert ci.get(key, {}).get(field) == ri.get(key, {}).get(field), (name, field)
    assert r.config_get("maxmemory") == {"maxmemory": "0"}


def test_transaction_acl_change_between_queue_and_exec(server, oracle, r):
    """A queued command that the ACLs stop allowing before EXEC (here: by an earlier
    command of the same transaction) gets EXEC's NOPERM in its slot."""
    rr = oracle.client()
    reset(r, rr)
    for c in (r, rr):
        c.execute_command("ACL", "SETUSER", "txu", "on", "nopass", "+@all", "~*")
    data = (cmd("AUTH", "txu", "x") + cmd("MULTI") + cmd("SET", "k", "1")
            + cmd("ACL", "SETUSER", "txu", "-set") + cmd("SET", "k", "2") + cmd("GET", "k")
            + cmd("EXEC"))
    try:
        assert pipeline(server, data) == pipeline(oracle, data)
        assert r.get("k") == rr.get("k") == b"1"
    finally:
        for c in (r, rr):
            c.execute_command("ACL", "DELUSER", "txu")


BENCH_SCRIPT = ("redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 3600) "
                "return redis.call('GET', KEYS[1])")
# a script reading the statistics between its own commands
INFO_SCRIPT = ("redis.call('INCR', KEYS[1]) local a = redis.call('INFO', 'commandstats') "
               "redis.call('GET', KEYS[1]) "
               "return a .. redis.call('INFO', 'stats') .. redis.call('INFO', 'persistence')")
STAT_NAMES = (b"incr", b"expire", b"get", b"evalsha", b"eval", b"info", b"exec", b"multi",
              b"config\\|resetstat", b"latency\\|histogram")


def _stat_figures(raw: bytes) -> list:
    """Every calls= of the commands that matter, keyspace hits and LATENCY HISTOGRAM's
    counts, in reply order (the usec figures are the clocks')."""
    out = [re.findall(rb"cmdstat_" + name + rb":calls=(\d+)", raw) for name in STAT_NAMES]
    out.append(re.findall(rb"keyspace_hits:(\d+)", raw))
    out.append(re.findall(rb"\$5\r\ncalls\r\n:(\d+)", raw))
    return out


def test_script_command_counters_exact(server, oracle, r):
    """A script's commands run in C (INCR, EXPIRE, GET) count calls, keyspace hits and
    dirty that are exact wherever they are read: INFO in the same pipeline, INFO and
    LATENCY HISTOGRAM run by a script between its commands, inside EXEC, after CONFIG
    RESETSTAT between scripts, and on another connection afterwards."""
    rr = oracle.client()
    reset(r, rr)
    for c in (r, rr):
        c.config_resetstat()
        c.set("k", "5")
    sha = r.script_load(BENCH_SCRIPT)
    assert rr.script_load(BENCH_SCRIPT) == sha
    before = [c.info("persistence")["rdb_changes_since_last_save"] for c in (r, rr)]
    run = cmd("EVALSHA", sha, "1", "k")
    data = (run * 3 + cmd("INFO", "commandstats") + run + cmd("CONFIG", "RESETSTAT")
            + run * 2 + cmd("EVAL", INFO_SCRIPT, "1", "k") + run
            + cmd("EVAL", "return redis.call('LATENCY', 'HISTOGRAM', 'incr', 'get')", "0")
            + cmd("MULTI") + run + cmd("INFO", "commandstats") + cmd("EXEC")
            + cmd("LATENCY", "HISTOGRAM", "expire") + run + cmd("INFO", "commandstats")
            + cmd("INFO", "stats") + cmd("INFO", "persistence"))
    ours, theirs = pipeline(server, data), pipeline(oracle, data)
    assert _stat_figures(ours) == _stat_figures(theirs)
    assert _stat_figures(ours)[0][-1] == b"6"  # the last INFO's incr calls
    changes = [re.findall(rb"rdb_changes_since_last_save:(\d+)", raw)
               for raw in (ours, theirs)]
    assert [int(x) - before[0] for x in changes[0]] == [int(x) - before[1] for x in changes[1]]
    ci, ri = r.info("commandstats"), rr.info("commandstats")
    for name in ("incr", "expire", "get", "evalsha", "eval", "info", "exec", "multi",
                 "config|resetstat", "latency|histogram"):
        assert _calls(ci, name) == _calls(ri, name), name
    assert r.info("stats")["keyspace_hits"] == rr.info("stats")["keyspace_hits"]
    assert r.get("k") == rr.get("k") == b"15"


BUSY_SCRIPT = ("for i = 1, 5000000 do end "
               "redis.call('INCR', KEYS[1]) return redis.call('INFO', 'persistence')")


@pytest.mark.parametrize("mode", ["tracking", "busy"])
def test_script_counters_exact_in_python(server, oracle, r, mode):
    """A script's commands that take Client.execute (a client tracks keys; the script
    ran past busy-reply-threshold, which makes the server slow) find in place what C
    counted before the script (the script command itself leaves it pending)."""
    rr = oracle.client()
    reset(r, rr)
    for c in (r, rr):
        c.config_resetstat()
        c.set("k", "5")
        c.config_set("busy-reply-threshold", 10 if mode == "busy" else 5000)
    sha = r.script_load(BENCH_SCRIPT)
    assert rr.script_load(BENCH_SCRIPT) == sha
    before = [c.info("persistence")["rdb_changes_since_last_save"] for c in (r, rr)]
    got = []
    try:
        for srv in (server, oracle):
            with socket.create_connection((srv.host, srv.port), timeout=10) as t:
                if mode == "tracking":
                    t.sendall(cmd("CLIENT", "TRACKING", "on"))
                    assert recv_until(t, lambda b: b.endswith(b"\r\n"), 10) == b"+OK\r\n"
                got.append(pipeline(srv, cmd("SET", "k", "7") + cmd("SET", "j", "1")
                                    + cmd("GET", "k") * 2 + cmd("EVALSHA", sha, "1", "k")
                                    + cmd("EVAL", BUSY_SCRIPT, "1", "k")
                                    + cmd("EVAL", INFO_SCRIPT, "1", "k")))
    finally:
        for c in (r, rr):
            c.config_set("busy-reply-threshold", 5000)
    assert _stat_figures(got[0]) == _stat_figures(got[1])
    changes = [re.findall(rb"rdb_changes_since_last_save:(\d+)", raw) for raw in got]
    assert len(changes[0]) == 2
    assert [int(x) - before[0] for x in changes[0]] == [int(x) - before[1] for x in changes[1]]
