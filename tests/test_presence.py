"""Presence against the real Redis and database: the registry, settling, reaping, and the credit of offline time.

Server processes are played here by calling the registry's heartbeat (`presence.abeat`) with
process ids of our own; tests/e2e/test_presence.py runs the real daphne processes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from attempts import audit, events, presence, selectors
from attempts.models import Attempt, AttemptEvent
from attempts.services import control
from attempts.services.presence import mismatched, settle
from tests.factories import api_client, make_user, start_attempt
from tests.helpers import run_threads, staff_post, status_and_body, submit, wait_until

NOTHING = {"error": "There is no offline time to credit.", "code": "nothing_to_credit"}


def beat(process_id: str, changes: dict[int, bool] | None = None) -> presence.Beat:
    return asyncio.run(presence.abeat(process_id, changes or {}))


def started_ago(attempt: Attempt, seconds: float) -> Attempt:
    """Move the attempt's start (and so its offline time since the start) `seconds` into the past."""
    Attempt.objects.filter(pk=attempt.pk).update(started_at=timezone.now() - timedelta(seconds=seconds))
    return Attempt.objects.get(pk=attempt.pk)


@pytest.fixture
def announced():
    """The domain events announced during the test, in order."""
    seen: list = []

    def keep(batch):
        seen.extend(batch)

    events.subscribe(keep)
    yield seen
    events._subscribers.remove(keep)


def kinds(attempt_id: int) -> list[str]:
    return list(AttemptEvent.objects.filter(attempt_id=attempt_id).order_by("pk").values_list("kind", flat=True))


@pytest.mark.django_db(transaction=True)
def test_the_first_socket_ends_the_offline_time_counted_from_the_start(attempt, announced):
    attempt = started_ago(attempt, 5)

    assert beat("web-a", {attempt.pk: True}).sockets_left == {attempt.pk: 1}
    assert settle([attempt.pk]).changed == [attempt.pk]

    attempt.refresh_from_db()
    assert attempt.connected is True
    assert 4_900 <= attempt.offline_ms <= 6_500
    assert kinds(attempt.pk)[-1] == audit.Kind.CONNECTED
    assert AttemptEvent.objects.filter(attempt=attempt).last().data == {"offline_seconds": 5}
    presence_events = [event for event in announced if isinstance(event, events.PresenceChanged)]
    assert [(e.attempt_id, e.connected, e.offline_seconds, e.offline_since) for e in presence_events] == [
        (attempt.pk, True, 5, None)
    ]
    row = selectors.presence_of(attempt)
    assert row == {"connected": True, "offline_seconds": 5, "offline_since": None, "offline_credited_seconds": 0}


@pytest.mark.django_db(transaction=True)
def test_the_last_socket_closing_starts_an_offline_interval_and_settling_twice_changes_nothing(attempt):
    beat("web-a", {attempt.pk: True})
    settle([attempt.pk])

    assert beat("web-a", {attempt.pk: False}).sockets_left == {attempt.pk: 0}
    assert settle([attempt.pk]).changed == [attempt.pk]
    assert settle([attempt.pk]).changed == []

    attempt.refresh_from_db()
    assert attempt.connected is False
    assert kinds(attempt.pk)[-2:] == [audit.Kind.CONNECTED, audit.Kind.DISCONNECTED]
    assert AttemptEvent.objects.filter(attempt=attempt).last().data == {"reason": "closed"}
    row = selectors.presence_of(attempt)
    assert row["connected"] is False
    assert row["offline_since"] == attempt.presence_changed_at.isoformat()


@pytest.mark.django_db(transaction=True)
def test_a_socket_on_a_second_process_keeps_the_attempt_connected(attempt):
    beat("web-a", {attempt.pk: True})
    assert beat("web-b", {attempt.pk: True}).sockets_left == {attempt.pk: 2}
    settle([attempt.pk])

    assert beat("web-a", {attempt.pk: False}).sockets_left == {attempt.pk: 1}
    assert settle([attempt.pk]).changed == []
    assert Attempt.objects.get(pk=attempt.pk).connected is True


