"""Geo commands (geo.c) over plain sorted sets: a member's score is its 52-bit geohash
(bocho/geohash.py), so geo sets are interchangeable with Redis's. GEOADD is ZADD with
computed scores and goes out (propagation, events) as that ZADD, as in Redis."""

from __future__ import annotations

from bocho import geohash, resp
from bocho.commands import TABLE, command
from bocho.commands.zsets import ks, read_zset, store_result, zadd_generic
from bocho.errors import NOT_FLOAT, NOT_INTEGER, CommandError, syntax
from bocho.util import parse_double, parse_int

GROUP = "geo"
ACL = ("geo",)

_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
DECODE_ERR = b"ERR could not decode requested zset member"


def parse_lonlat(a: bytes, b: bytes) -> tuple[float, float]:
    """extractLongLatOrReply."""
    lon = parse_double(a)
    if lon is None:
        raise CommandError(NOT_FLOAT)
    lat = parse_double(b)
    if lat is None:
        raise CommandError(NOT_FLOAT)
    if (lon < geohash.LONG_MIN or lon > geohash.LONG_MAX or lat < geohash.LAT_MIN
            or lat > geohash.LAT_MAX):
        raise CommandError(b"ERR invalid longitude,latitude pair %f,%f" % (lon, lat))
    return lon, lat


def parse_unit(b: bytes) -> float:
    u = _UNITS.get(b.lower())
    if u is None:
        raise CommandError(b"ERR unsupported unit provided. please use M, KM, FT, MI")
    return u


def _number(b: bytes, err: bytes) -> float:
    v = parse_double(b)
    if v is None:
        raise CommandError(err)
    return v


def distance_text(d: float) -> bytes:
    """fixedpoint_d2string with 4 decimals (llrint rounding)."""
    v = round(d * 10000.0)
    q, r = divmod(abs(v), 10000)
    return b"%s%d.%04d" % (b"-" if v < 0 else b"", q, r)


def human(d: float) -> bytes:
    """ld2string LD_STR_HUMAN: %.17f without trailing zeros (and no "-0")."""
    s = b"%.17f" % d
    if b"." in s:
        s = s.rstrip(b"0").rstrip(b".")
    return b"0" if s == b"-0" else s


def human_reply(d: float, r: int) -> bytes:
    s = human(d)
    if r == 3:
        return b",%s\r\n" % s
    return b"$%d\r\n%s\r\n" % (len(s), s)


def bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


# -- GEOADD ------------------------------------------------------------------------------

@command("geoadd", -5, "write denyoom", keys=(1, 1, 1), group=GROUP, acl=ACL, since="3.2.0",
         key_specs=[ks("RW update")],
         summary="Add one or more geospatial items in the geospatial index represented "
                 "using a sorted set",
         complexity="O(log(N)) for each item added, where N is the number of elements in "
                    "the sorted set.")
def geoadd(c, argv):
    n = len(argv)
    i = 2
    xx = nx = False
    while i < n:
        opt = argv[i].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt != b"ch":
            break
        i += 1
    if (n - i) % 3 or (xx and nx):
        raise syntax()
    zargv = [b"zadd"] + argv[1:i]
    for j in range(i, n, 3):
        lon, lat = parse_lonlat(argv[j], argv[j + 1])
        zargv.append(b"%d" % geohash.score_of(lon, lat))
        zargv.append(argv[j + 2])
    c.prop = [zargv]
    return zadd_generic(c, zargv, 0)


# -- GEORADIUS / GEOSEARCH ---------------------------------------------------------------

F_COORDS, F_MEMBER, F_NOSTORE, F_SEARCH, F_SEARCHSTORE = 1, 2, 4, 8, 16


def member_position(z, member: bytes) -> tuple[float, float]:
    s = z.score(member)
    if s is None:
        raise CommandError(DECODE_ERR)
    return geohash.decode_score(s)


def search(z, shape: geohash.Shape, limit: int) -> list[list]:
    """membersOfAllNeighbors: [dist_m, score, member, lon, lat] of the members inside the
    shape, box after box in Redis's order (stopping at limit when it is not 0)."""
    found: list[list] = []
    last = None
    for box in shape.areas():
        if box == geohash.ZERO:
            continue
        if last is not None and box == last:
            continue
        if found and limit and len(found) >= limit:
            break
        lo, hi = geohash.score_range(*box)
        a = z.bisect((lo,))
        b = z.bisect((hi,))
        if b > a:
            for s, m in z.slice(a, b):
                lon, lat = geohash.decode_score(s)
                d = shape.contains(lon, lat)
                if d is not None:
                    found.append([d, s, m, lon, lat])
                if found and limit and len(found) >= limit:
                    break
        last = box
    return found


