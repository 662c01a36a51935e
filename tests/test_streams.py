"""Streams (t_stream.c): every X* command side by side with a real redis-server in RESP2
and RESP3 (replies and error texts), consumer-group state, node-exact approximate
trimming, propagation of the deterministic forms, blocking XREAD/XREADGROUP, and the
keyspace integration (TYPE, OBJECT ENCODING, COPY, RENAME, DEBUG DIGEST, MEMORY USAGE,
keyspace events)."""

from __future__ import annotations

import random
import time

import pytest
from oracle import assert_same, run
from raw import wait_blocked

from bocho.testing.server import wait_until


def raw(c):
    """A client whose replies are left as the server sent them (no redis-py parsing)."""
    for k in list(c.response_callbacks):
        c.response_callbacks[k] = lambda x, **kw: x
    return c


def _mask_clock(cmds, replies):
    """XPENDING's extended form reports idle milliseconds: a clock reading."""
    out = []
    for cmd, rep in zip(cmds, replies, strict=True):
        if cmd[0].lower() == "xpending" and len(cmd) > 3 and isinstance(rep, list):
            rep = [x[:2] + ["idle"] + x[3:] for x in rep]
        out.append(rep)
    return out


def same(pair, cmds, protocol=2):
    a, b = pair(protocol)
    raw(a)
    raw(b)
    got, want = run(a, cmds), run(b, cmds)
    assert_same(_mask_clock(cmds, got), _mask_clock(cmds, want), cmds)
    return got


def cmds(text: str) -> list[tuple]:
    import shlex
    return [tuple(shlex.split(line)) for line in text.strip().splitlines()
            if line.strip() and not line.strip().startswith("#")]


BASIC = cmds("""
xadd s 1-1 a 1 b 2
xadd s 1-1 a 1
xadd s 1-* a 1
xadd s 2 c 3
xadd s 0-0 a b
xadd s 1-2-3 a b
xadd s " 5" a b
xadd s +5 a b
xadd s 00007-1 a b
xadd s -8 a b
xadd s maxlen 2 8-0 x y
xadd s maxlen ~ 2 9-0 x y
xadd s minid ~ 2 10-0 x y
xadd s minid = 9 11-0 x y
xadd s nomkstream 12 a b
xadd nos nomkstream 12 a b
xadd s maxlen -1 * a b
xadd s limit 5 * a b
xadd s maxlen 5 limit 5 * a b
xadd s minid 5 maxlen 3 * a b
xadd s maxlen abc * a b
xadd s 13 a
xadd s
xlen s
xlen nos
xrange s - +
xrevrange s + -
xrange s - + count 1
xrange s - + count 0
xrange s - + count -1
xrange s (8 +
xrange s - (11
xrange s (- +
xrange s - (+
xrange s 8 9
xrange s 9 8
xrange s - + foo
xrange s - + count
xrange nos - +
xrange s abc +
xdel s 9-0 10-0 99-0
xdel s bad
xdel nos 1-1
xtrim s maxlen 1
xtrim s
xtrim s limit 5
xtrim s maxlen 1 limit 5
xtrim s maxlen ~ 1 limit 5
xtrim nos maxlen 0
set str x
xadd str * a b
xlen str
xrange str - +
xread streams str 0
xsetid s 100-0
xsetid s 1-0
xsetid nos 1-1
xsetid s 200 entriesadded 0
xsetid s 200 entriesadded -1
xsetid s 200 maxdeletedid 300
xsetid s 200 maxdeletedid 100 entriesadded 50
xsetid s 200 foo
xinfo stream s
xinfo stream s full
xinfo stream s full count 1
xinfo stream s full count
xinfo stream s foo
xinfo stream nos
xinfo help
xinfo help x
xinfo foo s
xgroup help
xgroup help x
xgroup create s g $
xgroup create s g $
xgroup create nos g $
xgroup create nos g $ mkstream
xgroup create s g2 0 entriesread 5
xgroup create s g3 0 entriesread -2
xgroup create s g3 0 foo
xgroup create s g4 +
xgroup setid s g 0
xgroup setid s nog 0
xgroup setid s g - entriesread 3
xgroup createconsumer s g alice
xgroup createconsumer s g alice
xgroup createconsumer s nog alice
xgroup delconsumer s g alice
xgroup delconsumer s g bob
xgroup destroy s g2
xgroup destroy s g2
xgroup foo s g
xinfo groups s
xinfo consumers s nog
xpending s g
xpending s nog
xpending s g - + 10
xpending s g - +
xpending s g idle 5 - + 10
xpending s g idle 5 - +
xpending s g - + abc
xpending s g x + 10
type s
object encoding s
""")

