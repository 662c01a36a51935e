"""bocho-server's command line and config file, as redis-server: fatal errors (text and exit
code compared with the real binary), option syntax, config files that must load."""

import os
import re
import signal
import subprocess
import sys

import pytest
import redis
from conftest import redis_server_binary

from bocho.testing.server import bocho_command, free_port, wait_until

SUITE_ASSETS = "/work/suite/tests/assets"


def run(cmd: list[str], cwd: str, stdin: str = "") -> tuple[int, str]:
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30, cwd=cwd)
    return p.returncode, p.stdout + p.stderr


def _strip_log_prefix(text: str) -> str:
    # "<pid>:C <date> # message" -> "# message"
    return re.sub(r"^\d+:[CM] \d+ \w+ \d+ [\d:.]+ ", "", text, flags=re.M)


def _strip_ours(text: str) -> str:
    """Our FATAL block adds where the line came from: '(... :N)' after 'at line N'."""
    return re.sub(r"(at line \d+) \([^)]*\)$", r"\1", text, flags=re.M)


BAD = [
    ["--port"],
    ["--loglevel", "--bla"],
    ["--save", "900"],
    ["--client-output-buffer-limit", "foo", "1", "2", "3"],
    ["--client-output-buffer-limit", "normal", "1", "2"],
    ["--maxmemory", "10x"],
    ["--hz", "abc"],
    ["--hz", "-5"],
    ["--databases", "0"],
    ["--foo", "bar"],
    ["--dir", "/nonexistent-dir-for-test"],
    ["--cluster-enabled", "yes", "--replicaof", "1.2.3.4", "5"],
    ["--rename-command", "foo", "bar"],
    ["--unixsocketperm", "999"],
    ["--maxclients", "-1"],
    ["--maxmemory-clients", "200%"],
    ["--oom-score-adj-values", "1", "2"],
    ["--latency-tracking-info-percentiles", "101"],
    ["--notify-keyspace-events", "Q"],
    ["--shutdown-on-sigint", "save", "nosave"],
    ["--shutdown-on-sigterm"],
    ["--replicaof", "a", "b"],
    ["--port", "1", "2"],
    ["--appendonly", "maybe"],
    ["--appendfilename", "a/b"],
    ["--proc-title-template", "{bad}"],
    ["--logfile", "/nonexistent-dir-for-test/x.log"],
    ["--port 7000 8000"],
    ["--save", "900", "1", "--save", "300", "x"],
    ["--bind"] + [str(i) for i in range(17)],
    ["/nonexistent-config-for-test.conf"],
]


@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a)[:40])
def test_fatal_errors_match_redis(tmp_path, args):
    real_bin = redis_server_binary()
    rc_real, real = run([real_bin, *args], str(tmp_path))
    rc_ours, ours = run([*bocho_command(), *args], str(tmp_path))
    assert rc_real == 1
    assert rc_ours == 1
    assert _strip_ours(_strip_log_prefix(ours)) == _strip_log_prefix(real)


