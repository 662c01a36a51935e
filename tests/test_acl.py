"""ACL: users, NOPERM checks, ACL subcommands, AUTH/HELLO, aclfile and `user` lines,
compared with a real redis-server where the replies can be compared."""

from __future__ import annotations

import os

import pytest
import redis

from bocho.testing.server import no_retry, wait_until
from tests.oracle import assert_same, run

NOAUTH_RE = "NOAUTH|HELLO must be called|Authentication required"
NOPERM_KEY = "this user has no permissions to access one of the keys used as arguments"


def entry(x) -> dict:
    """An ACL LOG entry as a dict (redis-py parses it into one; RESP2 flat list if not)."""
    if isinstance(x, dict):
        return x
    return dict(zip(x[::2], x[1::2], strict=True))


def _deluser(c, *names):
    c.execute_command("ACL", "DELUSER", *names)


def _login(server, user, pw, **kw):
    return server.client(username=user, password=pw, **kw)


def test_default_user(r):
    assert r.execute_command(*"ACL WHOAMI".split()) == b"default"
    assert r.execute_command(*"ACL USERS".split()) == [b"default"]
    assert r.execute_command(*"ACL LIST".split()) == [b"user default on nopass ~* &* +@all"]


def test_read_only_app_user(server, r):
    r.execute_command(*"ACL LOG RESET".split())
    r.execute_command(*"ACL SETUSER app on >secret %R~app:* +@read +@write -flushall".split())
    r.set("app:1", "v")
    a = _login(server, "app", "secret")
    try:
        assert a.get("app:1") == b"v"
        with pytest.raises(redis.ResponseError, match=NOPERM_KEY):
            a.set("app:1", "w")
        with pytest.raises(redis.ResponseError, match=NOPERM_KEY):
            a.get("other")
        with pytest.raises(redis.exceptions.NoPermissionError,
                           match="no permissions to run the 'flushall' command"):
            a.flushall()
        assert r.get("app:1") == b"v"
        log = r.execute_command(*"ACL LOG".split())
        assert [(e[b"reason"], e[b"object"], e[b"context"], e[b"username"]) for e in
                (entry(x) for x in log)
                if e[b"object"] != b"client|setinfo"] == [
            (b"command", b"flushall", b"toplevel", b"app"),
            (b"key", b"other", b"toplevel", b"app"),
            (b"key", b"app:1", b"toplevel", b"app")]
        first = entry(log[0])
        assert b"user=app" in first[b"client-info"]
        # the same failure again is grouped
        with pytest.raises(redis.ResponseError):
            a.get("other")
        assert entry(r.execute_command("ACL", "LOG", "1")[0])[b"count"] == 2
        assert r.execute_command(*"ACL LOG RESET".split()) == b"OK"
        assert r.execute_command(*"ACL LOG".split()) == []
    finally:
        a.close()
        _deluser(r, "app")


def test_nopermission_inside_multi_and_exec_recheck(server, r):
    r.execute_command(*"ACL SETUSER m on nopass ~* +multi +exec +set +get".split())
    a = _login(server, "m", "x")
    try:
        p = a.pipeline(transaction=True)
        p.set("k", "1")
        p.incrby("k", 1)
        with pytest.raises(redis.exceptions.NoPermissionError, match="'incrby' command"):
            p.execute()
        log = entry(r.execute_command("ACL", "LOG", "1")[0])
        assert (log[b"context"], log[b"object"]) == (b"multi", b"incrby")
    finally:
        a.close()
        _deluser(r, "m")


def test_exec_recheck_reply(server, r):
    r.execute_command(*"ACL SETUSER m2 on nopass ~* +multi +exec +set +get".split())
    a = _login(server, "m2", "x")
    try:
        a.execute_command("MULTI")
        a.execute_command("SET", "k", "2")
        a.execute_command("GET", "k")
        r.execute_command(*"ACL SETUSER m2 -set".split())
        p = a.pipeline(transaction=False)
        p.execute_command("EXEC")
        (res,) = p.execute(raise_on_error=False)
        assert isinstance(res[0], redis.ResponseError)
        assert "ACLs rules changed between the moment the transaction was accumulated" \
            in str(res[0])
        assert res[1] is None
        log = entry(r.execute_command("ACL", "LOG", "1")[0])
        assert log[b"context"] == b"multi"
    finally:
        a.close()
        _deluser(r, "m2")


