"""Domain events: announced after commit only, to every subscriber, and relayed to sockets before proctors."""

from __future__ import annotations

import pytest
from django.db import transaction

from attempts import events
from realtime.groups import attempt_group, proctor_group
from realtime.subscriber import messages_for

pytestmark = pytest.mark.django_db(transaction=True)

ENDED = events.AttemptEnded(attempt_id=7, exam_id=3, status="timeout", score=2, percentage=50.0, total_marks=4)
SAVED = events.AnswerSaved(attempt_id=7, exam_id=3, status="ongoing", answered=1)


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


def test_an_end_reaches_the_attempts_sockets_before_its_proctors():
    messages = messages_for([SAVED, ENDED])

    assert [group for group, _ in messages] == [attempt_group(7), proctor_group(3), proctor_group(3)]
    assert messages[0][1]["frame"]["type"] == "timeout"
    assert [message["frame"]["type"] for _, message in messages[1:]] == ["answer_saved", "attempt_timeout"]
