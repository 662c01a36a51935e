"""`bocho-check-aof [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>`:
redis-check-aof's checks and messages. A manifest is checked file by file (the base —
RDB preamble or commands — then the incremental files); an old single-file AOF (with or
without RDB preamble) on its own. --fix truncates a broken tail of the last file (after
asking), --truncate-to-timestamp cuts the last file at the first #TS annotation past
the given time."""

from __future__ import annotations

import os
import sys

from bocho.persistence import manifest as mf

CHECK_OK, CHECK_EMPTY, CHECK_TRUNCATED, CHECK_TS_TRUNCATED = range(4)


class Abort(Exception):
    """Print the message and exit 1."""


class Checker:
    def __init__(self, fix: bool, to_timestamp: int, out=None) -> None:
        self.fix = fix
        self.to_timestamp = to_timestamp
        self.line = 1  # counted across the files, as redis-check-aof does
        self.epos = 0  # where the last read started (the error messages' offset)
        self.out = out or sys.stdout

    def say(self, msg: str) -> None:
        self.out.write(msg + "\n")

    def check_single(self, name: str, path: str, last_file: bool, preamble: bool) -> int:
        try:
            f = open(path, "r+b")
        except OSError as e:
            raise Abort(f"Cannot open file {path}: {e.strerror}, aborting...") from None
        with f:
            data = f.read()
            size = len(data)
            if not size:
                return CHECK_EMPTY
            pos = 0
            at = 0
            if preamble:
                at = self._check_rdb(name, data)
            error = ""
            multi = 0
            while True:
                if not multi:
                    pos = at
                if at >= size:
                    break
                ch = data[at:at + 1]
                if ch == b"#":
                    cut = self._annotation(name, path, data, at, last_file)
                    if cut is not None:
                        f.truncate(cut)
                        return CHECK_TS_TRUNCATED
                    nl = data.find(b"\n", at, at + 1023)
                    at = nl + 1 if nl >= 0 else min(size, at + 1023)
                elif ch == b"*":
                    at, multi, ok, error = self._resp(path, data, at, multi)
                    if not ok:
                        break
                else:
                    self.say(f"AOF {name} format error")
                    break
            if at >= size and multi and not error:
                error = _err(self.epos, "Reached EOF before reading EXEC for MULTI")
            if error:
                self.say(error)
            diff = size - pos
            if diff == 0 and self.to_timestamp:
                self.say(f"Truncate nothing in AOF {name} to timestamp {self.to_timestamp}")
                return CHECK_OK
            self.say(f"AOF analyzed: filename={name}, size={size}, ok_up_to={pos}, "
                     f"ok_up_to_line={self.line}, diff={diff}")
            if diff > 0:
                if not self.fix:
                    raise Abort(f"AOF {name} is not valid. Use the --fix option to try "
                                "fixing it.")
                if not last_file:
                    raise Abort(f"Failed to truncate AOF {name} because it is not the "
                                "last file")
                self.say(f"This will shrink the AOF {name} from {size} bytes, with {diff} "
                         f"bytes, to {pos} bytes")
                self.out.write("Continue? [y/N]: ")
                self.out.flush()
                answer = sys.stdin.readline()
                if not answer[:1].lower() == "y":
                    raise Abort("Aborting...")
                try:
                    f.truncate(pos)
                except OSError:
                    raise Abort(f"Failed to truncate AOF {name}") from None
                return CHECK_TRUNCATED
        return CHECK_OK

    def _check_rdb(self, name: str, data: bytes) -> int:
        from bocho.persistence import rdb
        from bocho.persistence.rdbio import RdbError
        keys = [0]

        def on_key(*_args) -> None:
            keys[0] += 1

        self.say(f"[offset 0] Checking RDB file {name}")
        try:
            res = rdb.load(None, data, on_key=on_key)
        except (RdbError, Exception) as e:  # noqa: BLE001 - any failure means not sane
            self.say(f"--- RDB ERROR DETECTED ---\n[additional info] {e}")
            raise Abort("RDB preamble of AOF file is not sane, aborting.") from None
        self.say(f"[offset {res.end}] \\o/ RDB looks OK! \\o/")
        self.say(f"[info] {keys[0]} keys read")
        self.say("RDB preamble is OK, proceeding with AOF tail...")
        return res.end

    def _annotation(self, name: str, path: str, data: bytes, at: int,
                    last_file: bool) -> int | None:
        """A '#' line: the offset to truncate at (a #TS past --truncate-to-timestamp)."""
        if not self.to_timestamp or data[at:at + 4] != b"#TS:":
            return None
        nl = data.find(b"\n", at, at + 1023)
        line = data[at + 4:nl + 1 if nl >= 0 else at + 1023]
        digits = line.rstrip(b"\r\n")
        if not digits.lstrip(b"-").isdigit() or not line[len(digits):].startswith(b"\r"):
            raise Abort("Invalid timestamp annotation")
        if int(digits) <= self.to_timestamp:
            return None
        if at == 0:
            raise Abort(f"AOF {path} has nothing before timestamp {self.to_timestamp}, "
                        "aborting...")
        if not last_file:
            raise Abort(f"Failed to truncate AOF {path} to timestamp {self.to_timestamp} to "
                        f"offset {at} because it is not the last file.\nIf you insist, please "
                        "delete all files after this file according to the manifest file and "
                        "delete the corresponding records in manifest file manually. Then "
                        "re-run redis-check-aof.")
        return at

    def _read_long(self, data: bytes, at: int, prefix: bytes) -> tuple[int | None, int, str]:
        """readLong: (value or None, new offset, error)."""
        self.epos = at
        if at >= len(data):
            return None, at, ""
        nl = data.find(b"\n", at, at + 127)
        end = nl + 1 if nl >= 0 else min(len(data), at + 127)
        buf = data[at:end]
        if buf[:1] != prefix:
            got = buf[:1].decode("latin-1") or "\\0"
            return None, end, _err(at, f"Expected prefix '{prefix.decode()}', got: '{got}'")
        i = 1
        while i < len(buf) and buf[i:i + 1] in b" \t":
            i += 1
        j = i + 1 if buf[i:i + 1] in (b"-", b"+") else i
        while j < len(buf) and 48 <= buf[j] <= 57:
            j += 1
        value = int(buf[i:j]) if j > i and buf[i:j] not in (b"-", b"+") else 0
        if buf[j:j + 2] != b"\r\n":
            b0 = buf[j] if j < len(buf) else 0
            b1 = buf[j + 1] if j + 1 < len(buf) else 0
            return None, end, _err(at, f"Expected \\r\\n, got: {b0:02x}{b1:02x}")
        self.line += 1
        return value, end, ""

    def _resp(self, path: str, data: bytes, at: int, multi: int
              ) -> tuple[int, int, bool, str]:
        """processRESP: (offset, multi depth, parsed fine, error message)."""
        argc, at, err = self._read_long(data, at, b"*")
        if argc is None:
            return at, multi, False, err
        for i in range(argc):
            n, at, err = self._read_long(data, at, b"$")
            if n is None:
                return at, multi, False, err
            if n < 0:
                return at, multi, False, _err(at, f"Expected to read string of {n} bytes, "
                                                  "which is not in the suitable range")
            self.epos = at
            chunk = data[at:at + n + 2]
            if len(chunk) != n + 2:
                return (at + len(chunk), multi, False,
                        _err(at, f"Expected to read {n + 2} bytes, got {len(chunk)} bytes"))
            if chunk[n:] != b"\r\n":
                return (at + n + 2, multi, False,
                        _err(at, f"Expected \\r\\n, got: {chunk[n]:02x}{chunk[n + 1]:02x}"))
            self.line += 1
            if i == 0:
                word = chunk[:n].lower()
                if word == b"multi":
                    multi += 1
                    if multi > 1:
                        return at + n + 2, multi, False, _err(
                            at, f"Unexpected MULTI in AOF {path}")
                elif word == b"exec":
                    multi -= 1
                    if multi:
                        return at + n + 2, multi, False, _err(
                            at, f"Unexpected EXEC in AOF {path}")
            at += n + 2
        return at, multi, True, ""