SETUSER_CASES = [
    ["u1"],
    ["u1", "on", ">p1", ">p2", "<p1", "~a*", "%R~b*", "%W~c*", "%RW~d*", "&ch*", "+get",
     "+set"],
    ["u1", "reset", "on", "nopass", "allkeys", "allchannels", "+@all", "-flushall", "-debug"],
    ["u1", "+@all", "-@dangerous"],
    ["u1", "-@all", "+@string"],
    ["u1", "+client|id", "+config|get", "+select|0"],
    ["u1", "+@all", "-config|set"],
    ["u1", "#" + "a" * 64, "!" + "a" * 64],
    ["u1", "off", "skip-sanitize-payload", "resetpass", "resetkeys", "resetchannels"],
    ["u1", "(~x* +get)", "(%W~y* +set)", "clearselectors", "(+ping"],
]

BAD_CASES = [
    ["u2", "+nosuchcommand"],
    ["u2", "+@nosuchcat"],
    ["u2", "bogus"],
    ["u2", "#abc"],
    ["u2", "<nosuchpass"],
    ["u2", "~*", "~foo"],
    ["u2", "&*", "&foo"],
    ["u2", "+config|get|x"],
    ["u2", "+client|"],
    ["u2", "%X~a"],
    ["u2", "(+get", "~a"],
    ["u2", "(on)"],
    ["u 2", "on"],
]


def _norm(v):
    """Command rules after the leading +@all/-@all come in Redis's dict order, which is
    random per process: compare them as sets."""
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, bytes) and (b"+@all" in v or b"-@all" in v):
        head, sep, tail = v.partition(b"@all")
        return (head + sep, frozenset(tail.split()))
    return v


def _same(a, b, cmds):
    assert_same(_norm(run(a, cmds)), _norm(run(b, cmds)), cmds)


def test_setuser_getuser_list_like_redis(pair):
    a, b = pair()
    try:
        for case in SETUSER_CASES:
            cmds = [["ACL", "SETUSER", *case], ["ACL", "GETUSER", "u1"], ["ACL", "LIST"],
                    ["ACL", "USERS"]]
            _same(a, b, cmds)
        for case in BAD_CASES:
            cmds = [["ACL", "SETUSER", *case], ["ACL", "GETUSER", "u2"]]
            _same(a, b, cmds)
        cmds = [["ACL", "SETUSER", "s", "on", "nopass", "(~x* +get)", "(+set", "~y*)"],
                ["ACL", "GETUSER", "s"], ["ACL", "LIST"],
                ["ACL", "DRYRUN", "s", "get", "x1"], ["ACL", "DRYRUN", "s", "get", "y1"],
                ["ACL", "DRYRUN", "s", "set", "y1", "v"], ["ACL", "DRYRUN", "s", "set", "x1", "v"],
                ["ACL", "DRYRUN", "s", "del", "x1"], ["ACL", "DRYRUN", "nouser", "get", "x"],
                ["ACL", "DRYRUN", "s", "nocmd"], ["ACL", "DRYRUN", "s", "get"],
                ["ACL", "DRYRUN", "s", "config"], ["ACL", "DRYRUN", "s", "config", "nosub"],
                ["ACL", "DRYRUN", "s", "config", "get", "x"],
                ["ACL", "SETUSER", "c", "on", "nopass", "&news.*", "+publish", "+subscribe",
                 "+psubscribe"],
                ["ACL", "DRYRUN", "c", "publish", "news.a", "x"],
                ["ACL", "DRYRUN", "c", "publish", "other", "x"],
                ["ACL", "DRYRUN", "c", "subscribe", "news.b", "other"],
                ["ACL", "DRYRUN", "c", "psubscribe", "news.*"],
                ["ACL", "DRYRUN", "c", "psubscribe", "news.a*"],
                ["ACL", "DELUSER", "default"], ["ACL", "DELUSER", "s", "c", "nobody"],
                ["ACL", "CAT", "nosuch"], ["ACL", "CAT", "a", "b"], ["ACL", "CAT"],
                ["ACL", "GENPASS", "0"], ["ACL", "GENPASS", "5000"], ["ACL", "LOG", "x"],
                ["ACL", "LOAD"], ["ACL", "SAVE"], ["ACL", "HELP"], ["ACL", "WHOAMI"],
                ["ACL", "NOSUCH"]]
        _same(a, b, cmds)
    finally:
        for c in (a, b):
            c.execute_command("ACL", "DELUSER", "u1", "u2", "s", "c")


