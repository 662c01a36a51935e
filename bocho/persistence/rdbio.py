"""RDB's wire primitives: the opcodes and type bytes, the length encoding, the three
string encodings (raw, small integer, LZF), doubles, the CRC-64 and the RDB-version +
checksum footer of DUMP payloads. rdb.py (whole files), the type codecs and DUMP/RESTORE
all write and read through this one module.

Writing appends to a bytearray (put_* functions); a Writer flushes that buffer to a file
now and then and keeps the running checksum. Reading goes through a Reader over the
whole input (bytes or memoryview) that raises RdbError, carrying the offset, on a short
read or a malformed length, so a bad file is reported where it went wrong."""

from __future__ import annotations

import struct
from typing import BinaryIO

import anycrc
import lzf

RDB_VERSION = 10

# Value types (rdb.h). 20 and 21 are Redis 7.2's; 7.0 loads neither, we load what they
# hold when it is something 7.0 knows.
TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_MODULE = 6
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19
TYPE_SET_LISTPACK = 20
TYPE_STREAM_LISTPACKS_3 = 21

# Opcodes between values.
OPCODE_FUNCTION2 = 245
OPCODE_FUNCTION_PRE_GA = 246
OPCODE_MODULE_AUX = 247
OPCODE_IDLE = 248
OPCODE_FREQ = 249
OPCODE_AUX = 250
OPCODE_RESIZEDB = 251
OPCODE_EXPIRETIME_MS = 252
OPCODE_EXPIRETIME = 253
OPCODE_SELECTDB = 254
OPCODE_EOF = 255

# quicklist 2 node containers
QUICKLIST_NODE_PLAIN = 1
QUICKLIST_NODE_PACKED = 2

# The special string encodings behind a length byte 11xxxxxx.
ENC_INT8 = 0
ENC_INT16 = 1
ENC_INT32 = 2
ENC_LZF = 3

_CRC = anycrc.CRC(width=64, poly=0xad93d23594c935a9, init=0, refin=True, refout=True,
                  xorout=0)
_crc_calc = _CRC.calc
_ffi = lzf.ffi
_lzf_lib = lzf.lib
_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack_from


class RdbError(Exception):
    """A malformed or truncated RDB input; offset is where reading went wrong."""

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        if self.offset < 0:
            return self.message
        return f"{self.message} (at offset {self.offset})"


class EmptyKeyError(RdbError):
    """A list, hash, set or sorted set with no elements: a file load skips the key
    ("rdbLoadObject skipping empty key: ..."), RESTORE refuses the payload."""


def crc64(data, crc: int = 0) -> int:
    """Redis's CRC-64/Jones, continued from crc."""
    return _crc_calc(data, crc) if crc else _crc_calc(data)


# -- LZF ------------------------------------------------------------------------------------

def lzf_compress(data: bytes, max_out: int) -> bytes | None:
    """The LZF form of data if it fits in max_out bytes, else None."""
    if max_out <= 0:
        return None
    out = _ffi.new("char[]", max_out)
    n = _lzf_lib.lzf_compress(data, len(data), out, max_out)
    return _ffi.buffer(out, n)[:] if n else None


def lzf_decompress(data: bytes, out_len: int) -> bytes | None:
    """data expanded to exactly out_len bytes, or None when it does not."""
    if out_len == 0:
        return b"" if not data else None
    out = _ffi.new("char[]", out_len)
    n = _lzf_lib.lzf_decompress(data, len(data), out, out_len)
    return _ffi.buffer(out, n)[:] if n == out_len else None


# -- writing --------------------------------------------------------------------------------

def put_len(buf: bytearray, n: int) -> None:
    if n < 64:
        buf.append(n)
    elif n < 16384:
        buf += bytes((0x40 | (n >> 8), n & 0xFF))
    elif n <= 0xFFFFFFFF:
        buf.append(0x80)
        buf += n.to_bytes(4, "big")
    else:
        buf.append(0x81)
        buf += n.to_bytes(8, "big")


def int_encoding(s) -> bytes | None:
    """rdbTryIntegerEncoding: the 2-5 byte integer form of s when s is the canonical
    text of an integer that fits 32 bits, else None."""
    n = len(s)
    if n == 0 or n > 11:
        return None
    c = s[0]
    if not (48 <= c <= 57 or c == 45):
        return None
    try:
        v = int(s)
    except ValueError:
        return None
    if b"%d" % v != s:
        return None
    if -128 <= v <= 127:
        return bytes((0xC0, v & 0xFF))
    if -32768 <= v <= 32767:
        return b"\xc1" + v.to_bytes(2, "little", signed=True)
    if -2147483648 <= v <= 2147483647:
        return b"\xc2" + v.to_bytes(4, "little", signed=True)
    return None


