"""The keys' access clock (LRU idle time, LFU counter): CLIENT NO-TOUCH ON stops a
client's reads from updating it (TOUCH excepted), and TTL/PTTL/TYPE/EXISTS/OBJECT never
update it for anyone (Redis looks those keys up with LOOKUP_NOTOUCH)."""

from __future__ import annotations

import pytest

from bocho.testing.server import wait_until


@pytest.fixture
def nt(server):
    """A second client with CLIENT NO-TOUCH ON."""
    c = server.client()
    assert c.execute_command("CLIENT", "NO-TOUCH", "ON") in (b"OK", True)
    yield c
    c.close()


@pytest.fixture
def policy(r):
    def set_policy(name, **extra):
        r.config_set("maxmemory-policy", name)
        for k, v in extra.items():
            r.config_set(k.replace("_", "-"), v)
    yield set_policy
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("lfu-log-factor", 10)
    r.config_set("lfu-decay-time", 1)


def _no_touch_reads(nt):
    nt.get("a")
    nt.mget("a", "b")
    nt.strlen("a")
    nt.getrange("a", 0, 1)
    pipe = nt.pipeline(transaction=True)  # EXEC runs the queued reads: still no touch
    pipe.get("a")
    pipe.execute()


def _never_touching_reads(r):
    r.ttl("a")
    r.pttl("a")
    r.type("a")
    r.exists("a")
    r.object("encoding", "a")
    r.object("refcount", "a")


def test_lru_idle_time_kept_by_no_touch_and_notouch_commands(r, nt, policy):
    policy("allkeys-lru")
    r.set("a", "xy")
    r.set("b", "xy")
    wait_until(lambda: r.object("idletime", "a") >= 1, timeout=3)
    _no_touch_reads(nt)
    _never_touching_reads(r)
    # an idle time only grows unless the key is touched
    assert r.object("idletime", "a") >= 1

    # TOUCH always touches, from a NO-TOUCH client too; so does a normal read. The idle
    # clock has one-second steps: retry until a read lands within the same second.
    def touched(cmd, key):
        def probe():
            cmd(key)
            return r.object("idletime", key) == 0
        return probe

    wait_until(touched(nt.touch, "b"), timeout=3)
    wait_until(lambda: r.object("idletime", "a") >= 1, timeout=3)
    wait_until(touched(r.get, "a"), timeout=3)


def test_lfu_counter_kept_by_no_touch_and_notouch_commands(r, nt, policy):
    # log factor 0: every access increments; decay 0: no decrement with time
    policy("allkeys-lfu", lfu_log_factor=0, lfu_decay_time=0)
    r.set("a", "xy")
    freq = r.object("freq", "a")
    _no_touch_reads(nt)
    _never_touching_reads(r)
    assert r.object("freq", "a") == freq
    nt.touch("a")
    assert r.object("freq", "a") == freq + 1
    r.get("a")
    assert r.object("freq", "a") == freq + 2
    nt.execute_command("CLIENT", "NO-TOUCH", "OFF")
    nt.get("a")
    assert r.object("freq", "a") == freq + 3


def test_reset_clears_no_touch(r, nt, policy):
    policy("allkeys-lfu", lfu_log_factor=0, lfu_decay_time=0)
    r.set("a", "xy")
    freq = r.object("freq", "a")
    nt.execute_command("RESET")
    nt.get("a")
    assert r.object("freq", "a") == freq + 1


def test_no_touch_syntax(r):
    with pytest.raises(Exception, match="syntax error"):
        r.execute_command("CLIENT", "NO-TOUCH", "maybe")
