"""Geohash arithmetic as Redis's geohash.c / geohash_helper.c define it, so that scores,
distances and the boxes a search visits are bit-for-bit Redis's.

A position is a 52-bit integer (step 26): latitude and longitude, each scaled to 26
bits over their range (latitude limited to the Web-Mercator +-85.05112878), interleaved
with the latitude bits at the even positions. A search turns the shape into one box of
a coarser step around the centre plus its eight neighbours (some dropped when they
cannot intersect), and scans the score range each box covers.

All arithmetic is IEEE double in the order the C code does it (libm's sin/cos/asin/sqrt
are what math uses), so results agree to the last bit."""

from __future__ import annotations

import math

STEP_MAX = 26
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LONG_MIN, LONG_MAX = -180.0, 180.0
EARTH_RADIUS = 6372797.560856  # metres, WGS-84 quadratic mean
D_R = math.pi / 180.0
MERCATOR_MAX = 20037726.37

CIRCLE, BOX = 1, 2

_M64 = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA

# A hash is (bits, step); (0, 0) is the "zero" hash of a dropped neighbour.
ZERO = (0, 0)


def _spread(v: int) -> int:
    """The 32 low bits of v moved to the even bit positions."""
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & _EVEN


def _squash(v: int) -> int:
    """The even bits of v gathered into its 32 low bits."""
    v &= _EVEN
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0x00000000FFFFFFFF


def encode(lon: float, lat: float, step: int = STEP_MAX,
           lon_range: tuple[float, float] = (LONG_MIN, LONG_MAX),
           lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX)) -> int | None:
    """geohashEncode: the interleaved bits, or None outside the ranges."""
    if step > 32 or step == 0:
        return None
    if lon > LONG_MAX or lon < LONG_MIN or lat > LAT_MAX or lat < LAT_MIN:
        return None
    if lat < lat_range[0] or lat > lat_range[1] or lon < lon_range[0] or lon > lon_range[1]:
        return None
    lat_off = (lat - lat_range[0]) / (lat_range[1] - lat_range[0])
    lon_off = (lon - lon_range[0]) / (lon_range[1] - lon_range[0])
    scale = float(1 << step)
    lat_off *= scale
    lon_off *= scale
    return _spread(int(lat_off) & 0xFFFFFFFF) | (_spread(int(lon_off) & 0xFFFFFFFF) << 1)


def decode(bits: int, step: int) -> tuple[float, float, float, float] | None:
    """geohashDecode over the WGS-84 ranges: (lon_min, lon_max, lat_min, lat_max) of the
    cell, or None for the zero hash."""
    if bits == 0 and step == 0:
        return None
    ilat = _squash(bits)
    ilon = _squash(bits >> 1)
    div = float(1 << step)
    lat_scale = LAT_MAX - LAT_MIN
    lon_scale = LONG_MAX - LONG_MIN
    return (LONG_MIN + (ilon * 1.0 / div) * lon_scale,
            LONG_MIN + ((ilon + 1) * 1.0 / div) * lon_scale,
            LAT_MIN + (ilat * 1.0 / div) * lat_scale,
            LAT_MIN + ((ilat + 1) * 1.0 / div) * lat_scale)


def score_bits(score: float) -> int:
    """(uint64_t)score as x86-64 converts it (scores are doubles)."""
    if score != score or score in (math.inf, -math.inf):
        return 1 << 63 if score < 0 else 0
    if score >= 2.0 ** 63:
        return (int(score - 2.0 ** 63) & _M64) ^ (1 << 63) if score < 2.0 ** 64 else 0
    if score <= -(2.0 ** 63):
        return 1 << 63
    return int(score) & _M64


def decode_score(score: float) -> tuple[float, float]:
    """A member's (longitude, latitude) from its score: the cell centre, clamped."""
    a = decode(score_bits(score), STEP_MAX)
    lon = (a[0] + a[1]) / 2
    if lon > LONG_MAX:
        lon = LONG_MAX
    if lon < LONG_MIN:
        lon = LONG_MIN
    lat = (a[2] + a[3]) / 2
    if lat > LAT_MAX:
        lat = LAT_MAX
    if lat < LAT_MIN:
        lat = LAT_MIN
    return lon, lat


def score_of(lon: float, lat: float) -> int:
    """The 52-bit score GEOADD stores."""
    return encode(lon, lat, STEP_MAX) or 0


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def geohash_string(score: float) -> bytes:
    """GEOHASH: the standard 11-character geohash (latitude over +-90) of a member."""
    lon, lat = decode_score(score)
    bits = encode(lon, lat, STEP_MAX, (-180.0, 180.0), (-90.0, 90.0)) or 0
    out = bytearray(11)
    for i in range(10):
        out[i] = _ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F]
    out[10] = 48
    return bytes(out)


# -- neighbours and the area of a search -------------------------------------------------

def _move_x(bits: int, step: int, d: int) -> int:
    if d == 0:
        return bits
    x = bits & _ODD
    y = bits & _EVEN
    zz = _EVEN >> (64 - step * 2)
    if d > 0:
        x = x + (zz + 1)
    else:
        x = x | zz
        x = x - (zz + 1)
    x &= _ODD >> (64 - step * 2)
    return (x | y) & _M64