def put_str(buf: bytearray, s, compress: bool = True) -> None:
    """rdbSaveRawString: an integer form, LZF (over 20 bytes, when it saves 4+), or raw."""
    n = len(s)
    if n <= 11:
        enc = int_encoding(s)
        if enc is not None:
            buf += enc
            return
    elif compress and n > 20:
        c = lzf_compress(bytes(s), n - 4)
        if c is not None:
            buf.append(0xC3)
            put_len(buf, len(c))
            put_len(buf, n)
            buf += c
            return
    put_len(buf, n)
    buf += s


def put_int_str(buf: bytearray, v: int) -> None:
    """rdbSaveLongLongAsStringObject: an integer saved as a string value."""
    if -2147483648 <= v <= 2147483647:
        buf += int_encoding(b"%d" % v)  # type: ignore[operator]
    else:
        s = b"%d" % v
        put_len(buf, len(s))
        buf += s


def put_double(buf: bytearray, d: float) -> None:
    """rdbSaveBinaryDoubleValue: 8 bytes little-endian."""
    buf += _pack_d(d)


def put_millis(buf: bytearray, ms: int) -> None:
    buf += ms.to_bytes(8, "little", signed=True)


def dump_footer(body: bytes) -> bytes:
    """body + RDB version (2 bytes LE) + CRC-64 of both (8 bytes LE): a DUMP payload."""
    body = body + RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


def check_dump_footer(payload: bytes, verify_crc: bool = True) -> bool:
    """verifyDumpPayload: a known RDB version and (unless disabled) a matching CRC
    (a zero CRC is no exception: Redis 7.0 refuses it too)."""
    if len(payload) < 10:
        return False
    if int.from_bytes(payload[-10:-8], "little") > RDB_VERSION:
        return False
    if not verify_crc:
        return True
    crc = int.from_bytes(payload[-8:], "little")
    return crc == crc64(payload[:-8])


class Writer:
    """A buffered RDB output to a binary file with a running CRC-64."""

    __slots__ = ("buf", "f", "crc", "written", "checksum")

    FLUSH_AT = 1 << 16

    def __init__(self, f: BinaryIO, checksum: bool = True) -> None:
        self.buf = bytearray()
        self.f = f
        self.crc = 0
        self.written = 0
        self.checksum = checksum

    def maybe_flush(self) -> None:
        if len(self.buf) >= self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            data = bytes(self.buf)
            if self.checksum:
                self.crc = crc64(data, self.crc)
            self.f.write(data)
            self.written += len(data)
            self.buf.clear()

    def finish(self) -> None:
        """EOF opcode and the checksum (zero when rdbchecksum is off)."""
        self.buf.append(OPCODE_EOF)
        self.flush()
        self.f.write((self.crc if self.checksum else 0).to_bytes(8, "little"))
        self.written += 8


# -- reading --------------------------------------------------------------------------------

class Reader:
    """Reads RDB items from data (a whole file or payload) starting at pos."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def fail(self, what: str) -> RdbError:
        return RdbError(what, self.pos)

    def take(self, n: int):
        p = self.pos
        q = p + n
        if n < 0 or q > self.end:
            raise RdbError("Unexpected EOF reading RDB file", p)
        self.pos = q
        return self.data[p:q]

    def byte(self) -> int:
        p = self.pos
        if p >= self.end:
            raise RdbError("Unexpected EOF reading RDB file", p)
        self.pos = p + 1
        return self.data[p]

    def length_or_enc(self) -> tuple[int, bool]:
        """(length, False) or (special string encoding, True)."""
        b = self.byte()
        t = b >> 6
        if t == 0:
            return b, False
        if t == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if t == 3:
            return b & 0x3F, True
        if b == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if b == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        self.pos -= 1
        raise self.fail(f"Unknown length encoding {b} in rdbLoadLen()")

    def length(self) -> int:
        n, enc = self.length_or_enc()
        if enc:
            self.pos -= 1
            raise self.fail("Unexpected encoded length")
        return n

    def string(self) -> bytes:
        n, enc = self.length_or_enc()
        if not enc:
            return bytes(self.take(n))
        if n == ENC_INT8:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if n == ENC_INT16:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if n == ENC_INT32:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if n == ENC_LZF:
            at = self.pos
            clen = self.length()
            ulen = self.length()
            out = lzf_decompress(bytes(self.take(clen)), ulen)
            if out is None:
                raise RdbError("Invalid LZF compressed string", at)
            return out
        self.pos -= 1
        raise self.fail(f"Unknown RDB string encoding type {n}")

    def double_bin(self) -> float:
        return _unpack_d(self.take(8))[0]

    def double_text(self) -> float:
        """rdbLoadDoubleValue (zset v1 scores): a length byte, 253 nan, 254 inf, 255 -inf."""
        n = self.byte()
        if n == 253:
            return float("nan")
        if n == 254:
            return float("inf")
        if n == 255:
            return float("-inf")
        raw = bytes(self.take(n))
        try:
            return float(raw)
        except ValueError:
            raise RdbError("Invalid double value", self.pos - n) from None

    def millis(self) -> int:
        return int.from_bytes(self.take(8), "little", signed=True)

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def at_end(self) -> bool:
        return self.pos >= self.end
