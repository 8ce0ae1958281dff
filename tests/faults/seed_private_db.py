"""Run as a process against another database: `python -m tests.faults.seed_private_db <students>`.

Makes an exam of two questions and `<students>` students, and prints, as one JSON line,
the exam id, the ids of its questions (with their correct options) and each student's id
and access token. The test process cannot write to a database other than its own test
database, so a test that runs the stack on a private MariaDB seeds it through this.
"""

from __future__ import annotations

import json
import sys

import django


def main(students: int) -> None:
    django.setup()
    from tests.factories import access_token_for, make_exam, make_user

    exam = make_exam(questions=2, duration_minutes=60)
    users = [make_user(f"private-db-student-{number}") for number in range(students)]
    print(
        json.dumps(
            {
                "exam_id": exam.pk,
                "questions": [[q.pk, q.correct_option] for q in exam.questions.order_by("id")],
                "students": [[user.pk, access_token_for(user)] for user in users],
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
