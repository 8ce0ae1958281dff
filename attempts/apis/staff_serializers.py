"""Input parsing and output shapes of the staff API (docs/api.md, "Live control")."""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from attempts.apis.serializers import IdField, JsonIntegerField
from attempts.models import AttemptEvent

# A day: longer than any sitting, so a bigger number is a typo (minutes for seconds), not a decision.
MAX_CHANGE_MINUTES = 1440
MAX_CHANGE_SECONDS = 86400
MAX_TEXT = 500  # reasons, notes and announcements: a sentence or two, as the audit trail and the page show them
# A student with a hundred more attempts than everyone else has no limit; more is a typo.
MAX_EXTRA_ATTEMPTS = 100


# The schema's patterns (Python's `re`, as the checks below use it). NUL: MySQL stores it, but no
# person types one, and a text that holds it breaks the tools that read the audit trail.
NO_NUL = r"^[^\u0000]*$"
NON_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"  # one character neither white space nor NUL
MULTIPLIER_TEXT = re.compile(r"^(?:[1-3](?:\.[0-9]{1,2})?|4(?:\.0{1,2})?)$")
MULTIPLIER_PROBLEM = "A number from 1.00 to 4.00 with at most two decimals."
HUNDREDTH = Decimal("0.01")


class _Pattern(RegexValidator):
    """A RegexValidator (the schema documents its pattern) that names a NUL character as such."""

    def __call__(self, value):
        if "\x00" in str(value):
            raise ValidationError("Null characters are not allowed.", code="null_characters_not_allowed")
        super().__call__(value)


class TextField(serializers.CharField):
    """Text as JSON writes it: a string (DRF would also take 5 and store "5"), kept as given (not trimmed,
    so that 500 characters means 500 sent); `visible=True` wants a character that is not white space."""

    def __init__(self, *, visible: bool = False, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]
        pattern = NON_BLANK if visible else NO_NUL
        self.validators.append(_Pattern(pattern, message="This field may not be blank."))

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number", "minimum": 1, "maximum": 4, "multipleOf": 0.01},
            {"type": "string", "pattern": MULTIPLIER_TEXT.pattern},
        ],
        "description": 'From 1.00 to 4.00, two decimals at most: a JSON number (1.5) or a string ("1.50").',
    }
)
class MultiplierField(serializers.Field):
    """The time multiplier: 1.00 to 4.00 in hundredths, as a JSON number or a string; a Decimal inside."""

    default_error_messages = {"invalid": MULTIPLIER_PROBLEM}

    def to_internal_value(self, data):
        # fullmatch: `$` alone would also take a trailing newline ("1.5\n"), which the schema's pattern refuses.
        if isinstance(data, str) and MULTIPLIER_TEXT.fullmatch(data):
            return Decimal(data).quantize(HUNDREDTH)
        # The range first: isfinite() of an integer too big for a float raises OverflowError.
        if isinstance(data, int | float) and not isinstance(data, bool) and 1 <= data <= 4 and math.isfinite(data):
            hundredths = round(data * 100)
            # 1.15 as JSON reads, or 115 * 0.01 as a program computed it: both are 1.15.
            if hundredths / 100 == data or hundredths * 0.01 == data:
                return (Decimal(hundredths) / 100).quantize(HUNDREDTH)
        self.fail("invalid")

    def to_representation(self, value):
        return f"{value:.2f}"


class OptionalTextField(TextField):
    """Text that may be empty (a reason, a note)."""

    def __init__(self, **kwargs):
        # Not `allow_blank=True`: drf-spectacular writes such a field with a pattern as oneOf [pattern,
        # maxLength 0], which "" matches twice, so the schema would call "" invalid. The pattern allows it.
        super().__init__(max_length=MAX_TEXT, default="", **kwargs)

    def run_validation(self, data=serializers.empty):
        if data == "":
            return ""
        return super().run_validation(data)


def reason_field() -> OptionalTextField:
    return OptionalTextField(help_text="recorded in the audit trail")


@extend_schema_field({"not": {}, "description": "not together with the other amount"})
class AbsentField(serializers.Field):
    """For the schema only: a key the shape must not have."""


class PathIdsSerializer(serializers.Serializer):
    """The ids of a staff route's path; each one that the route has is checked as the exam routes check theirs."""

    exam_id = IdField(from_path=True, required=False)
    attempt_id = IdField(from_path=True, required=False)
    user_id = IdField(from_path=True, required=False)


class TimeChangeSerializer(serializers.Serializer):
    """`minutes` or `seconds`, exactly one; validated data has the amount as `seconds` either way."""

    minutes = JsonIntegerField(min_value=1, max_value=MAX_CHANGE_MINUTES, required=False)
    seconds = JsonIntegerField(min_value=1, max_value=MAX_CHANGE_SECONDS, required=False)
    reason = reason_field()

    def validate(self, attrs):
        given = [name for name in ("minutes", "seconds") if name in attrs]
        if len(given) != 1:
            problem = "Give minutes or seconds, not both." if given else "Give minutes or seconds."
            raise serializers.ValidationError({"minutes": [problem], "seconds": [problem]})
        minutes = attrs.pop("minutes", None)
        if minutes is not None:
            attrs["seconds"] = minutes * 60
        return attrs


