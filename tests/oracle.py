"""Side-by-side comparison with a real redis-server: the same commands on both, replies
(or error texts) compared. Used with the `pair` fixture of conftest.py."""

from __future__ import annotations

import redis


def run(client, cmds):
    """Each command's reply, or ("error", text): comparable across servers."""
    out = []
    for cmd in cmds:
        try:
            out.append(client.execute_command(*cmd))
        except redis.ResponseError as e:
            out.append(("error", str(e)))
    return out


def assert_same(got, want, cmds) -> None:
    for cmd, g, w in zip(cmds, got, want, strict=True):
        assert g == w, f"{cmd}: bocho {g!r} != redis {w!r}"
