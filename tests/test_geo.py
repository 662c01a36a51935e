"""Geo commands (geo.c) side by side with the real redis-server in RESP2 and RESP3,
randomized searches compared with Redis, and interoperability: a geo set is a plain
zset whose scores mean the same thing to both servers."""

from __future__ import annotations

import random

import pytest
from oracle import assert_same, run

SICILY = [
    ("GEOADD", "Sicily", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"),
    ("GEOADD", "Sicily", 200, 100, "x"), ("GEOADD", "Sicily", 13, 38),
    ("GEOADD", "Sicily", "NX", "XX", 13, 38, "a"), ("GEOADD", "Sicily", "abc", 38, "a"),
    ("GEOADD", "Sicily", "CH", 13.361389, 38.2, "Palermo", 12, 37, "Trapani"),
    ("GEOADD", "Sicily", "XX", "CH", 13.361389, 38.115556, "Palermo", 1, 1, "nope"),
    ("GEOADD", "Sicily", "NX", 0, 0, "Palermo"), ("GEOADD", "Sicily", 180, 85.05112878, "corner"),
    ("GEOADD", "Sicily", 180, 85.06, "toonorth"),
    ("ZRANGE", "Sicily", 0, -1, "WITHSCORES"),
]

POINTS = [
    ("GEODIST", "Sicily", "Palermo", "Catania"), ("GEODIST", "Sicily", "Palermo", "Catania", "km"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "MI"), ("GEODIST", "Sicily", "Palermo", "Catania", "ft"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "foo"), ("GEODIST", "Sicily", "Palermo", "nosuch"),
    ("GEODIST", "nokey", "a", "b"), ("GEODIST", "Sicily", "a", "b", "c", "d"),
    ("GEODIST", "Sicily", "Palermo", "Palermo"),
    ("GEOHASH", "Sicily", "Palermo", "Catania", "corner", "nosuch"), ("GEOHASH", "nokey", "a"),
    ("GEOPOS", "Sicily", "Palermo", "Catania", "corner", "nosuch"), ("GEOPOS", "nokey", "a"),
]

SEARCHES = [
    ("GEORADIUS", "Sicily", 15, 37, 200, "km"),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC"),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "WITHDIST", "DESC"),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "COUNT", 1),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "COUNT", 1, "ANY"),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "ANY"), ("GEORADIUS", "Sicily", 15, 37, 200, "km", "COUNT", 0),
    ("GEORADIUS", "Sicily", 15, 37, -1, "km"), ("GEORADIUS", "Sicily", 15, 37, "x", "km"),
    ("GEORADIUS", "Sicily", 15, 37, 1, "parsec"), ("GEORADIUS", "Sicily", 15, 37, 1, "km", "FOO"),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "STORE", "dst"), ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "STOREDIST", "dst"),
    ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("GEORADIUS", "Sicily", 15, 37, 200, "km", "STORE", "dst", "WITHDIST"),
    ("GEORADIUS", "Sicily", 15, 37, 0.001, "km", "STORE", "dst"), ("EXISTS", "dst"),
    ("GEORADIUS_RO", "Sicily", 15, 37, 200, "km", "STORE", "dst"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", 200, "km", "WITHDIST"),
    ("GEORADIUSBYMEMBER", "Sicily", "nosuch", 200, "km", "WITHDIST"),
    ("GEORADIUSBYMEMBER", "nokey", "nosuch", 200, "km", "WITHDIST"),
    ("GEORADIUSBYMEMBER", "nokey", "nosuch", 200, "km", "STORE", "Sicily2"),
    ("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", 500, "km", "WITHCOORD"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", 300, "km", "ASC", "WITHDIST",
     "WITHCOORD"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", 400, 400, "km", "ASC", "WITHDIST",
     "WITHCOORD", "WITHHASH"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", 400, 400, "km", "DESC", "COUNT", 2),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 400, "km", "BYBOX", 1, 1, "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMLONLAT", 15, 37, "BYRADIUS", 4, "km"),
    ("GEOSEARCH", "Sicily", "BYRADIUS", 400, "km"), ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo"),
    ("geosearch", "Sicily", "frommember", "Palermo", "count", 1),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "nosuch", "BYRADIUS", 10, "km"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "nosuch", "BYRADIUS", 10, "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", -1, 1, "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", "x", 1, "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYBOX", 1, "y", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 400, "km", "STORE", "x"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", 200, 37, "BYRADIUS", 400, "km"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 400, "km"),
    ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 400, "km", "STOREDIST"),
    ("ZRANGE", "dst", 0, -1, "WITHSCORES"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 400, "km", "WITHDIST"),
    ("GEOSEARCHSTORE", "dst", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 1, "m"), ("EXISTS", "dst"),
    ("GEOSEARCHSTORE", "dst", "nokey", "FROMLONLAT", 15, 37, "BYRADIUS", 1, "m"),
    ("SET", "str", "v"), ("GEOADD", "str", 1, 1, "a"), ("GEOPOS", "str", "a"),
    ("GEOSEARCH", "str", "FROMLONLAT", 15, 37, "BYRADIUS", "x", "km"),
]

