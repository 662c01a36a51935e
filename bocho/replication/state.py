"""What both sides of replication share: the replication IDs, the offset and the backlog.

A node is at one point of one history: `replid` names the history, `master_repl_offset`
is how many bytes of it the node has produced or applied. A promoted replica keeps its
old master's history as `replid2` up to `second_replid_offset` so that the other
replicas of that master can continue (PSYNC) with it instead of a full resync."""

from __future__ import annotations

import os
from typing import Any


class ReplOnly(list):
    """An argv propagated to replicas only, not to the AOF (PUBLISH: Redis's
    PROPAGATE_REPL); Server.propagate hands it to the hooks marked `replication`."""

    __slots__ = ()


def new_replid() -> str:
    return os.urandom(20).hex()


class Backlog:
    """The last `size` bytes of the replication stream, addressed by stream offset.

    `first` is the offset of buf[0] (Redis's repl_backlog_first_byte_offset: the
    offset of the first byte held, counting from 1). `floor`, when not 0, is the
    offset of the first byte a replica still waits for (one whose RDB is being made):
    nothing from there on is trimmed, so the backlog outgrows its size meanwhile, as
    Redis 7.0's replication buffer shared by the backlog and the replicas does; a
    PSYNC may continue from any of it."""

    __slots__ = ("buf", "first", "size", "floor")

    def __init__(self, size: int, first: int) -> None:
        self.buf = bytearray()
        self.size = size
        self.first = first
        self.floor = 0

    @property
    def histlen(self) -> int:
        return len(self.buf)

    def append(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        # trim in steps of a quarter of the size, not on every append (del is a memmove)
        extra = len(buf) - self.size
        if extra > self.size // 4 or (extra > 0 and len(data) >= self.size):
            self._trim(extra)

    def _trim(self, extra: int) -> None:
        if self.floor:
            extra = min(extra, self.floor - self.first)
        if extra > 0:
            del self.buf[:extra]
            self.first += extra

    def resize(self, size: int) -> None:
        self.size = size
        self._trim(len(self.buf) - size)

    def pin(self, floor: int) -> None:
        """Keep everything from offset `floor` on (0: nothing beyond the size)."""
        self.floor = floor
        self._trim(len(self.buf) - self.size)

    def range_from(self, offset: int) -> bytes | None:
        """The bytes from stream offset `offset` (the first byte a replica lacks) to the
        end, or None when the backlog no longer (or does not yet) hold them."""
        start = offset - self.first
        if start < 0 or start > len(self.buf):
            return None
        return bytes(self.buf[start:])


class ReplState:
    """srv.repl: one per server. master.py feeds it (propagate hook) and sends to
    replicas; replica.py feeds it with the master's stream as applied (so sub-replicas
    and a later PSYNC see the same bytes)."""

    def __init__(self, srv: Any) -> None:
        self.srv = srv
        self.replid = new_replid()
        self.replid2 = "0" * 40
        self.second_replid_offset = -1
        self.master_repl_offset = 0
        self.backlog: Backlog | None = None
        # Set by master.py: send(data) writes stream bytes to the attached replicas.
        self.send_to_replicas = None

    def create_backlog(self) -> None:
        if self.backlog is None:
            self.backlog = Backlog(self.srv.config["repl-backlog-size"],
                                   self.master_repl_offset + 1)

    def free_backlog(self) -> None:
        self.backlog = None

    def feed_raw(self, data: bytes) -> None:
        """Append stream bytes: the offset moves, the backlog keeps them, the replicas
        get them."""
        self.master_repl_offset += len(data)
        if self.backlog is not None:
            self.backlog.append(data)
        send = self.send_to_replicas
        if send is not None:
            send(data)

    def change_replid(self) -> None:
        """A new history (a replica that fully resynced, DEBUG change-repl-id)."""
        self.replid = new_replid()
        self.clear_replid2()

    def clear_replid2(self) -> None:
        self.replid2 = "0" * 40
        self.second_replid_offset = -1

    def shift_replid(self) -> None:
        """A replica becoming master: its old master's history stays valid up to here."""
        self.replid2 = self.replid
        self.second_replid_offset = self.master_repl_offset + 1
        self.replid = new_replid()