@pytest.mark.django_db(transaction=True)
def test_an_attempt_that_ended_keeps_its_presence_and_its_offline_time_stops_at_the_end(attempt, student):
    attempt = started_ago(attempt, 3)
    submit(api_client(student), attempt.pk)
    beat("web-a", {attempt.pk: True})

    assert settle([attempt.pk]).changed == []
    attempt.refresh_from_db()
    offline = selectors.offline_seconds_of(attempt)
    assert offline == 3
    assert selectors.offline_seconds_of(attempt, now=timezone.now() + timedelta(minutes=5)) == offline
    assert selectors.presence_of(attempt)["connected"] is False


@pytest.mark.django_db(transaction=True)
def test_two_workers_reap_a_dead_process_once_and_its_attempt_is_offline_since_its_last_beat(attempt):
    beat("web-a", {attempt.pk: True})
    settle([attempt.pk])
    beat("web-a")  # its last heartbeat, after the connect was recorded
    last_beat = time.time()
    wait_until(lambda: time.time() > last_beat + presence.DEAD_AFTER_SECONDS + 0.05, timeout=5, what="silence")

    first, second = run_threads(presence.reap_dead, presence.reap_dead)

    assert sorted([first, second], key=len) == [{}, {attempt.pk: pytest.approx(last_beat * 1000, abs=300)}]
    reaped = first or second
    assert settle(reaped, gone_at=reaped).changed == [attempt.pk]
    attempt.refresh_from_db()
    assert attempt.connected is False
    assert abs(attempt.presence_changed_at.timestamp() - reaped[attempt.pk] / 1000) < 0.002
    assert AttemptEvent.objects.filter(attempt=attempt).last().data == {"reason": "server_gone"}


@pytest.mark.django_db(transaction=True)
def test_a_process_reaped_while_alive_is_told_to_write_its_attempts_again(attempt):
    beat("web-a", {attempt.pk: True})
    assert beat("web-a").fresh is False
    last_beat = time.time()
    wait_until(lambda: time.time() > last_beat + presence.DEAD_AFTER_SECONDS + 0.05, timeout=5, what="silence")
    assert presence.reap_dead() == {attempt.pk: pytest.approx(last_beat * 1000, abs=300)}

    assert beat("web-a").fresh is True
    assert presence.connected_many([attempt.pk]) == {attempt.pk: False}


@pytest.mark.django_db(transaction=True)
def test_the_recheck_finds_what_a_failed_settle_left_wrong(attempt, exam):
    other = start_attempt(make_user(), exam)
    beat("web-a", {attempt.pk: True})  # opened, never settled (say the database was down)
    Attempt.objects.filter(pk=other.pk).update(connected=True)  # settled, then Redis lost the registry

    assert sorted(mismatched()) == sorted([attempt.pk, other.pk])
    settle(mismatched())
    assert mismatched() == []


# --- Crediting offline time (POST /api/exam/proctor/attempts/<id>/credit-offline/) ---


def credit(client, attempt_id: int, **body):
    return staff_post(client, f"attempts/{attempt_id}/credit-offline/", body)


def online_after(attempt: Attempt, offline_seconds: float) -> Attempt:
    """The attempt offline for its first `offline_seconds`, connected since: its offline time stands still."""
    attempt = started_ago(attempt, offline_seconds)
    beat("web-a", {attempt.pk: True})
    settle([attempt.pk])
    return Attempt.objects.get(pk=attempt.pk)


@pytest.mark.django_db(transaction=True)
def test_a_credit_extends_by_the_offline_time_once(attempt, proctor):
    attempt = online_after(attempt, 42)
    staff = api_client(proctor)

    status, body = status_and_body(credit(staff, attempt.pk, reason="wifi down"))

    assert status == 200
    assert body["credited_seconds"] == 42
    assert body["change_seconds"] == 42
    moved = Attempt.objects.get(pk=attempt.pk)
    assert moved.deadline_at - attempt.deadline_at == timedelta(seconds=42)
    assert moved.offline_credited_seconds == 42
    trail = AttemptEvent.objects.filter(attempt=attempt, kind=audit.Kind.TIME_CHANGED).get()
    assert trail.data == {"change_seconds": 42, "reason": "wifi down"}
    assert trail.actor == proctor
    assert status_and_body(credit(staff, attempt.pk)) == (409, NOTHING)