def _move_y(bits: int, step: int, d: int) -> int:
    if d == 0:
        return bits
    x = bits & _ODD
    y = bits & _EVEN
    zz = _ODD >> (64 - step * 2)
    if d > 0:
        y = y + (zz + 1)
    else:
        y = y | zz
        y = y - (zz + 1)
    y &= _EVEN >> (64 - step * 2)
    return (x | y) & _M64


# neighbour order of membersOfAllNeighbors, as (dx, dy)
_N, _S, _E, _W, _NE, _NW, _SE, _SW = (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), \
    (1, -1), (-1, -1)
_ORDER = (_N, _S, _E, _W, _NE, _NW, _SE, _SW)


def _neighbours(bits: int, step: int) -> dict:
    return {d: (_move_y(_move_x(bits, step, d[0]), step, d[1]), step) for d in _ORDER}


def estimate_steps(range_m: float, lat: float) -> int:
    if range_m == 0:
        return 26
    step = 1
    while range_m < MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return max(1, min(26, step))


class Shape:
    """GeoShape: a centre and a circle (radius) or a box (width, height), in the unit
    whose metres-per-unit is `conversion`."""

    __slots__ = ("kind", "lon", "lat", "radius", "width", "height", "conversion")

    def __init__(self) -> None:
        self.kind = 0
        self.lon = self.lat = 0.0
        self.radius = self.width = self.height = 0.0
        self.conversion = 1.0

    def bounds(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: (min_lon, min_lat, max_lon, max_lat)."""
        lon, lat = self.lon, self.lat
        circle = self.kind == CIRCLE
        height = self.conversion * (self.radius if circle else self.height / 2)
        width = self.conversion * (self.radius if circle else self.width / 2)
        lat_delta = (height / EARTH_RADIUS) / D_R
        top = (width / EARTH_RADIUS / math.cos((lat + lat_delta) * D_R)) / D_R
        bottom = (width / EARTH_RADIUS / math.cos((lat - lat_delta) * D_R)) / D_R
        if lat < 0:
            return lon - bottom, lat - lat_delta, lon + bottom, lat + lat_delta
        return lon - top, lat - lat_delta, lon + top, lat + lat_delta

    def areas(self) -> list[tuple[int, int]]:
        """geohashCalculateAreasByShapeWGS84: the nine boxes to scan (centre, N, S, E, W,
        NE, NW, SE, SW), dropped ones as ZERO."""
        min_lon, min_lat, max_lon, max_lat = self.bounds()
        lon, lat = self.lon, self.lat
        if self.kind == CIRCLE:
            radius_m = self.radius
        else:
            radius_m = math.sqrt((self.width / 2) * (self.width / 2)
                                 + (self.height / 2) * (self.height / 2))
        radius_m *= self.conversion
        steps = estimate_steps(radius_m, lat)
        bits = encode(lon, lat, steps) or 0
        nb = _neighbours(bits, steps)
        area = decode(bits, steps)
        north, south = decode(*nb[_N]), decode(*nb[_S])
        east, west = decode(*nb[_E]), decode(*nb[_W])
        decrease = (north[3] < max_lat or south[2] > min_lat or east[1] < max_lon
                    or west[0] > min_lon)
        if steps > 1 and decrease:
            steps -= 1
            bits = encode(lon, lat, steps) or 0
            nb = _neighbours(bits, steps)
            area = decode(bits, steps)
        if steps >= 2:
            if area[2] < min_lat:
                for d in (_S, _SW, _SE):
                    nb[d] = ZERO
            if area[3] > max_lat:
                for d in (_N, _NE, _NW):
                    nb[d] = ZERO
            if area[0] < min_lon:
                for d in (_W, _SW, _NW):
                    nb[d] = ZERO
            if area[1] > max_lon:
                for d in (_E, _SE, _NE):
                    nb[d] = ZERO
        return [(bits, steps)] + [nb[d] for d in _ORDER]

    def contains(self, lon: float, lat: float) -> float | None:
        """geoWithinShape for a decoded point: its distance from the centre in metres,
        or None when outside."""
        if self.kind == CIRCLE:
            d = distance(self.lon, self.lat, lon, lat)
            return None if d > self.radius * self.conversion else d
        return in_rectangle(self.width * self.conversion, self.height * self.conversion,
                            self.lon, self.lat, lon, lat)


def score_range(bits: int, step: int) -> tuple[int, int]:
    """scoresOfGeoHashBox: [min, max) of the 52-bit scores inside a box."""
    shift = 52 - step * 2
    return bits << shift, (bits + 1) << shift


# -- distances ---------------------------------------------------------------------------

def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS * abs(lat2 * D_R - lat1 * D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance: haversine on the sphere of EARTH_RADIUS."""
    lon1r = lon1 * D_R
    lon2r = lon2 * D_R
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = lat1 * D_R
    lat2r = lat2 * D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * math.asin(math.sqrt(a))


def in_rectangle(width_m: float, height_m: float, x1: float, y1: float, x2: float,
                 y2: float) -> float | None:
    """geohashGetDistanceIfInRectangle: the distance, or None outside the box."""
    if lat_distance(y2, y1) > height_m / 2:
        return None
    if distance(x2, y2, x1, y2) > width_m / 2:
        return None
    return distance(x1, y1, x2, y2)
