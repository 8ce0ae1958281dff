"""Bad input on every staff route: a 400 `invalid_input` naming the field, never a 500, and nothing changed."""

from __future__ import annotations

import pytest

from attempts.models import Accommodation, Announcement, Attempt, AttemptEvent
from tests.factories import api_client, start_attempt
from tests.helpers import PROCTOR_API, submit
from tests.test_api_malformed import BAD_PATH_IDS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

BOTH = "Give minutes or seconds, not both."
NEITHER = "Give minutes or seconds."
NOT_INTEGER = "A valid integer is required."
NOT_TEXT = "Not a valid string."
TOO_LONG = "Ensure this field has no more than 500 characters."
MULTIPLIER = "A number from 1.00 to 4.00 with at most two decimals."

# (body, field, message): every one refused by extend, extend-exam and reopen alike.
BAD_TIME_CHANGES = [
    ({}, "minutes", NEITHER),
    ({"reason": "no amount"}, "minutes", NEITHER),
    ({"minutes": 5, "seconds": 30}, "minutes", BOTH),
    ({"minutes": 0}, "minutes", "Ensure this value is greater than or equal to 1."),
    ({"seconds": 0}, "seconds", "Ensure this value is greater than or equal to 1."),
    ({"minutes": -5}, "minutes", "Ensure this value is greater than or equal to 1."),
    ({"seconds": -1}, "seconds", "Ensure this value is greater than or equal to 1."),
    ({"minutes": 1441}, "minutes", "Ensure this value is less than or equal to 1440."),
    ({"seconds": 86401}, "seconds", "Ensure this value is less than or equal to 86400."),
    ({"minutes": 10**30}, "minutes", "Ensure this value is less than or equal to 1440."),
    ({"seconds": 10**1000}, "seconds", "Ensure this value is less than or equal to 86400."),
    ({"minutes": "10"}, "minutes", NOT_INTEGER),
    ({"minutes": "ten"}, "minutes", NOT_INTEGER),
    ({"minutes": 1.5}, "minutes", NOT_INTEGER),
    ({"minutes": 10.0}, "minutes", NOT_INTEGER),
    ({"seconds": 1e3}, "seconds", NOT_INTEGER),
    ({"minutes": True}, "minutes", NOT_INTEGER),
    ({"seconds": False}, "seconds", NOT_INTEGER),
    ({"minutes": None}, "minutes", "This field may not be null."),
    ({"minutes": [10]}, "minutes", NOT_INTEGER),
    ({"minutes": {"value": 10}}, "minutes", NOT_INTEGER),
    ({"minutes": 5, "seconds": "x"}, "seconds", NOT_INTEGER),
    ({"minutes": 5, "reason": "x" * 501}, "reason", TOO_LONG),
    ({"minutes": 5, "reason": 5}, "reason", NOT_TEXT),
    ({"minutes": 5, "reason": None}, "reason", "This field may not be null."),
    ({"minutes": 5, "reason": "a\x00b"}, "reason", "Null characters are not allowed."),
]
TIME_ROUTES = {
    "extend": "attempts/{ongoing}/extend/",
    "extend exam": "exams/{exam}/extend/",
    "reopen": "attempts/{ended}/reopen/",
}
NOT_AN_OBJECT = [([], "list"), ("minutes", "str"), (5, "int")]


@pytest.fixture
def staff(proctor):
    return api_client(proctor)


@pytest.fixture
def ids(exam, attempt, other_student):
    ended = start_attempt(other_student, exam)
    submit(api_client(other_student), ended.pk)
    return {"exam": exam.pk, "ongoing": attempt.pk, "ended": ended.pk, "student": other_student.pk}


def state() -> tuple:
    return (
        list(Attempt.objects.order_by("pk").values_list("status", "deadline_at", "change_seconds", "score")),
        AttemptEvent.objects.count(),
        Announcement.objects.count(),
        list(Accommodation.objects.values_list("pk", "extra_minutes", "time_multiplier", "extra_attempts", "note")),
    )


