"""The sign-in page in headless Chromium: errors, the ?next= redirect, sign-out."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.browser.conftest import PHONE, sign_in
from tests.factories import make_exam, make_user

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_wrong_password_is_said_and_a_foreign_next_is_ignored(web, pages):
    student = make_user()
    page = pages.open("login", viewport=PHONE)
    page.goto(f"{web.base_url}/")
    page.wait_for_url(f"{web.base_url}/login/")
    page.goto(f"{web.base_url}/login/?next=//evil.example/steal")
    pages.screenshot(page, "login-empty", doc="login")
    page.fill("#username", student.username)
    page.fill("#password", "not-the-password")
    page.keyboard.press("Enter")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    assert page.evaluate("sessionStorage.getItem('examtimer.auth')") is None

    page.fill("#password", "correct-horse-battery-staple")
    page.keyboard.press("Enter")
    # Not sent to another site: the page stays here and says who is signed in.
    expect(page.locator("#login-done-text")).to_have_text(f"Signed in as {student.username}.")
    assert page.url.startswith(f"{web.base_url}/login/")
    expect(page.locator("#signed-in-as")).to_be_hidden()  # hidden on a phone; the sign-out button stays
    expect(page.locator("#sign-out")).to_be_visible()
    pages.screenshot(page, "login-done")


def test_a_page_sends_a_stranger_to_sign_in_and_back_and_sign_out_revokes(web, pages):
    student = make_user()
    exam = make_exam(questions=1)
    page = pages.open("exam")
    page.goto(f"{web.base_url}/exam/{exam.pk}/")
    page.wait_for_url(f"{web.base_url}/login/?next=%2Fexam%2F{exam.pk}%2F")
    page.fill("#username", student.username)
    page.fill("#password", "correct-horse-battery-staple")
    page.click("#login-submit")
    page.wait_for_url(f"{web.base_url}/exam/{exam.pk}/")
    expect(page.locator(".question")).to_have_count(1)
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {student.username}")

    page.click("#sign-out")
    page.wait_for_url(f"{web.base_url}/login/")
    assert page.evaluate("sessionStorage.getItem('examtimer.auth')") is None
    assert BlacklistedToken.objects.filter(token__user=student).exists(), "sign-out should revoke the refresh token"
    sign_in(page, web.base_url, student.username)
