"""COMMAND INFO parity: every command bocho lists that Redis 7.0 also knows must declare
the same facts (arity, flags, key positions, ACL categories, tips, key specs) as the real
server, subcommands included. Clients (redis-cli hints, cluster clients, ACL tooling)
read these facts, so a drift is a bug even when the command itself behaves."""

from __future__ import annotations

import pytest

# Newer than Redis 7.0.15, kept on purpose (clients send them since 7.2).
KNOWN_EXTRAS = {"client|no-touch", "client|setinfo"}
KNOWN_MISSING: set[str] = set()

FIELDS = ("name", "arity", "flags", "first", "last", "step", "acl", "tips", "keyspecs",
          "subcommands")


def _raw(srv):
    c = srv.client()
    c.set_response_callback("COMMAND", lambda x, **kw: x)
    return c


def _info(c, names):
    return {x[0].decode(): x for x in c.execute_command("COMMAND", "INFO", *names) if x}


def _norm(v):
    """Sets (flags, ACL categories, tips) compare without order."""
    return sorted(v) if isinstance(v, list) else v


def _diff(name, ours, theirs, out):
    for field, a, b in zip(FIELDS, ours, theirs, strict=True):
        if field == "subcommands":
            sa = {s[0].decode(): s for s in a}
            sb = {s[0].decode(): s for s in b}
            for sub in sorted(set(sa) - set(sb) - KNOWN_EXTRAS):
                out.append(f"{sub}: not in redis")
            for sub in sorted(set(sb) - set(sa) - KNOWN_MISSING):
                out.append(f"{sub}: missing")
            for sub in sorted(set(sa) & set(sb)):
                _diff(sub, sa[sub], sb[sub], out)
        elif field in ("flags", "acl", "tips"):
            if sorted(a) != sorted(b):
                out.append(f"{name} {field}: bocho {sorted(a)} redis {sorted(b)}")
        elif a != b:
            out.append(f"{name} {field}: bocho {a!r} redis {b!r}")


@pytest.fixture(scope="module")
def infos(server, oracle):
    ours, theirs = _raw(server), _raw(oracle)
    try:
        names = [n.decode() for n in ours.execute_command("COMMAND", "LIST")]
        yield _info(ours, names), _info(theirs, names)
    finally:
        ours.close()
        theirs.close()


def test_every_shared_command_declares_redis_facts(infos):
    ours, theirs = infos
    shared = sorted(set(ours) & set(theirs))
    assert len(shared) > 100
    out: list[str] = []
    for name in shared:
        _diff(name, ours[name], theirs[name], out)
    # COMMAND LIST names "client" and "client|info": a subcommand may be reported twice.
    assert not out, "\n".join(dict.fromkeys(out))


def test_known_extras_still_exist(infos):
    """The extras list stays honest: each one is really ours and really not 7.0's."""
    ours, theirs = infos
    subs = {s[0].decode() for s in ours["client"][9]}
    theirs_subs = {s[0].decode() for s in theirs["client"][9]}
    assert KNOWN_EXTRAS <= subs
    assert not KNOWN_EXTRAS & theirs_subs
    fn_ours = {s[0].decode() for s in ours["function"][9]}
    fn_theirs = {s[0].decode() for s in theirs["function"][9]}
    assert KNOWN_MISSING <= fn_theirs
    assert not KNOWN_MISSING & fn_ours


def test_diff_detects_a_drift():
    """The comparison can fail: a changed arity or a missing subcommand is reported."""
    a = [b"x", 2, [b"fast"], 0, 0, 0, [b"@fast"], [], [], [[b"x|y", 2, [], 0, 0, 0, [], [], [], []]]]
    b = [b"x", 2, [b"fast"], 0, 0, 0, [b"@fast"], [], [], [[b"x|y", 3, [], 0, 0, 0, [], [], [], []],
                                                          [b"x|z", 2, [], 0, 0, 0, [], [], [], []]]]
    out: list[str] = []
    _diff("x", a, b, out)
    assert out == ["x|z: missing", "x|y arity: bocho 2 redis 3"]


def test_command_unknown_subcommand(server, oracle):
    for srv in (server, oracle):
        c = srv.client()
        try:
            with pytest.raises(Exception) as e:
                c.execute_command("COMMAND", "FOO")
            assert str(e.value) == "unknown subcommand 'FOO'. Try COMMAND HELP."
        finally:
            c.close()
