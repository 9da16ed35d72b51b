"""The hub's join throttle on its own clock: what a knocking address is told, to the second and at the edges."""

from __future__ import annotations

from plugins.regies_hub.throttle import SourceThrottle


def throttle_at(
    moments: list[float], limit: int, window_s: float, max_sources: int = 10_000
) -> tuple[SourceThrottle, list[float]]:
    """A throttle whose clock reads the last moment of `moments`, which the test appends to."""
    return SourceThrottle(limit, window_s, max_sources, clock=lambda: moments[-1]), moments


def test_a_full_window_tells_the_seconds_until_its_oldest_request_leaves() -> None:
    throttle, moments = throttle_at([1000.0], limit=3, window_s=60)
    for now in (1000.0, 1010.0, 1020.0):
        moments.append(now)
        assert throttle.retry_after("198.51.100.7") == 0
    moments.append(1030.0)
    assert throttle.retry_after("198.51.100.7") == 30  # the oldest, at 1000, leaves at 1060
    moments.append(1059.5)
    assert throttle.retry_after("198.51.100.7") == 1  # half a second, rounded up: never "come back now"
    moments.append(1060.0)  # exactly a window after the oldest: it no longer counts
    assert throttle.retry_after("198.51.100.7") == 0
    assert throttle.retry_after("198.51.100.7") == 10  # 1010 is now the oldest of three
    # Another address has its own window.
    assert throttle.retry_after("203.0.113.3") == 0


def test_refused_requests_are_not_counted() -> None:
    throttle, moments = throttle_at([0.0], limit=1, window_s=100)
    assert throttle.retry_after("198.51.100.7") == 0
    for now in (10.0, 50.0, 99.0):
        moments.append(now)
        assert throttle.retry_after("198.51.100.7") == 100 - now
    moments.append(100.0)  # the refusals did not push the window on
    assert throttle.retry_after("198.51.100.7") == 0


def test_a_wait_that_rounds_to_nothing_is_still_a_refusal() -> None:
    # Floating point: a request still inside the window whose end, computed, is exactly now. Answering 0 would let
    # the request through uncounted.
    first, now = 29574.963966907064, 33174.96396690706
    throttle, moments = throttle_at([first], limit=1, window_s=3600)
    assert throttle.retry_after("198.51.100.7") == 0
    moments.append(now)
    assert throttle.retry_after("198.51.100.7") == 1


def test_the_table_of_sources_forgets_the_least_recently_seen_first() -> None:
    throttle, _ = throttle_at([0.0], limit=1, window_s=3600, max_sources=2)
    for source in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        assert throttle.retry_after(source) == 0
    # The two last are remembered (and refused), the first is forgotten: it may knock again.
    assert throttle.retry_after("198.51.100.2") == 3600
    assert throttle.retry_after("198.51.100.3") == 3600
    assert throttle.retry_after("198.51.100.1") == 0


def test_ten_thousand_sources_are_remembered_by_default() -> None:
    throttle = SourceThrottle(1, 3600, clock=lambda: 0.0)
    sources = [f"10.0.{n // 256}.{n % 256}" for n in range(10_001)]
    for source in sources:
        assert throttle.retry_after(source) == 0
    assert throttle.retry_after(sources[1]) == 3600  # the 10 000 last are still refused
    assert throttle.retry_after(sources[0]) == 0  # the 10 001st pushed the first out
