"""INFO: sections, fields and statistics, compared with a real redis-server's INFO."""

import re

import pytest
import redis

DEFAULT = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU",
           "Modules", "Errorstats", "Cluster", "Keyspace"]
ALL = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU",
       "Modules", "Commandstats", "Errorstats", "Latencystats", "Cluster", "Keyspace"]


def titles(text: str) -> list[str]:
    return re.findall(r"^# (\w+)\r$", text, re.M)


def fields(text: str) -> list[str]:
    return [ln.split(":", 1)[0] for ln in text.split("\r\n") if ln and not ln.startswith("#")]


@pytest.fixture
def raw(server):
    c = server.client()
    yield lambda *a: c.execute_command(b"info", *a).decode()
    c.close()


def test_sections_default_all_everything(raw):
    assert titles(raw()) == DEFAULT
    assert titles(raw("default")) == DEFAULT
    assert titles(raw("all")) == ALL
    assert titles(raw("everything")) == ALL
    assert titles(raw("cpu", "SERVER")) == ["Server", "CPU"]
    assert titles(raw("commandstats", "default")) == DEFAULT[:8] + ["Commandstats"] + DEFAULT[8:]
    assert raw("nosuchsection") == ""


def test_format_and_lines(raw):
    text = raw()
    assert text.endswith("\r\n")
    assert "\r\n\r\n# Clients\r\n" in text
    for ln in text.split("\r\n"):
        assert ln == "" or ln.startswith("# ") or re.match(r"^[a-zA-Z_0-9|.]+:", ln), ln


@pytest.mark.parametrize("section", ["server", "clients", "memory", "persistence", "stats",
                                     "replication", "cpu", "cluster"])
def test_same_fields_as_redis(raw, oracle, section):
    real = oracle.client().execute_command(b"info", section).decode()
    ours = fields(raw(section))
    expected = fields(real)
    if section == "server":
        ours.remove("bocho_version")
        ours.remove("bocho_fastpath")
    assert ours == expected


def test_server_fields(server, r):
    info = r.info("server")
    assert info["redis_version"] == "7.0.15"
    assert "bocho_version" in info
    assert info["process_id"] == server.pid
    assert info["tcp_port"] == server.port
    assert re.fullmatch(r"[0-9a-f]{40}", info["run_id"])
    assert info["redis_mode"] == "standalone"
    assert info["uptime_in_seconds"] >= 0
    assert info["executable"]
    assert info["config_file"] == ""
    assert info["configured_hz"] == 10


def test_resp3_verbatim(r3):
    text = r3.execute_command("INFO", "server")
    if isinstance(text, dict):  # redis-py parses INFO whatever the protocol
        assert text["redis_version"] == "7.0.15"
    else:
        assert b"redis_version:7.0.15" in text


def test_clients_and_keyspace(server, r):
    r.set("a", 1)
    r.set("b", 2, ex=100)
    other = server.client(db=3)
    other.set("x", 1)
    info = r.info()
    assert info["connected_clients"] >= 2
    assert info["db0"]["keys"] == 2 and info["db0"]["expires"] == 1
    assert info["db3"] == {"keys": 1, "expires": 0, "avg_ttl": 0}
    other.flushdb()
    other.close()


def test_commandstats(r):
    r.config_resetstat()
    r.set("k", "v")
    r.get("k")
    r.get("k")
    r.config_get("maxmemory")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")  # arity: rejected
    with pytest.raises(redis.ResponseError):
        r.execute_command("INCR", "k")  # fails inside the command
    stats = r.info("commandstats")
    assert stats["cmdstat_get"]["calls"] == 2
    assert stats["cmdstat_get"]["rejected_calls"] == 1
    assert stats["cmdstat_incr"]["failed_calls"] == 1
    assert stats["cmdstat_config|get"]["calls"] == 1
    g = stats["cmdstat_get"]
    assert g["usec"] >= 0 and g["usec_per_call"] == pytest.approx(g["usec"] / g["calls"], abs=0.01)
    assert g["usec"] < 2_000_000  # microseconds, not nanoseconds


def test_errorstats(r):
    r.config_resetstat()
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCH")
    with pytest.raises(redis.ResponseError):
        r.execute_command("HELLO", "4")
    info = r.info("errorstats")
    assert info["errorstat_ERR"] == {"count": 1}
    assert info["errorstat_NOPROTO"] == {"count": 1}
    assert r.info("stats")["total_error_replies"] == 2


def test_latencystats(r):
    r.config_resetstat()
    r.ping()
    text = r.execute_command(b"info", "latencystats").decode()
    assert re.search(r"latency_percentiles_usec_ping:p50=[\d.]+,p99=[\d.]+,p99\.9=[\d.]+", text)
    r.config_set("latency-tracking-info-percentiles", "0 50 100")
    text = r.execute_command(b"info", "latencystats").decode()
    assert re.search(r"latency_percentiles_usec_ping:p0=[\d.]+,p50=[\d.]+,p100=[\d.]+", text)
    r.config_set("latency-tracking", "no")
    text = r.execute_command(b"info", "latencystats").decode()
    assert text == "# Latencystats\r\n"
    r.config_set("latency-tracking", "yes")
    r.config_set("latency-tracking-info-percentiles", "50 99 99.9")


def test_stats_counters(r):
    r.config_resetstat()
    r.set("k", "v")
    r.get("k")
    r.get("nokey")
    info = r.info("stats")
    assert info["keyspace_hits"] == 1
    assert info["keyspace_misses"] == 1
    assert info["total_commands_processed"] >= 3
    assert info["total_net_input_bytes"] > 0
    assert info["total_net_output_bytes"] > 0


def test_memory_and_persistence(r):
    info = r.info("memory")
    assert info["used_memory"] > 0
    assert info["maxmemory_policy"] == "noeviction"
    p = r.info("persistence")
    assert p["loading"] == 0 and p["aof_enabled"] == 0
    r.set("x", 1)
    assert r.info("persistence")["rdb_changes_since_last_save"] >= 1


def test_replication_and_cluster(r):
    info = r.info("replication")
    assert info["role"] == "master"
    assert info["connected_slaves"] == 0
    assert r.info("cluster") == {"cluster_enabled": 0}


def test_instantaneous_kbps(r):
    from bocho.testing.server import wait_until
    payload = "x" * 20000

    def busy():
        for _ in range(20):
            r.set("big", payload)
        return r.info("stats")["instantaneous_input_kbps"] > 0
    assert wait_until(busy, timeout=10, msg="input kbps")
