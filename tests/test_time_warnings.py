"""The warning rules of one socket (realtime/time_warnings.py): crossings, once each, re-armed by an extension."""

from __future__ import annotations

from realtime.time_warnings import SocketWarnings, thresholds_of


def _passes(warnings: SocketWarnings, seconds: list[int]) -> list[tuple[int, int]]:
    """(seconds left, minutes warned) for every pass that warned."""
    return [(left, minutes) for left in seconds if (minutes := warnings.crossed(left)) is not None]


def test_each_threshold_fires_once_at_the_pass_that_crosses_it():
    warnings = SocketWarnings((5, 1), seconds_left=302)
    assert _passes(warnings, list(range(301, 0, -1))) == [(300, 5), (60, 1)]


def test_a_pass_that_skipped_a_second_still_crosses():
    warnings = SocketWarnings((1,), seconds_left=62)
    assert _passes(warnings, [61, 59, 58]) == [(59, 1)]


def test_connecting_at_or_below_a_threshold_is_not_warned_for_it():
    assert _passes(SocketWarnings((5, 1), seconds_left=300), [299, 200, 61, 60, 59]) == [(60, 1)]
    assert _passes(SocketWarnings((1,), seconds_left=45), [44, 43]) == []


def test_a_second_of_jitter_around_a_threshold_does_not_warn_twice():
    # Redis' TTL and the cached deadline may disagree by a millisecond across a whole second.
    warnings = SocketWarnings((1,), seconds_left=62)
    assert _passes(warnings, [61, 60, 61, 60, 59]) == [(60, 1)]


def test_an_extension_above_a_threshold_re_arms_it_and_one_below_does_not():
    warnings = SocketWarnings((5, 1), seconds_left=302)
    assert _passes(warnings, [300, 200, 60, 55]) == [(300, 5), (60, 1)]
    warnings.rearm(115)  # +60 s: above 1 minute again, still below 5
    assert _passes(warnings, [114, 61, 60, 59]) == [(60, 1)]
    warnings.rearm(400)  # +5 min: both again
    assert _passes(warnings, [399, 300, 60]) == [(300, 5), (60, 1)]


def test_crossing_several_at_once_sends_the_smallest_and_spends_all():
    warnings = SocketWarnings((5, 2, 1), seconds_left=400)
    assert _passes(warnings, [50, 40]) == [(50, 1)]
    assert _passes(warnings, [30]) == []


def test_thresholds_of_takes_whole_minutes_only_largest_first():
    assert thresholds_of([1, 5]) == (5, 1)
    assert thresholds_of([5, 5, 1]) == (5, 1)
    assert thresholds_of([]) == ()
    assert thresholds_of(None) == ()
    assert thresholds_of("5") == ()
    assert thresholds_of([0, -1, 2.5, "3", True, 10**9, 2]) == (2,)
