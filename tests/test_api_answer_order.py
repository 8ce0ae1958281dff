"""submit-answer's `chosen_at`: of two saves of one question (two tabs), the later choice wins, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from attempts.models import Answer, AttemptEvent
from tests.helpers import status_and_body

pytestmark = pytest.mark.django_db

SUPERSEDED = "A newer choice for this question was saved from another tab."


@pytest.fixture
def question(exam):
    return exam.questions.order_by("id").first()


@pytest.fixture(autouse=True)
def started_a_minute_ago(attempt):
    """Room for choices made seconds ago: a `chosen_at` before the start counts as the start."""
    attempt.started_at = timezone.now() - timedelta(minutes=1)
    attempt.save(update_fields=["started_at"])
    return attempt


def iso(moment) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def save(client, attempt, question, option: str, **extra):
    body = {"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": option, **extra}
    return client.post("/api/exam/timer/submit-answer/", body, format="json")


def stored(attempt, question) -> tuple[str, object]:
    answer = Answer.objects.get(attempt=attempt, question=question)
    return answer.selected_option, answer.chosen_at


def test_an_older_choice_arriving_last_is_refused_with_the_stored_one(attempt, question, student, client_for):
    client = client_for(student)
    now = timezone.now()
    older, newer = now - timedelta(seconds=5), now - timedelta(seconds=2)
    assert save(client, attempt, question, "B", chosen_at=iso(newer)).status_code == 200

    response = save(client, attempt, question, "A", chosen_at=iso(older))

    assert status_and_body(response) == (
        409,
        {"error": SUPERSEDED, "code": "answer_superseded", "question_id": question.pk, "selected_option": "B"},
    )
    assert stored(attempt, question) == ("B", newer.replace(microsecond=newer.microsecond // 1000 * 1000))
    refusal = AttemptEvent.objects.filter(attempt=attempt, kind="answer_refused").get()
    assert refusal.data == {
        "question_id": question.pk,
        "selected_option": "A",
        "code": "answer_superseded",
        "chosen_at": older.replace(microsecond=older.microsecond // 1000 * 1000).isoformat(),
        "stored_option": "B",
    }
    assert AttemptEvent.objects.filter(attempt=attempt, kind="answer_saved").count() == 1


def test_a_later_choice_replaces_an_earlier_one_and_the_reply_is_the_design_documents(
    attempt, question, student, client_for
):
    client = client_for(student)
    now = timezone.now()
    first = save(client, attempt, question, "A", chosen_at=iso(now - timedelta(seconds=3)))
    second = save(client, attempt, question, "C", chosen_at=iso(now - timedelta(seconds=1)))

    assert first.json() == {"status": "saved", "question_id": question.pk, "selected_option": "A", "action": "saved"}
    assert second.json() == {"status": "saved", "question_id": question.pk, "selected_option": "C", "action": "updated"}
    assert stored(attempt, question)[0] == "C"


def test_the_same_moment_twice_is_the_last_write(attempt, question, student, client_for):
    client = client_for(student)
    moment = iso(timezone.now() - timedelta(seconds=1))
    save(client, attempt, question, "A", chosen_at=moment)

    assert save(client, attempt, question, "D", chosen_at=moment).status_code == 200
    assert stored(attempt, question)[0] == "D"


@pytest.mark.parametrize("first_has_it", [True, False], ids=["stored-has-chosen_at", "request-has-chosen_at"])
def test_without_chosen_at_on_either_side_the_last_write_wins(attempt, question, student, client_for, first_has_it):
    client = client_for(student)
    late = {"chosen_at": iso(timezone.now())}
    save(client, attempt, question, "A", **(late if first_has_it else {}))

    response = save(client, attempt, question, "B", **({} if first_has_it else {"chosen_at": iso(attempt.started_at)}))

    assert response.status_code == 200
    assert stored(attempt, question)[0] == "B"


def test_null_is_no_chosen_at(attempt, question, student, client_for):
    client = client_for(student)
    save(client, attempt, question, "A", chosen_at=iso(timezone.now()))

    assert save(client, attempt, question, "B", chosen_at=None).status_code == 200
    assert stored(attempt, question) == ("B", None)


def test_a_page_clock_far_ahead_counts_as_the_arrival_and_does_not_lock_the_answer(
    attempt, question, student, client_for
):
    client = client_for(student)
    before = timezone.now()
    save(client, attempt, question, "A", chosen_at="2999-01-01T00:00:00Z")
    after = timezone.now()
    assert before <= stored(attempt, question)[1] <= after  # the request's arrival, not year 2999

    # A choice made after that arrival, by a tab whose clock is right, replaces it.
    assert save(client, attempt, question, "B", chosen_at=iso(timezone.now() + timedelta(milliseconds=5))).status_code
    assert stored(attempt, question)[0] == "B"


def test_a_page_clock_far_behind_counts_as_the_start(attempt, question, student, client_for):
    client = client_for(student)
    save(client, attempt, question, "A", chosen_at="1999-01-01T00:00:00+05:00")

    assert stored(attempt, question) == ("A", attempt.started_at.replace(microsecond=attempt.started_at.microsecond))


def test_an_older_choice_after_the_deadline_is_time_expired_not_superseded(attempt, question, student, client_for):
    from tests.helpers import set_deadline, wait_until

    client = client_for(student)
    save(client, attempt, question, "B", chosen_at=iso(timezone.now()))
    set_deadline(attempt, 0.2)
    wait_until(lambda: timezone.now() >= attempt.deadline_at, timeout=5, what="the deadline")

    response = save(client, attempt, question, "A", chosen_at=iso(attempt.started_at))

    assert response.status_code == 410
    assert response.json()["code"] == "time_expired"


BAD_MOMENTS = [
    "yesterday",
    "",
    "2026-01-01",
    "2026-01-01T10:00:00",  # no offset: a wall-clock reading in an unknown zone
    "2026-01-01 10:00:00Z",
    "2026-13-01T10:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01T10:00:00+25:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-05:00",
    "\uff12\uff10\uff12\uff16-01-01T10:00:00Z",  # full-width digits
    "2026-01-01T10:00:00.1234567890Z",
    1767261600,
    1767261600.5,
    True,
    [],
    {"at": "2026-01-01T10:00:00Z"},
]


@pytest.mark.parametrize("value", BAD_MOMENTS, ids=repr)
def test_a_bad_chosen_at_is_a_400_naming_the_field(attempt, question, student, client_for, value):
    response = save(client_for(student), attempt, question, "A", chosen_at=value)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["error"].startswith("chosen_at: ")
    assert list(body["fields"]) == ["chosen_at"]
    assert not Answer.objects.exists()
