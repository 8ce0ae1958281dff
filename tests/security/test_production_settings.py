"""Production settings: secrets must be explicit and separate, and `check --deploy` passes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables these tests set themselves; whatever the caller's shell holds for them is dropped.
CONTROLLED = ("DEBUG", "SECRET_KEY", "JWT_SIGNING_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE")
SHOW_KEYS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SIMPLE_JWT['SIGNING_KEY'] == s.SECRET_KEY)"
)


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if key not in CONTROLLED}
    full_env = {**base, "DJANGO_SETTINGS_MODULE": "examsite.settings", **env}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120, check=False)


def _production(**overrides: str) -> dict[str, str]:
    values = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "exam.example.com",
    }
    return {key: value for key, value in {**values, **overrides}.items() if value is not None}


def test_production_refuses_to_start_without_secret_key():
    done = _run([sys.executable, "manage.py", "check"], **_production(SECRET_KEY=None))
    assert done.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off" in done.stderr


def test_production_refuses_to_start_without_jwt_signing_key():
    done = _run([sys.executable, "manage.py", "check"], **_production(JWT_SIGNING_KEY=None))
    assert done.returncode != 0
    assert "JWT_SIGNING_KEY must be set in the environment when DEBUG is off" in done.stderr


def test_production_refuses_a_jwt_key_equal_to_the_secret_key():
    key = secrets.token_urlsafe(50)
    done = _run([sys.executable, "manage.py", "check"], **_production(SECRET_KEY=key, JWT_SIGNING_KEY=key))
    assert done.returncode != 0
    assert "JWT_SIGNING_KEY must differ from SECRET_KEY" in done.stderr


def test_production_signs_tokens_with_their_own_key():
    done = _run([sys.executable, "-c", SHOW_KEYS], **_production())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_debug_falls_back_to_the_secret_key_for_local_runs():
    done = _run([sys.executable, "-c", SHOW_KEYS])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_check_deploy_passes_with_production_settings():
    done = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], **_production())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_catches_a_weak_secret_key():
    """The control: the same check does fail on a production mistake."""
    done = _run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **_production(SECRET_KEY="too-short"),
    )
    assert done.returncode != 0
    assert "security.W009" in done.stdout + done.stderr
