"""The expiry worker against the real Redis and database: notification path, sweep, restore, refusal, races."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.utils import timezone

from attempts import services, timer
from attempts.models import Attempt
from realtime import events
from realtime.expiry import ExpiryWorker
from realtime.listener import ExpiredKeyListener
from realtime.notifications import ensure_expired_events
from tests.e2e.servers import ROOT, subprocess_env
from tests.factories import make_exam, set_deadline
from tests.redis_server import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class WorkerThreads:
    """Expiry workers running in threads of the test process, with short intervals."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self, count: int = 1, **options) -> None:
        options = {"sweep_interval": 0.25, **options}
        for number in range(count):
            worker = ExpiryWorker(stop=self.stop, **options)
            thread = threading.Thread(target=self._run, args=(worker,), name=f"expiry-worker-{number}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, worker: ExpiryWorker) -> None:
        try:
            worker.run()
        except BaseException as exc:
            self.errors.append(exc)
            raise

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in self.threads), "a worker did not stop"
        assert not self.errors, self.errors


@pytest.fixture
def workers():
    with events.dedicated_publishing_loop():
        threads = WorkerThreads()
        yield threads
        threads.close()


@pytest.fixture
def expiry_log(caplog):
    caplog.set_level(logging.INFO, logger="realtime.expiry")

    def lines() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.name == "realtime.expiry"]

    return lines


def start_attempt(user, exam) -> Attempt:
    return services.attempt_start(user=user, exam_id=exam.pk).attempt


def answer_correctly(user, attempt: Attempt, how_many: int) -> None:
    for question in attempt.exam.questions.order_by("id")[:how_many]:
        services.answer_save(
            user=user, attempt_id=attempt.pk, question_id=question.pk, selected_option=question.correct_option
        )


def test_expired_key_times_out_and_scores_the_attempt(workers, expiry_log, exam, student):
    attempt = start_attempt(student, exam)
    answer_correctly(student, attempt, 2)
    # A sweep far away: only the notification can end this attempt in time.
    workers.start(sweep_interval=60)
    set_deadline(attempt, 1.0)

    def timed_out():
        timer.remaining(attempt.pk)  # a reader, like a connected socket's ticker: Redis expires the key now
        attempt.refresh_from_db()
        return attempt.status == Attempt.Status.TIMEOUT

    wait_until(timed_out, timeout=5, what="the attempt to time out")
    assert attempt.score == 2
    assert attempt.ended_at == attempt.deadline_at
    assert wait_until(lambda: [line for line in expiry_log() if f"attempt={attempt.pk} " in line], timeout=2)[0]
    line = next(line for line in expiry_log() if f"expired attempt={attempt.pk} " in line)
    assert line.endswith("path=notification")


def test_listener_ignores_keys_of_other_prefixes(settings):
    listener = ExpiredKeyListener()
    listener.connect()
    client = timer.client()
    foreign = f"other:{uuid.uuid4().hex}:exam:timer:4242"
    not_an_attempt = f"{settings.TIMER_KEY_PREFIX}probe:{uuid.uuid4().hex}"
    ours = timer.key_for(777)
    try:
        received: list[int] = []
        for key in (foreign, not_an_attempt, ours):
            client.set(key, 1, px=1)
        time.sleep(0.005)  # past their 1 ms TTL, so that reading them expires them (in this order)
        for key in (foreign, not_an_attempt, ours):
            assert client.exists(key) == 0

        def ours_arrived():
            received.extend(listener.receive(timeout=0.1, limit=100))
            return 777 in received

        wait_until(ours_arrived, timeout=3, what="the expired event of our key")
        assert received == [777]
    finally:
        listener.close()
        client.delete(foreign, not_an_attempt, ours)


def test_sweep_expires_a_due_attempt_whose_key_vanished_without_a_notification(workers, expiry_log, exam, student):
    attempt = start_attempt(student, exam)
    answer_correctly(student, attempt, 3)
    workers.start()
    # Deadline passed and key deleted: DEL sends `del`, never `expired`; only the sweep can see it.
    set_deadline(attempt, -1.0)

    wait_until(
        lambda: Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.TIMEOUT).exists(),
        timeout=2,
        what="the sweep to time the attempt out",
    )
    attempt.refresh_from_db()
    assert attempt.score == 3
    line = wait_until(lambda: [x for x in expiry_log() if f"expired attempt={attempt.pk} " in x], timeout=2)[0]
    assert line.endswith("path=sweep")


def test_lost_timer_is_restored_with_the_time_left(workers, exam, student):
    attempt = start_attempt(student, exam)
    set_deadline(attempt, 60)
    timer.clear(attempt.pk)  # as if Redis had restarted or been flushed
    workers.start(restore_interval=0.5)

    seconds = wait_until(lambda: timer.remaining(attempt.pk), timeout=3, what="the timer to come back")
    assert 57 <= seconds <= 60
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.ONGOING


