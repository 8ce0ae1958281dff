"""With DEBUG off, daphne serves the pages' CSS and JS itself (WhiteNoise, collectstatic output)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.e2e.servers import ROOT
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOPBAR_COLOUR = "rgb(29, 36, 48)"  # --ink in style.css: proof that the stylesheet applied
# WhiteNoise marks hashed (manifest) files as cacheable for ten years.
IMMUTABLE_MAX_AGE = "max-age=315360000"


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """Production settings (DEBUG off, own secrets) with collectstatic run into a folder of this test."""
    env = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # plain http on the loopback: no TLS proxy in front here
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    from tests.e2e.servers import subprocess_env

    full = subprocess_env(**env)
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def test_pages_work_with_debug_off(cluster, pages, production_env):
    web = cluster.start_web(env=production_env)
    student = make_user()
    page = pages.open("login-production")
    page.goto(f"{web.base_url}/login/")
    colour = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert colour == TOPBAR_COLOUR
    stylesheet = page.get_attribute("link[rel=stylesheet]", "href")
    assert re.fullmatch(r"/static/attempts/style\.[0-9a-f]{12}\.css", stylesheet), stylesheet
    with urllib.request.urlopen(f"{web.base_url}{stylesheet}", timeout=5) as response:
        assert response.status == 200
        assert IMMUTABLE_MAX_AGE in response.headers["Cache-Control"]
    # The scripts load too: signing in works.
    sign_in(page, web.base_url, student.username)
    expect(page.locator("#login-done-text")).to_have_text(f"Signed in as {student.username}.")


def test_the_api_docs_render_from_our_own_files_without_internet(cluster, pages, production_env):
    """Swagger UI comes from our static files (drf-spectacular-sidecar): this machine reaches no CDN, so the
    page of a CDN-served viewer would stay blank here, as it would in an exam hall cut off from the internet."""
    web = cluster.start_web(env=production_env)
    page = pages.open("api-docs-production")
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith((web.base_url, "data:")) else elsewhere.append(request.url),
    )
    page.goto(f"{web.base_url}/api/docs/")

    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/exam/timer/start/{exam_id}/")).to_be_visible()
    assert elsewhere == []
