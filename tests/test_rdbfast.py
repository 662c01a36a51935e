"""The compiled RDB paths (bocho/_rdbfast.pyx) against rdb.py's Python loops: the keyspace
walk of rdb.save writes the very bytes of the Python loop (identical files, which real
Redis's redis-check-rdb accepts), and the string records rdb.load reads in C give the
same databases, counts and errors (offsets included) as the Python reader. Skipped where
the extension is not built (CI builds it: `pip install -e .`, and there its absence
fails)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bocho.config import Config
from bocho.persistence import rdb
from bocho.server import Server

try:
    from bocho import _rdbfast
except ImportError:  # pure install
    _rdbfast = None

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="module")
def compiled():
    if _rdbfast is None:
        if IN_CI:
            pytest.fail("bocho/_rdbfast.pyx is not built")
        pytest.skip("bocho._rdbfast not built")
    return _rdbfast


def save_both(srv: Server, compiled) -> tuple[bytes, bytes]:
    """(Python loop's file, compiled walk's file) of srv, ctime held still."""
    out = []
    saved = rdb._compiled
    real_time = rdb.time.time
    try:
        rdb.time.time = lambda: 1_700_000_000.0
        for walker in (None, compiled):
            rdb._compiled = walker
            f = io.BytesIO()
            rdb.save(srv, f)
            out.append(f.getvalue())
    finally:
        rdb._compiled = saved
        rdb.time.time = real_time
    return out[0], out[1]


STRINGS = [
    b"", b"0", b"-0", b"00", b"01", b"-01", b"-", b"+1", b" 1", b"1 ", b"1_0", b"127",
    b"128", b"-128", b"-129", b"32767", b"32768", b"-32768", b"-32769", b"2147483647",
    b"2147483648", b"-2147483648", b"-2147483649", b"99999999999", b"-9999999999",
    b"12345678901", b"123456789012", b"x" * 11, b"x" * 12, b"x" * 20, b"x" * 21,
    b"ab" * 12, bytes(range(21)), bytes(range(256)), os.urandom(300), b"a" * 70000,
    os.urandom(200_000), b"\xff" * 64, b"\xc0\x01",
]


def fill(srv: Server) -> None:
    d0 = srv.dbs[0]
    for i, s in enumerate(STRINGS):
        d0.data[b"k%d" % i] = s
        d0.data[s] = bytearray(s)  # a string as a key, a bytearray value
        if i % 3 == 0:
            d0.expires[b"k%d" % i] = 1_900_000_000_000 + i
    d0.expires[b"0"] = -5  # a negative time is written as is
    for i in range(5000):
        d0.data[b"key:%d" % i] = b"value:%d" % i if i % 2 else b"%d" % (i * 7919)
    srv.dbs[3].data[b"other"] = b"db three"
    srv.dbs[3].expires[b"other"] = 1_800_000_000_000


def test_identical_files(compiled, tmp_path):
    srv = Server(Config())
    fill(srv)
    py, c = save_both(srv, compiled)
    assert py == c
    srv.config["rdbcompression"] = False
    py2, c2 = save_both(srv, compiled)
    assert py2 == c2 and len(py2) > len(py)
    check = shutil.which("redis-check-rdb")
    if check is None:
        if IN_CI:
            pytest.fail("redis-check-rdb is required in CI (apt-get install redis-tools)")
        return
    for data in (c, c2):
        path = tmp_path / "dump.rdb"
        path.write_bytes(data)
        res = subprocess.run([check, str(path)], capture_output=True, text=True, timeout=60)
        assert "RDB looks OK!" in res.stdout, res.stdout + res.stderr


def test_load_reads_back(compiled):
    srv = Server(Config())
    fill(srv)
    _, c = save_both(srv, compiled)
    back = Server(Config())
    rdb.load(back, c, expire=False)
    for a, b in zip(srv.dbs, back.dbs, strict=True):
        assert {k: bytes(v) for k, v in a.data.items()} == b.data
        assert a.expires == b.expires


def test_other_values_go_to_the_python_saver(compiled):
    """A value the walk does not encode itself reaches rdb.save_value (its errors too)."""
    srv = Server(Config())
    srv.dbs[0].data[b"a"] = b"1"
    srv.dbs[0].data[b"b"] = 3.5  # no codec for a float
    with pytest.raises(TypeError, match="no RDB encoding for float"):
        save_both(srv, compiled)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.binary(max_size=30), st.one_of(
    st.binary(max_size=60), st.integers(-2**40, 2**40).map(lambda n: b"%d" % n),
    st.text("ab", max_size=80).map(str.encode)), max_size=40),
    st.booleans())
def test_random_keyspaces(data, compress):
    if _rdbfast is None:
        pytest.skip("bocho._rdbfast not built")
    srv = Server(Config())
    srv.config["rdbcompression"] = compress
    srv.dbs[0].data.update(data)
    for i, k in enumerate(data):
        if i % 2:
            srv.dbs[0].expires[k] = 1_000_000 * i
    py, c = save_both(srv, _rdbfast)
    assert py == c
    a, b = load_both(c, _rdbfast, expire=compress)
    assert a == b


def load_both(data: bytes, compiled, **kw):
    """rdb.load of data by the Python loop and with the compiled strings: per way,
    (dbs as dicts, expires, loaded, expired) or the RdbError's (message, offset)."""
    out = []
    saved = rdb._compiled
    try:
        for walker in (None, compiled):
            rdb._compiled = walker
            srv = Server(Config())
            try:
                res = rdb.load(srv, data, **kw)
            except rdb.RdbError as e:
                out.append((e.message, e.offset))
                continue
            # values compared by their DUMP payloads (containers have no __eq__)
            out.append(([{k: rdb.dump(v, False) for k, v in db.data.items()} for db in srv.dbs],
                        [dict(db.expires) for db in srv.dbs],
                        res.keys_loaded, res.keys_expired))
    finally:
        rdb._compiled = saved
    return out[0], out[1]


