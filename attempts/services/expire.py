"""Timing out due attempts, one or a whole batch, and the row lock every transition takes first."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from attempts import audit, events, timer
from attempts.models import Attempt
from attempts.scoring import exam_totals, percentage, results_of, scores_of

# One logger for every expiry, whichever path did it: operators grep one name.
logger = logging.getLogger("attempts.expiry")


def lock_attempt_row(attempt_id: int) -> None:
    """Lock the attempt's row through its primary key, first thing in every transition.

    A conditional UPDATE alone may reach the row through the (status, deadline_at) index and
    then wait for the primary key that another transition holds while it waits for that index
    entry: MySQL/MariaDB then kills one of them with a deadlock (error 1213). One lock order, none.
    """
    Attempt.objects.select_for_update().filter(pk=attempt_id).values_list("pk", flat=True).first()


def attempt_expire(*, attempt_id: int, caller_holds: int | None = None, path: str = "request") -> bool:
    """Mark a due attempt timed out and score it; True only for the one caller that did it."""
    return bool(attempts_expire_many(attempt_ids=[attempt_id], caller_holds=caller_holds, path=path))


def held_open(attempt_ids: list[int], *, caller_holds: int | None = None) -> set[int]:
    """Those of `attempt_ids` that a request received before their deadline still holds (`apis.holds`).

    `caller_holds`: the attempt whose hold is the caller's own (a late answer expiring its
    attempt), which does not count. Without Redis nothing is held: no request could take a hold.
    """
    try:
        counts = timer.holds(attempt_ids)
    except timer.TimerUnavailable:
        return set()
    return {attempt_id for attempt_id, n in counts.items() if n - (attempt_id == caller_holds) > 0}


@contextmanager
def deadlines_held(attempt_ids: list[int]) -> Iterator[None]:
    """Hold these attempts' deadlines open while a transition that judges them under their row locks runs and commits.

    For the proctor's transitions (extend, end), which the clock judges when they run, not when
    they were received. Expiry and the ticker's early verdict (`clock.ends_of_due`) read the
    committed row without waiting for its lock: past the deadline, while an extension that
    found the attempt still running waits to commit, they took it for timed out, and the
    ticker told its sockets so. Taken before the transition reads the clock, a hold is seen by
    everyone who reads the clock after it (`held_open`), until the commit is visible. Use it
    outside any transaction: it is released when the block ends. Without Redis nothing is
    held, and the row lock alone orders the transition against expiry.
    """
    try:
        timer.hold_many(attempt_ids)
    except timer.TimerUnavailable:
        yield
        return
    try:
        yield
    finally:
        try:
            timer.release_many(attempt_ids)
        except timer.TimerUnavailable as exc:
            logger.warning("holds of %d attempts not released (%s); they lapse by themselves", len(attempt_ids), exc)


def attempts_expire_many(
    *, attempt_ids: list[int], caller_holds: int | None = None, path: str = "request"
) -> list[int]:
    """Time out and score the due attempts among `attempt_ids` in one transaction; the ids this caller ended.

    Each one this caller ended is logged once (`expired attempt=<id> late_ms=<ms> path=<path>`),
    whichever process and path won: the worker's notification or sweep, a ticker, a request.

    An attempt that a request received before its deadline still holds is left ongoing: the
    next sweep after the request was answered ends it. A mass timeout (a whole exam sharing
    one deadline) cost a dozen round trips per attempt one by one; here it is a handful per
    batch (bench/README.md, "shared deadline").
    """
    # `now` before the holds are read: a request stamped before a deadline that is due at `now`
    # took its hold before its stamp, so it is seen here.
    now = timezone.now()
    ids = sorted(set(attempt_ids) - held_open(list(attempt_ids), caller_holds=caller_holds))
    if not ids:
        return []
    with transaction.atomic():
        # Rows locked through the primary key in key order, as `lock_attempt_row` does for
        # one: batches, submits and answers then never wait for each other in a cycle.
        rows = Attempt.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        locked = rows.values_list("pk", "status", "exam_id", "deadline_at")
        due_rows = [
            (pk, exam_id, deadline_at)
            for pk, status, exam_id, deadline_at in locked
            if status == Attempt.Status.ONGOING and deadline_at <= now
        ]
        if not due_rows:
            return []
        due = [pk for pk, _, _ in due_rows]
        # Answers take the row lock and check the deadline under it, so every answer in the
        # table now was received before the deadline.
        scores = scores_of(due)
        totals = exam_totals(exam_id for _, exam_id, _ in due_rows)
        # One UPDATE for the whole batch, the scores in a CASE (one WHEN per distinct score):
        # an UPDATE per distinct score cost a statement each (bench/README.md, "mass deadline").
        by_score: dict[int, list[int]] = {}
        for attempt_id, score in scores.items():
            if score:
                by_score.setdefault(score, []).append(attempt_id)
        Attempt.objects.filter(pk__in=due, status=Attempt.Status.ONGOING).update(
            status=Attempt.Status.TIMEOUT,
            ongoing_guard=None,
            ended_at=F("deadline_at"),
            score=Case(*(When(pk__in=same, then=Value(n)) for n, same in by_score.items()), default=Value(0)),
        )
        audit.record_many(due, audit.Kind.TIMED_OUT, data_of=lambda attempt_id: {"path": path})
        # What the end announces, from what this transaction wrote: no read of the rows again.
        ended = []
        for attempt_id, exam_id, _ in due_rows:
            total_marks = totals.get(exam_id, (0, 0))[0]
            ended.append(
                events.AttemptEnded(
                    attempt_id=attempt_id,
                    exam_id=exam_id,
                    status=Attempt.Status.TIMEOUT.value,
                    score=scores[attempt_id],
                    percentage=percentage(scores[attempt_id], total_marks),
                    total_marks=total_marks,
                )
            )
        transaction.on_commit(_announcer(due, ended), robust=True)
    committed_at = timezone.now()
    for attempt_id, _, deadline_at in due_rows:
        late_ms = round((committed_at - deadline_at).total_seconds() * 1000)
        logger.info("expired attempt=%d late_ms=%d path=%s", attempt_id, late_ms, path)
    return due


def end_announcement(attempt_ids: list[int], *, by: dict | None = None) -> Callable[[], None]:
    """Read, inside the transaction, what the end of these attempts announces; the announcer to run after commit.

    Reading before the commit means a database that fails right after it cannot cost the broadcast.
    """
    attempts = list(Attempt.objects.select_related("exam").filter(pk__in=attempt_ids))
    results = results_of(attempts)
    ended = [
        events.AttemptEnded(
            attempt_id=attempt.pk,
            exam_id=attempt.exam_id,
            status=attempt.status,
            score=results[attempt.pk].score,
            percentage=results[attempt.pk].percentage,
            total_marks=results[attempt.pk].total_marks,
            by=by,
        )
        for attempt in attempts
    ]
    return _announcer(attempt_ids, ended)


def _announcer(attempt_ids: list[int], ended: list[events.AttemptEnded]) -> Callable[[], None]:
    """After commit: clear the ended attempts' timers, then announce their ends."""

    def announce() -> None:
        try:
            timer.clear_many(attempt_ids)
        except timer.TimerUnavailable:
            pass  # The keys expire by themselves; their events find the attempts already over.
        events.announce(ended)

    return announce
