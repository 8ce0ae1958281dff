"""python manage.py load_demo: a published demo exam and two accounts, then how to sign in. Safe to repeat."""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from attempts.models import Exam
from attempts.question_import import import_questions, parse_questions, read_text

DEMO_CSV = Path(__file__).resolve().parents[2] / "demo" / "python_fundamentals.csv"
DEMO_TITLE = "Python Fundamentals"
DEMO_DURATION_MINUTES = 30
# Stable, printed, and reset on every run: demo accounts, never production ones.
STUDENT = ("student", "student-pass-2026")
PROCTOR = ("proctor", "proctor-pass-2026")
# The proctor authors exams in the admin: every right on the exam domain but users and deletion of attempts.
PROCTOR_PERMISSIONS = [
    "add_exam", "change_exam", "view_exam",
    "add_question", "change_question", "delete_question", "view_question",
    "view_attempt", "view_answer", "view_attemptevent",
    "add_accommodation", "change_accommodation", "delete_accommodation", "view_accommodation",
    "add_announcement", "delete_announcement", "view_announcement",
]  # fmt: skip
# The demo's time rules: warnings at 5 and 1 minutes left; no window and no attempt limit, so that
# `make run` always gives an exam the student can start (again and again).
DEMO_WARNING_MINUTES = [5, 1]


class Command(BaseCommand):
    help = "Load the demo exam and the demo student and proctor accounts (idempotent), and print how to sign in."

    def handle(self, *args, **options):
        with transaction.atomic():
            exam, imported = self._exam()
            self._user(*STUDENT, is_staff=False)
            proctor = self._user(*PROCTOR, is_staff=True)
            proctor.user_permissions.set(
                Permission.objects.filter(content_type__app_label="attempts", codename__in=PROCTOR_PERMISSIONS)
            )
        what = f"imported {imported} questions" if imported else "already there"
        self.stdout.write(self.style.SUCCESS(f"Demo exam {exam.pk} {exam.title!r}: {what}."))
        self.stdout.write(self._how_to_sign_in(exam))

    def _exam(self) -> tuple[Exam, int]:
        exam = Exam.objects.select_for_update().filter(title=DEMO_TITLE).order_by("pk").first()
        if exam is None:
            exam = Exam.objects.create(
                title=DEMO_TITLE,
                duration_minutes=DEMO_DURATION_MINUTES,
                is_published=True,
                warning_minutes=DEMO_WARNING_MINUTES,
            )
        else:
            self._keep_startable(exam)
        if exam.questions.exists():
            return exam, 0  # questions an author may have edited since: left as they are
        questions = parse_questions(read_text(DEMO_CSV))
        import_questions(exam=exam, questions=questions)
        return exam, len(questions)

    def _keep_startable(self, exam: Exam) -> None:
        """Publish the demo exam again, and drop a window that leaves now out; other edits stay."""
        now = timezone.now()
        changed = []
        if not exam.is_published:
            exam.is_published = True
            changed.append("is_published")
        if exam.opens_at is not None and exam.opens_at > now:
            exam.opens_at = None
            changed.append("opens_at")
        if exam.closes_at is not None and exam.closes_at <= now:
            exam.closes_at = None
            changed.append("closes_at")
        if changed:
            exam.save(update_fields=changed)

    def _user(self, username: str, password: str, *, is_staff: bool):
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = is_staff
        user.is_active = True
        user.set_password(password)
        user.save()
        return user

    def _how_to_sign_in(self, exam: Exam) -> str:
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        student, student_password = STUDENT
        proctor, proctor_password = PROCTOR
        return "\n".join(
            [
                "",
                "Sign in:",
                f"  student  {student} / {student_password}",
                f"  proctor  {proctor} / {proctor_password} (staff: dashboard and {base}/admin/)",
                "",
                f"  Sign-in page:       {base}/login/",
                f"  Take the exam:      {base}/exam/{exam.pk}/",
                f"  Proctor dashboard:  {base}/proctor/exams/{exam.pk}/",
                f"  API docs:           {base}/api/docs/",
                "",
                "  A token for the API:",
                f"  curl -s -X POST {base}/api/token/ -H 'Content-Type: application/json' "
                f'-d \'{{"username": "{student}", "password": "{student_password}"}}\'',
                "",
            ]
        )
