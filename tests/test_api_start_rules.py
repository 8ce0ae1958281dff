"""Start through the REST API under the exam's time rules: window, attempt limit, accommodations, the cap.

The window's edges are crossed in real time: the exam opens (or closes) a moment ahead, and the
test starts over and over until the answer changes, judging each answer by when it was sent and
received, never by a mocked clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from attempts import timer
from attempts.models import Accommodation, Attempt
from tests.factories import api_client, make_exam
from tests.helpers import put_accommodation, start, status_and_body, submit, wait_until

pytestmark = pytest.mark.django_db

CLOSED = {"error": "This exam is closed.", "code": "closed"}


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_before_opens_at_400_not_open_yet_with_the_moment(student):
    exam = make_exam()
    exam.opens_at = timezone.now() + timedelta(hours=1)
    exam.save()

    status, body = status_and_body(start(api_client(student), exam.pk))

    assert status == 400
    assert body == {"error": "This exam is not open yet.", "code": "not_open_yet", "opens_at": iso_z(exam.opens_at)}
    assert body["opens_at"].endswith("Z")
    assert not Attempt.objects.exists()


def test_after_closes_at_400_closed(student):
    exam = make_exam()
    exam.closes_at = timezone.now() - timedelta(seconds=1)
    exam.save()

    assert status_and_body(start(api_client(student), exam.pk)) == (400, CLOSED)
    assert not Attempt.objects.exists()


def test_no_attempts_left_names_the_limit(student):
    exam = make_exam()
    exam.max_attempts = 2
    exam.save()
    client = api_client(student)
    for _ in range(2):
        attempt_id = start(client, exam.pk).json()["attempt_id"]
        submit(client, attempt_id)

    status, body = status_and_body(start(client, exam.pk))

    assert status == 400
    assert body == {"error": "You have no attempts left for this exam.", "code": "no_attempts_left", "max_attempts": 2}
    assert Attempt.objects.filter(user=student).count() == 2


def test_extra_attempts_raise_the_limit_and_the_refusal_says_so(student):
    exam = make_exam()
    exam.max_attempts = 1
    exam.save()
    Accommodation.objects.create(user=student, exam=exam, extra_attempts=1)
    client = api_client(student)
    for _ in range(2):
        response = start(client, exam.pk)
        assert response.status_code == 201, response.content
        submit(client, response.json()["attempt_id"])

    status, body = status_and_body(start(client, exam.pk))

    assert (status, body["code"], body["max_attempts"]) == (400, "no_attempts_left", 2)


def test_a_timed_out_attempt_counts_against_the_limit(student):
    exam = make_exam()
    exam.max_attempts = 1
    exam.save()
    client = api_client(student)
    attempt = Attempt.objects.get(pk=start(client, exam.pk).json()["attempt_id"])
    Attempt.objects.filter(pk=attempt.pk).update(status="timeout", ongoing_guard=None, ended_at=timezone.now())

    assert start(client, exam.pk).json()["code"] == "no_attempts_left"


def test_resuming_is_never_refused_by_the_rules(student):
    exam = make_exam()
    exam.max_attempts = 1
    exam.save()
    client = api_client(student)
    first = start(client, exam.pk).json()
    # The window closes and the limit is used up while the attempt runs (its deadline was set at its start).
    exam.closes_at = timezone.now() - timedelta(seconds=1)
    exam.opens_at = timezone.now() - timedelta(hours=1)
    exam.save()

    status, body = status_and_body(start(client, exam.pk))

    assert (status, body["attempt_id"], body["message"]) == (200, first["attempt_id"], "Resuming existing exam attempt")


@pytest.mark.parametrize(
    ("rows", "expected_limit"),
    [
        ([], 3600),
        ([{"exam": True, "time_multiplier": "1.50"}], 5400),
        ([{"exam": True, "extra_minutes": 15}], 4500),
        ([{"exam": True, "time_multiplier": "1.25", "extra_minutes": 5}], 4800),
        ([{"exam": False, "time_multiplier": "2.00"}], 7200),  # the all-exams row
        ([{"exam": False, "time_multiplier": "2.00"}, {"exam": True, "time_multiplier": "1.50"}], 5400),
    ],
    ids=["none", "multiplier", "extra-minutes", "both", "all-exams", "per-exam-wins"],
)
def test_accommodations_set_the_limit_and_the_deadline(student, rows, expected_limit):
    exam = make_exam(duration_minutes=60)
    for row in rows:
        fields = {key: Decimal(value) if key == "time_multiplier" else value for key, value in row.items()}
        Accommodation.objects.create(user=student, **{**fields, "exam": exam if row["exam"] else None})
    other = make_exam(duration_minutes=60)  # the per-exam row of `exam` does not reach it

    body = start(api_client(student), exam.pk).json()

    attempt = Attempt.objects.get(pk=body["attempt_id"])
    assert (body["time_limit_seconds"], body["remaining_seconds"], body["duration_minutes"]) == (
        expected_limit,
        expected_limit,
        60,
    )
    assert attempt.deadline_at - attempt.started_at == timedelta(seconds=expected_limit)
    assert body["deadline_at"] == iso_z(attempt.deadline_at)
    assert expected_limit - 1 <= timer.remaining(attempt.pk) <= expected_limit
    all_exams = [row for row in rows if not row["exam"]]
    other_limit = start(api_client(student), other.pk).json()["time_limit_seconds"]
    assert other_limit == (7200 if all_exams else 3600)


def test_accommodation_set_through_the_staff_api_applies_to_the_next_start(student, proctor):
    exam = make_exam(duration_minutes=20)
    response = put_accommodation(api_client(proctor), student.pk, exam.pk, time_multiplier="1.50", extra_minutes=2)
    assert response.status_code == 200, response.content

    assert start(api_client(student), exam.pk).json()["time_limit_seconds"] == 20 * 60 * 3 // 2 + 120


def test_the_deadline_is_capped_at_closes_at(student):
    exam = make_exam(duration_minutes=60)
    exam.closes_at = timezone.now() + timedelta(minutes=10)
    exam.save()
    Accommodation.objects.create(user=student, time_multiplier=Decimal("2.00"))  # capped all the same

    body = start(api_client(student), exam.pk).json()

    attempt = Attempt.objects.get(pk=body["attempt_id"])
    assert attempt.deadline_at == exam.closes_at
    assert body["deadline_at"] == iso_z(exam.closes_at)
    assert 598 <= body["time_limit_seconds"] <= 600 and body["time_limit_seconds"] == attempt.time_limit_seconds
    assert 598 <= body["remaining_seconds"] <= 600


class Sent:
    """Each answer of a run of starts with the wall-clock moments its request was sent and answered."""

    def __init__(self):
        self.answers: list[tuple[float, float, int, dict]] = []

    def start(self, exam_id: int) -> tuple[int, dict]:
        # A new student each time (no password: hashing one takes longer than the window's edge).
        client = api_client(get_user_model().objects.create(username=f"edge-{len(self.answers)}"))
        before = time.time()
        status, body = status_and_body(start(client, exam_id))
        self.answers.append((before, time.time(), status, body))
        return status, body


def test_starts_just_before_and_just_after_opens_at():
    exam = make_exam()
    exam.opens_at = timezone.now() + timedelta(seconds=1.5)
    exam.save()
    opens = exam.opens_at.timestamp()
    sent = Sent()

    wait_until(lambda: sent.start(exam.pk)[0] == 201, timeout=15, interval=0.02, what="the exam to open")

    *refused, (_sent_at, answered_at, _status, body) = sent.answers
    assert refused, "no start was made before opens_at"
    for sent_at, _answered_at, status, refusal in refused:
        assert (status, refusal["code"]) == (400, "not_open_yet")
        assert sent_at < opens  # judged by the server between these two moments: before it opened
    assert Attempt.objects.get(pk=body["attempt_id"]).started_at >= exam.opens_at
    assert answered_at >= opens
    assert any(opens - sent_at < 0.5 for sent_at, *_ in refused), "no refusal came close to opens_at"


def test_starts_just_before_and_just_after_closes_at():
    exam = make_exam(duration_minutes=60)
    exam.closes_at = timezone.now() + timedelta(seconds=1.5)
    exam.save()
    closes = exam.closes_at.timestamp()
    sent = Sent()

    wait_until(lambda: sent.start(exam.pk)[0] == 400, timeout=15, interval=0.02, what="the exam to close")

    *started, (_before, answered_at, _status, refusal) = sent.answers
    assert refusal == CLOSED and answered_at >= closes
    assert started, "no start was made before closes_at"
    for sent_at, _answered_at, status, body in started:
        assert status == 201 and sent_at < closes
        attempt = Attempt.objects.get(pk=body["attempt_id"])
        # Started before closing, and its time ends at closing, not an hour later.
        assert attempt.started_at < exam.closes_at and attempt.deadline_at == exam.closes_at
    assert any(closes - sent_at < 0.5 for sent_at, *_ in started), "no start came close to closes_at"
