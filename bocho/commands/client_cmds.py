"""CLIENT subcommands and the client-state helpers other modules use."""

from __future__ import annotations

from bocho.errors import CommandError


def validate_name(name: bytes) -> None:
    for ch in name:
        if ch < 33 or ch > 126:
            raise CommandError(b"ERR Client names cannot contain spaces, newlines or special characters.")


def client_info_string(server, c) -> str:
    return f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={c.name.decode(errors='replace')} db={c.db.id}"


def should_pause(server, c, cmd, argv) -> bool:
    return False


def unpause(server) -> None:
    server.pause_end = 0
    server.update_slow()
