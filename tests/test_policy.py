"""The time rules as formulas (attempts.policy) and the accommodation a student gets (selectors.allowance_for)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from attempts import errors, policy
from attempts.models import Accommodation
from attempts.selectors import allowance_for
from tests.factories import make_exam, make_user

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def allowance(minutes: int = 0, multiplier: str = "1.00", attempts: int = 0) -> policy.Allowance:
    return policy.Allowance(extra_minutes=minutes, time_multiplier=Decimal(multiplier), extra_attempts=attempts)


@pytest.mark.parametrize(
    ("duration", "extra", "expected"),
    [
        (60, allowance(), 3600),
        (60, allowance(multiplier="1.50"), 5400),  # time and a half
        (60, allowance(multiplier="4.00"), 14400),  # the largest multiplier
        (60, allowance(minutes=10), 4200),
        (60, allowance(minutes=10, multiplier="1.50"), 6000),  # the multiplier never scales the extra minutes
        (7, allowance(multiplier="1.33"), 559),  # 420 x 1.33 = 558.6, rounded
        (7, allowance(multiplier="1.01"), 424),  # 424.2, rounded down
        (1, allowance(multiplier="1.25"), 75),
        (30, allowance(minutes=1440), 1800 + 86400),
    ],
)
def test_time_limit(duration, extra, expected):
    assert policy.time_limit_seconds(duration_minutes=duration, allowance=extra) == expected


def test_time_limit_without_an_allowance_is_the_duration():
    assert policy.time_limit_seconds(duration_minutes=45) == 2700


@pytest.mark.parametrize(
    ("closes_in", "expected_seconds"),
    [(None, 3600), (timedelta(hours=2), 3600), (timedelta(minutes=10), 600), (timedelta(hours=1), 3600)],
)
def test_deadline_is_capped_at_closes_at(closes_in, expected_seconds):
    closes_at = None if closes_in is None else NOON + closes_in

    deadline = policy.deadline(started_at=NOON, limit_seconds=3600, closes_at=closes_at)

    assert deadline == NOON + timedelta(seconds=expected_seconds)


def check(now, *, opens_at=None, closes_at=None, max_attempts=None, started=0, extra=policy.NO_ALLOWANCE):
    policy.check_can_start(
        now=now,
        opens_at=opens_at,
        closes_at=closes_at,
        max_attempts=max_attempts,
        attempts_started=started,
        allowance=extra,
    )


def test_before_opens_at_is_not_open_yet_with_the_moment():
    with pytest.raises(errors.NotOpenYet) as raised:
        check(NOON - timedelta(microseconds=1), opens_at=NOON)

    assert raised.value.extra() == {"opens_at": "2026-12-01T12:00:00Z"}
    assert (raised.value.status_code, raised.value.code) == (400, "not_open_yet")


def test_opens_at_itself_is_open():
    check(NOON, opens_at=NOON)


def test_just_before_closes_at_is_open_and_closes_at_itself_is_closed():
    check(NOON - timedelta(microseconds=1), closes_at=NOON)
    with pytest.raises(errors.ExamClosed):
        check(NOON, closes_at=NOON)


def test_not_open_yet_comes_before_closed_and_closed_before_no_attempts_left():
    # No valid exam has both at once; the order is the contract's, whatever the data.
    with pytest.raises(errors.NotOpenYet):
        check(NOON, opens_at=NOON + timedelta(hours=1), closes_at=NOON, max_attempts=1, started=1)
    with pytest.raises(errors.ExamClosed):
        check(NOON, closes_at=NOON, max_attempts=1, started=1)


@pytest.mark.parametrize(
    ("max_attempts", "started", "extra_attempts", "refused_with"),
    [
        (None, 50, 0, None),  # unlimited
        (1, 0, 0, None),
        (1, 1, 0, 1),
        (2, 1, 0, None),
        (2, 2, 0, 2),
        (2, 2, 1, None),  # an extra attempt
        (2, 3, 1, 3),  # refused, naming this student's limit
    ],
)
def test_attempts_left(max_attempts, started, extra_attempts, refused_with):
    extra = allowance(attempts=extra_attempts)
    if refused_with is None:
        check(NOON, max_attempts=max_attempts, started=started, extra=extra)
        return
    with pytest.raises(errors.NoAttemptsLeft) as raised:
        check(NOON, max_attempts=max_attempts, started=started, extra=extra)
    assert raised.value.extra() == {"max_attempts": refused_with}


@pytest.mark.django_db
class TestAllowanceFor:
    def test_none_without_a_row(self):
        exam, student = make_exam(), make_user()

        assert allowance_for(user_id=student.pk, exam_id=exam.pk) == policy.NO_ALLOWANCE

    def test_the_all_exams_row_applies_to_every_exam(self):
        exam, other_exam, student = make_exam(), make_exam(), make_user()
        Accommodation.objects.create(user=student, extra_minutes=5, time_multiplier=Decimal("1.25"))

        for target in (exam, other_exam):
            assert allowance_for(user_id=student.pk, exam_id=target.pk) == allowance(minutes=5, multiplier="1.25")

    def test_the_exam_row_beats_the_all_exams_row(self):
        exam, other_exam, student = make_exam(), make_exam(), make_user()
        Accommodation.objects.create(user=student, time_multiplier=Decimal("2.00"), extra_attempts=3)
        Accommodation.objects.create(user=student, exam=exam, time_multiplier=Decimal("1.50"))

        assert allowance_for(user_id=student.pk, exam_id=exam.pk) == allowance(multiplier="1.50")
        assert allowance_for(user_id=student.pk, exam_id=other_exam.pk) == allowance(multiplier="2.00", attempts=3)

    def test_another_exams_row_and_another_students_row_do_not_apply(self):
        exam, other_exam, student, other = make_exam(), make_exam(), make_user(), make_user()
        Accommodation.objects.create(user=student, exam=other_exam, extra_minutes=30)
        Accommodation.objects.create(user=other, extra_minutes=30)

        assert allowance_for(user_id=student.pk, exam_id=exam.pk) == policy.NO_ALLOWANCE
