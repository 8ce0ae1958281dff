"""The authoring admin: exams with their questions inline; attempts and answers to look at, not to edit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from attempts.models import Accommodation, Announcement, Attempt, AttemptEvent, Exam
from tests.factories import api_client, make_exam, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def management_form(prefix: str, *, total: int = 0, initial: int = 0) -> dict:
    """The hidden fields of an inline formset, as the admin page sends them."""
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


@pytest.fixture
def admin_client():
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-2026")
    client = Client()
    client.force_login(user)
    return client


def test_exam_list_shows_marks_and_question_count(admin_client):
    make_exam(questions=3, marks=2, title="Listed exam")

    response = admin_client.get("/admin/attempts/exam/")

    assert response.status_code == 200
    page = response.content.decode()
    for column in ("Title", "Duration minutes", "Is published", "Total marks", "Questions", "Listed exam"):
        assert column in page
    result_row = page[page.index("Listed exam") :]
    assert '<td class="field-total_marks_display">6</td>' in result_row
    assert '<td class="field-question_count">3</td>' in result_row


def test_add_an_exam_with_its_questions_inline(admin_client):
    form = {
        "title": "Made in the admin",
        "duration_minutes": "20",
        "is_published": "on",
        "warning_minutes": "[5, 1]",
        **management_form("questions", total=2),
        **management_form("accommodations"),
    }
    for index, correct in enumerate("CA"):
        form.update(
            {
                f"questions-{index}-text": f"Question {index}?",
                f"questions-{index}-option_a": "a",
                f"questions-{index}-option_b": "b",
                f"questions-{index}-option_c": "c",
                f"questions-{index}-option_d": "d",
                f"questions-{index}-correct_option": correct,
                f"questions-{index}-marks": "2",
            }
        )

    response = admin_client.post("/admin/attempts/exam/add/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    exam = Exam.objects.get(title="Made in the admin")
    assert list(exam.questions.order_by("id").values_list("correct_option", "marks")) == [("C", 2), ("A", 2)]
    assert exam.total_marks == 4


def test_attempts_filter_by_status_and_exam_and_are_read_only(admin_client, exam, student):
    attempt_id = api_client(student).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]

    listing = admin_client.get(f"/admin/attempts/attempt/?status__exact=ongoing&exam__id__exact={exam.pk}")
    page = admin_client.get(f"/admin/attempts/attempt/{attempt_id}/change/")

    assert listing.status_code == 200 and f"/admin/attempts/attempt/{attempt_id}/change/" in listing.content.decode()
    assert page.status_code == 200
    assert 'name="deadline_at"' not in page.content.decode()  # shown, not editable
    assert admin_client.get("/admin/attempts/attempt/add/").status_code == 403
    before = Attempt.objects.values().get(pk=attempt_id)
    admin_client.post(f"/admin/attempts/attempt/{attempt_id}/change/", {"status": "completed"})
    assert Attempt.objects.values().get(pk=attempt_id) == before


def test_answers_list(admin_client, exam, student):
    client = api_client(student)
    attempt_id = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    question = exam.questions.first()
    client.post(
        "/api/exam/timer/submit-answer/",
        {"attempt_id": attempt_id, "question_id": question.pk, "selected_option": "A"},
        format="json",
    )

    response = admin_client.get("/admin/attempts/answer/")

    assert response.status_code == 200
    assert "icon-yes.svg" in response.content.decode()  # question 1's correct option is A


def test_the_demo_proctor_can_author_exams():
    call_command("load_demo", stdout=StringIO())
    client = Client()
    assert client.login(username="proctor", password="proctor-pass-2026")

    assert client.get("/admin/attempts/exam/").status_code == 200
    assert client.get("/admin/attempts/exam/add/").status_code == 200
    assert client.get("/admin/attempts/attempt/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403


# --- Time rules, proctors, accommodations, the audit trail, announcements ---


def exam_form(exam: Exam | None = None, **fields) -> dict:
    """The exam change form as the admin page posts it, without questions or accommodations."""
    form = {
        "title": exam.title if exam else "Timed in the admin",
        "duration_minutes": str(exam.duration_minutes if exam else 60),
        "is_published": "on",
        "warning_minutes": "[5, 1]",
        **management_form("questions", initial=exam.questions.count() if exam else 0),
        **management_form("accommodations", initial=exam.accommodations.count() if exam else 0),
    }
    if exam:
        for index, question in enumerate(exam.questions.order_by("id")):
            form.update(
                {
                    f"questions-{index}-id": str(question.pk),
                    f"questions-{index}-exam": str(exam.pk),
                    f"questions-{index}-text": question.text,
                    f"questions-{index}-option_a": question.option_a,
                    f"questions-{index}-option_b": question.option_b,
                    f"questions-{index}-option_c": question.option_c,
                    f"questions-{index}-option_d": question.option_d,
                    f"questions-{index}-correct_option": question.correct_option,
                    f"questions-{index}-marks": str(question.marks),
                }
            )
        form["questions-TOTAL_FORMS"] = str(exam.questions.count())
    form.update(fields)
    return form


def test_add_an_exam_with_its_time_rules_and_proctors(admin_client):
    proctor = make_user(is_staff=True)
    form = exam_form(
        opens_at_0="2026-12-01",
        opens_at_1="09:00:00",
        closes_at_0="2026-12-01",
        closes_at_1="11:00:00",
        max_attempts="2",
        warning_minutes="[10, 5, 1]",
        proctors=[str(proctor.pk)],
    )

    response = admin_client.post("/admin/attempts/exam/add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    exam = Exam.objects.get(title="Timed in the admin")
    assert (exam.opens_at, exam.closes_at) == (
        datetime(2026, 12, 1, 9, tzinfo=UTC),
        datetime(2026, 12, 1, 11, tzinfo=UTC),
    )
    assert (exam.max_attempts, exam.warning_minutes, list(exam.proctors.all())) == (2, [10, 5, 1], [proctor])


def test_exam_page_shows_the_rules_and_offers_only_staff_as_proctors(admin_client, exam):
    staff, student = make_user("staff-pick", is_staff=True), make_user("student-pick")

    page = admin_client.get(f"/admin/attempts/exam/{exam.pk}/change/").content.decode()

    for name in ("opens_at_0", "closes_at_0", "max_attempts", "warning_minutes", "proctors", "accommodations-TOTAL"):
        assert f'name="{name}' in page, name
    assert "SelectFilter" in page  # filter_horizontal
    proctors = page[page.index('name="proctors"') : page.index("</select>", page.index('name="proctors"'))]
    assert staff.username in proctors and student.username not in proctors


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"opens_at_0": "2026-12-01", "opens_at_1": "11:00", "closes_at_0": "2026-12-01", "closes_at_1": "09:00"},
         "Must be after opens_at."),
        ({"warning_minutes": "[0]"}, "A list of whole minutes from 1 to 1440"),
        ({"warning_minutes": '"five"'}, "A list of whole minutes from 1 to 1440"),
        ({"max_attempts": "0"}, "Ensure this value is greater than or equal to 1."),
    ],
)  # fmt: skip
def test_bad_time_rules_are_a_form_error(admin_client, fields, problem):
    response = admin_client.post("/admin/attempts/exam/add/", exam_form(**fields))

    assert response.status_code == 200
    assert problem in response.content.decode()
    assert not Exam.objects.filter(title="Timed in the admin").exists()


def test_an_emptied_warning_field_means_no_warnings(admin_client):
    admin_client.post("/admin/attempts/exam/add/", exam_form(warning_minutes=""))

    assert Exam.objects.get(title="Timed in the admin").warning_minutes == []


def test_accommodation_inline_on_the_exam(admin_client, exam, student):
    form = exam_form(
        exam,
        **{
            "accommodations-TOTAL_FORMS": "1",
            "accommodations-0-user": str(student.pk),
            "accommodations-0-extra_minutes": "15",
            "accommodations-0-time_multiplier": "1.50",
            "accommodations-0-extra_attempts": "1",
            "accommodations-0-note": "agreed with student services",
        },
    )

    response = admin_client.post(f"/admin/attempts/exam/{exam.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    row = Accommodation.objects.get()
    assert (row.user, row.exam, row.extra_minutes, row.time_multiplier, row.extra_attempts) == (
        student,
        exam,
        15,
        Decimal("1.50"),
        1,
    )


def user_form(user, rows: list[dict]) -> dict:
    form = {
        "username": user.username,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        **management_form("accommodations", total=len(rows)),
    }
    for index, row in enumerate(rows):
        form.update({f"accommodations-{index}-{key}": value for key, value in row.items()})
    return form


def test_accommodation_inline_on_the_user(admin_client, exam, student):
    rows = [
        {"exam": "", "extra_minutes": "0", "time_multiplier": "1.25", "extra_attempts": "0"},
        {"exam": str(exam.pk), "extra_minutes": "10", "time_multiplier": "1.00", "extra_attempts": "0"},
    ]

    response = admin_client.post(f"/admin/auth/user/{student.pk}/change/", user_form(student, rows))

    assert response.status_code == 302, response.content.decode()[:3000]
    assert sorted(student.accommodations.values_list("exam_id", "extra_minutes", "time_multiplier"), key=str) == sorted(
        [(None, 0, Decimal("1.25")), (exam.pk, 10, Decimal("1.00"))], key=str
    )
    assert "accommodations-TOTAL_FORMS" in admin_client.get(f"/admin/auth/user/{student.pk}/change/").content.decode()


def test_two_all_exams_rows_for_one_student_are_a_form_error_not_a_500(admin_client, student):
    row = {"exam": "", "extra_minutes": "5", "time_multiplier": "1.00", "extra_attempts": "0"}

    twice = admin_client.post(f"/admin/auth/user/{student.pk}/change/", user_form(student, [row, row]))
    Accommodation.objects.create(user=student, extra_minutes=1)
    again = admin_client.post(
        "/admin/attempts/accommodation/add/",
        {"user": str(student.pk), "exam": "", "extra_minutes": "5", "time_multiplier": "1.00", "extra_attempts": "0"},
    )

    assert twice.status_code == 200 and "Two accommodations for all exams" in twice.content.decode()
    assert again.status_code == 200
    assert "already has an accommodation for all exams" in again.content.decode()
    assert list(Accommodation.objects.values_list("extra_minutes", flat=True)) == [1]


def test_accommodation_list_says_all_exams(admin_client, exam, student):
    Accommodation.objects.create(user=student, time_multiplier=Decimal("1.50"))
    Accommodation.objects.create(user=student, exam=exam, extra_minutes=5)

    page = admin_client.get("/admin/attempts/accommodation/").content.decode()

    assert "all exams" in page and exam.title in page and "1.50" in page


def test_audit_trail_is_read_only_and_inline_on_the_attempt(admin_client, exam, student):
    attempt_id = api_client(student).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    event = AttemptEvent.objects.get(attempt_id=attempt_id)

    listing = admin_client.get("/admin/attempts/attemptevent/")
    change = admin_client.get(f"/admin/attempts/attemptevent/{event.pk}/change/")
    attempt_page = admin_client.get(f"/admin/attempts/attempt/{attempt_id}/change/").content.decode()

    assert listing.status_code == 200 and "started" in listing.content.decode()
    assert "delete_selected" not in listing.content.decode()
    assert change.status_code == 200 and 'name="kind"' not in change.content.decode()
    assert admin_client.get("/admin/attempts/attemptevent/add/").status_code == 403
    assert admin_client.get(f"/admin/attempts/attemptevent/{event.pk}/delete/").status_code == 403
    admin_client.post(f"/admin/attempts/attemptevent/{event.pk}/change/", {"kind": "ended"})
    assert AttemptEvent.objects.get(pk=event.pk).kind == "started"
    assert "events-TOTAL_FORMS" in attempt_page and "Time limit seconds" in attempt_page


def test_deleting_an_attempt_takes_its_trail_with_it(admin_client, exam, student):
    attempt_id = api_client(student).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]

    response = admin_client.post(f"/admin/attempts/attempt/{attempt_id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Attempt.objects.filter(pk=attempt_id).exists()
    assert not AttemptEvent.objects.filter(attempt_id=attempt_id).exists()


def test_an_announcement_added_in_the_admin_reaches_the_students(admin_client, exam, student):
    client = api_client(student)
    attempt_id = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]

    response = admin_client.post("/admin/attempts/announcement/add/", {"exam": str(exam.pk), "message": "Pens down"})

    assert response.status_code == 302, response.content.decode()[:3000]
    announcement = Announcement.objects.get()
    assert (announcement.message, announcement.author.username) == ("Pens down", "admin")
    listed = client.get(f"/api/exam/timer/questions/{attempt_id}/").json()["announcements"]
    assert [row["message"] for row in listed] == ["Pens down"]
    admin_client.post(f"/admin/attempts/announcement/{announcement.pk}/change/", {"exam": exam.pk, "message": "Edited"})
    assert Announcement.objects.get().message == "Pens down"  # sent as it was: never edited


def test_the_demo_proctor_sees_accommodations_trail_and_announcements():
    call_command("load_demo", stdout=StringIO())
    client = Client()
    assert client.login(username="proctor", password="proctor-pass-2026")

    for page in ("accommodation", "attemptevent", "announcement"):
        assert client.get(f"/admin/attempts/{page}/").status_code == 200, page
    assert client.get("/admin/attempts/accommodation/add/").status_code == 200
