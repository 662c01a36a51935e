"""Error replies with Redis's exact text. Handlers raise CommandError on their (rare)
error paths; the dispatcher turns it into a reply and counts it for INFO errorstats."""


class CommandError(Exception):
    """An error reply. `msg` is the text after '-', e.g. b"ERR syntax error"."""

    __slots__ = ("msg",)
    # False for an error already counted in INFO errorstats where it arose (a script's
    # failed redis.call): the command still counts as failed, the error not again
    update_stats = True

    def __init__(self, msg: bytes | str) -> None:
        if isinstance(msg, str):
            msg = msg.encode()
        self.msg = msg

    def reply(self) -> bytes:
        # An error reply is one line: newlines in the text would break the protocol.
        return b"-" + self.msg.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


SYNTAX = b"ERR syntax error"
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = b"ERR value is not an integer or out of range"
NOT_FLOAT = b"ERR value is not a valid float"
NO_SUCH_KEY = b"ERR no such key"
OUT_OF_RANGE = b"ERR index out of range"
DB_INDEX = b"ERR DB index is out of range"
NOAUTH = b"NOAUTH Authentication required."
WRONGPASS = b"WRONGPASS invalid username-password pair or user is disabled."
OVERFLOW = b"ERR increment or decrement would overflow"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"
OOM = b"OOM command not allowed when used memory > 'maxmemory'."


class CountedError(CommandError):
    """An error reply whose error was counted already (see update_stats)."""

    __slots__ = ()
    update_stats = False


def wrong_args(name: bytes | str) -> CommandError:
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def syntax() -> CommandError:
    return CommandError(SYNTAX)


def wrongtype() -> CommandError:
    return CommandError(WRONGTYPE)
