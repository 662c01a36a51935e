"""LATENCY: events from slow commands, LATEST/HISTORY/RESET/GRAPH/DOCTOR/HISTOGRAM; TIME."""

import time

import pytest
import redis


@pytest.fixture
def lat(r):
    r.config_set("latency-monitor-threshold", 100)
    r.execute_command("LATENCY", "RESET")
    yield r
    r.config_set("latency-monitor-threshold", 0)


def test_command_events(lat):
    lat.execute_command("DEBUG", "SLEEP", "0.15")
    latest = lat.execute_command("LATENCY", "LATEST")
    assert len(latest) == 1
    name, t, ms, mx = latest[0]
    assert name == b"command" and 140 <= ms <= 400 and mx == ms
    assert abs(t - time.time()) < 5
    hist = lat.execute_command("LATENCY", "HISTORY", "command")
    assert hist == [[t, ms]]
    assert lat.execute_command("LATENCY", "HISTORY", "nope") == []
    graph = lat.execute_command("LATENCY", "GRAPH", "command")
    assert graph.startswith(b"command - high ")
    with pytest.raises(redis.ResponseError, match="No samples available for event 'nope'"):
        lat.execute_command("LATENCY", "GRAPH", "nope")
    assert b"command: 1 latency spikes" in lat.execute_command("LATENCY", "DOCTOR")
    assert lat.execute_command("LATENCY", "RESET", "nope") == 0
    assert lat.execute_command("LATENCY", "RESET") == 1
    assert lat.execute_command("LATENCY", "LATEST") == []


def test_below_threshold_not_recorded(lat):
    lat.execute_command("DEBUG", "SLEEP", "0.01")
    lat.set("a", "b")
    assert lat.execute_command("LATENCY", "LATEST") == []


def _flat(reply):
    """redis-py may turn the RESP2 flat map into a dict."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def test_histogram(r):
    before = _flat(r.execute_command("LATENCY", "HISTOGRAM", "set"))
    n = _flat(before[b"set"])[b"calls"] if before else 0
    r.set("a", "b")
    r.set("c", "d")
    h = _flat(r.execute_command("LATENCY", "HISTOGRAM", "set", "blabla"))
    assert list(h) == [b"set"]
    body = _flat(h[b"set"])
    assert body[b"calls"] == n + 2
    assert sum(_flat(body[b"histogram_usec"]).values()) >= n + 2
    assert not r.execute_command("LATENCY", "HISTOGRAM", "blabla")


def test_latency_help_arity(r):
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'latency|help'"):
        r.execute_command("LATENCY", "HELP", "xxx")


def test_time(r):
    s, us = r.execute_command("TIME")
    assert abs(int(s) - time.time()) < 5 and 0 <= int(us) < 1_000_000


def test_lolwut(r):
    assert b"Redis ver. 7.0.15" in r.execute_command("LOLWUT")
    art = r.execute_command("LOLWUT", "VERSION", "5", "20", "5")
    assert b"Redis ver." in art and len(art.splitlines()) >= 5
