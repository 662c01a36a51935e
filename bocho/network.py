"""Client connections: the asyncio Protocol that parses requests with hiredis, dispatches
them through the command table and writes the replies of a whole batch at once.

The fast path (data_received -> process_input) handles a command with one dict lookup,
one arity test and one flag test. Everything that applies only sometimes (AUTH needed,
MULTI, CLIENT REPLY OFF, pause, maxmemory, MONITOR, propagation, unknown commands,
subcommands) goes through Client.call(), the full version of Redis's processCommand()
+ call(); a server- or client-level `slow` flag sends every command there."""

from __future__ import annotations

import asyncio
import re
import socket
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

import hiredis

from bocho import clock, log, resp
from bocho.blocking import serve_ready_keys
from bocho.commands import (
    ADMIN,
    DENYOOM,
    LOADING,
    MAY_REPLICATE,
    NO_ASYNC_LOADING,
    NO_AUTH,
    NO_MULTI,
    READONLY,
    SKIP_MONITOR,
    TABLE,
    WRITE,
    Command,
    lookup,
)
from bocho.errors import NOAUTH, OOM, CommandError, wrong_args

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bocho.server import Server

INLINE_MAX = 64 * 1024
# A query buffer's size after its first read: Redis reads 16 KB at a time into an sds
# that jemalloc rounds up (CLIENT LIST qbuf + qbuf-free = 20474 on a fresh client).
QBUF_IOBUF = 20474
MULTIBULK_MAX = 1024 * 1024
_ANY_LEN = 1 << 62  # framing only, no length limit
UNAUTH_MULTIBULK_MAX = 10
UNAUTH_BULK_MAX = 16384

# client flags (CLIENT LIST flags=)
F_MONITOR = 1
F_PUBSUB = 2
F_MULTI = 4
F_REPLICA = 8
F_MASTER = 16
F_BLOCKED = 32
F_NO_EVICT = 64
F_NO_TOUCH = 128
F_CLOSE_ASAP = 256
F_UNIX = 512
F_READONLY = 1024
F_TRACKING = 2048
F_DIRTY_CAS = 4096

REPLY_ON, REPLY_OFF, REPLY_SKIP_NEXT, REPLY_SKIP = 0, 1, 2, 3

# first bytes that may start an inline request (not '*', '$', '-' or a digit, which
# begin or continue a RESP request)
_INLINE_START = bytes(0 if b in b"*$-0123456789" else 1 for b in range(256))

_EXEC_LIKE = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}
_EXEC_LIKE_NAMES = {"exec", "discard", "multi", "watch", "quit", "reset"}
_NO_OOM_IN_MULTI = {"exec", "discard", "quit", "reset"}
_PUBSUB_OK_NAMES = {"subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe",
                    "punsubscribe", "ping", "quit", "reset"}
# allowed in RESP2 subscribed mode
_PUBSUB_OK = {b"subscribe", b"ssubscribe", b"unsubscribe", b"sunsubscribe", b"psubscribe",
              b"punsubscribe", b"ping", b"quit", b"reset"}


class Push(bytes):
    """Encoded out-of-band data (pub/sub messages and notices) that CLIENT REPLY OFF/SKIP
    do not silence, as Redis's CLIENT_PUSHING."""

    __slots__ = ()


