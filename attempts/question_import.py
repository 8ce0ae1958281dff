"""Questions from a CSV file (one row per question): parse it whole, then import it in one transaction.

Header: `text,option_a,option_b,option_c,option_d,correct_option,marks` (`marks` optional, 1 when
absent or empty), in any order. Rows are numbered as a spreadsheet shows them: the header is row 1.
A file with any bad row imports nothing, and the error names every bad row and its problem.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from attempts.models import Exam, Option, Question

REQUIRED_COLUMNS = ("text", "option_a", "option_b", "option_c", "option_d", "correct_option")
OPTIONAL_COLUMNS = ("marks",)
OPTION_COLUMNS = ("option_a", "option_b", "option_c", "option_d")
DEFAULT_MARKS = 1
# The model's column width: a longer option would fail in the database, half-way through.
MAX_OPTION_LENGTH = Question._meta.get_field("option_a").max_length
# Enough to fix a file in one pass without burying the first problems under the rest.
MAX_REPORTED_PROBLEMS = 20


class ImportFailed(Exception):
    """The file cannot be imported; the message names each bad row and its problem."""


@dataclass(frozen=True)
class QuestionRow:
    text: str
    option_a: str
    option_b: str
    option_c: str
    option_d: str
    correct_option: str
    marks: int


def read_text(path: str | Path) -> str:
    """The file's text, UTF-8 with or without a byte-order mark."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFailed(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFailed(f"the file is not UTF-8 text (bad byte at line {line}); save it as CSV UTF-8") from exc


def _check_header(header: list[str] | None) -> list[str]:
    if not header or not any(name.strip() for name in header):
        raise ImportFailed(f"the file is empty; its first row must be the header {','.join(REQUIRED_COLUMNS)},marks")
    names = [name.strip().lower() for name in header]
    problems = []
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    unknown = [name for name in names if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(name) for name in unknown)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    if problems:
        expected = ",".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        raise ImportFailed(f"row 1 (header): {'; '.join(problems)}; expected {expected} (marks optional)")
    return names


def _parse_marks(value: str) -> int | None:
    value = value.strip()
    if not value:
        return DEFAULT_MARKS
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        return None
    return int(value)


def _parse_row(names: list[str], values: list[str]) -> tuple[QuestionRow | None, list[str]]:
    if len(values) != len(names):
        return None, [f"has {len(values)} value(s), the header has {len(names)} column(s)"]
    cells = dict(zip(names, values, strict=True))
    problems = []
    text = cells["text"].strip()
    if not text:
        problems.append("text is empty")
    options = {name: cells[name].strip() for name in OPTION_COLUMNS}
    for name, option in options.items():
        if not option:
            problems.append(f"{name} is empty")
        elif len(option) > MAX_OPTION_LENGTH:
            problems.append(f"{name} is longer than {MAX_OPTION_LENGTH} characters")
    correct = cells["correct_option"].strip().upper()
    if correct not in Option.values:
        problems.append(f"correct_option must be one of A, B, C, D (got {cells['correct_option'].strip()!r})")
    marks = _parse_marks(cells.get("marks", ""))
    if marks is None:
        problems.append(f"marks must be a positive whole number (got {cells['marks'].strip()!r})")
    if problems:
        return None, problems
    return QuestionRow(text=text, correct_option=correct, marks=marks, **options), []


def parse_questions(text: str) -> list[QuestionRow]:
    """Every question of a CSV text, or ImportFailed naming each bad row."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise ImportFailed(f"the file is not valid CSV: {exc}") from exc
    names = _check_header(rows[0] if rows else None)
    questions: list[QuestionRow] = []
    problems: list[str] = []
    for number, values in enumerate(rows[1:], start=2):
        if not any(value.strip() for value in values):
            continue  # a blank line, as spreadsheets leave at the end
        question, row_problems = _parse_row(names, values)
        if question is not None:
            questions.append(question)
        problems.extend(f"row {number}: {problem}" for problem in row_problems)
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown)} more problem(s)")
        raise ImportFailed("\n".join(shown))
    if not questions:
        raise ImportFailed("the file has a header but no question rows")
    return questions


def import_questions(*, exam: Exam, questions: list[QuestionRow]) -> list[Question]:
    """Add the questions to the exam, all or none."""
    with transaction.atomic():
        return Question.objects.bulk_create(Question(exam=exam, **question.__dict__) for question in questions)


def import_file(
    *, path: str | Path, exam: Exam | None = None, new_exam: dict | None = None, exam_changes: list[str] = ()
) -> tuple[Exam, int]:
    """Parse a file and import it into `exam` (saving its `exam_changes` fields too), or into a new exam made
    from `new_exam`, in one transaction."""
    questions = parse_questions(read_text(path))
    with transaction.atomic():
        if exam is None:
            exam = Exam.objects.create(**(new_exam or {}))
        elif exam_changes:
            exam.save(update_fields=list(exam_changes))
        import_questions(exam=exam, questions=questions)
    return exam, len(questions)