def _err(pos: int, msg: str) -> str:
    return f"0x{pos:16x}: {msg}"


def file_is_manifest(path: str) -> bool:
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    found = False
    while pos < len(data):
        nl = data.find(b"\n", pos, pos + mf.MAX_LINE)
        end = nl + 1 if nl >= 0 else min(len(data), pos + mf.MAX_LINE)
        if data[pos:pos + 4] == b"file":
            found = True
        pos = end
    return found


def file_is_rdb(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) >= 8 and head[:5] == b"REDIS"


def run(argv: list[str], out=None) -> int:
    out = out or sys.stdout
    prog = argv[0] if argv else "bocho-check-aof"
    fix = False
    to_ts = 0
    args = argv[1:]
    if len(args) == 1:
        path = args[0]
    elif len(args) == 2 and args[0] == "--fix":
        fix, path = True, args[1]
    elif len(args) == 3 and args[0] == "--truncate-to-timestamp":
        try:
            to_ts = int(args[1], 10)
        except ValueError:
            out.write("Invalid timestamp, aborting...\n")
            return 1
        path = args[2]
    else:
        out.write(f"Usage: {prog} [--fix|--truncate-to-timestamp $timestamp] "
                  "<file.manifest|file.aof>\n")
        return 1
    chk = Checker(fix, to_ts, out)
    try:
        try:
            is_manifest = file_is_manifest(path)
            preamble = not is_manifest and file_is_rdb(path)
        except OSError as e:
            raise Abort(f"Cannot open file {path}: {e.strerror}") from None
        if is_manifest:
            check_multi_part(chk, os.path.dirname(path) or ".", path)
        else:
            chk.say("Start checking Old-Style AOF")
            _report(chk, "AOF", path, chk.check_single(path, path, True, preamble))
    except Abort as e:
        out.write(f"{e}\n")
        return 1
    return 0