class Client(asyncio.Protocol):
    __slots__ = (
        "server", "id", "transport", "reader", "out", "db", "resp", "name", "lib_name",
        "lib_ver", "authenticated", "user", "flags", "multi", "multi_error", "dirty_cas",
        "watched_keys", "reply_mode", "slow", "blocked", "closing", "addr", "laddr",
        "ctime", "last_io", "argv", "cmd", "prop", "inline_buf", "pending_argv",
        "tail", "channels", "patterns", "shard_channels", "_obuf_class", "obuf_soft_since",
        "obuf_hard",
        "net_in", "net_out", "unix", "peer_ip", "fd", "block_state", "tracking",
        "lastcmd", "pause_pending", "io_paused", "current", "_write", "_wbuf_size", "qbuf_peak",
        "qbuf_alloc", "qbuf_mark", "qbuf_used", "line_buf", "mid_at", "rbs", "rbp",
        "rb_mark", "rb_reset_at", "stars", "backlog", "queueing", "part_in", "part_at",
    )
    tls = False  # a connection on the TLS port is a bocho.tls.TlsClient

    def __init__(self, server: Server, unix: bool = False) -> None:
        self.server = server
        self.id = server.next_client_id()
        self.transport: Any = None
        self.reader = hiredis.Reader()
        self.out: list[bytes] = []
        self.db = server.dbs[0]
        self.resp = 2
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.authenticated = not server.requirepass
        self.user = b"default"
        self.flags = F_UNIX if unix else 0
        self.unix = unix
        self.multi: list | None = None
        self.multi_error = False
        self.dirty_cas = False
        self.watched_keys: list = []
        self.reply_mode = REPLY_ON
        self.blocked = False
        self.closing = False
        self.addr = "?:0"
        self.laddr = "?:0"
        self.peer_ip = ""
        self.fd = -1
        self.ctime = server.unixtime
        self.last_io = server.unixtime
        self.argv: list[bytes] = []
        self.cmd: Command | None = None
        self.lastcmd = "NULL"
        self.prop: list[list[bytes]] | None = None
        self.inline_buf: bytes | None = None
        self.pending_argv: list[bytes] | None = None
        # '*' bytes fed to the reader not yet matched to a request it returned (see
        # process_input), and requests parsed but not yet run (a command blocked)
        self.stars = 0
        self.backlog: list | None = None
        self.tail = b""
        # insertion-ordered (channel -> None) so mass unsubscribes answer in order
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shard_channels: dict[bytes, None] = {}
        self._obuf_class = "normal"
        self.obuf_hard = 0  # hard output limit of the class, checked before each write
        self.refresh_obuf()
        self.obuf_soft_since = 0
        self.net_in = 0
        self.net_out = 0
        self.block_state: Any = None
        self.tracking: Any = None
        self.pause_pending = False
        self.io_paused = False
        self.current = False
        self.qbuf_peak = 0  # the biggest query buffer since the last cron tick
        self.qbuf_alloc = 0  # emulated size of Redis's query buffer (CLIENT LIST qbuf-free)
        self.qbuf_mark = 0  # net_in at the last cron tick (query buffer peak)
        self.qbuf_used = 0  # payload bytes of an unfinished bulk (CLIENT LIST qbuf)
        # Redis's static reply buffer, resized by the cron (CLIENT LIST rbs/rbp)
        self.rbs = REPLY_CHUNK
        self.rbp = REPLY_CHUNK
        self.rb_mark = 0  # net_out at the last cron tick
        self.rb_reset_at = clock.monotonic_ms()
        self.line_buf = b""  # an unfinished header line hiredis holds (check_query_limits)
        self.mid_at = -1  # net_in when a read last ended inside an item
        # Bytes of an unfinished request received so far, valid while part_at == net_in
        # (the read that left it unfinished was the last one): what hiredis parsed of it
        # is Redis's argv of a request in progress (client memory, argv-mem)
        self.part_in = 0
        self.part_at = -1
        self.slow = False
        self.queueing = False
        self.update_slow()

    # -- state ---------------------------------------------------------------------------

    def update_slow(self) -> None:
        """Recompute whether this client's commands must take the full path, and whether
        it is slow only because it is inside MULTI (`queueing`: the compiled loop then
        queues plain commands itself while the server is not slow either; everything
        call() would check for them is covered by one of those two flags)."""
        other = (not self.authenticated or self.reply_mode != REPLY_ON
                 or bool(self.flags & (F_PUBSUB | F_MONITOR | F_NO_TOUCH | F_TRACKING
                                       | F_REPLICA))
                 or self.resp == 2 and bool(self.channels or self.patterns or self.shard_channels)
                 or self.user not in self.server.acl_free)
        in_multi = self.multi is not None
        self.slow = other or in_multi
        self.queueing = in_multi and not other

    def select(self, dbid: int) -> None:
        self.db = self.server.dbs[dbid]

    # -- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._write = transport.write
        self._wbuf_size = transport.get_write_buffer_size
        srv = self.server
        sock = transport.get_extra_info("socket")
        if self.unix:
            self.addr = f"{srv.config['unixsocket']}:0"
            self.laddr = self.addr
            self.peer_ip = "unix"
        else:
            peer = transport.get_extra_info("peername") or ("?", 0)
            local = transport.get_extra_info("sockname") or ("?", 0)
            self.peer_ip = peer[0]
            self.addr = _fmt_addr(peer)
            self.laddr = _fmt_addr(local)
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    ka = srv.config["tcp-keepalive"]
                    if ka > 0:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, ka)
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, ka // 3))
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
                except OSError:
                    pass
        if sock is not None:
            try:
                self.fd = sock.fileno()
            except OSError:
                pass
        if len(srv.clients) >= srv.config["maxclients"]:
            srv.stat_rejected_conn += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            self.closing = True
            return
        if (srv.config["protected-mode"] and not srv.requirepass and not self.unix
                and not _is_loopback(self.peer_ip)):
            transport.write(PROTECTED_MODE_ERROR)
            transport.close()
            self.closing = True
            srv.stat_rejected_conn += 1
            return
        srv.clients[self.id] = self
        srv.stat_numconnections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.client_gone(self)

    def pause_writing(self) -> None:  # transport buffer above its high-water mark
        pass

    def resume_writing(self) -> None:
        hook = self.server.on_resume_writing
        if hook is not None:
            hook(self)

    # -- input ---------------------------------------------------------------------------

    def process_input(self, data: bytes | None = None) -> None:
        """Feed `data` (if any) to the parser and run every complete command. The replies
        leave in one write per client when the event-loop iteration's reads are all done
        (Server.flush_pending via call_soon), as Redis writes in beforeSleep: the client
        is woken once per burst, not once per reply, which costs both sides less CPU.
        Called without data to resume a client that was blocked.

        The loop is the fast path of processCommand() + call(): one dict lookup, one
        arity test, two flag tests; anything unusual goes to call(). Each command is
        timed (INFO commandstats, SLOWLOG) with one clock read: the previous command's
        end is the next one's start."""
        if self.closing:
            return
        srv = self.server
        reader = self.reader
        # the whole read: guard_input may feed part of it and hand back only the rest,
        # but the query-buffer checks below must line hiredis's buffer up with all of it
        whole = data
        if data is not None:
            self.net_in += len(data)
            self.last_io = srv.unixtime
            # A request is inline when it does not start with '*' and the reader holds no
            # unfinished request. has_data() is True while a bulk (or header line) is
            # incomplete, `stars` while a request's header waits for its elements; what
            # continues a request at an element boundary starts with '$', and after a
            # lone type byte with a digit or '-'.
            if self.inline_buf is not None or (data[0] != 42 and _INLINE_START[data[0]]
                                               and not reader.has_data() and not self.stars):
                data = self.process_inline(data)
                if not data:
                    if srv.pending_writes:
                        srv.flush_pending()
                    return
            # Integers, nils, negative or huge multibulk counts and empty lines between
            # requests must not reach hiredis (see guard_input). find(), not `in`:
            # bytes.__contains__ first tries its argument as an int and pays for a
            # TypeError each time.
            if (self.tail or not self.authenticated or _suspect(data) is not None
                    or _TYPE_BYTE[data[0]] or _odd_type(data) is not None
                    or data.find(b"$-") >= 0
                    or data.find(b"\n\n") >= 0 or data.find(b"\n\r\n") >= 0):
                data = self.guard_input(data)
                if not data:
                    if srv.pending_writes:
                        srv.flush_pending()
                    return
            reader.feed(data)
            self.stars += data.count(42)
        out = self.out
        table = TABLE
        gets = reader.gets
        clock = perf_counter_ns
        self.current = True
        t0 = clock()
        try:
            if self.pending_argv is not None and not self.blocked:
                argv, self.pending_argv = self.pending_argv, None
                self.call(argv)
                t0 = clock()
            # blocked/closing are re-tested only where they can have changed: after
            # call() and after a handler that returned no reply
            go = not self.blocked and not self.closing
            cmd = None
            while go:
                batch = self.backlog
                if batch is not None:
                    self.backlog = None
                else:
                    # Parse every complete request first: only a whole batch can be
                    # vouched for (parse_batch) before any of it runs.
                    batch = []
                    append = batch.append
                    try:
                        argv = gets()
                        while argv is not False:
                            append(argv)
                            argv = gets()
                    except hiredis.ProtocolError as e:
                        append(str(e))  # runs (closes) after the requests before it
                    if not batch:
                        break
                    go = False  # the reader is drained: this batch is the last
                    # Each request holds one '*' (its header) unless an argument is a
                    # nested array (or a payload holds '*'). All '*' fed so far matched
                    # by requests: clean. Exactly one left and the read ends inside a
                    # request: that one is its header, clean too. Else check the types.
                    rest = self.stars - len(batch)
                    if rest == 0 or rest == 1 and (
                            data is not None and (data[-1] != 10 or reader.has_data())):
                        self.stars = rest
                    else:
                        self.stars = rest - vet_batch(batch)
                    t0 = clock()
                it = iter(batch)
                for argv in it:
                    if type(argv) is not list or not argv:
                        if type(argv) is str:
                            self.protocol_error(argv)
                            return
                        if type(argv) is not list:
                            self.protocol_error("expected '*', got something else")
                            return
                        continue
                    cmd = table.get(argv[0])
                    if cmd is not None and not (srv.slow or self.slow or srv.repl_in_loop):
                        a = cmd.arity
                        n = len(argv)
                        handler = cmd.handler
                        fast = handler is not None and (n == a or (a < 0 and n >= -a))
                    else:
                        fast = False
                    if not fast:
                        self.call(argv)
                        if self.blocked or self.closing:
                            self.backlog = list(it) or None
                            go = False
                            break
                        t0 = clock()
                        continue
                    try:
                        r = handler(self, argv)
                        if r is not None:
                            out.append(r)
                    except Exception as e:
                        r = None
                        out.append(failed_reply(srv, cmd, e))
                    t1 = clock()
                    d = t1 - t0
                    t0 = t1
                    cmd.calls += 1
                    cmd.usec += d
                    if d > srv.slowlog_ns:
                        srv.slowlog_push(self, argv, d)
                    # only a handler that gave no reply can have blocked or closed it
                    if r is None and (self.blocked or self.closing):
                        self.backlog = list(it) or None
                        go = False
                        break
            # CLIENT LIST cmd=: the batch's last command (call() records its own)
            if cmd is not None and cmd.subcommands is None:
                self.lastcmd = cmd.fullname
        finally:
            self.current = False
        if self.closing:
            return
        if out:
            srv.pending_writes.add(self)
        # Header checks, the query-buffer limit and the memory of a request in progress
        # only concern an unfinished request: a read that stops mid-line, a partial bulk
        # or header line (has_data), a '*' header not yet matched by a request (the read
        # stops after a header or between the elements of a request), or an
        # unauthenticated client.
        if whole is not None and not self.closing and (
                whole[-1] != 10 or self.stars or reader.has_data() or not self.authenticated):
            self.check_query_limits(whole)
        if srv.pending_writes and not srv.flush_scheduled:
            srv.flush_scheduled = True
            srv.loop.call_soon(srv.flush_pending)

    # asyncio's callback for received bytes is process_input itself: one Python call per
    # read instead of two, on the path every request takes.
    data_received = process_input

    def flush(self) -> None:
        out = self.out
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if self.closing:
            return
        self.net_out += len(data)
        if self.obuf_hard and self.over_hard_limit(len(data)):
            return
        self._write(data)
        # Limits can only be crossed while the transport holds unsent data (or a soft
        # limit's timer is running): asking for its buffer size is cheaper than the check.
        if self.server.obuf_limits_on and (self.obuf_soft_since or self._wbuf_size()):
            self.check_output_limits()

    def send(self, data: bytes) -> None:
        """Queue an out-of-band reply (pub/sub message, MONITOR line, unblocked reply);
        it leaves when the current event's work is done."""
        if self.closing:
            return
        self.out.append(data)
        if not self.current:
            self.server.pending_writes.add(self)

    def process_inline(self, data: bytes) -> bytes:
        """Inline commands (telnet/nc). Returns the unconsumed rest (starting with '*')."""
        buf = self.inline_buf + data if self.inline_buf else data
        self.inline_buf = None
        while buf and buf[0] != 42 and not self.closing:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > INLINE_MAX:
                    self.protocol_error("too big inline request")
                    return b""
                self.inline_buf = buf
                buf = b""  # the partial line waits here, not in the RESP reader
                break
            line = buf[:nl]
            buf = buf[nl + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            try:
                argv = split_inline(line)
            except ValueError:
                self.protocol_error("unbalanced quotes in request")
                return b""
            if argv:
                if self.blocked:
                    self.inline_buf = None
                    # rare: queue the raw line back as RESP so order is kept
                    blob = _as_resp(argv)
                    self.reader.feed(blob)
                    self.stars += blob.count(42)
                    continue
                self.current = True
                try:
                    self.call(argv)
                finally:
                    self.current = False
        if self.out and not self.closing:
            aof = self.server.aof
            if aof is not None:
                aof.before_direct_reply()  # the AOF is written before the replies leave
            self.flush()
        return buf if buf and not self.closing else b""

    def check_query_limits(self, data: bytes | None) -> None:
        """After a read that left an unfinished request: refuse bad headers before their
        payload arrives (Redis checks each header line as it comes) and enforce
        client-query-buffer-limit (hiredis would otherwise buffer without bound)."""
        srv = self.server
        reader = self.reader
        pending = reader.len()
        if pending > srv.config["client-query-buffer-limit"]:
            head = (data or b"")[-pending:][:64]
            log.warning(f"Closing client that reached max query buffer length: "
                        f"{self.info_line()} (qbuf initial bytes: {head!r})")
            srv.stat_client_qbuf_limit_disconnections += 1
            self.close_now()
            return
        if data is None:
            return
        # hiredis's buffer starts at an item boundary; when it reaches back into earlier
        # reads, this read starts at one too unless the previous read ended inside an
        # item (a payload, or a header line we kept in line_buf).
        if pending <= len(data):
            start = len(data) - pending
            # hiredis consumes an item's type byte on its own: when it trimmed its buffer
            # right after one, the buffer starts at the header's digits
            if 0 < start < len(data) and data[start] not in (36, 42) \
                    and data[start - 1] in (36, 42):
                start -= 1
            head = data[start:]
        elif self.mid_at != self.net_in - len(data):
            head = data
        elif self.line_buf:
            head = self.line_buf + data
        else:
            head = None
        self.line_buf = b""
        err = None
        if head is not None:
            err, line_start = check_header(head, srv.config["proto-max-bulk-len"],
                                           self.authenticated)
            if line_start >= 0:
                self.line_buf = head[line_start:]
        if err:
            self.protocol_error(err)
            return
        if reader.has_data():
            was_mid = self.mid_at == self.net_in - len(data)
            self.mid_at = self.net_in
            # Redis sizes the query buffer for a whole bulk once its header is read, and
            # then holds just its payload (CLIENT LIST qbuf); else the buffer holds what
            # is unparsed
            need, have = _awaited_bulk(head) if head is not None else (0, 0)
            if need:
                size = need
                self.qbuf_used = have
            elif was_mid:
                size = 0  # more of an item whose buffer was sized when it began
                self.qbuf_used += len(data)
            else:
                size = pending
            if size > self.qbuf_alloc:
                self.qbuf_alloc = size
            if size > self.qbuf_peak:
                self.qbuf_peak = size
        else:
            self.mid_at = -1
            if not self.stars:
                return
        self.track_partial(data)
        if srv.config["maxmemory-clients"]:
            from bocho.evict import evict_clients
            evict_clients(srv)

    def track_partial(self, data: bytes) -> None:
        """After a read that left a request unfinished: how many of its bytes arrived.
        It began in this read (found from the end: the last header line that frames as
        an incomplete request) or, when no such line is there, in an earlier one."""
        cont = self.part_at == self.net_in - len(data)
        start = -1
        p = len(data)
        for _ in range(4):  # a few candidates: payloads may hold "\n*" too
            p = data.rfind(b"\n*", 0, p) + 1
            if p == 0:
                if data[0] == 42:
                    end, err = frame_request(data, 0, _ANY_LEN, True)
                    if end is None and err is None:
                        start = 0
                break
            end, err = frame_request(data, p, _ANY_LEN, True)
            if end is None and err is None:
                start = p
                break
            p -= 1
        if start >= 0:
            self.part_in = len(data) - start
        elif cont:
            self.part_in += len(data)
        else:
            self.part_in = len(data)
        self.part_at = self.net_in

    def guard_input(self, data: bytes) -> bytes:
        """The rare-input path, before hiredis sees the bytes: unauthenticated clients
        (Redis's tighter limits), negative or huge multibulk counts (hiredis would
        refuse the first and allocate the second up front), a header line left over
        from the previous read. Runs what it can; returns the bytes to feed (b"" if
        none, or if the client was closed)."""
        if self.tail:
            data = self.tail + data
            self.tail = b""
        reader = self.reader
        fed = 0
        pos = 0
        while not self.closing:
            if not self.authenticated and not reader.has_data():
                return self._unauth_input(data, fed)
            p = _next_odd_item(data, pos)
            if p < 0:
                break
            if p > fed:
                reader.feed(data, fed, p - fed)
                self.stars += data.count(42, fed, p)
                fed = p
                if not self.blocked:
                    self.process_input()
                if self.closing:
                    return b""
            if reader.has_data() or self.blocked:
                pos = p + 1  # inside a bulk payload (or queued behind a paused command)
                continue
            if data[p] == 10 or data[p] == 13:
                # An empty line. Between requests Redis reads it as an empty inline
                # command and skips it (redis-cli --pipe sends them); inside a request
                # (its '*' header is unmatched) hiredis gives Redis's error.
                if self.stars == 0 and (data[p] == 10 or data[p + 1:p + 2] == b"\n"):
                    pos = p + (1 if data[p] == 10 else 2)
                    while pos < len(data) and (data[pos] == 10 or data[pos:pos + 2] == b"\r\n"):
                        pos += 1 if data[pos] == 10 else 2
                    fed = pos
                else:
                    pos = p + 1
                continue
            if data[p] != 42:
                if self.stars == 0:
                    # between requests: an inline command (Redis frames by the first byte)
                    rest = self.process_inline(data[p:])
                    if not rest or self.closing:
                        return b""
                    data, fed, pos = rest, 0, 0
                    continue
                # an item other than a bulk string inside a request (hiredis would hand
                # the command an int, a bool, None...)
                self.protocol_error("invalid bulk length" if data[p] == 36
                                    else f"expected '$', got '{chr(data[p])}'")
                return b""
            nl = data.find(b"\n", p)
            if nl < 0:
                if len(data) - p > INLINE_MAX:
                    self.protocol_error("too big mbulk count string")
                    return b""
                self.tail = data[p:]  # wait for the rest of the header line
                return b""
            n = _strict_int(data[p + 1:nl].rstrip(b"\r"))
            if n is None or n > MULTIBULK_MAX:
                self.protocol_error("invalid multibulk length")
                return b""
            if n <= 0:
                fed = pos = nl + 1  # Redis skips empty and negative multibulk requests
            else:
                pos = p + 1
        return data[fed:] if fed else data

    def _unauth_input(self, data: bytes, pos: int) -> bytes:
        """Frame requests one by one under the unauthenticated limits; each complete one
        runs before the next is framed (an AUTH lifts the limits for what follows)."""
        srv = self.server
        size = len(data)
        while pos < size and not self.closing:
            if self.authenticated or self.blocked:
                return data[pos:]
            if data[pos] != 42:
                rest = self.process_inline(data[pos:])
                if not rest:
                    return b""
                data, pos, size = rest, 0, len(rest)
                continue
            end, err = frame_request(data, pos, srv.config["proto-max-bulk-len"], False)
            if err:
                self.protocol_error(err)
                return b""
            if end is None:
                self.tail = data[pos:]
                return b""
            if end < 0:  # empty or negative count: skipped
                pos = -end
                continue
            self.reader.feed(data, pos, end - pos)
            self.stars += data.count(42, pos, end)
            pos = end
            self.process_input()
        return b""

    def protocol_error(self, what: str) -> None:
        what = _HIREDIS_ERRORS.get(what, what)
        m = _HIREDIS_TYPE_ERROR(what)
        if m is not None:  # hiredis met a type byte other than '$' inside a request
            # hiredis escapes CR/LF; Redis's error replies turn them into spaces
            got = m.group(1)
            if got in _ESCAPED_CRLF:
                got = " "
            what = f"expected '$', got '{got}'"
        msg = what if what.startswith("Protocol error") else f"Protocol error: {what}"
        log.verbose(f"{msg} from client: {self.info_line()}")
        self.out.append(b"-ERR " + msg.encode() + b"\r\n")
        srv = self.server
        srv.count_error(b"ERR")
        self.flush()
        self.close()

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            if self.out:
                aof = self.server.aof
                if aof is not None:
                    aof.before_direct_reply()
                data = b"".join(self.out)
                self.out.clear()
                try:
                    self._write(data)
                except Exception:
                    pass
            if self.transport is not None:
                self.transport.close()
            self.server.client_gone(self)

    def close_now(self) -> None:
        """Drop the connection without flushing (output-buffer limit, CLIENT KILL)."""
        if not self.closing:
            self.closing = True
            self.out.clear()
            if self.transport is not None:
                self.transport.abort()
            self.server.client_gone(self)

    # -- the full path -------------------------------------------------------------------

    def call(self, argv: list) -> None:
        """processCommand(): every check, then run (or queue inside MULTI), then account."""
        srv = self.server
        out = self.out
        name = argv[0]
        for a in argv:
            if type(a) is not bytes:
                self.protocol_error(_element_error(a))
                return
        cmd = lookup(name)
        self.argv = argv
        if self.qbuf_alloc < QBUF_IOBUF:
            self.qbuf_alloc = QBUF_IOBUF
        # the reply mode in force for this command (CLIENT REPLY OFF / SKIP silence it)
        mode = self.reply_mode
        mark = len(out)
        was_replica = self.flags & F_REPLICA and not self.flags & F_MONITOR
        try:
            if cmd is None:
                raise CommandError(unknown_command_msg(argv))
            if cmd.subcommands is not None and (cmd.handler is None or len(argv) > 1):
                sub = cmd.subcommands.get(argv[1].lower()) if len(argv) > 1 else None
                if sub is None:
                    if len(argv) == 1:
                        raise wrong_args(cmd.name)
                    # a container with its own handler (bare COMMAND) takes extra
                    # arguments only when its arity allows them
                    if cmd.handler is None or not cmd.arity_ok(len(argv)):
                        raise CommandError(
                            "ERR unknown subcommand '{}'. Try {} HELP.".format(argv[1].decode(errors="replace")[:128], cmd.name.upper()))
                else:
                    cmd = sub
            self.lastcmd = cmd.fullname
            if not cmd.arity_ok(len(argv)):
                raise wrong_args(cmd.fullname)
            in_multi = self.multi is not None
            if in_multi and cmd.flags & NO_MULTI:
                raise CommandError(b"ERR Command not allowed inside a transaction")
            if not self.authenticated and not cmd.flags & NO_AUTH:
                raise CommandError(NOAUTH)
            if self.user not in srv.acl_free and not self.flags & F_MASTER:
                srv.acl.check_call(self, cmd, argv)
            if was_replica and cmd.flags & (READONLY | WRITE | MAY_REPLICATE):
                # a replica's link is no client: no abuse of the keyspace through it
                raise CommandError(b"ERR Replica can't interact with the keyspace")
            # (while loading, a command refused for it gets LOADING, not BUSY, as Redis)
            if srv.busy_script is not None and not (
                    srv.loading and not srv.async_loading and not cmd.flags & LOADING):
                from bocho.scripting import busy_refusal
                refused = busy_refusal(srv, cmd, argv)
                if refused is not None:
                    raise CommandError(refused)
            lname = cmd.name if cmd.parent is None else cmd.parent.name
            # Eviction runs before every command (as Redis: client buffers grown by reads
            # count too); only commands that may add memory are refused.
            if srv.slow and srv.maxmemory and srv.over_maxmemory(self) and (
                    cmd.flags & DENYOOM or in_multi and lname not in _NO_OOM_IN_MULTI
                    or lname == "exec" and self.multi
                    and any(q.flags & DENYOOM for q, _ in self.multi)):
                raise CommandError(OOM)
            if srv.slow and not srv.lastbgsave_ok and (
                    cmd.flags & WRITE or lname == "ping" or lname == "exec" and self.multi
                    and any(q.flags & WRITE for q, _ in self.multi)):
                from bocho.persistence.snapshot import write_denied
                refused = write_denied(srv)
                if refused is not None:
                    raise CommandError(refused)
            if srv.write_deniers and (cmd.flags & WRITE or lname == "ping" or (
                    lname == "exec" and self.multi
                    and any(q.flags & WRITE for q, _ in self.multi))):
                for deny in srv.write_deniers:
                    refused = deny()
                    if refused is not None:
                        raise CommandError(refused)
            if srv.replicas_denier is not None and (cmd.flags & WRITE or (
                    lname == "exec" and self.multi
                    and any(q.flags & WRITE for q, _ in self.multi))):
                refused = srv.replicas_denier()  # min-replicas-to-write (not PING)
                if refused is not None:
                    raise CommandError(refused)
            if srv.replica_guard and not self.flags & F_MASTER:
                refused = srv.replica.refusal(self, cmd, lname == "exec")
                if refused is not None:
                    raise CommandError(refused)
            if (self.resp == 2 and (self.channels or self.patterns or self.shard_channels)
                    and lname not in _PUBSUB_OK_NAMES):
                raise CommandError(
                    f"ERR Can't execute '{cmd.fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                    "QUIT / RESET are allowed in this context")
            if srv.slow and srv.loading and not srv.async_loading and (
                    not cmd.flags & LOADING or lname == "exec" and self.multi
                    and any(not q.flags & LOADING for q, _ in self.multi)):
                raise CommandError(b"LOADING Redis is loading the dataset in memory")
            # a replica's swapdb load on the same history serves the old data meanwhile,
            # except to commands that cannot run beside it
            if srv.async_loading and (cmd.flags & NO_ASYNC_LOADING or lname == "exec" and (
                    self.multi and any(q.flags & NO_ASYNC_LOADING for q, _ in self.multi))):
                raise CommandError(b"LOADING Redis is loading the dataset in memory")
            if srv.slow and srv.pause_end and srv.check_paused(self, cmd, argv):
                return
            if srv.tracking is not None and srv.tracking.clients:
                srv.tracking.limit()
            if in_multi and lname not in _EXEC_LIKE_NAMES:
                self.multi.append((cmd, argv))
                out.append(resp.QUEUED)
                if srv.config["maxmemory-clients"]:  # queued commands are client memory
                    from bocho.evict import evict_clients
                    evict_clients(srv)
            elif srv.tracking is not None and srv.tracking.clients:
                self.execute_tracked(cmd, argv)
            else:
                self.execute(cmd, argv)
                if srv.ready_keys:
                    serve_ready_keys(srv)
            if srv.client_evict and out and len(out[-1]) > REPLY_CHUNK:
                # a reply past the static buffer is client memory Redis weighs before
                # the next command runs (whoever sends it)
                self.reply_grew()
        except CommandError as e:
            if self.multi is not None:
                if cmd is not None and cmd.name == "exec":
                    e = exec_abort(self, argv, e)
                else:
                    self.multi_error = True
            if cmd is not None:
                cmd.rejected_calls += 1
            srv.count_error(e.msg)
            out.append(e.reply())
        if mode != REPLY_ON and self.reply_mode != REPLY_ON:
            # CLIENT REPLY OFF/SKIP silence replies, not pushes (pub/sub notices)
            out[mark:] = [x for x in out[mark:] if type(x) is Push]
        if was_replica and len(out) > mark:
            self.replica_replied(out[mark])
        # CLIENT REPLY SKIP silences exactly the one command after it
        rm = self.reply_mode
        if rm == REPLY_SKIP:
            self.reply_mode = REPLY_ON
            self.update_slow()
        elif rm == REPLY_SKIP_NEXT:
            self.reply_mode = REPLY_SKIP

    def replica_replied(self, reply: bytes) -> None:
        """A replica's link carries the stream only: a command of its that made a reply
        (a rogue replica) gets it dropped, as Redis does."""
        log.warning(f"Replica generated a reply to command '{self.lastcmd}', "
                    f"disconnecting it: {self.info_line()}")
        if reply[:1] == b"-":
            text = reply[1:].split(b"\r\n", 1)[0][:4096].decode(errors="replace")
            log.warning(f"== CRITICAL == This master is sending an error to its replica: "
                        f"'{text}' after processing the command '{self.lastcmd}'")
            self.server.stat_unexpected_error_replies += 1
        self.close_now()

    def execute_tracked(self, cmd: Command, argv: list[bytes]) -> None:
        """execute() while clients track keys (bocho/tracking.py): the table's size limit
        is enforced first; this client's own invalidations follow its reply; CLIENT
        CACHING lasts for one command (or one transaction)."""
        srv = self.server
        trk = srv.tracking
        prev = trk.current
        trk.current = self
        trk.in_cmd += 1
        try:
            self.execute(cmd, argv)
        finally:
            trk.in_cmd -= 1
            if trk.pending:
                trk.flush_pending(self)
            tr = self.tracking
            if tr is not None and tr.caching and self.multi is None and (
                    cmd.parent is None or cmd.parent.name != "client"):
                tr.caching = False
        try:
            if srv.ready_keys:
                serve_ready_keys(srv)
        finally:
            trk.current = prev

    def execute(self, cmd: Command, argv: list[bytes]) -> Any:
        """call(): run a resolved command, time it, feed MONITOR, propagate writes.
        Also used by EXEC for each queued command."""
        srv = self.server
        out = self.out
        self.prop = None
        dirty = srv.dirty
        t0 = perf_counter_ns()
        failed = False
        try:
            # CLIENT NO-TOUCH clients are slow (update_slow): they always come here
            r = self.run_no_touch(cmd, argv) if self.flags & F_NO_TOUCH else cmd.handler(self, argv)
            if r is not None:
                out.append(r)
        except Exception as e:
            failed = True
            out.append(failed_reply(srv, cmd, e))
        d = perf_counter_ns() - t0
        cmd.calls += 1
        cmd.usec += d
        self.lastcmd = cmd.fullname
        if d > srv.slowlog_ns:
            srv.slowlog_push(self, argv, d)
        if cmd.flags & READONLY and srv.tracking is not None and srv.tracking.clients:
            from bocho.tracking import remember_keys
            remember_keys(self, cmd, argv)
        if srv.monitors and not cmd.flags & (SKIP_MONITOR | ADMIN):
            srv.feed_monitors(self, argv, cmd)
        if srv.dirty > dirty and not failed and srv.propagating:
            if self.prop is not None:
                for a in self.prop:
                    srv.propagate(self.db.id, a)
            else:
                srv.propagate(self.db.id, argv)
        return failed

    def exec_queued(self, queued: list) -> None:
        """EXEC's run of the queued commands: each re-checked against the ACLs (they may
        have changed since it was queued), then execute(). The compiled loop replaces
        this with its own for the plain case (bocho/_fastpath.pyx exec_queued)."""
        srv = self.server
        out = self.out
        acl = srv.acl
        for cmd, args in queued:
            denied = acl.check_exec(self, cmd, args)
            if denied is not None:
                srv.count_error(denied[1:-2])
                out.append(denied)
                continue
            self.execute(cmd, args)

    def execute_plain(self, cmd: Command, argv: list[bytes]) -> None:
        """execute() for a script's redis.call; the compiled loop replaces it with a
        version that runs the command as its own requests while nothing is slow."""
        self.execute(cmd, argv)

    def run_no_touch(self, cmd: Command, argv: list[bytes]) -> Any:
        """Run a CLIENT NO-TOUCH client's command: its reads leave the keys' access clock
        alone (db.lookup asks srv.current_client_no_touch()), except TOUCH, which always
        touches (also when queued in MULTI: EXEC runs each through execute())."""
        srv = self.server
        prev = srv.no_touch
        srv.no_touch = cmd.name != "touch"
        try:
            return cmd.handler(self, argv)
        finally:
            srv.no_touch = prev

    # -- output limits -------------------------------------------------------------------

    @property
    def obuf_class(self) -> str:
        return self._obuf_class

    @obuf_class.setter
    def obuf_class(self, cls: str) -> None:
        self._obuf_class = cls
        self.refresh_obuf()

    def refresh_obuf(self) -> None:
        """Cache the hard limit of this client's class (config or class changed)."""
        self.obuf_hard = self.server.obuf_limit(self)[0]

    def reply_grew(self) -> None:
        """maxmemory-clients: the output just queued may put this client over its hard
        output limit (it is then dropped, which takes precedence) or all clients over
        maxmemory-clients."""
        if self.obuf_hard and self.over_hard_limit(sum(len(x) for x in self.out)):
            return
        from bocho.evict import evict_clients
        evict_clients(self.server)

    def over_hard_limit(self, nbytes: int) -> bool:
        """Before a write: would the output pending for this client pass its hard limit?
        (Redis counts the reply blocks it allocated for the batch, so a batch alone can
        pass it.) A client over it is dropped without getting any of it."""
        if self._wbuf_size() + nbytes < self.obuf_hard:
            return False
        self.output_limit_reached()
        return True

    def bounded_reply(self, parts: Iterable[bytes]) -> bytes | None:
        """Join a reply made piece by piece (HRANDFIELD/SRANDMEMBER/ZRANDMEMBER with a
        huge negative count), stopping as soon as it would pass this client's hard output
        limit: the client is then dropped and None returned (Redis stops such commands
        mid-run instead of building a reply it will never send)."""
        if not self.obuf_hard:
            return b"".join(parts)
        room = self.obuf_hard - self._wbuf_size() - sum(len(x) for x in self.out)
        out = []
        size = 0
        for part in parts:
            size += len(part)
            if size >= room:
                self.output_limit_reached()
                return None
            out.append(part)
        return b"".join(out)

    def output_limit_reached(self) -> None:
        srv = self.server
        log.warning(f"Client {self.info_line()} scheduled to be closed ASAP for overcoming "
                    f"of output buffer limits.")
        srv.stat_client_outbuf_limit_disconnections += 1
        self.close_now()

    def check_output_limits(self) -> None:
        srv = self.server
        if srv.config["maxmemory-clients"] and self._wbuf_size() >= 32768:
            # a reply piling up is client memory too (Redis evicts before it sleeps)
            from bocho.evict import evict_clients
            evict_clients(srv)
            if self.closing:
                return
        hard, soft, secs = srv.obuf_limit(self)
        if not hard and not soft:
            return
        size = self.transport.get_write_buffer_size()
        over = False
        if hard and size >= hard:
            over = True
        elif soft and size >= soft:
            now = srv.unixtime
            if not self.obuf_soft_since:
                self.obuf_soft_since = now
            elif now - self.obuf_soft_since > secs:
                over = True
        else:
            self.obuf_soft_since = 0
        if over:
            self.output_limit_reached()

    def info_line(self) -> str:
        return self.server.client_info(self)


RESIZE_THRESHOLD = 32 * 1024
REPLY_CHUNK = 16 * 1024
REPLY_MIN = 1024


def client_cron(c: Client, now: int, now_ms: int) -> None:
    """The per-client part of serverCron that keeps CLIENT LIST's buffer figures."""
    if c.qbuf_alloc or c.net_in != c.qbuf_mark:
        resize_query_buffer(c, now)
    if c.rbs != REPLY_MIN or c.net_out != c.rb_mark or c.rbp:
        resize_reply_buffer(c, now_ms)


def resize_reply_buffer(c: Client, now_ms: int) -> None:
    """clientsCronResizeOutputBuffer: the reply buffer shrinks to its recent peak (not
    below 1 KB) or doubles (up to 16 KB) while replies fill it. The peak is what was
    written since the last tick, capped at the buffer size."""
    srv = c.server
    wrote = c.net_out - c.rb_mark
    c.rb_mark = c.net_out
    if wrote:
        c.rbp = max(c.rbp, min(wrote, c.rbs))
    if getattr(srv, "reply_buffer_resizing_enabled", True):
        if c.rbs // 2 >= REPLY_MIN and c.rbp < c.rbs // 2:
            c.rbs = max(REPLY_MIN, c.rbp + 1)
        elif c.rbs * 2 < REPLY_CHUNK * 2 and c.rbp == c.rbs:
            c.rbs = min(REPLY_CHUNK, c.rbs * 2)
    reset = getattr(srv, "reply_buffer_peak_reset_time", 5000)
    if reset >= 0 and now_ms - c.rb_reset_at >= reset:
        c.rbp = 0
        c.rb_reset_at = now_ms


def resize_query_buffer(c: Client, now: int) -> None:
    """clientsCronResizeQueryBuffer, on the emulated query buffer size that CLIENT LIST
    shows: an idle client's buffer is freed; an oversized one shrinks to the peak.
    Redis reads at most 16 KB at a time (more only for a big bulk, which then gets a
    buffer of its size: check_query_limits records those), so a client that read
    since the last tick has its read buffer, and no more, however much it sent."""
    read = c.net_in - c.qbuf_mark
    c.qbuf_mark = c.net_in
    alloc = c.qbuf_alloc
    if read and alloc < QBUF_IOBUF:
        alloc = QBUF_IOBUF
    mid = c.reader.has_data() or c.part_at == c.net_in
    peak = max(c.qbuf_peak, min(read, QBUF_IOBUF))
    if now - c.last_io > 2 and not mid:
        alloc = 0
    elif alloc > RESIZE_THRESHOLD and alloc // 2 > peak and not mid:
        alloc = peak
    c.qbuf_alloc = alloc
    c.qbuf_peak = c.reader.len() if mid else 0


def exec_abort(c: Client, argv: list[bytes], e: CommandError) -> CommandError:
    """A refused EXEC ends the transaction: EXECABORT with the reason (and MONITOR still
    sees the EXEC, closing the MULTI it saw)."""
    from bocho.commands.multi import discard_transaction
    discard_transaction(c)
    srv = c.server
    if srv.monitors:
        srv.feed_monitors(c, argv)
    msg = e.msg[4:] if e.msg.startswith(b"ERR ") else e.msg
    return CommandError(b"EXECABORT Transaction discarded because of: " + msg)


def failed_reply(srv: Server, cmd: Command, exc: Exception) -> bytes:
    """The error reply of a handler that raised, counted for INFO errorstats and the
    command's failed_calls. A CommandError is the handler's answer; anything else is a
    bug of ours: the client still gets an error reply (instead of losing its
    connection), the log gets the traceback, and the server goes on serving."""
    cmd.failed_calls += 1
    if isinstance(exc, CommandError):
        if exc.update_stats:
            srv.count_error(exc.msg)
        return exc.reply()
    import traceback
    log.warning(f"Internal error in '{cmd.fullname}': "
                + "".join(traceback.format_exception(exc)).rstrip())
    msg = f"ERR internal error in '{cmd.fullname}': {type(exc).__name__}".encode()
    srv.count_error(msg)
    return b"-" + msg + b"\r\n"


def _fmt_addr(a: tuple) -> str:
    """ip:port, IPv6 in brackets ([::1]:6379), as Redis's anetFormatAddr."""
    host = a[0]
    if ":" in host:
        return f"[{host}]:{a[1]}"
    return f"{host}:{a[1]}"


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1" or ip.startswith("::ffff:127.")


def unknown_command_msg(argv: list[bytes]) -> str:
    args = "".join("'{}' ".format(a.decode(errors="replace")[:128]) for a in argv[1:])
    return "ERR unknown command '{}', with args beginning with: {}".format(
        argv[0].decode(errors="replace")[:128], args)


_ESCAPED_CRLF = ("\\r", "\\n")
_suspect = re.compile(rb"\*(?:-|[0-9]{7})").search
# a line starting with a RESP type byte other than '$' and '*': where a request needs a
# bulk string, Redis refuses it; hiredis would hand the command an int, a bool, None...
_TYPE_BYTES = b"-:#,_%~>|(=!+"
_odd_type = re.compile(rb"\n[" + re.escape(_TYPE_BYTES) + rb"]").search
_TYPE_BYTE = bytes(1 if b in _TYPE_BYTES else 0 for b in range(256))
_HIREDIS_TYPE_ERROR = re.compile(r'Protocol error, got "(.*)" as reply type byte').match
_HIREDIS_ERRORS = {
    "Multi-bulk length out of range": "invalid multibulk length",
    "Bad multi-bulk length": "invalid multibulk length",
    "Bulk string length out of range": "invalid bulk length",
    "Bad bulk string length": "invalid bulk length",
}


def _next_odd_item(data: bytes, pos: int) -> int:
    """The first place from pos that may hold an item hiredis must not see: a negative
    or huge multibulk count, an item of a type other than bulk string (an integer, a
    boolean...), a nil bulk, an empty line. -1 if none."""
    if pos == 0 and _TYPE_BYTE[data[0]]:
        return 0
    m = _suspect(data, pos)
    best = m.start() if m is not None else -1
    m = _odd_type(data, pos)
    if m is not None and (best < 0 or m.start() + 1 < best):
        best = m.start() + 1
    i = data.find(b"$-", pos)
    if i >= 0 and (best < 0 or i < best):
        best = i
    for empty in (b"\n\n", b"\n\r\n"):  # an empty line
        i = data.find(empty, pos)
        if i >= 0 and (best < 0 or i + 1 < best):
            best = i + 1
    return best


def vet_batch(batch: list) -> int:
    """The slow check for a batch whose '*' count is off: the first request with an
    argument other than a bulk string (a nested array, say) is replaced by its protocol
    error, and what follows it dropped (Redis closes the connection there). Returns the
    '*' bytes the batch's payloads hold, which the count must not expect as headers."""
    extra = 0
    for i, argv in enumerate(batch):
        if type(argv) is not list:
            continue
        for a in argv:
            if type(a) is not bytes:
                batch[i:] = [_element_error(a)]
                return extra
            extra += a.count(42)
    return extra


def _element_error(a: Any) -> str:
    if a is None:
        return "invalid bulk length"
    t = type(a)
    if t is list:
        return "expected '$', got '*'"
    if t is int:
        return "expected '$', got ':'"
    if t is bool:
        return "expected '$', got '#'"
    if t is float:
        return "expected '$', got ','"
    if t is dict:
        return "expected '$', got '%'"
    if isinstance(a, Exception):
        return "expected '$', got '-'"
    return "expected '$', got '+'"


def _strict_int(b: bytes) -> int | None:
    """string2ll: an optional '-' and digits, nothing else."""
    if not b or len(b) > 20 or not (b.isdigit() or b[0] == 45 and b[1:].isdigit()):
        return None
    return int(b)


def _awaited_bulk(head: bytes) -> tuple[int, int]:
    """For the bulk a client is in the middle of sending: (the query buffer Redis sizes
    for it, the payload bytes already there); (0, 0) when head does not end inside one."""
    i = head.rfind(b"$")
    while i >= 0:
        nl = head.find(b"\r\n", i)
        if nl > i + 1:
            n = _strict_int(head[i + 1:nl])
            have = len(head) - (nl + 2)
            if n is not None and 0 <= n and have < n + 2:
                return n + 2, have
        i = head.rfind(b"$", 0, i)
        if len(head) - i > 128:
            break
    return 0, 0


def frame_request(buf: bytes, pos: int, max_bulk: int, authed: bool,
                  ) -> tuple[int | None, str | None]:
    """Frame the multibulk request at buf[pos] as Redis's processMultibulkBuffer:
    (end, None) when complete, (-end, None) for an empty/negative count Redis skips,
    (None, None) when more bytes are needed, (None, error) on a protocol error. Headers
    are judged as soon as their line is complete, payload or not."""
    size = len(buf)
    nl = buf.find(b"\r", pos)
    if nl < 0 or nl + 1 >= size:
        return None, ("too big mbulk count string" if size - pos > INLINE_MAX else None)
    n = _strict_int(buf[pos + 1:nl])
    if n is None or n > MULTIBULK_MAX:
        return None, "invalid multibulk length"
    if not authed and n > UNAUTH_MULTIBULK_MAX:
        return None, "unauthenticated multibulk length"
    p = nl + 2
    if n <= 0:
        return -p, None
    for _ in range(n):
        if p >= size:
            return None, None
        if buf[p] != 36:
            return None, f"expected '$', got '{chr(buf[p])}'"
        nl = buf.find(b"\r", p)
        if nl < 0 or nl + 1 >= size:
            return None, ("too big bulk count string" if size - p > INLINE_MAX else None)
        blen = _strict_int(buf[p + 1:nl])
        if blen is None or blen < 0 or blen > max_bulk:
            return None, "invalid bulk length"
        if not authed and blen > UNAUTH_BULK_MAX:
            return None, "unauthenticated bulk length"
        p = nl + 2 + blen + 2
    if p > size:
        return None, None
    return p, None


def check_header(buf: bytes, max_bulk: int, authed: bool) -> tuple[str | None, int]:
    """Walk hiredis's unconsumed bytes from an item boundary (a request's '*' or, inside
    a request, a '$' element) up to the unfinished request. Returns (the error Redis
    would give or None, the offset of an unfinished header line or -1)."""
    size = len(buf)
    pos = 0
    while pos < size and buf[pos] == 36:  # elements of a request begun earlier
        nl = buf.find(b"\r", pos)
        if nl < 0 or nl + 1 >= size:
            if size - pos > INLINE_MAX:
                return "too big bulk count string", -1
            return None, pos
        blen = _strict_int(buf[pos + 1:nl])
        if blen is None or blen < 0 or blen > max_bulk:
            return "invalid bulk length", -1
        if not authed and blen > UNAUTH_BULK_MAX:
            return "unauthenticated bulk length", -1
        pos = nl + 2 + blen + 2
    while pos < size and buf[pos] == 42:
        end, err = frame_request(buf, pos, max_bulk, authed)
        if err:
            return err, -1
        if end is None:
            # the unfinished header line, if the request stops inside one
            last = max(buf.rfind(b"\n") + 1, pos)
            if last < size and buf[last] in (36, 42) and buf.find(b"\r", last) < 0:
                return None, last
            return None, -1
        pos = end if end > 0 else -end
    return None, -1


def split_inline(line: bytes) -> list[bytes]:
    """sdssplitargs over bytes; ValueError on unbalanced quotes."""
    if b'"' not in line and b"'" not in line:
        return line.split()
    from bocho.config import split_args
    return [a.encode("latin-1") for a in split_args(line.decode("latin-1"))]


def _as_resp(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


PROTECTED_MODE_ERROR = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no "
    b"password is set for the default user. In this mode connections are only accepted from "
    b"the loopback interface. If you want to connect from external computers to Redis you "
    b"may adopt one of the following solutions: 1) Just disable protected mode sending the "
    b"command 'CONFIG SET protected-mode no' from the loopback interface by connecting to "
    b"Redis from the same host the server is running, however MAKE SURE Redis is not "
    b"publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change "
    b"permanent. 2) Alternatively you can just disable the protected mode by editing the "
    b"Redis configuration file, and setting the protected mode option to 'no', and then "
    b"restarting the server. 3) If you started the server manually just for testing, "
    b"restart it with the '--protected-mode no' option. 4) Set up an authentication "
    b"password for the default user. NOTE: You only need to do one of the above things in "
    b"order for the server to start accepting connections from the outside.\r\n")


# Which request loop runs (INFO server bocho_fastpath): set by install_fastpath.
FASTPATH = "python"
# the compiled run of a replica's master stream (_fastpath.apply_stream) when installed
APPLY_STREAM: Any = None


def install_fastpath(server_cls: type) -> None:
    """The compiled request loop (bocho/_fastpath.pyx) takes over Client.data_received
    and Server.flush_pending, unless BOCHO_PURE is set (non-empty, not "0") or it was
    not built. server.py calls this once, after defining Server."""
    global FASTPATH, APPLY_STREAM
    import os
    if os.environ.get("BOCHO_PURE", "") not in ("", "0"):
        return
    try:
        from bocho import _fastpath
    except ImportError:
        return
    from bocho.db import Database
    try:
        _fastpath.install(TABLE, Client, server_cls, failed_reply, Command, Database)
    except LookupError as e:  # a class changed under it: run the Python path
        log.warning(f"Compiled request loop not used: {e}")
        return
    FASTPATH = "compiled"
    APPLY_STREAM = _fastpath.apply_stream
    server_cls.LOOP_HANDLES_REPLICATION = True
    resp.use_compiled_bulk_strings(_fastpath)
