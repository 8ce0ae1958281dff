"""The audit trail of attempts: one `AttemptEvent` row per thing that happened, with its actor and reason.

Callers write within the transaction of the change they record, so the trail never holds a
change the database rolled back, nor misses one it kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from attempts.models import AttemptEvent

Kind = AttemptEvent.Kind


def actor_of(user) -> dict | None:
    """A user as events and frames name them: `{"id", "username"}`, or None for no one (the student or the clock)."""
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username()}


def record(attempt_id: int, kind: str, *, actor=None, **data) -> None:
    """Add one row to an attempt's trail."""
    AttemptEvent.objects.create(attempt_id=attempt_id, kind=kind, actor=actor, data=data)


def record_many(attempt_ids: Iterable[int], kind: str, *, actor=None, data_of=None) -> None:
    """Add one row of `kind` to the trail of each attempt, in one INSERT; `data_of(attempt_id)` gives its data."""
    now = timezone.now()
    AttemptEvent.objects.bulk_create(
        [
            AttemptEvent(
                attempt_id=attempt_id, kind=kind, actor=actor, at=now, data=data_of(attempt_id) if data_of else {}
            )
            for attempt_id in attempt_ids
        ]
    )


def trail_of(attempt_id: int) -> list[dict]:
    """The attempt's events, oldest first, as the staff API lists them."""
    events = AttemptEvent.objects.filter(attempt_id=attempt_id).select_related("actor").order_by("at", "pk")
    return [
        {"at": event.at, "kind": event.kind, "actor": actor_of(event.actor), "data": event.data} for event in events
    ]


# The kinds that end an attempt or start it again: the last of them says how it stands now.
_END_KINDS = (Kind.SUBMITTED, Kind.TIMED_OUT, Kind.ENDED, Kind.REOPENED)


def ended_by_proctor(attempt_id: int) -> bool:
    """True when the attempt's latest end was a proctor's (`ended`), not the student's submit or the clock."""
    last = (
        AttemptEvent.objects.filter(attempt_id=attempt_id, kind__in=_END_KINDS)
        .order_by("-at", "-pk")
        .values_list("kind", flat=True)
        .first()
    )
    return last == Kind.ENDED