GROUPS = cmds("""
xadd s 1 a 1
xadd s 2 b 2
xadd s 3 c 3
xadd s 4 d 4
xadd s 5 e 5
xgroup create s g 0
xreadgroup group g alice count 2 streams s >
xreadgroup group g bob streams s >
xreadgroup group g alice streams s 0
xreadgroup group g alice count 1 streams s 0
xreadgroup group g bob streams s 3
xreadgroup group g carol streams s 0
xreadgroup group g alice streams s $
xreadgroup group nog alice streams s >
xreadgroup group g alice streams nos >
xreadgroup group g alice streams s
xreadgroup group g alice streams s > >
xreadgroup streams s >
xreadgroup group g alice block -1 streams s >
xreadgroup group g alice block abc streams s >
xreadgroup group g alice count abc streams s >
xreadgroup group g alice foo streams s >
xread group g alice streams s >
xread noack streams s 0
xread streams s >
xread streams s 0
xread count 2 streams s 0
xread count 2 streams s nos 2 0
xread streams s $
xread streams nos $
xread streams s bad
xread streams s -
xread block 10 streams s 99
eval "return redis.call('xread', 'block', '0', 'streams', 's', '$')" 0
eval "return redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', 's', '>')" 0
eval "return redis.call('xread', 'count', '1', 'streams', 's', '0')" 0
xpending s g
xpending s g - + 10 alice
xpending s g (1 (5 10
xdel s 2
xreadgroup group g alice streams s 0
xclaim s g dave 0 1 2 3 justid
xclaim s g dave 0 1 2 3
xclaim s g dave 0 1 force
xclaim s g dave 0 1 retrycount 7
xclaim s g dave abc 1
xclaim s g dave 0 1 foo
xclaim s g dave 0 1 idle abc
xclaim s g dave 0 1 time abc
xclaim s g dave 0 1 retrycount abc
xclaim s g dave 0 1 lastid bad
xclaim s nog dave 0 1
xclaim nos g dave 0 1
xadd s 6 f 6
xclaim s g erin 0 6 force justid
xclaim s g erin 0 6 lastid 100
xinfo groups s
xautoclaim s g frank 0 - count 1
xautoclaim s g frank 0 - count 0
xautoclaim s g frank 0 - count abc
xautoclaim s g frank 0 - count 8070450532247928833
xautoclaim s g frank abc -
xautoclaim s g frank 0 bad
xautoclaim s g frank 0 - foo
xautoclaim s nog frank 0 -
xautoclaim s g frank 0 (3 justid
xautoclaim s g frank 0 -
xdel s 4
xautoclaim s g gina 0 - count 2
xautoclaim s g gina 0 0 count 100
xack s g 1 3 bad
xack s g 1 3
xack s g 1 3
xack s nog 1
xack nos g 1
xpending s g
xgroup delconsumer s g gina
xgroup setid s g $
xinfo groups s
xadd s 7 x y
xinfo groups s
xreadgroup group g h noack streams s >
xinfo groups s
xpending s g
xgroup create e g 0 mkstream
xinfo groups e
xadd e 1-0 d a
xdel e 1-0
xinfo groups e
""")

# Consumer-group read counter and lag, including the cases where lag is nil.
LAG = cmds("""
xadd x 1-0 data a
xadd x 2-0 data b
xadd x 3-0 data c
xadd x 4-0 data d
xadd x 5-0 data e
xdel x 3-0
xgroup create x g1 0
xgroup create x g2 0
xinfo groups x
xreadgroup group g1 c11 count 1 streams x >
xinfo groups x
xreadgroup group g1 c11 count 2 streams x >
xinfo groups x
xreadgroup group g1 c11 count 1 streams x >
xinfo groups x
xadd x 6-0 data f
xinfo groups x
xtrim x minid = 3-0
xinfo groups x
xtrim x minid = 5-0
xinfo groups x
xgroup setid x g2 5-0 entriesread 3
xinfo groups x
xgroup setid x g2 7-0
xinfo groups x
# a read counter past entries-added: the lag goes negative (not nil)
xgroup setid x g1 $ entriesread 99
xinfo groups x
""")


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", ["BASIC", "GROUPS", "LAG"])
def test_side_by_side(pair, name, protocol):
    same(pair, globals()[name], protocol)