def test_acl_cat_members(r):
    assert b"get" in r.execute_command(*"ACL CAT string".split())
    assert b"set" not in r.execute_command(*"ACL CAT keyspace".split())
    assert b"function|list" in r.execute_command(*"ACL CAT scripting".split())
    assert b"multi" in r.execute_command(*"ACL CAT transaction".split())


def test_genpass(r):
    p = r.execute_command(*"ACL GENPASS".split())
    assert len(p) == 64 and int(p, 16) >= 0
    assert len(r.execute_command(*"ACL GENPASS 5".split())) == 2
    assert r.execute_command(*"ACL GENPASS".split()) != p


def test_auth_and_hello(server, r):
    r.execute_command(*"ACL SETUSER bob on >pw1 >pw2 +@all ~*".split())
    r.execute_command(*"ACL SETUSER off_user off >pw +@all ~*".split())
    c = server.client(retry=no_retry())
    try:
        with pytest.raises(redis.RedisError, match="AUTH <password> called without"):
            c.execute_command("AUTH", "x")
        with pytest.raises(redis.AuthenticationError):
            c.execute_command("AUTH", "bob", "bad")
        with pytest.raises(redis.AuthenticationError):
            c.execute_command("AUTH", "off_user", "pw")
        with pytest.raises(redis.AuthenticationError):
            c.execute_command("AUTH", "ghost", "pw")
        assert c.execute_command("AUTH", "bob", "pw2")
        assert c.execute_command(*"ACL WHOAMI".split()) == b"bob"
        h = c.execute_command("HELLO", "3", "AUTH", "bob", "pw1")
        assert h[b"proto"] == 3
        with pytest.raises(redis.AuthenticationError):
            c.execute_command("HELLO", "2", "AUTH", "bob", "nope")
        assert c.execute_command("RESET") in ("RESET", b"RESET")
        assert c.execute_command(*"ACL WHOAMI".split()) == b"default"
        log = [entry(x) for x in r.execute_command(*"ACL LOG".split())]
        assert any(e[b"reason"] == b"auth" and e[b"username"] == b"ghost" for e in log)
    finally:
        c.close()
        _deluser(r, "bob", "off_user")
        r.execute_command(*"ACL LOG RESET".split())


def test_requirepass_is_the_default_users_password(server, r):
    r.config_set("requirepass", "s3cret")
    try:
        assert r.execute_command(*"ACL LIST".split())[0].startswith(b"user default on #")
        c = server.client(protocol=2)
        with pytest.raises(redis.RedisError, match=NOAUTH_RE):
            c.ping()
        c.close()
        c = server.client(protocol=2, password="s3cret")
        assert c.execute_command("ACL", "WHOAMI") == b"default"
        assert c.execute_command("AUTH", "default", "s3cret")
        c.close()
    finally:
        r.config_set("requirepass", "")
    assert r.execute_command(*"ACL LIST".split()) == [b"user default on nopass ~* &* +@all"]


def test_default_user_off_needs_auth(server, r):
    r.execute_command(*"ACL SETUSER admin on >a +@all ~* &*".split())
    r.execute_command(*"ACL SETUSER default off".split())
    try:
        c = server.client(protocol=2, retry=no_retry())
        with pytest.raises(redis.RedisError, match=NOAUTH_RE):
            c.ping()
        c.close()
        c = server.client(protocol=2, username="admin", password="a")
        assert c.ping()
        c.execute_command(*"ACL SETUSER default on".split())
        c.close()
    finally:
        r.execute_command(*"ACL SETUSER default on".split())
        _deluser(r, "admin")


def test_deleted_and_changed_users_are_disconnected(server, r):
    r.execute_command(*"ACL SETUSER gone on nopass +@all ~* &*".split())
    a = _login(server, "gone", "x")
    me = _login(server, "gone", "x", retry=no_retry())
    try:
        aid = a.client_id()
        assert me.execute_command(*"ACL DELUSER gone".split()) == 1
        wait_until(lambda: aid not in [int(x["id"]) for x in r.client_list()], 5)
        with pytest.raises(redis.ConnectionError):
            me.ping()
    finally:
        a.close()
        me.close()


def test_client_kill_user(server, r):
    r.execute_command(*"ACL SETUSER k on nopass +@all ~*".split())
    a = _login(server, "k", "x")
    try:
        a.ping()
        assert r.execute_command(*"CLIENT KILL USER k".split()) == 1
        assert not [x for x in r.client_list() if x["user"] == "k"]
    finally:
        a.close()
        _deluser(r, "k")