ODD_SCORES = [
    ("ZADD", "bad", "1e20", "x", "-5", "y", "inf", "z", 0, "zero", 4503599627370496, "top"),
    ("GEOPOS", "bad", "x", "y", "z", "zero", "top"), ("GEOHASH", "bad", "x", "y", "z", "zero"),
    ("GEODIST", "bad", "x", "y"), ("GEODIST", "bad", "zero", "top"),
    ("GEOADD", "poles", 0, 85.05112878, "n", 0, -85.05112878, "s", 180, 0, "e", -180, 0, "w"),
    ("GEOPOS", "poles", "n", "s", "e", "w"),
    ("GEOSEARCH", "poles", "FROMLONLAT", 0, 0, "BYRADIUS", 30000, "km", "ASC", "WITHDIST"),
    ("GEOSEARCH", "poles", "FROMLONLAT", 179, 84, "BYBOX", 30000, 3000, "km", "ASC", "WITHDIST"),
    ("GEOSEARCH", "poles", "FROMLONLAT", -179.9, -84, "BYRADIUS", 500, "mi", "WITHCOORD"),
]

CASES = {"sicily": SICILY, "points": SICILY + POINTS, "searches": SICILY + SEARCHES,
         "odd": ODD_SCORES}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_side_by_side(pair, name, protocol):
    a, b = pair(protocol)
    cmds = CASES[name]
    assert_same(run(a, cmds), run(b, cmds), cmds)


def _random_set(rng, n):
    clat, clon = rng.uniform(-80, 80), rng.uniform(-180, 180)
    spread = rng.choice([0.01, 0.5, 5, 40])
    args = []
    for i in range(n):
        lon = max(-180.0, min(180.0, clon + rng.uniform(-spread, spread)))
        lat = max(-85.0, min(85.0, clat + rng.uniform(-spread, spread)))
        args += [lon, lat, f"m{i}"]
    return clon, clat, spread, args


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_searches_match_redis(pair, seed):
    a, b = pair()
    rng = random.Random(seed)
    for _ in range(8):
        clon, clat, spread, args = _random_set(rng, rng.randrange(1, 200))
        cmds = [("DEL", "g"), ("GEOADD", "g", *args)]
        for _ in range(15):
            unit, per_m = rng.choice([("m", 1), ("km", 1000), ("mi", 1609.34), ("ft", 0.3048)])
            r = rng.choice([100, 10_000, 300_000, 3_000_000]) * rng.random() / per_m
            lon = clon + rng.uniform(-spread, spread) / 2
            lat = clat + rng.uniform(-spread, spread) / 2
            if rng.random() < 0.5:
                shape = ("BYRADIUS", r, unit)
            else:
                shape = ("BYBOX", r, r * rng.uniform(0.2, 3), unit)
            order = rng.choice([(), ("ASC",), ("DESC",), ("COUNT", 5, "ANY"), ("ASC", "COUNT", 3)])
            cmds.append(("GEOSEARCH", "g", "FROMLONLAT", lon, lat, *shape, *order,
                         "WITHDIST", "WITHHASH", "WITHCOORD"))
        cmds.append(("GEORADIUSBYMEMBER", "g", "m0", 300, "km", "WITHDIST"))
        cmds.append(("GEODIST", "g", "m0", f"m{len(args) // 3 - 1}", "km"))
        assert_same(run(a, cmds), run(b, cmds), cmds)


