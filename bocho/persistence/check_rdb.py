"""bocho-check-rdb: check an RDB file the way redis-check-rdb 7.0 does, with the same
report: one "[offset N] ..." line per AUX field and SELECTDB, the checksum verdict,
"\\o/ RDB looks OK! \\o/", the key/expire counts, and on a problem a
"--- RDB ERROR DETECTED ---" block naming the offset, the reason, what was being read
(and which key, of which type), exit status 1.

After the three "[info]" counts come the per-type counts, a bocho addition (one line
per data type, all six always printed, the RDB encodings seen in parentheses):
    [info] strings: 2
    [info] lists: 1 (quicklist-v2: 1)
    [info] sets: 0
    ...
Values are read with the server's own loader (rdb.load with on_key) with the deep
integrity checks on, as redis-check-rdb does."""

from __future__ import annotations

import sys
import time
from collections import Counter

from bocho.persistence import rdb, rdbio
from bocho.persistence.rdbio import RdbError

# redis-check-rdb's names of the RDB value types (index = type byte).
TYPE_NAMES = ("string", "list-linked", "set-hashtable", "zset-v1", "hash-hashtable",
              "zset-v2", "module-value", "", "", "hash-zipmap", "list-ziplist",
              "set-intset", "zset-ziplist", "hash-ziplist", "quicklist", "stream",
              "hash-listpack", "zset-listpack", "quicklist-v2")
# bocho also reads Redis 7.2's types 19-21.
_EXTRA_NAMES = {19: "stream-v2", 20: "set-listpack", 21: "stream-v3"}

# The data type of each RDB value type, for the per-type counts.
KINDS = ("strings", "lists", "sets", "zsets", "hashes", "streams")
_KIND_OF = {0: "strings", 1: "lists", 10: "lists", 14: "lists", 18: "lists",
            2: "sets", 11: "sets", 20: "sets",
            3: "zsets", 5: "zsets", 12: "zsets", 17: "zsets",
            4: "hashes", 9: "hashes", 13: "hashes", 16: "hashes",
            15: "streams", 19: "streams", 21: "streams"}

_DOING = {rdbio.OPCODE_EXPIRETIME: "read-expire", rdbio.OPCODE_EXPIRETIME_MS: "read-expire",
          rdbio.OPCODE_SELECTDB: "read-len", rdbio.OPCODE_RESIZEDB: "read-len",
          rdbio.OPCODE_AUX: "read-aux", rdbio.OPCODE_MODULE_AUX: "read-module-aux",
          rdbio.OPCODE_FUNCTION2: "read-functions", rdbio.OPCODE_FUNCTION_PRE_GA: "read-functions",
          rdbio.OPCODE_IDLE: "read-type", rdbio.OPCODE_FREQ: "read-type"}


def type_name(t: int) -> str:
    if 0 <= t < len(TYPE_NAMES):
        return TYPE_NAMES[t]
    return _EXTRA_NAMES.get(t, "unknown")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "backslashreplace")


