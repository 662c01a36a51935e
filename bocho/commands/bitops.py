"""Bitmap commands (bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD.

Bit 0 is the most significant bit of byte 0. Writes turn the value into a bytearray
(OBJECT ENCODING "raw"), as Redis unshares the string before touching it. Whole-string
work (count, search, and/or/xor) is done by C loops: int.from_bytes/bit_count,
bytes.lstrip, bytes.translate."""

from __future__ import annotations

from bocho import notify, resp
from bocho.commands import command
from bocho.commands.strings import key_spec, read_key, unshare, write_string
from bocho.errors import CommandError, syntax, wrongtype
from bocho.network import F_MASTER
from bocho.util import parse_int

BIT = "bitmap"
BIT_OFFSET_ERR = b"ERR bit offset is not an integer or out of range"
BITFIELD_TYPE_ERR = (b"ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is "
                     b"not supported but i64 is.")
_NOT = bytes(255 - i for i in range(256))


def bit_offset(c, raw: bytes, bits: int = 0) -> int:
    """getBitOffsetFromArgument: a bit offset, or "#N" (N * bits) when bits > 0, below
    proto-max-bulk-len bytes (the master's stream is obeyed regardless)."""
    usehash = bits > 0 and raw[:1] == b"#"
    v = parse_int(raw[1:] if usehash else raw, BIT_OFFSET_ERR)
    if usehash:
        v *= bits
    if v < 0 or ((v >> 3) >= c.server.config["proto-max-bulk-len"] and not c.flags & F_MASTER):
        raise CommandError(BIT_OFFSET_ERR)
    return v


def string_for_bits(c, key: bytes, maxbit: int) -> tuple[bytearray, bool]:
    """lookupStringForBitCommand: the string at key as a bytearray at least
    maxbit // 8 + 1 bytes long, created or zero-extended; -> (value, created or grown)."""
    need = (maxbit >> 3) + 1
    v = write_string(c, key)
    if v is None:
        v = bytearray(need)
        c.db.add(key, v)
        return v, True
    v = unshare(c, key, v)
    if len(v) < need:
        v.extend(bytes(need - len(v)))
        return v, True
    return v, False


def bits_changed(c, key: bytes, n: int) -> None:
    db = c.db
    if db.watched:
        db.signal_modified(key)
    srv = c.server
    srv.notify(notify.STRING, b"setbit", key, db.id)
    srv.dirty += n


def read_string(c, key: bytes):
    v = read_key(c, key)
    if v is not None and type(v) is not bytes and type(v) is not bytearray:
        raise wrongtype()
    return v


@command("setbit", 4, "write denyoom", keys=(1, 1, 1), group=BIT, acl=("bitmap",), since="2.2.0",
         summary="Sets or clears the bit at offset in the string value stored at key",
         complexity="O(1)")
def setbit(c, argv):
    key = argv[1]
    offset = bit_offset(c, argv[2])
    on = parse_int(argv[3], b"ERR bit is not an integer or out of range")
    if on & ~1:
        raise CommandError(b"ERR bit is not an integer or out of range")
    v, dirty = string_for_bits(c, key, offset)
    byte = offset >> 3
    mask = 0x80 >> (offset & 7)
    old = v[byte] & mask
    if dirty or bool(old) != bool(on):
        v[byte] = (v[byte] | mask) if on else (v[byte] & ~mask)
        bits_changed(c, key, 1)
    return resp.ONE if old else resp.ZERO


@command("getbit", 3, "readonly fast", keys=(1, 1, 1), group=BIT, acl=("bitmap",), since="2.2.0",
         summary="Returns the bit value at offset in the string value stored at key",
         complexity="O(1)")
def getbit(c, argv):
    offset = bit_offset(c, argv[2])
    v = read_string(c, argv[1])
    if v is None:
        return resp.ZERO
    byte = offset >> 3
    if byte < len(v) and v[byte] & (0x80 >> (offset & 7)):
        return resp.ONE
    return resp.ZERO


@command("bitcount", -2, "readonly", keys=(1, 1, 1), group=BIT, acl=("bitmap",), since="2.6.0",
         summary="Count set bits in a string", complexity="O(N)")
def bitcount(c, argv):
    v = read_string(c, argv[1])
    if v is None:
        return resp.ZERO
    n = len(argv)
    strlen = len(v)
    if n == 2:
        return resp.integer(int.from_bytes(v, "big").bit_count())
    if n not in (4, 5):
        raise syntax()
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    if start < 0 and end < 0 and start > end:
        return resp.ZERO
    isbit = False
    if n == 5:
        isbit = _bit_unit(argv[4])
    total = strlen * 8 if isbit else strlen
    start, end = _clamp(start, end, total)
    if start > end:
        return resp.ZERO
    if not isbit:
        return resp.integer(int.from_bytes(v[start:end + 1], "big").bit_count())
    sb, eb = start >> 3, end >> 3
    word = int.from_bytes(v[sb:eb + 1], "big")
    width = (eb - sb + 1) * 8
    # keep bits start..end of the window: drop (start & 7) high bits, 7 - (end & 7) low ones
    word >>= 7 - (end & 7)
    word &= (1 << (width - (start & 7) - (7 - (end & 7)))) - 1
    return resp.integer(word.bit_count())


