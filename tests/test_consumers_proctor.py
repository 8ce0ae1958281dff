"""ProctorConsumer: the exam's proctors only, a snapshot on connect, then every event as it happens."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from attempts import services
from attempts.models import Attempt
from attempts.services import control
from tests.factories import access_token_for, api_client, make_exam, make_user, start_attempt
from tests.helpers import UNKNOWN_ID, set_deadline
from tests.wsclient import (
    async_test,
    first_output,
    frame_of_type,
    next_frame,
    next_output,
    open_socket,
    proctor_path,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _ended_long_ago(exam, user) -> Attempt:
    attempt = start_attempt(user, exam)
    services.attempt_submit(user=user, attempt_id=attempt.pk)
    Attempt.objects.filter(pk=attempt.pk).update(ended_at=timezone.now() - timedelta(hours=2))
    return attempt


@async_test
async def test_snapshot_lists_ongoing_and_recently_ended_attempts_only(exam, student, other_student, proctor):
    ongoing = await database_sync_to_async(start_attempt)(student, exam)
    question = await database_sync_to_async(lambda: exam.questions.order_by("id").first())()
    await database_sync_to_async(services.answer_save)(
        user=student, attempt_id=ongoing.pk, question_id=question.pk, selected_option="A"
    )
    recent = await database_sync_to_async(start_attempt)(other_student, exam)
    await database_sync_to_async(services.attempt_submit)(user=other_student, attempt_id=recent.pk)
    old = await database_sync_to_async(_ended_long_ago)(exam, await database_sync_to_async(make_user)())
    other_exam = await database_sync_to_async(make_exam)()
    elsewhere = await database_sync_to_async(start_attempt)(student, other_exam)

    comm = await open_socket(proctor_path(exam.pk), proctor)
    snapshot = await next_frame(comm)
    assert snapshot["type"] == "snapshot"
    assert snapshot["exam_id"] == exam.pk
    rows = {row["attempt_id"]: row for row in snapshot["attempts"]}
    assert set(rows) == {ongoing.pk, recent.pk}
    assert old.pk not in rows and elsewhere.pk not in rows

    row = rows[ongoing.pk]
    assert row["user"] == {"id": student.pk, "username": student.username}
    assert row["status"] == "ongoing"
    assert 3590 <= row["remaining_seconds"] <= 3600
    assert (row["answered"], row["total_questions"]) == (1, 4)
    assert row["started_at"] and row["deadline_at"]
    assert rows[recent.pk]["status"] == "completed"
    assert rows[recent.pk]["remaining_seconds"] == 0
    await comm.disconnect()


def _rest(user, method: str, path: str, data=None):
    response = getattr(api_client(user), method)(path, data, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


@async_test
async def test_the_four_events_reach_the_dashboard_as_they_happen(exam, student, other_student, proctor):
    comm = await open_socket(proctor_path(exam.pk), proctor)
    assert (await next_frame(comm)) == {
        "type": "snapshot",
        "exam_id": exam.pk,
        "exam_title": exam.title,
        "attempts": [],
    }

    started = await database_sync_to_async(_rest)(student, "post", f"/api/exam/timer/start/{exam.pk}/")
    attempt_id = started["attempt_id"]
    frame = await frame_of_type(comm, "attempt_started")
    assert (frame["attempt_id"], frame["status"], frame["answered"]) == (attempt_id, "ongoing", 0)
    assert frame["user"]["username"] == student.username

    question = await database_sync_to_async(lambda: exam.questions.order_by("id").first())()
    await database_sync_to_async(_rest)(
        student,
        "post",
        "/api/exam/timer/submit-answer/",
        {"attempt_id": attempt_id, "question_id": question.pk, "selected_option": question.correct_option},
    )
    frame = await frame_of_type(comm, "answer_saved")
    assert frame == {"type": "answer_saved", "attempt_id": attempt_id, "status": "ongoing", "answered": 1}

    await database_sync_to_async(_rest)(student, "post", f"/api/exam/timer/submit/{attempt_id}/")
    frame = await frame_of_type(comm, "attempt_submitted")
    assert (frame["attempt_id"], frame["status"], frame["score"], frame["percentage"]) == (
        attempt_id,
        "completed",
        1,
        25.0,
    )
    assert frame["by"] is None  # the student submitted

    late = await database_sync_to_async(start_attempt)(other_student, exam)
    await frame_of_type(comm, "attempt_started")
    await database_sync_to_async(set_deadline)(late, -0.01)
    assert await database_sync_to_async(services.attempt_expire)(attempt_id=late.pk)
    frame = await frame_of_type(comm, "attempt_timeout")
    assert (frame["attempt_id"], frame["status"], frame["score"], frame["percentage"]) == (late.pk, "timeout", 0, 0.0)
    assert frame["by"] is None  # the clock
    await comm.disconnect()


@async_test
async def test_a_student_is_refused_with_4403(exam, student):
    assert await first_output(proctor_path(exam.pk), student) == {"close": 4403}


@async_test
async def test_an_unknown_exam_is_refused_with_4404(proctor):
    assert await first_output(proctor_path(UNKNOWN_ID), proctor) == {"close": 4404}


@async_test
async def test_no_token_is_refused_with_4401(exam):
    assert await first_output(proctor_path(exam.pk)) == {"close": 4401}


@async_test
async def test_ping_sync_and_token_expiry_work_on_the_dashboard_too(exam, proctor):
    comm = await open_socket(proctor_path(exam.pk), proctor, token_seconds=2)
    assert (await next_frame(comm))["type"] == "snapshot"
    await comm.send_json_to({"type": "ping"})
    assert (await next_frame(comm)) == {"type": "pong"}
    await comm.send_json_to({"type": "sync"})
    assert (await next_frame(comm))["type"] == "snapshot"
    started = time.monotonic()
    assert (await next_output(comm, timeout=4.0)) == {"close": 4401}
    assert time.monotonic() - started < 3.0
    await comm.disconnect()


def _exam_with_proctors(*proctors):
    exam = make_exam()
    exam.proctors.set(proctors)
    return exam


@async_test
async def test_an_exam_with_proctors_lets_in_only_them_and_superusers(proctor):
    assigned = proctor
    unassigned = await database_sync_to_async(make_user)(is_staff=True)
    superuser = await database_sync_to_async(get_user_model().objects.create_superuser)("root-proctor", "", "pw-2026")
    student = await database_sync_to_async(make_user)()
    exam = await database_sync_to_async(_exam_with_proctors)(assigned)
    open_exam = await database_sync_to_async(make_exam)()  # no proctors: every staff user

    outcomes = {
        (who, which): await first_output(proctor_path(target.pk), user)
        for who, user in [
            ("assigned", assigned),
            ("unassigned", unassigned),
            ("superuser", superuser),
            ("student", student),
        ]
        for which, target in [("with proctors", exam), ("without", open_exam)]
    }

    snapshot = {(who, which): output.get("frame", {}).get("type", output) for (who, which), output in outcomes.items()}
    assert snapshot == {
        ("assigned", "with proctors"): "snapshot",
        ("assigned", "without"): "snapshot",
        ("unassigned", "with proctors"): {"close": 4403},
        ("unassigned", "without"): "snapshot",
        ("superuser", "with proctors"): "snapshot",
        ("superuser", "without"): "snapshot",
        ("student", "with proctors"): {"close": 4403},
        ("student", "without"): {"close": 4403},
    }


@async_test
async def test_a_proctor_taken_off_the_exam_is_cut_off_at_the_next_renewal(proctor):
    exam = await database_sync_to_async(_exam_with_proctors)(proctor)
    comm = await open_socket(proctor_path(exam.pk), proctor)
    assert (await next_frame(comm))["type"] == "snapshot"
    other = await database_sync_to_async(make_user)(is_staff=True)
    await database_sync_to_async(exam.proctors.set)([other])

    token = await database_sync_to_async(access_token_for)(proctor)
    await comm.send_json_to({"type": "auth", "token": token})
    assert (await next_frame(comm))["type"] == "authenticated"
    assert await next_output(comm) == {"close": 4403}
    await comm.disconnect()


@async_test
async def test_time_changes_and_announcements_reach_the_dashboard_with_who_and_the_total(exam, student, proctor):
    attempt = await database_sync_to_async(start_attempt)(student, exam)
    comm = await open_socket(proctor_path(exam.pk), proctor)
    assert (await next_frame(comm))["type"] == "snapshot"
    by = {"id": proctor.pk, "username": proctor.username}

    await database_sync_to_async(control.attempt_extend)(actor=proctor, attempt_id=attempt.pk, seconds=60, reason="a")
    first = await frame_of_type(comm, "attempt_time_changed", timeout=1.0)
    await database_sync_to_async(control.exam_extend)(actor=proctor, exam_id=exam.pk, seconds=30, reason="alarm")
    second = await frame_of_type(comm, "attempt_time_changed", timeout=1.0)
    assert first["change_seconds"] == 60
    assert {key: second[key] for key in ("attempt_id", "status", "change_seconds", "reason", "by")} == {
        "attempt_id": attempt.pk,
        "status": "ongoing",
        "change_seconds": 90,  # the attempt's sum of changes, as its row has it
        "reason": "alarm",
        "by": by,
    }
    assert 3685 <= second["remaining_seconds"] <= 3690
    assert second["deadline_at"].endswith("Z")

    posted = await database_sync_to_async(control.announcement_post)(
        actor=proctor, exam_id=exam.pk, message="Q4: option B should read 12"
    )
    frame = await frame_of_type(comm, "announcement", timeout=1.0)
    assert frame == {
        "type": "announcement",
        "exam_id": exam.pk,
        "id": posted.pk,
        "message": "Q4: option B should read 12",
        "created_at": posted.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "by": by,
    }
    await comm.disconnect()
