"""The authoring commands: import_questions (all or nothing, errors naming the row) and load_demo (idempotent)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

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
