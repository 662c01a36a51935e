"""MEMORY USAGE/STATS/DOCTOR/MALLOC-STATS/PURGE and INFO memory figures."""

import pytest
import redis


def test_usage(r):
    r.set("foo", "bar")
    small = r.memory_usage("foo")
    assert 30 < small < 200
    r.set("big", "x" * 10000)
    assert 10000 < r.memory_usage("big") < 11000
    assert r.memory_usage("nokey") is None
    assert r.execute_command("MEMORY", "USAGE", "foo", "SAMPLES", "0") == small
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("MEMORY", "USAGE", "foo", "SAMPLES", "-1")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("MEMORY", "USAGE", "foo", "bar")


def test_stats_and_friends(r):
    st = r.memory_stats()
    for k in ("peak.allocated", "total.allocated", "startup.allocated", "keys.count",
              "dataset.bytes", "fragmentation"):
        assert k in st
    assert b"Sam" in r.execute_command("MEMORY", "DOCTOR")
    assert r.execute_command("MEMORY", "MALLOC-STATS") == \
        b"Stats not supported for the current allocator"
    assert r.execute_command("MEMORY", "PURGE") == b"OK"
    assert r.execute_command("MEMORY", "HELP")[0].startswith(b"MEMORY <subcommand>")


def test_used_memory_follows_dataset(r):
    base = r.info("memory")["used_memory"]
    r.execute_command("DEBUG", "POPULATE", "2000", "k", "100")
    grown = r.info("memory")["used_memory"]
    assert grown - base > 2000 * 100
    r.flushall()
    assert r.info("memory")["used_memory"] < base + 20000