@pytest.mark.django_db(transaction=True)
def test_a_credit_without_a_reason_says_offline_time_credited(attempt, proctor, announced):
    attempt = online_after(attempt, 7)

    control.attempt_credit_offline(actor=proctor, attempt_id=attempt.pk)

    changed = [event for event in announced if isinstance(event, events.TimeChanged)]
    assert [(event.change_seconds, event.reason) for event in changed] == [(7, "Offline time credited")]


@pytest.mark.django_db(transaction=True)
def test_two_proctors_crediting_at_once_credit_the_time_once(attempt, proctor):
    attempt = online_after(attempt, 30)
    colleague = make_user(is_staff=True)

    results = run_threads(
        lambda: status_and_body(credit(api_client(proctor), attempt.pk)),
        lambda: status_and_body(credit(api_client(colleague), attempt.pk)),
    )

    assert sorted(status for status, _ in results) == [200, 409]
    assert [body for status, body in results if status == 409] == [NOTHING]
    moved = Attempt.objects.get(pk=attempt.pk)
    assert moved.deadline_at - attempt.deadline_at == timedelta(seconds=30)
    assert moved.change_seconds == 30


@pytest.mark.django_db(transaction=True)
def test_credit_of_an_ended_attempt_is_409_attempt_ended(attempt, proctor, student):
    attempt = started_ago(attempt, 20)
    submit(api_client(student), attempt.pk)

    assert status_and_body(credit(api_client(proctor), attempt.pk)) == (
        409,
        {"error": "This attempt has already ended.", "code": "attempt_ended"},
    )


@pytest.mark.django_db(transaction=True)
def test_credit_is_staff_only_and_checks_its_input(attempt, student, proctor):
    assert status_and_body(credit(api_client(student), attempt.pk)) == (
        403,
        {"error": "Staff only.", "code": "staff_only"},
    )
    status, body = status_and_body(credit(api_client(proctor), attempt.pk, reason=["no"]))
    assert (status, body["code"]) == (400, "invalid_input")
    assert "reason" in body["error"]
    status, _ = status_and_body(staff_post(api_client(proctor), "attempts/abc/credit-offline/"))
    assert status == 400


@pytest.mark.django_db(transaction=True)
def test_a_reopened_attempt_does_not_count_the_time_it_was_over_as_offline(attempt, proctor, student):
    attempt = started_ago(attempt, 10)
    submit(api_client(student), attempt.pk)
    Attempt.objects.filter(pk=attempt.pk).update(ended_at=timezone.now() - timedelta(seconds=4))  # over for 4 s

    control.attempt_reopen(actor=proctor, attempt_id=attempt.pk, seconds=60)

    reopened = Attempt.objects.get(pk=attempt.pk)
    assert reopened.connected is False
    assert 5_900 <= reopened.offline_ms <= 6_500  # from the start to the end, not to the reopen
    assert selectors.offline_seconds_of(reopened) == 6


@pytest.mark.django_db(transaction=True)
def test_a_process_whose_event_loop_stalls_past_dead_after_is_not_taken_for_dead(attempt):
    """Its loop blocked for twice DEAD_AFTER_SECONDS (a flood of ticks, a long collection): its thread beats."""
    from realtime.presence import get_presence

    reaped: list[dict[int, int]] = []
    stop = threading.Event()

    def reap_like_the_worker() -> None:
        while not stop.is_set():
            reaped.append(presence.reap_dead())
            stop.wait(presence.HEARTBEAT_SECONDS / 2)

    async def scenario() -> tuple[bool, int]:
        local = get_presence()
        local.opened(attempt.pk, object())
        deadline = time.monotonic() + 5
        while local.beats < 1:
            assert time.monotonic() < deadline, "no heartbeat within 5 s"
            await asyncio.sleep(0.05)
        reaper = threading.Thread(target=reap_like_the_worker)
        reaper.start()
        time.sleep(presence.DEAD_AFTER_SECONDS * 2)  # the stall itself: nothing runs on this loop meanwhile
        stop.set()
        reaper.join()
        return presence.connected_many([attempt.pk])[attempt.pk], local._keep_alive.refreshed

    connected, refreshed = asyncio.run(scenario())
    print(f"\n{len(reaped)} reaps during a {presence.DEAD_AFTER_SECONDS * 2:.0f} s stall; {refreshed} beats kept")
    assert not any(reaped) and connected
    assert refreshed >= presence.DEAD_AFTER_SECONDS * 2 / presence.HEARTBEAT_SECONDS - 2