def test_fatal_error_in_file_names_the_file(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port 7000\nappendonly maybe\n")
    rc, out = run([*bocho_command(), str(conf), "--port", "1"], str(tmp_path))
    assert rc == 1
    assert f"at line 2 ({conf}:2)" in out
    assert ">>> 'appendonly maybe'" in out
    assert "argument must be 'yes' or 'no'" in out


def test_version_and_help(tmp_path):
    rc, out = run([*bocho_command(), "-v"], str(tmp_path))
    assert rc == 0 and out.startswith("Redis server v=7.0.15 ")
    rc, out = run([*bocho_command(), "--help"], str(tmp_path))
    assert rc == 1 and "Usage:" in out


def _get(srv, name):
    return srv.client().config_get(name)[name]


def test_save_forms(make_server):
    assert _get(make_server(config={"save": ""}), "save") == ""
    srv = make_server(config={"save": ["900", "1"]}, conf_file="save 60 5\n")
    assert _get(srv, "save") == "60 5 900 1"  # as redis-server: the first line resets


def test_save_lines_accumulate(make_server, tmp_path):
    port = free_port()
    p = subprocess.Popen([*bocho_command(), "--port", str(port), "--save", "900", "1", "--save",
                          "300", "10", "--dir", str(tmp_path)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = redis.Redis(port=port, socket_timeout=5)
        wait_until(lambda: _ping(c), msg="server up")
        assert c.config_get("save")["save"] == "900 1 300 10"
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def _ping(c) -> bool:
    try:
        return c.ping()
    except redis.ConnectionError:
        return False


def test_file_then_argv_override_and_multi_arg_string(make_server):
    srv = make_server(conf_file="maxmemory 1mb\nhz 20\nloglevel verbose\n",
                      config={"hz": "30", "client-output-buffer-limit": "pubsub 1mb 2mb 3"})
    c = srv.client()
    assert c.config_get("maxmemory")["maxmemory"] == "1048576"
    assert c.config_get("hz")["hz"] == "30"
    assert c.config_get("loglevel")["loglevel"] == "verbose"
    assert c.config_get("client-output-buffer-limit")["client-output-buffer-limit"].endswith(
        "pubsub 1048576 2097152 3")
    assert c.info("server")["config_file"] == os.path.join(srv.dir, "redis.conf")


def test_option_value_with_dashes_and_one_arg_form(make_server):
    srv = make_server(config={"proc-title-template": "--my--title {port}"})
    assert _get(srv, "proc-title-template") == "--my--title {port}"


def test_config_from_stdin(tmp_path):
    port = free_port()
    p = subprocess.Popen([*bocho_command(), "-", "--dir", str(tmp_path)],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        p.stdin.write(f"port {port}\nmaxmemory 2mb\n")
        p.stdin.close()
        c = redis.Redis(port=port, socket_timeout=5)
        wait_until(lambda: _ping(c), msg="server up")
        assert c.config_get("maxmemory")["maxmemory"] == str(2 * 1024 * 1024)
        with pytest.raises(redis.ResponseError, match="without a config file"):
            c.config_rewrite()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def test_include_and_rename_command(make_server, tmp_path):
    inc = tmp_path / "inc.conf"
    inc.write_text("maxmemory 3mb\n")
    srv = make_server(conf_file=f"include {inc}\nrename-command flushdb badger\n")
    c = srv.client()
    assert c.config_get("maxmemory")["maxmemory"] == str(3 * 1024 * 1024)
    with pytest.raises(redis.ResponseError, match="unknown command"):
        c.flushdb()
    assert c.execute_command("BADGER") in (b"OK", "OK", True)


@pytest.mark.parametrize("name", ["default.conf", "minimal.conf"])
def test_suite_configs_start(make_server, name):
    path = os.path.join(SUITE_ASSETS, name)
    if not os.path.exists(path):
        pytest.skip("TCL suite assets not present")
    with open(path) as f:
        text = f.read()
    srv = make_server(conf_file=text, config={"pidfile": "bocho-test.pid"})
    assert srv.client().ping()


def test_debian_redis_conf_starts(make_server, tmp_path):
    path = "/etc/redis/redis.conf"
    if not os.access(path, os.R_OK):
        pytest.skip("no /etc/redis/redis.conf")
    with open(path) as f:
        text = f.read()
    srv = make_server(conf_file=text, config={
        "daemonize": "no", "logfile": "", "pidfile": str(tmp_path / "r.pid"), "bind": "127.0.0.1"})
    c = srv.client()
    assert c.ping()
    assert c.config_get("bind")["bind"] == "127.0.0.1"
    assert c.config_get("proc-title-template")["proc-title-template"] == \
        "{title} {listen-addr} {server-mode}"


def test_daemonize_writes_pidfile(tmp_path):
    port = free_port()
    pidfile = tmp_path / "d.pid"
    rc, _ = run([*bocho_command(), "--port", str(port), "--daemonize", "yes", "--pidfile",
                 str(pidfile), "--dir", str(tmp_path), "--logfile", str(tmp_path / "log")],
                str(tmp_path))
    assert rc == 0
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), msg="pidfile")
    pid = int(pidfile.read_text())
    try:
        c = redis.Redis(port=port, socket_timeout=5)
        wait_until(lambda: _ping(c), msg="daemon up")
        assert c.info("server")["process_id"] == pid
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not _alive(pid), msg="daemon exit")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_dir_and_logfile_relative(make_server, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    srv = make_server(config={"dir": str(d), "logfile": "bocho.log"})
    assert srv.client().config_get("dir")["dir"] == str(d)
    assert wait_until(lambda: (d / "bocho.log").exists(), msg="log in dir")


def test_entry_point_is_console_script():
    exe = os.path.join(os.path.dirname(sys.executable), "bocho-server")
    assert os.path.exists(exe)