def _bit_unit(arg: bytes) -> bool:
    """BITCOUNT/BITPOS's BYTE|BIT option: True for BIT."""
    unit = arg.lower()
    if unit != b"bit" and unit != b"byte":
        raise syntax()
    return unit == b"bit"


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    if start < 0:
        start += total
    if end < 0:
        end += total
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= total:
        end = total - 1
    return start, end


def first_bit(v, bit: int, lo: int, hi: int) -> int:
    """Position of the first `bit` in bits lo..hi of v, or -1."""
    sb, eb = lo >> 3, hi >> 3
    seg = bytearray(v[sb:eb + 1])
    # Bits outside the range must not match: fill them with the other value.
    head = 0xFF00 >> (lo & 7) & 0xFF  # bits before lo in the first byte
    tail = 0xFF >> ((hi & 7) + 1)  # bits after hi in the last byte
    if bit:
        seg[0] &= ~head & 0xFF
        seg[-1] &= ~tail & 0xFF
        skip = b"\x00"
    else:
        seg[0] |= head
        seg[-1] |= tail
        skip = b"\xff"
    rest = seg.lstrip(skip)
    if not rest:
        return -1
    idx = len(seg) - len(rest)
    byte = rest[0] if bit else (~rest[0] & 0xFF)
    return (sb + idx) * 8 + (8 - byte.bit_length())


@command("bitpos", -3, "readonly", keys=(1, 1, 1), group=BIT, acl=("bitmap",), since="2.8.7",
         summary="Find first bit set or clear in a string", complexity="O(N)")
def bitpos(c, argv):
    bit = parse_int(argv[2])
    if bit != 0 and bit != 1:
        raise CommandError(b"ERR The bit argument must be 1 or 0.")
    v = read_string(c, argv[1])
    if v is None:
        return resp.integer(-1) if bit else resp.ZERO
    n = len(argv)
    strlen = len(v)
    end_given = False
    isbit = False
    if n == 3:
        start, end = 0, strlen - 1
    elif n in (4, 5, 6):
        start = parse_int(argv[3])
        if n == 6:
            isbit = _bit_unit(argv[5])
        if n >= 5:
            end = parse_int(argv[4])
            end_given = True
        else:
            end = strlen - 1
        start, end = _clamp(start, end, strlen * 8 if isbit else strlen)
    else:
        raise syntax()
    if start > end:
        return resp.integer(-1)
    lo, hi = (start, end) if isbit else (start * 8, end * 8 + 7)
    pos = first_bit(v, bit, lo, hi)
    if pos < 0 and bit == 0 and not end_given:
        # Without an explicit end the string counts as padded with zeros on the right.
        pos = hi + 1
    return resp.integer(pos)


@command("bitop", -4, "write denyoom", keys=(2, -1, 1), group=BIT, acl=("bitmap",),
         since="2.6.0", summary="Perform bitwise operations between strings", complexity="O(N)",
         key_specs=[key_spec("OW update", pos=2), key_spec("RO access", pos=3, lastkey=-1)])
