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
            out.append(([dict(db.data) for db in srv.dbs], [dict(db.expires) for db in srv.dbs],
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
    assert py == c and c[0][0] == {b"a": b"2"}
