"""What happened to attempts, as plain data, announced after commit to whoever subscribed.

The domain does not know who listens: the socket transport subscribes when its app is ready
(`realtime.apps`) and turns these into channel-layer messages. A subscriber receives the
events of one transaction together, so a mass timeout is one call, not thousands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttemptStarted:
    attempt_id: int
    exam_id: int
    row: dict  # the attempt as the proctor table shows it (`selectors.attempt_row`)


@dataclass(frozen=True)
class AnswerSaved:
    attempt_id: int
    exam_id: int
    status: str
    answered: int  # questions of the attempt with an answer now
    question_id: int
    selected_option: str  # the choice stored now: every open tab of the attempt shows it


@dataclass(frozen=True)
class AttemptEnded:
    attempt_id: int
    exam_id: int
    status: str  # "completed" or "timeout"
    score: int
    percentage: float
    total_marks: int
    by: dict | None = None  # the proctor who ended it ({"id", "username"}); None: the student or the clock


@dataclass(frozen=True)
class TimeChanged:
    """A proctor moved an ongoing attempt's deadline (its timer moved with it)."""

    attempt_id: int
    exam_id: int
    deadline_at: datetime
    change_seconds: int  # this change
    total_change_seconds: int  # every live change of the attempt so far
    reason: str
    by: dict | None
    offline_credited_seconds: int = 0  # offline time given back so far (a credit moves it)


@dataclass(frozen=True)
class AttemptReopened:
    attempt_id: int
    exam_id: int
    row: dict  # as `AttemptStarted.row`
    by: dict | None


@dataclass(frozen=True)
class AnnouncementPosted:
    exam_id: int
    announcement_id: int
    message: str
    created_at: datetime
    attempt_ids: tuple[int, ...]  # the exam's attempts ongoing when it was posted
    by: dict | None


@dataclass(frozen=True)
class PresenceChanged:
    """The attempt's first socket opened on some process, or its last one closed (or its process died)."""

    attempt_id: int
    exam_id: int
    connected: bool
    offline_seconds: int  # offline so far, from its start
    offline_since: datetime | None  # start of the offline interval now open; None while connected


Event = (
    AttemptStarted | AnswerSaved | AttemptEnded | TimeChanged | AttemptReopened | AnnouncementPosted | PresenceChanged
)
Subscriber = Callable[[Sequence[Event]], None]

_subscribers: list[Subscriber] = []
# Per subscriber that hands events on in the background: wait (at most `timeout` s) until it has; False if not.
_flushes: list[Callable[[float], bool]] = []


def subscribe(subscriber: Subscriber, *, flush: Callable[[float], bool] | None = None) -> None:
    """Call `subscriber` with the events of every transaction from now on (once per subscriber).

    `flush(timeout)`: for a subscriber that sends in the background, wait until it sent what it was given.
    """
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)
        if flush is not None:
            _flushes.append(flush)


def flush(timeout: float) -> bool:
    """Wait until every subscriber handed on what it was given (a process about to stop); False if one did not."""
    return all([each(timeout) for each in list(_flushes)])


def announce(events: Sequence[Event]) -> None:
    """Hand `events` to every subscriber now; a failing subscriber is logged and the others still run."""
    for subscriber in list(_subscribers):
        try:
            subscriber(events)
        except Exception:
            logger.exception("subscriber %r failed on %d events", subscriber, len(events))


def announce_on_commit(events: Sequence[Event]) -> None:
    """Announce `events` once the current transaction commits (at once outside one); never for a rollback."""
    transaction.on_commit(lambda: announce(events), robust=True)
