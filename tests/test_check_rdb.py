"""bocho-check-rdb against redis-check-rdb 7.0 on the same files: files real Redis SAVEd
(every type once its codec is in), truncated at every interesting point, with a bad
checksum, a bad signature or version, and garbage where a type byte belongs. The report
must match redis-check-rdb's line for line, bocho's per-type count lines aside."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import debian_binary

from bocho.persistence import check_rdb, rdb
from bocho.testing.server import ServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ours(path: str) -> tuple[int, list[str]]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "bocho.persistence.check_rdb", path],
                       capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout.splitlines()


def theirs(path: str) -> tuple[int, list[str]]:
    p = subprocess.run([debian_binary("redis-check-rdb"), path], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout.splitlines()


def kinds_dropped(lines: list[str]) -> list[str]:
    kinds = tuple(f"[info] {k}:" for k in check_rdb.KINDS)
    return [x for x in lines if not x.startswith(kinds)]


def per_type(lines: list[str]) -> dict[str, str]:
    out = {}
    for x in lines:
        for k in check_rdb.KINDS:
            if x.startswith(f"[info] {k}: "):
                out[k] = x[len(f"[info] {k}: "):]
    return out


def assert_same_report(path: str) -> list[str]:
    rc_a, a = ours(path)
    rc_b, b = theirs(path)
    assert (rc_a, kinds_dropped(a)) == (rc_b, b)
    return a


def _save(srv: ServerProcess, fill, name: str, tmp_path) -> str:
    c = srv.client()
    try:
        c.flushall()
        fill(c)
        c.save()
    finally:
        c.close()
    dst = os.path.join(tmp_path, name)
    shutil.copy(os.path.join(srv.dir, "dump.rdb"), dst)
    return dst


def _strings(c) -> None:
    c.set("int", 12345)
    c.set("small", "hello")
    c.set("big", "x" * 5000)  # LZF
    c.set("ttl", "v", ex=1000)
    c.set("neg", -7)
    c.select(3)
    c.set("in3", "yes")


def _all_types(c) -> None:
    _strings(c)
    c.rpush("list", *range(10))
    c.sadd("intset", 1, 2, 3)
    c.sadd("set", "a", "b")
    c.zadd("zset", {"a": 1, "b": 2.5})
    c.hset("hash", mapping={"f": "v"})
    c.xadd("stream", {"f": "v"})
    c.pexpire("list", 10**9)


def test_real_redis_strings(oracle, tmp_path):
    path = _save(oracle, _strings, "strings.rdb", tmp_path)
    lines = assert_same_report(path)
    assert "[offset 0] Checking RDB file " + path in lines
    assert any(x.endswith("Checksum OK") for x in lines)
    assert any(x.endswith("\\o/ RDB looks OK! \\o/") for x in lines)
    assert "[info] 6 keys read" in lines and "[info] 1 expires" in lines
    assert per_type(lines) == {"strings": "6 (string: 6)", "lists": "0", "sets": "0",
                               "zsets": "0", "hashes": "0", "streams": "0"}


def test_real_redis_all_types(oracle, tmp_path):
    path = _save(oracle, _all_types, "all.rdb", tmp_path)
    lines = assert_same_report(path)
    counts = per_type(lines)
    assert counts["strings"].startswith("6 ")
    for kind, n in (("lists", 1), ("sets", 2), ("zsets", 1), ("hashes", 1), ("streams", 1)):
        assert counts[kind].startswith(f"{n} ("), (kind, counts)


def test_truncated_files(oracle, tmp_path):
    path = _save(oracle, _strings, "full.rdb", tmp_path)
    data = open(path, "rb").read()
    cut = os.path.join(tmp_path, "cut.rdb")
    # the header, an AUX field, a key, a value, the EOF byte, the checksum
    for n in (0, 4, 9, 12, 30, len(data) // 2, len(data) - 12, len(data) - 9,
              len(data) - 3):
        with open(cut, "wb") as f:
            f.write(data[:n])
        lines = assert_same_report(cut)
        assert "--- RDB ERROR DETECTED ---" in lines, n


def test_checksum_and_header_errors(oracle, tmp_path):
    path = _save(oracle, _strings, "full.rdb", tmp_path)
    data = open(path, "rb").read()
    bad = os.path.join(tmp_path, "bad.rdb")
    cases = {
        "crc": data[:-1] + bytes([data[-1] ^ 1]),
        "signature": b"REDIX" + data[5:],
        "version": b"REDIS0099" + data[9:],
        "no-crc": data[:-8] + b"\0" * 8,
        "type": data[:-9] + b"\x42" + data[-8:],  # a bogus type byte where EOF was
    }
    for name, blob in cases.items():
        with open(bad, "wb") as f:
            f.write(blob)
        lines = assert_same_report(bad)
        if name == "crc":
            assert "RDB CRC error" in lines[-11], lines
        if name == "no-crc":
            assert any("checksum disabled" in x for x in lines)


def test_bocho_saved_file(tmp_path):
    """rdb.save's output (strings) checks OK with both tools."""
    from bocho.config import Config
    from bocho.server import Server
    srv = Server(Config())
    srv.dbs[0].data.update({b"a": b"1", b"b": b"x" * 300})
    srv.dbs[0].expires[b"b"] = 1
    srv.dbs[5].data[b"c"] = b"hello"
    path = os.path.join(tmp_path, "bocho.rdb")
    with open(path, "wb") as f:
        rdb.save(srv, f)
    lines = assert_same_report(path)
    assert "[info] 3 keys read" in lines and "[info] 1 already expired" in lines


def test_usage_and_missing_file(tmp_path):
    assert check_rdb.main(["bocho-check-rdb"]) == 1
    assert check_rdb.main(["bocho-check-rdb", "-v"]) == 0
    rc, lines = ours(os.path.join(tmp_path, "nope.rdb"))
    assert rc == 1 and lines == [f"[offset 0] Checking RDB file {tmp_path}/nope.rdb"]


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(DATA) if f.endswith(".rdb"))
                         if os.path.isdir(DATA) else [])
def test_asset_files(name):
    """Redis's own test assets (older encodings, empty keys, a corrupt ziplist)."""
    path = os.path.join(DATA, name)
    if name == "corrupt_ziplist.rdb":
        # Redis prefixes the reason with its source line ("... rdb.c:2275 -> "), and
        # reports the offset after the blob, where bocho reports where it starts
        rc_a, a = ours(path)
        rc_b, b = theirs(path)
        assert rc_a == rc_b == 1
        assert "--- RDB ERROR DETECTED ---" in a
        assert any(x.endswith("] Hash ziplist integrity check failed.") for x in a)
        return
    assert_same_report(path)