# Two shapes for the schema (the API takes either): a client sees that exactly one of them is meant.
class ChangeByMinutesSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=MAX_CHANGE_MINUTES)
    seconds = AbsentField(required=False)
    reason = reason_field()


class ChangeBySecondsSerializer(serializers.Serializer):
    seconds = serializers.IntegerField(min_value=1, max_value=MAX_CHANGE_SECONDS)
    minutes = AbsentField(required=False)
    reason = reason_field()


class EndSerializer(serializers.Serializer):
    reason = reason_field()


class CreditOfflineSerializer(serializers.Serializer):
    reason = reason_field()


class AnnouncementInputSerializer(serializers.Serializer):
    message = TextField(
        visible=True,
        max_length=MAX_TEXT,
        help_text="1 to 500 characters as sent, not all white space; stored without the white space around it",
    )

    def validate_message(self, value: str) -> str:
        # Checked as sent (so the schema's maxLength is the server's), stored as people read it.
        return value.strip()


class AccommodationInputSerializer(serializers.Serializer):
    """The whole row (PUT replaces it): a field left out takes its default, which changes nothing."""

    extra_minutes = JsonIntegerField(min_value=0, max_value=MAX_CHANGE_MINUTES, default=0)
    time_multiplier = MultiplierField(default=Decimal("1.00"))
    extra_attempts = JsonIntegerField(min_value=0, max_value=MAX_EXTRA_ATTEMPTS, default=0)
    note = OptionalTextField()


# --- Output ---


class UtcDateTimeField(serializers.DateTimeField):
    """A moment as the rest of the API writes it (UTC, `Z`), also from the ISO strings of the proctor rows."""

    def to_representation(self, value):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return super().to_representation(value)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ProctorRowSerializer(serializers.Serializer):
    attempt_id = serializers.IntegerField()
    user = UserRefSerializer()
    status = serializers.ChoiceField(choices=["ongoing", "completed", "timeout"])
    remaining_seconds = serializers.IntegerField(help_text="0 once ended")
    answered = serializers.IntegerField()
    total_questions = serializers.IntegerField()
    started_at = UtcDateTimeField()
    deadline_at = UtcDateTimeField()
    score = serializers.IntegerField(allow_null=True, help_text="null while ongoing")
    time_limit_seconds = serializers.IntegerField(help_text="the limit at the start, after accommodations and the cap")
    change_seconds = serializers.IntegerField(help_text="the sum of the proctors' live changes")
    connected = serializers.BooleanField(help_text="a socket of the attempt is open on some server process now")
    offline_seconds = serializers.IntegerField(help_text="time ongoing with no socket open, from its start")
    offline_since = UtcDateTimeField(allow_null=True, help_text="start of the offline time now running; null if none")
    offline_credited_seconds = serializers.IntegerField(help_text="offline time already given back as extra time")


class ProctorViewSerializer(serializers.Serializer):
    exam_id = serializers.IntegerField()
    exam_title = serializers.CharField()
    attempts = ProctorRowSerializer(many=True, help_text="ongoing, or ended within the last hour; oldest start first")


class TimeChangedSerializer(serializers.Serializer):
    attempt_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["running"])
    remaining_seconds = serializers.IntegerField()
    deadline_at = serializers.DateTimeField()
    change_seconds = serializers.IntegerField(help_text="the attempt's total of live changes, this one included")


class CreditedSerializer(TimeChangedSerializer):
    credited_seconds = serializers.IntegerField(help_text="the seconds this credit added")


class ExamExtendedSerializer(serializers.Serializer):
    exam_id = serializers.IntegerField()
    extended = serializers.IntegerField()
    attempt_ids = serializers.ListField(child=serializers.IntegerField())


class ReopenedSerializer(serializers.Serializer):
    attempt_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["running"])
    remaining_seconds = serializers.IntegerField()
    deadline_at = serializers.DateTimeField()


class AuditEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=AttemptEvent.Kind.values)
    actor = UserRefSerializer(allow_null=True, help_text="null: the student or the clock")
    data = serializers.DictField(help_text="what the kind records (docs/api.md, audit trail)")


class AuditTrailSerializer(serializers.Serializer):
    attempt_id = serializers.IntegerField()
    events = AuditEventSerializer(many=True, help_text="oldest first")


class AccommodationSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    exam_id = serializers.IntegerField(allow_null=True, help_text="null: every exam")
    extra_minutes = serializers.IntegerField()
    time_multiplier = serializers.DecimalField(max_digits=3, decimal_places=2, help_text='two decimals, e.g. "1.50"')
    extra_attempts = serializers.IntegerField()
    note = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField()
