"""Which PACC digest the DNS watcher looks up next, and what it knows so far: no IO, no clock, no threads.

The watcher (pacc/watch.py) asks DNS whether ``_ua-auto-config.<d>`` carries
the digest served for ``d``. At 100,000 domains it must cost what changes,
not what is hosted, and hold little. So there are three sources of work,
taken in this order:

1. **changed** domains, whose digest an applied reload changed
   (pacc/guard.py names them): looked up as soon as the pace allows, since
   these are the ones an edit just broke;
2. domains found **stale** or **unknown** (DNS did not answer), looked up
   again every ``recheck`` seconds until DNS carries the digest, or answers;
3. the **sweep**: every domain once, at start-up and then ``sweep_every``
   seconds after the last sweep ended, at whatever pace is left over. It
   finds what no reload could tell: a record someone removed, and at start
   everything (a process cannot know what DNS held before it).

What is held: the names waiting in (1), the stale and unknown ones with
when each is due, and during a sweep the sorted list of names it walks
(one reference per domain, no state). A domain found right is forgotten.

The sweep after start-up is the first: until it has looked at a domain,
that domain counts as *unchecked*, as do the changed ones waiting. A
changed domain the first sweep has still ahead is left to it (it reads
the digest served when it gets there), so no domain is counted or asked
twice; one it has passed is queued. Each domain is in at most one of:
waiting, stale, unknown, ahead of the first sweep.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Counts", "Pacer", "Schedule", "Status"]

# ok: a TXT record carries the digest served; stale: none does (or there is none: the
# client rejects the document either way); unknown: DNS did not answer, which proves nothing.
Status = Literal["ok", "stale", "unknown"]


@dataclass(frozen=True)
class Counts:
    """How many domains are in each state that needs attention."""

    stale: int = 0
    unknown: int = 0
    unchecked: int = 0  # not looked up yet: waiting after a change, or ahead of the first sweep


class Pacer:
    """At most ``rate`` queries a second, evenly spaced: no burst whatever the backlog."""

    def __init__(self, rate: float) -> None:
        self.spacing = 1.0 / rate
        self._next = -math.inf

    def delay(self, now: float) -> float:
        """Seconds to wait before the next query may go out."""
        return max(0.0, self._next - now)

    def sent(self, now: float) -> None:
        self._next = max(now, self._next) + self.spacing


class Schedule:
    """What to look up next; fed with the verdicts. Times are the caller's monotonic seconds."""

    def __init__(self, recheck: float, sweep_every: float) -> None:
        self.recheck = recheck
        self.sweep_every = sweep_every
        self._waiting: dict[str, None] = {}  # changed domains, in the order they came
        self._stale: dict[str, float] = {}  # name -> when it is due again
        self._unknown: dict[str, float] = {}
        self._due: list[tuple[float, str]] = []  # a heap over both; entries whose time moved are skipped
        self._sweep: list[str] | None = None  # sorted; None: no sweep running
        self._cursor = 0
        self._dropped: set[str] = set()  # names ahead of the sweep that lost their record meanwhile
        self._first = True  # the sweep running (or the next) is the first: what it has ahead is unchecked
        self._next_sweep: float | None = -math.inf  # when the next sweep starts; None: while one runs

    # -- what the watcher is told ------------------------------------------------------------------

    def sweep_due(self, now: float) -> bool:
        """Whether a sweep should start now (then call :meth:`start_sweep`)."""
        return self._sweep is None and self._next_sweep is not None and now >= self._next_sweep

    def start_sweep(self, names: Iterable[str], now: float) -> None:
        """Walk ``names`` (every domain with a published digest), in name order."""
        self._sweep = sorted(set(names))
        self._cursor = 0
        self._dropped.clear()
        self._next_sweep = None
        self._skip_dropped(now)

    def changed(self, names: Iterable[str]) -> None:
        """These domains' digests changed: what was known of them is void; look them up soon."""
        for name in names:
            self._forget(name)
            if self._first and self._ahead(name):
                self._dropped.discard(name)  # back again before the sweep got there
                continue
            self._waiting[name] = None

    def withdrawn(self, names: Iterable[str]) -> None:
        """These domains have no published digest any more: nothing to look up or count."""
        for name in names:
            self._forget(name)
            self._waiting.pop(name, None)
            if self._ahead(name):
                self._dropped.add(name)

    def next(self, now: float) -> str | float:
        """The domain to look up now, or the seconds until one is due (``math.inf``: none, nor a sweep)."""
        if self._waiting:
            return next(iter(self._waiting))
        while self._due:
            due, name = self._due[0]
            if self._stale.get(name, self._unknown.get(name)) != due:
                heapq.heappop(self._due)  # looked up since, or forgotten
                continue
            if due <= now:
                return name
            break
        if self._sweep is not None:
            return self._sweep[self._cursor]
        waits = [self._due[0][0] - now] if self._due else []
        if self._next_sweep is not None:
            waits.append(self._next_sweep - now)
        return max(0.0, min(waits)) if waits else math.inf

    def record(self, name: str, status: Status | None, now: float) -> None:
        """What the look-up of ``name`` found; None: it has no published digest now (nothing asked)."""
        self._waiting.pop(name, None)
        if status == "stale" or status == "unknown":
            due = now + self.recheck
            kept, other = (self._stale, self._unknown) if status == "stale" else (self._unknown, self._stale)
            other.pop(name, None)
            kept[name] = due  # in place when it stays stale: the longest stale stay first
            heapq.heappush(self._due, (due, name))
        else:
            self._forget(name)
        if self._sweep is not None and self._sweep[self._cursor] == name:
            self._cursor += 1
            self._skip_dropped(now)

    def counts(self) -> Counts:
        ahead = len(self._sweep) - self._cursor - len(self._dropped) if self._sweep is not None and self._first else 0
        return Counts(len(self._stale), len(self._unknown), len(self._waiting) + ahead)

    def stale_names(self, limit: int) -> tuple[str, ...]:
        """Up to ``limit`` stale domains, the longest stale first (for /healthz and the log)."""
        return tuple(name for name, _ in zip(self._stale, range(limit), strict=False))

    @property
    def idle(self) -> bool:
        """Nothing is waiting and no sweep runs: what is known is all there is to know for now."""
        return not self._waiting and self._sweep is None

    # -- inside ------------------------------------------------------------------------------------

    def _forget(self, name: str) -> None:
        self._stale.pop(name, None)
        self._unknown.pop(name, None)

    def _ahead(self, name: str) -> bool:
        """Whether the running sweep has ``name`` still to come (or at hand)."""
        if self._sweep is None:
            return False
        index = bisect.bisect_left(self._sweep, name, self._cursor)
        return index < len(self._sweep) and self._sweep[index] == name

    def _skip_dropped(self, now: float) -> None:
        """Move past names that lost their record; end the sweep at its end."""
        assert self._sweep is not None
        while self._cursor < len(self._sweep) and self._sweep[self._cursor] in self._dropped:
            self._dropped.discard(self._sweep[self._cursor])
            self._cursor += 1
        if self._cursor >= len(self._sweep):
            self._sweep = None
            self._dropped.clear()
            self._first = False
            self._next_sweep = now + self.sweep_every
