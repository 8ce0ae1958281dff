"""The authoring commands: import_questions (all or nothing, errors naming the row) and load_demo (idempotent)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from attempts.models import Exam, Question
from tests.factories import make_exam

pytestmark = pytest.mark.django_db

HEADER = "text,option_a,option_b,option_c,option_d,correct_option,marks"
GOOD_ROW = "What is 2 + 2?,3,4,5,22,B,2"
DEMO_CSV = Path(settings.BASE_DIR) / "attempts" / "demo" / "python_fundamentals.csv"


def write(tmp_path, text: str | bytes, name: str = "questions.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def exam():
    return make_exam(questions=0)


def test_import_a_good_file(tmp_path, exam):
    path = write(
        tmp_path,
        f'{HEADER}\n{GOOD_ROW}\n"Which, with a comma?",a,b,c,d,d,\n"Two\nlines?",yes,no,maybe,never,A,3\n',
    )

    output = run("import_questions", str(exam.pk), path)

    rows = list(exam.questions.order_by("id").values_list("text", "option_b", "correct_option", "marks"))
    assert rows == [
        ("What is 2 + 2?", "4", "B", 2),
        ("Which, with a comma?", "b", "D", 1),  # lowercase option accepted; empty marks default to 1
        ("Two\nlines?", "no", "A", 3),
    ]
    assert "Imported 3 question(s)" in output and f"exam {exam.pk}" in output


def test_import_adds_to_the_questions_already_there(tmp_path, exam):
    path = write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n")
    run("import_questions", str(exam.pk), path)
    run("import_questions", str(exam.pk), path)

    assert exam.questions.count() == 2


@pytest.mark.parametrize(
    "text",
    [
        f"\ufeff{HEADER}\r\n{GOOD_ROW}\r\n",  # Excel's "CSV UTF-8": a byte-order mark and CRLF
        f"text,option_a,option_b,option_c,option_d,correct_option\n{GOOD_ROW.rsplit(',', 1)[0]}\n",  # no marks
        "Correct_Option,Text,Option_D,Option_C,Option_B,Option_A\nb,What is 2 + 2?,22,5,4,3\n",  # any order, any case
        f"{HEADER}\n{GOOD_ROW}\n\n,,,,,,\n",  # blank lines at the end
    ],
    ids=["bom-crlf", "no-marks-column", "reordered-header", "trailing-blank-rows"],
)
def test_import_accepts_the_variants_spreadsheets_write(tmp_path, exam, text):
    run("import_questions", str(exam.pk), write(tmp_path, text))

    question = exam.questions.get()
    assert (question.text, question.option_b, question.correct_option) == ("What is 2 + 2?", "4", "B")


def test_import_keeps_non_ascii_text(tmp_path, exam):
    run("import_questions", str(exam.pk), write(tmp_path, f"{HEADER}\nQu'est-ce que « Python » ? 🐍,é,ß,中文,Ω,C,1\n"))

    assert exam.questions.get().text == "Qu'est-ce que « Python » ? 🐍"


def test_create_exam(tmp_path):
    output = run(
        "import_questions", "--create-exam", "Algebra I", "--duration", "25", write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n")
    )

    exam = Exam.objects.get(title="Algebra I")
    assert (exam.duration_minutes, exam.is_published, exam.questions.count()) == (25, False, 1)
    assert "Created exam" in output


def test_create_exam_published(tmp_path):
    run(
        "import_questions",
        "--create-exam",
        "Live",
        "--duration",
        "5",
        "--publish",
        write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n"),
    )

    assert Exam.objects.get(title="Live").is_published


BAD_FILES = [
    (
        "text,option_a,option_b,option_c,option_d,marks\nQ,a,b,c,d,1\n",
        "row 1 (header): missing column(s): correct_option",
    ),
    (f"{HEADER},hint\nQ,a,b,c,d,A,1,h\n", "row 1 (header): unknown column(s): 'hint'"),
    (f"{HEADER},text\nQ,a,b,c,d,A,1,Q\n", "row 1 (header): repeated column(s): text"),
    ("", "the file is empty"),
    (f"{HEADER}\n", "the file has a header but no question rows"),
    (f"{HEADER}\n{GOOD_ROW}\n,a,b,c,d,A,1\n", "row 3: text is empty"),
    (f"{HEADER}\n{GOOD_ROW}\n   ,a,b,c,d,A,1\n", "row 3: text is empty"),
    (f"{HEADER}\nQ,a,,c,d,A,1\n", "row 2: option_b is empty"),
    (f"{HEADER}\nQ,a,b,c,d,E,1\n", "row 2: correct_option must be one of A, B, C, D (got 'E')"),
    (f"{HEADER}\nQ,a,b,c,d,,1\n", "row 2: correct_option must be one of A, B, C, D (got '')"),
    (f"{HEADER}\nQ,a,b,c,d,AB,1\n", "row 2: correct_option must be one of A, B, C, D (got 'AB')"),
    (f"{HEADER}\nQ,a,b,c,d,A,0\n", "row 2: marks must be a positive whole number (got '0')"),
    (f"{HEADER}\nQ,a,b,c,d,A,-1\n", "row 2: marks must be a positive whole number (got '-1')"),
    (f"{HEADER}\nQ,a,b,c,d,A,1.5\n", "row 2: marks must be a positive whole number (got '1.5')"),
    (f"{HEADER}\nQ,a,b,c,d,A,two\n", "row 2: marks must be a positive whole number (got 'two')"),
    (f"{HEADER}\n{GOOD_ROW}\nQ,a,b,c\n", "row 3: has 4 value(s), the header has 7 column(s)"),
    (f"{HEADER}\nQ,a,b,c,d,A,1,extra\n", "row 2: has 8 value(s), the header has 7 column(s)"),
    (f"{HEADER}\nQ,{'x' * 501},b,c,d,A,1\n", "row 2: option_a is longer than 500 characters"),
    (f'{HEADER}\n"Q,a,b,c,d,A,1\n', "the file is not valid CSV"),
    (f"{HEADER}\nCaf\xe9,a,b,c,d,A,1\n".encode("latin-1"), "the file is not UTF-8 text (bad byte at line 2)"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_file_imports_nothing_and_names_the_problem(tmp_path, exam, content, message):
    with pytest.raises(CommandError) as raised:
        run("import_questions", str(exam.pk), write(tmp_path, content))

    assert message in str(raised.value)
    assert "nothing was imported" in str(raised.value)
    assert not Question.objects.exists()


@pytest.mark.parametrize(("content", "message"), BAD_FILES[:3])
def test_a_bad_file_creates_no_exam_either(tmp_path, content, message):
    with pytest.raises(CommandError, match="nothing was imported"):
        run("import_questions", "--create-exam", "Never", "--duration", "5", write(tmp_path, content))

    assert not Exam.objects.filter(title="Never").exists()


def test_every_bad_row_is_named_at_once(tmp_path, exam):
    content = f"{HEADER}\n,a,b,c,d,A,1\n{GOOD_ROW}\nQ,a,b,c,d,X,0\n"

    with pytest.raises(CommandError) as raised:
        run("import_questions", str(exam.pk), write(tmp_path, content))

    message = str(raised.value)
    assert "row 2: text is empty" in message
    assert "row 4: correct_option must be one of A, B, C, D (got 'X')" in message
    assert "row 4: marks must be a positive whole number (got '0')" in message
    assert "row 3" not in message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["987654321", "{file}"], "exam 987654321 does not exist"),
        (["abc", "{file}"], "expected a positive whole number, got 'abc'"),
        (["{file}"], "give the exam id, or --create-exam TITLE --duration MINUTES"),
        (["--create-exam", "T", "{file}"], "--create-exam needs --duration MINUTES"),
        (["--create-exam", "T", "--duration", "0", "{file}"], "expected a positive whole number, got '0'"),
        (["--create-exam", " ", "--duration", "5", "{file}"], "--create-exam needs a title of 1 to 200 characters"),
        (["1", "--create-exam", "T", "--duration", "5", "{file}"], "give either an exam id or --create-exam, not both"),
        (["{exam}", "--duration", "5", "{file}"], "--duration and --publish go with --create-exam"),
        (["{exam}", "/no/such/file.csv"], "cannot read /no/such/file.csv"),
        (["{exam}", "{file}", "{file}"], "expected [exam_id] file, got 3 arguments"),
    ],
)
def test_bad_arguments(tmp_path, exam, args, message):
    path = write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n")
    args = [arg.format(file=path, exam=exam.pk) for arg in args]

    with pytest.raises(CommandError, match=re.escape(message)):
        run("import_questions", *args)

    assert not Question.objects.exists()


def test_a_bad_file_exits_non_zero_naming_the_row(tmp_path):
    """As an author runs it: a shell exit status and a message on stderr."""
    path = write(tmp_path, f"{HEADER}\n{GOOD_ROW}\nQ,a,b,c,d,Z,1\n")

    result = subprocess.run(
        [sys.executable, "manage.py", "import_questions", "--create-exam", "T", "--duration", "5", path],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )

    assert result.returncode == 1
    assert "row 3: correct_option must be one of A, B, C, D (got 'Z')" in result.stderr


def demo_exam() -> Exam:
    return Exam.objects.get(title="Python Fundamentals")


def test_load_demo_loads_the_exam_and_the_accounts():
    output = run("load_demo")

    exam = demo_exam()
    assert (exam.duration_minutes, exam.is_published, exam.questions.count()) == (30, True, 10)
    student = authenticate(username="student", password="student-pass-2026")
    proctor = authenticate(username="proctor", password="proctor-pass-2026")
    assert student is not None and not student.is_staff
    assert proctor is not None and proctor.is_staff and not proctor.is_superuser
    assert proctor.has_perm("attempts.change_exam") and proctor.has_perm("attempts.view_attempt")
    for line in (
        "student / student-pass-2026",
        "proctor / proctor-pass-2026",
        "/login/",
        f"/exam/{exam.pk}/",
        f"/proctor/exams/{exam.pk}/",
        "/api/docs/",
        "curl -s -X POST http://127.0.0.1:8000/api/token/",
    ):
        assert line in output, line


def test_load_demo_questions_come_from_the_demo_csv():
    run("load_demo")

    rows = DEMO_CSV.read_text(encoding="utf-8").splitlines()[1:]
    assert demo_exam().questions.count() == len(rows) == 10
    assert demo_exam().questions.filter(text="What is Python?", correct_option="B").exists()


def test_load_demo_twice_is_idempotent():
    run("load_demo")
    first = (
        list(Exam.objects.values_list("id", "title", "duration_minutes", "is_published")),
        list(Question.objects.values_list("id", "text", "correct_option", "marks")),
        list(get_user_model().objects.values_list("id", "username", "is_staff")),
    )

    output = run("load_demo")

    again = (
        list(Exam.objects.values_list("id", "title", "duration_minutes", "is_published")),
        list(Question.objects.values_list("id", "text", "correct_option", "marks")),
        list(get_user_model().objects.values_list("id", "username", "is_staff")),
    )
    assert again == first
    assert "already there" in output


def test_load_demo_resets_the_demo_passwords_and_publishes_the_exam():
    run("load_demo")
    student = get_user_model().objects.get(username="student")
    student.set_password("something-else")
    student.save()
    Exam.objects.filter(pk=demo_exam().pk).update(is_published=False)

    run("load_demo")

    assert authenticate(username="student", password="student-pass-2026") is not None
    assert demo_exam().is_published


# --- Time rules: --opens-at, --closes-at, --max-attempts ---


def test_create_exam_with_time_rules(tmp_path):
    output = run(
        "import_questions",
        "--create-exam",
        "Timed",
        "--duration",
        "45",
        "--opens-at",
        "2026-12-01T09:00",  # no offset: UTC
        "--closes-at",
        "2026-12-01T12:30+01:00",
        "--max-attempts",
        "2",
        write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n"),
    )

    exam = Exam.objects.get(title="Timed")
    assert exam.opens_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert exam.closes_at == datetime(2026, 12, 1, 11, 30, tzinfo=UTC)
    assert exam.max_attempts == 2
    assert "Time rules: opens 2026-12-01 09:00 UTC, closes 2026-12-01 11:30 UTC, at most 2 attempt(s)." in output


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01 09:00", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T04:00-05:00", datetime(2026, 12, 1, 9, tzinfo=UTC)),
    ],
)
def test_the_iso_8601_forms_accepted(tmp_path, exam, value, expected):
    run("import_questions", str(exam.pk), "--opens-at", value, write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n"))

    assert Exam.objects.get(pk=exam.pk).opens_at == expected


def test_update_an_exams_rules_and_remove_them_with_none(tmp_path, exam):
    path = write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n")
    run("import_questions", str(exam.pk), "--closes-at", "2026-12-01T11:00Z", "--max-attempts", "3", path)
    exam.refresh_from_db()
    assert (exam.opens_at, exam.closes_at, exam.max_attempts) == (None, datetime(2026, 12, 1, 11, tzinfo=UTC), 3)

    run("import_questions", str(exam.pk), "--opens-at", "2026-12-01T10:00Z", path)  # the rest stays
    exam.refresh_from_db()
    assert (exam.opens_at, exam.closes_at, exam.max_attempts) == (
        datetime(2026, 12, 1, 10, tzinfo=UTC),
        datetime(2026, 12, 1, 11, tzinfo=UTC),
        3,
    )

    run("import_questions", str(exam.pk), "--opens-at", "none", "--closes-at", "None", "--max-attempts", "none", path)
    exam.refresh_from_db()
    assert (exam.opens_at, exam.closes_at, exam.max_attempts) == (None, None, None)
    assert exam.questions.count() == 3


ISO_HINT = "expects an ISO 8601 date and time such as 2026-12-01T09:00 (UTC) or 2026-12-01T10:00+01:00, or 'none'"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--opens-at", "tomorrow"], f"--opens-at {ISO_HINT}; got 'tomorrow'"),
        (["--closes-at", "2026-13-01"], f"--closes-at {ISO_HINT}; got '2026-13-01'"),
        (["--closes-at", "01/12/2026 09:00"], f"--closes-at {ISO_HINT}"),
        (["--opens-at", ""], f"--opens-at {ISO_HINT}; got ''"),
        (["--opens-at", "1900-01-01T00:00"], f"--opens-at {ISO_HINT}"),
        (["--opens-at", "9999-12-31T23:00-05:00"], f"--opens-at {ISO_HINT}"),
        (["--max-attempts", "0"], "--max-attempts expected a positive whole number, got '0' (or 'none')"),
        (["--max-attempts", "-1"], "--max-attempts expected a positive whole number, got '-1'"),
        (["--max-attempts", "1.5"], "--max-attempts expected a positive whole number, got '1.5'"),
        (["--max-attempts", "two"], "--max-attempts expected a positive whole number, got 'two'"),
        (
            ["--opens-at", "2026-12-01T11:00", "--closes-at", "2026-12-01T09:00"],
            "--closes-at must be after --opens-at: the exam would open 2026-12-01 11:00 UTC and close 2026-12-01 09:00",
        ),
        (
            ["--opens-at", "2026-12-01T09:00", "--closes-at", "2026-12-01T09:00"],
            "--closes-at must be after --opens-at",
        ),
    ],
)
def test_bad_time_rules_import_nothing_and_change_nothing(tmp_path, exam, args, message):
    path = write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n")

    for target in ([str(exam.pk)], ["--create-exam", "Never", "--duration", "5"]):
        with pytest.raises(CommandError, match=re.escape(message)):
            run("import_questions", *target, *args, path)

    assert not Question.objects.exists() and not Exam.objects.filter(title="Never").exists()
    exam.refresh_from_db()
    assert (exam.opens_at, exam.closes_at, exam.max_attempts) == (None, None, None)


def test_closes_at_before_the_exams_own_opens_at(tmp_path, exam):
    exam.opens_at = datetime(2026, 12, 1, 10, tzinfo=UTC)
    exam.save()

    with pytest.raises(CommandError, match="would open 2026-12-01 10:00 UTC and close 2026-12-01 09:00 UTC"):
        run(
            "import_questions",
            str(exam.pk),
            "--closes-at",
            "2026-12-01T09:00",
            write(tmp_path, f"{HEADER}\n{GOOD_ROW}\n"),
        )

    exam.refresh_from_db()
    assert exam.closes_at is None and not exam.questions.exists()


def test_a_bad_file_leaves_the_rules_as_they_were(tmp_path, exam):
    with pytest.raises(CommandError, match="nothing was imported"):
        run("import_questions", str(exam.pk), "--max-attempts", "4", write(tmp_path, f"{HEADER}\nQ,a,b,c,d,E,1\n"))

    exam.refresh_from_db()
    assert exam.max_attempts is None


def test_load_demo_time_rules_keep_the_exam_startable():
    run("load_demo")
    exam = demo_exam()
    assert (exam.warning_minutes, exam.opens_at, exam.closes_at, exam.max_attempts) == ([5, 1], None, None, None)
    # An author closed it and moved its opening to tomorrow, and changed its warnings.
    now = timezone.now()
    Exam.objects.filter(pk=exam.pk).update(
        opens_at=now + timedelta(days=1), closes_at=now - timedelta(hours=1), warning_minutes=[10]
    )

    output = run("load_demo")

    exam.refresh_from_db()
    assert (exam.opens_at, exam.closes_at, exam.warning_minutes) == (None, None, [10])
    assert "already there" in output


def test_load_demo_keeps_a_window_that_is_open_now():
    run("load_demo")
    now = timezone.now()
    window = (now - timedelta(hours=1), now + timedelta(hours=1))
    Exam.objects.filter(pk=demo_exam().pk).update(opens_at=window[0], closes_at=window[1])

    run("load_demo")

    exam = demo_exam()
    assert (exam.opens_at, exam.closes_at) == window
