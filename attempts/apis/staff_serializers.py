"""Input parsing and output shapes of the staff API (docs/api.md, "Live control")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from rest_framework import serializers

from attempts.apis.serializers import IdField, JsonIntegerField
from attempts.models import AttemptEvent

# A day: longer than any sitting, so a bigger number is a typo (minutes for seconds), not a decision.
MAX_CHANGE_MINUTES = 1440
MAX_CHANGE_SECONDS = 86400
MAX_TEXT = 500  # reasons, notes and announcements: a sentence or two, as the audit trail and the page show them
# A student with a hundred more attempts than everyone else has no limit; more is a typo.
MAX_EXTRA_ATTEMPTS = 100
MIN_MULTIPLIER, MAX_MULTIPLIER = Decimal("1.00"), Decimal("4.00")


class TextField(serializers.CharField):
    """Text as JSON writes it: a string (DRF would also take 5 or 1.5 and store "5")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BoundedDecimalField(serializers.DecimalField):
    """A decimal within min_value..max_value; one far outside gets the bound's message, not a 500.

    DRF rounds to `decimal_places` before the bounds are checked, and rounding 1e30 to two
    places needs more digits than the decimal context has: InvalidOperation.
    """

    def quantize(self, value):
        if not (self.min_value <= value <= self.max_value):
            return value  # refused by the bounds' validators next
        return super().quantize(value)


def reason_field() -> TextField:
    return TextField(max_length=MAX_TEXT, allow_blank=True, default="", help_text="recorded in the audit trail")


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
    reason = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)


class ChangeBySecondsSerializer(serializers.Serializer):
    seconds = serializers.IntegerField(min_value=1, max_value=MAX_CHANGE_SECONDS)
    reason = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)


class EndSerializer(serializers.Serializer):
    reason = reason_field()


class AnnouncementInputSerializer(serializers.Serializer):
    message = TextField(max_length=MAX_TEXT, help_text="1 to 500 characters, surrounding whitespace trimmed")


class AccommodationInputSerializer(serializers.Serializer):
    """The whole row (PUT replaces it): a field left out takes its default, which changes nothing."""

    extra_minutes = JsonIntegerField(min_value=0, max_value=MAX_CHANGE_MINUTES, default=0)
    # max_digits=None: 10 gets "less than or equal to 4.00", not a message about digits.
    time_multiplier = BoundedDecimalField(
        max_digits=None,
        decimal_places=2,
        min_value=MIN_MULTIPLIER,
        max_value=MAX_MULTIPLIER,
        default=MIN_MULTIPLIER,
        help_text='1.00 to 4.00, two decimals at most: a JSON number (1.5) or a string ("1.50")',
    )
    extra_attempts = JsonIntegerField(min_value=0, max_value=MAX_EXTRA_ATTEMPTS, default=0)
    note = TextField(max_length=MAX_TEXT, allow_blank=True, default="")


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
    time_multiplier = serializers.DecimalField(max_digits=3, decimal_places=2)
    extra_attempts = serializers.IntegerField()
    note = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField()
