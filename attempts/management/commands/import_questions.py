"""python manage.py import_questions <exam_id> <file.csv>, or --create-exam "Title" --duration N <file.csv>.

`--opens-at`, `--closes-at` and `--max-attempts` set the exam's time rules, for a new exam or an
existing one, in the same transaction as its questions; `none` removes one.
"""

from __future__ import annotations

import argparse
import functools
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from attempts.models import Exam
from attempts.question_import import ImportFailed, import_file

TITLE_MAX_LENGTH = Exam._meta.get_field("title").max_length


def _positive_int(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise CommandError(f"expected a positive whole number, got {value!r}")
    return int(value)


# What the database's DATETIME holds with room to spare; outside it a typo (year 20226), not a date.
YEARS = range(1970, 10000)
CLEAR = "none"


def _moment(option: str, value: str) -> datetime | None:
    """An ISO 8601 moment (a time without an offset is UTC), or None for `none`."""
    if value.strip().lower() == CLEAR:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None or moment.year not in YEARS:
        raise CommandError(
            f"{option} expects an ISO 8601 date and time such as 2026-12-01T09:00 (UTC) or "
            f"2026-12-01T10:00+01:00, or {CLEAR!r}; got {value!r}"
        )
    return moment


def _time_rules(opens_at: str | None, closes_at: str | None, max_attempts: str | None) -> dict:
    """The exam fields that the options set (only those given)."""
    rules: dict = {}
    if opens_at is not None:
        rules["opens_at"] = _moment("--opens-at", opens_at)
    if closes_at is not None:
        rules["closes_at"] = _moment("--closes-at", closes_at)
    if max_attempts is not None and max_attempts.strip().lower() == CLEAR:
        rules["max_attempts"] = None
    elif max_attempts is not None:
        try:
            rules["max_attempts"] = _positive_int(max_attempts)
        except CommandError as exc:
            raise CommandError(f"--max-attempts {exc} (or {CLEAR!r})") from exc
    return rules


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _check_rules(exam: Exam) -> None:
    """The exam's own validation (the window's order), as a message about the options."""
    try:
        exam.clean()
    except ValidationError as exc:
        if "closes_at" in exc.message_dict:
            raise CommandError(
                f"--closes-at must be after --opens-at: the exam would open {_utc(exam.opens_at)} "
                f"and close {_utc(exam.closes_at)}"
            ) from exc
        raise CommandError("; ".join(f"{field}: {' '.join(m)}" for field, m in exc.message_dict.items())) from exc


def _describe_rules(exam: Exam) -> str:
    parts = []
    if exam.opens_at:
        parts.append(f"opens {_utc(exam.opens_at)}")
    if exam.closes_at:
        parts.append(f"closes {_utc(exam.closes_at)}")
    if exam.max_attempts:
        parts.append(f"at most {exam.max_attempts} attempt(s)")
    return f" Time rules: {', '.join(parts)}." if parts else ""


class Command(BaseCommand):
    help = (
        "Import an exam's questions from a CSV file (one row per question; header "
        "text,option_a,option_b,option_c,option_d,correct_option,marks with marks optional). "
        "A file with any bad row imports nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "target",
            nargs="+",
            metavar="[exam_id] file",
            help="the exam to add the questions to (omit with --create-exam), then the CSV file "
            "(UTF-8, with or without a byte-order mark)",
        )
        parser.add_argument("--create-exam", metavar="TITLE", help="make a new exam with this title instead")
        parser.add_argument("--duration", metavar="MINUTES", help="the new exam's duration (with --create-exam)")
        parser.add_argument("--publish", action="store_true", help="publish the new exam (with --create-exam)")
        when = (
            "ISO 8601, e.g. 2026-12-01T09:00 (UTC when no offset is given) or 2026-12-01T10:00+01:00; none removes it"
        )
        parser.add_argument("--opens-at", metavar="WHEN", help=f"no attempt starts before this ({when})")
        parser.add_argument(
            "--closes-at", metavar="WHEN", help=f"no attempt starts from this on, and every deadline ends here ({when})"
        )
        parser.add_argument(
            "--max-attempts",
            metavar="N",
            help="attempts a student may start (a positive whole number; none: unlimited)",
        )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Positionals on both sides of options (`3 --verbosity 2 file.csv`): plain parse_args would
        # give the first one alone to `target` and call the file an unrecognized argument.
        parser.parse_args = functools.partial(argparse.ArgumentParser.parse_intermixed_args, parser)
        return parser

    def handle(self, *args, target, create_exam, duration, publish, opens_at, closes_at, max_attempts, **options):
        if len(target) > 2:
            raise CommandError(f"expected [exam_id] file, got {len(target)} arguments: {' '.join(target)}")
        *rest, file = target
        exam_id = rest[0] if rest else None
        exam, new_exam = None, None
        rules = _time_rules(opens_at, closes_at, max_attempts)
        if create_exam is not None:
            if exam_id is not None:
                raise CommandError("give either an exam id or --create-exam, not both")
            title = create_exam.strip()
            if not title or len(title) > TITLE_MAX_LENGTH:
                raise CommandError(f"--create-exam needs a title of 1 to {TITLE_MAX_LENGTH} characters")
            if duration is None:
                raise CommandError("--create-exam needs --duration MINUTES")
            new_exam = {"title": title, "duration_minutes": _positive_int(duration), "is_published": publish, **rules}
            _check_rules(Exam(**new_exam))
        else:
            if exam_id is None:
                raise CommandError("give the exam id, or --create-exam TITLE --duration MINUTES")
            if duration is not None or publish:
                raise CommandError("--duration and --publish go with --create-exam")
            exam = Exam.objects.filter(pk=_positive_int(exam_id)).first()
            if exam is None:
                raise CommandError(f"exam {exam_id} does not exist")
            for field, value in rules.items():
                setattr(exam, field, value)
            _check_rules(exam)
        try:
            exam, count = import_file(path=file, exam=exam, new_exam=new_exam, exam_changes=list(rules))
        except ImportFailed as exc:
            raise CommandError(f"{file}: nothing was imported.\n{exc}") from exc
        verb = "Created" if new_exam else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {count} question(s) from {file}. {verb} exam {exam.pk} {exam.title!r}: "
                f"{exam.questions.count()} question(s), {exam.total_marks} mark(s), "
                f"{exam.duration_minutes} minutes, {'published' if exam.is_published else 'not published'}."
                f"{_describe_rules(exam)}"
            )
        )
