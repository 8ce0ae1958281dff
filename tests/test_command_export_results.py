"""python manage.py export_results <exam_id> [--output FILE]: the same CSV as the staff API's results.csv."""

from __future__ import annotations

import re
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from attempts.models import Attempt
from tests.e2e.servers import subprocess_env
from tests.factories import answer_correctly, api_client, make_exam, make_user, start_attempt
from tests.helpers import PROCTOR_API, UNKNOWN_ID, extend, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

HEADER = (
    "attempt_id,username,status,started_at,ended_at,deadline_at,score,total_marks,percentage,answered,"
    "total_questions,time_limit_seconds,change_seconds,offline_seconds"
)


def export(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_results", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def api_csv(exam_id: int) -> str:
    response = api_client(make_user(is_staff=True)).get(f"{PROCTOR_API}/exams/{exam_id}/results.csv")
    assert response.status_code == 200
    return response.content.decode("utf-8")


@pytest.fixture
def exam_with_results():
    """An ongoing attempt (extended), a submitted one, and a student whose name a spreadsheet would run."""
    exam = make_exam(questions=4)
    ongoing = start_attempt(make_user("export-ongoing"), exam)
    done = start_attempt(make_user("=SUM(A1)"), exam)
    answer_correctly(done.user, done, 3)
    submit(api_client(done.user), done.pk)
    extend(api_client(make_user(is_staff=True)), ongoing.pk, seconds=90)
    start_attempt(make_user(), make_exam())  # another exam's: not in the file
    pages_connected(exam)
    return exam


def pages_connected(exam) -> None:
    """The ongoing attempts' pages connected: their offline time stands still, so two reads give the same bytes."""
    Attempt.objects.filter(exam=exam, status=Attempt.Status.ONGOING).update(connected=True)


def test_stdout_is_the_apis_csv(exam_with_results):
    out, err = export(str(exam_with_results.pk))

    assert out == api_csv(exam_with_results.pk)
    lines = out.splitlines()
    assert lines[0] == HEADER
    assert [line.split(",")[1:3] for line in lines[1:]] == [["export-ongoing", "ongoing"], ["'=SUM(A1)", "completed"]]
    assert err == ""


def test_output_writes_the_same_bytes_to_a_file(exam_with_results, tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("an older export\n")

    out, err = export(str(exam_with_results.pk), "--output", str(target))

    assert target.read_bytes() == api_csv(exam_with_results.pk).encode("utf-8")
    assert out == ""
    assert f"Wrote 2 attempt(s) of exam {exam_with_results.pk}" in err
    assert [path.name for path in tmp_path.iterdir()] == ["results.csv"]  # no temporary file left behind


def test_an_exam_without_attempts_is_the_header_alone():
    exam = make_exam(questions=1)

    out, _ = export(str(exam.pk))

    assert out.splitlines() == [HEADER]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(UNKNOWN_ID)], f"There is no exam {UNKNOWN_ID}."),
        (["abc"], "exam_id: expected a positive whole number, got 'abc'"),
        (["0"], "exam_id: expected a positive whole number, got '0'"),
    ],
)
def test_bad_exam_ids(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        export(*args)


def test_an_output_in_a_missing_folder_is_refused(tmp_path):
    exam = make_exam(questions=1)
    with pytest.raises(CommandError, match=r"the folder .* does not exist"):
        export(str(exam.pk), "--output", str(tmp_path / "nowhere" / "results.csv"))


@pytest.mark.django_db(transaction=True)
def test_an_unknown_exam_exits_non_zero_with_the_reason_and_writes_nothing(tmp_path):
    """As an operator runs it: a shell exit status, the reason on stderr, no file."""
    target = tmp_path / "results.csv"
    result = subprocess.run(
        [sys.executable, "manage.py", "export_results", str(UNKNOWN_ID), "--output", str(target)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )

    assert result.returncode == 1
    assert f"There is no exam {UNKNOWN_ID}." in result.stderr
    assert result.stdout == ""
    assert not target.exists()


@pytest.mark.django_db(transaction=True)
def test_stdout_of_the_real_command_can_be_piped(tmp_path):
    exam = make_exam(questions=2)
    start_attempt(make_user("piped"), exam)
    pages_connected(exam)
    result = subprocess.run(
        [sys.executable, "manage.py", "export_results", str(exam.pk)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        timeout=60,
        env=subprocess_env(),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == api_csv(exam.pk).encode("utf-8")
