"""The authoring admin: exams with their questions inline; attempts and answers to look at, not to edit."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from attempts.models import Attempt, Exam
from tests.factories import api_client, make_exam

pytestmark = pytest.mark.django_db


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
        "questions-TOTAL_FORMS": "2",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
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
