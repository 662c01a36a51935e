"""ACL: users, selectors and permission checks, with Redis 7.0's semantics (acl.c).

A user has flags (on/off, nopass, sanitize-payload), a list of SHA-256 password hashes
and a list of selectors; the first is the root selector (rules given outside
parentheses), the others come from `(...)` rules. A command runs when any selector
allows it: the command (or an allowed first argument), every key it names (checked
with the key spec flags: access needs R, insert/update/delete need W) and every channel
it publishes or subscribes to.

Command permissions are kept as a set of Command objects (containers and subcommands
alike, as Redis's per-command bits), plus `future` (the reserved bit +@all sets, which
decides whether a description starts from +@all or -@all) and `allcmds` (the fast
"everything allowed" flag that any removal clears).

Only clients whose user is not unrestricted are checked: Server.acl_free holds the names
of unrestricted users and Client.update_slow sends the others down the full path.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shlex
from typing import Any

from bocho.glob import stringmatch

CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
              "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast",
              "slow", "blocking", "dangerous", "connection", "transaction", "scripting")

READ = 1
WRITE = 2
ALLPERM = READ | WRITE

DENIED_CMD = 1
DENIED_KEY = 2
DENIED_AUTH = 3
DENIED_CHANNEL = 4

LOG_REASONS = {DENIED_CMD: b"command", DENIED_KEY: b"key", DENIED_CHANNEL: b"channel",
               DENIED_AUTH: b"auth"}

SETUSER_ERRORS = {
    "ENOENT": "Unknown command or category name in ACL",
    "EINVAL": "Syntax error",
    "EEXIST": "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid "
              "and does not have any effect. Try 'resetkeys' to start with an empty list "
              "of patterns",
    "EISDIR": "Adding a pattern after the * pattern (or the 'allchannels' flag) is not "
              "valid and does not have any effect. Try 'resetchannels' to start with an "
              "empty list of channels",
    "ENODEV": "The password you are trying to remove from the user does not exist",
    "EBADMSG": "The password hash must be exactly 64 characters and contain only "
               "lowercase hexadecimal characters",
    "EALREADY": "Duplicate user found. A user can only be defined once in config files",
    "ECHILD": "Allowing first-arg of a subcommand is not supported",
}



# SETUSER flags that exclude each other: rule -> (flag set, flag cleared)
_FLAG_PAIRS = {
    b"on": ("on", "off"), b"off": ("off", "on"),
    b"sanitize-payload": ("sanitize-payload", "skip-sanitize-payload"),
    b"skip-sanitize-payload": ("skip-sanitize-payload", "sanitize-payload"),
}

class AclError(Exception):
    """A rule ACLSetUser refuses; .code names the errno Redis would set."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def text(self) -> str:
        return SETUSER_ERRORS.get(self.code, "Wrong format")


def hash_password(pw: bytes) -> bytes:
    return hashlib.sha256(pw).hexdigest().encode()


def _valid_hash(h: bytes) -> bool:
    return len(h) == 64 and all(c in b"0123456789abcdef" for c in h)


def has_spaces(s: bytes) -> bool:
    return any(c in b" \t\n\r\x0b\x0c\x00" for c in s)


# -- the command universe ------------------------------------------------------------------

_ALL: list | None = None  # every Command, containers followed by their subcommands
_CATS: dict = {}  # Command -> frozenset of category names
_TABLE_SIZE = -1  # len(TABLE) when _ALL was built (modules may register more later)


def all_cmds() -> list:
    global _ALL, _TABLE_SIZE
    from bocho.commands import TABLE
    if _ALL is None or len(TABLE) != _TABLE_SIZE:
        _TABLE_SIZE = len(TABLE)
        from bocho.commands import all_commands
        from bocho.commands.command_cmd import acl_categories
        out = []
        for cmd in sorted(all_commands(), key=lambda c: c.name):
            out.append(cmd)
            _CATS[cmd] = frozenset(acl_categories(cmd))
            for sub in sorted((cmd.subcommands or {}).values(), key=lambda c: c.name):
                out.append(sub)
                _CATS[sub] = frozenset(acl_categories(sub))
        _ALL = out
    return _ALL


