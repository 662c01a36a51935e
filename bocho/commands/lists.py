"""List commands (t_list.c), blocking ones included (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH,
BLMPOP on bocho/blocking.py).

A list value is a List: a collections.deque (O(1) push and pop at both ends; indexing
walks from the nearer end in C). Ranges near the tail are read from the right. Redis
7.0 always reports the encoding "quicklist". An emptied list is deleted."""

from __future__ import annotations

from collections import deque
from itertools import islice

from bocho import blocking, notify, resp
from bocho.commands import command
from bocho.commands.debug import register_digest
from bocho.db import register_type
from bocho.errors import NO_SUCH_KEY, OUT_OF_RANGE, CommandError, syntax, wrong_args, wrongtype
from bocho.util import index_span, parse_int

LIST = "list"
NOTIFY_LIST = notify.LIST
NOTIFY_GENERIC = notify.GENERIC
ZERO = resp.ZERO
OK = resp.OK
EMPTY_ARRAY = resp.EMPTY_ARRAY
BULK_HDR = resp.BULK_HDR
BULK_HDR_MAX = resp.BULK_HDR_MAX
CRLF = resp.CRLF
integer = resp.integer
MUST_BE_POSITIVE = b"ERR value is out of range, must be positive"
LONG_MAX = 2**63 - 1


class List(deque):
    """A Redis list."""

    __slots__ = ()

    def memory_usage(self, samples: int = 5) -> int:
        """A quicklist's size: the header, one node per 8 KB listpack, and each entry's
        bytes plus its few bytes of listpack framing (sampled)."""
        n = len(self)
        if not n:
            return 48
        k = n if samples <= 0 else min(samples, n)
        total = sum(len(e) + 3 for e in islice(self, k))
        payload = total * n // k
        nodes = payload // 8192 + 1
        return 48 + nodes * (32 + 7) + payload


def _sort_elements(v: List) -> tuple[bytes, list[bytes]]:
    return b"list", list(v)


def _from_list(items: list[bytes]) -> List:
    return List(items)


register_type(List, b"list", copy=List, encoding=lambda v: b"quicklist",
              sort_elements=_sort_elements, free_effort=len, from_list=_from_list)
register_digest(List, lambda v: v)


# -- helpers -----------------------------------------------------------------------------

def _bulk(x: bytes) -> bytes:
    n = len(x)
    if n < BULK_HDR_MAX:
        return BULK_HDR[n] + x + CRLF
    return b"$%d\r\n%s\r\n" % (n, x)


def read_list(c, key: bytes):
    """lookupKeyRead for a list command: the List or None; WRONGTYPE for other types."""
    v = c.db.lookup_read(key)
    if v is None or type(v) is List:
        return v
    raise wrongtype()


def write_list(c, key: bytes):
    v = c.db.lookup_write(key)
    if v is None or type(v) is List:
        return v
    raise wrongtype()


def _event(c, event: bytes, key: bytes) -> None:
    srv = c.server
    if srv.notify_flags & NOTIFY_LIST:
        srv.notify(NOTIFY_LIST, event, key, c.db.id)


def _modified(c, key: bytes) -> None:
    db = c.db
    if db.watched:
        db.signal_modified(key)


def _delete_if_empty(c, key: bytes, v: List) -> bool:
    if v:
        return False
    db = c.db
    db.delete(key)
    srv = c.server
    if srv.notify_flags & NOTIFY_GENERIC:
        srv.notify(NOTIFY_GENERIC, b"del", key, db.id)
    return True



def _slice(v: List, start: int, end: int) -> list[bytes]:
    """Elements start..end (normalised, inclusive), walking from the nearer end."""
    n = len(v)
    if start <= n - 1 - end:
        return list(islice(v, start, end + 1))
    out = list(islice(reversed(v), n - 1 - end, n - start))
    out.reverse()
    return out


def _pop_many(v: List, left: bool, count: int) -> list[bytes]:
    """Pop up to count elements from one end, in pop order."""
    k = min(count, len(v))
    pop = v.popleft if left else v.pop
    return [pop() for _ in range(k)]


def _where(arg: bytes) -> bool:
    """LEFT -> True, RIGHT -> False; syntax error otherwise."""
    a = arg.lower()
    if a == b"left":
        return True
    if a == b"right":
        return False
    raise syntax()


def _range_long(arg: bytes, lo: int, hi: int, msg: bytes) -> int:
    """getRangeLongFromObjectOrReply with a message for both failures."""
    v = parse_int(arg, msg)
    if v < lo or v > hi:
        raise CommandError(msg)
    return v


