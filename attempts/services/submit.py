"""Submitting an attempt: scored once, if it was received before its deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from attempts import audit
from attempts.models import Attempt
from attempts.scoring import score_of
from attempts.selectors import attempt_for_user
from attempts.services.expire import attempt_expire, end_announcement, lock_attempt_row

# A submit that came too late may find the attempt still held open by another request of the
# same attempt received in time (`apis.holds`); how that one ends decides what this one reports.
END_WAIT_SECONDS = 10.0
END_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class SubmitResult:
    attempt: Attempt
    outcome: str  # "submitted", "timeout" or "already_completed"


def attempt_submit(
    *, user, attempt_id: int, received_at: datetime | None = None, caller_holds: int | None = None
) -> SubmitResult:
    """Submit and score an attempt received (`received_at`, default now) before its deadline.

    An attempt whose time ran out first is reported as timed out. `caller_holds`: the attempt
    whose deadline this request holds (`apis.holds`).
    """
    attempt = attempt_for_user(user=user, attempt_id=attempt_id)
    submitted = False
    if attempt.status == Attempt.Status.ONGOING:
        with transaction.atomic():
            lock_attempt_row(attempt.pk)
            moment = received_at or timezone.now()
            submitted = bool(
                Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.ONGOING, deadline_at__gt=moment).update(
                    status=Attempt.Status.COMPLETED, ongoing_guard=None, ended_at=moment
                )
            )
            if submitted:
                Attempt.objects.filter(pk=attempt.pk).update(score=score_of(attempt.pk))
                audit.record(attempt.pk, audit.Kind.SUBMITTED)
                transaction.on_commit(end_announcement([attempt.pk]), robust=True)
        if not submitted:
            _wait_for_the_end(attempt, caller_holds=caller_holds)
        attempt.refresh_from_db()
    if submitted:
        return SubmitResult(attempt=attempt, outcome="submitted")
    if attempt.status == Attempt.Status.TIMEOUT:
        return SubmitResult(attempt=attempt, outcome="timeout")
    return SubmitResult(attempt=attempt, outcome="already_completed")


def _wait_for_the_end(attempt: Attempt, *, caller_holds: int | None) -> None:
    """Expire the attempt this late submit found ongoing, waiting while requests received in time hold it."""
    give_up = time.monotonic() + END_WAIT_SECONDS
    while not attempt_expire(attempt_id=attempt.pk, caller_holds=caller_holds):
        attempt.refresh_from_db(fields=["status"])
        if attempt.status != Attempt.Status.ONGOING or time.monotonic() >= give_up:
            return
        time.sleep(END_POLL_SECONDS)