def check_multi_part(chk: Checker, dirpath: str, manifest_path: str) -> None:
    chk.say("Start checking Multi Part AOF")
    try:
        m = mf.read_file(manifest_path)
    except mf.ManifestError as e:
        msg = "\n*** FATAL AOF MANIFEST FILE ERROR ***\n"
        if e.line is not None:
            msg += f"Reading the manifest file, at line {e.linenum}\n>>> '{e.line}'\n"
        raise Abort(msg + e.msg) from None
    files = m.files()
    for i, ai in enumerate(files):
        path = os.path.join(dirpath, ai.name)
        last = i == len(files) - 1
        if ai is m.base:
            try:
                preamble = file_is_rdb(path)
            except OSError as e:
                raise Abort(f"Cannot open file {path}: {e.strerror}") from None
            chk.say(f"Start to check BASE AOF ({'RDB' if preamble else 'RESP'} format).")
            _report(chk, "BASE AOF", ai.name, chk.check_single(ai.name, path, last, preamble))
        else:
            if i == (1 if m.base else 0):
                chk.say("Start to check INCR files.")
            _report(chk, "INCR AOF", ai.name, chk.check_single(ai.name, path, last, False))
    chk.say("All AOF files and manifest are valid")


def _report(chk: Checker, kind: str, name: str, ret: int) -> None:
    if ret == CHECK_OK:
        chk.say(f"{kind} {name} is valid")
    elif ret == CHECK_EMPTY:
        chk.say(f"{kind} {name} is empty")
    elif ret == CHECK_TS_TRUNCATED:
        chk.say(f"Successfully truncated AOF {name} to timestamp {chk.to_timestamp}")
    else:
        chk.say(f"Successfully truncated AOF {name}")


def main() -> None:
    sys.exit(run(sys.argv))


if __name__ == "__main__":
    main()
