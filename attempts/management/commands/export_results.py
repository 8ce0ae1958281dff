"""python manage.py export_results <exam_id> [--output FILE]: the exam's results CSV, as the staff API's results.csv.

To stdout without --output. The file is written whole or not at all: an unknown exam fails
before anything is opened, and a failure while writing leaves no half file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from attempts import errors, reports
from attempts.models import Exam


def _exam_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise CommandError(f"exam_id: expected a positive whole number, got {value!r}")
    return int(value)


class Command(BaseCommand):
    help = "Write an exam's results (one row per attempt, the columns of results.csv) as CSV."

    def add_arguments(self, parser):
        parser.add_argument("exam_id", help="the exam's id")
        parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")

    def handle(self, *args, exam_id: str, output: str | None, **options) -> None:
        exam = Exam.objects.filter(pk=_exam_id(exam_id)).only("title").first()
        if exam is None:
            raise CommandError(f"There is no exam {exam_id}.")
        if output is None:
            try:
                reports.write_results_csv(self.stdout, exam_id=exam.pk)
            except errors.NotFound as exc:  # deleted meanwhile
                raise CommandError(f"There is no exam {exam_id}.") from exc
            return
        target = Path(output)
        if not target.parent.is_dir():
            raise CommandError(f"--output: the folder {str(target.parent)!r} does not exist")
        # Into a file beside the target, then renamed over it: a reader never sees a half file.
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                count = reports.write_results_csv(out, exam_id=exam.pk)
            os.replace(temporary, target)
        except errors.NotFound as exc:
            raise CommandError(f"There is no exam {exam_id}.") from exc
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        self.stderr.write(f"Wrote {count} attempt(s) of exam {exam.pk} ({exam.title}) to {target}.")
