"""Input parsing and output shapes of the REST API."""

import re

from rest_framework import serializers

from attempts.models import Option, Question

# Ids are BIGINT: a larger number would overflow the database instead of being "not found".
MAX_ID = 2**63 - 1


class JsonIntegerField(serializers.IntegerField):
    """A whole number as JSON writes it: an integer, not a string, a float (not even 1.0) or a boolean."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdField(JsonIntegerField):
    """A positive id: a JSON integer in a body; ASCII digits in a path."""

    def __init__(self, *, from_path: bool = False, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)
        self.from_path = from_path

    def to_internal_value(self, data):
        if not self.from_path:
            return super().to_internal_value(data)
        # int() would also take " 7", "7.0" and non-ASCII digits such as "\u0667".
        if not (isinstance(data, str) and data.isascii() and data.isdigit()):
            self.fail("invalid")
        return serializers.IntegerField.to_internal_value(self, data)


def id_field(*, from_path: bool = False) -> IdField:
    return IdField(from_path=from_path)


class ExamIdSerializer(serializers.Serializer):
    exam_id = id_field(from_path=True)


class AttemptIdSerializer(serializers.Serializer):
    attempt_id = id_field(from_path=True)


# A date, a time and an explicit offset: a moment, not a wall-clock reading in some unknown zone.
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})", re.ASCII)


class MomentField(serializers.DateTimeField):
    """An ISO 8601 date and time with its offset (`Z` or `±hh:mm`), as a string; nothing else is guessed at."""

    default_error_messages = {
        "moment": "Give an ISO 8601 date and time with its offset, e.g. 2026-12-01T09:30:00.000Z.",
    }

    def to_internal_value(self, value):
        if not (isinstance(value, str) and _MOMENT.fullmatch(value)):
            self.fail("moment")
        return super().to_internal_value(value)


class SubmitAnswerSerializer(serializers.Serializer):
    attempt_id = id_field()
    question_id = id_field()
    selected_option = serializers.ChoiceField(choices=Option.values)
    chosen_at = MomentField(
        required=False,
        allow_null=True,
        help_text="When the student made this choice, by the page's clock. Of two saves of one question, "
        "the later choice wins: an older one is refused with 409 answer_superseded.",
    )


class StartResponseSerializer(serializers.Serializer):
    attempt_id = serializers.IntegerField()
    exam_id = serializers.IntegerField()
    exam_title = serializers.CharField()
    duration_minutes = serializers.IntegerField()
    remaining_seconds = serializers.IntegerField()
    deadline_at = serializers.DateTimeField(help_text="When this attempt's time runs out (UTC)")
    time_limit_seconds = serializers.IntegerField(
        help_text="This attempt's limit after the student's accommodation and the exam's closing time"
    )
    total_questions = serializers.IntegerField()
    total_marks = serializers.IntegerField()
    message = serializers.CharField(required=False)


class RemainingResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["running", "timeout", "completed"])
    remaining_seconds = serializers.IntegerField()
    remaining_ms = serializers.IntegerField(required=False, help_text="while running: exact, for a page's own clock")
    deadline_at = serializers.DateTimeField(required=False, help_text="while running (UTC)")
    message = serializers.CharField(required=False)


class AnswerResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    question_id = serializers.IntegerField()
    selected_option = serializers.CharField()
    action = serializers.ChoiceField(choices=["saved", "updated"])


class SubmitResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["submitted", "timeout", "already_completed"])
    score = serializers.IntegerField()
    total_marks = serializers.IntegerField()
    percentage = serializers.FloatField()
    correct_answers = serializers.IntegerField(required=False)
    total_questions = serializers.IntegerField(required=False)
    time_taken_minutes = serializers.IntegerField(required=False)
    message = serializers.CharField(required=False)


class StudentQuestionSerializer(serializers.ModelSerializer):
    """A question as a student sees it: never the correct option."""

    class Meta:
        model = Question
        fields = ["id", "text", "option_a", "option_b", "option_c", "option_d", "marks"]


class AnnouncementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    exam_id = serializers.IntegerField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


class QuestionsResponseSerializer(serializers.Serializer):
    attempt_id = serializers.IntegerField()
    exam_title = serializers.CharField()
    questions = StudentQuestionSerializer(many=True)
    saved_answers = serializers.DictField(child=serializers.CharField())
    announcements = AnnouncementSerializer(many=True, help_text="the proctors' announcements, oldest first")


class OwnAttemptSerializer(serializers.Serializer):
    attempt_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["ongoing", "completed", "timeout"])
    started_at = serializers.DateTimeField()
    deadline_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    remaining_seconds = serializers.IntegerField(help_text="0 once ended")
    score = serializers.IntegerField(allow_null=True, help_text="null while ongoing")
    total_marks = serializers.IntegerField()
    percentage = serializers.FloatField(allow_null=True, help_text="null while ongoing")


class OwnAttemptsResponseSerializer(serializers.Serializer):
    exam_id = serializers.IntegerField()
    exam_title = serializers.CharField()
    attempts = OwnAttemptSerializer(many=True, help_text="newest first")


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="For people; may be reworded.")
    code = serializers.CharField(help_text="Stable and machine-readable: clients switch on this (docs/api.md).")
    fields = serializers.DictField(required=False, help_text="Bad input: the problems of each field.")


class SupersededSerializer(ErrorSerializer):
    """409 answer_superseded: what the server keeps for the question instead."""

    question_id = serializers.IntegerField()
    selected_option = serializers.CharField(help_text="The stored choice, made later than the refused one.")