def _popped(c, key: bytes, v: List, left: bool, n: int) -> None:
    """listElementsRemoved: event, delete when empty, WATCH, dirty."""
    _event(c, b"lpop" if left else b"rpop", key)
    _delete_if_empty(c, key, v)
    _modified(c, key)
    c.server.dirty += n


# -- push --------------------------------------------------------------------------------

def _push(c, argv, left: bool, xx: bool) -> bytes:
    key = argv[1]
    db = c.db
    v = db.lookup_write(key)
    if v is None:
        if xx:
            return ZERO
        v = List()
        db.add(key, v)
    elif type(v) is not List:
        raise wrongtype()
    if left:
        v.extendleft(islice(argv, 2, None))
    else:
        v.extend(islice(argv, 2, None))
    srv = c.server
    srv.dirty += len(argv) - 2
    if db.watched:
        db.signal_modified(key)
    if srv.notify_flags & NOTIFY_LIST:
        srv.notify(NOTIFY_LIST, b"lpush" if left else b"rpush", key, db.id)
    return integer(len(v))


_INSERT = {"flags": ["RW", "insert"], "begin_search": {"index": {"pos": 1}},
           "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}
_POP = {"flags": ["RW", "access", "delete"], "begin_search": {"index": {"pos": 1}},
        "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}
_DST = {"flags": ["RW", "insert"], "begin_search": {"index": {"pos": 2}},
        "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}
_RO_ACCESS = {"flags": ["RO", "access"], "begin_search": {"index": {"pos": 1}},
              "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}
_PUSH_CX = ("O(1) for each element added, so O(N) to add N elements when the command is "
            "called with multiple arguments.")


@command("lpush", -3, "write denyoom fast", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_INSERT], summary="Prepend one or multiple elements to a list",
         complexity=_PUSH_CX)
def lpush(c, argv):
    return _push(c, argv, True, False)


@command("rpush", -3, "write denyoom fast", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_INSERT], summary="Append one or multiple elements to a list",
         complexity=_PUSH_CX)
def rpush(c, argv):
    return _push(c, argv, False, False)


@command("lpushx", -3, "write denyoom fast", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_INSERT], since="2.2.0",
         summary="Prepend an element to a list, only if the list exists", complexity=_PUSH_CX)
def lpushx(c, argv):
    return _push(c, argv, True, True)


@command("rpushx", -3, "write denyoom fast", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_INSERT], since="2.2.0",
         summary="Append an element to a list, only if the list exists", complexity=_PUSH_CX)
def rpushx(c, argv):
    return _push(c, argv, False, True)


# -- pop ---------------------------------------------------------------------------------

def _pop(c, argv, left: bool) -> bytes:
    n = len(argv)
    if n > 3:
        raise wrong_args(argv[0].lower())
    count = None
    if n == 3:
        count = _range_long(argv[2], 0, LONG_MAX, MUST_BE_POSITIVE)
    key = argv[1]
    v = write_list(c, key)
    if v is None:
        return resp.null(c.resp) if count is None else resp.null_array(c.resp)
    if count is None:
        x = v.popleft() if left else v.pop()
        _popped(c, key, v, left, 1)
        return _bulk(x)
    if count == 0:
        return EMPTY_ARRAY
    items = _pop_many(v, left, count)
    _popped(c, key, v, left, len(items))
    return resp.bulk_strings(items)


@command("lpop", -2, "write fast", keys=(1, 1, 1), group=LIST, acl=(LIST,), key_specs=[_POP],
         summary="Remove and get the first elements in a list",
         complexity="O(N) where N is the number of elements returned")
def lpop(c, argv):
    return _pop(c, argv, True)


@command("rpop", -2, "write fast", keys=(1, 1, 1), group=LIST, acl=(LIST,), key_specs=[_POP],
         summary="Remove and get the last elements in a list",
         complexity="O(N) where N is the number of elements returned")
def rpop(c, argv):
    return _pop(c, argv, False)


