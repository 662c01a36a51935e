"""The Lua libraries Redis bundles with its interpreter — cjson, cmsgpack, bit and struct —
written in Python and exposed to the scripts' Lua state (lupa's Lua has none of them).

Each library is a dict of Python functions that return (True, values...); errors are
LibError with the library's own text, raised to Lua as the C library would (_guard)."""

from __future__ import annotations

import json
import math
import struct as _struct
from typing import Any

import lupa.lua51 as lupa

lua_type = lupa.lua_type


class LibError(Exception):
    pass


def _is_table(v: Any) -> bool:
    return lua_type(v) == "table"


def _table_items(t) -> list:
    return list(t.items())


def _array_size(t) -> int:
    """Lua cjson/cmsgpack: a table whose keys are exactly 1..n is an array of n (-1 if
    not an array)."""
    n = 0
    mx = 0
    for k, _ in t.items():
        if type(k) is int and k >= 1:
            n += 1
            if k > mx:
                mx = k
        elif type(k) is float and k.is_integer() and k >= 1:
            n += 1
            mx = max(mx, int(k))
        else:
            return -1
    return mx if n == mx else -1


def _num_to_int(v) -> int:
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return 0
        return int(v)
    return v


# -- bit (LuaBitOp) -------------------------------------------------------------------------

def _tobit(x) -> int:
    if type(x) is bytes:
        try:
            x = float(x)
        except ValueError:
            raise LibError("bad argument #1 (number expected)") from None
    if not isinstance(x, (int, float)):
        raise LibError("bad argument #1 (number expected)")
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return 0
        x = math.floor(x + 0.5) if x - math.floor(x) != 0.5 else round(x)
    x &= 0xFFFFFFFF
    return x - 0x100000000 if x & 0x80000000 else x


def _s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - 0x100000000 if x & 0x80000000 else x


def _bitlib() -> dict:
    def tobit(x):
        return (True, _tobit(x))

    def bnot(x):
        return (True, _s32(~_tobit(x)))

    def band(*a):
        r = -1
        for x in a:
            r &= _tobit(x)
        return (True, _s32(r))

    def bor(*a):
        r = 0
        for x in a:
            r |= _tobit(x)
        return (True, _s32(r))

    def bxor(*a):
        r = 0
        for x in a:
            r ^= _tobit(x)
        return (True, _s32(r))

    def lshift(x, n):
        return (True, _s32(_tobit(x) << (_tobit(n) & 31)))

    def rshift(x, n):
        return (True, _s32((_tobit(x) & 0xFFFFFFFF) >> (_tobit(n) & 31)))

    def arshift(x, n):
        return (True, _s32(_tobit(x) >> (_tobit(n) & 31)))

    def rol(x, n):
        v, s = _tobit(x) & 0xFFFFFFFF, _tobit(n) & 31
        return (True, _s32((v << s) | (v >> (32 - s))))

    def ror(x, n):
        v, s = _tobit(x) & 0xFFFFFFFF, _tobit(n) & 31
        return (True, _s32((v >> s) | (v << (32 - s))))

    def bswap(x):
        v = _tobit(x) & 0xFFFFFFFF
        return (True, _s32(int.from_bytes(v.to_bytes(4, "little"), "big")))

    def tohex(x, n=8):
        v = _tobit(x) & 0xFFFFFFFF
        n = _tobit(n)
        upper = n < 0
        n = min(abs(n), 8) or 8
        s = f"{v:08x}"
        s = s[-n:]
        return (True, (s.upper() if upper else s).encode())

    return {"tobit": tobit, "bnot": bnot, "band": band, "bor": bor, "bxor": bxor,
            "lshift": lshift, "rshift": rshift, "arshift": arshift, "rol": rol, "ror": ror,
            "bswap": bswap, "tohex": tohex}


# -- cjson --------------------------------------------------------------------------------

_ESC = {0x22: b'\\"', 0x5C: b"\\\\", 0x2F: b"\\/", 0x08: b"\\b", 0x0C: b"\\f",
        0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}
_ESCAPES = [(_ESC.get(i) or (b"\\u%04x" % i if i < 0x20 or i == 0x7F else bytes([i])))
            for i in range(256)]


def _json_str(s: bytes) -> bytes:
    return b'"' + b"".join([_ESCAPES[c] for c in s]) + b'"'


