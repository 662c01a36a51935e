"""TLS with Python's ssl module, as Redis 7.0's tls.c behaves.

One server-side SSLContext (`srv.tls_ctx`) is built from the tls-* directives by
`configure()`; a failure logs Redis's warning and leaves the previous context in place
(CONFIG SET then answers "Unable to update TLS configuration. Check server logs." and
rolls back). The TLS listeners (`srv.tls_servers`, one per `bind` address on tls-port)
are asyncio servers created with ssl=ctx, kept apart from `srv.servers` so the plain TCP
listeners and everything iterating them (CONFIG SET port, busy-script accepts) never see
them: the plain path pays nothing for TLS. A new context takes effect by re-creating the
TLS listeners on duplicates of their listening sockets, so no pending connection is lost
and established connections keep the context they were accepted with.

tls-auth-clients is read per connection in Redis; here it sets the live context's
verify_mode, which every handshake started afterwards uses.

Python's ssl has no API for TLS 1.3 ciphersuites or the server session cache; those go
to OpenSSL directly through ctypes (`_ossl`) when the libssl symbols can be found, and
are otherwise accepted and not enforced."""

from __future__ import annotations

import asyncio
import ctypes
import socket
import ssl
import sys
from typing import TYPE_CHECKING, Any

from bocho import log
from bocho.listen import bind_listener
from bocho.network import Client

if TYPE_CHECKING:
    from bocho.server import Server

UPDATE_ERR = "Unable to update TLS configuration. Check server logs."
LISTEN_ERR = "Unable to listen on this port. Check server logs."

_PROTOCOLS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}
_VERIFY = {0: ssl.CERT_NONE, 1: ssl.CERT_REQUIRED, 2: ssl.CERT_OPTIONAL}  # tls-auth-clients


class TlsError(Exception):
    """A TLS setup that cannot be used; the message is what Redis logs."""


class TlsClient(Client):
    """A connection accepted on the TLS port (asyncio calls connection_made once the
    handshake is done). Only its class differs: code that touches the raw socket (the
    busy-script reader) skips clients whose `tls` is true."""

    __slots__ = ()
    tls = True

    def connection_made(self, transport: Any) -> None:
        srv = self.server
        if len(srv.clients) >= srv.config["maxclients"]:
            # Redis refuses before the handshake, so nothing is written: the connection
            # just drops
            srv.stat_rejected_conn += 1
            self.transport = transport
            self.closing = True
            transport.abort()
            return
        super().connection_made(transport)


# -- OpenSSL calls Python's ssl does not expose -------------------------------------------

class _OpenSSL:
    """SSL_CTX_* functions of the libssl the _ssl module is linked with, reached through
    the SSL_CTX pointer that follows the object header in CPython's SSLContext."""

    def __init__(self) -> None:
        self.ok = False
        try:
            import _ssl
            lib = ctypes.CDLL(_ssl.__file__)
            self.set_ciphersuites = lib.SSL_CTX_set_ciphersuites
            self.set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            self.set_ciphersuites.restype = ctypes.c_int
            self.ctrl = lib.SSL_CTX_ctrl
            self.ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
            self.ctrl.restype = ctypes.c_long
            self.set_timeout = lib.SSL_CTX_set_timeout
            self.set_timeout.argtypes = [ctypes.c_void_p, ctypes.c_long]
            self.set_timeout.restype = ctypes.c_long
            self.set_sid_ctx = lib.SSL_CTX_set_session_id_context
            self.set_sid_ctx.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint]
            self.set_sid_ctx.restype = ctypes.c_int
            self.get_timeout = lib.SSL_CTX_get_timeout
            self.get_timeout.argtypes = [ctypes.c_void_p]
            self.get_timeout.restype = ctypes.c_long
            self.ok = sys.implementation.name == "cpython"
        except (OSError, AttributeError, ImportError):
            self.ok = False

    @staticmethod
    def ctx_ptr(ctx: ssl.SSLContext) -> int:
        return ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value or 0

    def probe(self) -> None:
        """Check the pointer really is an SSL_CTX: a timeout set through it must read
        back (and show in nothing else); otherwise stop using OpenSSL directly."""
        if not self.ok:
            return
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            p = self.ctx_ptr(ctx)
            self.ok = bool(p) and self.set_timeout(p, 4321) >= 0 and self.get_timeout(p) == 4321
        except Exception:
            self.ok = False


_SESS_CACHE_OFF, _SESS_CACHE_SERVER = 0, 2
_CTRL_SET_SESS_CACHE_SIZE, _CTRL_SET_SESS_CACHE_MODE = 42, 44
_ossl: _OpenSSL | None = None


def _openssl() -> _OpenSSL:
    global _ossl
    if _ossl is None:
        _ossl = _OpenSSL()
        _ossl.probe()
    return _ossl


# -- contexts ------------------------------------------------------------------------------

