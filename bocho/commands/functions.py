"""FUNCTION: libraries of Lua functions arrive with scripting (a later issue). Until then
the library registry is always empty, so FUNCTION FLUSH has nothing to remove and
FUNCTION LIST nothing to show; test suites send FUNCTION FLUSH before every block."""

from __future__ import annotations

from bocho import resp
from bocho.commands import command
from bocho.errors import syntax


@command("function|flush", -2, "write noscript", group="scripting", acl=("scripting",),
         tips=("request_policy:all_shards", "response_policy:all_succeeded"),
         since="7.0.0", summary="Delete all functions")
def function_flush(c, argv):
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"async", b"sync")):
        raise syntax()
    return resp.OK


@command("function|list", -2, "noscript", group="scripting", acl=("scripting",),
         tips=("nondeterministic_output_order",),
         since="7.0.0", summary="List information about all the functions")
def function_list(c, argv):
    return resp.EMPTY_ARRAY
