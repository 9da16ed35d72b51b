"""How often one address may knock at an anonymous hub endpoint: a sliding window per address, kept per app
(who the address is: `client_address` of the plugin API, the login throttle's rule)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SourceThrottle:
    """At most `limit` requests per `window_s` seconds from one source address.

    The table of sources is bounded: when it is full the source seen least recently is forgotten, so a flood of
    addresses costs memory once, not without end."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_sources = max_sources
        self._clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, source: str) -> int:
        """0 and the request is counted if `source` may go on; else the seconds until it may (nothing counted)."""
        now = self._clock()
        times = self._seen.pop(source, None) or deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            self._seen[source] = times
            return max(1, math.ceil(times[0] + self.window_s - now))
        times.append(now)
        self._seen[source] = times
        while len(self._seen) > self.max_sources:
            self._seen.popitem(last=False)
        return 0