def georadius_generic(c, argv: list[bytes], src: int, flags: int) -> bytes:
    r = c.resp
    z = read_zset(c, argv[src])
    shape = geohash.Shape()
    storekey = None
    storedist = False
    if flags & F_COORDS:
        base = 6
        shape.kind = geohash.CIRCLE
        shape.lon, shape.lat = parse_lonlat(argv[2], argv[3])
        shape.radius, shape.conversion = _radius(argv[4], argv[5])
    elif flags & F_MEMBER and z is None:
        base = 5
    elif flags & F_MEMBER:
        base = 5
        shape.kind = geohash.CIRCLE
        shape.lon, shape.lat = member_position(z, argv[2])
        shape.radius, shape.conversion = _radius(argv[3], argv[4])
    else:
        base = 2
        if flags & F_SEARCHSTORE:
            base = 3
            storekey = argv[1]
    withdist = withhash = withcoords = False
    frommember = fromloc = byradius = bybox = False
    sort = 0
    any_ = False
    count = 0
    n = len(argv)
    remaining = n - base
    i = 0
    search_ = bool(flags & F_SEARCH)
    while i < remaining:
        arg = argv[base + i].lower()
        if arg == b"withdist":
            withdist = True
        elif arg == b"withhash":
            withhash = True
        elif arg == b"withcoord":
            withcoords = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            sort = 1
        elif arg == b"desc":
            sort = 2
        elif arg == b"count" and i + 1 < remaining:
            count = parse_int(argv[base + i + 1], NOT_INTEGER)
            if count <= 0:
                raise CommandError(b"ERR COUNT must be > 0")
            i += 1
        elif (arg in (b"store", b"storedist") and i + 1 < remaining
              and not flags & F_NOSTORE and not search_):
            storekey = argv[base + i + 1]
            storedist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and search_ and flags & F_SEARCHSTORE:
            storedist = True
        elif arg == b"frommember" and i + 1 < remaining and search_ and not fromloc:
            if z is not None:
                shape.lon, shape.lat = member_position(z, argv[base + i + 1])
            frommember = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < remaining and search_ and not frommember:
            shape.lon, shape.lat = parse_lonlat(argv[base + i + 1], argv[base + i + 2])
            fromloc = True
            i += 2
        elif arg == b"byradius" and i + 2 < remaining and search_ and not bybox:
            shape.radius, shape.conversion = _radius(argv[base + i + 1], argv[base + i + 2])
            shape.kind = geohash.CIRCLE
            byradius = True
            i += 2
        elif arg == b"bybox" and i + 3 < remaining and search_ and not byradius:
            w = _number(argv[base + i + 1], b"ERR need numeric width")
            h = _number(argv[base + i + 2], b"ERR need numeric height")
            if h < 0 or w < 0:
                raise CommandError(b"ERR height or width cannot be negative")
            shape.conversion = parse_unit(argv[base + i + 3])
            shape.width, shape.height = w, h
            shape.kind = geohash.BOX
            bybox = True
            i += 3
        else:
            raise syntax()
        i += 1
    if storekey is not None and (withdist or withhash or withcoords):
        what = b"GEOSEARCHSTORE" if flags & F_SEARCHSTORE else b"STORE option in GEORADIUS"
        raise CommandError(b"ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD "
                           b"options" % what)
    if search_ and not (frommember or fromloc):
        raise CommandError(b"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified "
                           b"for %s" % argv[0])
    if search_ and not (byradius or bybox):
        raise CommandError(b"ERR exactly one of BYRADIUS and BYBOX can be specified for %s"
                           % argv[0])
    if any_ and not count:
        raise CommandError(b"ERR the ANY argument requires COUNT argument")
    if z is None:
        if storekey is not None:
            return resp.integer(store_result(c, storekey, [], b""))
        return resp.EMPTY_ARRAY
    if count and not sort and not any_:
        sort = 1
    found = search(z, shape, count if any_ else 0)
    if not found and storekey is None:
        return resp.EMPTY_ARRAY
    if sort:
        if count and len(found) > count:
            # Redis sorts just enough for the first `count` (pqsort), which decides the
            # order of equally distant members: the same algorithm gives the same answer
            partial_sort(found, 0, count - 1, sort == 2)
            del found[count:]
        else:  # a full sort is glibc's qsort, a stable merge sort
            found.sort(key=_dist, reverse=sort == 2)
    elif count and len(found) > count:
        del found[count:]
    conv = shape.conversion
    if storekey is not None:
        event = b"geosearchstore" if search_ else b"georadiusstore"
        pairs = [((p[0] / conv) if storedist else p[1], p[2]) for p in found]
        return resp.integer(store_result(c, storekey, pairs, event, len(pairs)))
    extra = withdist + withcoords + withhash
    out = [resp.array_header(len(found))]
    for dist, score, m, lon, lat in found:
        if extra:
            out.append(resp.array_header(extra + 1))
        out.append(bulk(m))
        if withdist:
            out.append(bulk(distance_text(dist / conv)))
        if withhash:
            out.append(resp.integer(int(score)))
        if withcoords:
            out.append(b"*2\r\n" + human_reply(lon, r) + human_reply(lat, r))
    return b"".join(out)


