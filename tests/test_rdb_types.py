"""RDB codecs of lists, hashes, sets and sorted sets against real Redis 7.0: files bocho
saves load in redis-server (and pass redis-check-rdb) with the same contents and
encodings, files and DUMP payloads real Redis writes load in bocho the same way, the
bytes are Redis's where the structure is deterministic, the legacy encodings of Redis's
own test assets load as Redis loads them, malformed payloads are refused with Redis's
reason, and random keyspaces survive save -> load."""

from __future__ import annotations

import io
import os
import socket
import subprocess

import hiredis
import pytest
import redis
from conftest import debian_binary, redis_server_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw import cmd as request

from bocho.commands import load_all
from bocho.commands.debug import dataset_digest
from bocho.commands.hashes import Hash
from bocho.commands.sets import Set
from bocho.config import Config
from bocho.network import Client
from bocho.persistence import intset, listpack, rdb, rdb_types, ziplist, zipmap
from bocho.persistence.rdbio import EmptyKeyError, RdbError, dump_footer
from bocho.server import Server
from bocho.testing.server import ServerProcess

load_all()

DATA = os.path.join(os.path.dirname(__file__), "data")
DBS = (0, 3, 15)


# -- helpers -------------------------------------------------------------------------------

def new_server(**cfg) -> Server:
    srv = Server(Config())
    for k, v in cfg.items():
        srv.config[k.replace("_", "-")] = v
    return srv