def test_channels(server, r):
    r.execute_command(*"ACL SETUSER sub on nopass +@all ~* resetchannels &news.*".split())
    a = _login(server, "sub", "x")
    p = None
    try:
        assert a.publish("news.1", "x") == 0
        with pytest.raises(redis.ResponseError, match="one of the channels"):
            a.publish("sports", "x")
        p = a.pubsub()
        p.subscribe("news.1")
        wait_until(lambda: p.get_message(timeout=0.1) is not None, 5)
        n = len(r.client_list())
        r.execute_command(*"ACL SETUSER sub resetchannels &other".split())
        wait_until(lambda: len(r.client_list()) < n, 5)
    finally:
        if p is not None:
            p.close()
        a.close()
        _deluser(r, "sub")


def test_script_calls_are_checked(server, r):
    r.execute_command(*"ACL LOG RESET".split())
    r.execute_command(*"ACL SETUSER lua on nopass +eval ~* +get".split())
    a = _login(server, "lua", "x")
    try:
        assert a.eval("return redis.call('get', 'x')", 0) is None
        with pytest.raises(redis.ResponseError,
                           match="The user executing the script can't run this command"):
            a.eval("return redis.call('set', 'x', 1)", 0)
        e = entry(r.execute_command("ACL", "LOG", "1")[0])
        assert (e[b"context"], e[b"object"]) == (b"lua", b"set")
    finally:
        a.close()
        _deluser(r, "lua")


def test_first_arg_and_subcommand_rules(server, r):
    r.execute_command(*"ACL SETUSER fa on nopass -@all +select|0 +client|id ~*".split())
    a = _login(server, "fa", "x")
    try:
        assert a.execute_command("SELECT", "0")
        with pytest.raises(redis.exceptions.NoPermissionError, match="'select' command"):
            a.execute_command("SELECT", "1")
        assert a.client_id() > 0
        with pytest.raises(redis.exceptions.NoPermissionError, match="'client|list'"):
            a.client_list()
    finally:
        a.close()
        _deluser(r, "fa")


def test_aclfile_load_and_save(make_server, tmp_path):
    path = tmp_path / "users.acl"
    path.write_text("user alice on >a1 ~* &* +@all\nuser bob on nopass ~b* -@all +get\n")
    srv = make_server(config={"aclfile": str(path)})
    c = srv.client(username="alice", password="a1")
    assert sorted(c.execute_command(*"ACL USERS".split())) == [b"alice", b"bob", b"default"]
    b = srv.client(username="bob", password="x", retry=no_retry())
    with pytest.raises(redis.exceptions.NoPermissionError):
        b.set("b1", "x")
    c.execute_command(*"ACL SETUSER carol on >c ~c* +@read".split())
    assert c.execute_command(*"ACL SAVE".split()) == b"OK"
    text = path.read_text()
    assert "user carol on #" in text and "~c* resetchannels -@all +@read" in text
    path.write_text("user alice on >a1 ~* &* +@all\nuser default on nopass ~* &* +@all\n")
    assert c.execute_command(*"ACL LOAD".split()) == b"OK"
    assert sorted(c.execute_command(*"ACL USERS".split())) == [b"alice", b"default"]
    with pytest.raises(redis.ConnectionError):
        b.ping()  # bob is gone: his connection is dropped
    path.write_text("user alice on >a1 ~* +@all +nosuch\nbogus line\n")
    with pytest.raises(redis.ResponseError, match="no change to the previously active"):
        c.execute_command(*"ACL LOAD".split())
    assert sorted(c.execute_command(*"ACL USERS".split())) == [b"alice", b"default"]
    c.close()
    b.close()


def test_acl_load_save_without_file(r):
    with pytest.raises(redis.ResponseError, match="not configured to use an ACL file"):
        r.execute_command(*"ACL LOAD".split())


def test_user_lines_in_config_and_rewrite(make_server):
    srv = make_server(conf_file="user default on nopass ~* &* +@all -flushdb\n"
                                "user joe on >pw ~j* +get\n")
    c = srv.client()
    assert c.execute_command(*"ACL LIST".split()) == [
        b"user default on nopass sanitize-payload ~* &* +@all -flushdb",
        b"user joe on #" + __import__("hashlib").sha256(b"pw").hexdigest().encode()
        + b" ~j* resetchannels -@all +get"]
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.flushdb()
    c.execute_command(*"ACL SETUSER ann on nopass ~* +@all".split())
    assert c.config_rewrite()
    text = open(os.path.join(srv.dir, "redis.conf")).read()
    assert "user ann on nopass ~* resetchannels +@all" in text
    c.close()


