"""SLOWLOG: entry shape, limits, trimming, redaction, reset."""

import pytest
import redis


@pytest.fixture
def sl(r):
    r.config_set("slowlog-log-slower-than", 0)
    r.config_set("slowlog-max-len", 128)
    r.slowlog_reset()
    yield r
    r.config_set("slowlog-log-slower-than", 10000)


def test_entry_shape(sl):
    sl.client_setname("me")
    sl.execute_command("set", "foo", "bar")
    e = sl.execute_command("SLOWLOG", "GET", "1")[0]
    assert len(e) == 6
    assert e[3] == [b"set", b"foo", b"bar"]
    assert e[4].startswith(b"127.0.0.1:")
    assert e[5] == b"me"
    assert isinstance(e[2], int) and e[2] >= 0
    first = e[0]
    sl.ping()
    assert sl.execute_command("SLOWLOG", "GET", "1")[0][0] == first + 2  # GET is logged too


def test_threshold_and_len(sl):
    sl.config_set("slowlog-log-slower-than", 100000)
    sl.slowlog_reset()
    sl.ping()
    assert sl.slowlog_len() == 0
    sl.execute_command("DEBUG", "SLEEP", "0.15")
    assert sl.slowlog_len() == 1
    assert sl.execute_command("SLOWLOG", "GET")[0][3] == [b"DEBUG", b"SLEEP", b"0.15"]
    sl.config_set("slowlog-log-slower-than", -1)
    sl.execute_command("DEBUG", "SLEEP", "0.15")
    assert sl.slowlog_len() == 1


def test_max_len_and_count(sl):
    sl.config_set("slowlog-max-len", 10)
    for _ in range(30):
        sl.ping()
    assert sl.slowlog_len() == 10
    assert len(sl.execute_command("SLOWLOG", "GET", "5")) == 5
    assert len(sl.execute_command("SLOWLOG", "GET", "-1")) == 10
    assert len(sl.execute_command("SLOWLOG", "GET", "0")) == 0
    with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
        sl.execute_command("SLOWLOG", "GET", "-2")


def test_trimming(sl):
    sl.execute_command("del", "set", *range(3, 34))
    args = sl.execute_command("SLOWLOG", "GET", "1")[0][3]
    assert len(args) == 32 and args[-1] == b"... (2 more arguments)"
    assert args[:3] == [b"del", b"set", b"3"] and args[30] == b"31"
    sl.slowlog_reset()
    sl.execute_command("del", "set", "foo", "A" * 129)
    args = sl.execute_command("SLOWLOG", "GET", "1")[0][3]
    assert args[3] == b"A" * 128 + b"... (1 more bytes)"


def test_redaction(sl):
    sl.execute_command("config", "set", "masterauth", "")
    e = sl.execute_command("SLOWLOG", "GET", "1")[0]
    assert e[3] == [b"config", b"set", b"masterauth", b"(redacted)"]


def test_help_and_errors(r):
    assert r.execute_command("SLOWLOG", "HELP")[0].startswith(b"SLOWLOG <subcommand>")
    with pytest.raises(redis.ResponseError, match="unknown subcommand 'foo'. Try SLOWLOG HELP."):
        r.execute_command("SLOWLOG", "foo")
