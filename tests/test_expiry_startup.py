"""The expiry worker and Redis's settings: expired-key events turned on, kept across a restart, or refused."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from attempts import timer
from attempts.expiry.notifications import ensure_expired_events
from attempts.models import Attempt
from tests.e2e.servers import ROOT, subprocess_env
from tests.factories import start_attempt
from tests.helpers import set_deadline, wait_until
from tests.redis_server import CONFIG_FORBIDDEN, private_redis, running_redis

pytestmark = pytest.mark.django_db(transaction=True)


def test_turns_expired_events_on_keeping_other_flags(settings):
    with private_redis(settings, notify_keyspace_events="K$") as server:
        assert ensure_expired_events() == f"turned on with CONFIG SET at 127.0.0.1:{server.port}"
        flags = server.client().config_get("notify-keyspace-events")["notify-keyspace-events"]
        assert set(flags) >= {"K", "$", "E", "x"}


def test_survives_a_redis_restart_restoring_timers_and_expired_events(settings, workers, expiry_log, exam, student):
    with private_redis(settings) as server:
        try:
            attempt = start_attempt(student, exam)
            set_deadline(attempt, 60)
            # The periodic restore is far away: after the restart, the worker must notice by itself.
            workers.start(restore_interval=600)
            wait_until(lambda: any("ready" in line for line in expiry_log()), timeout=5, what="the worker")
            server.restart(notify_keyspace_events="")  # keys gone, expired-key events off

            seconds = wait_until(lambda: timer.remaining(attempt.pk), timeout=10, what="the timer to be restored")
            assert 55 <= seconds <= 60
            flags = wait_until(
                lambda: server.client().config_get("notify-keyspace-events")["notify-keyspace-events"],
                timeout=5,
                what="expired-key events to be turned back on",
            )
            assert {"E", "x"} <= set(flags)

            set_deadline(attempt, 1.0)

            def timed_out():
                timer.remaining(attempt.pk)
                return Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.TIMEOUT).exists()

            wait_until(timed_out, timeout=5, what="the attempt to time out after the restart")
        finally:
            workers.close()  # before the timers go back to the shared Redis


def test_refuses_to_start_when_events_are_off_and_config_is_forbidden():
    with running_redis(notify_keyspace_events="", extra_args=CONFIG_FORBIDDEN) as server:
        result = subprocess.run(
            [sys.executable, "manage.py", "expiry_worker"],
            cwd=ROOT,
            env=subprocess_env(REDIS_URL=server.url()),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"Redis at 127.0.0.1:{server.port} does not publish expired-key events" in result.stderr
    assert "notify-keyspace-events" in result.stderr
    assert "E and x" in result.stderr
    assert "parameter group" in result.stderr  # says where to set it on managed Redis


def test_starts_without_config_when_the_operator_turned_events_on(settings):
    with private_redis(settings, extra_args=CONFIG_FORBIDDEN) as server:
        assert ensure_expired_events().startswith(f"confirmed by a probe key at 127.0.0.1:{server.port}")


def test_stops_cleanly_on_sigterm():
    with running_redis() as server:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "expiry_worker"],
            cwd=ROOT,
            env=subprocess_env(REDIS_URL=server.url()),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
        reader.start()
        try:
            wait_until(lambda: any("expiry worker ready" in line for line in output), timeout=30, what="ready")
            process.terminate()
            assert process.wait(timeout=10) == 0
            reader.join(timeout=5)
            assert any("expiry worker stopped" in line for line in output)
        finally:
            if process.poll() is None:
                process.kill()