def cats_of(cmd) -> frozenset:
    all_cmds()
    c = _CATS.get(cmd)
    if c is None:
        from bocho.commands.command_cmd import acl_categories
        c = _CATS[cmd] = frozenset(acl_categories(cmd))
    return c


def lookup_fullname(name: bytes):
    """ACLLookupCommand: "get" or "config|get" (case-insensitive)."""
    from bocho.commands import lookup
    name = name.lower()
    if b"|" in name:
        parent, _, sub = name.partition(b"|")
        cmd = lookup(parent)
        if cmd is None or not cmd.subcommands:
            return None
        return cmd.subcommands.get(sub)
    cmd = lookup(name)
    return cmd


# -- selectors -------------------------------------------------------------------------------

class Selector:
    __slots__ = ("root", "allkeys", "allchannels", "allcmds", "future", "allowed",
                 "firstargs", "patterns", "channels")

    def __init__(self, root: bool, allchannels: bool) -> None:
        self.root = root
        self.allkeys = False
        self.allchannels = allchannels
        self.allcmds = False
        self.future = False
        self.allowed: set = set()
        self.firstargs: dict = {}  # Command -> [bytes]
        self.patterns: list[list] = []  # [pattern, READ|WRITE]
        self.channels: list[bytes] = []

    def copy(self) -> Selector:
        s = Selector(self.root, self.allchannels)
        s.allkeys = self.allkeys
        s.allcmds = self.allcmds
        s.future = self.future
        s.allowed = set(self.allowed)
        s.firstargs = {k: list(v) for k, v in self.firstargs.items()}
        s.patterns = [list(p) for p in self.patterns]
        s.channels = list(self.channels)
        return s

    # ACLChangeSelectorPerm
    def change(self, cmd, allow: bool) -> None:
        targets = [cmd, *(cmd.subcommands or {}).values()]
        if allow:
            self.allowed.update(targets)
        else:
            self.allowed.difference_update(targets)
            self.allcmds = False
        self.firstargs.pop(cmd, None)

    def set_category(self, cat: str, allow: bool) -> None:
        for cmd in all_cmds():
            if cat in cats_of(cmd):
                self.change(cmd, allow)

    def apply(self, op: bytes) -> None:
        """ACLSetSelector."""
        lo = op.lower()
        if lo in (b"allkeys", b"~*"):
            self.allkeys = True
            self.patterns = []
        elif lo == b"resetkeys":
            self.allkeys = False
            self.patterns = []
        elif lo in (b"allchannels", b"&*"):
            self.allchannels = True
            self.channels = []
        elif lo == b"resetchannels":
            self.allchannels = False
            self.channels = []
        elif lo in (b"allcommands", b"+@all"):
            self.allowed = set(all_cmds())
            self.allcmds = self.future = True
            self.firstargs = {}
        elif lo in (b"nocommands", b"-@all"):
            self.allowed = set()
            self.allcmds = self.future = False
            self.firstargs = {}
        elif op[:1] in (b"~", b"%"):
            if self.allkeys:
                raise AclError("EEXIST")
            flags = 0
            off = 1
            if op[:1] == b"%":
                while off < len(op):
                    ch = op[off:off + 1].upper()
                    if ch == b"R" and not flags & READ:
                        flags |= READ
                    elif ch == b"W" and not flags & WRITE:
                        flags |= WRITE
                    elif ch == b"~":
                        off += 1
                        break
                    else:
                        raise AclError("EINVAL")
                    off += 1
                else:
                    raise AclError("EINVAL")
            else:
                flags = ALLPERM
            pat = op[off:]
            if has_spaces(pat):
                raise AclError("EINVAL")
            for p in self.patterns:
                if p[0] == pat:
                    p[1] |= flags
                    break
            else:
                self.patterns.append([pat, flags])
            self.allkeys = False
        elif op[:1] == b"&":
            if self.allchannels:
                raise AclError("EISDIR")
            pat = op[1:]
            if has_spaces(pat):
                raise AclError("EINVAL")
            if pat not in self.channels:
                self.channels.append(pat)
            self.allchannels = False
        elif op[:1] == b"+" and op[1:2] != b"@":
            body = op[1:]
            if b"|" not in body:
                cmd = lookup_fullname(body)
                if cmd is None:
                    raise AclError("ENOENT")
                self.change(cmd, True)
            else:
                head, _, sub = body.rpartition(b"|")
                cmd = lookup_fullname(head)
                if cmd is None:
                    raise AclError("ENOENT")
                if cmd.parent is not None:
                    raise AclError("ECHILD")
                if not sub:
                    raise AclError("EINVAL")
                if cmd.subcommands:
                    subcmd = lookup_fullname(body)
                    if subcmd is None:
                        raise AclError("ENOENT")
                    self.change(subcmd, True)
                else:
                    lst = self.firstargs.setdefault(cmd, [])
                    if not any(x.lower() == sub.lower() for x in lst):
                        lst.append(sub)
        elif op[:1] == b"-" and op[1:2] != b"@":
            cmd = lookup_fullname(op[1:])
            if cmd is None:
                raise AclError("ENOENT")
            self.change(cmd, False)
        elif op[:1] in (b"+", b"-") and op[1:2] == b"@":
            cat = op[2:].lower().decode("latin-1")
            if cat not in CATEGORIES:
                raise AclError("ENOENT")
            self.set_category(cat, op[:1] == b"+")
        else:
            raise AclError("EINVAL")

    # -- description (ACLDescribeSelectorCommandRules) -------------------------------------

    def command_rules(self) -> bytes:
        universe = all_cmds()
        fake = Selector(False, False)
        if self.future:
            rules = [b"+@all"]
            fake.apply(b"+@all")
            additive = False
        else:
            rules = [b"-@all"]
            additive = True
        temp = set(self.allowed)
        applied: set = set()
        while True:
            best = None
            mindiff = 1 << 62
            maxsame = 0
            for cat in CATEGORIES:
                if cat in applied:
                    continue
                on = off = 0
                for cmd in universe:
                    if cat in _CATS[cmd]:
                        if cmd in temp:
                            on += 1
                        else:
                            off += 1
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < mindiff or diff == mindiff and same > maxsame):
                    best, mindiff, maxsame = cat, diff, same
            if best is None:
                break
            fake.set_category(best, additive)
            for cmd in universe:  # the inverse op on temp
                if best in _CATS[cmd]:
                    targets = [cmd, *(cmd.subcommands or {}).values()]
                    if additive:
                        temp.difference_update(targets)
                    else:
                        temp.update(targets)
            rules.append((b"+@" if additive else b"-@") + best.encode())
            applied.add(best)
        for cmd in universe:
            ubit = cmd in self.allowed
            if ubit != (cmd in fake.allowed):
                rules.append((b"+" if ubit else b"-") + cmd.fullname.encode())
                fake.change(cmd, ubit)
            if not ubit:
                for a in self.firstargs.get(cmd, ()):
                    rules.append(b"+" + cmd.fullname.encode() + b"|" + a)
        return b" ".join(rules)

    def keys_descr(self) -> list[bytes]:
        if self.allkeys:
            return [b"~*"]
        return [_pattern_str(p) for p in self.patterns]

    def channels_descr(self) -> list[bytes]:
        if self.allchannels:
            return [b"&*"]
        return [b"&" + c for c in self.channels]

    def describe(self) -> bytes:
        parts = self.keys_descr()
        if self.allchannels:
            parts.append(b"&*")
        else:
            parts.append(b"resetchannels")
            parts.extend(b"&" + c for c in self.channels)
        parts.append(self.command_rules())
        return b" ".join(parts)

    # -- checks -------------------------------------------------------------------------

    def check_key(self, key: bytes, flags: int) -> bool:
        if self.allkeys:
            return True
        for pat, pf in self.patterns:
            if pf & flags == flags and stringmatch(pat, key):
                return True
        return False

    def check_channel(self, ch: bytes, is_pattern: bool) -> bool:
        if self.allchannels:
            return True
        for pat in self.channels:
            if (pat == ch) if is_pattern else stringmatch(pat, ch):
                return True
        return False

    def check_cmd(self, cmd, argv: list[bytes], cache: dict) -> tuple[int, int]:
        """ACLSelectorCheckCmd: (0, 0) or (reason, argument position)."""
        if not self.allcmds and not cmd.flags & _NO_AUTH and cmd not in self.allowed:
            allowed = self.firstargs.get(cmd)
            idx = 2 if cmd.parent is not None else 1
            if not allowed or len(argv) <= idx:
                return DENIED_CMD, 0
            a = argv[idx].lower()
            if not any(x.lower() == a for x in allowed):
                return DENIED_CMD, 0
        if not self.allkeys:
            keys = cache.get("keys")
            if keys is None:
                keys = cache["keys"] = command_keys(cmd, argv)
            for pos, fl in keys:
                if not self.check_key(argv[pos], fl):
                    return DENIED_KEY, pos
        if not self.allchannels:
            for pos, is_pat in command_channels(cmd, argv):
                if not self.check_channel(argv[pos], is_pat):
                    return DENIED_CHANNEL, pos
        return 0, 0


