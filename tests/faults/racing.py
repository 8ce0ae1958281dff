"""Racing the services of this process against each other and against the expiry worker's processes.

Each side runs on a thread of its own with its own database connection, opened before the
race starts. Many rounds run at once: raced in waves released together (`race_in_waves`),
or each fired at its own moment (`at_moments`).
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone

from attempts import audit, clock, timer
from attempts.models import Attempt, AttemptEvent
from tests.helpers import in_own_connection, run_threads, timer_errors, wait_until

# Rounds raced at once: two threads and two database connections each (the server allows 151).
WAVE = 10
# Threads firing the calls of `at_moments`; each keeps one connection for all its calls.
FIRING_THREADS = 20
# How far a timer's time left may stray from its deadline: the write's round trip and the read's, on a
# machine running two test workers (over 0.05 s seen once). A timer an extension failed to move is off by
# the extension itself, a second or more.
TTL_TOLERANCE_SECONDS = 0.25


def outcome(func: Callable) -> Callable:
    """`func` returning its result, or the exception it raised: the loser of a race answers with one."""

    def run():
        try:
            return func()
        except Exception as exc:
            return exc

    return run


def race_in_waves(rounds: list[tuple[Callable, ...]], *, wave: int = WAVE) -> list[tuple]:
    """Run the sides of each round at once, `wave` rounds together; per round, each side's outcome."""
    results: list[tuple] = []
    for first in range(0, len(rounds), wave):
        chunk = rounds[first : first + wave]
        width = len(chunk[0])
        flat = run_threads(*(outcome(side) for sides in chunk for side in sides))
        results += [tuple(flat[n : n + width]) for n in range(0, len(flat), width)]
    return results


def at_moments(calls: list[tuple[float, Callable]], *, threads: int = FIRING_THREADS) -> list:
    """Make each call at its moment (Unix seconds); the outcomes in the order of `calls`."""
    order = sorted(range(len(calls)), key=lambda n: calls[n][0])
    results: list = [None] * len(calls)

    def fire(share: list[int]) -> None:
        connection.ensure_connection()
        for n in share:
            moment, func = calls[n]
            if (delay := moment - time.time()) > 0:
                time.sleep(delay)
            results[n] = outcome(func)()

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(in_own_connection, fire, order[k::threads]) for k in range(threads)]:
            future.result(timeout=120)
    return results


def aware(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, tz=UTC)


def assert_timers_follow(attempt_ids: list[int]) -> dict[int, Attempt]:
    """Each ongoing attempt has its timer, running out at its deadline; no ended one a timer, none a hold. The rows."""
    rows = Attempt.objects.in_bulk(attempt_ids)
    left = timer.remaining_many(attempt_ids)
    ongoing = [pk for pk in attempt_ids if rows[pk].status == Attempt.Status.ONGOING]
    assert [pk for pk in ongoing if left[pk] is None] == [], "ongoing attempts without a timer"
    assert [pk for pk in ongoing if rows[pk].deadline_at <= timezone.now()] == [], "ongoing past the deadline"
    ended = [pk for pk in attempt_ids if pk not in set(ongoing)]
    assert [pk for pk in ended if left[pk] is not None] == [], "ended attempts with a timer"
    timed_out = [pk for pk in ended if rows[pk].status == Attempt.Status.TIMEOUT]
    assert [pk for pk in timed_out if rows[pk].ended_at != rows[pk].deadline_at] == [], "timed out off the deadline"
    assert [pk for pk in timed_out if rows[pk].deadline_at > timezone.now()] == [], "timed out with time ahead"
    strays = {
        pk: error
        for pk, error in timer_errors(ongoing, {pk: rows[pk].deadline_at.timestamp() for pk in ongoing}).items()
        if abs(error) > TTL_TOLERANCE_SECONDS
    }
    assert strays == {}, f"timers running out away from their deadline (s): {strays}"
    assert timer.holds(attempt_ids) == {}, "deadline holds left behind"
    return rows


def audit_rows(attempt_ids: list[int], *kinds: str) -> dict[int, list[tuple]]:
    """Attempt id -> its audit rows of `kinds` as (kind, actor id, data), oldest first."""
    trail = collections.defaultdict(list)
    rows = AttemptEvent.objects.filter(attempt_id__in=attempt_ids, kind__in=kinds).order_by("at", "pk")
    for attempt_id, kind, actor_id, data in rows.values_list("attempt_id", "kind", "actor_id", "data"):
        trail[attempt_id].append((kind, actor_id, data))
    return trail


def worker_expiries(cluster) -> collections.Counter:
    """Attempt id -> how many times the expiry workers logged ending it."""
    return collections.Counter(int(pk) for pk in re.findall(r"expired attempt=(\d+)", "".join(cluster.expiry_lines())))


def wait_all_ended(attempt_ids: list[int], *, timeout: float) -> None:
    wait_until(
        lambda: not Attempt.objects.filter(pk__in=attempt_ids, status=Attempt.Status.ONGOING).exists(),
        timeout=timeout,
        what="every attempt to end",
    )


def assert_timed_out_at_new_deadlines(extended: dict, seconds: int) -> None:
    """The extended attempts ran to their new deadline and timed out then, not before."""
    rows = assert_timers_follow(list(extended))
    timed_out_at = dict(
        AttemptEvent.objects.filter(attempt_id__in=list(extended), kind=audit.Kind.TIMED_OUT).values_list(
            "attempt_id", "at"
        )
    )
    for pk, old_deadline in extended.items():
        assert rows[pk].status == Attempt.Status.TIMEOUT
        assert rows[pk].ended_at == old_deadline + timedelta(seconds=seconds)
        assert timed_out_at[pk] >= rows[pk].ended_at


class TickerVerdicts:
    """What a socket's ticker would decide meanwhile, read far more often than its once a second.

    A ticker that finds an attempt's timer gone past the deadline it cached asks
    `clock.ends_of_due` whether the end is already decided, and if so sends the sockets their
    last frame before the end is recorded (`realtime.ticker`). Every verdict it gives must
    be how the attempt really ends.
    """

    POLL_SECONDS = 0.002

    def __init__(self, deadline_of: dict[int, datetime]) -> None:
        self.deadline_of = deadline_of
        self.verdicts: dict[int, str] = {}
        self.undecided = collections.Counter()  # attempt id -> reads that found its end not decided yet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=in_own_connection, args=(self._poll,), daemon=True)

    def __enter__(self) -> TickerVerdicts:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _poll(self) -> None:
        connection.ensure_connection()
        pending = set(self.deadline_of)
        while pending and not self._stop.is_set():
            now = timezone.now()
            left = timer.remaining_many(sorted(pending))
            due = [pk for pk, seconds in left.items() if seconds is None and self.deadline_of[pk] <= now]
            for pk, end in clock.ends_of_due(due).items() if due else ():
                if end is None:
                    self.undecided[pk] += 1
                else:
                    self.verdicts[pk] = end
                    pending.discard(pk)
            time.sleep(self.POLL_SECONDS)

    def wrong(self, rows: dict[int, Attempt]) -> dict[int, tuple[str, str]]:
        """Attempt id -> (verdict, how it really stands) wherever the two differ."""
        return {pk: (end, rows[pk].status) for pk, end in self.verdicts.items() if rows[pk].status != end}
