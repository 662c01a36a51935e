"""ACL and its subcommands (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS,
LOG, DRYRUN, LOAD, SAVE, HELP), in Redis 7.0's reply shapes. The model is bocho/acl.py."""

from __future__ import annotations

import os

from bocho import clock, resp
from bocho.acl import CATEGORIES, DENIED_CMD, DENIED_KEY, LOG_REASONS, all_cmds, cats_of, has_spaces
from bocho.commands import TABLE, command, lookup
from bocho.errors import CommandError
from bocho.util import parse_int

SRV = "server"
FL = "admin noscript loading stale sentinel"


def _syntax(argv: list[bytes]) -> CommandError:
    return CommandError(b"ERR unknown subcommand or wrong number of arguments for '%s'. "
                        b"Try ACL HELP." % argv[1][:128])


def _finish(c, reply: bytes) -> bytes | None:
    """Reply, then drop the clients an ACL change disconnected (this one last)."""
    acl = c.server.acl
    if not acl.pending_close:
        return reply
    pending, acl.pending_close = acl.pending_close, []
    if c in pending:
        c.out.append(reply)
        c.flush()
        c.close()
        return None
    for x in pending:
        x.close_now()
    return reply


@command("acl|setuser", -3, FL, group=SRV, since="6.0.0",
         summary="Modify or create the rules for a specific ACL user",
         complexity="O(N). Where N is the number of rules provided.")
def acl_setuser(c, argv):
    name = argv[2]
    if has_spaces(name):
        raise CommandError(b"ERR Usernames can't contain spaces or null characters")
    err = c.server.acl.setuser(name, argv[3:])
    if err is not None:
        raise CommandError(b"ERR " + err.encode("latin-1").replace(b"\r\n", b"  ")
                           .replace(b"\n", b" "))
    return _finish(c, resp.OK)


@command("acl|deluser", -3, FL, group=SRV, since="6.0.0",
         summary="Remove the specified ACL users and the associated rules",
         complexity="O(1) amortized time considering the typical user.")
def acl_deluser(c, argv):
    if any(n == b"default" for n in argv[2:]):
        raise CommandError(b"ERR The 'default' user cannot be removed")
    n = c.server.acl.deluser(argv[2:])
    return _finish(c, resp.integer(n))


def _selector_fields(s) -> list[bytes]:
    return [resp.bulk(b"commands"), resp.bulk(s.command_rules()),
            resp.bulk(b"keys"), resp.bulk(b" ".join(s.keys_descr())),
            resp.bulk(b"channels"), resp.bulk(b" ".join(s.channels_descr()))]


@command("acl|getuser", 3, FL, group=SRV, since="6.0.0",
         summary="Get the rules for a specific ACL user",
         complexity="O(N). Where N is the number of password, command and pattern rules "
         "that the user has.")
def acl_getuser(c, argv):
    u = c.server.acl.get_user(argv[2])
    r = c.resp
    if u is None:
        return resp.null(r)
    from bocho.acl import USER_FLAG_ORDER
    flags = [f.encode() for f in USER_FLAG_ORDER if f in u.flags]
    parts = [resp.map_header(6, r), resp.bulk(b"flags"),
             resp.set_header(len(flags), r), *(resp.bulk(f) for f in flags),
             resp.bulk(b"passwords"), resp.array_header(len(u.passwords)),
             *(resp.bulk(p) for p in u.passwords)]
    parts += _selector_fields(u.root)
    parts += [resp.bulk(b"selectors"), resp.array_header(len(u.selectors) - 1)]
    for s in u.selectors[1:]:
        parts.append(resp.map_header(3, r))
        parts += _selector_fields(s)
    return b"".join(parts)


@command("acl|list", 2, FL, group=SRV, since="6.0.0",
         summary="List the current ACL rules in ACL config file format",
         complexity="O(N). Where N is the number of configured users.")
def acl_list(c, argv):
    users = sorted(c.server.acl.users.items())
    return resp.array_header(len(users)) + b"".join(
        resp.bulk(b"user " + n + b" " + u.describe()) for n, u in users)


@command("acl|users", 2, FL, group=SRV, since="6.0.0",
         summary="List the username of all the configured ACL rules",
         complexity="O(N). Where N is the number of configured users.")
def acl_users(c, argv):
    names = sorted(c.server.acl.users)
    return resp.array_header(len(names)) + b"".join(resp.bulk(n) for n in names)


@command("acl|whoami", 2, "noscript loading stale sentinel", group=SRV, since="6.0.0",
         summary="Return the name of the user associated to the current connection",
         complexity="O(1)")
def acl_whoami(c, argv):
    return resp.bulk(c.user)


_NO_FILE = (b"ERR This Redis instance is not configured to use an ACL file. You may want to "
            b"specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
            b"(assuming you have a Redis configuration file set) in order to store users in "
            b"the Redis configuration.")


@command("acl|load", 2, FL, group=SRV, since="6.0.0",
         summary="Reload the ACLs from the configured ACL file",
         complexity="O(N). Where N is the number of configured users.")