def _fmt14(d: float) -> bytes:
    if isinstance(d, int):
        if -10**14 < d < 10**14:
            return b"%d" % d
        d = float(d)
    return b"%.14g" % d


class CJson:
    def __init__(self, lua, null) -> None:
        self.lua = lua
        self.null = null
        self._rawequal = lua.eval("rawequal")
        self.encode_max_depth = 1000
        self.decode_max_depth = 1000
        self.invalid_numbers = False
        self.sparse_ratio = 2
        self.sparse_safe = 10
        self.sparse_convert = False

    def is_null(self, v) -> bool:
        return bool(self._rawequal(v, self.null))

    def _num(self, v) -> bytes:
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            if not self.invalid_numbers:
                raise LibError("Cannot serialise number: must not be NaN or Inf")
            if math.isnan(v):
                return b"nan"
            return b"inf" if v > 0 else b"-inf"
        return _fmt14(v)

    def _enc(self, v, depth: int, out: list) -> None:
        t = type(v)
        if t is bytes:
            out.append(_json_str(v))
        elif t is bool:
            out.append(b"true" if v else b"false")
        elif t is int or t is float:
            out.append(self._num(v))
        elif v is None:
            out.append(b"null")
        elif _is_table(v):
            depth += 1
            if depth > self.encode_max_depth:
                raise LibError(f"Cannot serialise, excessive nesting ({depth})")
            n = self._array_len(v)
            if n > 0:
                out.append(b"[")
                for i in range(1, n + 1):
                    if i > 1:
                        out.append(b",")
                    self._enc(v[i], depth, out)
                out.append(b"]")
                return
            items = _table_items(v)
            out.append(b"{")
            first = True
            for k, x in items:
                if not first:
                    out.append(b",")
                first = False
                tk = type(k)
                if tk is bytes:
                    out.append(_json_str(k))
                elif tk is int or tk is float:
                    out.append(b'"' + self._num(k) + b'"')
                else:
                    raise LibError(f"Cannot serialise {_tname(k)}: table key must be a number or string")
                out.append(b":")
                self._enc(x, depth, out)
            out.append(b"}")
        elif lua_type(v) == "userdata" and self.is_null(v):
            out.append(b"null")
        else:
            raise LibError(f"Cannot serialise {_tname(v)}: type not supported")

    def _array_len(self, t) -> int:
        mx = 0
        n = 0
        for k, _ in t.items():
            if (type(k) is int or type(k) is float) and k >= 1 and float(k).is_integer():
                k = int(k)
                mx = max(mx, k)
                n += 1
            else:
                return -1
        if self.sparse_ratio > 0 and mx > n * self.sparse_ratio and mx > self.sparse_safe:
            if not self.sparse_convert:
                raise LibError("Cannot serialise table: excessively sparse array")
            return -1
        return mx

    def encode(self, *args):
        if len(args) != 1:
            raise LibError("bad argument #1 to 'encode' (expected 1 argument)")
        out: list = []
        self._enc(args[0], 0, out)
        return (True, b"".join(out))

    def _to_lua(self, v, depth: int):
        t = type(v)
        if t is str:
            return v.encode("utf-8", "surrogatepass")
        if t is dict or t is list:
            if depth >= self.decode_max_depth:
                raise LibError(f"Found too many nested data structures ({depth + 1})")
            tab = self.lua.table()
            if t is dict:
                for k, x in v.items():
                    tab[k.encode("utf-8", "surrogatepass")] = self._to_lua(x, depth + 1)
            else:
                for i, x in enumerate(v, 1):
                    tab[i] = self._to_lua(x, depth + 1)
            return tab
        if v is None:
            return self.null
        if t is int and not -2**53 <= v <= 2**53:
            return float(v)
        return v

    def decode(self, *args):
        if len(args) != 1:
            raise LibError("bad argument #1 to 'decode' (expected 1 argument)")
        s = args[0]
        if type(s) is not bytes:
            raise LibError("bad argument #1 to 'decode' (string expected)")
        try:
            v = json.loads(s.decode("utf-8", "surrogateescape"), parse_constant=_json_const)
        except (ValueError, RecursionError):
            raise LibError("Expected value but found invalid token at character 1") from None
        return (True, self._to_lua(v, 0))

    def _setting(self, name: str, *args):
        if name == "encode_max_depth":
            if args and args[0] is not None:
                self.encode_max_depth = int(args[0])
            return (True, self.encode_max_depth)
        if name == "decode_max_depth":
            if args and args[0] is not None:
                self.decode_max_depth = int(args[0])
            return (True, self.decode_max_depth)
        if name == "encode_invalid_numbers":
            if args and args[0] is not None:
                self.invalid_numbers = bool(args[0]) and args[0] != b"off"
            return (True, self.invalid_numbers)
        return (True,)

    def lib(self) -> dict:
        def setting(name):
            return lambda *a: self._setting(name, *a)
        fns = {"encode": self.encode, "decode": self.decode}
        for n in ("encode_max_depth", "decode_max_depth", "encode_invalid_numbers",
                  "decode_invalid_numbers", "encode_keep_buffer", "encode_number_precision",
                  "encode_sparse_array", "decode_array_with_array_mt"):
            fns[n] = setting(n)
        return fns


