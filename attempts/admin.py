"""Authoring in the Django admin: exams with their questions inline; attempts and answers to look at."""

from django.contrib import admin
from django.db.models import Count, Sum

from attempts.models import Answer, Attempt, Exam, Question


class QuestionInline(admin.StackedInline):
    model = Question
    extra = 1
    fields = ["text", ("option_a", "option_b"), ("option_c", "option_d"), ("correct_option", "marks")]


@admin.register(Exam)
class ExamAdmin(admin.ModelAdmin):
    list_display = ["title", "duration_minutes", "is_published", "total_marks_display", "question_count"]
    list_filter = ["is_published"]
    search_fields = ["title"]
    inlines = [QuestionInline]

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


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    """Read-only: attempts change only through the API's services, which keep the timer and events in step."""

    list_display = ["id", "user", "exam", "status", "started_at", "deadline_at", "ended_at", "score"]
    list_filter = ["status", "exam"]
    search_fields = ["user__username", "exam__title"]
    list_select_related = ["user", "exam"]
    date_hierarchy = "started_at"
    fields = ["user", "exam", "status", "started_at", "deadline_at", "ended_at", "score"]
    readonly_fields = fields
    inlines = [AnswerInline]

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
