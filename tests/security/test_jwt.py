"""JWT abuse: forged, expired, revoked and orphaned tokens get 401 on every REST route and on refresh."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from attempts.models import Attempt
from tests.factories import PASSWORD, make_exam, make_user

# (method, path template, JSON body): every exam route behind JWT.
ROUTES = [
    ("post", "/api/exam/timer/start/{exam_id}/", None),
    ("get", "/api/exam/timer/remaining/{attempt_id}/", None),
    ("post", "/api/exam/timer/submit-answer/", {"attempt_id": "{attempt_id}", "question_id": "{question_id}"}),
    ("post", "/api/exam/timer/submit/{attempt_id}/", None),
    ("get", "/api/exam/timer/questions/{attempt_id}/", None),
]
ROUTE_IDS = ["start", "remaining", "submit-answer", "submit", "questions"]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user) -> dict:
    return dict(AccessToken.for_user(user).payload)


def alg_none(user) -> str:
    """A token that claims to need no signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user))}."


def wrong_signature(user) -> str:
    return jwt.encode(_claims(user), "not-the-signing-key-" * 3, algorithm="HS256")


def other_algorithm(user) -> str:
    """The right key, but an algorithm the server does not accept."""
    return jwt.encode(_claims(user), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")


def tampered_payload(user) -> str:
    """A genuine token whose payload now names another user; the signature no longer matches."""
    header, _, signature = str(AccessToken.for_user(user)).split(".")
    return f"{header}.{_b64({**_claims(user), 'user_id': str(user.pk + 1)})}.{signature}"


def expired(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))
    return str(token)


def refresh_as_access(user) -> str:
    return str(RefreshToken.for_user(user))


def garbage(user) -> str:
    return "not.a.jwt"


BAD_TOKENS = [alg_none, wrong_signature, other_algorithm, tampered_payload, expired, refresh_as_access, garbage]


@pytest.fixture
def target(db):
    """A student with an attempt of their own: the routes would succeed with a good token."""
    user = make_user()
    exam = make_exam(questions=2)
    client = _client(str(AccessToken.for_user(user)))
    attempt_id = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    return {"user": user, "exam_id": exam.pk, "attempt_id": attempt_id, "question_id": exam.questions.first().pk}


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _call(client: APIClient, route, ids: dict):
    method, template, body = route
    if body is not None:
        body = {key: int(value.format(**ids)) for key, value in body.items()} | {"selected_option": "A"}
    return getattr(client, method)(template.format(**ids), body, format="json")


def _assert_401(response) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["detail"] and body["error"], body
    assert "attempt_id" not in body and "questions" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("make_token", BAD_TOKENS, ids=lambda f: f.__name__)
def test_bad_access_token_is_refused(target, route, make_token):
    response = _call(_client(make_token(target["user"])), route, target)
    _assert_401(response)
    attempt = Attempt.objects.get(pk=target["attempt_id"])
    assert attempt.status == Attempt.Status.ONGOING and not attempt.answers.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_deactivated_users_unexpired_token_is_refused(target, route):
    token = str(AccessToken.for_user(target["user"]))
    assert _call(_client(token), ROUTES[1], target).status_code == 200  # the token itself is good
    target["user"].is_active = False
    target["user"].save(update_fields=["is_active"])
    _assert_401(_call(_client(token), route, target))


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_deleted_users_unexpired_token_is_refused(target, route):
    token = str(AccessToken.for_user(target["user"]))
    target["user"].delete()
    _assert_401(_call(_client(token), route, target))


@pytest.mark.django_db
def test_no_token_is_refused_on_every_route(target):
    for route in ROUTES:
        _assert_401(_call(APIClient(), route, target))


@pytest.mark.django_db
def test_good_token_is_accepted_on_every_route(target):
    """The control: the same calls with a genuine token are not refused."""
    client = _client(str(AccessToken.for_user(target["user"])))
    statuses = [_call(client, route, target).status_code for route in ROUTES]
    assert statuses == [200, 200, 200, 200, 200]


# --- /api/token/refresh/ ----------------------------------------------------------------


def _obtain_pair(user) -> dict:
    response = APIClient().post("/api/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(token: str):
    return APIClient().post("/api/token/refresh/", {"refresh": token}, format="json")


@pytest.mark.django_db
def test_refresh_token_reused_after_rotation_is_refused():
    user = make_user()
    old = _obtain_pair(user)["refresh"]
    rotated = _refresh(old)
    assert rotated.status_code == 200
    new_pair = rotated.json()
    assert new_pair["refresh"] != old

    _assert_401(_refresh(old))  # blacklisted by the rotation
    again = _refresh(new_pair["refresh"])  # the rotated one still works, once
    assert again.status_code == 200
    _assert_401(_refresh(new_pair["refresh"]))
    assert _call(_client(again.json()["access"]), ROUTES[0], {"exam_id": make_exam().pk}).status_code == 201


@pytest.mark.django_db
def test_refresh_of_deactivated_user_is_refused():
    user = make_user()
    refresh = _obtain_pair(user)["refresh"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    _assert_401(_refresh(refresh))


@pytest.mark.django_db
def test_refresh_of_deleted_user_is_refused_not_a_server_error():
    user = make_user()
    refresh = _obtain_pair(user)["refresh"]
    user.delete()
    _assert_401(_refresh(refresh))


def _forged_refresh(user, how: str) -> str:
    token = RefreshToken.for_user(user)
    if how == "expired":
        token.set_exp(lifetime=-timedelta(minutes=1))
        return str(token)
    claims = dict(token.payload)
    if how == "alg_none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    if how == "wrong_signature":
        return jwt.encode(claims, "not-the-signing-key-" * 3, algorithm="HS256")
    return str(token.access_token)  # "access_as_refresh"


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["expired", "alg_none", "wrong_signature", "access_as_refresh"])
def test_forged_or_expired_refresh_is_refused(how):
    _assert_401(_refresh(_forged_refresh(make_user(), how)))