def _protocols(text: str | None) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    if not text:
        return ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    chosen = []
    for tok in text.split(" "):
        v = _PROTOCOLS.get(tok.lower())
        if v is None:
            raise TlsError("Invalid tls-protocols specified. Use a combination of 'TLSv1', "
                           "'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.")
        chosen.append(v)
    # SSLContext takes a range; a set with a gap (TLSv1 TLSv1.2) gets the whole range
    return min(chosen), max(chosen)


def _base_context(cfg: Any, versions: tuple, client: bool) -> ssl.SSLContext:
    cert = cfg["tls-client-cert-file" if client else "tls-cert-file"]
    key = cfg["tls-client-key-file" if client else "tls-key-file"]
    pw = cfg["tls-client-key-file-pass" if client else "tls-key-file-pass"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT if client else ssl.PROTOCOL_TLS_SERVER)
    if client:
        ctx.check_hostname = False
    ctx.minimum_version, ctx.maximum_version = versions
    ctx.options |= ssl.OP_NO_COMPRESSION
    try:
        ctx.load_cert_chain(cert, key, password=pw or (lambda: b""))
    except (OSError, ssl.SSLError) as e:
        raise TlsError(f"Failed to load certificate/private key: {cert} / {key}: "
                       f"{getattr(e, 'strerror', None) or e}") from None
    ca_file, ca_dir = cfg["tls-ca-cert-file"], cfg["tls-ca-cert-dir"]
    if ca_file or ca_dir:
        try:
            ctx.load_verify_locations(cafile=ca_file or None, capath=ca_dir or None)
        except (OSError, ssl.SSLError) as e:
            raise TlsError("Failed to configure CA certificate(s) file/directory: "
                           f"{getattr(e, 'strerror', None) or e}") from None
    if cfg["tls-ciphers"]:
        try:
            ctx.set_ciphers(cfg["tls-ciphers"])
        except ssl.SSLError:
            raise TlsError(f"Failed to configure ciphers: {cfg['tls-ciphers']}") from None
    suites = cfg["tls-ciphersuites"]
    if suites:
        o = _openssl()
        if o.ok and o.set_ciphersuites(o.ctx_ptr(ctx), suites.encode()) != 1:
            raise TlsError(f"Failed to configure ciphersuites: {suites}")
    return ctx


def build_context(cfg: Any) -> tuple[ssl.SSLContext, ssl.SSLContext | None]:
    """tlsConfigure: the server context (and the client one for outgoing connections
    when tls-client-cert-file/key are set), or TlsError with the reason."""
    if not cfg["tls-cert-file"]:
        raise TlsError("No tls-cert-file configured!")
    if not cfg["tls-key-file"]:
        raise TlsError("No tls-key-file configured!")
    if ((cfg["tls-auth-clients"] != "no" or cfg["tls-cluster"] or cfg["tls-replication"])
            and not cfg["tls-ca-cert-file"] and not cfg["tls-ca-cert-dir"]):
        raise TlsError("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when "
                       "tls-cluster, tls-replication or tls-auth-clients are enabled!")
    versions = _protocols(cfg["tls-protocols"])
    ctx = _base_context(cfg, versions, client=False)
    o = _openssl()
    if o.ok:
        p = o.ctx_ptr(ctx)
        if cfg["tls-session-caching"]:
            o.ctrl(p, _CTRL_SET_SESS_CACHE_MODE, _SESS_CACHE_SERVER, None)
            o.ctrl(p, _CTRL_SET_SESS_CACHE_SIZE, cfg["tls-session-cache-size"], None)
            o.set_timeout(p, cfg["tls-session-cache-timeout"])
            o.set_sid_ctx(p, b"redis", 5)
        else:
            o.ctrl(p, _CTRL_SET_SESS_CACHE_MODE, _SESS_CACHE_OFF, None)
    elif not cfg["tls-session-caching"]:
        ctx.options |= ssl.OP_NO_TICKET
    if cfg["tls-prefer-server-ciphers"]:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= ssl.OP_SINGLE_DH_USE
    dh = cfg["tls-dh-params-file"]
    if dh:
        try:
            ctx.load_dh_params(dh)
        except OSError as e:
            raise TlsError(f"Failed to load {dh}: {e.strerror or e}") from None
        except ssl.SSLError:
            raise TlsError(f"{dh}: failed to read DH params.") from None
    ctx.verify_mode = _VERIFY[_auth_mode(cfg)]
    client_ctx = None
    if cfg["tls-client-cert-file"] and cfg["tls-client-key-file"]:
        client_ctx = _base_context(cfg, versions, client=True)
    return ctx, client_ctx


def _auth_mode(cfg: Any) -> int:
    v = cfg["tls-auth-clients"]
    return {"no": 0, "yes": 1, "optional": 2}.get(v, v) if isinstance(v, str) else int(v)