def test_load_same_as_python(compiled):
    srv = Server(Config())
    fill(srv)
    srv.dbs[0].expires[b"k5"] = 1000  # long expired: dropped (or kept with expire=False)
    _, data = save_both(srv, compiled)
    for expire in (True, False):
        py, c = load_both(data, compiled, expire=expire)
        assert py == c
        assert c[2] == sum(len(db.data) for db in srv.dbs) - (2 if expire else 0)
    # truncated and damaged files: the same error at the same offset
    for cut in (30, 200, 1000, len(data) // 2, len(data) - 9, len(data) - 1):
        py, c = load_both(data[:cut], compiled)
        assert py == c and isinstance(c[0], str), (cut, c)
    spots = [data.find(b"\xc3", 300), data.find(b"key:77"), data.find(b"\xfc", 300)]
    for at in spots:
        for byte in (0x00, 0x3F, 0x80, 0xC3, 0xC4, 0xFF):
            bad = data[:at] + bytes([byte]) + data[at + 1:]
            py, c = load_both(bad, compiled, verify_crc=False)
            assert py == c, (at, byte)


def test_load_duplicate_key(compiled):
    srv = Server(Config())
    srv.dbs[0].data[b"a"] = b"1"
    srv.dbs[0].data[b"b"] = b"2"
    _, data = save_both(srv, compiled)
    doubled = data.replace(b"\x01b\xc0\x02", b"\x01a\xc0\x02")  # key b renamed a
    assert doubled != data
    py, c = load_both(doubled, compiled, verify_crc=False)
    assert py == c and "duplicated key 'a'" in c[0]
    py, c = load_both(doubled, compiled, verify_crc=False, allow_dup=True)
    assert py == c and c[0][0] == {b"a": rdb.dump(b"2", False)}


def command_runner(srv: Server):
    from bocho.commands import load_all
    from bocho.network import Client

    load_all()
    c = Client(srv)

    def call(*args):
        c.out.clear()
        c.call([a if isinstance(a, bytes) else str(a).encode() for a in args])
        assert not b"".join(c.out).startswith(b"-"), (args, c.out)
    return call


def fill_containers(srv: Server, rnd) -> None:
    call = command_runner(srv)
    odd = [b"", b"0", b"-1", b"007", b"-0", b"9223372036854775807", b"9223372036854775808",
           b"-9223372036854775808", b"-9223372036854775809", b"4095", b"4096", b"-4097",
           b"x\xffy", b"\xff", b"\xff\x00", b"\xff\x01\xff\x02", b"a" * 63, b"b" * 64,
           b"c" * 4095, b"d" * 4096, b"e" * 30, bytes(range(256))]
    for i, v in enumerate(odd):
        call("HSET", b"lph", b"f%d" % i, v)
        call("HSET", b"lph2", v, b"%d" % i)
        call("SADD", b"set", v)
        call("ZADD", b"zs", i, v)
    call("HSET", "big", *[x for i in range(300) for x in (b"f%d" % i, b"v%d" % rnd.randrange(10**9))])
    for members in ([1, 2, 3], [-40000, 5], [2**31, -3], [-(2**63), 2**63 - 1], list(range(600))):
        call("SADD", b"is%d" % len(members) + b"_%d" % members[0], *members)
    scores = ["0", "-0", "1", "-1", "0.1", "1e20", "-1e-300", "inf", "-inf", "4611686018427387904",
              "4611686018427387905", "4611686018427389952", "-4611686018427387904", "3.5",
              "123456789.123", "1e16", "2.5e-5", "5e-324"]
    for i, sc in enumerate(scores):
        call("ZADD", "zsc", sc, b"m%d" % i)
        call("ZADD", "zint", sc, b"%d" % (i * 1000 - 3000))
    call("ZADD", "zbig", *[x for i in range(400) for x in (b"%.6f" % rnd.uniform(-1e6, 1e6), b"m%d" % i)])
    call("ZADD", "zbig", "inf", "top", "-inf", "bottom", "0", "zero")
    # a listpack whose members pass 255 bytes in all: offsets as uint32, not bytes
    call("ZADD", "zlong", *[x for i in range(12) for x in (b"%d" % i, b"%040d" % i)])
    call("RPUSH", "list", *[b"%d" % i for i in range(50)])
    call("RPUSH", "words", *[b"w%d" % i * rnd.randrange(1, 40) for i in range(700)])
    call("RPUSH", "mixed", *odd, *[b"z" * 9000, b"y" * 70000, b"x"])
    for i in range(50):
        call("LPUSH", "shifted", b"%d" % i)  # the deque's first block part-filled
    for i in range(200):
        call("HSET", b"h%d" % i, *[x for f in range(rnd.randrange(1, 9))
                                   for x in (b"f%d" % f, b"%d" % rnd.randrange(-10**6, 10**6))])
        call("ZADD", b"z%d" % i, *[x for f in range(rnd.randrange(1, 9))
                                   for x in (b"%d" % rnd.randrange(100), b"%.3f" % rnd.random())])
        call("SADD", b"s%d" % i, *[b"%d" % rnd.randrange(-10**5, 10**5) for _ in range(5)])
        if i % 7 == 0:
            call("PEXPIREAT", b"h%d" % i, "1900000000000")


def test_containers_identical(compiled, tmp_path):
    import random

    assert compiled._containers_enabled() and compiled.layouts_ok() == (True, True)
    srv = Server(Config())
    fill_containers(srv, random.Random(4))
    fill(srv)
    for compress, fill_, plain in ((True, -2, 1 << 30), (False, -2, 1 << 30),
                                   (True, 5, 1 << 30), (True, -1, 100), (True, 128, 2000)):
        srv.config["rdbcompression"] = compress
        srv.config["list-max-listpack-size"] = fill_
        srv.quicklist_packed_threshold = plain
        py, c = save_both(srv, compiled)
        assert py == c, (compress, fill_, plain)
        a, b = load_both(c, compiled)
        assert a == b
    check = shutil.which("redis-check-rdb")
    if check is not None:
        path = tmp_path / "dump.rdb"
        path.write_bytes(c)
        res = subprocess.run([check, str(path)], capture_output=True, text=True, timeout=60)
        assert "RDB looks OK!" in res.stdout, res.stdout + res.stderr


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=False), st.binary(max_size=12)), max_size=20),
       st.lists(st.tuples(st.binary(max_size=10), st.binary(max_size=70)), max_size=12))
