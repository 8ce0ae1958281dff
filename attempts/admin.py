"""Authoring in the Django admin: exams with their questions, time rules and accommodations; attempts,
answers and the audit trail to look at; announcements, sent through the same service as the staff API."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.forms.models import BaseInlineFormSet

from attempts.models import Accommodation, Announcement, Answer, Attempt, AttemptEvent, Exam, Question
from attempts.services import control


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 1
    fields = ["text", ("option_a", "option_b"), ("option_c", "option_d"), ("correct_option", "marks")]


ACCOMMODATION_FIELDS = ["extra_minutes", "time_multiplier", "extra_attempts", "note"]


class ExamAccommodationInline(admin.TabularInline):
    """The students of this exam with more time or attempts than the rest."""

    model = Accommodation
    fk_name = "exam"
    extra = 0
    fields = ["user", *ACCOMMODATION_FIELDS]
    autocomplete_fields = ["user"]


class OneRowPerExamFormSet(BaseInlineFormSet):
    """Refuses two rows of one student for the same exam, or two for all exams, in one submission.

    The database refuses them too, but as an IntegrityError (a 500): a form must name the problem.
    """

    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            exam = data.get("exam")
            if exam in seen:
                raise ValidationError(f"Two accommodations for {exam or 'all exams'}: keep one.")
            seen.add(exam)


class UserAccommodationInline(admin.TabularInline):
    """A student's accommodations: one for all exams (exam empty) and one per exam that differs."""

    model = Accommodation
    fk_name = "user"
    formset = OneRowPerExamFormSet
    extra = 0
    fields = ["exam", *ACCOMMODATION_FIELDS]
    autocomplete_fields = ["exam"]


@admin.register(Exam)
class ExamAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "duration_minutes",
        "is_published",
        "opens_at",
        "closes_at",
        "max_attempts",
        "total_marks_display",
        "question_count",
    ]
    list_filter = ["is_published"]
    search_fields = ["title"]
    fieldsets = [
        (None, {"fields": ["title", "duration_minutes", "is_published"]}),
        (
            "Time rules",
            {
                "fields": [("opens_at", "closes_at"), "max_attempts", "warning_minutes"],
                "description": "Times are UTC. Accommodations (below) change them for single students.",
            },
        ),
        ("Proctors", {"fields": ["proctors"]}),
    ]
    filter_horizontal = ["proctors"]
    inlines = [QuestionInline, ExamAccommodationInline]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "proctors":
            # Only staff can proctor (attempts.access): listing students would only invite mistakes.
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_queryset(self, request):
        # One query for the list, not two more per exam.
        return (
            super()
            .get_queryset(request)
            .annotate(_question_count=Count("questions", distinct=True), _total_marks=Sum("questions__marks"))
        )

    @admin.display(description="total marks", ordering="_total_marks")
    def total_marks_display(self, exam):
        return exam._total_marks or 0

    @admin.display(description="questions", ordering="_question_count")
    def question_count(self, exam):
        return exam._question_count


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["id", "text", "exam", "correct_option", "marks"]
    list_filter = ["exam"]
    search_fields = ["text"]
    list_select_related = ["exam"]


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0
    can_delete = False
    fields = ["question", "selected_option", "saved_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class AttemptEventInline(admin.TabularInline):
    """The attempt's audit trail, oldest first: never edited, added or removed by hand."""

    model = AttemptEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "actor", "data"]
    readonly_fields = fields
    ordering = ["at", "pk"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    """Read-only: attempts change only through the API's services, which keep the timer and events in step."""

    list_display = ["id", "user", "exam", "status", "started_at", "deadline_at", "ended_at", "score"]
    list_filter = ["status", "exam"]
    search_fields = ["user__username", "exam__title"]
    list_select_related = ["user", "exam"]
    date_hierarchy = "started_at"
    fields = [
        "user",
        "exam",
        "status",
        "started_at",
        "deadline_at",
        "ended_at",
        "score",
        "time_limit_seconds",
        "change_seconds",
    ]
    readonly_fields = fields
    inlines = [AnswerInline, AttemptEventInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["id", "attempt", "question", "selected_option", "is_correct", "saved_at"]
    list_filter = ["attempt__exam", "selected_option"]
    search_fields = ["attempt__user__username"]
    list_select_related = ["attempt", "question"]
    fields = ["attempt", "question", "selected_option", "saved_at"]
    readonly_fields = fields

    @admin.display(boolean=True, description="correct")
    def is_correct(self, answer):
        return answer.selected_option == answer.question.correct_option

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AttemptEvent)
class AttemptEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: rows are written by the services in the transaction of what they record."""

    list_display = ["at", "attempt", "kind", "actor", "data"]
    list_filter = ["kind", "attempt__exam"]
    search_fields = ["attempt__user__username", "actor__username"]
    list_select_related = ["attempt", "actor"]
    date_hierarchy = "at"
    fields = ["attempt", "at", "kind", "actor", "data"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Never from its own pages; only with its attempt (or exam), when that is deleted.
        match = request.resolver_match
        if match is not None and (match.url_name or "").startswith("attempts_attemptevent_"):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Accommodation)
class AccommodationAdmin(admin.ModelAdmin):
    list_display = ["user", "exam_display", "extra_minutes", "time_multiplier", "extra_attempts", "updated_at"]
    list_filter = ["exam"]
    search_fields = ["user__username", "exam__title", "note"]
    list_select_related = ["user", "exam"]
    fields = ["user", "exam", *ACCOMMODATION_FIELDS, "updated_at"]
    readonly_fields = ["updated_at"]
    autocomplete_fields = ["user", "exam"]

    @admin.display(description="exam", ordering="exam__title")
    def exam_display(self, row):
        return row.exam or "all exams"


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    """Announcements are sent once (to every socket of the exam) and kept as sent: added or removed, never edited."""

    list_display = ["created_at", "exam", "message", "author"]
    list_filter = ["exam"]
    search_fields = ["message"]
    list_select_related = ["exam", "author"]
    fields = ["exam", "message", "author", "created_at"]
    readonly_fields = ["author", "created_at"]
    autocomplete_fields = ["exam"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the service, as the staff API posts them: stored and pushed to the students' sockets.
        posted = control.announcement_post(actor=request.user, exam_id=obj.exam_id, message=obj.message)
        obj.pk, obj.author, obj.created_at = posted.pk, posted.author, posted.created_at


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's own user admin, with the student's accommodations inline."""

    inlines = [*DjangoUserAdmin.inlines, UserAccommodationInline]