_NO_AUTH = 1 << 12  # bocho.commands.NO_AUTH


def _pattern_str(p: list) -> bytes:
    pat, fl = p
    if fl == ALLPERM:
        return b"~" + pat
    return (b"%R~" if fl == READ else b"%W~") + pat


_KEYFLAG_PERM = {"access": READ, "insert": WRITE, "delete": WRITE, "update": WRITE}


def command_keys(cmd, argv: list[bytes]) -> list[tuple[int, int]]:
    from bocho.commands.command_cmd import _has_keys, keys_and_flags
    if not _has_keys(cmd):
        return []
    out = []
    try:
        pairs = keys_and_flags(cmd, argv)
    except Exception:
        return []
    for pos, flags in pairs:
        if pos >= len(argv) or "not_key" in flags:
            continue
        perm = 0
        for f in flags:
            perm |= _KEYFLAG_PERM.get(f, 0)
        out.append((pos, perm))
    return out


_PUB = {"publish", "spublish"}
_SUB = {"subscribe", "ssubscribe"}


def command_channels(cmd, argv: list[bytes]) -> list[tuple[int, bool]]:
    """getChannelsFromCommand, the publish/subscribe part ACL checks."""
    name = cmd.fullname
    if name in _PUB:
        return [(1, False)] if len(argv) > 1 else []
    if name in _SUB:
        return [(i, False) for i in range(1, len(argv))]
    if name == "psubscribe":
        return [(i, True) for i in range(1, len(argv))]
    return []


