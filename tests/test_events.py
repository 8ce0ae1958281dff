"""Domain events: announced after commit only, to every subscriber, and relayed to sockets before proctors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from attempts import events
from realtime.groups import attempt_group, proctor_group
from realtime.subscriber import messages_for

pytestmark = pytest.mark.django_db(transaction=True)

ENDED = events.AttemptEnded(attempt_id=7, exam_id=3, status="timeout", score=2, percentage=50.0, total_marks=4)
SAVED = events.AnswerSaved(attempt_id=7, exam_id=3, status="ongoing", answered=1, question_id=40, selected_option="C")


@pytest.fixture
def heard():
    batches: list = []
    events.subscribe(batches.append)
    yield batches
    events._subscribers.remove(batches.append)


def test_events_are_announced_once_the_transaction_commits(heard):
    with transaction.atomic():
        events.announce_on_commit([SAVED])
        assert heard == []  # not before the commit
    assert heard == [[SAVED]]


def test_events_of_a_rolled_back_transaction_are_never_announced(heard):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.announce_on_commit([SAVED])
        raise RuntimeError("rolled back")
    assert heard == []


def test_a_failing_subscriber_does_not_keep_the_others_from_hearing(heard):
    def broken(batch):
        raise ValueError("broken subscriber")

    events._subscribers.insert(0, broken)
    try:
        events.announce([ENDED])
    finally:
        events._subscribers.remove(broken)
    assert heard == [[ENDED]]


def test_the_socket_app_subscribed_when_django_started():
    from realtime.subscriber import relay

    assert relay in events._subscribers


def test_flush_waits_for_the_outbox_to_send_what_was_committed(settings):
    """What a stopping worker or daphne calls: it returns once the outbox is empty, or says it is not."""
    from realtime.outbox import outbox

    outbox().put([ENDED])
    assert events.flush(5.0) is True
    assert outbox().pending() == 0


def test_flush_says_when_a_subscriber_could_not_send_in_time():
    events._flushes.append(lambda timeout: False)
    try:
        assert events.flush(0.1) is False
    finally:
        events._flushes.pop()


def test_an_end_reaches_the_attempts_sockets_before_its_proctors():
    messages = messages_for([SAVED, ENDED])

    assert [group for group, _ in messages] == [attempt_group(7)] * 2 + [proctor_group(3)] * 2
    assert [message["frame"]["type"] for _, message in messages[:2]] == ["answer_saved", "timeout"]
    assert [message["frame"]["type"] for _, message in messages[2:]] == ["answer_saved", "attempt_timeout"]


def test_a_saved_answer_tells_every_tab_the_choice_and_the_proctors_the_count_only():
    (tabs, to_tabs), (proctors, to_proctors) = messages_for([SAVED])

    assert (tabs, to_tabs) == (
        attempt_group(7),
        {
            "type": "attempt.answer_saved",
            "frame": {"type": "answer_saved", "attempt_id": 7, "question_id": 40, "selected_option": "C"},
        },
    )
    assert (proctors, to_proctors["frame"]) == (
        proctor_group(3),
        {"type": "answer_saved", "attempt_id": 7, "status": "ongoing", "answered": 1},
    )


PROCTOR = {"id": 11, "username": "proctor"}
DEADLINE = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_a_time_change_tells_the_sockets_this_change_and_the_proctors_the_total():
    changed = events.TimeChanged(
        attempt_id=7,
        exam_id=3,
        deadline_at=DEADLINE,
        change_seconds=60,
        total_change_seconds=90,
        reason="fire alarm",
        by=PROCTOR,
    )
    (socket_group, to_socket), (proctor_group_name, to_proctor) = messages_for([changed])

    assert (socket_group, proctor_group_name) == (attempt_group(7), proctor_group(3))
    assert to_socket["type"] == "attempt.time_changed"
    assert to_socket["deadline_ms"] == 1_893_553_445_678
    frame = to_socket["frame"]
    assert frame == {
        "type": "time_changed",
        "attempt_id": 7,
        "remaining_seconds": frame["remaining_seconds"],
        "deadline_at": "2030-01-02T03:04:05.678Z",
        "change_seconds": 60,
        "reason": "fire alarm",
    }
    assert frame["remaining_seconds"] > 0
    assert to_proctor["frame"] == {
        "type": "attempt_time_changed",
        "attempt_id": 7,
        "status": "ongoing",
        "remaining_seconds": frame["remaining_seconds"],
        "deadline_at": "2030-01-02T03:04:05.678Z",
        "change_seconds": 90,
        "offline_credited_seconds": 0,
        "reason": "fire alarm",
        "by": PROCTOR,
    }


def test_an_announcement_goes_to_each_ongoing_attempt_then_once_to_the_proctors():
    posted = events.AnnouncementPosted(
        exam_id=3, announcement_id=5, message="Q4: B reads 12", created_at=DEADLINE, attempt_ids=(7, 8), by=PROCTOR
    )
    messages = messages_for([posted])

    assert [group for group, _ in messages] == [attempt_group(7), attempt_group(8), proctor_group(3)]
    frame = {
        "type": "announcement",
        "exam_id": 3,
        "id": 5,
        "message": "Q4: B reads 12",
        "created_at": "2030-01-02T03:04:05.678Z",
    }
    assert [message["frame"] for _, message in messages[:2]] == [frame, frame]
    assert messages[2][1]["frame"] == {**frame, "by": PROCTOR}


def test_a_proctors_end_has_its_own_message_and_names_the_proctor():
    ended = events.AttemptEnded(
        attempt_id=7, exam_id=3, status="completed", score=2, percentage=50.0, total_marks=4, by=PROCTOR
    )
    submitted = events.AttemptEnded(
        attempt_id=8, exam_id=3, status="completed", score=1, percentage=25.0, total_marks=4
    )
    messages = messages_for([ended, submitted])

    assert [message["frame"]["message"] for _, message in messages[:2]] == [
        "Exam ended by the proctor",
        "Exam already submitted",
    ]
    assert [message["frame"]["by"] for _, message in messages[2:]] == [PROCTOR, None]
    assert messages_for([ENDED])[1][1]["frame"]["by"] is None  # a timeout: the clock


def test_a_reopened_attempt_is_a_proctor_row():
    row = {"attempt_id": 7, "status": "ongoing", "remaining_seconds": 600}
    reopened = events.AttemptReopened(attempt_id=7, exam_id=3, row=row, by=PROCTOR)

    assert messages_for([reopened]) == [
        (proctor_group(3), {"type": "proctor.event", "frame": {"type": "attempt_reopened", **row, "by": PROCTOR}})
    ]
