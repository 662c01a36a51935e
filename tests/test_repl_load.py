"""A replica's diskless load: the one RDB reader fed the master's payload as it comes
(rdb.Loader, pure logic), then real processes: a swapdb load serves the old data while
the master's payload is still coming and the new one after; a master going away
mid-transfer leaves the old data (swapdb) or none (disabled); other clients get
-LOADING while a load without swapdb is under way."""

from __future__ import annotations

import random

import pytest

from bocho.persistence import rdb
from bocho.persistence.rdbio import RdbError
from tests.test_rdb_types import Local, contents, new_server, populate_cmds, run_all, save_bytes


def _saved() -> bytes:
    srv = new_server()
    call = Local(srv)
    run_all(call, populate_cmds(big=False))
    call("function", "load", "#!lua name=lib\nredis.register_function('f', "
         "function() return 1 end)")
    return srv, save_bytes(srv)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_loader_fed_in_pieces_reads_what_a_whole_load_reads(seed):
    src, data = _saved()
    rnd = random.Random(seed)
    srv = new_server()
    ld = rdb.Loader(srv)
    pos = 0
    while pos < len(data):
        n = rnd.choice((1, 2, 7, 100, 4096, 70000))
        done = ld.feed(data[pos:pos + n])
        pos += n
        assert not done or pos >= len(data)
        while ld.more():  # with a budget too: what the replica does between events
            ld.feed(b"", budget=rnd.choice((1, 50, 5000)))
    assert ld.feed(b"", final=True)
    assert ld.res.keys_loaded == rdb.load(new_server(), data).keys_loaded
    assert contents(Local(srv)) == contents(Local(src))
    assert Local(srv)("fcall", "f", 0) == 1


def test_loader_fed_in_pieces_checks_the_crc_and_the_end():
    _, data = _saved()
    bad = bytearray(data)
    bad[-1] ^= 1
    ld = rdb.Loader(new_server())
    for i in range(0, len(bad), 1000):
        ld.feed(bytes(bad[i:i + 1000]))
    with pytest.raises(RdbError, match="Wrong RDB checksum"):
        ld.feed(b"", final=True)
    ld = rdb.Loader(new_server())
    ld.feed(data[:len(data) // 2])
    with pytest.raises(RdbError, match="Unexpected EOF"):
        ld.feed(b"", final=True)


def test_loader_into_other_dbs_leaves_the_servers_and_the_functions_to_the_caller():
    _, data = _saved()
    srv = new_server()
    Local(srv)("set", "old", "1")
    from bocho.db import Database
    fresh = [Database(srv, i) for i in range(len(srv.dbs))]
    ld = rdb.Loader(srv, dbs=fresh, load_functions=False)
    assert ld.feed(data, final=True)
    assert list(srv.dbs[0].data) == [b"old"]
    assert sum(len(d.data) for d in fresh) == ld.res.keys_loaded
    assert len(ld.res.functions) == 1