# -- users -----------------------------------------------------------------------------------

USER_FLAG_ORDER = ("on", "off", "nopass", "skip-sanitize-payload", "sanitize-payload")


class User:
    __slots__ = ("name", "flags", "passwords", "selectors")

    def __init__(self, name: bytes, allchannels: bool = False) -> None:
        self.name = name
        self.flags = {"off"}
        self.passwords: list[bytes] = []
        self.selectors = [Selector(True, allchannels)]

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    @property
    def enabled(self) -> bool:
        return "on" in self.flags

    @property
    def nopass(self) -> bool:
        return "nopass" in self.flags

    def copy(self, name: bytes | None = None) -> User:
        u = User(self.name if name is None else name)
        u.flags = set(self.flags)
        u.passwords = list(self.passwords)
        u.selectors = [s.copy() for s in self.selectors]
        return u

    def unrestricted(self) -> bool:
        r = self.root
        return r.allcmds and r.allkeys and r.allchannels

    def apply(self, op: bytes, pubsub_all: bool) -> None:
        """ACLSetUser."""
        if not op:
            return
        lo = op.lower()
        fl = self.flags
        pair = _FLAG_PAIRS.get(lo)
        if pair is not None:  # a flag and the one it excludes
            fl.discard(pair[1])
            fl.add(pair[0])
        elif lo == b"nopass":
            fl.add("nopass")
            self.passwords = []
        elif lo == b"resetpass":
            fl.discard("nopass")
            self.passwords = []
        elif op[:1] in (b">", b"#"):
            if op[:1] == b">":
                h = hash_password(op[1:])
            else:
                h = op[1:]
                if not _valid_hash(h):
                    raise AclError("EBADMSG")
            if h not in self.passwords:
                self.passwords.append(h)
            fl.discard("nopass")
        elif op[:1] in (b"<", b"!"):
            if op[:1] == b"<":
                h = hash_password(op[1:])
            else:
                h = op[1:]
                if not _valid_hash(h):
                    raise AclError("EBADMSG")
            if h not in self.passwords:
                raise AclError("ENODEV")
            self.passwords.remove(h)
        elif op[:1] == b"(" and op[-1:] == b")":
            s = Selector(False, pubsub_all)
            try:
                args = shlex.split(op[1:-1].decode("latin-1"))
            except ValueError:
                raise AclError("EINVAL") from None
            for a in args:
                s.apply(a.encode("latin-1"))
            self.selectors.append(s)
        elif lo == b"clearselectors":
            del self.selectors[1:]
        elif lo == b"reset":
            for o in (b"resetpass", b"resetkeys", b"resetchannels"):
                self.apply(o, pubsub_all)
            if pubsub_all:
                self.apply(b"allchannels", pubsub_all)
            for o in (b"off", b"sanitize-payload", b"clearselectors", b"-@all"):
                self.apply(o, pubsub_all)
        else:
            self.root.apply(op)

    def describe(self) -> bytes:
        parts = [f.encode() for f in USER_FLAG_ORDER if f in self.flags]
        parts.extend(b"#" + p for p in self.passwords)
        out = b" ".join(parts)
        for s in self.selectors:
            d = s.describe()
            if s.root:
                out = out + b" " + d if out else d
            else:
                out += b" (" + d + b")"
        return out

    def check_password(self, pw: bytes) -> bool:
        if "off" in self.flags:
            return False
        if self.nopass:
            return True
        h = hash_password(pw)
        return any(hmac.compare_digest(h, p) for p in self.passwords)

    def check(self, cmd, argv: list[bytes]) -> tuple[int, int]:
        """ACLCheckAllUserCommandPerm: (0, 0) when allowed, else (reason, position)."""
        relevant, last = DENIED_CMD, 0
        cache: dict = {}
        for s in self.selectors:
            r, pos = s.check_cmd(cmd, argv, cache)
            if not r:
                return 0, 0
            if r > relevant or (r == relevant and pos > last):
                relevant, last = r, pos
        return relevant, last

    def check_channel(self, ch: bytes, is_pattern: bool) -> bool:
        return any(s.check_channel(ch, is_pattern) for s in self.selectors)


