"""The multi-part AOF manifest of Redis 7.0: `<appendfilename>.manifest` in the
appenddirname directory, one line per file:

    file appendonly.aof.1.base.rdb seq 1 type b
    file appendonly.aof.1.incr.aof seq 1 type i

The base file (type b) comes first, then history files (h, waiting to be deleted), then
the incremental files (i) in sequence order. Base files are named
`<appendfilename>.<seq>.base.rdb|aof`, incremental ones `<appendfilename>.<seq>.incr.aof`;
each kind numbers its own sequence. A name with spaces, quotes or unprintable bytes is
written double-quoted with C escapes (sdscatrepr) and read back with the config-line
splitter. Pure data: no I/O but read_file / write_file."""

from __future__ import annotations

import os

from bocho.config import split_args
from bocho.config_types import catrepr

BASE, HIST, INCR = "b", "h", "i"
MANIFEST_SUFFIX = ".manifest"
TEMP_PREFIX = "temp-"
MAX_LINE = 1024


class ManifestError(Exception):
    """A manifest Redis refuses; `line`/`linenum` say where (None when not line-bound)."""

    def __init__(self, msg: str, linenum: int = 0, line: str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.linenum = linenum
        self.line = line


class AofInfo:
    __slots__ = ("name", "seq", "type")

    def __init__(self, name: str, seq: int, type_: str) -> None:
        self.name = name
        self.seq = seq
        self.type = type_

    def copy(self) -> AofInfo:
        return AofInfo(self.name, self.seq, self.type)

    def line(self) -> str:
        name = self.name
        if _needs_repr(name):
            name = catrepr(name)
        return f"file {name} seq {self.seq} type {self.type}\n"

    def __repr__(self) -> str:
        return f"AofInfo({self.name!r}, {self.seq}, {self.type!r})"


def _needs_repr(s: str) -> bool:
    for ch in s.encode("utf-8", "surrogateescape"):
        if ch in b'\\"' or ch <= 32 or ch >= 127:
            return True
    return False


class Manifest:
    def __init__(self) -> None:
        self.base: AofInfo | None = None
        self.history: list[AofInfo] = []
        self.incr: list[AofInfo] = []
        self.base_seq = 0
        self.incr_seq = 0
        self.dirty = False

    def copy(self) -> Manifest:
        m = Manifest()
        m.base = self.base.copy() if self.base else None
        m.history = [a.copy() for a in self.history]
        m.incr = [a.copy() for a in self.incr]
        m.base_seq = self.base_seq
        m.incr_seq = self.incr_seq
        m.dirty = self.dirty
        return m

    def text(self) -> str:
        files = ([self.base] if self.base else []) + self.history + self.incr
        return "".join(a.line() for a in files)

    def empty(self) -> bool:
        return self.base is None and not self.incr

    def files(self) -> list[AofInfo]:
        """What loading reads: the base, then the incremental files."""
        return ([self.base] if self.base else []) + list(self.incr)

    # -- changes (each marks the manifest dirty) --------------------------------------

    def new_base(self, filename: str, preamble: bool) -> str:
        """A new base file's name; the current base (if any) becomes history."""
        if self.base is not None:
            self.base.type = HIST
            self.history.insert(0, self.base)
        self.base_seq += 1
        ext = ".rdb" if preamble else ".aof"
        self.base = AofInfo(f"{filename}.{self.base_seq}.base{ext}", self.base_seq, BASE)
        self.dirty = True
        return self.base.name

    def new_incr(self, filename: str) -> str:
        self.incr_seq += 1
        ai = AofInfo(f"{filename}.{self.incr_seq}.incr.aof", self.incr_seq, INCR)
        self.incr.append(ai)
        self.dirty = True
        return ai.name

    def last_incr(self, filename: str) -> str:
        return self.incr[-1].name if self.incr else self.new_incr(filename)

    def incr_to_history(self, keep_last: bool) -> None:
        """After a rewrite: the incremental files it covers become history (all but the
        one being written, when the AOF is on)."""
        if not self.incr:
            return
        done = self.incr[:-1] if keep_last else self.incr
        self.incr = self.incr[-1:] if keep_last else []
        for ai in reversed(done):
            self.history.insert(0, AofInfo(ai.name, ai.seq, HIST))
        self.dirty = True


def manifest_name(filename: str) -> str:
    return filename + MANIFEST_SUFFIX


def temp_incr_name(filename: str) -> str:
    return f"{TEMP_PREFIX}{filename}.incr"


def parse(data: bytes) -> Manifest:
    """aofLoadManifestFromFile's checks, with its error texts."""
    m = Manifest()
    maxseq = 0
    pos = 0
    size = len(data)
    if not size:
        raise ManifestError("Found an empty AOF manifest")
    n = 0
    while pos < size:
        # fgets into a MAX_LINE buffer: a line, or its first MAX_LINE bytes
        nl = data.find(b"\n", pos, pos + MAX_LINE)
        end = nl + 1 if nl >= 0 else min(size, pos + MAX_LINE)
        raw = data[pos:end]
        pos = end
        n += 1
        if raw.startswith(b"#"):
            continue
        if nl < 0:
            raise ManifestError("The AOF manifest file contains too long line", n)
        line = raw.decode("utf-8", "surrogateescape").strip(" \t\r\n")
        if not line:
            raise ManifestError("Invalid AOF manifest file format", n, line)
        try:
            argv = split_args(line)
        except ValueError:
            argv = []
        if len(argv) < 6 or len(argv) % 2:
            raise ManifestError("Invalid AOF manifest file format", n, line)
        name, seq, ftype = None, 0, ""
        for i in range(0, len(argv), 2):
            k, v = argv[i].lower(), argv[i + 1]
            if k == "file":
                name = v
                if os.path.basename(v) != v:
                    raise ManifestError("File can't be a path, just a filename", n, line)
            elif k == "seq":
                seq = _atoll(v)
            elif k == "type":
                ftype = v[:1]
        if not name or not seq or not ftype:
            raise ManifestError("Invalid AOF manifest file format", n, line)
        ai = AofInfo(name, seq, ftype)
        if ftype == BASE:
            if m.base is not None:
                raise ManifestError("Found duplicate base file information", n, line)
            m.base = ai
            m.base_seq = seq
        elif ftype == HIST:
            m.history.append(ai)
        elif ftype == INCR:
            if seq <= maxseq:
                raise ManifestError("Found a non-monotonic sequence number", n, line)
            m.incr.append(ai)
            m.incr_seq = maxseq = seq
        else:
            raise ManifestError("Unknown AOF file type", n, line)
    return m


def _atoll(s: str) -> int:
    """C's atoll: optional sign and leading digits, 0 when none."""
    s = s.lstrip()
    i = 1 if s[:1] in ("-", "+") else 0
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    return int(s[:j]) if j > i else 0


def read_file(path: str) -> Manifest:
    with open(path, "rb") as f:
        return parse(f.read())


def write_file(dirname: str, filename: str, m: Manifest) -> None:
    """Write the manifest to a temp file, fsync, rename over the real one, fsync the
    directory (writeAofManifestFile). OSError on failure."""
    name = manifest_name(filename)
    path = os.path.join(dirname, name)
    tmp = os.path.join(dirname, TEMP_PREFIX + name)
    fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
    try:
        data = m.text().encode("utf-8", "surrogateescape")
        while data:
            n = os.write(fd, data)
            data = data[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    fsync_dir(dirname)
    m.dirty = False


def fsync_dir(dirname: str) -> None:
    fd = os.open(dirname or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
