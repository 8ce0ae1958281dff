"""Malformed input on every endpoint: a 4xx with a JSON body that names the problem, never a 5xx."""

from __future__ import annotations

import pytest

from attempts.models import Answer

pytestmark = pytest.mark.django_db

# Path ids that are not positive integers a database could hold.
BAD_PATH_IDS = [
    ("abc", "A valid integer is required."),
    ("1.5", "A valid integer is required."),
    ("1e3", "A valid integer is required."),
    ("-1", "A valid integer is required."),
    ("0", "Ensure this value is greater than or equal to 1."),
    ("true", "A valid integer is required."),
    ("null", "A valid integer is required."),
    ("%20", "A valid integer is required."),
    ("%D9%A7", "A valid integer is required."),  # an Arabic-Indic seven: int() takes it, we do not
    ("9223372036854775808", "Ensure this value is less than or equal to 9223372036854775807."),
    ("9" * 40, "Ensure this value is less than or equal to 9223372036854775807."),
    ("9" * 1001, "String value too large."),
]
PATH_ROUTES = [
    ("post", "/api/exam/timer/start/{}/", "exam_id"),
    ("get", "/api/exam/timer/remaining/{}/", "attempt_id"),
    ("post", "/api/exam/timer/submit/{}/", "attempt_id"),
    ("get", "/api/exam/timer/questions/{}/", "attempt_id"),
]


@pytest.mark.parametrize(("method", "template", "field"), PATH_ROUTES)
@pytest.mark.parametrize(("raw", "message"), BAD_PATH_IDS)
def test_bad_path_id_400_naming_the_field(student, client_for, method, template, field, raw, message):
    response = getattr(client_for(student), method)(template.format(raw))

    assert response.status_code == 400, response.content
    assert response.json() == {"error": f"{field}: {message}", "code": "invalid_input", "fields": {field: [message]}}


@pytest.mark.parametrize(("method", "template", "field"), PATH_ROUTES)
def test_largest_id_is_just_not_found(student, client_for, method, template, field):
    response = getattr(client_for(student), method)(template.format(2**63 - 1))

    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})


@pytest.mark.parametrize(("method", "template", "field"), PATH_ROUTES)
def test_a_body_on_a_bodyless_route_is_ignored(exam, student, client_for, method, template, field):
    """Only submit-answer reads a body: garbage sent to the others changes nothing and breaks nothing."""
    client = client_for(student)
    attempt_id = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    target = exam.pk if field == "exam_id" else attempt_id

    response = client.generic(method.upper(), template.format(target), "{not json", content_type="application/json")

    assert response.status_code in (200, 201)


@pytest.fixture
def ids(exam, student, client_for):
    """A real attempt and question, so that only the malformed part is wrong."""
    attempt_id = client_for(student).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    return {"attempt_id": attempt_id, "question_id": exam.questions.first().pk, "selected_option": "A"}


INVALID_INTEGER = "A valid integer is required."
INVALID_OPTION = '"{}" is not a valid choice.'
# (what to change in a valid body, the field named, its message); None removes the key.
BAD_FIELDS = [
    ({"attempt_id": None}, "attempt_id", "This field may not be null."),
    ({"attempt_id": "1"}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": "abc"}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": True}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": False}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": 1.5}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": 1.0}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": [1]}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": {"id": 1}}, "attempt_id", INVALID_INTEGER),
    ({"attempt_id": -5}, "attempt_id", "Ensure this value is greater than or equal to 1."),
    ({"attempt_id": 0}, "attempt_id", "Ensure this value is greater than or equal to 1."),
    ({"attempt_id": 2**63}, "attempt_id", "Ensure this value is less than or equal to 9223372036854775807."),
    ({"attempt_id": 10**100}, "attempt_id", "Ensure this value is less than or equal to 9223372036854775807."),
    ({"question_id": None}, "question_id", "This field may not be null."),
    ({"question_id": "7"}, "question_id", INVALID_INTEGER),
    ({"question_id": True}, "question_id", INVALID_INTEGER),
    ({"question_id": 2.5}, "question_id", INVALID_INTEGER),
    ({"question_id": -1}, "question_id", "Ensure this value is greater than or equal to 1."),
    ({"question_id": 2**64}, "question_id", "Ensure this value is less than or equal to 9223372036854775807."),
    ({"selected_option": "E"}, "selected_option", INVALID_OPTION.format("E")),
    ({"selected_option": "a"}, "selected_option", INVALID_OPTION.format("a")),
    ({"selected_option": "AB"}, "selected_option", INVALID_OPTION.format("AB")),
    ({"selected_option": " A"}, "selected_option", INVALID_OPTION.format(" A")),
    ({"selected_option": ""}, "selected_option", INVALID_OPTION.format("")),
    ({"selected_option": 1}, "selected_option", INVALID_OPTION.format("1")),
    ({"selected_option": True}, "selected_option", INVALID_OPTION.format("True")),
    ({"selected_option": None}, "selected_option", "This field may not be null."),
    ({"selected_option": ["A"]}, "selected_option", INVALID_OPTION.format("['A']")),
]
MISSING = [("attempt_id",), ("question_id",), ("selected_option",)]


@pytest.mark.parametrize(("change", "field", "message"), BAD_FIELDS)
def test_bad_answer_field_400_naming_it(ids, student, client_for, change, field, message):
    body = {**ids, **change}

    response = client_for(student).post("/api/exam/timer/submit-answer/", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == {"error": f"{field}: {message}", "code": "invalid_input", "fields": {field: [message]}}
    assert not Answer.objects.exists()


@pytest.mark.parametrize(("missing",), MISSING)
def test_missing_answer_field_400_naming_it(ids, student, client_for, missing):
    body = {key: value for key, value in ids.items() if key != missing}

    response = client_for(student).post("/api/exam/timer/submit-answer/", body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": f"{missing}: This field is required.",
        "code": "invalid_input",
        "fields": {missing: ["This field is required."]},
    }


def test_every_problem_is_named_at_once(student, client_for):
    response = client_for(student).post("/api/exam/timer/submit-answer/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"attempt_id", "question_id", "selected_option"}


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"attempt_id": 1,}', "application/json"),
        ("", "application/json"),
        ('{"attempt_id": ' + "9" * 5000 + "}", "application/json"),  # past Python's int-parsing limit
        ("\xff\xfe", "application/json"),
    ],
)
def test_body_that_is_not_json_400(ids, student, client_for, raw, content_type):
    response = client_for(student).post("/api/exam/timer/submit-answer/", raw, content_type=content_type)

    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]
    assert not Answer.objects.exists()


@pytest.mark.parametrize("body", ["[]", '[{"attempt_id": 1, "question_id": 1, "selected_option": "A"}]', '"A"', "7"])
def test_body_that_is_not_an_object_400(ids, student, client_for, body):
    response = client_for(student).post("/api/exam/timer/submit-answer/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"non_field_errors": [response.json()["error"]]}
    assert "Expected a dictionary" in response.json()["error"]


def test_form_encoded_body_415(ids, student, client_for):
    response = client_for(student).post("/api/exam/timer/submit-answer/", ids)  # multipart, not JSON

    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/exam/timer/start/1/"),
        ("delete", "/api/exam/timer/remaining/1/"),
        ("get", "/api/exam/timer/submit-answer/"),
        ("put", "/api/exam/timer/submit/1/"),
        ("post", "/api/exam/timer/questions/1/"),
    ],
)
def test_wrong_method_405(student, client_for, method, path):
    response = getattr(client_for(student), method)(path)

    assert response.status_code == 405
    assert "not allowed" in response.json()["error"]