def test_bad_user_line_refuses_to_start(make_server):
    srv = make_server(conf_file="user joe on +nosuch\n", wait_ready=False)
    srv.start()
    wait_until(lambda: srv.proc.poll() is not None, 10)
    assert srv.proc.returncode != 0


def test_sort_by_get_need_full_read_access(pair):
    a, b = pair()
    cmds = [["ACL", "SETUSER", "sorter", "on", "nopass", "+@all", "~l*", "%R~w*"],
            ["ACL", "DRYRUN", "sorter", "sort", "l1"],
            ["ACL", "SETUSER", "sorter2", "on", "nopass", "+@all", "%R~*", "%W~l*"],
            ["ACL", "DRYRUN", "sorter2", "sort", "l1", "by", "w*"]]
    try:
        _same(a, b, cmds)
    finally:
        for c in (a, b):
            c.execute_command("ACL", "DELUSER", "sorter", "sorter2")


def test_sort_by_get_denied(server, r):
    r.execute_command(*"ACL SETUSER sorter on nopass +@all ~l* ~w*".split())
    r.rpush("l1", 2, 1)
    a = _login(server, "sorter", "x")
    try:
        assert a.sort("l1") == [b"1", b"2"]
        with pytest.raises(redis.ResponseError, match="BY option of SORT denied due to "
                                                      "insufficient ACL permissions"):
            a.sort("l1", by="w*")
        with pytest.raises(redis.ResponseError, match="GET option of SORT denied"):
            a.sort("l1", get="w*")
        r.execute_command(*"ACL SETUSER sorter %R~*".split())
        assert len(a.sort("l1", by="w*")) == 2
    finally:
        a.close()
        _deluser(r, "sorter")


def test_shard_channels_are_channels_not_keys(server, r):
    r.execute_command(*"ACL SETUSER sh on nopass +@all resetkeys resetchannels &ok".split())
    a = _login(server, "sh", "x")
    try:
        assert a.execute_command("SPUBLISH", "ok", "m") == 0
        with pytest.raises(redis.ResponseError, match="one of the channels"):
            a.execute_command("SPUBLISH", "no", "m")
    finally:
        a.close()
        _deluser(r, "sh")


def test_getuser_resp3_like_redis(pair):
    a, b = pair(protocol=3)
    cmds = [["ACL", "SETUSER", "r3", "on", ">x", "~a*", "&c", "-@all", "+get",
             "(%R~b* +set)"],
            ["ACL", "GETUSER", "r3"], ["ACL", "GETUSER", "nobody"], ["ACL", "CAT"]]
    try:
        _same(a, b, cmds)
    finally:
        for c in (a, b):
            c.execute_command("ACL", "DELUSER", "r3")


def test_script_acl_check_cmd(server, r):
    r.execute_command("ACL", "SETUSER", "bob", "on", ">123", "+@scripting", "+set", "~x*")
    a = _login(server, "bob", "123")
    try:
        assert a.eval("return redis.acl_check_cmd('set','xx',1)", 1, "xx") == 1
        assert a.eval("return redis.acl_check_cmd('lpush','xx','f')", 1, "xx") is None
        assert a.eval("return redis.acl_check_cmd('set','yy',1)", 0) is None
        with pytest.raises(redis.ResponseError, match="Invalid command passed"):
            a.eval("return redis.acl_check_cmd('invalid-cmd','arg')", 0)
    finally:
        a.close()
        _deluser(r, "bob")


def test_cluster_connection_commands_without_cluster(pair):
    """READONLY/READWRITE exist (ACL rules name them) and answer Redis's error."""
    a, b = pair()
    try:
        _same(a, b, [["READONLY"], ["READWRITE"], ["READONLY", "x"],
                     ["ACL", "SETUSER", "ro", "on", "nopass", "+readonly", "-readwrite"],
                     ["ACL", "GETUSER", "ro"], ["ACL", "DRYRUN", "ro", "readonly"],
                     ["ACL", "DRYRUN", "ro", "readwrite"]])
    finally:
        for c in (a, b):
            c.execute_command("ACL", "DELUSER", "ro")
