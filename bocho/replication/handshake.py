"""The replica's side of the link protocol, sans I/O: the handshake with the master
(PING, AUTH, REPLCONF, PSYNC), the header of the RDB payload, the payload itself (by
length or up to an EOF mark) and the framing of the command stream that follows.

Everything here is fed bytes or lines and returns what to send and what happened; the
asyncio side (replica.py) only moves bytes and acts on the results, so the order of the
handshake and every reply the master can give are unit-tested without sockets."""

from __future__ import annotations

from dataclasses import dataclass

from bocho import resp

# Redis's repl_state values, in order (slaveIsInHandshakeState is a range of them)
NONE = 0
CONNECT = 1
CONNECTING = 2
RECEIVE_PING_REPLY = 3
SEND_HANDSHAKE = 4
RECEIVE_AUTH_REPLY = 5
RECEIVE_PORT_REPLY = 6
RECEIVE_IP_REPLY = 7
RECEIVE_CAPA_REPLY = 8
SEND_PSYNC = 9
RECEIVE_PSYNC_REPLY = 10
TRANSFER = 11
CONNECTED = 12

RUN_ID_SIZE = 40


def in_handshake(state: int) -> bool:
    return RECEIVE_PING_REPLY <= state <= RECEIVE_PSYNC_REPLY


def state_name(state: int) -> str:
    """ROLE's name for the link state."""
    if in_handshake(state):
        return "handshake"
    return {NONE: "none", CONNECT: "connect", CONNECTING: "connecting", TRANSFER: "sync",
            CONNECTED: "connected"}.get(state, "unknown")


def encode(argv: list[bytes]) -> bytes:
    """A command in the canonical multibulk form (the compiled builder when the request
    loop is)."""
    return resp.bulk_strings(argv if type(argv) is list else list(argv))


# The REPLCONF whose reply each state waits for (sent together, answered in order).
_REPLCONF_OPTION = {RECEIVE_PORT_REPLY: "listening-port", RECEIVE_IP_REPLY: "ip-address",
                    RECEIVE_CAPA_REPLY: "capa"}


@dataclass
class Outcome:
    """How the handshake ended. kind: "fullresync" (replid, offset set; offset -1 when
    the master did not give one: old SYNC), "continue" (replid: the master's new ID or
    None), "error" (the link must be dropped and retried) or "rejected" (the target of a
    FAILOVER refused the PSYNC)."""
    kind: str
    replid: str | None = None
    offset: int = -1