def test_random_scores_and_fields(pairs, fields):
    if _rdbfast is None:
        if IN_CI:
            pytest.fail("bocho/_rdbfast.pyx is not built")
        pytest.skip("bocho._rdbfast not built")
    srv = Server(Config())
    call = command_runner(srv)
    if pairs:
        call("ZADD", "z", *[x for sc, m in pairs for x in (repr(sc), m)])
    if fields:
        call("HSET", "h", *[x for f, v in fields for x in (f, v)])
    py, c = save_both(srv, _rdbfast)
    assert py == c


def test_progress_calls(compiled):
    """progress(keys) at every `every` keys, counted across databases, both ways."""
    srv = Server(Config())
    fill(srv)
    seen = []
    saved = rdb._compiled
    try:
        for walker in (None, compiled):
            rdb._compiled = walker
            calls: list[int] = []
            rdb.save(srv, io.BytesIO(), progress=calls.append, every=7)
            seen.append(calls)
    finally:
        rdb._compiled = saved
    assert seen[0] == seen[1] and seen[0][-1] > 5000


def outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except Exception as e:  # noqa: BLE001 - the kind of failure is what is compared
        return "error", type(e)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=80), st.integers(-2**63, 2**63 - 1),
                          st.binary(min_size=4000, max_size=4200)), max_size=12),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
       st.integers(0, 40))
def test_readers_same_as_python(elements, flips, cut):
    """The compiled Reader.string and rdb_types.lp_text against the Python ones, on
    well-formed and damaged input."""
    if _rdbfast is None or rdb._compiled is None:
        pytest.skip("bocho._rdbfast not built")
    from bocho.persistence import listpack, rdb_types, rdbio
    lp = bytearray(listpack.build(elements))
    raw = bytearray()
    for e in elements:
        rdbio.put_str(raw, e if isinstance(e, bytes) else b"%d" % e, True)
    for data in (lp, raw):
        for at, byte in flips if data else ():
            data[at % len(data)] = byte
    lp, raw = bytes(lp), bytes(raw)
    assert outcome(rdb_types.lp_text, lp) == outcome(rdb_types.lp_text.python, lp)
    assert outcome(rdb_types.lp_text, lp[:cut]) == outcome(rdb_types.lp_text.python, lp[:cut])
    for data in (raw, raw[:cut]):
        r1, r2 = rdbio.Reader(data), rdbio.Reader(data)
        while True:
            a = outcome(rdbio.Reader.string, r1)
            b = outcome(rdbio.Reader.string.python, r2)
            assert a == b and r1.pos == r2.pos
            if a[0] == "error" or r1.at_end():
                break