def _dist(p: list) -> float:
    return p[0]


# -- partial sort --------------------------------------------------------------------------

def partial_sort(v: list, lo: int, hi: int, desc: bool) -> None:
    """Order v by distance so that positions lo..hi hold what a full sort would put
    there, as Redis's pqsort does it: Bentley & McIlroy's quicksort (median-of-three or
    ninther pivot, fat partition of the elements equal to the pivot, insertion sort
    below 7), recursing only into the parts that overlap lo..hi."""
    sign = -1 if desc else 1

    def cmp(i: int, j: int) -> int:
        a, b = v[i][0], v[j][0]
        return sign if a > b else 0 if a == b else -sign

    def med3(a: int, b: int, c: int) -> int:
        if cmp(a, b) < 0:
            return b if cmp(b, c) < 0 else (c if cmp(a, c) < 0 else a)
        return b if cmp(b, c) > 0 else (a if cmp(a, c) < 0 else c)

    def swap(i: int, j: int) -> None:
        v[i], v[j] = v[j], v[i]

    def vecswap(i: int, j: int, k: int) -> None:
        for t in range(k):
            swap(i + t, j + t)

    def outside(s: int, k: int) -> bool:
        return (lo < s and hi < s) or (lo >= s + k and hi >= s + k)

    def sort(a: int, n: int) -> None:
        while True:
            if n < 7:
                for pm in range(a + 1, a + n):
                    pl = pm
                    while pl > a and cmp(pl - 1, pl) > 0:
                        swap(pl, pl - 1)
                        pl -= 1
                return
            pm = a + n // 2
            if n > 7:
                pl, pn = a, a + n - 1
                if n > 40:
                    d = n // 8
                    pl = med3(pl, pl + d, pl + 2 * d)
                    pm = med3(pm - d, pm, pm + d)
                    pn = med3(pn - 2 * d, pn - d, pn)
                pm = med3(pl, pm, pn)
            swap(a, pm)
            pa = pb = a + 1
            pc = pd = a + n - 1
            while True:
                while pb <= pc:
                    r = cmp(pb, a)
                    if r > 0:
                        break
                    if r == 0:
                        swap(pa, pb)
                        pa += 1
                    pb += 1
                while pb <= pc:
                    r = cmp(pc, a)
                    if r < 0:
                        break
                    if r == 0:
                        swap(pc, pd)
                        pd -= 1
                    pc -= 1
                if pb > pc:
                    break
                swap(pb, pc)
                pb += 1
                pc -= 1
            pn = a + n
            r = min(pa - a, pb - pa)
            vecswap(a, pb - r, r)
            r = min(pd - pc, pn - pd - 1)
            vecswap(pb, pn - r, r)
            r = pb - pa
            if r > 1 and not outside(a, r):
                sort(a, r)
            r = pd - pc
            if r > 1:
                a, n = pn - r, r
                if not outside(a, n):
                    continue
            return

    sort(0, len(v))


def _radius(num: bytes, unit: bytes) -> tuple[float, float]:
    """extractDistanceOrReply: (radius, metres per unit)."""
    d = _number(num, b"ERR need numeric radius")
    if d < 0:
        raise CommandError(b"ERR radius cannot be negative")
    return d, parse_unit(unit)


_RADIUS_CX = ("O(N+log(M)) where N is the number of elements inside the bounding box of "
              "the circular area delimited by center and radius and M is the number of items "
              "inside the index.")
_SEARCH_CX = ("O(N+log(M)) where N is the number of elements in the grid-aligned bounding "
              "box area around the shape provided as the filter and M is the number of items "
              "inside the shape")
_RO = [ks("RO access")]


def _store_specs(start: int) -> list[dict]:
    return [ks("RO access"),
            ks("OW update", keyword="STORE", startfrom=start),
            ks("OW update", keyword="STOREDIST", startfrom=start)]


@command("georadius", -6, "write denyoom", keys=(1, 1, 1), group=GROUP, acl=ACL,
         since="3.2.0", key_specs=_store_specs(6),
         summary="Query a sorted set representing a geospatial index to fetch members "
                 "matching a given maximum distance from a point", complexity=_RADIUS_CX)