def acl_load(c, argv):
    fn = c.server.config["aclfile"]
    if not fn:
        raise CommandError(_NO_FILE)
    err = c.server.acl.load_file(fn)
    if err is not None:
        raise CommandError(b"ERR " + err.encode("utf-8", "surrogateescape"))
    return _finish(c, resp.OK)


@command("acl|save", 2, FL, group=SRV, since="6.0.0",
         summary="Save the current ACL rules in the configured ACL file",
         complexity="O(N). Where N is the number of configured users.")
def acl_save(c, argv):
    fn = c.server.config["aclfile"]
    if not fn:
        raise CommandError(_NO_FILE)
    if not c.server.acl.save_file(fn):
        raise CommandError(b"ERR There was an error trying to save the ACLs. Please check "
                           b"the server logs for more information")
    return resp.OK


@command("acl|cat", -2, "noscript loading stale sentinel", group=SRV, since="6.0.0",
         summary="List the ACL categories or the commands inside a category",
         complexity="O(1) since the categories and commands are a fixed set.")
def acl_cat(c, argv):
    if len(argv) == 2:
        return resp.array_header(len(CATEGORIES)) + b"".join(
            resp.bulk(x.encode()) for x in CATEGORIES)
    if len(argv) != 3:
        raise _syntax(argv)
    cat = argv[2].lower().decode("latin-1")
    if cat not in CATEGORIES:
        raise CommandError(b"ERR Unknown category '%s'" % argv[2][:128])
    names = [cmd.fullname.encode() for cmd in all_cmds() if cat in cats_of(cmd)]
    return resp.array_header(len(names)) + b"".join(resp.bulk(n) for n in names)


@command("acl|genpass", -2, "noscript loading stale sentinel", group=SRV, since="6.0.0",
         summary="Generate a pseudorandom secure password to use for ACL users",
         complexity="O(1)")
def acl_genpass(c, argv):
    if len(argv) > 3:
        raise _syntax(argv)
    bits = 256
    if len(argv) == 3:
        bits = parse_int(argv[2])
    if bits <= 0 or bits > 4096:
        raise CommandError(b"ERR ACL GENPASS argument must be the number of bits for the "
                           b"output password, a positive number up to 4096")
    chars = (bits + 3) // 4
    return resp.bulk(os.urandom((chars + 1) // 2).hex()[:chars].encode())


@command("acl|log", -2, FL, group=SRV, since="6.0.0",
         summary="List latest events denied because of ACLs in place",
         complexity="O(N) with N being the number of entries shown.")
def acl_log(c, argv):
    acl = c.server.acl
    if len(argv) > 3:
        raise _syntax(argv)
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            acl.log.clear()
            return resp.OK
        count = max(parse_int(argv[2]), 0)
    entries = acl.log[:count]
    r = c.resp
    now = clock.mstime()
    parts = [resp.array_header(len(entries))]
    for e in entries:
        parts += [resp.map_header(7, r),
                  resp.bulk(b"count"), resp.integer(e.count),
                  resp.bulk(b"reason"), resp.bulk(LOG_REASONS[e.reason]),
                  resp.bulk(b"context"), resp.bulk(e.context.encode()),
                  resp.bulk(b"object"), resp.bulk(e.object),
                  resp.bulk(b"username"), resp.bulk(e.username),
                  resp.bulk(b"age-seconds"), resp.double((now - e.ctime) / 1000, r),
                  resp.bulk(b"client-info"), resp.bulk(e.cinfo)]
    return b"".join(parts)


@command("acl|dryrun", -4, FL, group=SRV, since="7.0.0",
         summary="Returns whether the user can execute the given command without executing "
         "the command.", complexity="O(1).")
def acl_dryrun(c, argv):
    u = c.server.acl.get_user(argv[2])
    if u is None:
        raise CommandError(b"ERR User '%s' not found" % argv[2])
    target = argv[3:]
    cmd = lookup(target[0])
    if cmd is not None and cmd.subcommands is not None and len(target) >= 2:
        cmd = cmd.subcommands.get(target[1].lower())
    if cmd is None:
        raise CommandError(b"ERR Command '%s' not found" % target[0])
    if not cmd.arity_ok(len(target)):
        raise CommandError(b"ERR wrong number of arguments for '%s' command"
                           % cmd.fullname.encode())
    reason, pos = u.check(cmd, target)
    if not reason:
        return resp.OK
    if reason == DENIED_CMD:
        msg = b"This user has no permissions to run the '%s' command" % cmd.fullname.encode()
    elif reason == DENIED_KEY:
        msg = b"This user has no permissions to access the '%s' key" % target[pos]
    else:
        msg = b"This user has no permissions to access the '%s' channel" % target[pos]
    return resp.bulk(msg)


HELP = [
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
]


@command("acl|help", 2, "loading stale sentinel", group=SRV, since="6.0.0",
         summary="Show helpful text about the different subcommands", complexity="O(1)")
def acl_help(c, argv):
    return resp.help_reply("acl", HELP)


_container = TABLE[b"acl"]
_container.summary = "A container for Access List Control commands "
_container.complexity = "Depends on subcommand."
_container.since = "6.0.0"
_container.group = SRV