def assert_names(response, field: str, message: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["error"] == f"{field}: {message}"
    assert message in body["fields"][field]


def send(client, method: str, path: str, body):
    return getattr(client, method)(f"{PROCTOR_API}/{path}", body, format="json")


@pytest.mark.parametrize("route", list(TIME_ROUTES))
@pytest.mark.parametrize(("body", "field", "message"), BAD_TIME_CHANGES)
def test_bad_time_change(staff, ids, route, body, field, message):
    before = state()

    response = send(staff, "post", TIME_ROUTES[route].format(**ids), body)

    assert_names(response, field, message)
    assert state() == before


@pytest.mark.parametrize("route", list(TIME_ROUTES))
@pytest.mark.parametrize(("body", "kind"), NOT_AN_OBJECT)
def test_a_body_that_is_not_an_object(staff, ids, route, body, kind):
    response = send(staff, "post", TIME_ROUTES[route].format(**ids), body)

    assert response.status_code == 400
    assert response.json()["fields"] == {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}


@pytest.mark.parametrize("route", list(TIME_ROUTES))
def test_a_body_that_is_not_json(staff, ids, route):
    response = staff.generic(
        "POST", f"{PROCTOR_API}/{TIME_ROUTES[route].format(**ids)}", "{minutes: 5", "application/json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "parse_error")


@pytest.mark.parametrize(
    "body", [{"minutes": 1440}, {"seconds": 86400}, {"seconds": 1}, {"minutes": 1, "reason": "x" * 500}]
)
def test_the_bounds_themselves_are_accepted(staff, ids, body):
    assert send(staff, "post", TIME_ROUTES["extend"].format(**ids), body).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "This field is required."),
        ({"message": ""}, "This field may not be blank."),
        ({"message": "   \n\t "}, "This field may not be blank."),
        ({"message": "x" * 501}, TOO_LONG),
        ({"message": 5}, NOT_TEXT),
        ({"message": True}, NOT_TEXT),
        ({"message": ["hello"]}, NOT_TEXT),
        ({"message": None}, "This field may not be null."),
        ({"message": "a\x00b"}, "Null characters are not allowed."),
    ],
)
def test_bad_announcement(staff, ids, body, message):
    response = send(staff, "post", f"exams/{ids['exam']}/announcements/", body)

    assert_names(response, "message", message)
    assert not Announcement.objects.exists()


def test_500_characters_as_sent_are_accepted_and_stored_without_the_white_space_around(staff, ids):
    path = f"exams/{ids['exam']}/announcements/"

    accepted = send(staff, "post", path, {"message": "  " + "x" * 497 + "\n"})
    refused = send(staff, "post", path, {"message": "  " + "x" * 498 + "\n"})

    assert accepted.status_code == 201 and Announcement.objects.get().message == "x" * 497
    assert_names(refused, "message", TOO_LONG)


@pytest.mark.parametrize(
    ("body", "message"),
    [({"reason": "x" * 501}, TOO_LONG), ({"reason": 5}, NOT_TEXT), ({"reason": None}, "This field may not be null.")],
)
def test_bad_end_reason(staff, ids, body, message):
    assert_names(send(staff, "post", f"attempts/{ids['ongoing']}/end/", body), "reason", message)
    assert Attempt.objects.get(pk=ids["ongoing"]).status == "ongoing"