def georadius(c, argv):
    return georadius_generic(c, argv, 1, F_COORDS)


@command("georadiusbymember", -5, "write denyoom", keys=(1, 1, 1), group=GROUP, acl=ACL,
         since="3.2.0", key_specs=_store_specs(5),
         summary="Query a sorted set representing a geospatial index to fetch members "
                 "matching a given maximum distance from a member", complexity=_RADIUS_CX)
def georadiusbymember(c, argv):
    return georadius_generic(c, argv, 1, F_MEMBER)


@command("georadius_ro", -6, "readonly", keys=(1, 1, 1), group=GROUP, acl=ACL,
         since="3.2.10", key_specs=_RO, summary="A read-only variant for GEORADIUS",
         complexity=_RADIUS_CX)
def georadius_ro(c, argv):
    return georadius_generic(c, argv, 1, F_COORDS | F_NOSTORE)


@command("georadiusbymember_ro", -5, "readonly", keys=(1, 1, 1), group=GROUP, acl=ACL,
         since="3.2.10", key_specs=_RO, summary="A read-only variant for GEORADIUSBYMEMBER",
         complexity=_RADIUS_CX)
def georadiusbymember_ro(c, argv):
    return georadius_generic(c, argv, 1, F_MEMBER | F_NOSTORE)


@command("geosearch", -7, "readonly", keys=(1, 1, 1), group=GROUP, acl=ACL, since="6.2.0",
         key_specs=_RO,
         summary="Query a sorted set representing a geospatial index to fetch members "
                 "inside an area of a box or a circle.", complexity=_SEARCH_CX)
def geosearch(c, argv):
    return georadius_generic(c, argv, 1, F_SEARCH)


@command("geosearchstore", -8, "write denyoom", keys=(1, 2, 1), group=GROUP, acl=ACL,
         since="6.2.0", key_specs=[ks("OW update"), ks("RO access", pos=2)],
         summary="Query a sorted set representing a geospatial index to fetch members "
                 "inside an area of a box or a circle, and store the result in another key.",
         complexity=_SEARCH_CX)
def geosearchstore(c, argv):
    return georadius_generic(c, argv, 2, F_SEARCH | F_SEARCHSTORE)


# -- GEOHASH, GEOPOS, GEODIST ------------------------------------------------------------

_POINT = dict(keys=(1, 1, 1), group=GROUP, acl=ACL, since="3.2.0", key_specs=_RO)


@command("geohash", -2, "readonly",
         summary="Returns members of a geospatial index as standard geohash strings",
         complexity="O(log(N)) for each member requested, where N is the number of "
                    "elements in the sorted set.", **_POINT)
def geohash_(c, argv):
    z = read_zset(c, argv[1])
    nul = resp.null(c.resp)
    out = [resp.array_header(len(argv) - 2)]
    for m in argv[2:]:
        s = None if z is None else z.score(m)
        out.append(nul if s is None else bulk(geohash.geohash_string(s)))
    return b"".join(out)


@command("geopos", -2, "readonly",
         summary="Returns longitude and latitude of members of a geospatial index",
         complexity="O(N) where N is the number of members requested.", **_POINT)
def geopos(c, argv):
    r = c.resp
    z = read_zset(c, argv[1])
    nul = resp.null_array(r)
    out = [resp.array_header(len(argv) - 2)]
    for m in argv[2:]:
        s = None if z is None else z.score(m)
        if s is None:
            out.append(nul)
        else:
            lon, lat = geohash.decode_score(s)
            out.append(b"*2\r\n" + human_reply(lon, r) + human_reply(lat, r))
    return b"".join(out)


@command("geodist", -4, "readonly",
         summary="Returns the distance between two members of a geospatial index",
         complexity="O(log(N))", **_POINT)
def geodist(c, argv):
    to_m = 1.0
    if len(argv) == 5:
        to_m = parse_unit(argv[4])
    elif len(argv) > 5:
        raise syntax()
    z = read_zset(c, argv[1])
    if z is None:
        return resp.null(c.resp)
    s1 = z.score(argv[2])
    s2 = z.score(argv[3])
    if s1 is None or s2 is None:
        return resp.null(c.resp)
    lon1, lat1 = geohash.decode_score(s1)
    lon2, lat2 = geohash.decode_score(s2)
    return bulk(distance_text(geohash.distance(lon1, lat1, lon2, lat2) / to_m))


for _name in (b"georadius", b"georadiusbymember", b"georadius_ro", b"georadiusbymember_ro"):
    TABLE[_name].doc_flags = ("deprecated",)
