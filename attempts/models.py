"""Exams, their questions, students' attempts and answers: the permanent record."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q, Sum


class Option(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"


class Exam(models.Model):
    title = models.CharField(max_length=200)
    duration_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    is_published = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title

    @property
    def total_marks(self) -> int:
        return self.questions.aggregate(total=Sum("marks"))["total"] or 0


class Question(models.Model):
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="questions")
    text = models.TextField()
    option_a = models.CharField(max_length=500)
    option_b = models.CharField(max_length=500)
    option_c = models.CharField(max_length=500)
    option_d = models.CharField(max_length=500)
    correct_option = models.CharField(max_length=1, choices=Option.choices)
    marks = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:60]


class Attempt(models.Model):
    class Status(models.TextChoices):
        ONGOING = "ongoing", "Ongoing"
        COMPLETED = "completed", "Completed"
        TIMEOUT = "timeout", "Timeout"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attempts")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="attempts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ONGOING)
    started_at = models.DateTimeField()
    deadline_at = models.DateTimeField(help_text="When time runs out: the permanent record of the timer.")
    ended_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveIntegerField(null=True, blank=True)
    # True while ongoing, NULL once over. MySQL ignores the condition of a conditional
    # unique constraint, but every database treats NULLs as distinct in a unique index:
    # (user, exam, ongoing_guard) therefore allows one ongoing attempt and any number of
    # ended ones.
    ongoing_guard = models.BooleanField(null=True, default=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "exam", "ongoing_guard"],
                name="one_ongoing_attempt_per_user_and_exam",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="ongoing", ongoing_guard=True) | (~Q(status="ongoing") & Q(ongoing_guard__isnull=True))
                ),
                name="ongoing_guard_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["status", "deadline_at"], name="attempt_due_idx")]

    def __str__(self) -> str:
        return f"Attempt {self.pk} of {self.exam_id} by {self.user_id} ({self.status})"


class Answer(models.Model):
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    selected_option = models.CharField(max_length=1, choices=Option.choices)
    saved_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["attempt", "question"], name="one_answer_per_question")]

    def __str__(self) -> str:
        return f"Answer {self.selected_option} to {self.question_id} in {self.attempt_id}"