class Handshake:
    """syncWithMaster as a state machine. start() when the TCP connection is up; then
    on_line(line) for each reply line (CRLF stripped). Each returns (actions, outcome):
    actions are ("send", bytes) and ("log", level, message) in order; outcome is None
    while the handshake goes on."""

    def __init__(self, *, masteruser: str | None, masterauth: str | None, port: int,
                 announce_ip: str | None, cached: tuple[str, int] | None,
                 failover: bool = False) -> None:
        self.masteruser = masteruser
        self.masterauth = masterauth
        self.port = port
        self.announce_ip = announce_ip
        self.cached = cached  # (replid, applied offset) of the cached master
        # a master handing its role to this one (FAILOVER): PSYNC says so, and only
        # +CONTINUE / +FULLRESYNC are acceptable answers
        self.failover = failover
        self.state = CONNECTING

    def start(self) -> list[tuple]:
        self.state = RECEIVE_PING_REPLY
        return [("log", "notice", "Non blocking connect for SYNC fired the event."),
                ("send", encode([b"PING"]))]

    def on_line(self, line: bytes) -> tuple[list[tuple], Outcome | None]:
        state = self.state
        text = line.decode("latin-1")
        acts: list[tuple] = []
        if state == RECEIVE_PING_REPLY:
            if not (text.startswith("+") or text.startswith("-NOAUTH")
                    or text.startswith("-NOPERM")
                    or text.startswith("-ERR operation not permitted")):
                return [("log", "warning", f"Error reply to PING from master: '{text}'")], \
                    Outcome("error")
            acts.append(("log", "notice", "Master replied to PING, replication can continue..."))
            # SEND_HANDSHAKE: every command at once, the replies are read in order
            if self.masterauth:
                argv = [b"AUTH"]
                if self.masteruser:
                    argv.append(self.masteruser.encode("utf-8", "surrogateescape"))
                argv.append(self.masterauth.encode("utf-8", "surrogateescape"))
                acts.append(("send", encode(argv)))
            acts.append(("send", encode([b"REPLCONF", b"listening-port", b"%d" % self.port])))
            if self.announce_ip:
                acts.append(("send", encode([b"REPLCONF", b"ip-address",
                                             self.announce_ip.encode()])))
            acts.append(("send", encode([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])))
            self.state = RECEIVE_AUTH_REPLY if self.masterauth else RECEIVE_PORT_REPLY
            return acts, None
        if state == RECEIVE_AUTH_REPLY:
            if text.startswith("-"):
                return [("log", "warning", f"Unable to AUTH to MASTER: {text}")], Outcome("error")
            self.state = RECEIVE_PORT_REPLY
            return acts, None
        option = _REPLCONF_OPTION.get(state)
        if option is not None:
            # a master that does not know the option still replicates (Redis logs it)
            if text.startswith("-"):
                acts.append(("log", "notice", "(Non critical) Master does not understand "
                             f"REPLCONF {option}: {text}"))
            if state == RECEIVE_CAPA_REPLY:
                acts += self._send_psync()
            elif state == RECEIVE_PORT_REPLY and self.announce_ip:
                self.state = RECEIVE_IP_REPLY
            else:
                self.state = RECEIVE_CAPA_REPLY
            return acts, None
        if state == RECEIVE_PSYNC_REPLY:
            return self._psync_reply(text)
        return [("log", "warning", "syncWithMaster(): state machine error, state should be "
                 f"RECEIVE_PSYNC but is {state}")], Outcome("error")

    def _send_psync(self) -> list[tuple]:
        acts: list[tuple] = []
        if self.cached is not None:
            replid, off = self.cached[0], b"%d" % (self.cached[1] + 1)
            acts.append(("log", "notice", "Trying a partial resynchronization (request "
                         f"{replid}:{off.decode()})."))
            argv = [b"PSYNC", replid.encode(), off]
        else:
            acts.append(("log", "notice",
                         "Partial resynchronization not possible (no cached master)"))
            argv = [b"PSYNC", b"?", b"-1"]
        if self.failover:
            argv.append(b"FAILOVER")
        acts.append(("send", encode(argv)))
        self.state = RECEIVE_PSYNC_REPLY
        return acts

    def _psync_reply(self, text: str) -> tuple[list[tuple], Outcome | None]:
        if text == "":
            return [], None  # the master keeps the link alive before it answers
        if text.startswith("+FULLRESYNC"):
            parts = text.split(" ")
            if len(parts) < 3 or len(parts[1]) != RUN_ID_SIZE:
                return [("log", "warning", "Master replied with wrong +FULLRESYNC syntax.")], \
                    Outcome("fullresync", None, -1)
            try:
                offset = int(parts[2])
            except ValueError:
                offset = 0
            self.state = TRANSFER
            return [("log", "notice", f"Full resync from master: {parts[1]}:{offset}")], \
                Outcome("fullresync", parts[1], offset)
        if text.startswith("+CONTINUE"):
            newid = text[10:].strip()
            self.state = CONNECTED
            return [("log", "notice", "Successful partial resynchronization with master.")], \
                Outcome("continue", newid if len(newid) == RUN_ID_SIZE else None)
        if text.startswith("-NOMASTERLINK") or text.startswith("-LOADING"):
            return [("log", "notice", "Master is currently unable to PSYNC but should be in "
                     f"the future: {text}")], Outcome("rejected" if self.failover else "error")
        if text.startswith("-ERR"):
            acts = [("log", "notice", "Master does not support PSYNC or is in error state "
                     f"(reply: {text})")]
        else:
            acts = [("log", "warning", f"Unexpected reply to PSYNC from master: {text}")]
        if self.failover:
            return acts, Outcome("rejected")  # the failover is undone, no SYNC
        # the old protocol: SYNC, then the payload without a +FULLRESYNC line
        acts.append(("log", "notice", "Retrying with SYNC..."))
        acts.append(("send", b"SYNC\r\n"))
        self.state = TRANSFER
        return acts, Outcome("fullresync", None, -1)