class Local:
    """Commands on an in-process bocho Server, replies parsed as a client sees them."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.c = Client(srv)

    def __call__(self, *args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.c.out.clear()
        self.c.call(argv)
        rd = hiredis.Reader()
        rd.feed(b"".join(self.c.out))
        reply = rd.gets()
        if isinstance(reply, hiredis.ReplyError):
            raise redis.ResponseError(str(reply))
        return reply


class Remote:
    """Commands on a real server, replies as hiredis parses them (like Local's)."""

    def __init__(self, proc: ServerProcess) -> None:
        self.sock = socket.create_connection((proc.host, proc.port), timeout=30)

    def __call__(self, *args):
        self.sock.sendall(request(*args))
        rd = hiredis.Reader()
        while True:
            reply = rd.gets()
            if reply is not False:
                break
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            rd.feed(chunk)
        if isinstance(reply, hiredis.ReplyError):
            raise redis.ResponseError(str(reply))
        return reply

    def close(self) -> None:
        self.sock.close()


def contents(call, dbs=DBS) -> dict:
    """(db, key) -> (type, value, encoding, has TTL) of every key, read by commands."""
    out = {}
    for db in dbs:
        call("select", db)
        for k in sorted(call("keys", "*")):
            t = call("type", k)
            if t == b"string":
                v = call("get", k)
            elif t == b"list":
                v = call("lrange", k, 0, -1)
            elif t == b"hash":
                flat = call("hgetall", k)
                v = dict(zip(flat[::2], flat[1::2], strict=True))
            elif t == b"set":
                v = set(call("smembers", k))
            elif t == b"zset":
                v = call("zrange", k, 0, -1, "withscores")
            else:
                v = None
            out[(db, k)] = (t, v, call("object", "encoding", k), call("pttl", k) > 0)
    call("select", 0)
    return out


def populate_cmds(big: bool = True) -> list[tuple]:
    """Every type in every encoding: small/large, int/non-int members, TTLs, several
    DBs, binary keys, empty strings, a huge element, bytes that need escaping."""
    cmds: list[tuple] = []
    for db in DBS:
        cmds.append(("select", db))
        p = b"db%d:" % db
        cmds += [
            ("set", p + b"str", "hello"), ("set", p + b"empty", ""),
            ("set", p + b"\x00\xff\xfebin", b"\x00\x01\xff"), ("set", p + b"int", 12345),
            ("set", p + b"long", "x" * 1000),
            ("rpush", p + b"l:small", "a", "b", 1, -1, 12345678901, "", b"\xff\x00"),
            ("rpush", p + b"l:big", *[i if i % 3 else f"e{i}" * 7 for i in range(3000)]),
            ("lpush", p + b"l:lpushed", *[f"v{i:040d}" for i in range(400)]),
            ("rpush", p + b"l:huge", "a", "h" * (200000 if big else 20000), "b"),
            ("hset", p + b"h:lp", "f1", "v1", "f2", 2, "f3", "3.5", "", "empty",
             b"\xff\x01f", b"v\xff\x02", "neg", -12345678901234),
            ("hset", p + b"h:ht:count", *[x for i in range(600) for x in (f"f{i}", i)]),
            ("hset", p + b"h:ht:long", "f", "x" * 100, "g", 1),
            ("sadd", p + b"s:int16", 1, 2, 3, -7),
            ("sadd", p + b"s:int32", 1, 2, 3, 100000),
            ("sadd", p + b"s:int64", 10000000000, -1, 9223372036854775807),
            ("sadd", p + b"s:ht", "a", "b", "c", ""),
            ("sadd", p + b"s:ht:count", *range(600)),
            ("sadd", p + b"s:mixed", 1, 2, "x"),
            ("zadd", p + b"z:lp", 1, "a", 1.5, "b", 0.1, "c", 1e100, "d", "inf", "e",
             "-inf", "f", "-0", "g", 4611686018427387904, "h", 4611686018427387905, "i",
             123, 123, -2.5e-300, "tiny", 3, ""),
            ("zadd", p + b"z:sl", *[x for i in range(200) for x in (i * 0.5 - 20, f"m{i}")]),
            ("zadd", p + b"z:sl:long", 1, "m" * 100, 2, "b", "-0", "negzero"),
            ("pexpire", p + b"l:small", 100000000), ("expire", p + b"h:lp", 1000000),
            ("expire", p + b"z:sl", 1000000), ("expire", p + b"s:int16", 1000000),
        ]
    cmds.append(("select", 0))
    return cmds


def run_all(call, cmds) -> None:
    for cmd in cmds:
        call(*cmd)


def save_bytes(srv: Server) -> bytes:
    f = io.BytesIO()
    rdb.save(srv, f)
    return f.getvalue()


def loaded(data: bytes, **cfg) -> Server:
    srv = new_server(**cfg)
    rdb.load(srv, data)
    return srv


def redis_on(tmp_path, data: bytes | None = None, **cfg) -> ServerProcess:
    """A real redis-server in tmp_path, loading `data` as its dump.rdb."""
    d = str(tmp_path)
    if data is not None:
        with open(os.path.join(d, "dump.rdb"), "wb") as f:
            f.write(data)
    config = {"dbfilename": "dump.rdb"}
    config.update({k.replace("_", "-"): v for k, v in cfg.items()})
    return ServerProcess(binary=redis_server_binary(), dir=d, config=config).start()


def assert_same_contents(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], k


def check_rdb(path: str) -> str:
    exe = debian_binary("redis-check-rdb")
    out = subprocess.run([exe, path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


# -- bocho -> real Redis -------------------------------------------------------------------

def assert_redis_loads_the_same(tmp_path, srv: Server, dbs=DBS) -> None:
    """srv saved to a file: redis-check-rdb passes it, and redis-server loading it holds
    what srv holds (contents, encodings, TTLs, DEBUG DIGEST)."""
    data = save_bytes(srv)
    path = tmp_path / "dump.rdb"
    path.write_bytes(data)
    assert "RDB looks OK" in check_rdb(str(path))
    proc = redis_on(tmp_path)
    try:
        remote = Remote(proc)
        assert_same_contents(contents(Local(srv), dbs), contents(remote, dbs))
        assert remote("debug", "digest") == dataset_digest(srv).hex().encode()
        remote.close()
    finally:
        proc.cleanup()


def test_bocho_file_loads_in_redis(tmp_path):
    srv = new_server()
    run_all(Local(srv), populate_cmds())
    assert_redis_loads_the_same(tmp_path, srv)


def test_plain_and_small_list_nodes_load_in_redis(tmp_path):
    """Lists split into plain nodes (packed threshold 100 bytes) and 3-entry nodes."""
    srv = new_server()
    local = Local(srv)
    local("config", "set", "list-max-listpack-size", 3)
    srv.quicklist_packed_threshold = 100
    local("rpush", "l", *[("p" * 150 if i % 4 == 0 else i) for i in range(50)])
    local("rpush", "m", "x" * 100, "y" * 99, "", 7)
    try:
        assert_redis_loads_the_same(tmp_path, srv, (0,))
    finally:
        rdb_types.configure(new_server())


def test_bocho_dump_restores_in_redis(oracle):
    srv = new_server()
    local = Local(srv)
    run_all(local, populate_cmds(big=False))
    remote = Remote(oracle)
    remote("flushall")
    for db in DBS:
        remote("select", db)
        for key, value in srv.dbs[db].data.items():
            remote("restore", key, 0, rdb.dump(value))
    for db in DBS:
        for key, when in srv.dbs[db].expires.items():
            remote("select", db)
            remote("pexpireat", key, when)
    assert_same_contents(contents(local), contents(remote))
    remote.close()


# -- real Redis -> bocho -------------------------------------------------------------------

def test_redis_file_loads_in_bocho(tmp_path):
    proc = redis_on(tmp_path)
    try:
        remote = Remote(proc)
        run_all(remote, populate_cmds())
        remote("save")
        data = (tmp_path / "dump.rdb").read_bytes()
        srv = loaded(data)
        assert_same_contents(contents(Local(srv)), contents(remote))
        assert remote("debug", "digest") == dataset_digest(srv).hex().encode()
        remote.close()
    finally:
        proc.cleanup()


def test_redis_dump_payloads_undump_in_bocho(oracle):
    remote = Remote(oracle)
    remote("flushall")
    run_all(remote, populate_cmds(big=False))
    srv = new_server()
    ctx = rdb.LoadContext(srv, srv.config)
    for db in DBS:
        remote("select", db)
        for key in remote("keys", "*"):
            v = rdb.undump(remote("dump", key), ctx)
            srv.dbs[db].data[key] = v
            ttl = remote("pexpiretime", key)
            if ttl > 0:
                srv.dbs[db].expires[key] = ttl
    assert_same_contents(contents(Local(srv)), contents(remote))
    remote.close()


# -- bytes ---------------------------------------------------------------------------------

def test_dump_bytes_equal_redis(oracle):
    """Where the structure is deterministic, bocho's payload is Redis's byte for byte
    (LZF off on both: the compressor is shared by every type and checked elsewhere)."""
    remote = Remote(oracle)
    remote("flushall")
    remote("config", "set", "rdbcompression", "no")
    srv = new_server()
    local = Local(srv)
    keys = []
    for cmd in populate_cmds(big=False):
        if cmd[0] in ("select", "lpush"):  # LPUSH fills nodes from the head
            continue
        local(*cmd)
        remote(*cmd)
        keys.append(cmd[1])
    try:
        for k in keys:
            if type(srv.dbs[0].data[k]) in (Set, Hash):  # hash table order is Redis's own
                continue
            assert rdb.dump(srv.dbs[0].data[k], False) == remote("dump", k), k
    finally:
        remote("config", "set", "rdbcompression", "yes")
        remote.close()


@pytest.mark.parametrize("fill,threshold", [(-2, 0), (-1, 0), (-5, 0), (5, 0), (1, 0),
                                            (-2, 100), (3, 100)])
def test_list_node_split_equals_redis(oracle, fill, threshold):
    remote = Remote(oracle)
    remote("flushall")
    remote("config", "set", "rdbcompression", "no")
    remote("config", "set", "list-max-listpack-size", fill)
    if threshold:
        remote("debug", "quicklist-packed-threshold", threshold)
    srv = new_server()
    Local(srv)("config", "set", "list-max-listpack-size", fill)  # DUMP follows CONFIG SET
    if threshold:
        srv.quicklist_packed_threshold = threshold
        rdb_types.configure(srv)
    elems = ["x" * (i % 300) if i % 7 else i for i in range(1500)] + ["y" * 5000, 1, "z" * 200]
    try:
        Local(srv)("rpush", "l", *elems)
        remote("rpush", "l", *elems)
        assert rdb.dump(srv.dbs[0].data[b"l"], False) == remote("dump", "l")
    finally:
        remote("config", "set", "rdbcompression", "yes")
        remote("config", "set", "list-max-listpack-size", -2)
        remote("debug", "quicklist-packed-threshold", "1gb")
        rdb_types.configure(new_server())
        remote.close()


def test_zset_listpack_scores_as_redis_writes_them():
    assert rdb_types.d2string(1.5) == b"1.5"
    assert rdb_types.d2string(0.1) == b"0.10000000000000001"
    assert rdb_types.d2string(1e100) == b"1e+100"
    assert rdb_types.d2string(float("inf")) == b"inf"
    assert rdb_types.d2string(float("-inf")) == b"-inf"
    assert rdb_types.score_entry(-0.0) == listpack.encode_int(0)
    assert rdb_types.score_entry(4611686018427387904.0) == listpack.encode_int(1 << 62)
    assert rdb_types.score_entry(4611686018427387904.0 * 2) == \
        listpack.encode_str(b"9.2233720368547758e+18")


# -- legacy encodings (Redis's own test assets) --------------------------------------------

@pytest.mark.parametrize("name", ["encodings.rdb", "hash-zipmap.rdb", "hash-ziplist.rdb",
                                  "list-quicklist.rdb", "zset-ziplist.rdb"])
@pytest.mark.parametrize("limits", [{}, {"hash_max_listpack_entries": 1,
                                         "zset_max_listpack_entries": 1,
                                         "set_max_intset_entries": 1,
                                         "hash_max_listpack_value": 1,
                                         "zset_max_listpack_value": 1}])
def test_legacy_assets_load_as_redis_loads_them(tmp_path, name, limits):
    with open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    srv = loaded(data, **limits)
    proc = redis_on(tmp_path, data, **limits)
    try:
        remote = Remote(proc)
        assert_same_contents(contents(Local(srv), (0,)), contents(remote, (0,)))
        remote.close()
    finally:
        proc.cleanup()


def test_empty_keys_are_skipped_and_counted(capsys):
    with open(os.path.join(DATA, "corrupt_empty_keys.rdb"), "rb") as f:
        data = f.read()
    for deep in ("no", "yes"):
        srv = new_server(sanitize_dump_payload=deep)
        res = rdb.load(srv, data)
        assert res.keys_loaded == 0 and res.empty_keys == 9
        assert not srv.dbs[0].data
    out = capsys.readouterr().out
    for k in ("set", "list_quicklist", "list_quicklist_empty_ziplist", "list_ziplist",
              "hash", "hash_ziplist", "zset", "zset_ziplist", "zset_listpack"):
        assert f"rdbLoadObject skipping empty key: {k}\n" in out


def test_corrupt_ziplist_file_is_refused():
    with open(os.path.join(DATA, "corrupt_ziplist.rdb"), "rb") as f:
        data = f.read()
    srv = new_server()
    with pytest.raises(RdbError, match="integrity check failed"):
        rdb.load(srv, data)


# -- conversions on load -------------------------------------------------------------------

def test_conversions_on_load_follow_the_running_config(tmp_path):
    """A file written under default limits, loaded under tiny ones, by both servers."""
    srv = new_server()
    run_all(Local(srv), populate_cmds(big=False))
    data = save_bytes(srv)
    limits = {"hash_max_listpack_entries": 2, "zset_max_listpack_entries": 3,
              "set_max_intset_entries": 3, "hash_max_listpack_value": 4,
              "zset_max_listpack_value": 2}
    mine = loaded(data, **limits)
    proc = redis_on(tmp_path, data, **limits)
    try:
        remote = Remote(proc)
        assert_same_contents(contents(Local(mine)), contents(remote))
        remote.close()
    finally:
        proc.cleanup()


# -- malformed payloads --------------------------------------------------------------------

CTX = rdb.LoadContext(None, Config(), deep=False)
DEEP = rdb.LoadContext(None, Config(), deep=True)


def payload(rdbtype: int, body: bytes) -> bytes:
    return dump_footer(bytes((rdbtype,)) + body)


def raw(s: bytes) -> bytes:
    """An RDB string of s, unencoded."""
    buf = bytearray()
    from bocho.persistence.rdbio import put_str
    put_str(buf, s, False)
    return bytes(buf)


BAD = [
    # (name, type, body, reason, deep)
    ("empty zipmap", 9, raw(b"\x00\xff"), "Zipmap integrity check failed.", False),
    ("zipmap overflow", 9, raw(b"\x01\x05ab\x01\x00v\xff"), "Zipmap integrity check failed.",
     False),
    ("zipmap dup", 9, raw(zipmap.build([b"a", b"1", b"a", b"2"])),
     "Hash zipmap with dup elements", False),
    ("hash ziplist dup", 13, raw(ziplist.build([b"a", b"1", b"a", b"2"])),
     "Hash ziplist integrity check failed.", False),
    ("hash ziplist odd", 13, raw(ziplist.build([b"a", b"1", b"b"])),
     "Hash ziplist integrity check failed.", False),
    ("hash ziplist bad prevlen", 13,
     raw(b"\x1b\x00\x00\x00\x16\x00\x00\x00\x04\x00\x00\x02a\x00\x04\x02b\x00\x04\x14c\x00"
         b"\x04\x02d\x00\xff"), "Hash ziplist integrity check failed.", False),
    ("zset ziplist odd", 12, raw(ziplist.build([b"a", 1, b"b"])),
     "Zset ziplist integrity check failed.", False),
    ("zset ziplist bad score", 12, raw(ziplist.build([b"a", b"x1"])),
     "Zset ziplist integrity check failed.", False),
    ("list ziplist wrong count", 10, raw(ziplist.build([b"a", b"b"])[:8] + b"\x03\x00"
                                         + ziplist.build([b"a", b"b"])[10:]),
     "List ziplist integrity check failed.", False),
    ("intset bad width", 11, raw(b"\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00"),
     "Intset integrity check failed.", False),
    ("intset unsorted", 11, raw(b"\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x01\x00"),
     "Intset integrity check failed.", False),
    ("intset empty", 11, raw(b"\x02\x00\x00\x00\x00\x00\x00\x00"),
     "Intset integrity check failed.", False),
    ("hash listpack truncated", 16, raw(listpack.build([b"a", b"b"])[:-1]),
     "Hash listpack integrity check failed.", False),
    ("hash listpack dup deep", 16, raw(listpack.build([b"a", b"1", b"a", b"2"])),
     "Hash listpack integrity check failed.", True),
    ("hash listpack dup", 16, raw(listpack.build([b"a", b"1", b"a", b"2"])),
     "listpack with dup elements", False),
    ("zset listpack odd", 17, raw(listpack.build([b"a", 1, b"b"])),
     "Zset listpack integrity check failed.", False),
    ("zset listpack nan", 17, raw(listpack.build([b"a", b"nan"])),
     "Zset listpack integrity check failed.", False),
    ("quicklist container", 18, b"\x01\x03" + raw(listpack.build([b"a"])),
     "Quicklist integrity check failed.", False),
    ("quicklist node", 18, b"\x01\x02" + raw(b"\x07\x00\x00\x00\x01\x00\xff"),
     "Listpack integrity check failed.", True),
    ("quicklist v1 node", 14, b"\x01" + raw(b"\x0b\x00\x00\x00\x0a\x00\x00\x00\x00\x00\xfe"),
     "Ziplist integrity check failed.", False),
    ("set dup", 2, b"\x02" + raw(b"1") + raw(b"1"), "Duplicate set members detected", False),
    ("set ht dup", 2, b"\x02" + raw(b"a") + raw(b"a"), "Duplicate set members detected",
     False),
    ("hash dup", 4, b"\x02" + raw(b"a") + raw(b"1") + raw(b"a") + raw(b"2"),
     "Hash with dup elements", False),
    ("zset nan", 5, b"\x01" + raw(b"a") + b"\x00\x00\x00\x00\x00\x00\xf8\x7f",
     "Zset with NAN score detected", False),
    ("zset dup", 3, b"\x02" + raw(b"a") + b"\x011" + raw(b"a") + b"\x012",
     "Duplicate zset fields detected", False),
    ("set listpack dup", 20, raw(listpack.build([b"a", b"a"])),
     "Set listpack integrity check failed.", False),
]


@pytest.mark.parametrize("name,rdbtype,body,reason,deep", BAD, ids=[b[0] for b in BAD])
def test_malformed_payloads_are_refused(name, rdbtype, body, reason, deep):
    with pytest.raises(RdbError) as e:
        rdb.undump(payload(rdbtype, body), DEEP if deep else CTX)
    assert not isinstance(e.value, EmptyKeyError)
    assert reason in e.value.message


@pytest.mark.parametrize("rdbtype,body", [
    (1, b"\x00"), (2, b"\x00"), (3, b"\x00"), (4, b"\x00"), (5, b"\x00"), (14, b"\x00"),
    (18, b"\x00"), (10, raw(ziplist.build([]))), (12, raw(ziplist.build([]))),
    (13, raw(ziplist.build([]))), (16, raw(listpack.build([]))),
    (17, raw(listpack.build([]))), (20, raw(listpack.build([]))),
    (14, b"\x01" + raw(ziplist.build([]))), (18, b"\x01\x02" + raw(listpack.build([]))),
])
def test_empty_containers_raise_empty_key(rdbtype, body):
    with pytest.raises(EmptyKeyError):
        rdb.undump(payload(rdbtype, body), CTX)


def test_tcl_corrupt_payloads_are_refused():
    """Payloads of Redis's corrupt-dump.tcl that must give 'Bad data format'."""
    cases = [
        b"\x0D\x1B\x1B\x00\x00\x00\x16\x00\x00\x00\x04\x00\x00\x02\x61\x00\x04\x02\x62\x00"
        b"\x04\x14\x63\x00\x04\x02\x64\x00\xFF\x09\x00\xD9\x10\x54\x92\x15\xF5\x5F\x52",
        b"\x0D\x1B\x25\x00\x00\x00\x16\x00\x00\x00\x04\x00\x00\x02\x61\x00\x04\x02\x62\x00"
        b"\x04\x02\x63\x00\x04\x02\x64\x00\xFF\x09\x00\xB7\xF7\x6E\x9F\x43\x43\x14\xC6",
        b"\x0E\x01\x13\x13\x00\x00\x00\x0E\x00\x00\x00\x02\x00\x00\x02\x61\x00\x0E\x02\x62"
        b"\x00\xFF\x09\x00\x49\x97\x30\xB2\x0D\xA1\xED\xAA",
        b"\x0E\x01\x13\x13\x00\x00\x00\x0E\x00\x00\x00\x03\x00\x00\x02\x61\x00\x04\x02\x62"
        b"\x00\xFF\x09\x00\x4D\xE2\x0A\x2F\x08\x25\xDF\x91",
        b"\x0A\x80\x00\x00\x00\x10\x41\x41\x41\x41\x41\x41\x41\x41\x02\x00\x00\x80\x41\x41"
        b"\x41\x41\x07\x00\x39\x5B\x49\xE0\xC1\xC6\xDD\x76",
        b"\x12\x01\x02\x0b\x0b\x00\x00\x00\x01\x00\x81\x61\x02\xff\xff\x0a\x00\x7e\xd8\xde"
        b"\x5b\x0d\xd7\x70\xb8",
    ]
    for p in cases:
        with pytest.raises(RdbError):
            rdb.undump(p, DEEP, verify_crc=False)


# -- parsers -------------------------------------------------------------------------------

def test_intset_widths():
    assert intset.build([1, 2])[:4] == b"\x02\x00\x00\x00"
    assert intset.build([-40000, 2])[:4] == b"\x04\x00\x00\x00"
    assert intset.build([1, 1 << 40])[:4] == b"\x08\x00\x00\x00"
    for vals in ([1, 2, 3], [-2**63, 0, 2**63 - 1], [-40000, 5]):
        assert intset.parse(intset.build(vals)).tolist() == vals


def test_ziplist_round_trip():
    elems = [b"", b"a" * 63, b"b" * 64, b"c" * 20000, 0, 12, 13, -1, 127, -128, 300, -40000,
             1 << 23, -(1 << 23) - 1, 1 << 40, -(1 << 63), b"x" * 300]
    assert ziplist.parse(ziplist.build(elems)) == elems


# -- property: random keyspaces survive save -> load ---------------------------------------

member = st.one_of(st.binary(max_size=12), st.integers(-2**63, 2**63 - 1).map(b"%d".__mod__),
                   st.integers(-300, 300).map(b"%d".__mod__), st.binary(min_size=60, max_size=80))
score = st.one_of(st.integers(-2**70, 2**70).map(float), st.floats(allow_nan=False),
                  st.sampled_from([0.0, -0.0, 0.1, 1.5]))
value = st.one_of(
    st.tuples(st.just("list"), st.lists(member, min_size=1, max_size=40)),
    st.tuples(st.just("hash"), st.dictionaries(member, member, min_size=1, max_size=12)),
    st.tuples(st.just("set"), st.sets(member, min_size=1, max_size=12)),
    st.tuples(st.just("zset"), st.dictionaries(member, score, min_size=1, max_size=12)),
    st.tuples(st.just("string"), member),
)
keyspace = st.dictionaries(st.tuples(st.sampled_from([0, 1, 9]), st.binary(max_size=8)),
                           value, max_size=12)
limits = st.fixed_dictionaries({
    "hash_max_listpack_entries": st.sampled_from([0, 2, 512]),
    "hash_max_listpack_value": st.sampled_from([0, 8, 64]),
    "set_max_intset_entries": st.sampled_from([0, 3, 512]),
    "zset_max_listpack_entries": st.sampled_from([0, 3, 128]),
    "zset_max_listpack_value": st.sampled_from([0, 8, 64]),
    "list_max_listpack_size": st.sampled_from([-2, -1, 1, 4]),
})


def _build(call, ks) -> None:
    for (db, key), (kind, v) in ks.items():
        call("select", db)
        if kind == "list":
            call("rpush", key, *v)
        elif kind == "hash":
            call("hset", key, *[x for kv in v.items() for x in kv])
        elif kind == "set":
            call("sadd", key, *v)
        elif kind == "zset":
            call("zadd", key, *[x for m, s in v.items() for x in (repr(s), m)])
        else:
            call("set", key, v)
    call("select", 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ks=keyspace, cfg=limits)
def test_random_keyspaces_round_trip(ks, cfg):
    srv = new_server(**cfg)
    local = Local(srv)
    _build(local, ks)
    before = contents(local, (0, 1, 9))
    again = loaded(save_bytes(srv), **cfg)
    assert contents(Local(again), (0, 1, 9)) == before
    assert dataset_digest(again) == dataset_digest(srv)
    for db in (0, 1, 9):
        for v in srv.dbs[db].data.values():
            if type(v) is Set:  # a rebuilt set may iterate in another order
                continue
            p = rdb.dump(v)
            assert rdb.dump(rdb.undump(p, rdb.LoadContext(srv, srv.config))) == p


element = st.one_of(st.binary(max_size=70), st.binary(min_size=4000, max_size=4200),
                    st.integers(-2**63, 2**63 - 1).map(b"%d".__mod__),
                    st.integers(-5000, 5000).map(b"%d".__mod__),
                    st.sampled_from([b"-", b"-0", b"007", b"+1", b"1.5", b" 1", b"1_0"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(element, max_size=30))
def test_fast_listpack_paths_equal_the_reference_codec(elems):
    lp = listpack.build(elems)
    assert rdb_types.lp_blob(rdb_types.lp_body(elems), len(elems)) == lp
    assert rdb_types.lp_body([bytearray(e) for e in elems]) == lp[6:-1]
    assert rdb_types.lp_text(lp) == listpack.parse_bytes(lp) == elems
    assert rdb_types.lp_text(lp, True) == elems


def _valid_payloads() -> list[bytes]:
    srv = new_server(zset_max_listpack_entries=4, hash_max_listpack_entries=4,
                     set_max_intset_entries=4)
    run_all(Local(srv), [
        ("rpush", "l", "a", 1, "b" * 70, 300), ("hset", "h", "f", "v", "n", 5),
        ("hset", "H", *range(12)), ("sadd", "s", 1, 2, 300), ("sadd", "S", "a", "b"),
        ("zadd", "z", 1, "a", 2.5, "b"), ("zadd", "Z", *range(12))])
    out = [rdb.dump(v, False) for v in srv.dbs[0].data.values()]
    out += [payload(t, raw(b)) for t, b in (
        (9, zipmap.build([b"f", b"v", b"g", b"w"])),
        (13, ziplist.build([b"f", b"v", b"g", 7])), (12, ziplist.build([b"m", b"1.5"])),
        (10, ziplist.build([b"a", -5, b"b"]))) ]
    return out


@settings(max_examples=int(os.environ.get("RDB_FUZZ", 400)), deadline=None)
@given(st.data())
def test_mutated_payloads_load_or_raise_rdb_error(data):
    p = bytearray(data.draw(st.sampled_from(_PAYLOADS)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(1, len(p) - 11))
        p[i] = data.draw(st.integers(0, 255))
    for ctx in (CTX, DEEP):
        try:
            rdb.undump(bytes(p), ctx, verify_crc=False)
        except RdbError:
            pass


_PAYLOADS = _valid_payloads()


def test_old_and_future_types_load():
    """Types no 7.0 server writes any more (1, 3, 14 with several nodes) or only 7.2 does
    (20), each loaded into the encoding 7.0 would give it."""
    v = rdb.undump(payload(1, b"\x03" + raw(b"a") + raw(b"12") + raw(b"")), CTX)
    assert list(v) == [b"a", b"12", b""]
    v = rdb.undump(payload(3, b"\x03" + raw(b"a") + b"\x031.5" + raw(b"b") + b"\xfe"
                           + raw(b"c") + b"\xff"), CTX)
    assert v.listpack and v.items() == [(b"c", float("-inf")), (b"a", 1.5),
                                        (b"b", float("inf"))]
    v = rdb.undump(payload(14, b"\x03" + raw(ziplist.build([b"a", 1])) + raw(ziplist.build([]))
                           + raw(ziplist.build([b"b" * 300, -70000]))), CTX)
    assert list(v) == [b"a", b"1", b"b" * 300, b"-70000"]
    v = rdb.undump(payload(18, b"\x02\x01" + raw(b"plain") + b"\x02"
                           + raw(listpack.build([b"x", 5]))), CTX)
    assert list(v) == [b"plain", b"x", b"5"]
    v = rdb.undump(payload(20, raw(listpack.build([b"3", b"1", b"2"]))), CTX)
    assert type(v) is rdb_types.IntSet and list(v) == [1, 2, 3]
    v = rdb.undump(payload(20, raw(listpack.build([b"3", b"x"]))), CTX)
    assert type(v) is Set and v == {b"3", b"x"}