def bitop(c, argv):
    op = argv[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise syntax()
    if op == b"not" and len(argv) != 4:
        raise CommandError(b"ERR BITOP NOT must be called with a single source key.")
    srcs = []
    for key in argv[3:]:
        v = read_string(c, key)
        srcs.append(b"" if v is None else v)
    maxlen = max(len(s) for s in srcs)
    db = c.db
    srv = c.server
    target = argv[2]
    if maxlen == 0:
        if db.delete(target):
            srv.notify(notify.GENERIC, b"del", target, db.id)
            srv.dirty += 1
        return resp.ZERO
    if op == b"not":
        res = bytearray(bytes(srcs[0]).translate(_NOT))
    else:
        # Shorter strings are zero-padded on the right: shift them up to maxlen bytes.
        words = [int.from_bytes(s, "big") << (8 * (maxlen - len(s))) for s in srcs]
        acc = words[0]
        if op == b"and":
            for w in words[1:]:
                acc &= w
        elif op == b"or":
            for w in words[1:]:
                acc |= w
        else:
            for w in words[1:]:
                acc ^= w
        res = bytearray(acc.to_bytes(maxlen, "big"))
    db.set_key(target, res)
    srv.notify(notify.STRING, b"set", target, db.id)
    srv.dirty += 1
    return resp.integer(maxlen)


# -- BITFIELD ------------------------------------------------------------------------------

OP_GET, OP_SET, OP_INCRBY = 0, 1, 2
WRAP, SAT, FAIL = 0, 1, 2
_OVERFLOW = {b"wrap": WRAP, b"sat": SAT, b"fail": FAIL}


def bitfield_type(raw: bytes) -> tuple[bool, int]:
    """i1..i64 / u1..u63 -> (signed, bits)."""
    if raw[:1] == b"i":
        signed = True
    elif raw[:1] == b"u":
        signed = False
    else:
        raise CommandError(BITFIELD_TYPE_ERR)
    bits = parse_int(raw[1:], BITFIELD_TYPE_ERR)
    if bits < 1 or bits > (64 if signed else 63):
        raise CommandError(BITFIELD_TYPE_ERR)
    return signed, bits


def get_field(v, offset: int, bits: int, signed: bool) -> int:
    """The bits-wide integer at bit offset of v (zero past its end)."""
    sb = offset >> 3
    eb = (offset + bits - 1) >> 3
    chunk = v[sb:eb + 1]
    width = (eb - sb + 1) * 8
    word = int.from_bytes(chunk, "big") << (8 * (eb + 1 - sb - len(chunk)))
    val = (word >> (width - (offset & 7) - bits)) & ((1 << bits) - 1)
    if signed and val >> (bits - 1):
        val -= 1 << bits
    return val


def set_field(v: bytearray, offset: int, bits: int, value: int) -> None:
    """Store the low `bits` bits of value at bit offset (v is long enough)."""
    sb = offset >> 3
    eb = (offset + bits - 1) >> 3
    width = (eb - sb + 1) * 8
    shift = width - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    word = int.from_bytes(v[sb:eb + 1], "big")
    word = (word & ~mask) | ((value << shift) & mask)
    v[sb:eb + 1] = word.to_bytes(eb - sb + 1, "big")


def overflow(value: int, bits: int, signed: bool, owtype: int) -> tuple[bool, int]:
    """Fit an exact result into the field: -> (overflowed, value to store)."""
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    if lo <= value <= hi:
        return False, value
    if owtype == SAT:
        return True, hi if value > hi else lo
    wrapped = value & ((1 << bits) - 1)
    if signed and wrapped >> (bits - 1):
        wrapped -= 1 << bits
    return True, wrapped


def bitfield_generic(c, argv, readonly_cmd: bool) -> bytes:
    ops = []
    owtype = WRAP
    readonly = True
    highest = 0
    i = 2
    n = len(argv)
    while i < n:
        sub = argv[i].lower()
        left = n - i - 1
        if sub == b"get" and left >= 2:
            opcode = OP_GET
        elif sub == b"set" and left >= 3:
            opcode = OP_SET
        elif sub == b"incrby" and left >= 3:
            opcode = OP_INCRBY
        elif sub == b"overflow" and left >= 1:
            owtype = _OVERFLOW.get(argv[i + 1].lower(), -1)
            if owtype < 0:
                raise CommandError(b"ERR Invalid OVERFLOW type specified")
            i += 2
            continue
        else:
            raise syntax()
        signed, bits = bitfield_type(argv[i + 1])
        offset = bit_offset(c, argv[i + 2], bits)
        arg = 0
        if opcode != OP_GET:
            readonly = False
            highest = max(highest, offset + bits - 1)
            arg = parse_int(argv[i + 3])
            i += 4
        else:
            i += 3
        ops.append((opcode, offset, bits, signed, arg, owtype))
    key = argv[1]
    dirty = False
    if readonly:
        v = read_string(c, key)
    else:
        if readonly_cmd:
            raise CommandError(b"ERR BITFIELD_RO only supports the GET subcommand")
        v, dirty = string_for_bits(c, key, highest)
    null = resp.null(c.resp)
    out = [resp.array_header(len(ops))]
    changes = 0
    for opcode, offset, bits, signed, arg, ow in ops:
        if opcode == OP_GET:
            out.append(resp.integer(get_field(v, offset, bits, signed) if v is not None else 0))
            continue
        old = get_field(v, offset, bits, signed)
        if opcode == OP_INCRBY:
            over, new = overflow(old + arg, bits, signed, ow)
            ret = new
        else:
            # SET takes the 64-bit argument as the field's C type: unsigned fields see
            # a negative value as its two's complement.
            over, new = overflow(arg if signed else arg & 0xFFFFFFFFFFFFFFFF, bits, signed, ow)
            ret = old
        if over and ow == FAIL:
            out.append(null)
            continue
        out.append(resp.integer(ret))
        set_field(v, offset, bits, new)
        if dirty or old != new:
            changes += 1
    if changes:
        bits_changed(c, key, changes)
    return b"".join(out)


@command("bitfield", -2, "write denyoom", keys=(1, 1, 1), group=BIT, acl=("bitmap",),
         since="3.2.0", summary="Perform arbitrary bitfield integer operations on strings",
         complexity="O(1) for each subcommand specified",
         key_specs=[key_spec("RW access update variable_flags",
                             notes="This command allows both access and modification of the key")])
def bitfield(c, argv):
    return bitfield_generic(c, argv, False)


@command("bitfield_ro", -2, "readonly fast", keys=(1, 1, 1), group=BIT, acl=("bitmap",),
         since="6.0.0",
         summary="Perform arbitrary bitfield integer operations on strings. Read-only variant "
                 "of BITFIELD",
         complexity="O(1) for each subcommand specified")
def bitfield_ro(c, argv):
    return bitfield_generic(c, argv, True)

