"""The recovery bench's own arithmetic: the page's reconnect waits, and the figures read from a recorded result.

No servers: a hand-made result of the reconnecting load generator, so a wrong figure in bench/README.md
cannot come from miscounting.
"""

from __future__ import annotations

from bench import reconnecting
from bench.phases import recovery_figures as fig

T = 1_000.0  # the moment of the fault, in the recorded clock


def _socket(ticks=(), opens=(T - 10,), closes=(), frames=()):
    return {"ticks": list(ticks), "opens": list(opens), "closes": list(closes), "frames": list(frames)}


def test_reconnect_waits_follow_the_page():
    # pace.js backoff(failures, 1000, 30000): 0.5-1 s first, then up to 2, 4, ... s, never over 30 s.
    for failures, ceiling in ((0, 1.0), (1, 2.0), (2, 4.0), (5, 30.0), (12, 30.0)):
        waits = [reconnecting.backoff(failures) for _ in range(500)]
        assert 0.5 <= min(waits) and max(waits) <= ceiling
        assert max(waits) > ceiling * 0.8  # full jitter: the whole range is used


def test_ticking_again_counts_each_socket_once_and_the_silent_ones():
    result = {
        "sockets": {
            "1": _socket(ticks=[T - 1, T + 0.4, T + 1.4]),
            "2": _socket(ticks=[T - 1, T + 2.0]),
            "3": _socket(ticks=[T - 1]),  # open, silent since the fault
            "4": _socket(ticks=[T - 1], closes=[[T + 0.2, 1006]]),  # closed and never back
        }
    }
    figures = fig.ticking_again(result, T)
    assert figures["after"]["count"] == 2 and figures["after"]["max"] == 2.0
    assert abs(figures["after"]["p50"] - 0.4) < 1e-9
    assert (figures["never"], figures["never_open"], figures["never_samples"]) == (2, 1, [3, 4])


def test_closes_and_reopens_after_the_fault_only():
    result = {
        "sockets": {
            "1": _socket(opens=[T - 10, T + 1], closes=[[T + 0.1, 1006]]),
            "2": _socket(opens=[T - 10], closes=[[T + 0.1, 1011]]),  # closed, never back
            "3": _socket(opens=[T - 20, T - 10], closes=[[T - 15, 1006]]),  # before the fault: not counted
        }
    }
    assert fig.closes(result, T) == {"closed": 2, "codes": {"1006": 1, "1011": 1}, "reopened": 1}


def test_probes_say_which_dashboard_events_were_lost():
    proctor = _socket(frames=[[T + 0.6, "attempt_time_changed", 8], [T + 0.3, "presence", 7]])
    sent = [
        {"attempt_id": 7, "sent": T + 0.0, "sent_after": 0.0, "status": 200},
        {"attempt_id": 8, "sent": T + 0.5, "sent_after": 0.5, "status": 200},
    ]
    figures = fig.probes(proctor, sent)
    assert (figures["sent"], figures["arrived"], figures["lost_sent_after"]) == (2, 1, [0.0])
    assert figures["first_arrived_sent_after"] == 0.5 and abs(figures["latency"]["max"] - 0.1) < 1e-9


def test_error_lines_after_the_grace_only(tmp_path):
    log = tmp_path / "web.log"
    log.write_text(
        "2026-12-01 22:00:00,000 ERROR realtime.x before the grace\n"
        "2026-12-01 22:00:05,000 INFO realtime.x fine\n"
        "2026-12-01 22:00:06,000 WARNING realtime.x an outage line\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        "2026-12-01 22:00:07,000 ERROR realtime.x after\n"
    )
    since = fig.lines_with_times("2026-12-01 22:00:03,000 INFO x\n")[0][0]
    found = fig.error_lines(log, since)
    assert found["count"] == 2 and found["samples"][0].startswith("Traceback")
