"""bocho-check-aof next to Debian's redis-check-aof (same files, same output and exit
code), and the manifest codec (bocho/persistence/manifest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bocho.persistence import manifest as mf
from tests.conftest import debian_binary


def _cmd(*args: str) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode())
                                             for a in args)


GOOD = _cmd("select", "0") + _cmd("set", "a", "1")
CASES = {
    "good": GOOD,
    "truncated_bulk": GOOD + b"*3\r\n$3\r\nset\r\n$1\r\nb\r\n$3\r\n12",
    "truncated_header": GOOD + b"*3\r\n$3\r\nset\r\n$1",
    "open_multi": GOOD + _cmd("multi") + _cmd("set", "b", "2"),
    "nested_multi": _cmd("multi") + _cmd("multi"),
    "stray_exec": GOOD + _cmd("exec"),
    "bad_crlf": GOOD + b"*3\r\n$3\r\nset\r\n$1\r\nax\r\n$1\r\n1\r\n",
    "bad_prefix": GOOD + b"*2\r\n#3\r\nget\r\n$1\r\na\r\n",
    "garbage": GOOD + b"hello\r\n",
    "annotations": b"#TS:1628217470\r\n" + GOOD + b"#TS:1628217480\r\n" + _cmd("del", "a"),
    "empty": b"",
}


def _run(argv: list[str], cwd: str, stdin: str = "") -> tuple[int, str]:
    p = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stdout


BOCHO = [sys.executable, "-m", "bocho.persistence.check_aof"]


def _both(tmp_path, name: str, data: bytes, args: list[str], stdin: str = ""):
    """Run both tools on their own copy; (redis result, bocho result, files after)."""
    out = []
    for tool, sub in (([debian_binary("redis-check-aof")], "r"), (BOCHO, "b")):
        d = tmp_path / sub
        d.mkdir(exist_ok=True)
        (d / name).write_bytes(data)
        rc, text = _run(tool + args + [name], str(d), stdin)
        out.append((rc, text, (d / name).read_bytes()))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_old_style_check_matches_redis_check_aof(tmp_path, case):
    red, boc = _both(tmp_path, "appendonly.aof", CASES[case], [])
    assert boc == red


@pytest.mark.parametrize("case", ["truncated_bulk", "open_multi", "bad_crlf"])
@pytest.mark.parametrize("answer", ["y\n", "n\n"])
def test_fix_matches_redis_check_aof(tmp_path, case, answer):
    red, boc = _both(tmp_path, "appendonly.aof", CASES[case], ["--fix"], answer)
    assert boc == red
    if answer == "y\n":
        assert boc[2] == GOOD


@pytest.mark.parametrize("ts", ["1628217470", "1628217475", "1628217469", "x"])
def test_truncate_to_timestamp_matches(tmp_path, ts):
    red, boc = _both(tmp_path, "appendonly.aof", CASES["annotations"],
                     ["--truncate-to-timestamp", ts])
    assert boc == red


def _multipart(d, incr_tail: bytes = b"", base: bytes = GOOD) -> None:
    d.mkdir(exist_ok=True)
    (d / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.aof seq 1 type b\n"
        "file appendonly.aof.1.incr.aof seq 1 type i\n"
        "file appendonly.aof.2.incr.aof seq 2 type i\n")
    (d / "appendonly.aof.1.base.aof").write_bytes(base)
    (d / "appendonly.aof.1.incr.aof").write_bytes(_cmd("set", "b", "2"))
    (d / "appendonly.aof.2.incr.aof").write_bytes(_cmd("set", "c", "3") + incr_tail)


@pytest.mark.parametrize("tail,fix", [(b"", False), (b"*3\r\n$3\r\nset", False),
                                      (b"*3\r\n$3\r\nset", True)])
def test_multipart_matches_redis_check_aof(tmp_path, tail, fix):
    results = []
    for tool, sub in (([debian_binary("redis-check-aof")], "r"), (BOCHO, "b")):
        d = tmp_path / sub
        _multipart(d, tail)
        args = ["--fix"] if fix else []
        rc, text = _run(tool + args + ["appendonly.aof.manifest"], str(d), "y\n")
        results.append((rc, text, (d / "appendonly.aof.2.incr.aof").read_bytes()))
    assert results[1] == results[0]


def test_multipart_truncated_base_is_not_fixed(tmp_path):
    results = []
    for tool, sub in (([debian_binary("redis-check-aof")], "r"), (BOCHO, "b")):
        d = tmp_path / sub
        _multipart(d, base=GOOD + b"*2\r\n$3")
        results.append(_run(tool + ["--fix", "appendonly.aof.manifest"], str(d), "y\n"))
    assert results[1] == results[0]
    assert results[0][0] == 1


@pytest.mark.parametrize("text", [
    "",
    "file a seq 1 type x\n",
    "file a seq 1\n",
    "file a seq 1 type b\nfile b seq 2 type b\n",
    "file a seq 2 type i\nfile b seq 1 type i\n",
    "file ../a seq 1 type b\n",
    "file " + "a" * 1100 + " seq 1 type b\n",
    "file a seq 1 type b",
    "\n",
])
def test_bad_manifests_match_redis_check_aof(tmp_path, text):
    results = []
    for tool, sub in (([debian_binary("redis-check-aof")], "r"), (BOCHO, "b")):
        d = tmp_path / sub
        d.mkdir()
        (d / "appendonly.aof.manifest").write_text(text)
        (d / "a").write_bytes(GOOD)
        (d / "b").write_bytes(GOOD)
        results.append(_run(tool + ["appendonly.aof.manifest"], str(d)))
    assert results[1][0] == results[0][0]
    if text.startswith("file"):  # (not a manifest at all otherwise: an old-style check)
        for needle in ("Invalid AOF manifest file format", "Unknown AOF file type",
                       "Found duplicate base file information",
                       "Found a non-monotonic sequence number",
                       "File can't be a path, just a filename",
                       "The AOF manifest file contains too long line"):
            assert (needle in results[0][1]) == (needle in results[1][1])


# -- the manifest codec -------------------------------------------------------------------

def test_manifest_round_trip_and_order():
    m = mf.Manifest()
    m.new_base("appendonly.aof", True)
    m.new_incr("appendonly.aof")
    m.new_incr("appendonly.aof")
    m.new_base("appendonly.aof", False)
    m.incr_to_history(keep_last=True)
    assert m.text() == ("file appendonly.aof.2.base.aof seq 2 type b\n"
                        "file appendonly.aof.1.incr.aof seq 1 type h\n"
                        "file appendonly.aof.1.base.rdb seq 1 type h\n"
                        "file appendonly.aof.2.incr.aof seq 2 type i\n")
    back = mf.parse(m.text().encode())
    assert back.text() == m.text() and back.base_seq == 2 and back.incr_seq == 2


def test_manifest_quotes_odd_names():
    m = mf.Manifest()
    m.new_base("my file\n.aof", False)
    line = m.text()
    assert line == 'file "my file\\n.aof.1.base.aof" seq 1 type b\n'
    assert mf.parse(line.encode()).base.name == "my file\n.aof.1.base.aof"


def test_manifest_comments_and_keywords_any_case():
    m = mf.parse(b"# comment\nFILE x SEQ 3 TYPE i extra 1\n")
    assert [(a.name, a.seq, a.type) for a in m.incr] == [("x", 3, "i")]


def test_written_manifest_is_read_by_redis_check_aof(tmp_path):
    tool = debian_binary("redis-check-aof")
    m = mf.Manifest()
    m.new_base("appendonly.aof", False)
    m.new_incr("appendonly.aof")
    mf.write_file(str(tmp_path), "appendonly.aof", m)
    (tmp_path / "appendonly.aof.1.base.aof").write_bytes(GOOD)
    (tmp_path / "appendonly.aof.1.incr.aof").write_bytes(b"")
    rc, text = _run([tool, "appendonly.aof.manifest"], str(tmp_path))
    assert rc == 0 and "All AOF files and manifest are valid" in text
    assert not os.path.exists(tmp_path / "temp-appendonly.aof.manifest")
