"""python manage.py import_questions <exam_id> <file.csv>, or --create-exam "Title" --duration N <file.csv>."""

from __future__ import annotations

import argparse
import functools

from django.core.management.base import BaseCommand, CommandError

from attempts.models import Exam
from attempts.question_import import ImportFailed, import_file

TITLE_MAX_LENGTH = Exam._meta.get_field("title").max_length


def _positive_int(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise CommandError(f"expected a positive whole number, got {value!r}")
    return int(value)


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

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Positionals on both sides of options (`3 --verbosity 2 file.csv`): plain parse_args would
        # give the first one alone to `target` and call the file an unrecognized argument.
        parser.parse_args = functools.partial(argparse.ArgumentParser.parse_intermixed_args, parser)
        return parser

    def handle(self, *args, target, create_exam, duration, publish, **options):
        if len(target) > 2:
            raise CommandError(f"expected [exam_id] file, got {len(target)} arguments: {' '.join(target)}")
        *rest, file = target
        exam_id = rest[0] if rest else None
        exam, new_exam = None, None
        if create_exam is not None:
            if exam_id is not None:
                raise CommandError("give either an exam id or --create-exam, not both")
            title = create_exam.strip()
            if not title or len(title) > TITLE_MAX_LENGTH:
                raise CommandError(f"--create-exam needs a title of 1 to {TITLE_MAX_LENGTH} characters")
            if duration is None:
                raise CommandError("--create-exam needs --duration MINUTES")
            new_exam = {"title": title, "duration_minutes": _positive_int(duration), "is_published": publish}
        else:
            if exam_id is None:
                raise CommandError("give the exam id, or --create-exam TITLE --duration MINUTES")
            if duration is not None or publish:
                raise CommandError("--duration and --publish go with --create-exam")
            exam = Exam.objects.filter(pk=_positive_int(exam_id)).first()
            if exam is None:
                raise CommandError(f"exam {exam_id} does not exist")
        try:
            exam, count = import_file(path=file, exam=exam, new_exam=new_exam)
        except ImportFailed as exc:
            raise CommandError(f"{file}: nothing was imported.\n{exc}") from exc
        verb = "Created" if new_exam else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {count} question(s) from {file}. {verb} exam {exam.pk} {exam.title!r}: "
                f"{exam.questions.count()} question(s), {exam.total_marks} mark(s), "
                f"{exam.duration_minutes} minutes, {'published' if exam.is_published else 'not published'}."
            )
        )
