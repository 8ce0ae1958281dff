"""Exams, their questions, students' attempts and answers: the permanent record."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone

# A warning more than a day ahead of the end is no warning; also bounds what a typo can ask of the ticker.
MAX_WARNING_MINUTES = 1440


class Option(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"


def default_warning_minutes() -> list[int]:
    return [5, 1]


class Exam(models.Model):
    title = models.CharField(max_length=200)
    duration_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    is_published = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    opens_at = models.DateTimeField(
        null=True, blank=True, help_text="No attempt may start before this (empty: no limit)."
    )
    closes_at = models.DateTimeField(
        null=True, blank=True, help_text="No attempt may start from this moment on, and every deadline is capped here."
    )
    max_attempts = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Attempts a student may start, whatever their status (empty: unlimited).",
    )
    warning_minutes = models.JSONField(
        default=default_warning_minutes,
        blank=True,
        help_text="Minutes left at which a student's page is warned, e.g. [5, 1].",
    )
    proctors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="proctored_exams",
        help_text="Staff who may watch and control this exam; none means every staff user (superusers always may).",
    )

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": "Must be after opens_at."})
        if self.warning_minutes is None:
            self.warning_minutes = []  # a form's emptied field: no warnings
        minutes = self.warning_minutes
        if not isinstance(minutes, list) or not all(
            isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= MAX_WARNING_MINUTES for m in minutes
        ):
            raise ValidationError(
                {"warning_minutes": f"A list of whole minutes from 1 to {MAX_WARNING_MINUTES}, e.g. [5, 1]."}
            )

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
    time_limit_seconds = models.PositiveIntegerField(
        help_text="This attempt's limit at its start, after accommodations and the window cap."
    )
    change_seconds = models.IntegerField(default=0, help_text="Sum of the proctors' live changes (extensions).")
    # Presence (attempts.presence): whether a socket of the attempt is open on some process, since
    # when (NULL: since the start), and the offline time of the intervals already closed.
    connected = models.BooleanField(default=False, editable=False)
    presence_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    offline_ms = models.PositiveBigIntegerField(default=0, editable=False)
    offline_credited_seconds = models.PositiveIntegerField(
        default=0, editable=False, help_text="Offline time already given back by a proctor's credit."
    )
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
    # When the student chose it, by the page's clock (`chosen_at` of the request): of two tabs'
    # saves of one question, the later choice wins, whichever request arrives last.
    chosen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["attempt", "question"], name="one_answer_per_question")]

    def __str__(self) -> str:
        return f"Answer {self.selected_option} to {self.question_id} in {self.attempt_id}"


class Accommodation(models.Model):
    """A student's extra time or attempts, for one exam or (exam empty) every exam; the per-exam row wins."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="accommodations")
    exam = models.ForeignKey(
        Exam,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="accommodations",
        help_text="Empty: all exams.",
    )
    extra_minutes = models.PositiveIntegerField(default=0)
    time_multiplier = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1.00")), MaxValueValidator(Decimal("4.00"))],
    )
    extra_attempts = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # True for the all-exams row, NULL for a per-exam one: (user, all_exams_guard) unique allows one
    # all-exams row per user on every database (the trick of Attempt.ongoing_guard).
    all_exams_guard = models.BooleanField(null=True, default=None, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "exam"], name="one_accommodation_per_user_and_exam"),
            models.UniqueConstraint(fields=["user", "all_exams_guard"], name="one_all_exams_accommodation_per_user"),
            models.CheckConstraint(
                condition=(
                    Q(exam__isnull=True, all_exams_guard=True) | Q(exam__isnull=False, all_exams_guard__isnull=True)
                ),
                name="all_exams_guard_matches_exam",
            ),
            models.CheckConstraint(
                condition=Q(time_multiplier__gte=Decimal("1.00"), time_multiplier__lte=Decimal("4.00")),
                name="time_multiplier_between_1_and_4",
            ),
        ]

    def __str__(self) -> str:
        where = f"exam {self.exam_id}" if self.exam_id else "all exams"
        return f"Accommodation of {self.user_id} for {where}"

    def save(self, *args, **kwargs):
        self.all_exams_guard = True if self.exam_id is None else None
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # The database refuses a second all-exams row (all_exams_guard); a form must say so, not fail with a 500.
        if self.exam_id is None and self.user_id is not None:
            others = Accommodation.objects.filter(user_id=self.user_id, exam__isnull=True).exclude(pk=self.pk)
            if others.exists():
                raise ValidationError({"exam": "This student already has an accommodation for all exams."})


class AttemptEvent(models.Model):
    """The audit trail: one row per thing that happened to an attempt, with who did it and why."""

    class Kind(models.TextChoices):
        STARTED = "started"
        RESUMED = "resumed"
        ANSWER_SAVED = "answer_saved"
        ANSWER_REFUSED = "answer_refused"
        SUBMITTED = "submitted"
        TIMED_OUT = "timed_out"
        TIME_CHANGED = "time_changed"
        ENDED = "ended"
        REOPENED = "reopened"
        CONNECTED = "connected"
        DISCONNECTED = "disconnected"
        TIMER_RESTORED = "timer_restored"

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["attempt", "at"], name="attempt_event_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of attempt {self.attempt_id} at {self.at:%H:%M:%S}"


class Announcement(models.Model):
    """A proctor's message to everyone taking an exam."""

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="announcements")
    message = models.CharField(max_length=500)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.message[:60]
