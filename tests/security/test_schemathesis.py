"""schemathesis over /api/schema/: every documented operation, its standard checks, zero failures.

In-process through Django's WSGI handler, inside the test's database transaction, as a student
with real data: path and body ids are drawn from that student's attempts, another student's
attempt, an exam and ids that exist nowhere, besides whatever schemathesis generates.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData

from attempts import errors
from attempts.apis.serializers import MAX_ID
from tests.factories import access_token_for, api_client, make_exam, make_user

# Enough to find the usual mismatches, few enough to keep `make test` fast (~8 operations).
MAX_EXAMPLES = 50


@pytest.fixture
def no_connection_closing():
    """Keep Django from closing the test's connection after each request, as its test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def real_ids(db):
    """A student with an ongoing and a completed attempt, another student's attempt; yields the token."""
    student, other = make_user(), make_user()
    exam, second_exam, unpublished = make_exam(questions=3), make_exam(questions=2), make_exam(is_published=False)
    client = api_client(student)
    ongoing = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    finished = client.post(f"/api/exam/timer/start/{second_exam.pk}/").json()["attempt_id"]
    client.post(f"/api/exam/timer/submit/{finished}/")
    foreign = api_client(other).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    CURRENT_IDS.clear()
    CURRENT_IDS.update(
        {
            "attempt_id": [ongoing, finished, foreign, 2**62],
            "exam_id": [exam.pk, second_exam.pk, unpublished.pk, 2**62],
            "question_id": [*exam.questions.values_list("pk", flat=True), second_exam.questions.first().pk, 2**62],
        }
    )
    yield access_token_for(student)
    CURRENT_IDS.clear()


def _is_valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _with_real_ids(values: dict, pools: dict) -> st.SearchStrategy:
    """`values` as generated, or with its integer ids swapped for real ones (negative cases stay negative)."""
    if not isinstance(values, dict):
        return st.just(values)
    # Only ids that are valid already: swapping an out-of-range one would turn a negative case positive.
    swappable = [key for key in pools if _is_valid_id(values.get(key))]
    if not swappable:
        return st.just(values)
    real = st.fixed_dictionaries({key: st.sampled_from(pools[key]) for key in swappable})
    return st.one_of(st.just(values), real.map(lambda ids: {**values, **ids}))


# Loaded once at collection, in-process (the schema view needs no database). The lazy
# `schemathesis.pytest.from_fixture` would be simpler, but it breaks on pytest 9.2 (it sets the
# node's private `_nodeid`).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# The ids of the running test, filled by its `real_ids` fixture, read by the hooks below.
CURRENT_IDS: dict = {}


# The API's 400s for a rule of the exam: a schema-valid request can still meet one
# (an unpublished exam, a finished attempt). Only these are not positive-data failures.
EXAM_RULE_ERRORS = {
    errors.ExamNotPublished.message,
    errors.PreviousAttemptTimedOut.message,
    errors.AttemptAlreadySubmitted.message,
    errors.QuestionNotInExam.message,
}


@schema.hook
def filter_failure(context, failure, case, response):
    if isinstance(failure, RejectedPositiveData) and response.status_code == 400:
        return response.json().get("error") not in EXAM_RULE_ERRORS
    return True


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _with_real_ids(path_parameters, CURRENT_IDS)


@schema.hook
def flatmap_body(context, body):
    return _with_real_ids(body, CURRENT_IDS)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, real_ids, no_connection_closing):
    case.call_and_validate(headers={"Authorization": f"Bearer {real_ids}"})