BAD_ACCOMMODATIONS = [
    ({"extra_minutes": -1}, "extra_minutes", "Ensure this value is greater than or equal to 0."),
    ({"extra_minutes": 1441}, "extra_minutes", "Ensure this value is less than or equal to 1440."),
    ({"extra_minutes": "5"}, "extra_minutes", NOT_INTEGER),
    ({"extra_minutes": 1.5}, "extra_minutes", NOT_INTEGER),
    ({"extra_minutes": True}, "extra_minutes", NOT_INTEGER),
    ({"extra_minutes": None}, "extra_minutes", "This field may not be null."),
    ({"time_multiplier": 0.99}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "0"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": 4.01}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": 10}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "1e9"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "1e30"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": 10**30}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": 10**400}, "time_multiplier", MULTIPLIER),  # too big for a float: was a 500
    ({"time_multiplier": "-1e30"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "1e-30"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": 1.555}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "abc"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "NaN"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "Infinity"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": True}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": [1.5]}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": None}, "time_multiplier", "This field may not be null."),
    ({"extra_attempts": -1}, "extra_attempts", "Ensure this value is greater than or equal to 0."),
    ({"extra_attempts": 101}, "extra_attempts", "Ensure this value is less than or equal to 100."),
    ({"extra_attempts": "1"}, "extra_attempts", NOT_INTEGER),
    ({"note": "x" * 501}, "note", TOO_LONG),
    ({"note": 5}, "note", NOT_TEXT),
    ({"note": "a\x00b"}, "note", "Null characters are not allowed."),
    ({"time_multiplier": " 1.5"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "1.5\n"}, "time_multiplier", MULTIPLIER),  # `$` alone took it, the schema does not
    ({"time_multiplier": "01.50"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": "1.500"}, "time_multiplier", MULTIPLIER),
    ({"time_multiplier": 1.0000001}, "time_multiplier", MULTIPLIER),
]
ACCOMMODATION_ROUTES = {"per exam": "exams/{exam}/accommodations/{student}/", "all exams": "accommodations/{student}/"}


@pytest.mark.parametrize("route", list(ACCOMMODATION_ROUTES))
@pytest.mark.parametrize(("body", "field", "message"), BAD_ACCOMMODATIONS)
def test_bad_accommodation(staff, ids, route, body, field, message):
    response = send(staff, "put", ACCOMMODATION_ROUTES[route].format(**ids), body)

    assert_names(response, field, message)
    assert not Accommodation.objects.exists()


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ({"time_multiplier": 4}, ("4.00", 0, 0)),
        ({"time_multiplier": "1.5"}, ("1.50", 0, 0)),
        ({"time_multiplier": 1.1, "extra_minutes": 1440, "extra_attempts": 100}, ("1.10", 1440, 100)),
        ({"time_multiplier": 115 * 0.01}, ("1.15", 0, 0)),  # 1.1500000000000001, as a program computes it
        ({"time_multiplier": "4.0"}, ("4.00", 0, 0)),
        ({"time_multiplier": 1, "note": "  kept as sent  "}, ("1.00", 0, 0)),
        ({}, ("1.00", 0, 0)),
    ],
)
def test_good_accommodations_and_their_bounds(staff, ids, body, stored):
    response = send(staff, "put", ACCOMMODATION_ROUTES["per exam"].format(**ids), body)

    assert response.status_code == 200, response.content
    row = Accommodation.objects.get()
    assert (str(row.time_multiplier), row.extra_minutes, row.extra_attempts) == stored
    assert response.json()["time_multiplier"] == stored[0]


PATH_ROUTES = [
    ("get", "exams/{}/attempts/", "exam_id"),
    ("post", "exams/{}/extend/", "exam_id"),
    ("post", "exams/{}/announcements/", "exam_id"),
    ("get", "exams/{}/results.csv", "exam_id"),
    ("put", "exams/{}/accommodations/1/", "exam_id"),
    ("delete", "exams/1/accommodations/{}/", "user_id"),
    ("post", "attempts/{}/extend/", "attempt_id"),
    ("post", "attempts/{}/end/", "attempt_id"),
    ("post", "attempts/{}/reopen/", "attempt_id"),
    ("get", "attempts/{}/events/", "attempt_id"),
    ("put", "accommodations/{}/", "user_id"),
    ("delete", "accommodations/{}/", "user_id"),
]


@pytest.mark.parametrize(("method", "template", "field"), PATH_ROUTES)
@pytest.mark.parametrize(("raw", "message"), BAD_PATH_IDS)
def test_bad_path_id_400_for_staff_403_for_students(staff, student, method, template, field, raw, message):
    path = f"{PROCTOR_API}/{template.format(raw)}"

    response = getattr(staff, method)(path)
    refused = getattr(api_client(student), method)(path)

    assert response.status_code == 400, response.content
    assert response.json() == {"error": f"{field}: {message}", "code": "invalid_input", "fields": {field: [message]}}
    assert (refused.status_code, refused.json()["code"]) == (403, "staff_only")