class Checker:
    """One check of one file's bytes; lines go to out (a list of str)."""

    def __init__(self, out: list[str]) -> None:
        self.out = out
        self.offset = 0
        self.doing = "start"
        self.key: bytes | None = None
        # as redis-check-rdb, "type 0" until the first key has been read
        self.key_type = 0
        self.keys = 0
        self.expires = 0
        self.already_expired = 0
        self.by_type: Counter[int] = Counter()
        self.eof_at = -1
        self.now = int(time.time() * 1000)

    def info(self, offset: int, msg: str) -> None:
        self.out.append(f"[offset {offset}] {msg}")

    # rdb.load's trace and on_key hooks

    def trace(self, what: str, offset: int, arg) -> None:
        self.offset = offset
        if self.key is not None and what in ("type", "eof"):
            # rdb.load skipped the value (an empty collection, as the server does):
            # redis-check-rdb stops there
            raise RdbError("Unexpected EOF reading RDB file", offset)
        if what == "type":
            self.doing = "read-type"
        elif what == "op":
            if arg in _DOING:
                self.doing = _DOING[arg]
            elif arg in rdb.LOADERS:
                self.doing = "read-key"
                self.key_type = arg
            elif arg != rdbio.OPCODE_EOF:
                raise RdbError(f"Invalid object type: {arg}", offset)
        elif what == "key":
            self.key = arg
            self.keys += 1
            self.doing = "read-object-value"
        elif what == "aux":
            k, v = arg
            self.info(offset, f"AUX FIELD {_text(k)} = '{_text(v)}'")
        elif what == "db":
            self.info(offset, f"Selecting DB ID {arg}")
        elif what == "eof":
            self.eof_at = offset
            self.doing = "check-sum"

    def on_key(self, dbid: int, key: bytes, value, expire_ms: int, meta) -> None:
        if expire_ms != -1:
            self.expires += 1
            if expire_ms < self.now:
                self.already_expired += 1
        self.by_type[self.key_type] += 1
        self.key = None
        self.key_type = -1

    # the report

    def counts(self) -> None:
        out = self.out
        out.append(f"[info] {self.keys} keys read")
        out.append(f"[info] {self.expires} expires")
        out.append(f"[info] {self.already_expired} already expired")
        for kind in KINDS:
            types = sorted(t for t in self.by_type if _KIND_OF.get(t) == kind)
            n = sum(self.by_type[t] for t in types)
            detail = ", ".join(f"{type_name(t)}: {self.by_type[t]}" for t in types)
            out.append(f"[info] {kind}: {n}" + (f" ({detail})" if detail else ""))

    def error(self, offset: int, msg: str) -> None:
        out = self.out
        out.append("--- RDB ERROR DETECTED ---")
        out.append(f"[offset {offset}] {msg}")
        out.append(f"[additional info] While doing: {self.doing}")
        if self.key is not None:
            out.append(f"[additional info] Reading key '{_text(self.key)}'")
        if self.key_type != -1:
            out.append(f"[additional info] Reading type {self.key_type} "
                       f"({type_name(self.key_type)})")
        self.counts()

    def header_error(self, data: bytes) -> str | None:
        """redis-check-rdb's own header checks (before any rdb.load)."""
        if len(data) < 9:
            return "Unexpected EOF reading RDB file"
        if data[:5] != b"REDIS":
            return "Wrong signature trying to load DB from file"
        digits = bytes(data[5:9])
        n = 0
        while n < 4 and (digits[n:n + 1].isdigit() or (n == 0 and digits[:1] in b"+-")):
            n += 1
        try:
            version = int(digits[:n])
        except ValueError:
            version = 0
        if not 1 <= version <= rdbio.RDB_VERSION + 1:  # 7.2's version 11 too
            return f"Can't handle RDB format version {version}"
        return None

    def check(self, data: bytes) -> bool:
        bad = self.header_error(data)
        if bad is not None:
            self.error(0 if len(data) < 9 else 9, bad)
            return False
        try:
            res = rdb.load(None, data, on_key=self.on_key, verify_crc=False, deep=True,
                           trace=self.trace)
        except RdbError as e:
            self.error(e.offset if e.offset >= 0 else self.offset, e.message)
            return False
        except Exception as e:  # noqa: BLE001 - a codec tripping over bad bytes
            self.error(self.offset, f"{type(e).__name__}: {e}")
            return False
        if res.version >= 5:
            end = self.eof_at
            if end + 8 > len(data):
                self.error(end, "Unexpected EOF reading RDB file")
                return False
            stored = int.from_bytes(data[end:end + 8], "little")
            if stored == 0:
                self.info(end + 8, "RDB file was saved with checksum disabled: no check "
                                   "performed.")
            elif stored != rdbio.crc64(data[:end]):
                self.error(end + 8, "RDB CRC error")
                return False
            else:
                self.info(end + 8, "Checksum OK")
            self.offset = end + 8
        else:
            self.offset = self.eof_at
        self.info(self.offset, "\\o/ RDB looks OK! \\o/")
        self.counts()
        return True


def check_file(path: str, out: list[str]) -> bool:
    """Check one file, appending the report's lines to out. True when it is sane."""
    out.append(f"[offset 0] Checking RDB file {path}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"Cannot open {path}: {e.strerror}", file=sys.stderr)
        return False
    return Checker(out).check(data)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    if len(argv) != 2:
        print(f"Usage: {argv[0] if argv else 'bocho-check-rdb'} <rdb-file-name>",
              file=sys.stderr)
        return 1
    if argv[1] in ("-v", "--version"):
        from bocho import __version__
        print(f"bocho-check-rdb {__version__}")
        return 0
    out: list[str] = []
    from bocho import log
    log.logger.level = 1 << 30  # the loader's own log lines are not part of the report
    ok = check_file(argv[1], out)
    sys.stdout.write("\n".join(out) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