def _mpop_args(argv, numkeys_idx: int) -> tuple[list[bytes], bool, int]:
    """LMPOP/BLMPOP: numkeys, keys, LEFT|RIGHT, [COUNT count] -> (keys, left, count)."""
    numkeys = _range_long(argv[numkeys_idx], 1, LONG_MAX,
                          b"ERR numkeys should be greater than 0")
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        raise syntax()
    left = _where(argv[where_idx])
    count = -1
    j = where_idx + 1
    n = len(argv)
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            count = _range_long(argv[j + 1], 1, LONG_MAX,
                                b"ERR count should be greater than 0")
            j += 2
        else:
            raise syntax()
    return argv[numkeys_idx + 1:where_idx], left, (1 if count == -1 else count)


def _mpop_reply(c, key: bytes, v: List, left: bool, count: int) -> bytes:
    """listPopRangeAndReplyWithKey: [key, [elements]], then the removal bookkeeping."""
    items = _pop_many(v, left, count)
    _popped(c, key, v, left, len(items))
    return resp.array_header(2) + _bulk(key) + resp.bulk_strings(items)


def _mpop_prop(key: bytes, left: bool, n: int) -> list[bytes]:
    return [b"LPOP" if left else b"RPOP", key, b"%d" % n]


_LMPOP_SPEC = {"flags": ["RW", "access", "delete"], "begin_search": {"index": {"pos": 1}},
               "find_keys": {"keynum": {"keynumidx": 0, "firstkey": 1, "step": 1}}}


@command("lmpop", -4, "write", keys=(0, 0, 0), group=LIST, acl=(LIST,),
         key_specs=[_LMPOP_SPEC], since="7.0.0", summary="Pop elements from a list",
         complexity="O(N+M) where N is the number of provided keys and M is the number of "
         "elements returned.")
def lmpop(c, argv):
    keys, left, count = _mpop_args(argv, 1)
    for key in keys:
        v = write_list(c, key)
        if v is None:
            continue
        c.prop = [_mpop_prop(key, left, min(count, len(v)))]
        return _mpop_reply(c, key, v, left, count)
    return resp.null_array(c.resp)


# -- reads -------------------------------------------------------------------------------

@command("llen", 2, "readonly fast", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[{"flags": ["RO"], "begin_search": {"index": {"pos": 1}},
                     "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
         summary="Get the length of a list", complexity="O(1)")
def llen(c, argv):
    v = read_list(c, argv[1])
    return ZERO if v is None else integer(len(v))


@command("lrange", 4, "readonly", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_RO_ACCESS], summary="Get a range of elements from a list",
         complexity="O(S+N) where S is the distance of start offset from HEAD for small "
         "lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of "
         "elements in the specified range.")
def lrange(c, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    v = read_list(c, argv[1])
    if v is None:
        return EMPTY_ARRAY
    r = index_span(start, end, len(v))
    if r is None:
        return EMPTY_ARRAY
    return resp.bulk_strings(_slice(v, r[0], r[1]))


@command("lindex", 3, "readonly", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_RO_ACCESS], summary="Get an element from a list by its index",
         complexity="O(N) where N is the number of elements to traverse to get to the "
         "element at index. This makes asking for the first or the last element of the "
         "list O(1).")
def lindex(c, argv):
    v = read_list(c, argv[1])
    if v is None:
        return resp.null(c.resp)
    i = parse_int(argv[2])
    n = len(v)
    if i < 0:
        i += n
    if i < 0 or i >= n:
        return resp.null(c.resp)
    return _bulk(v[i])


def _lpos_count(arg: bytes, msg: bytes) -> int:
    return _range_long(arg, 0, LONG_MAX, msg)


@command("lpos", -3, "readonly", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_RO_ACCESS], since="6.0.6",
         summary="Return the index of matching elements on a list",
         complexity="O(N) where N is the number of elements in the list, for the average "
         "case. When searching for elements near the head or the tail of the list, or when "
         "the MAXLEN option is provided, the command may run in constant time.")
def lpos(c, argv):
    ele = argv[2]
    rank, count, maxlen = 1, -1, 0
    n = len(argv)
    j = 3
    while j < n:
        opt = argv[j].lower()
        more = j + 1 < n
        if opt == b"rank" and more:
            rank = parse_int(argv[j + 1])
            if rank == 0:
                raise CommandError(
                    b"ERR RANK can't be zero: use 1 to start from the first match, 2 from "
                    b"the second ... or use negative to start from the end of the list")
        elif opt == b"count" and more:
            count = _lpos_count(argv[j + 1], b"ERR COUNT can't be negative")
        elif opt == b"maxlen" and more:
            maxlen = _lpos_count(argv[j + 1], b"ERR MAXLEN can't be negative")
        else:
            raise syntax()
        j += 2
    v = read_list(c, argv[1])
    if v is None:
        return EMPTY_ARRAY if count != -1 else resp.null(c.resp)
    llen = len(v)
    forward = rank > 0
    if not forward:
        rank = -rank
    src = v if forward else reversed(v)
    if maxlen:
        src = islice(src, maxlen)
    found = []
    matches = 0
    want = count if count > 0 else (0 if count == 0 else 1)
    for i, x in enumerate(src):
        if x == ele:
            matches += 1
            if matches >= rank:
                found.append(i if forward else llen - 1 - i)
                if want and len(found) >= want:
                    break
    if count != -1:
        return resp.array_header(len(found)) + b"".join(integer(i) for i in found)
    return integer(found[0]) if found else resp.null(c.resp)


