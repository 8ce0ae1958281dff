"""The permanent record of presence: whether an attempt is connected, and its offline time.

`settle` brings the stored state of some attempts in line with the registry in Redis
(`attempts.presence`). It is idempotent and reads the registry under the attempts' row locks,
so two processes settling one attempt at once (a socket closing on one while another opens on
a second, a worker reaping a dead process) are ordered by the lock, and the second one sees
the registry as the first left it: the stored state never ends up the opposite of the
registry's, whatever order the callers run in. Only ongoing attempts change: one that ended
keeps what it was at its end, and its offline time stops counting there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from attempts import audit, events, presence, selectors
from attempts.models import Attempt

logger = logging.getLogger(__name__)

# Attempts locked per transaction: row locks held for milliseconds, not for the seconds that
# thousands took, whatever else (an expiry, an answer) waits for one of them.
SETTLE_CHUNK = 200


@dataclass(frozen=True)
class Settled:
    changed: list[int]  # attempts whose stored presence changed
    busy: list[int]  # attempts another transaction held locked: settle them again shortly


def settle(
    attempt_ids: Iterable[int],
    *,
    gone_at: Mapping[int, int] | None = None,
    seen_at: Mapping[int, int] | None = None,
) -> Settled:
    """Record the presence transitions the registry shows for these attempts.

    The moment of a change, in Unix ms: `gone_at`, the last heartbeat of a dead process that held
    an attempt's last socket (for a disconnect only); else `seen_at`, when Redis applied the
    change; else now. A settle that waited (a busy row, a database down) still records the
    moment of the change. Raises PresenceUnavailable when Redis does not answer (nothing more is
    written then; what was, settles again as a no-op).

    An attempt whose deadline has passed is left alone: its sockets close because it ends, and
    its end is the expiry's to record (a shared deadline must not also cost a settle per attempt).

    Rows locked by another transaction (an answer being saved, an expiry) are skipped, not
    waited for, and answered as `busy`: the callers run on a thread that must not stall.
    """
    ids = sorted(set(attempt_ids))
    gone_at = gone_at or {}
    seen_at = seen_at or {}
    changed: list[int] = []
    busy: list[int] = []
    # A transaction per chunk: a process reaped with 10,000 sockets locked 10,000 rows in one
    # transaction for seconds (one UPDATE compiling a CASE of 10,000), and a shared deadline's
    # expiry queued behind it (bench/README.md, "mass deadline").
    for start in range(0, len(ids), SETTLE_CHUNK):
        settled = _settle_chunk(ids[start : start + SETTLE_CHUNK], gone_at=gone_at, seen_at=seen_at)
        changed += settled.changed
        busy += settled.busy
    return Settled(changed=changed, busy=busy)


def _settle_chunk(ids: list[int], *, gone_at: Mapping[int, int], seen_at: Mapping[int, int]) -> Settled:
    """`settle` for up to SETTLE_CHUNK attempts (sorted ids), in one transaction."""
    # A plain read first, and only the attempts still running are locked: one that ended or
    # whose deadline passed is left alone below anyway. The sockets of a shared deadline all
    # close at once, and locking their thousands of rows in one transaction held up the expiry
    # of exactly those rows by seconds (bench/README.md, "mass deadline"). One whose deadline
    # moves ahead meanwhile is settled by the worker's recheck (`mismatched`).
    running = set(
        Attempt.objects.filter(pk__in=ids, status=Attempt.Status.ONGOING, deadline_at__gt=timezone.now()).values_list(
            "pk", flat=True
        )
    )
    ids = [pk for pk in ids if pk in running]
    if not ids:
        return Settled(changed=[], busy=[])
    with transaction.atomic():
        # Locked in key order through the primary key, as every batch transition does.
        attempts = list(
            Attempt.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .only(
                "pk", "exam_id", "status", "started_at", "deadline_at", "connected", "presence_changed_at", "offline_ms"
            )
        )
        locked = {attempt.pk for attempt in attempts}
        # Not locked here: held by another transaction, or gone (a plain read tells which).
        busy = (
            list(Attempt.objects.filter(pk__in=set(ids) - locked).values_list("pk", flat=True))
            if len(locked) < len(ids)
            else []
        )
        attempts = [attempt for attempt in attempts if attempt.status == Attempt.Status.ONGOING]
        live = presence.connected_many(attempt.pk for attempt in attempts)
        now = timezone.now()
        moved: list[Attempt] = []
        trail: dict[str, dict[int, dict]] = {audit.Kind.CONNECTED: {}, audit.Kind.DISCONNECTED: {}}
        for attempt in attempts:
            connected = live[attempt.pk]
            if connected == attempt.connected or attempt.deadline_at <= now:
                continue
            gone = None if connected else gone_at.get(attempt.pk)
            moment = _moment(attempt, gone if gone is not None else seen_at.get(attempt.pk), now)
            kind, data = _apply(
                attempt, connected=connected, at=moment, reason="closed" if gone is None else "server_gone"
            )
            trail[kind][attempt.pk] = data
            moved.append(attempt)
        # One UPDATE and one INSERT per kind for the batch: a reconnect storm settles in a few statements.
        Attempt.objects.bulk_update(moved, ["connected", "presence_changed_at", "offline_ms"])
        for kind, data in trail.items():
            audit.record_many(data, kind, data_of=data.get)
        events.announce_on_commit(
            [
                events.PresenceChanged(
                    attempt_id=attempt.pk,
                    exam_id=attempt.exam_id,
                    connected=attempt.connected,
                    offline_seconds=selectors.offline_seconds_of(attempt, now=now),
                    offline_since=None if attempt.connected else attempt.presence_changed_at,
                )
                for attempt in moved
            ]
        )
        changed = [attempt.pk for attempt in moved]
    return Settled(changed=changed, busy=busy)


def _moment(attempt: Attempt, at_ms: int | None, now: datetime) -> datetime:
    """When the change happened (`at_ms`, else now); never before the previous change, never after now."""
    moment = now if at_ms is None else datetime.fromtimestamp(at_ms / 1000, UTC)
    earliest = attempt.presence_changed_at or attempt.started_at
    return min(max(moment, earliest), now)


def _apply(attempt: Attempt, *, connected: bool, at: datetime, reason: str) -> tuple[str, dict]:
    """One transition of a locked, ongoing attempt, on the instance: the kind and data of its audit row."""
    if connected:
        since = attempt.presence_changed_at or attempt.started_at
        offline_ms = max(0, round((at - since) / timedelta(milliseconds=1)))
        attempt.offline_ms += offline_ms
        kind, data = audit.Kind.CONNECTED, {"offline_seconds": round(offline_ms / 1000)}
    else:
        kind, data = audit.Kind.DISCONNECTED, {"reason": reason}
    attempt.connected = connected
    attempt.presence_changed_at = at
    return kind, data


def mismatched(batch: int = 5_000) -> list[int]:
    """Ongoing attempts whose stored presence differs from the registry's (a transition whose settle
    failed, a process that died before settling): what the expiry worker settles now and then."""
    found: list[int] = []
    last_id = 0
    while True:
        stored = dict(
            Attempt.objects.filter(status=Attempt.Status.ONGOING, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "connected")[:batch]
        )
        if not stored:
            return found
        live = presence.connected_many(stored)
        found += [pk for pk, connected in stored.items() if live[pk] != connected]
        last_id = max(stored)
