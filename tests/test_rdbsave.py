"""The compiled keyspace walk of rdb.save (bocho/_rdbsave.pyx) writes the very bytes of
rdb.py's Python loop: the same dataset saved both ways gives identical files, which
real Redis's redis-check-rdb accepts. Skipped where the extension is not built (CI
builds it: `pip install -e .`, and there its absence fails)."""

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
    from bocho import _rdbsave
except ImportError:  # pure install
    _rdbsave = None

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="module")
def compiled():
    if _rdbsave is None:
        if IN_CI:
            pytest.fail("bocho/_rdbsave.pyx is not built")
        pytest.skip("bocho._rdbsave not built")
    return _rdbsave


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
    if _rdbsave is None:
        pytest.skip("bocho._rdbsave not built")
    srv = Server(Config())
    srv.config["rdbcompression"] = compress
    srv.dbs[0].data.update(data)
    for i, k in enumerate(data):
        if i % 2:
            srv.dbs[0].expires[k] = 1_000_000 * i
    py, c = save_both(srv, _rdbsave)
    assert py == c
