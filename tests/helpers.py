"""What many tests do: the REST calls of an attempt, deadlines moved at will, and waits with a deadline."""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import connection, connections
from django.utils import timezone

from attempts import timer
from attempts.expiry.worker import ExpiryWorker
from attempts.models import Attempt

T = TypeVar("T")

NOT_YOURS = {"error": "This exam attempt does not belong to you.", "code": "not_your_attempt"}
NOT_FOUND = {"detail": "Not found."}
UNKNOWN_ID = 987654321  # no exam or attempt of a test database has this id

# --- The REST API of an attempt. `client` is a DRF APIClient or anything with its get/post. ---


def start(client, exam_id: int):
    return client.post(f"/api/exam/timer/start/{exam_id}/")


def started_attempt(client, exam_id: int) -> Attempt:
    """Start (or resume) through the API; the attempt as the database has it."""
    return Attempt.objects.get(pk=start(client, exam_id).json()["attempt_id"])


def answer(client, attempt_id: int, question_id: int, option: str):
    body = {"attempt_id": attempt_id, "question_id": question_id, "selected_option": option}
    return client.post("/api/exam/timer/submit-answer/", body, format="json")


def save_answer(client, attempt_id: int, question_id: int, option: str) -> None:
    """Answer, failing the test unless the answer was saved."""
    response = answer(client, attempt_id, question_id, option)
    assert response.status_code == 200, response.content


def submit(client, attempt_id: int):
    return client.post(f"/api/exam/timer/submit/{attempt_id}/")


def remaining(client, attempt_id: int):
    return client.get(f"/api/exam/timer/remaining/{attempt_id}/")


def questions(client, attempt_id: int):
    return client.get(f"/api/exam/timer/questions/{attempt_id}/")


def status_and_body(response) -> tuple[int, dict]:
    return response.status_code, response.json()


def end_frame(status: str, attempt_id: int) -> dict:
    """The frame a socket gets when its attempt is over: `status` is "completed" or "timeout"."""
    message = {"completed": "Exam already submitted", "timeout": "Exam time has expired"}[status]
    return {"type": status, "attempt_id": attempt_id, "status": status, "remaining_seconds": 0, "message": message}


# --- The staff API (docs/api.md, "Live control") ---

STAFF_ONLY = {"error": "Staff only.", "code": "staff_only"}
PROCTOR_API = "/api/exam/proctor"


def staff_post(client, path: str, body=None):
    """POST a JSON body to a staff route (`path` below /api/exam/proctor/)."""
    return client.post(f"{PROCTOR_API}/{path}", body, format="json")


def extend(client, attempt_id: int, **body):
    return staff_post(client, f"attempts/{attempt_id}/extend/", body)


def end(client, attempt_id: int, **body):
    return staff_post(client, f"attempts/{attempt_id}/end/", body)


def reopen(client, attempt_id: int, **body):
    return staff_post(client, f"attempts/{attempt_id}/reopen/", body)


def put_accommodation(client, user_id: int, exam_id: int | None = None, **body):
    where = f"exams/{exam_id}/accommodations" if exam_id else "accommodations"
    return client.put(f"{PROCTOR_API}/{where}/{user_id}/", body, format="json")


# --- Deadlines ---


def set_deadline(attempt: Attempt, seconds_from_now: float) -> Attempt:
    """Move an ongoing attempt's deadline, in the database and in Redis alike (a real short TTL)."""
    attempt.deadline_at = timezone.now() + timedelta(seconds=seconds_from_now)
    attempt.save(update_fields=["deadline_at"])
    if seconds_from_now > 0:
        timer.start(attempt.pk, int(seconds_from_now * 1000))
    else:
        timer.clear(attempt.pk)
    return attempt


def set_deadline_on_a_half_second(attempt: Attempt, at_least: float) -> int:
    """Put the deadline half-way between two whole seconds, where the ticker never reads:
    the seconds it reports then cannot flicker at a boundary. Returns the whole seconds left."""
    target = math.floor(time.time() + at_least) + 1.5
    set_deadline(attempt, target - time.time())
    return math.ceil(target - time.time())


def seconds_until(moment: datetime) -> float:
    return (moment - timezone.now()).total_seconds()


def moment_near(deadline: datetime, jitter_seconds: float) -> datetime:
    """A moment picked at random within `jitter_seconds` either side of `deadline`."""
    return deadline + timedelta(seconds=random.uniform(-jitter_seconds, jitter_seconds))


# --- Waiting on a condition with a deadline: never sleep-and-hope. ---


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds.

    `sleep(seconds)` waits between two polls (a browser test lets Playwright run meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        sleep(interval)


async def async_wait_until(
    predicate: Callable[[], Awaitable[T] | T], *, timeout: float, interval: float = 0.05, what: str = "condition"
) -> T:
    """The asyncio twin of `wait_until`; `predicate` may be a coroutine function or a plain one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


# --- Racing threads, each on its own database connection ---


def in_own_connection(func: Callable[..., T], *args) -> T:
    """Run `func` on this thread's own database connection, closed afterwards."""
    try:
        return func(*args)
    finally:
        connections.close_all()


def run_threads(*funcs: Callable) -> list:
    """Run each function on its own thread, released together; their results in order.

    Each thread connects to the database before the release: the race is between the
    functions, not between their connection handshakes.
    """
    barrier = threading.Barrier(len(funcs))

    def released(func):
        connection.ensure_connection()
        barrier.wait()
        return func()

    with ThreadPoolExecutor(len(funcs)) as pool:
        futures = [pool.submit(in_own_connection, released, func) for func in funcs]
        return [future.result(timeout=60) for future in futures]


def sleep_until(moment: datetime) -> None:
    """Wait for a wall-clock moment: the request must land then, not when a poll happens to run."""
    delay = (moment - timezone.now()).total_seconds()
    if delay > 0:
        time.sleep(delay)


# --- Expiry workers in threads of the test process ---


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


# --- Timers after Redis lost them ---


def wait_for_every_timer(attempt_ids: list[int], *, what: str = "every timer to be rebuilt") -> float:
    """Wait until each of `attempt_ids` has its Redis timer again; the Unix time it happened."""
    wait_until(
        lambda: all(seconds is not None for seconds in timer.remaining_many(attempt_ids).values()),
        timeout=20,
        interval=0.02,
        what=what,
    )
    return time.time()


def timer_errors(attempt_ids: list[int], deadline_of: dict[int, float]) -> dict[int, float]:
    """Per attempt: its timer's time left minus the true time left to its deadline (seconds)."""
    pipe = timer.client().pipeline(transaction=False)
    for attempt_id in attempt_ids:
        pipe.pttl(timer.key_for(attempt_id))
    now = time.time()
    replies = pipe.execute()
    return {
        attempt_id: milliseconds / 1000 - (deadline_of[attempt_id] - now)
        for attempt_id, milliseconds in zip(attempt_ids, replies, strict=True)
    }
