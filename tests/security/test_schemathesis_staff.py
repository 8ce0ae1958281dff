"""schemathesis over the staff routes of /api/schema/, as a proctor allowed on the exam: zero failures.

The student run (test_schemathesis.py) sees only 403s here; this one reaches the parsing and the
services behind every staff route with whatever schemathesis generates. Path ids are drawn from
real ones (the exam, an ongoing and an ended attempt, a student) and ids that exist nowhere.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from tests.factories import access_token_for, api_client, make_exam, make_user, start_attempt
from tests.helpers import submit
from tests.security.test_schemathesis import MAX_EXAMPLES, _with_real_ids, no_connection_closing  # noqa: F401

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()).include(tag="proctor")
CURRENT_IDS: dict = {}


@pytest.fixture
def proctor_ids(db, fast_passwords):
    """A proctor of an exam with an ongoing and an ended attempt; yields the proctor's token."""
    proctor = make_user(is_staff=True)
    exam = make_exam(questions=2)
    exam.proctors.set([proctor])
    student = make_user()
    ongoing = start_attempt(student, exam)
    ended = start_attempt(make_user(), exam)
    submit(api_client(ended.user), ended.pk)
    CURRENT_IDS.clear()
    CURRENT_IDS.update(
        {
            "attempt_id": [ongoing.pk, ended.pk, 2**62],
            "exam_id": [exam.pk, 2**62],
            "user_id": [student.pk, ended.user_id, 2**62],
        }
    )
    yield access_token_for(proctor)
    CURRENT_IDS.clear()


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _with_real_ids(path_parameters, CURRENT_IDS)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_staff_api_conforms_to_its_schema(case, proctor_ids, no_connection_closing):  # noqa: F811
    case.call_and_validate(headers={"Authorization": f"Bearer {proctor_ids}"})