def test_xinfo_consumers_and_full(pair):
    a, b = pair(2)
    raw(a)
    raw(b)
    for c in (a, b):
        c.execute_command("XADD", "s", "1", "a", "1")
        c.execute_command("XADD", "s", "2", "b", "2")
        c.execute_command("XGROUP", "CREATE", "s", "g", "0")
        c.execute_command("XREADGROUP", "GROUP", "g", "zed", "COUNT", "1", "STREAMS", "s", ">")
        c.execute_command("XREADGROUP", "GROUP", "g", "amy", "STREAMS", "s", ">")
    got = a.execute_command("XINFO", "CONSUMERS", "s", "g")
    want = b.execute_command("XINFO", "CONSUMERS", "s", "g")
    # names in rax (lexicographic) order, pending counts; idle is a clock reading
    assert [x[:4] for x in got] == [x[:4] for x in want]
    assert all(0 <= x[5] < 5000 for x in got)
    full_a = a.execute_command("XINFO", "STREAM", "s", "FULL")
    full_b = b.execute_command("XINFO", "STREAM", "s", "FULL")
    assert full_a[:16] == full_b[:16]
    ga, gb = full_a[17][0], full_b[17][0]
    assert ga[:10] == gb[:10]  # name .. pel-count
    assert [p[:2] + p[3:] for p in ga[11]] == [p[:2] + p[3:] for p in gb[11]]
    assert [c[1] for c in ga[13]] == [c[1] for c in gb[13]]


def test_trimming_and_node_layout_fuzz(pair):
    """Random XADD (with MAXLEN/MINID =/~ and LIMIT), XDEL, XTRIM and node-size changes:
    the same lengths, entries and radix-tree counts as Redis, i.e. the same node
    boundaries (stream-node-max-entries and the listpack byte limit)."""
    a, b = pair(2)
    raw(a)
    raw(b)
    rnd = random.Random(7)
    cmds_run = []
    ms = 1
    for _ in range(1500):
        op = rnd.random()
        if op < 0.6:
            ms += rnd.choice([0, 1, 1, 5, 1000, 10**9])
            fv = []
            for i in range(rnd.choice([1, 1, 2, 3])):
                fv.append(rnd.choice(["f", "field", f"x{i}", "12", "-5",
                                      str(rnd.randint(0, 10**12))]))
                fv.append(rnd.choice(["v", "1", "-1", "100000",
                                      "x" * rnd.choice([1, 10, 70, 300, 5000]),
                                      str(rnd.randint(-10**15, 10**15))]))
            trim = []
            if rnd.random() < 0.1:
                kind = rnd.choice(["maxlen", "minid"])
                trim = [kind] + [t for t in [rnd.choice(["~", "=", None])] if t]
                trim.append(str(rnd.randint(0, 300)) if kind == "maxlen"
                            else f"{max(1, ms - rnd.randint(0, 20))}-0")
                if "~" in trim and rnd.random() < 0.5:
                    trim += ["limit", str(rnd.randint(0, 200))]
            cmd = ("xadd", "s", *trim, f"{ms}-*", *fv)
        elif op < 0.8:
            cmd = ("xdel", "s", *[f"{ms - rnd.randint(0, 3000)}-0" for _ in range(2)])
        elif op < 0.85:
            cmd = ("xtrim", "s", rnd.choice(["maxlen", "minid"]), rnd.choice(["~", "="]),
                   str(rnd.randint(0, 400)))
        elif op < 0.9:
            cmd = ("config", "set", "stream-node-max-entries", str(rnd.choice([0, 1, 2, 10, 100])),
                   "stream-node-max-bytes", str(rnd.choice([0, 100, 500, 4096])))
        else:
            cmd = ("xinfo", "stream", "s")
        cmds_run.append(cmd)
    cmds_run.append(("xinfo", "stream", "s", "full", "count", "0"))
    try:
        assert_same(run(a, cmds_run), run(b, cmds_run), cmds_run)
    finally:
        for c in (a, b):
            c.execute_command("config", "set", "stream-node-max-entries", "100",
                              "stream-node-max-bytes", "4096")


