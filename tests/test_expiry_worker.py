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
from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
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
from tests.factories import make_exam
from tests.helpers import set_deadline, wait_until
from tests.redis_server import free_port

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
        """Stop every worker and wait for it (again: a no-op)."""
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
    # No sweep for a minute, none at the deadline: only the notification can end this attempt in time.
    workers.start(sweep_interval=60, follow_deadlines=False)
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


class OwnRedis:
    """A private redis-server of this test: restartable on its port, CONFIG disabled on request."""

    def __init__(self, notify_keyspace_events: str, *, config_allowed: bool = True) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/1"
        self.config_allowed = config_allowed
        self.process: subprocess.Popen | None = None
        self.start(notify_keyspace_events)

    def start(self, notify_keyspace_events: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="test-redis-worker-")
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir.name,
            "--notify-keyspace-events", notify_keyspace_events,
        ]  # fmt: skip
        if not self.config_allowed:
            argv += ["--rename-command", "CONFIG", ""]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=10, what="the private redis-server")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=1, decode_responses=True)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.dir.cleanup()

    def restart(self, notify_keyspace_events: str) -> None:
        """Stop and start on the same port: every key is lost, and so is any CONFIG SET."""
        self.stop()
        self.start(notify_keyspace_events)


@pytest.fixture
def own_redis():
    servers: list[OwnRedis] = []

    def start(flags: str, *, config_allowed: bool = True) -> OwnRedis:
        servers.append(OwnRedis(flags, config_allowed=config_allowed))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@contextmanager
def timers_on(settings, server: OwnRedis):
    """Timers on `server` inside the block; back on the shared Redis before fixtures clean up there."""
    shared, settings.REDIS_URL = settings.REDIS_URL, server.url
    try:
        yield server
    finally:
        settings.REDIS_URL = shared


def test_survives_a_redis_restart_restoring_timers_and_expired_events(
    settings, workers, expiry_log, own_redis, exam, student
):
    server = own_redis("Ex")
    with timers_on(settings, server):
        try:
            attempt = start_attempt(student, exam)
            set_deadline(attempt, 60)
            # The periodic restore is far away: after the restart, the worker must notice by itself.
            workers.start(restore_interval=600)
            wait_until(lambda: any("ready" in line for line in expiry_log()), timeout=5, what="the worker")
            server.restart("")  # keys gone, expired-key events off

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


def test_refuses_to_start_when_events_are_off_and_config_is_forbidden(own_redis):
    server = own_redis("", config_allowed=False)
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


def test_starts_without_config_when_the_operator_turned_events_on(settings, own_redis):
    with timers_on(settings, own_redis("Ex", config_allowed=False)):
        assert ensure_expired_events().startswith("confirmed by a probe key")


def test_stops_cleanly_on_sigterm(own_redis):
    server = own_redis("Ex")
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