def test_geo_set_interop(pair):
    """A geo set written by one server, copied as ZADD score/member pairs into the other,
    answers the same GEODIST/GEOSEARCH/GEOPOS there, both ways."""
    a, b = pair()
    rng = random.Random(7)
    _, _, _, args = _random_set(rng, 100)
    a.execute_command("GEOADD", "ga", *args)
    b.execute_command("GEOADD", "gb", *args)
    for src, dst, key in ((a, b, "ga"), (b, a, "gb")):
        pairs = src.zrange(key, 0, -1, withscores=True)
        dst.zadd(key, {m: int(s) for m, s in pairs})
    for key in ("ga", "gb"):
        cmds = [("GEODIST", key, "m0", "m50", "km"), ("GEOPOS", key, "m1", "m2"),
                ("GEOHASH", key, "m3"),
                ("GEOSEARCH", key, "FROMMEMBER", "m0", "BYRADIUS", 500, "km", "ASC", "WITHDIST"),
                ("ZRANGE", key, 0, -1, "WITHSCORES")]
        assert_same(run(a, cmds), run(b, cmds), cmds)
    assert a.zrange("ga", 0, -1, withscores=True) == b.zrange("ga", 0, -1, withscores=True)


def test_georadius_store_events_and_propagation(inproc):
    inproc("GEOADD", "g", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania")
    inproc("GEORADIUS", "g", 15, 37, 200, "km", "STORE", "dst")
    inproc("GEOSEARCHSTORE", "d2", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "STOREDIST")
    inproc("GEOSEARCHSTORE", "d2", "g", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "km")
    assert inproc.argvs() == [
        [b"zadd", b"g", b"3479099956230698", b"Palermo", b"3479447370796909", b"Catania"],
        [b"GEORADIUS", b"g", b"15", b"37", b"200", b"km", b"STORE", b"dst"],
        [b"GEOSEARCHSTORE", b"d2", b"g", b"FROMLONLAT", b"15", b"37", b"BYRADIUS", b"200",
         b"km", b"STOREDIST"],
        [b"GEOSEARCHSTORE", b"d2", b"g", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"1", b"km"],
    ]
    assert inproc("EXISTS", "d2") == b":0\r\n"


def test_keyspace_events_match_redis(pair):
    from test_zsets import _events
    a, b = pair()
    cmds = [("GEOADD", "g", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"),
            ("GEOADD", "g", "NX", 13.361389, 38.115556, "Palermo"),
            ("GEORADIUS", "g", 15, 37, 200, "km", "STORE", "dst"),
            ("GEORADIUSBYMEMBER", "g", "Palermo", 1, "km", "STOREDIST", "d2"),
            ("GEOSEARCHSTORE", "d3", "g", "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km"),
            ("GEOSEARCHSTORE", "d3", "g", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "km"),
            ("GEOSEARCHSTORE", "dst", "nokey", "FROMLONLAT", 0, 0, "BYRADIUS", 1, "km"),
            ("SET", "end", "1")]
    assert _events(a, cmds) == _events(b, cmds)


@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_count_orders_ties_as_redis(pair, order):
    """COUNT without ANY sorts partially (Redis's pqsort): members at equal distances
    come out in the same order as from Redis."""
    a, b = pair()
    rng = random.Random(order)
    args = []
    for i in range(300):
        spot = rng.randrange(6)
        args += [10 + spot * 0.001, 45 + (spot % 3) * 0.001, f"m{i}"]
    cmds = [("GEOADD", "g", *args)]
    for count in (1, 5, 40, 299, 300):
        cmds.append(("GEOSEARCH", "g", "FROMLONLAT", 10, 45, "BYRADIUS", 50, "km", order,
                     "COUNT", count, "WITHDIST"))
        cmds.append(("GEORADIUS", "g", 10.002, 45.001, 50, "km", "COUNT", count))
    assert_same(run(a, cmds), run(b, cmds), cmds)