# -- in-place writes ---------------------------------------------------------------------

@command("lset", 4, "write denyoom", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[{"flags": ["RW", "update"], "begin_search": {"index": {"pos": 1}},
                     "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
         summary="Set the value of an element in a list by its index",
         complexity="O(N) where N is the length of the list. Setting either the first or "
         "the last element of the list is O(1).")
def lset(c, argv):
    key = argv[1]
    v = write_list(c, key)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    i = parse_int(argv[2])
    n = len(v)
    if i < 0:
        i += n
    if i < 0 or i >= n:
        raise CommandError(OUT_OF_RANGE)
    v[i] = argv[3]
    _modified(c, key)
    _event(c, b"lset", key)
    c.server.dirty += 1
    return OK


@command("linsert", 5, "write denyoom", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[_INSERT], since="2.2.0",
         summary="Insert an element before or after another element in a list",
         complexity="O(N) where N is the number of elements to traverse before seeing the "
         "value pivot. This means that inserting somewhere on the left end on the list "
         "(head) can be considered O(1) and inserting somewhere on the right end (tail) is "
         "O(N).")
def linsert(c, argv):
    how = argv[2].lower()
    if how == b"after":
        after = True
    elif how == b"before":
        after = False
    else:
        raise syntax()
    key = argv[1]
    v = write_list(c, key)
    if v is None:
        return ZERO
    try:
        i = v.index(argv[3])
    except ValueError:
        return integer(-1)
    v.insert(i + 1 if after else i, argv[4])
    _modified(c, key)
    _event(c, b"linsert", key)
    c.server.dirty += 1
    return integer(len(v))


@command("lrem", 4, "write", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[{"flags": ["RW", "delete"], "begin_search": {"index": {"pos": 1}},
                     "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
         summary="Remove elements from a list",
         complexity="O(N+M) where N is the length of the list and M is the number of "
         "elements removed.")
def lrem(c, argv):
    toremove = parse_int(argv[2])
    key = argv[1]
    v = write_list(c, key)
    if v is None:
        return ZERO
    ele = argv[3]
    removed = 0
    if toremove == 0:
        keep = [x for x in v if x != ele]
        removed = len(v) - len(keep)
        if removed:
            v.clear()
            v.extend(keep)
    elif toremove > 0:
        if toremove == 1:
            try:
                v.remove(ele)
                removed = 1
            except ValueError:
                pass
        else:
            keep = []
            for x in v:
                if removed < toremove and x == ele:
                    removed += 1
                else:
                    keep.append(x)
            if removed:
                v.clear()
                v.extend(keep)
    else:
        toremove = -toremove
        keep = []
        for x in reversed(v):
            if removed < toremove and x == ele:
                removed += 1
            else:
                keep.append(x)
        if removed:
            v.clear()
            v.extendleft(keep)
    if removed:
        c.server.dirty += removed
        _modified(c, key)
        _event(c, b"lrem", key)
    _delete_if_empty(c, key, v)
    return integer(removed)


@command("ltrim", 4, "write", keys=(1, 1, 1), group=LIST, acl=(LIST,),
         key_specs=[{"flags": ["RW", "delete"], "begin_search": {"index": {"pos": 1}},
                     "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
         summary="Trim a list to the specified range",
         complexity="O(N) where N is the number of elements to be removed by the operation.")
def ltrim(c, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    key = argv[1]
    v = write_list(c, key)
    if v is None:
        return OK
    n = len(v)
    r = index_span(start, end, n)
    if r is None:
        ltrim_n, rtrim_n = n, 0
    else:
        ltrim_n, rtrim_n = r[0], n - r[1] - 1
    if ltrim_n + rtrim_n > (n >> 1) and ltrim_n < n:
        keep = _slice(v, r[0], r[1])
        v.clear()
        v.extend(keep)
    else:
        for _ in range(ltrim_n):
            v.popleft()
        for _ in range(rtrim_n):
            v.pop()
    _event(c, b"ltrim", key)
    _delete_if_empty(c, key, v)
    _modified(c, key)
    c.server.dirty += ltrim_n + rtrim_n
    return OK


# -- move --------------------------------------------------------------------------------

def _move_push(c, dst: bytes, dv, x: bytes, to_left: bool) -> None:
    """lmoveHandlePush: create the destination if needed, push, event."""
    if dv is None:
        dv = List()
        c.db.add(dst, dv)
    _modified(c, dst)
    if to_left:
        dv.appendleft(x)
    else:
        dv.append(x)
    _event(c, b"lpush" if to_left else b"rpush", dst)


def _move(c, src: bytes, dst: bytes, from_left: bool, to_left: bool) -> bytes:
    """lmoveGenericCommand on an existing source list (the caller checked it)."""
    sv = write_list(c, src)
    if sv is None:
        return resp.null(c.resp)
    dv = write_list(c, dst)
    x = sv.popleft() if from_left else sv.pop()
    _move_push(c, dst, dv, x, to_left)
    _event(c, b"lpop" if from_left else b"rpop", src)
    _delete_if_empty(c, src, sv)
    _modified(c, src)
    c.server.dirty += 1
    return _bulk(x)


_MOVE_CX = "O(1)"


@command("lmove", 5, "write denyoom", keys=(1, 2, 1), group=LIST, acl=(LIST,),
         key_specs=[_POP, _DST], since="6.2.0",
         summary="Pop an element from a list, push it to another list and return it",
         complexity=_MOVE_CX)
def lmove(c, argv):
    return _move(c, argv[1], argv[2], _where(argv[3]), _where(argv[4]))


@command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1), group=LIST, acl=(LIST,),
         key_specs=[_POP, _DST], since="1.2.0",
         summary="Remove the last element in a list, prepend it to another list and return it",
         complexity=_MOVE_CX)
def rpoplpush(c, argv):
    return _move(c, argv[1], argv[2], False, True)


# -- blocking ----------------------------------------------------------------------------

class _PopWait:
    """What a client blocked in BLPOP/BRPOP/BLMPOP waits to do."""

    __slots__ = ("left", "count")

    def __init__(self, left: bool, count: int) -> None:
        self.left = left
        self.count = count  # -1: BLPOP/BRPOP; else BLMPOP's COUNT


class _MoveWait:
    """What a client blocked in BLMOVE/BRPOPLPUSH waits to do."""

    __slots__ = ("dst", "from_left", "to_left", "prop")

    def __init__(self, dst: bytes, from_left: bool, to_left: bool, prop: list[bytes]) -> None:
        self.dst = dst
        self.from_left = from_left
        self.to_left = to_left
        self.prop = prop


def _serve_pop(c, key: bytes, v: List) -> bytes | None:
    w = c.block_state.data
    left = w.left
    srv = c.server
    if w.count != -1:
        blocking.propagate(c, _mpop_prop(key, left, min(w.count, len(v))))
        return _mpop_reply(c, key, v, left, w.count)
    blocking.propagate(c, [b"LPOP" if left else b"RPOP", key])
    x = v.popleft() if left else v.pop()
    _event(c, b"lpop" if left else b"rpop", key)
    _delete_if_empty(c, key, v)
    srv.dirty += 1
    return resp.array_header(2) + _bulk(key) + _bulk(x)


def _serve_move(c, key: bytes, v: List) -> bytes | None:
    w = c.block_state.data
    dv = c.db.lookup_write(w.dst)
    if dv is not None and type(dv) is not List:
        return wrongtype().reply()
    x = v.popleft() if w.from_left else v.pop()
    _move_push(c, w.dst, dv, x, w.to_left)
    blocking.propagate(c, w.prop)
    _event(c, b"lpop" if w.from_left else b"rpop", key)
    _delete_if_empty(c, key, v)
    c.server.dirty += 1
    return _bulk(x)


def _blocking_pop(c, argv, keys, left: bool, deadline: int, count: int) -> bytes | None:
    """blockingPopGenericCommand: pop from the first non-empty list, else block."""
    for key in keys:
        v = write_list(c, key)
        if v is None:
            continue
        if count != -1:
            c.prop = [_mpop_prop(key, left, min(count, len(v)))]
            return _mpop_reply(c, key, v, left, count)
        x = v.popleft() if left else v.pop()
        _popped(c, key, v, left, 1)
        c.prop = [[b"LPOP" if left else b"RPOP", key]]
        return resp.array_header(2) + _bulk(key) + _bulk(x)
    if not blocking.may_block(c):
        return resp.null_array(c.resp)
    blocking.block_for_keys(c, argv, b"list", keys, deadline, _serve_pop, _PopWait(left, count))
    return None


_BPOP_SPEC = {"flags": ["RW", "access", "delete"], "begin_search": {"index": {"pos": 1}},
              "find_keys": {"range": {"lastkey": -2, "step": 1, "limit": 0}}}
_BPOP_CX = "O(N) where N is the number of provided keys."


@command("blpop", -3, "write noscript blocking", keys=(1, -2, 1), group=LIST, acl=(LIST,),
         key_specs=[_BPOP_SPEC], since="2.0.0",
         summary="Remove and get the first element in a list, or block until one is "
         "available", complexity=_BPOP_CX)
def blpop(c, argv):
    deadline = blocking.parse_timeout(argv[-1])
    return _blocking_pop(c, argv, argv[1:-1], True, deadline, -1)


@command("brpop", -3, "write noscript blocking", keys=(1, -2, 1), group=LIST, acl=(LIST,),
         key_specs=[_BPOP_SPEC], since="2.0.0",
         summary="Remove and get the last element in a list, or block until one is "
         "available", complexity=_BPOP_CX)
def brpop(c, argv):
    deadline = blocking.parse_timeout(argv[-1])
    return _blocking_pop(c, argv, argv[1:-1], False, deadline, -1)


_BLMPOP_SPEC = {"flags": ["RW", "access", "delete"], "begin_search": {"index": {"pos": 2}},
                "find_keys": {"keynum": {"keynumidx": 0, "firstkey": 1, "step": 1}}}


@command("blmpop", -5, "write blocking", keys=(0, 0, 0), group=LIST, acl=(LIST,),
         key_specs=[_BLMPOP_SPEC], since="7.0.0",
         summary="Pop elements from a list, or block until one is available",
         complexity="O(N+M) where N is the number of provided keys and M is the number of "
         "elements returned.")
def blmpop(c, argv):
    keys, left, count = _mpop_args(argv, 2)
    deadline = blocking.parse_timeout(argv[1])
    return _blocking_pop(c, argv, keys, left, deadline, count)


def _blocking_move(c, argv, from_left: bool, to_left: bool, deadline: int,
                   prop: list[bytes]) -> bytes | None:
    src = argv[1]
    v = write_list(c, src)
    if v is None:
        if not blocking.may_block(c):
            return resp.null(c.resp)
        blocking.block_for_keys(c, argv, b"list", [src], deadline, _serve_move,
                                _MoveWait(argv[2], from_left, to_left, prop))
        return None
    c.prop = [prop]
    return _move(c, src, argv[2], from_left, to_left)


@command("blmove", 6, "write denyoom noscript blocking", keys=(1, 2, 1), group=LIST,
         acl=(LIST,), key_specs=[_POP, _DST], since="6.2.0",
         summary="Pop an element from a list, push it to another list and return it; or "
         "block until one is available", complexity=_MOVE_CX)
def blmove(c, argv):
    from_left = _where(argv[3])
    to_left = _where(argv[4])
    deadline = blocking.parse_timeout(argv[5])
    prop = [b"LMOVE", argv[1], argv[2], b"LEFT" if from_left else b"RIGHT",
            b"LEFT" if to_left else b"RIGHT"]
    return _blocking_move(c, argv, from_left, to_left, deadline, prop)


@command("brpoplpush", 4, "write denyoom noscript blocking", keys=(1, 2, 1), group=LIST,
         acl=(LIST,), key_specs=[_POP, _DST], since="2.2.0",
         summary="Pop an element from a list, push it to another list and return it; or "
         "block until one is available", complexity=_MOVE_CX)
def brpoplpush(c, argv):
    deadline = blocking.parse_timeout(argv[3])
    return _blocking_move(c, argv, False, True, deadline, [b"RPOPLPUSH", argv[1], argv[2]])


def _mark_deprecated() -> None:
    from bocho.commands import TABLE
    for name in (b"rpoplpush", b"brpoplpush"):
        TABLE[name].doc_flags = ("deprecated",)


_mark_deprecated()
