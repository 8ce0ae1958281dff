"""Authentication: every endpoint wants a JWT; obtain and refresh (with rotation) work."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("post", "/api/exam/timer/start/1/"),
    ("get", "/api/exam/timer/remaining/1/"),
    ("post", "/api/exam/timer/submit-answer/"),
    ("post", "/api/exam/timer/submit/1/"),
    ("get", "/api/exam/timer/questions/1/"),
]


def obtain(username, password):
    return APIClient().post("/api/token/", {"username": username, "password": password}, format="json")


def refresh(token):
    return APIClient().post("/api/token/refresh/", {"refresh": token}, format="json")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_401(method, path):
    response = getattr(APIClient(), method)(path)

    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication credentials were not provided."


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer ", "Basic c3R1ZGVudDpwYXNz", "Bearer a.b.c"])
def test_bad_token_401(method, path, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert "detail" in response.json()


def test_obtain_and_use_a_token(student, exam):
    response = obtain(student.username, PASSWORD)

    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.post(f"/api/exam/timer/start/{exam.pk}/").status_code == 201


@pytest.mark.parametrize(("username", "password"), [("nobody", PASSWORD), (None, "wrong-password")])
def test_wrong_credentials_401(student, username, password):
    response = obtain(username or student.username, password)

    assert response.status_code == 401
    assert response.json()["detail"] == "No active account found with the given credentials"


def test_obtain_without_fields_400_naming_them():
    response = APIClient().post("/api/token/", {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"username", "password"}


def test_refresh_rotates_and_the_old_refresh_is_refused(student):
    old = obtain(student.username, PASSWORD).json()["refresh"]

    rotated = refresh(old)

    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert rotated.json()["refresh"] != old
    reused = refresh(old)
    assert reused.status_code == 401
    assert reused.json()["detail"] == "Token is blacklisted"
    assert refresh(rotated.json()["refresh"]).status_code == 200


def test_an_access_token_is_no_refresh_token(student):
    access = obtain(student.username, PASSWORD).json()["access"]

    assert refresh(access).status_code == 401


def test_inactive_user_gets_no_token(student):
    student.is_active = False
    student.save()

    assert obtain(student.username, PASSWORD).status_code == 401
