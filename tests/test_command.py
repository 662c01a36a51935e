"""COMMAND, COMMAND COUNT/INFO/DOCS/LIST/GETKEYS/GETKEYSANDFLAGS/HELP, compared with a real
redis-server for the commands both have."""

import os
import shutil
import subprocess

import pytest
import redis


def raw(c, *args):
    """A reply without redis-py's COMMAND parsing (lower-case bytes name: no callback)."""
    return c.execute_command(b"command", *args)


def _norm(v):
    """Sets come back as lists in RESP2 and as sets in RESP3: compare them as sets."""
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, set):
        return sorted(_norm(x) for x in v)
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def _flagsets(info):
    """COMMAND INFO entries with their flag/category lists as sorted lists."""
    out = list(info)
    out[2] = sorted(out[2])
    out[6] = sorted(out[6])
    out[9] = [_flagsets(s) for s in out[9]]
    return out


@pytest.mark.parametrize("name", ["get", "set", "mset", "config", "config|get", "info",
                                  "command", "command|info", "incr", "lcs", "mget", "bitop",
                                  "bitfield", "getex", "setrange"])
def test_command_info_matches_redis(r, oracle, name):
    ours = raw(r, "INFO", name)[0]
    real = raw(oracle.client(), "INFO", name)[0]
    ours, real = _flagsets(ours), _flagsets(real)
    # subcommand order is the server's dict order: compare as sets of entries
    ours[9] = sorted(ours[9], key=lambda s: s[0])
    real[9] = sorted(real[9], key=lambda s: s[0])
    assert ours == real


def test_command_info_unknown_is_null(r):
    assert raw(r, "INFO", "nosuchcmd", "get|key") == [None, None]


def test_command_info_resp3(r3):
    info = r3.execute_command(b"command", "INFO", "get")[0]
    assert info[0] == b"get" and info[1] == 2
    assert sorted(info[2]) == [b"fast", b"readonly"]
    spec = info[8][0]
    assert spec[b"begin_search"] == {b"type": b"index", b"spec": {b"index": 1}}


def test_redis_py_command_parsing(r):
    cmds = r.command()
    assert cmds["get"]["arity"] == 2
    assert "readonly" in cmds["get"]["flags"]
    assert r.command_count() == len(cmds)
    assert "config" in cmds


def test_command_count_and_list(r):
    names = raw(r, "LIST")
    assert b"get" in names and b"config|get" in names and b"command|docs" in names
    top = [n for n in names if b"|" not in n]
    assert raw(r, "COUNT") == len(top)


def test_command_list_filters(r, oracle):
    admin = set(raw(r, "LIST", "FILTERBY", "ACLCAT", "admin"))
    assert b"config|set" in admin and b"get" not in admin
    assert raw(r, "LIST", "FILTERBY", "ACLCAT", "nosuchcategory") == []
    assert sorted(raw(r, "LIST", "FILTERBY", "PATTERN", "config|*")) == sorted(
        raw(oracle.client(), "LIST", "FILTERBY", "PATTERN", "config|*"))
    assert raw(r, "LIST", "FILTERBY", "MODULE", "nosuch") == []
    for bad in (("bad_arg",), ("FILTERBY", "bad", "x"), ("FILTERBY", "ACLCAT")):
        with pytest.raises(redis.ResponseError, match="syntax error"):
            raw(r, "LIST", *bad)


def test_command_docs(r, oracle):
    d = raw(r, "DOCS", "get", "nosuch", "config")  # redis-py makes the map a dict
    assert set(d) == {b"get", b"config"}
    get = d[b"get"]
    assert get[b"summary"] == b"Get the value of a key"
    assert get[b"group"] == b"string" and get[b"since"] == b"1.0.0"
    cfg = d[b"config"]
    assert b"config|get" in cfg[b"subcommands"]
    rcfg = raw(oracle.client(), "DOCS", "config")[b"config"]
    assert cfg[b"summary"] == rcfg[b"summary"]
    assert cfg[b"group"] == rcfg[b"group"]
    assert len(raw(r, "DOCS")) == raw(r, "COUNT")


@pytest.mark.parametrize("args", [
    ("get", "key"),
    ("set", "k1", "v1"),
    ("mset", "a", "1", "b", "2"),
    ("lcs", "key1", "key2"),
])
def test_getkeys_matches_redis(r, oracle, args):
    assert raw(r, "GETKEYS", *args) == raw(oracle.client(), "GETKEYS", *args)


@pytest.mark.parametrize("args", [
    ("set", "k1", "v1"),
    ("set", "k1", "v1", "GET"),
    ("get", "k"),
    ("mset", "a", "1", "b", "2"),
    ("bitop", "and", "dest", "k1", "k2"),
    ("bitfield", "k", "get", "u8", "0"),
    ("bitfield", "k", "set", "u8", "0", "1"),
    ("getex", "k", "persist"),
])
def test_getkeysandflags_matches_redis(r, oracle, args):
    ours = raw(r, "GETKEYSANDFLAGS", *args)
    real = raw(oracle.client(), "GETKEYSANDFLAGS", *args)
    assert _norm(ours) == _norm(real)


@pytest.mark.parametrize("args", [
    ("nosuchcommand", "a", "b"),
    ("ping", "x", "y"),
    ("get", "a", "b", "c"),
    ("config", "get", "x"),
])
def test_getkeys_errors_match_redis(r, oracle, args):
    with pytest.raises(redis.ResponseError) as real:
        raw(oracle.client(), "GETKEYS", *args)
    with pytest.raises(redis.ResponseError) as ours:
        raw(r, "GETKEYS", *args)
    assert str(ours.value) == str(real.value)


def test_command_help(r):
    lines = raw(r, "HELP")
    assert lines[0].startswith(b"COMMAND <subcommand>")
    assert b"GETKEYSANDFLAGS <full-command>" in lines
    assert lines[-2:] == [b"HELP", b"    Prints this help."]


def test_acl_categories_derived_from_flags(r):
    info = {e[0]: e for e in raw(r, "INFO", "get", "set", "config|set", "ping")}
    assert info[b"get"][6] == [b"@read", b"@string", b"@fast"]
    assert info[b"set"][6] == [b"@write", b"@string", b"@slow"]
    assert info[b"config|set"][6] == [b"@admin", b"@slow", b"@dangerous"]
    assert b"@connection" in info[b"ping"][6]


def _cli_help(port: int, topic: str) -> str:
    """`help <topic>` in an interactive redis-cli (a pseudo-terminal, dumb line editing)."""
    if shutil.which("script") is None:
        pytest.skip("script(1) not available")
    out = subprocess.run(["script", "-qc", f"redis-cli -p {port}", "/dev/null"],
                         input=f"help {topic}\nquit\n", capture_output=True, text=True,
                         timeout=20, env={**os.environ, "TERM": "dumb"})
    text = out.stdout.replace(str(port), "PORT")
    return text[text.index("PORT>"):]


@pytest.mark.parametrize("topic", ["set", "get", "config get", "getex", "mset", "lcs"])
def test_redis_cli_help_from_command_docs(server, oracle, topic):
    """redis-cli builds `help` and its hints from COMMAND DOCS: same text as with Redis."""
    assert _cli_help(server.port, topic) == _cli_help(oracle.port, topic)