def _json_const(s: str):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[s]


def _tname(v) -> str:
    if type(v) is bool:
        return "boolean"
    if v is None:
        return "nil"
    t = lua_type(v)
    return t or "userdata"


# -- cmsgpack -----------------------------------------------------------------------------

MAX_NESTING = 16


def _mp_int(n: int, out: list) -> None:
    if n >= 0:
        if n < 128:
            out.append(bytes([n]))
        elif n < 256:
            out.append(b"\xcc" + bytes([n]))
        elif n < 65536:
            out.append(b"\xcd" + n.to_bytes(2, "big"))
        elif n < 2**32:
            out.append(b"\xce" + n.to_bytes(4, "big"))
        else:
            out.append(b"\xcf" + (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"))
    else:
        if n >= -32:
            out.append(bytes([n & 0xFF]))
        elif n >= -128:
            out.append(b"\xd0" + (n & 0xFF).to_bytes(1, "big"))
        elif n >= -32768:
            out.append(b"\xd1" + (n & 0xFFFF).to_bytes(2, "big"))
        elif n >= -2**31:
            out.append(b"\xd2" + (n & 0xFFFFFFFF).to_bytes(4, "big"))
        else:
            out.append(b"\xd3" + (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big"))


def _mp_pack(v, depth: int, out: list) -> None:
    t = type(v)
    if t is bytes:
        n = len(v)
        if n < 32:
            out.append(bytes([0xA0 | n]))
        elif n <= 0xFF:
            out.append(b"\xd9" + bytes([n]))
        elif n <= 0xFFFF:
            out.append(b"\xda" + n.to_bytes(2, "big"))
        else:
            out.append(b"\xdb" + n.to_bytes(4, "big"))
        out.append(v)
    elif t is bool:
        out.append(b"\xc3" if v else b"\xc2")
    elif t is int:
        if -2**63 <= v < 2**64:
            _mp_int(v, out)
        else:
            _mp_double(float(v), out)
    elif t is float:
        if v.is_integer() and -2**63 <= v < 2**63:
            _mp_int(int(v), out)
        else:
            _mp_double(v, out)
    elif v is not None and _is_table(v) and depth < MAX_NESTING:
        n = _array_size(v)
        if n >= 0 and not (n == 0 and False):
            if n < 16:
                out.append(bytes([0x90 | n]))
            elif n <= 0xFFFF:
                out.append(b"\xdc" + n.to_bytes(2, "big"))
            else:
                out.append(b"\xdd" + n.to_bytes(4, "big"))
            for i in range(1, n + 1):
                _mp_pack(v[i], depth + 1, out)
        else:
            items = _table_items(v)
            n = len(items)
            if n < 16:
                out.append(bytes([0x80 | n]))
            elif n <= 0xFFFF:
                out.append(b"\xde" + n.to_bytes(2, "big"))
            else:
                out.append(b"\xdf" + n.to_bytes(4, "big"))
            for k, x in items:
                _mp_pack(k, depth + 1, out)
                _mp_pack(x, depth + 1, out)
    else:
        out.append(b"\xc0")


def _mp_double(d: float, out: list) -> None:
    try:
        f = _struct.unpack(">f", _struct.pack(">f", d))[0]
    except OverflowError:
        f = None
    if f == d or (f is not None and math.isnan(d)):
        out.append(b"\xca" + _struct.pack(">f", d))
    else:
        out.append(b"\xcb" + _struct.pack(">d", d))


class _Unpacker:
    def __init__(self, lua, data: bytes, pos: int) -> None:
        self.lua = lua
        self.d = data
        self.p = pos

    def need(self, n: int) -> bytes:
        if self.p + n > len(self.d):
            raise LibError("Missing bytes in input.")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def obj(self):
        c = self.need(1)[0]
        if c < 0x80:
            return c
        if c >= 0xE0:
            return c - 256
        if 0xA0 <= c <= 0xBF:
            return self.need(c & 0x1F)
        if 0x90 <= c <= 0x9F:
            return self.array(c & 0x0F)
        if 0x80 <= c <= 0x8F:
            return self.map(c & 0x0F)
        if c == 0xC0:
            return None
        if c == 0xC2:
            return False
        if c == 0xC3:
            return True
        ints = {0xCC: (1, False), 0xCD: (2, False), 0xCE: (4, False), 0xCF: (8, False),
                0xD0: (1, True), 0xD1: (2, True), 0xD2: (4, True), 0xD3: (8, True)}
        if c in ints:
            n, signed = ints[c]
            return int.from_bytes(self.need(n), "big", signed=signed)
        if c == 0xCA:
            return _struct.unpack(">f", self.need(4))[0]
        if c == 0xCB:
            return _struct.unpack(">d", self.need(8))[0]
        if c in (0xD9, 0xC4):
            return self.need(self.need(1)[0])
        if c in (0xDA, 0xC5):
            return self.need(int.from_bytes(self.need(2), "big"))
        if c in (0xDB, 0xC6):
            return self.need(int.from_bytes(self.need(4), "big"))
        if c == 0xDC:
            return self.array(int.from_bytes(self.need(2), "big"))
        if c == 0xDD:
            return self.array(int.from_bytes(self.need(4), "big"))
        if c == 0xDE:
            return self.map(int.from_bytes(self.need(2), "big"))
        if c == 0xDF:
            return self.map(int.from_bytes(self.need(4), "big"))
        raise LibError("Bad data format in input.")

    def array(self, n: int):
        t = self.lua.table()
        for i in range(1, n + 1):
            t[i] = self.obj()
        return t

    def map(self, n: int):
        t = self.lua.table()
        for _ in range(n):
            k = self.obj()
            v = self.obj()
            if k is not None:
                t[k] = v
        return t


def _msgpacklib(lua) -> dict:
    def pack(*args):
        if not args:
            raise LibError("bad argument #0 to 'pack' (MessagePack pack needs input.)")
        out: list = []
        for a in args:
            _mp_pack(a, 0, out)
        return (True, b"".join(out))

    def _unpack(s, limit: int, offset: int):
        if type(s) is not bytes:
            raise LibError("bad argument #1 to 'unpack' (string expected)")
        u = _Unpacker(lua, s, offset)
        vals = []
        while u.p < len(s) and (limit <= 0 or len(vals) < limit):
            vals.append(u.obj())
        return u.p, vals

    def unpack(s=None):
        _, vals = _unpack(s, 0, 0)
        return (True, *vals)

    def unpack_one(s=None, offset=0):
        p, vals = _unpack(s, 1, int(offset or 0))
        return (True, -1 if p >= len(s) else p, *vals)

    def unpack_limit(s=None, limit=0, offset=0):
        p, vals = _unpack(s, int(limit or 0), int(offset or 0))
        return (True, -1 if p >= len(s) else p, *vals)

    return {"pack": pack, "unpack": unpack, "unpack_one": unpack_one,
            "unpack_limit": unpack_limit}


# -- struct (Roberto Ierusalimschy's struct library) --------------------------------------

def _struct_items(fmt: bytes):
    """(option, size) pairs of a format, with the endianness/alignment switches."""
    i = 0
    n = len(fmt)
    while i < n:
        c = chr(fmt[i])
        i += 1
        j = i
        while j < n and 48 <= fmt[j] <= 57:
            j += 1
        num = int(fmt[i:j]) if j > i else None
        i = j
        yield c, num


_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "f": 4, "d": 8}


def _structlib() -> dict:
    def pack(fmt=None, *args):
        if type(fmt) is not bytes:
            raise LibError("bad argument #1 to 'pack' (string expected)")
        little = True
        out = bytearray()
        ai = 0

        def arg():
            nonlocal ai
            if ai >= len(args):
                raise LibError(f"bad argument #{ai + 2} to 'pack' (number expected, got no value)")
            v = args[ai]
            ai += 1
            return v
        for c, num in _struct_items(fmt):
            if c == "<":
                little = True
            elif c == ">":
                little = False
            elif c in "=!":
                continue
            elif c == " ":
                continue
            elif c == "x":
                out += b"\0"
            elif c in "bBhHlLTiI":
                size = _SIZES.get(c, num or 4)
                v = arg()
                if type(v) is bytes:
                    v = float(v)
                v = _num_to_int(v)
                out += (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little" if little else "big")
            elif c in "fd":
                v = arg()
                out += _struct.pack(("<" if little else ">") + c, float(v))
            elif c == "c":
                v = arg()
                if type(v) is not bytes:
                    v = str(v).encode()
                size = len(v) if not num else num
                out += v[:size].ljust(size, b"\0")
            elif c == "s":
                v = arg()
                out += v + b"\0"
            else:
                raise LibError(f"invalid format option '{c}'")
        return (True, bytes(out))

    def unpack(fmt=None, data=None, pos=1):
        if type(fmt) is not bytes or type(data) is not bytes:
            raise LibError("bad argument to 'unpack' (string expected)")
        little = True
        p = int(pos) - 1
        res: list = []
        for c, num in _struct_items(fmt):
            if c == "<":
                little = True
            elif c == ">":
                little = False
            elif c in "=! ":
                continue
            elif c == "x":
                p += 1
            elif c in "bBhHlLTiI":
                size = _SIZES.get(c, num or 4)
                if p + size > len(data):
                    raise LibError("bad argument #2 to 'unpack' (data string too short)")
                v = int.from_bytes(data[p:p + size], "little" if little else "big",
                                   signed=c in "bhli")
                res.append(v)
                p += size
            elif c in "fd":
                size = 4 if c == "f" else 8
                if p + size > len(data):
                    raise LibError("bad argument #2 to 'unpack' (data string too short)")
                res.append(_struct.unpack(("<" if little else ">") + c, data[p:p + size])[0])
                p += size
            elif c == "c":
                size = num
                if not size:
                    size = int(res.pop()) if res else 0
                if p + size > len(data):
                    raise LibError("bad argument #2 to 'unpack' (data string too short)")
                res.append(data[p:p + size])
                p += size
            elif c == "s":
                e = data.find(b"\0", p)
                if e < 0:
                    raise LibError("bad argument #2 to 'unpack' (unfinished string in data)")
                res.append(data[p:e])
                p = e + 1
            else:
                raise LibError(f"invalid format option '{c}'")
        return (True, *res, p + 1)

    def size(fmt=None):
        total = 0
        for c, num in _struct_items(fmt or b""):
            if c in "bBhHlLTiI":
                total += _SIZES.get(c, num or 4)
            elif c in "fd":
                total += 4 if c == "f" else 8
            elif c == "c":
                total += num or 0
            elif c == "x":
                total += 1
        return (True, total)

    return {"pack": pack, "unpack": unpack, "size": size}


def _guard(fn):
    """The library function as Lua calls it: its values, or the error raised as Lua's
    luaL_error would (bocho.scripting.PosError: the caller's position is added)."""
    from bocho.scripting import PosError

    def call(*args):
        try:
            r = fn(*args)
        except LibError as e:
            raise PosError(str(e)) from None
        except (TypeError, ValueError, OverflowError, _struct.error) as e:
            raise PosError(str(e)) from None
        if len(r) == 2:
            return r[1]
        return r[1:]
    return call


def make(lua) -> Any:
    """The libraries as a Lua table: name -> {fns = {name -> callable}, vals = {...}}."""
    null = lua.eval("newproxy()")
    cj = CJson(lua, null)
    libs = {"cjson": (cj.lib(), {"null": null}), "cmsgpack": (_msgpacklib(lua), {}),
            "bit": (_bitlib(), {}), "struct": (_structlib(), {})}
    out = lua.table()
    for name, (fns, vals) in libs.items():
        t = lua.table()
        ft = lua.table()
        for k, f in fns.items():
            ft[k.encode()] = _guard(f)
        vt = lua.table()
        for k, v in vals.items():
            vt[k.encode()] = v
        t[b"fns"] = ft
        t[b"vals"] = vt
        out[name.encode()] = t
    return out