def test_approximate_trim_whole_nodes(r):
    r.config_set("stream-node-max-entries", 100)
    for j in range(1000):
        r.xadd("s", {"item": j}, maxlen=555, approximate=True)
    assert r.xlen("s") == 600
    r.delete("s")
    r.config_set("stream-node-max-entries", 10)
    try:
        for _ in range(100):
            r.xadd("s", {"x": "v"})
        r.execute_command("XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "*", "x", "v")
        assert r.xlen("s") == 71
    finally:
        r.config_set("stream-node-max-entries", 100)


def test_big_stream_reads(r):
    pipe = r.pipeline(transaction=False)
    for j in range(5000):
        pipe.xadd("s", {"item": j}, id=f"{j + 1}-0")
    pipe.execute()
    assert r.xlen("s") == 5000
    got = r.xrange("s", "2500", "+", count=3)
    assert [e[0] for e in got] == [b"2500-0", b"2501-0", b"2502-0"]
    got = r.xrevrange("s", "(2500-0", "-", count=2)
    assert [e[0] for e in got] == [b"2499-0", b"2498-0"]
    last = "-"
    seen = 0
    while True:
        chunk = r.xrange("s", last, "+", count=700)
        if not chunk:
            break
        seen += len(chunk)
        last = "(" + chunk[-1][0].decode()
    assert seen == 5000


# -- propagation ------------------------------------------------------------------------------

def test_propagation(inproc):
    run = inproc
    rid = run("XADD", "s", "*", "f", "v")
    assigned = rid.split(b"\r\n")[1]
    assert run.argvs()[-1] == [b"XADD", b"s", assigned, b"f", b"v"]
    run("XADD", "u", "5-3", "f", "v")
    assert run.argvs()[-1] == [b"XADD", b"u", b"5-3", b"f", b"v"]
    run("XADD", "u", "5-*", "f", "v")
    assert run.argvs()[-1] == [b"XADD", b"u", b"5-4", b"f", b"v"]
    for _ in range(250):
        run("XADD", "t", "*", "f", "v")
    run("XADD", "t", "MAXLEN", "~", "120", "*", "f", "v")
    last = run.argvs()[-1]
    assert last[:5] == [b"XADD", b"t", b"MAXLEN", b"=", b"151"]
    run("XTRIM", "t", "MINID", "~", "0-0")
    n = len(run.argvs())
    run("XTRIM", "t", "MAXLEN", "~", "10")
    assert run.argvs()[-1][:4] == [b"XTRIM", b"t", b"MAXLEN", b"="]
    assert len(run.argvs()) == n + 1
    # an exact trim propagates verbatim
    run("XTRIM", "t", "MAXLEN", "5")
    assert run.argvs()[-1] == [b"XTRIM", b"t", b"MAXLEN", b"5"]


def test_group_propagation(inproc):
    run = inproc
    run("XADD", "s", "1-0", "a", "1")
    run("XADD", "s", "2-0", "b", "2")
    run("XGROUP", "CREATE", "s", "g", "0")
    assert run.argvs()[-1] == [b"XGROUP", b"CREATE", b"s", b"g", b"0"]
    n = len(run.argvs())
    run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    new = run.argvs()[n:]
    assert [a[:6] for a in new] == [[b"XCLAIM", b"s", b"g", b"alice", b"0", b"1-0"],
                                    [b"XCLAIM", b"s", b"g", b"alice", b"0", b"2-0"]]
    # XCLAIM key group consumer 0 id TIME <ms> RETRYCOUNT 1 FORCE JUSTID LASTID <last>
    assert new[0][6] == b"TIME" and new[0][7].isdigit()
    assert new[0][8:] == [b"RETRYCOUNT", b"1", b"FORCE", b"JUSTID", b"LASTID", b"1-0"]
    assert new[1][8:] == [b"RETRYCOUNT", b"1", b"FORCE", b"JUSTID", b"LASTID", b"2-0"]
    # a history read changes delivery counts only: nothing propagated
    n = len(run.argvs())
    run("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")
    assert len(run.argvs()) == n
    # NOACK: the new consumer and the group's last ID
    run("XADD", "s", "3-0", "c", "3")
    n = len(run.argvs())
    run("XREADGROUP", "GROUP", "g", "bob", "NOACK", "STREAMS", "s", ">")
    assert run.argvs()[n:] == [[b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"bob"],
                               [b"XGROUP", b"SETID", b"s", b"g", b"3-0", b"ENTRIESREAD", b"3"]]
    # XCLAIM of a deleted entry propagates the PEL cleanup
    run("XDEL", "s", "1-0")
    n = len(run.argvs())
    out = run("XCLAIM", "s", "g", "carol", "0", "1-0", "2-0")
    assert out.startswith(b"*1\r\n")
    new = run.argvs()[n:]
    assert [a[3] for a in new] == [b"alice", b"carol"]
    assert [a[5] for a in new] == [b"1-0", b"2-0"]
    # XCLAIM LASTID alone: XGROUP SETID
    n = len(run.argvs())
    run("XCLAIM", "s", "g", "carol", "0", "9-0", "LASTID", "5-0")
    assert run.argvs()[n:] == [[b"XGROUP", b"SETID", b"s", b"g", b"5-0", b"ENTRIESREAD",
                                b"3"]]
    # a read-only command propagates nothing
    n = len(run.argvs())
    run("XPENDING", "s", "g")
    run("XINFO", "STREAM", "s")
    assert len(run.argvs()) == n


# -- blocking ------------------------------------------------------------------------------

def test_xread_block_served_by_xadd(r, deferred):
    r.xadd("s", {"old": "x"}, id="1-0")
    d = deferred()
    d.send("XREAD", "BLOCK", 0, "STREAMS", "nothere", "s", "$", "$")
    wait_blocked(r)
    assert not d.pending()
    r.xadd("s", {"new": "y"}, id="2-0")
    assert d.read() == [[b"s", [[b"2-0", [b"new", b"y"]]]]]


def test_xread_block_reply_shapes(r, deferred):
    for protocol in (2, 3):
        r.delete("s")
        d = deferred(protocol)
        d.conn.send_command("XREAD", "COUNT", 1, "BLOCK", 0, "STREAMS", "s", "$")
        wait_blocked(r)
        r.xadd("s", {"f": "v"}, id="5-0")
        r.xadd("s", {"f": "w"}, id="6-0")
        got = d.read()
        if protocol == 2:
            assert got == [[b"s", [[b"5-0", [b"f", b"v"]]]]]
        else:
            assert got == {b"s": [[b"5-0", [b"f", b"v"]]]}


def test_xread_block_timeout(r, deferred):
    d = deferred()
    t0 = time.monotonic()
    d.send("XREAD", "BLOCK", 100, "STREAMS", "s", "$")
    assert d.read(timeout=5) is None
    assert time.monotonic() - t0 >= 0.09
    d3 = deferred(3)
    d3.send("XREAD", "BLOCK", 50, "STREAMS", "s", "$")
    assert d3.read(timeout=5) is None


def test_xread_block_several_clients_in_order(r, deferred):
    clients = [deferred() for _ in range(3)]
    for i, d in enumerate(clients):
        d.send("XREAD", "BLOCK", 0, "STREAMS", "s", "$")
        wait_blocked(r, i + 1)
    r.xadd("s", {"f": "v"}, id="1-0")
    for d in clients:
        assert d.read()[0][1][0][0] == b"1-0"


def test_xread_block_not_woken_by_deleted_entries(r, deferred):
    d = deferred()
    d.send("XREAD", "BLOCK", 0, "STREAMS", "s", "$")
    wait_blocked(r)
    p = r.pipeline(transaction=True)
    p.xadd("s", {"old": "x"})
    p.delete("s")
    p.lpush("s", "a")
    p.execute()
    r.delete("s")
    assert not d.pending()
    r.xadd("s", {"new": "y"})
    assert d.read()[0][1][0][1] == [b"new", b"y"]


def test_xread_block_inside_multi_does_not_block(pair):
    a, b = pair(2)
    out = []
    for c in (raw(a), raw(b)):
        p = c.pipeline(transaction=True)
        p.execute_command("XREAD", "BLOCK", 0, "STREAMS", "s", "$")
        p.execute_command("XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "s", ">")
        out.append(p.execute(raise_on_error=False))
    assert str(out[0]) == str(out[1])


def test_xreadgroup_block(r, deferred):
    r.xgroup_create("s", "g", "$", mkstream=True)
    a, b = deferred(), deferred()
    a.send("XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">")
    wait_blocked(r)
    b.send("XREADGROUP", "GROUP", "g", "bob", "BLOCK", 0, "STREAMS", "s", ">")
    wait_blocked(r, 2)
    r.xadd("s", {"f": "1"}, id="1-0")
    assert a.read() == [[b"s", [[b"1-0", [b"f", b"1"]]]]]
    assert not b.pending()  # the group moved past 1-0: bob keeps waiting
    r.xadd("s", {"f": "2"}, id="2-0")
    assert b.read() == [[b"s", [[b"2-0", [b"f", b"2"]]]]]
    pend = r.xpending_range("s", "g", "-", "+", 10)
    assert [(p["message_id"], p["consumer"]) for p in pend] == [(b"1-0", b"alice"),
                                                                (b"2-0", b"bob")]


def test_xreadgroup_block_unblocked_by_destroy_and_delete(r, deferred):
    r.xgroup_create("s", "g", "$", mkstream=True)
    d = deferred()
    d.send("XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">")
    wait_blocked(r)
    r.xgroup_destroy("s", "g")
    err = d.read()
    assert err[0] == "error" and err[1].startswith(
        "NOGROUP the consumer group this client was blocked on no longer exists")
    r.xgroup_create("s", "g", "$")
    d.send("XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">")
    wait_blocked(r)
    r.delete("s")
    err = d.read()
    assert err[0] == "error" and "no longer exists" in err[1]
    assert int(r.info("clients")["blocked_clients"]) == 0


def test_xreadgroup_block_history_does_not_block(r, deferred):
    r.xgroup_create("s", "g", "$", mkstream=True)
    assert r.execute_command("XREADGROUP", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", "s",
                             "0") == [[b"s", []]]


# -- keyspace integration ---------------------------------------------------------------------

def test_keyspace_integration(r):
    r.xadd("s", {"a": "1"}, id="1-0")
    r.xgroup_create("s", "g", "0")
    r.xreadgroup("g", "c", {"s": ">"})
    assert r.type("s") == b"stream"
    assert r.object("encoding", "s") == b"stream"
    assert r.copy("s", "t")
    r.xadd("s", {"b": "2"}, id="2-0")
    assert r.xlen("t") == 1
    assert r.xinfo_groups("t")[0]["pending"] == 1
    r.xack("s", "g", "1-0")
    assert r.xinfo_groups("t")[0]["pending"] == 1  # the copy's PEL is its own
    r.rename("t", "u")
    assert r.xrange("u") == [(b"1-0", {b"a": b"1"})]
    assert r.memory_usage("s") > 0
    assert r.execute_command("SCAN", 0, "TYPE", "stream")[1] in ([b"s", b"u"], [b"u", b"s"])


def test_digest_matches_redis(pair):
    a, b = pair(2)
    for c in (a, b):
        c.execute_command("XADD", "s", "1-1", "f", "v", "g", "w")
        c.execute_command("XADD", "s", "2-5", "x", "12")
        c.execute_command("XDEL", "s", "1-1")
    assert a.execute_command("DEBUG", "DIGEST-VALUE", "s") == \
        b.execute_command("DEBUG", "DIGEST-VALUE", "s")


def test_keyspace_events(r, server):
    r.config_set("notify-keyspace-events", "KEt")
    try:
        sub = server.client().pubsub()
        sub.psubscribe("__keyevent@*")
        wait_until(lambda: sub.get_message(timeout=0.1) is not None)
        r.xadd("s", {"a": "1"}, id="1-0")
        r.xadd("s", {"a": "1"}, id="2-0", maxlen=1, approximate=False)
        r.xdel("s", "2-0")
        r.execute_command("XSETID", "s", "5-0")
        r.xgroup_create("s", "g", "0")
        r.xgroup_setid("s", "g", "0")
        r.xgroup_createconsumer("s", "g", "c")
        r.xgroup_delconsumer("s", "g", "c")
        r.xgroup_destroy("s", "g")
        events = []
        deadline = time.monotonic() + 5
        while len(events) < 10 and time.monotonic() < deadline:
            m = sub.get_message(timeout=0.1)
            if m and m["type"] == "pmessage":
                events.append(m["channel"].split(b":", 1)[1])
        assert events == [b"xadd", b"xadd", b"xtrim", b"xdel", b"xsetid", b"xgroup-create",
                          b"xgroup-setid", b"xgroup-createconsumer", b"xgroup-delconsumer",
                          b"xgroup-destroy"]
        sub.close()
    finally:
        r.config_set("notify-keyspace-events", "")


def test_memory_usage_close_to_redis(pair):
    """MEMORY USAGE follows objectComputeSize: radix tree, listpack allocations (the
    last node preallocated), consumer-group PELs."""
    a, b = pair(2)
    for c in (a, b):
        pipe = c.pipeline(transaction=False)
        for j in range(1000):
            pipe.execute_command("XADD", "s", f"{j + 1}-0", "field", f"value{j}")
        pipe.execute()
        c.execute_command("XGROUP", "CREATE", "s", "g", "0")
        c.execute_command("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    for samples in (5, 0):
        ours = a.memory_usage("s", samples=samples)
        theirs = b.memory_usage("s", samples=samples)
        assert abs(ours - theirs) <= theirs * 0.1, (samples, ours, theirs)


@pytest.mark.parametrize("seed", [1, 2])
def test_consumer_group_fuzz(pair, seed):
    """Random XADD/XREADGROUP/XACK/XCLAIM/XAUTOCLAIM/XDEL/XTRIM/XGROUP on two groups and
    small nodes: every reply, XINFO GROUPS (entries-read, lag) and XPENDING the same as
    Redis's (idle times masked)."""
    a, b = pair(3)
    raw(a)
    raw(b)
    rnd = random.Random(seed)
    seq = [("config", "set", "stream-node-max-entries", "4"),
           ("xgroup", "create", "s", "g1", "0", "mkstream"), ("xgroup", "create", "s", "g2", "$")]
    ms = 0
    for step in range(1500):
        op = rnd.random()
        g = rnd.choice(["g1", "g2"])
        c = rnd.choice(["alice", "bob", "carol"])
        some_ids = [f"{rnd.randint(0, ms)}-{rnd.randint(0, 2)}" for _ in range(rnd.randint(1, 3))]
        if op < 0.3:
            ms += rnd.choice([1, 1, 2])
            seq.append(("xadd", "s", f"{ms}-*", "f", str(step)))
        elif op < 0.45:
            args = ["xreadgroup", "group", g, c]
            if rnd.random() < 0.5:
                args += ["count", str(rnd.randint(1, 5))]
            if rnd.random() < 0.2:
                args += ["noack"]
            args += ["streams", "s", rnd.choice([">", ">", "0", f"{max(0, ms - 3)}-0"])]
            seq.append(tuple(args))
        elif op < 0.55:
            seq.append(("xack", "s", g, *some_ids))
        elif op < 0.62:
            extra = rnd.choice([[], ["justid"], ["force"], ["retrycount", "3"],
                                ["lastid", f"{ms}-5"]])
            seq.append(("xclaim", "s", g, c, "0", *some_ids, *extra))
        elif op < 0.68:
            extra = rnd.choice([[], ["justid"], ["count", "2"]])
            seq.append(("xautoclaim", "s", g, c, "0",
                        rnd.choice(["-", f"{rnd.randint(0, ms)}-0"]), *extra))
        elif op < 0.76:
            seq.append(("xdel", "s", *some_ids))
        elif op < 0.8:
            seq.append(("xtrim", "s", rnd.choice(["maxlen", "minid"]), rnd.choice(["=", "~"]),
                        rnd.choice([str(rnd.randint(0, 30)), f"{rnd.randint(0, ms)}-0"])))
        elif op < 0.83:
            seq.append(("xgroup", "setid", "s", g,
                        rnd.choice(["$", "0", f"{rnd.randint(0, ms)}-0"]),
                        *rnd.choice([[], ["entriesread", str(rnd.randint(0, 20))]])))
        elif op < 0.85:
            seq.append(("xgroup", "delconsumer", "s", g, c))
        elif op < 0.87:
            seq.append(("xgroup", "createconsumer", "s", g, c))
        else:
            seq += [("xinfo", "groups", "s"), ("xpending", "s", g),
                    ("xpending", "s", g, "-", "+", "100"), ("xinfo", "stream", "s")]
    try:
        assert_same(_mask_clock(seq, run(a, seq)), _mask_clock(seq, run(b, seq)), seq)
    finally:
        for cl in (a, b):
            cl.execute_command("config", "set", "stream-node-max-entries", "100")