def bulk_header(line: bytes) -> tuple[str, object]:
    """The line that announces the RDB payload: ("size", n), ("eof", mark),
    ("ping", None) for a keep-alive newline, or ("error", log message)."""
    text = line.decode("latin-1")
    if text.startswith("-"):
        return "error", f"MASTER aborted replication with an error: {text[1:]}"
    if text == "":
        return "ping", None
    if not text.startswith("$"):
        return "error", ("Bad protocol from MASTER, the first byte is not '$' (we received "
                         f"'{text}'), are you sure the host and port are right?")
    if text.startswith("$EOF:") and len(text) - 5 >= RUN_ID_SIZE:
        return "eof", line[5:5 + RUN_ID_SIZE]
    digits = text[1:]
    n = 0
    i = 1 if digits[:1] in ("-", "+") else 0
    while i < len(digits) and digits[i].isdigit():
        i += 1
    try:
        n = int(digits[:i]) if i else 0
    except ValueError:
        n = 0
    return "size", n


class Payload:
    """The RDB after its header: feed(data) -> (payload bytes to keep, done, rest), rest
    being what followed the payload in the same read (the start of the command stream)."""

    def __init__(self, size: int = -1, mark: bytes | None = None) -> None:
        self.size = size  # -1 with a mark
        self.mark = mark
        self.read = 0  # bytes received (the mark included), for INFO
        self.held = b""  # tail kept back: it may be the beginning of the mark

    def feed(self, data: bytes) -> tuple[bytes, bool, bytes]:
        mark = self.mark
        if mark is None:
            need = self.size - self.read
            take = data[:need]
            self.read += len(take)
            return take, self.read >= self.size, data[len(take):]
        self.read += len(data)
        buf = self.held + data
        i = buf.find(mark)
        if i >= 0:
            self.held = b""
            self.read -= len(buf) - i - len(mark)  # what follows is not payload
            return buf[:i], True, buf[i + len(mark):]
        keep = len(mark) - 1
        if len(buf) <= keep:
            self.held = buf
            return b"", False, b""
        self.held = buf[-keep:]
        return buf[:-keep], False, b""


class StreamParser:
    """Frames the master's command stream. feed(data) then next() -> (argv, raw) per
    complete command, raw being every byte it spanned (the newlines a master sends as
    keep-alives before it included, as Redis's applied offset counts them); None when
    more bytes are needed. ValueError on a protocol error (inline commands included:
    a master never sends them)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0

    def feed(self, data: bytes) -> None:
        self.compact()
        self.buf += data

    def compact(self) -> None:
        """Drop what was consumed (a big value must not stay in memory twice)."""
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0

    def pending(self) -> int:
        return len(self.buf) - self.pos

    def next(self) -> tuple[list[bytes], int] | None:
        buf = self.buf
        start = p = self.pos
        size = len(buf)
        while p < size and buf[p] in (10, 13):
            p += 1
        if p >= size:
            return None
        if buf[p] != 42:
            nl = buf.find(b"\n", p)
            if nl < 0:
                return None
            raise ValueError("Master using the inline protocol. Desync?")
        nl = buf.find(b"\r\n", p)
        if nl < 0:
            return None
        n = int(buf[p + 1:nl])
        p = nl + 2
        argv: list[bytes] = []
        for _ in range(n):
            if p >= size:
                return None
            if buf[p] != 36:
                raise ValueError(f"expected '$', got '{chr(buf[p])}'")
            nl = buf.find(b"\r\n", p)
            if nl < 0:
                return None
            blen = int(buf[p + 1:nl])
            p = nl + 2
            if p + blen + 2 > size:
                return None
            argv.append(bytes(buf[p:p + blen]))
            p += blen + 2
        self.pos = p
        return argv, bytes(buf[start:p])