def test_restore_leaves_ended_attempts_without_a_key(workers, exam, student):
    attempt = start_attempt(student, exam)
    services.attempt_submit(user=student, attempt_id=attempt.pk)
    workers.start(restore_interval=0.2)
    other = start_attempt(student, make_exam(questions=1))
    timer.clear(other.pk)
    wait_until(lambda: timer.remaining(other.pk), timeout=3, what="the other timer to come back")
    assert timer.remaining(attempt.pk) is None


def _bulk_due_attempts(exam, count: int) -> list[int]:
    """`count` ongoing attempts whose deadline has just passed, without keys (as after a mass timeout)."""
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"mass{uuid.uuid4().hex[:12]}") for _ in range(count)]
    )
    now = timezone.now()
    attempts = Attempt.objects.bulk_create(
        [
            Attempt(user=user, exam=exam, started_at=now - timedelta(minutes=1), deadline_at=now - timedelta(seconds=1))
            for user in users
        ]
    )
    if attempts[0].pk is None:  # MySQL does not return ids from bulk_create
        return list(Attempt.objects.filter(exam=exam).values_list("pk", flat=True))
    return [attempt.pk for attempt in attempts]


async def _collect_proctor_frames(channel: str, *, count: int, timeout: float, quiet: float) -> list[dict]:
    """Frames sent to `channel` until `count` arrived (then `quiet` s with nothing more) or `timeout`."""
    layer = get_channel_layer()
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = quiet if len(frames) >= count else max(0.01, deadline - time.monotonic())
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=wait)
        except TimeoutError:
            if len(frames) >= count:
                break
            continue
        frames.append(message["frame"])
    return frames


def test_two_workers_expire_each_of_200_due_attempts_exactly_once(workers, expiry_log):
    exam = make_exam(questions=2)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.proctor_group(exam.pk), channel)
    workers.start(2)
    ids = _bulk_due_attempts(exam, 200)

    frames = async_to_sync(_collect_proctor_frames)(channel, count=200, timeout=60, quiet=1.0)

    timeouts = [frame["attempt_id"] for frame in frames if frame["type"] == "attempt_timeout"]
    assert sorted(timeouts) == sorted(ids)  # every attempt once, none twice
    assert Attempt.objects.filter(pk__in=ids, status=Attempt.Status.TIMEOUT, score=0).count() == 200
    expired = [line for line in expiry_log() if line.startswith("expired attempt=")]
    assert len(expired) == 200
    assert len({line.split()[1] for line in expired}) == 200


def test_turns_expired_events_on_keeping_other_flags(settings):
    from tests.redis_server import private_redis

    with private_redis(settings, notify_keyspace_events="K$") as server:
        assert ensure_expired_events() == "turned on with CONFIG SET"
        flags = server.client().config_get("notify-keyspace-events")["notify-keyspace-events"]
        assert set(flags) >= {"K", "$", "E", "x"}


class ConfigLessRedis:
    """A private redis-server whose CONFIG command is disabled, as on managed Redis."""

    def __init__(self, notify_keyspace_events: str) -> None:
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="test-redis-noconfig-")
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.dir.name,
                "--notify-keyspace-events", notify_keyspace_events,
                "--rename-command", "CONFIG", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/1"
        wait_until(self._answers, timeout=10, what="the private redis-server")

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.dir.cleanup()


@pytest.fixture
def configless_redis():
    servers: list[ConfigLessRedis] = []

    def start(flags: str) -> ConfigLessRedis:
        servers.append(ConfigLessRedis(flags))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_refuses_to_start_when_events_are_off_and_config_is_forbidden(configless_redis):
    server = configless_redis("")
    result = subprocess.run(
        [sys.executable, "manage.py", "expiry_worker"],
        cwd=ROOT,
        env=subprocess_env(REDIS_URL=server.url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "does not publish expired-key events" in result.stderr
    assert "notify-keyspace-events" in result.stderr
    assert "E and x" in result.stderr
    assert "parameter group" in result.stderr  # says where to set it on managed Redis


def test_starts_without_config_when_the_operator_turned_events_on(settings, configless_redis):
    server = configless_redis("Ex")
    shared, settings.REDIS_URL = settings.REDIS_URL, server.url
    try:
        assert ensure_expired_events().startswith("confirmed by a probe key")
    finally:
        # Back before the timer-prefix fixture cleans up, which it does on the shared server.
        settings.REDIS_URL = shared


def test_stops_cleanly_on_sigterm(configless_redis):
    server = configless_redis("Ex")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "expiry_worker"],
        cwd=ROOT,
        env=subprocess_env(REDIS_URL=server.url),
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
