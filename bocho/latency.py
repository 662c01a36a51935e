"""The latency monitor (LATENCY LATEST/HISTORY/GRAPH/DOCTOR/RESET): per event class, a
ring of the last 160 one-second samples (the worst latency seen in that second) and an
all-time maximum. Events are recorded only when latency-monitor-threshold is set and a
measured latency (ms) reaches it: command, fast-command, expire-cycle, eviction-cycle,
eviction-del, ..."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bocho.server import Server

TS_LEN = 160


class Series:
    """One event class: samples[i] = [unix second, latency ms]."""

    __slots__ = ("samples", "max")

    def __init__(self) -> None:
        self.samples: list[list[int]] = []
        self.max = 0

    def add(self, ms: int, now: int) -> None:
        if ms > self.max:
            self.max = ms
        s = self.samples
        if s and s[-1][0] == now:
            # one sample per second: keep that second's worst
            if ms > s[-1][1]:
                s[-1][1] = ms
            return
        s.append([now, ms])
        if len(s) > TS_LEN:
            del s[0]


def add_sample(server: Server, event: str, ms: int) -> None:
    """latencyAddSampleIfNeeded: record `ms` for `event` when it reaches the threshold."""
    thr = server.config["latency-monitor-threshold"]
    if not thr or ms < thr:
        return
    ts = server.latency_events.get(event)
    if ts is None:
        ts = server.latency_events[event] = Series()
    ts.add(ms, int(time.time()))


def reset(server: Server, events: list[str] | None) -> int:
    if events is None:
        n = len(server.latency_events)
        server.latency_events.clear()
        return n
    n = 0
    for e in events:
        if server.latency_events.pop(e, None) is not None:
            n += 1
    return n


# -- GRAPH ---------------------------------------------------------------------------------

_FILL = "_o#"  # the top of a bar, low to high; below it the bar is drawn with '|'
ROWS = 4


def _label(elapsed: int) -> str:
    if elapsed < 60:
        return f"{elapsed}s"
    if elapsed < 3600:
        return f"{elapsed // 60}m"
    if elapsed < 86400:
        return f"{elapsed // 3600}h"
    return f"{elapsed // 86400}d"


def graph(event: str, ts: Series) -> str:
    """LATENCY GRAPH: one column per sample (oldest first), a bar 4 rows high scaled
    between the lowest and highest sample, then after a blank row each sample's age
    written downwards ("15s", "2m", ...)."""
    samples = ts.samples[-80:]
    lats = [lat for _, lat in samples]
    hi, lo = (max(lats), min(lats)) if lats else (0, 0)
    out = [f"{event} - high {hi} ms, low {lo} ms (all time high {ts.max} ms)", "-" * 80]
    span = (hi - lo) or 1
    steps = len(_FILL) * ROWS
    levels = [min(steps - 1, max(0, (v - lo) * steps // span)) for v in lats]
    for row in range(ROWS):
        line = []
        floor = (ROWS - row - 1) * len(_FILL)
        for lv in levels:
            i = lv - floor
            line.append(_FILL[i] if 0 <= i < len(_FILL) else "|" if i >= len(_FILL) else " ")
        out.append("".join(line))
    now = int(time.time())
    labels = [_label(now - t) for t, _ in samples]
    width = max((len(lb) for lb in labels), default=0)
    if width:
        out.append(" " * len(labels))
    for i in range(width):
        out.append("".join(lb[i] if i < len(lb) else " " for lb in labels))
    return "\n".join(out) + "\n"


# -- DOCTOR --------------------------------------------------------------------------------

_ADVICE = {
    "command": "Check the slow log (SLOWLOG GET) for the commands that are too slow; "
               "O(N) commands on big keys and deletions of large objects are the usual cause.",
    "fast-command": "O(1) commands were slow: the machine does not give the server CPU "
                    "time in time (load, noisy neighbours, swapping).",
    "expire-cycle": "Many keys expiring at the same time: spread the TTLs, or lower hz.",
    "eviction-del": "Evicting large objects is slow: consider lazyfree-lazy-eviction yes.",
    "eviction-cycle": "Mass eviction: a big drop of maxmemory or a burst of writes made the "
                      "server evict many keys at once.",
}


def doctor(server: Server) -> str:
    events = server.latency_events
    if not events and not server.config["latency-monitor-threshold"]:
        return ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this "
                "Redis instance. You may use \"CONFIG SET latency-monitor-threshold "
                "<milliseconds>.\" in order to enable it.\n")
    if not events:
        return ("Dave, no latency spike was observed during the lifetime of this Redis "
                "instance, not in the slightest bit.\n")
    lines = ["Dave, I have observed latency spikes in this Redis instance. "
             "You don't mind talking about it, do you Dave?", ""]
    advice = []
    for n, (name, ts) in enumerate(events.items(), 1):
        lats = [lat for _, lat in ts.samples] or [0]
        avg = sum(lats) // len(lats)
        mad = sum(abs(v - avg) for v in lats) // len(lats)
        times = [t for t, _ in ts.samples]
        period = (int(time.time()) - min(times)) / len(times) if times else 0.0
        lines.append(f"{n}. {name}: {len(ts.samples)} latency spikes (average {avg}ms, mean "
                     f"deviation {mad}ms, period {period:.2f} sec). Worst all time event "
                     f"{ts.max}ms.")
        if name in _ADVICE:
            advice.append("- " + _ADVICE[name])
    if advice:
        lines += ["", "I have a few advices for you:", ""] + advice
    else:
        lines += ["", "While there are latency events logged, I'm not able to suggest any "
                      "easy fix."]
    return "\n".join(lines) + "\n"
