"""The time rules of an exam as pure functions: an attempt's time limit and deadline, the window, attempts left.

No database and no clock here: callers pass the exam, the student's accommodation and the
moment, so every formula of docs/api.md ("Time rules") is tested on plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from attempts import errors


@dataclass(frozen=True)
class Allowance:
    """What a student's accommodation changes; the default is none."""

    extra_minutes: int = 0
    time_multiplier: Decimal = Decimal("1.00")
    extra_attempts: int = 0


NO_ALLOWANCE = Allowance()


def time_limit_seconds(*, duration_minutes: int, allowance: Allowance = NO_ALLOWANCE) -> int:
    """`round(duration_minutes * 60 * time_multiplier) + extra_minutes * 60` seconds.

    `duration_minutes * 60` is a multiple of 60 and the multiplier has two decimals, so the
    product is a multiple of 0.6 and never ends in exactly .5: the rounding has no ties to break.
    """
    scaled = Decimal(duration_minutes * 60) * allowance.time_multiplier
    return int(scaled.to_integral_value()) + allowance.extra_minutes * 60


def deadline(*, started_at: datetime, limit_seconds: int, closes_at: datetime | None) -> datetime:
    """`min(started_at + limit, closes_at)`: no attempt outlives the exam's window."""
    natural = started_at + timedelta(seconds=limit_seconds)
    return natural if closes_at is None else min(natural, closes_at)


def check_can_start(
    *,
    now: datetime,
    opens_at: datetime | None,
    closes_at: datetime | None,
    max_attempts: int | None,
    attempts_started: int,
    allowance: Allowance = NO_ALLOWANCE,
) -> None:
    """Raise the first start refusal that applies (not open yet, closed, no attempts left), in that order."""
    if opens_at is not None and now < opens_at:
        raise errors.NotOpenYet(opens_at=opens_at)
    if closes_at is not None and now >= closes_at:
        raise errors.ExamClosed()
    if max_attempts is not None:
        allowed = max_attempts + allowance.extra_attempts
        if attempts_started >= allowed:
            raise errors.NoAttemptsLeft(max_attempts=allowed)


def offline_ms(
    *,
    offline_ms_closed: int,
    connected: bool,
    changed_at: datetime | None,
    started_at: datetime,
    ended_at: datetime | None,
    now: datetime,
) -> int:
    """An attempt's offline time so far: its closed offline intervals, plus the open one while no socket is.

    An attempt is offline from its start until its first socket; an ended attempt stops counting at its end.
    """
    if connected:
        return offline_ms_closed
    since = changed_at or started_at
    until = ended_at or now
    return offline_ms_closed + max(0, round((until - since).total_seconds() * 1000))
