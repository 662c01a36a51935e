"""The one way to start a test server: a free loopback port, a private temp dir, config
overrides, readiness by PING with a deadline, stop by PID, and the log at hand for
failure messages. Works for bocho-server and, as an oracle, for Debian's redis-server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def no_retry() -> Any:
    """redis-py's retry policy for a call expected to fail with a ConnectionError (an
    AuthenticationError is one): no retry, where the default waits and tries again."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    return Retry(NoBackoff(), 0)


def bocho_command() -> list[str]:
    return [sys.executable, "-m", "bocho"]


class ServerProcess:
    """A server process on 127.0.0.1:<free port> in its own temp dir.

    `config` maps directive -> value (str, or list of str for several arguments) and is
    passed as `--directive value ...`; `conf_file` text, if given, is written to
    redis.conf in the dir and passed first, as redis-server takes it."""

    def __init__(self, config: dict[str, Any] | None = None, binary: list[str] | str | None = None,
                 conf_file: str | None = None, host: str = "127.0.0.1",
                 port: int | None = None, dir: str | None = None, wait_ready: bool = True) -> None:
        if binary is None:
            self.command = bocho_command()
        elif isinstance(binary, str):
            self.command = [binary]
        else:
            self.command = list(binary)
        self.config = dict(config or {})
        self.conf_file = conf_file
        self.host = host
        self.port = port
        self.own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="bocho-test-")
        self.wait_ready = wait_ready
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.dir, "stdout.log")
        self.returncode: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def argv(self) -> list[str]:
        args = list(self.command)
        if self.conf_file is not None:
            path = os.path.join(self.dir, "redis.conf")
            with open(path, "w") as f:
                f.write(self.conf_file)
            args.append(path)
        cfg = {"port": str(self.port), "bind": self.host, "dir": self.dir, "save": "",
               "appendonly": "no", "enable-debug-command": "yes",
               "enable-protected-configs": "yes"}
        cfg.update(self.config)
        for k, v in cfg.items():
            args.append(f"--{k}")
            if isinstance(v, (list, tuple)):
                args.extend(str(x) for x in v)
            else:
                args.append(str(v))
        return args

    def start(self) -> ServerProcess:
        for _ in range(5):
            if self.port is None or self.proc is not None:
                self.port = free_port(self.host)
            self.proc = None
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.dir, start_new_session=True)
            log.close()
            if not self.wait_ready:
                return self
            if self._wait_ready():
                return self
            if self.proc.poll() is None:
                self.stop()
                raise RuntimeError(f"server did not answer PING in {READY_TIMEOUT}s:\n{self.log()}")
            if "already in use" not in self.log() and "Failed listening" not in self.log():
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
        raise RuntimeError(f"no free port after retries:\n{self.log()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if self._answers_as_ours(s):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def _answers_as_ours(self, s: socket.socket) -> bool:
        """Whether the server on our port is up and is our process. Another test's server
        can hold the port we picked (free_port is only a guess) while ours fails to bind
        and exits: INFO's process_id tells them apart. A server asking for a password
        cannot be asked, nor (Sentinel aside) one still loading: taken as ours."""
        s.sendall(b"INFO server\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return False
            data += chunk
            if data.startswith((b"-NOAUTH", b"-LOADING")):
                return True
            if not data.startswith(b"$"):
                return False
            nl = data.find(b"\r\n")
            if nl > 0 and len(data) >= nl + 2 + int(data[1:nl]) + 2:
                break
        m = re.search(rb"\r\nprocess_id:(\d+)\r\n", data)
        return m is not None and self.proc is not None and int(m.group(1)) == self.proc.pid

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Wait for the process to exit on its own; its exit code, or None on timeout."""
        if self.proc is None:
            return self.returncode
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop by PID: the signal, then SIGKILL after STOP_TIMEOUT."""
        proc = self.proc
        if proc is None:
            return self.returncode
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT)
        self.returncode = proc.returncode
        return self.returncode

    def cleanup(self) -> None:
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    # -- talking to it -------------------------------------------------------------------

    def client(self, **kw: Any):
        """A redis-py client (retry=no_retry() for one whose expected ConnectionError or
        AuthenticationError must not be retried with back-off: 4 s each)."""
        import redis
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host=self.host, port=self.port, **kw)

    def cli(self, *args: str, input: str | None = None, timeout: float = 10) -> subprocess.CompletedProcess:
        """Run redis-cli against this server."""
        return subprocess.run(["redis-cli", "-h", self.host, "-p", str(self.port), *args],
                              input=input, capture_output=True, text=True, timeout=timeout)

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_for_log(self, needle: str, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return True
            time.sleep(0.02)
        return False


def wait_until(cond, timeout: float = 10, interval: float = 0.02, msg: str = "condition"):
    """Poll cond() until truthy; its value, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {msg}")
        time.sleep(interval)
