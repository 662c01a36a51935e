"""TLS (bocho/tls.py): a second listener on tls-port with certificates made here by the
openssl CLI (a CA, a server cert, a client cert, and a second server cert for the
CONFIG SET swap), reached with redis-py (ssl=True) and redis-cli --tls; error texts and
behaviour compared with redis-server where it is built with TLS."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess

import pytest
import redis
from raw import script_busy

from bocho.testing.server import ServerProcess, free_port, no_retry, wait_until

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed")

UPDATE_ERR = "Unable to update TLS configuration. Check server logs."


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls-certs"))
    _openssl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "2", "-subj", "/CN=bocho-test-ca", cwd=d)
    for name in ("server", "server2", "client"):
        _openssl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", cwd=d)
    # the server key again, encrypted, for tls-key-file-pass
    _openssl("pkey", "-in", "server.key", "-out", "server-enc.key", "-aes256",
             "-passout", "pass:sekret", cwd=d)
    return {n: os.path.join(d, n) for n in os.listdir(d)} | {"dir": d}


def tls_config(certs, port: int, **extra) -> dict:
    cfg = {"tls-port": port, "tls-cert-file": certs["server.crt"],
           "tls-key-file": certs["server.key"], "tls-ca-cert-file": certs["ca.crt"]}
    cfg.update(extra)
    return cfg


@pytest.fixture(scope="module")
def tls_server(certs):
    port = free_port()
    srv = ServerProcess(config=tls_config(certs, port))
    srv.start()
    srv.tls_port = port
    yield srv
    srv.cleanup()


def tls_client(certs, port: int, cert: bool = True, **kw) -> redis.Redis:
    args = {"host": "127.0.0.1", "port": port, "ssl": True, "ssl_ca_certs": certs["ca.crt"],
            "ssl_check_hostname": False, "socket_timeout": 10}
    if cert:
        args.update(ssl_certfile=certs["client.crt"], ssl_keyfile=certs["client.key"])
    args.update(kw)
    return redis.Redis(**args)


def peer_cn(certs, port: int, cert: bool = True, **ctx_opts) -> str:
    """The CN of the certificate the server presents on `port`."""
    ctx = ssl.create_default_context(cafile=certs["ca.crt"])
    ctx.check_hostname = False
    for k, v in ctx_opts.items():
        setattr(ctx, k, v)
    if cert:
        ctx.load_cert_chain(certs["client.crt"], certs["client.key"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s) as ts:
            subject = dict(x[0] for x in ts.getpeercert()["subject"])
            return subject["commonName"]


def refused(certs, port: int, cert: bool) -> bool:
    c = tls_client(certs, port, cert=cert, retry=no_retry())
    try:
        c.ping()
        return False
    except (redis.ConnectionError, ssl.SSLError, OSError):
        return True
    finally:
        c.close()


def test_commands_over_tls(certs, tls_server):
    c = tls_client(certs, tls_server.tls_port)
    assert c.set("k", "v")
    assert c.get("k") == b"v"
    # the same dataset as the plain port
    assert tls_server.client().get("k") == b"v"
    c3 = tls_client(certs, tls_server.tls_port, protocol=3)
    assert c3.execute_command("HELLO", "3")[b"proto"] == 3
    assert c3.incr("n") == 1
    big = b"x" * 300_000  # several TLS records both ways
    assert c3.set("big", big) and c3.get("big") == big
    pipe = c.pipeline(transaction=False)
    for _ in range(500):
        pipe.incr("cnt")
    assert pipe.execute()[-1] == 500
    line = [x for x in c.client_list() if x["id"] == str(c.client_id())][0]
    assert line["laddr"].endswith(f":{tls_server.tls_port}")
    c.close()
    c3.close()


def test_client_cert_required_by_default(certs, tls_server):
    assert refused(certs, tls_server.tls_port, cert=False)
    assert not refused(certs, tls_server.tls_port, cert=True)


def test_plain_text_on_tls_port_is_closed(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert b"PONG" not in data
    # the server is fine afterwards
    assert tls_server.client().ping()


def test_redis_cli_tls(certs, tls_server):
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli not installed")
    base = [cli, "-p", str(tls_server.tls_port), "--tls", "--cacert", certs["ca.crt"]]
    out = subprocess.run(base + ["--cert", certs["client.crt"], "--key", certs["client.key"],
                                 "ping"], capture_output=True, text=True, timeout=20)
    assert out.stdout.strip() == "PONG"
    out = subprocess.run(base + ["ping"], capture_output=True, text=True, timeout=20)
    assert "PONG" not in out.stdout


def test_auth_clients_no_and_optional(certs, tls_server):
    r = tls_server.client()
    port = tls_server.tls_port
    try:
        assert r.config_set("tls-auth-clients", "no")
        assert not refused(certs, port, cert=False)
        assert r.config_set("tls-auth-clients", "optional")
        assert not refused(certs, port, cert=False)
        assert not refused(certs, port, cert=True)
        assert r.config_get("tls-auth-clients") == {"tls-auth-clients": "optional"}
    finally:
        r.config_set("tls-auth-clients", "yes")
    assert refused(certs, port, cert=False)


def test_config_set_bad_files_keep_old_context(certs, tls_server):
    r = tls_server.client()
    port = tls_server.tls_port
    for name, value in (("tls-cert-file", "/nonexistent/cert.pem"),
                        ("tls-key-file", certs["client.key"]),  # does not match the cert
                        ("tls-ca-cert-file", "/nonexistent/ca.pem"),
                        ("tls-protocols", "TLSv1.2 SSLv3"),
                        ("tls-ciphers", "NO-SUCH-CIPHER"),
                        ("tls-dh-params-file", "/nonexistent/dh.pem")):
        with pytest.raises(redis.ResponseError) as e:
            r.config_set(name, value)
        assert str(e.value) == (f"CONFIG SET failed (possibly related to argument '{name}') - "
                                f"{UPDATE_ERR}")
    assert r.config_get("tls-cert-file")["tls-cert-file"] == certs["server.crt"]
    assert peer_cn(certs, port) == "server"
    assert "No such file or directory" in tls_server.log()


def test_config_set_cert_swap(certs, tls_server):
    r = tls_server.client()
    port = tls_server.tls_port
    old = tls_client(certs, port)
    assert old.ping()
    try:
        # both at once: a new cert with its own key
        assert r.execute_command("CONFIG", "SET", "tls-cert-file", certs["server2.crt"],
                                 "tls-key-file", certs["server2.key"])
        wait_until(lambda: peer_cn(certs, port) == "server2", msg="new certificate served")
        assert old.ping()  # an established connection goes on
        c = tls_client(certs, port)
        assert c.ping()
        c.close()
    finally:
        _restore(r, certs)
    wait_until(lambda: peer_cn(certs, port) == "server", msg="old certificate back")
    old.close()


def _restore(r, certs) -> None:
    r.execute_command("CONFIG", "SET", "tls-cert-file", certs["server.crt"],
                      "tls-key-file", certs["server.key"])


def test_config_set_tls_port(certs, tls_server):
    r = tls_server.client()
    old_port = tls_server.tls_port
    new_port = free_port()
    try:
        assert r.config_set("tls-port", new_port)
        wait_until(lambda: not refused(certs, new_port, cert=True), msg="new TLS port serves")
        assert refused(certs, old_port, cert=True)
        # a port in use (the plain one) is refused with Redis's text, the old one kept
        with pytest.raises(redis.ResponseError) as e:
            r.config_set("tls-port", tls_server.port)
        assert "Unable to listen on this port. Check server logs." in str(e.value)
        assert r.config_get("tls-port") == {"tls-port": str(new_port)}
        assert not refused(certs, new_port, cert=True)
        assert r.config_set("tls-port", 0)
        wait_until(lambda: refused(certs, new_port, cert=True), msg="TLS port closed")
    finally:
        r.config_set("tls-port", old_port)
    wait_until(lambda: not refused(certs, old_port, cert=True), msg="TLS port back")


def test_protocols(certs, tls_server):
    r = tls_server.client()
    port = tls_server.tls_port
    try:
        assert r.config_set("tls-protocols", "TLSv1.2")
        c = tls_client(certs, port)
        wait_until(lambda: c.ping(), msg="TLSv1.2 only")
        with pytest.raises(ssl.SSLError):
            peer_cn(certs, port, minimum_version=ssl.TLSVersion.TLSv1_3)
        assert peer_cn(certs, port, maximum_version=ssl.TLSVersion.TLSv1_2) == "server"
        assert r.config_set("tls-protocols", "tlsv1.3")
        wait_until(lambda: _fails(lambda: peer_cn(
            certs, port, maximum_version=ssl.TLSVersion.TLSv1_2)), msg="TLSv1.2 refused")
        assert peer_cn(certs, port) == "server"
        c.close()
    finally:
        r.config_set("tls-protocols", "")


def _fails(fn) -> bool:
    try:
        fn()
        return False
    except (ssl.SSLError, OSError):
        return True


def test_key_file_pass(certs, tls_server):
    r = tls_server.client()
    port = tls_server.tls_port
    try:
        with pytest.raises(redis.ResponseError):
            r.config_set("tls-key-file", certs["server-enc.key"])  # no password yet
        assert r.config_set("tls-key-file-pass", "sekret")
        assert r.config_set("tls-key-file", certs["server-enc.key"])
        assert not refused(certs, port, cert=True)
    finally:
        r.execute_command("CONFIG", "SET", "tls-key-file", certs["server.key"],
                          "tls-key-file-pass", "")


def test_tls_only_server(certs, make_server):
    """port 0: no plain listener, TLS only; INFO tcp_port shows tls-port."""
    port = free_port()
    srv = make_server(config=tls_config(certs, port) | {"port": 0}, wait_ready=False).start()
    assert srv.wait_for_log("Ready to accept connections", timeout=20), srv.log()
    c = tls_client(certs, port)
    wait_until(lambda: c.ping(), msg="TLS-only server answers")
    assert c.info("server")["tcp_port"] == port
    c.close()


def test_startup_without_cert_fails(certs, make_server):
    srv = make_server(config={"tls-port": free_port(), "port": 0}, wait_ready=False).start()
    assert srv.wait_exit(20) == 1
    log = srv.log()
    assert "No tls-cert-file configured!" in log
    assert "Failed to configure TLS. Check logs for more info." in log


def test_ca_needed_when_auth_clients(certs, make_server):
    srv = make_server(config={"tls-port": free_port(), "tls-cert-file": certs["server.crt"],
                              "tls-key-file": certs["server.key"]}, wait_ready=False).start()
    assert srv.wait_exit(20) == 1
    assert "Either tls-ca-cert-file or tls-ca-cert-dir must be specified" in srv.log()


def test_config_set_tls_port_on_plain_server(certs, make_server):
    """TLS turned on at run time: tls-port without files fails; with them it listens."""
    srv = make_server()
    r = srv.client()
    port = free_port()
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("tls-port", port)
    assert UPDATE_ERR in str(e.value)
    assert r.config_get("tls-port") == {"tls-port": "0"}
    r.execute_command("CONFIG", "SET", "tls-cert-file", certs["server.crt"],
                      "tls-key-file", certs["server.key"], "tls-ca-cert-dir", certs["dir"],
                      "tls-ca-cert-file", certs["ca.crt"])
    assert r.config_set("tls-port", port)
    c = tls_client(certs, port)
    wait_until(lambda: c.ping(), msg="TLS port opened at run time")
    c.close()


def test_same_errors_as_redis(certs, tls_server):
    """redis-server (when built with TLS) answers the same texts."""
    path = shutil.which("redis-server")
    if path is None:
        pytest.skip("redis-server not installed")
    port = free_port()
    oracle = ServerProcess(binary=path, config=tls_config(certs, port))
    try:
        oracle.start()
    except Exception:
        oracle.cleanup()
        pytest.skip("redis-server without TLS")
    try:
        assert not refused(certs, port, cert=True)
        ro = redis.Redis(port=oracle.port)
        rb = tls_server.client()
        for args in (("tls-cert-file", "/nonexistent"), ("tls-protocols", "TLSv9"),
                     ("tls-port", str(tls_server.port)), ("tls-auth-clients", "maybe")):
            errs = []
            for cl in (rb, ro):
                with pytest.raises(redis.ResponseError) as e:
                    cl.config_set(*args)
                errs.append(str(e.value))
            assert errs[0] == errs[1], args
        names = sorted(ro.config_get("tls-*"))
        assert sorted(rb.config_get("tls-*")) == names
        ro.close()
        rb.close()
    finally:
        oracle.cleanup()


def test_ciphersuites_and_ciphers(certs, tls_server):
    r = tls_server.client()
    port = tls_server.tls_port

    def cipher(**opts) -> str:
        ctx = ssl.create_default_context(cafile=certs["ca.crt"])
        ctx.check_hostname = False
        ctx.load_cert_chain(certs["client.crt"], certs["client.key"])
        for k, v in opts.items():
            setattr(ctx, k, v)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s) as ts:
                return ts.cipher()[0]
    try:
        assert r.config_set("tls-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256")
        wait_until(lambda: cipher() == "TLS_CHACHA20_POLY1305_SHA256", msg="TLS 1.3 suite")
        with pytest.raises(redis.ResponseError) as e:
            r.config_set("tls-ciphersuites", "NO_SUCH_SUITE")
        assert UPDATE_ERR in str(e.value)
        assert r.config_set("tls-ciphers", "ECDHE-RSA-AES128-GCM-SHA256")
        assert r.config_set("tls-prefer-server-ciphers", "yes")
        wait_until(lambda: cipher(maximum_version=ssl.TLSVersion.TLSv1_2)
                   == "ECDHE-RSA-AES128-GCM-SHA256", msg="TLS 1.2 cipher")
    finally:
        r.execute_command("CONFIG", "SET", "tls-ciphersuites", "", "tls-ciphers", "",
                          "tls-prefer-server-ciphers", "no")


def test_session_cache_directives(certs, tls_server):
    r = tls_server.client()
    try:
        r.execute_command("CONFIG", "SET", "tls-session-caching", "no",
                          "tls-session-cache-size", "100", "tls-session-cache-timeout", "60")
        assert not refused(certs, tls_server.tls_port, cert=True)
        got = r.config_get("tls-session-*")
        assert got == {"tls-session-caching": "no", "tls-session-cache-size": "100",
                       "tls-session-cache-timeout": "60"}
    finally:
        r.execute_command("CONFIG", "SET", "tls-session-caching", "yes",
                          "tls-session-cache-size", "20480", "tls-session-cache-timeout", "300")


def test_tls_client_survives_busy_script(certs, tls_server):
    """While a script is busy the plain connections are served (BUSY, SCRIPT KILL); a TLS
    connection waits (its records are read by its transport only) and goes on after."""
    import threading
    r = tls_server.client()
    r.config_set("busy-reply-threshold", 50)
    t_cli = tls_client(certs, tls_server.tls_port)
    assert t_cli.set("tk", "1")
    runner = tls_server.client()
    res = {}

    def go():
        try:
            runner.eval("while true do end", 0)
        except redis.ResponseError as e:
            res["err"] = str(e)
    t = threading.Thread(target=go)
    t.start()
    try:
        wait_until(lambda: script_busy(r), 5, msg="script busy")
        got = {}
        t2 = threading.Thread(target=lambda: got.update(v=t_cli.incr("tk")))
        t2.start()
        assert r.execute_command("SCRIPT", "KILL") in (b"OK", "OK", True)
        t.join(10)
        t2.join(10)
        assert got.get("v") == 2
        assert t_cli.get("tk") == b"2"
    finally:
        r.config_set("busy-reply-threshold", 5000)
        t_cli.close()


def test_two_reloads_in_one_event(certs, tls_server):
    """Two context changes in one MULTI: the listeners end up with the last one (not the
    first, whose listener task was still pending when the second came)."""
    r = tls_server.client()
    port = tls_server.tls_port
    try:
        p = r.pipeline(transaction=True)
        p.execute_command("CONFIG", "SET", "tls-cert-file", certs["server2.crt"],
                          "tls-key-file", certs["server2.key"])
        p.execute_command("CONFIG", "SET", "tls-cert-file", certs["server.crt"],
                          "tls-key-file", certs["server.key"])
        p.execute()
        assert r.ping()  # the listener tasks scheduled by the MULTI have run
        for _ in range(5):
            assert peer_cn(certs, port) == "server"
        p = r.pipeline(transaction=True)
        p.execute_command("CONFIG", "SET", "tls-ciphers", "ECDHE-RSA-AES128-GCM-SHA256")
        p.execute_command("CONFIG", "SET", "tls-cert-file", certs["server2.crt"],
                          "tls-key-file", certs["server2.key"])
        p.execute()
        assert r.ping()
        for _ in range(5):
            assert peer_cn(certs, port) == "server2"
    finally:
        r.config_set("tls-ciphers", "")
        _restore(r, certs)
    wait_until(lambda: peer_cn(certs, port) == "server", msg="old certificate back")


def test_config_set_bind_moves_tls_listener(certs, tls_server):
    r = tls_server.client()
    port = tls_server.tls_port
    try:
        assert r.config_set("bind", "127.0.0.1 -::1")
        wait_until(lambda: not refused(certs, port, cert=True), msg="TLS after bind change")
    finally:
        r.config_set("bind", "127.0.0.1")
    wait_until(lambda: not refused(certs, port, cert=True), msg="TLS after bind back")
    assert r.ping()


def test_pubsub_blocking_and_pause_over_tls(certs, tls_server):
    import threading
    port = tls_server.tls_port
    r = tls_server.client()
    sub = tls_client(certs, port).pubsub()
    sub.subscribe("ch")
    wait_until(lambda: r.pubsub_numsub("ch")[0][1] == 1, msg="TLS subscriber")
    assert r.publish("ch", "hello") == 1
    msgs = []
    wait_until(lambda: (m := sub.get_message(timeout=0.1)) is not None
               and m["type"] == "message" and msgs.append(m) is None, msg="message over TLS")
    assert msgs[0]["data"] == b"hello"
    sub.close()

    b = tls_client(certs, port)
    got = {}
    t = threading.Thread(target=lambda: got.update(v=b.blpop("tlsq", 10)))
    t.start()
    wait_until(lambda: r.info("clients")["blocked_clients"] == 1, msg="TLS client blocked")
    r.rpush("tlsq", "x")
    t.join(10)
    assert got["v"] == (b"tlsq", b"x")

    r.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
    t = threading.Thread(target=lambda: got.update(s=b.set("paused", "1")))
    t.start()
    try:
        wait_until(lambda: r.info("clients")["blocked_clients"] == 1, msg="TLS write paused")
        assert r.get("paused") is None
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
    t.join(10)
    assert got["s"] and r.get("paused") == b"1"
    b.close()


def test_switch_between_tcp_and_tls_ports(certs, make_server):
    """As the TCL unit/tls test: one port moves from TLS to plain TCP and back, driven
    over the connection that is being moved."""
    port = free_port()
    srv = make_server(config=tls_config(certs, port) | {"port": 0}, wait_ready=False).start()
    assert srv.wait_for_log("Ready to accept connections", timeout=20), srv.log()
    c = tls_client(certs, port)
    wait_until(lambda: c.ping(), msg="TLS")
    assert c.config_set("tls-port", 0)
    assert c.config_set("port", port)
    c.close()
    plain = redis.Redis(port=port, socket_timeout=10)
    wait_until(lambda: plain.ping(), msg="plain TCP on the same port")
    assert plain.config_set("port", 0)
    assert plain.config_set("tls-port", port)
    plain.close()
    c = tls_client(certs, port)
    wait_until(lambda: c.ping(), msg="TLS again")
    c.close()


def test_maxclients_drops_tls_connection(certs, make_server):
    port = free_port()
    srv = make_server(config=tls_config(certs, port) | {"maxclients": 1})
    r = srv.client()
    assert r.ping()  # the one client allowed
    c = tls_client(certs, port, retry=no_retry())
    with pytest.raises((redis.ConnectionError, OSError)):
        c.ping()
    c.close()
    assert r.info("stats")["rejected_connections"] >= 1
    r.close()
    c = tls_client(certs, port)
    wait_until(lambda: _ping_ok(c), msg="TLS client once a slot is free")
    c.close()


def _ping_ok(c) -> bool:
    try:
        return c.ping()
    except (redis.ConnectionError, OSError):
        return False