def configure(srv: Server) -> bool:
    """Build and install a new context from the current config; False (and a logged
    warning, the old context kept) when it cannot be built."""
    try:
        ctx, client_ctx = build_context(srv.config)
    except TlsError as e:
        log.warning(str(e))
        return False
    srv.tls_ctx, srv.tls_client_ctx = ctx, client_ctx
    return True


def enabled(cfg: Any) -> bool:
    return bool(cfg["tls-port"] or cfg["tls-replication"] or cfg["tls-cluster"])


# -- listeners -------------------------------------------------------------------------------

def _factory(srv: Server):
    return lambda: TlsClient(srv)


def open_sockets(srv: Server, port: int) -> list[socket.socket]:
    """Listening sockets for tls-port on every bind address (OSError when one that is
    not optional cannot be opened)."""
    opened: list[socket.socket] = []
    if not port:
        return opened
    try:
        for addr in srv.config["bind"]:
            sock = bind_listener(addr, port, srv.config["tcp-backlog"])
            if sock is not None:
                opened.append(sock)
    except OSError:
        for s in opened:
            s.close()
        raise
    return opened


def listen_at_startup(srv: Server) -> bool:
    """initServer's part for TLS: configure when enabled, listen on tls-port."""
    cfg = srv.config
    if enabled(cfg) and not configure(srv):
        log.warning("Failed to configure TLS. Check logs for more info.")
        return False
    port = cfg["tls-port"]
    if not port:
        return True
    try:
        socks = open_sockets(srv, port)
    except OSError:
        log.warning(f"Failed listening on port {port} (TLS), aborting.")
        return False
    loop = srv.loop
    assert loop is not None
    for sock in socks:
        s = loop.run_until_complete(loop.create_server(
            _factory(srv), sock=sock, ssl=srv.tls_ctx, backlog=cfg["tcp-backlog"]))
        srv.tls_servers.append(s)
    return True


# At run time an asyncio server is created in a task, so a listening socket waits in
# srv.tls_pending until its task runs; the task takes the context current *then*, and a
# context changed meanwhile (two reloads in one event) re-serves it. srv.tls_gen counts
# closes (port/bind changes): a task that finds it moved drops what it made.

def _serve(srv: Server, socks: list[socket.socket]) -> None:
    loop = srv.loop
    if loop is None:
        for s in socks:
            s.close()
        return
    srv.tls_pending.extend(socks)

    async def start(sock: socket.socket) -> None:
        if sock not in srv.tls_pending:
            return  # closed before its turn
        srv.tls_pending.remove(sock)
        gen, ctx = srv.tls_gen, srv.tls_ctx
        s = await loop.create_server(_factory(srv), sock=sock, ssl=ctx,
                                     backlog=srv.config["tcp-backlog"])
        if srv.tls_gen != gen:
            s.close()
            return
        srv.tls_servers.append(s)
        if srv.tls_ctx is not ctx:
            _reserve(srv)

    for sock in socks:
        asyncio.ensure_future(start(sock), loop=loop)


def close_listeners(srv: Server) -> None:
    srv.tls_gen += 1
    old, srv.tls_servers = srv.tls_servers, []
    for s in old:
        s.close()
    pending, srv.tls_pending = srv.tls_pending, []
    for sock in pending:
        sock.close()


def _reserve(srv: Server) -> None:
    """Put the current context in force: the same listening sockets (duplicated, so the
    kernel's accept queue survives) under new asyncio servers. Sockets still pending
    will take the new context anyway."""
    socks = []
    old, srv.tls_servers = srv.tls_servers, []
    for s in old:
        for ls in getattr(s, "sockets", None) or ():
            try:
                d = ls.dup()
            except OSError:
                continue
            d.setblocking(False)
            socks.append(d)
        s.close()
    _serve(srv, socks)


def relisten(srv: Server, port: int) -> None:
    """changeListenPort for tls-port (and CONFIG SET bind): the new sockets are opened
    before the old ones close; OSError leaves the old ones."""
    socks = open_sockets(srv, port)
    close_listeners(srv)
    _serve(srv, socks)


# -- CONFIG SET hooks (registered by bocho/commands/config_cmds.py) ----------------------------

def apply_cfg(srv: Server) -> str | None:
    """applyTlsCfg: rebuild the context when TLS is in use; the error text or None."""
    if not enabled(srv.config):
        return None
    if not configure(srv):
        return UPDATE_ERR
    if srv.tls_servers:
        _reserve(srv)
    return None


def apply_port(srv: Server) -> str | None:
    """applyTLSPort."""
    if srv.tls_ctx is None and not configure(srv):
        return UPDATE_ERR
    if srv.loop is None:
        return None
    try:
        relisten(srv, srv.config["tls-port"])
    except OSError:
        return LISTEN_ERR
    return None


def apply_auth_clients(srv: Server) -> None:
    """tls-auth-clients: handshakes from now on ask for (or require) client certs."""
    if srv.tls_ctx is not None:
        srv.tls_ctx.verify_mode = _VERIFY[_auth_mode(srv.config)]
