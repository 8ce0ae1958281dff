"""Fixtures of the security tests: unique names, victims and intruders, an exam easy to spot."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import make_exam, make_user


@pytest.fixture
def unique_name():
    """A username no other test (of any engineer, in any database) uses."""
    return f"sec-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def victim(db):
    return make_user(f"victim-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def intruder(db):
    return make_user(f"intruder-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def secret_exam(db):
    """An exam whose title and texts are easy to spot in a response body that should not hold them."""
    exam = make_exam(questions=4, duration_minutes=30, title=f"Secret exam {uuid.uuid4().hex[:8]}")
    for number, question in enumerate(exam.questions.all()):
        question.text = f"Secret question {number} {uuid.uuid4().hex[:6]}?"
        question.option_a, question.option_b = f"secret-a-{number}", f"secret-b-{number}"
        question.option_c, question.option_d = f"secret-c-{number}", f"secret-d-{number}"
        question.save()
    return exam