def merge_selector_args(args: list[bytes]) -> tuple[list[bytes] | None, int]:
    """ACLMergeSelectorArguments: join `(a`, `b)` into `(a b)`; (None, index) when a
    parenthesis is left open."""
    out: list[bytes] = []
    cur = None
    start = -1
    for i, op in enumerate(args):
        if cur is None and op[:1] == b"(" and op[-1:] != b")":
            cur = op
            start = i
            continue
        if cur is not None:
            cur += b" " + op
            if op[-1:] == b")":
                out.append(cur)
                cur = None
            continue
        out.append(op)
    if cur is not None:
        return None, start
    return out, -1


class LogEntry:
    __slots__ = ("count", "reason", "context", "object", "username", "ctime", "cinfo")


class Acl:
    """The server's users, the ACL log and the checks Client.call uses."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.users: dict[bytes, User] = {}
        self.log: list[LogEntry] = []
        self.pending_close: list = []  # clients to close once their reply is out
        self.default = self.make_default()
        self.users[b"default"] = self.default
        self.refresh()

    @property
    def pubsub_all(self) -> bool:
        return self.server.config["acl-pubsub-default"] == "allchannels"

    def make_default(self) -> User:
        u = User(b"default", self.pubsub_all)
        for op in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            u.apply(op, False)
        return u

    def get_user(self, name: bytes) -> User | None:
        return self.users.get(name)

    def new_user(self, name: bytes) -> User:
        return User(name, self.pubsub_all)

    # -- state shared with the rest of the server -----------------------------------------

    def refresh(self) -> None:
        """Recompute what the hot path caches: unrestricted users, whether the default
        user needs AUTH; then every client's slow flag."""
        srv = self.server
        srv.acl_free = {n for n, u in self.users.items() if u.unrestricted()}
        d = self.default
        srv.default_needs_auth = not d.nopass or not d.enabled
        srv.requirepass = "x" if srv.default_needs_auth else ""
        srv.default_nopass = d.nopass
        for c in list(srv.clients.values()):
            c.update_slow()

    def set_requirepass(self, pw: str | None) -> None:
        """ACLUpdateDefaultUserPassword."""
        self.default.apply(b"resetpass", False)
        if pw:
            self.default.apply(b">" + pw.encode("utf-8", "surrogateescape"), False)
        else:
            self.default.apply(b"nopass", False)
        self.refresh()

    # -- SETUSER ----------------------------------------------------------------------------

    def setuser(self, name: bytes, args: list[bytes]) -> str | None:
        """ACLStringSetUser: apply all rules to a copy, commit only if all succeed.
        Returns an error text or None."""
        merged, bad = merge_selector_args(args)
        if merged is None:
            return ("Unmatched parenthesis in acl selector starting at '{}'.".format(args[bad].decode("latin-1")))
        old = self.users.get(name)
        tmp = old.copy() if old is not None else self.new_user(name)
        pubsub_all = self.pubsub_all
        for op in merged:
            try:
                tmp.apply(op, pubsub_all)
            except AclError as e:
                return "Error in ACL SETUSER modifier '{}': {}".format(op.decode("latin-1"),
                                                                   e.text)
        if old is not None:
            self.kill_pubsub_if_needed(tmp, old)
            old.flags, old.passwords, old.selectors = tmp.flags, tmp.passwords, tmp.selectors
        else:
            self.users[name] = tmp
        self.refresh()
        return None

    def kill_pubsub_if_needed(self, new: User, old: User) -> None:
        """ACLKillPubsubClientsIfNeeded."""
        if any(s.allchannels for s in new.selectors):
            return
        upcoming = [ch for s in new.selectors for ch in s.channels]
        match = True
        for s in old.selectors:
            if s.allchannels or any(ch not in upcoming for ch in s.channels):
                match = False
                break
        if match:
            return

        def denied(ch: bytes, is_pat: bool) -> bool:
            return not any((p == ch) if is_pat else stringmatch(p, ch) for p in upcoming)

        for c in list(self.server.clients.values()):
            if c.user != old.name or not (c.channels or c.patterns or c.shard_channels):
                continue
            if (any(denied(p, True) for p in c.patterns)
                    or any(denied(ch, False) for ch in c.channels)
                    or any(denied(ch, False) for ch in c.shard_channels)):
                self._kill(c)

    def deluser(self, names: list[bytes]) -> int:
        n = 0
        for name in names:
            u = self.users.pop(name, None)
            if u is None:
                continue
            n += 1
            self.kill_clients_of(name)
        self.refresh()
        return n

    def kill_clients_of(self, name: bytes) -> None:
        """ACLFreeUserAndKillClients."""
        srv = self.server
        for c in list(srv.clients.values()):
            if c.user == name:
                c.user = b"default"
                c.authenticated = False
                self._kill(c)

    def _kill(self, c) -> None:
        """Drop a client; the one running the ACL command gets its reply first."""
        if c.current:
            self.pending_close.append(c)
        else:
            c.close_now()

    # -- checks -------------------------------------------------------------------------

    def user_of(self, c) -> User:
        return self.users.get(c.user) or self.default

    def check_call(self, c, cmd, argv: list[bytes]) -> None:
        """processCommand's ACL step: raise NOPERM (and log) when the user may not."""
        u = self.users.get(c.user) or self.default
        reason, pos = u.check(cmd, argv)
        if not reason:
            return
        from bocho.errors import CommandError
        self.add_log(c, reason, "multi" if c.multi is not None else "toplevel", pos,
                     cmd=cmd, argv=argv)
        if reason == DENIED_CMD:
            raise CommandError(b"NOPERM this user has no permissions to run the '%s' command"
                               % cmd.fullname.encode())
        if reason == DENIED_KEY:
            raise CommandError(b"NOPERM this user has no permissions to access one of the "
                               b"keys used as arguments")
        raise CommandError(b"NOPERM this user has no permissions to access one of the "
                           b"channels used as arguments")

    def check_exec(self, c, cmd, argv: list[bytes]) -> bytes | None:
        """EXEC's re-check of a queued command: the error reply, or None."""
        if c.user in self.server.acl_free:
            return None
        u = self.users.get(c.user) or self.default
        reason, pos = u.check(cmd, argv)
        if not reason:
            return None
        self.add_log(c, reason, "multi", pos, cmd=cmd, argv=argv)
        why = {DENIED_CMD: b"no permission to execute the command or subcommand",
               DENIED_KEY: b"no permission to touch the specified keys",
               DENIED_CHANNEL: b"no permission to access one of the channels used as "
                               b"arguments"}[reason]
        return (b"-NOPERM ACLs rules changed between the moment the transaction was "
                b"accumulated and the EXEC call. This command is no longer allowed for the "
                b"following reason: " + why + b"\r\n")

    def check_script(self, caller, sc, cmd, argv: list[bytes]) -> bytes | None:
        """scriptVerifyACL: the error text for redis.call, or None."""
        if caller.user in self.server.acl_free:
            return None
        u = self.users.get(caller.user) or self.default
        reason, pos = u.check(cmd, argv)
        if not reason:
            return None
        self.add_log(caller, reason, "lua", pos, cmd=cmd, argv=argv, script=True)
        msg = {DENIED_CMD: b"can't run this command or subcommand",
               DENIED_KEY: b"can't access at least one of the keys mentioned in the "
                           b"command arguments",
               DENIED_CHANNEL: b"can't publish to the channel mentioned in the command"}
        return b"ERR The user executing the script " + msg[reason]

    def unrestricted_read(self, c, argv: list[bytes]) -> bool:
        """ACLUserCheckCmdWithUnrestrictedKeyAccess(..., access): some selector runs the
        command and reads every key (~*, %R~* or allkeys)."""
        from bocho.commands import lookup
        u = self.users.get(c.user) or self.default
        cmd = lookup(argv[0])
        if cmd is None:
            return False
        cache: dict = {}
        for s in u.selectors:
            if s.check_cmd(cmd, argv, cache)[0]:
                continue
            if s.allkeys or any(p == b"*" and f & READ for p, f in s.patterns):
                return True
        return False

    def authenticate(self, c, name: bytes, pw: bytes, argv0: bytes = b"AUTH") -> bool:
        u = self.users.get(name)
        if u is not None and u.check_password(pw):
            c.authenticated = True
            c.user = name
            c.update_slow()
            return True
        self.add_log(c, DENIED_AUTH, "multi" if c.multi is not None else "toplevel",
                     0, username=name, obj=argv0)
        return False

    def add_log(self, c, reason: int, context: str, pos: int, username: bytes | None = None,
                obj: bytes | None = None, cmd: Any = None, argv: list | None = None,
                script: bool = False) -> None:
        """addACLLogEntry, grouping repeats among the 10 newest entries."""
        srv = self.server
        from bocho import clock
        from bocho.commands.client_cmds import client_info_string
        if obj is None:
            if reason == DENIED_CMD:
                obj = (cmd or c.cmd).fullname.encode()
            else:
                obj = (argv if argv is not None else c.argv)[pos]
        e = LogEntry()
        e.count = 1
        e.reason = reason
        e.context = context
        e.object = obj
        e.username = username if username is not None else c.user
        e.ctime = clock.mstime()
        e.cinfo = client_info_string(srv, c).encode()
        for i, cur in enumerate(self.log[:10]):
            if (cur.reason == e.reason and cur.context == e.context
                    and cur.object == e.object and cur.username == e.username
                    and e.ctime - cur.ctime <= 60000):
                del self.log[i]
                cur.cinfo = e.cinfo
                cur.ctime = e.ctime
                cur.count += 1
                self.log.insert(0, cur)
                return
        self.log.insert(0, e)
        maxlen = srv.config["acllog-max-len"]
        del self.log[maxlen:]

    # -- files ------------------------------------------------------------------------------

    def load_configured(self, lines: list[list[str]]) -> str | None:
        """ACLLoadConfiguredUsers: `user` lines of the config file."""
        seen = set()
        for argv in lines:
            name = argv[0].encode("utf-8", "surrogateescape")
            if name in seen:
                return f"Duplicate user '{argv[0]}' found"
            seen.add(name)
            if has_spaces(name):
                return "Spaces not allowed in ACL usernames"
            ops = [a.encode("utf-8", "surrogateescape") for a in argv[1:]]
            merged, _ = merge_selector_args(ops)
            if merged is None:
                return "Unmatched parenthesis in acl selector"
            u = self.users.get(name)
            if u is None:
                u = self.users[name] = self.new_user(name)
            else:
                u.apply(b"reset", self.pubsub_all)
            for op in merged:
                try:
                    u.apply(op, self.pubsub_all)
                except AclError as e:
                    return ("Error loading ACL rule '{}' for the user named '{}': {}".format(op.decode("latin-1"), argv[0], e.text))
        self.refresh()
        return None

    def load_file(self, filename: str) -> str | None:
        """ACLLoadFromFile: all or nothing; the error text or None."""
        try:
            with open(filename, "rb") as f:
                data = f.read()
        except OSError as e:
            return f"Error loading ACLs, opening file '{filename}': {e.strerror}"
        users: dict[bytes, User] = {}
        errors = []
        pubsub_all = self.pubsub_all
        for i, line in enumerate(data.split(b"\n")):
            line = line.strip(b" \t\r\n")
            if not line:
                continue
            argv = [a for a in line.split(b" ") if a]
            if not argv:
                continue
            linenum = i + 1
            if argv[0] != b"user" or len(argv) < 2:
                errors.append(f"{filename}:{linenum} should start with user keyword followed "
                              "by the username. ")
                continue
            name = argv[1]
            if has_spaces(name):
                errors.append(f"'{filename}:{linenum}: username '{name.decode('latin-1')}' "
                              "contains invalid characters. ")
                continue
            if name in users:
                errors.append(f"WARNING: Duplicate user '{name.decode('latin-1')}' found on "
                              f"line {linenum}. ")
                continue
            u = users[name] = User(name, pubsub_all)
            merged, _ = merge_selector_args(argv[2:])
            if merged is None:
                errors.append(f"{filename}:{linenum}: Unmatched parenthesis in selector "
                              "definition.")
                merged = []
            syntax = False
            for op in merged:
                op = op.strip(b"\t\r\n")
                try:
                    u.apply(op, pubsub_all)
                except AclError as e:
                    if e.code == "ENOENT":
                        errors.append(f"{filename}:{linenum}: Error in applying operation "
                                      f"'{op.decode('latin-1')}': {e.text}. ")
                    elif not syntax:
                        errors.append(f"{filename}:{linenum}: {e.text}. ")
                        syntax = True
        if errors:
            return "".join(errors) + ("WARNING: ACL errors detected, no change to the "
                                      "previously active ACL rules was performed")
        new_default = users.get(b"default") or self.make_default()
        d = self.default
        d.flags, d.passwords, d.selectors = (new_default.flags, new_default.passwords,
                                             new_default.selectors)
        users[b"default"] = d
        old = self.users
        self.users = users
        # the old users are freed: their clients are disconnected (the default user
        # object is kept, so its clients stay)
        for name in old:
            if name != b"default":
                self.kill_clients_of(name)
        self.refresh()
        return None

    def save_file(self, filename: str) -> bool:
        data = b"".join(b"user " + n + b" " + u.describe() + b"\n"
                        for n, u in sorted(self.users.items()))
        tmp = f"{filename}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, filename)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        return True

    def config_lines(self) -> list[str]:
        """CONFIG REWRITE's `user` lines."""
        return [(b"user " + n + b" " + u.describe()).decode("utf-8", "surrogateescape")
                for n, u in sorted(self.users.items())]
