"""Who may watch and control an exam: its proctors; every staff user when it names none; superusers always."""

from __future__ import annotations

from attempts import errors
from attempts.models import Attempt, Exam


def _standing(user) -> str | None:
    """ "superuser", "staff", or None for anyone else (no user, anonymous, inactive, a student)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return "superuser"
    return "staff" if user.is_staff else None


def may_proctor(user, exam: Exam) -> bool:
    """True when `user` may watch and control `exam` (dashboard, socket, staff API)."""
    standing = _standing(user)
    if standing != "staff":
        return standing == "superuser"
    proctors = exam.proctors.values_list("pk", flat=True)
    return not proctors.exists() or proctors.filter(pk=user.pk).exists()


def require_staff(user) -> None:
    """StaffOnly unless `user` is staff or a superuser: the staff API's first check, before it reads any input."""
    if not (user.is_staff or user.is_superuser):
        raise errors.StaffOnly()


def may_proctor_every_exam(user) -> bool:
    """True when `user` may control every exam: what an all-exams accommodation, which changes them all, needs."""
    standing = _standing(user)
    if standing != "staff":
        return standing == "superuser"
    # Exams that name their proctors and not this user: one of them is enough to refuse.
    return not Exam.objects.filter(proctors__isnull=False).exclude(proctors=user).exists()


def exam_for_proctor(*, user, exam_id: int) -> Exam:
    """The exam if `user` may control it; StaffOnly for a student or staff not on it, NotFound for no exam.

    A student is refused before the lookup, so the staff API tells students nothing about which exams exist.
    """
    if not (user.is_staff or user.is_superuser):
        raise errors.StaffOnly()
    exam = Exam.objects.filter(pk=exam_id).first()
    if exam is None:
        raise errors.NotFound()
    if not may_proctor(user, exam):
        raise errors.StaffOnly()
    return exam


def attempt_for_proctor(*, user, attempt_id: int) -> Attempt:
    """The attempt if `user` may control its exam (StaffOnly, NotFound as `exam_for_proctor`)."""
    if not (user.is_staff or user.is_superuser):
        raise errors.StaffOnly()
    attempt = Attempt.objects.select_related("exam", "user").filter(pk=attempt_id).first()
    if attempt is None:
        raise errors.NotFound()
    if not may_proctor(user, attempt.exam):
        raise errors.StaffOnly()
    return attempt
