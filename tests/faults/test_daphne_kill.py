"""A daphne process SIGKILLed and started again on its port: its sockets reconnect and get the right time."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

from attempts import services
from attempts.models import Attempt
from tests.e2e.clients import rest
from tests.factories import access_token_for, make_exam
from tests.faults.bulk import bulk_users
from tests.faults.sockets import AttemptWatcher, tick_error, until
from tests.helpers import set_deadline

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SOCKETS = 20
DUE_WHILE_DOWN_AFTER = 2.0  # one more attempt's deadline passes while daphne is dead
TICK_SLACK_SECONDS = 0.3  # frame transport, on top of the tick's 1 s of rounding up
RIGHT_TIME_BOUND = 1.0  # the promise: the reconnected client gets the right time within 1 s


def test_daphne_sigkilled_and_restarted(cluster):
    exam = make_exam(questions=2)
    web = cluster.start_web()
    cluster.start_workers(1)
    users = bulk_users(SOCKETS + 1)
    attempts = [services.attempt_start(user=user, exam_id=exam.pk).attempt for user in users]
    for number, attempt in enumerate(attempts[:SOCKETS]):
        set_deadline(attempt, 60 + 3.37 * number)  # deadlines at every fraction of a second
    due = attempts[SOCKETS]
    tokens = {attempt.pk: access_token_for(user) for attempt, user in zip(attempts, users, strict=True)}

    async def scenario():
        stop = asyncio.Event()
        watchers = [AttemptWatcher(web, attempt.pk, tokens[attempt.pk]) for attempt in attempts]
        tasks = [asyncio.create_task(watcher.run(stop)) for watcher in watchers]
        await until(lambda: all(watcher.ticks for watcher in watchers), 10, "a first tick on every socket")
        await asyncio.to_thread(set_deadline, due, DUE_WHILE_DOWN_AFTER)
        exit_code = await asyncio.to_thread(web.kill)
        killed_at = time.time()
        await until(lambda: time.time() > due.deadline_at.timestamp() + 1, 10, "the deadline of the due attempt")
        restarted = await asyncio.to_thread(cluster.start_web, name="web-restarted", port=web.port)
        ready_at = time.time()
        await until(lambda: all(w.ticks_after(ready_at) for w in watchers[:SOCKETS]), 10, "ticks after the restart")
        await until(lambda: watchers[SOCKETS].ended.is_set(), 5, "the due attempt's timeout frame")
        stop.set()
        await asyncio.gather(*tasks)
        return watchers, exit_code, killed_at, restarted, ready_at

    watchers, exit_code, killed_at, restarted, ready_at = asyncio.run(scenario())

    first_after = [watcher.ticks_after(ready_at)[0] for watcher in watchers[:SOCKETS]]
    errors = [
        tick_error(tick, attempt.deadline_at.timestamp())
        for tick, attempt in zip(first_after, attempts[:SOCKETS], strict=True)
    ]
    delays = [tick.at - ready_at for tick in first_after]
    status, body = rest(restarted, "GET", f"/api/exam/timer/remaining/{attempts[0].pk}/", token=tokens[attempts[0].pk])
    rest_error = body["remaining_seconds"] - (attempts[0].deadline_at.timestamp() - time.time())
    codes = collections.Counter(code for watcher in watchers for code in watcher.close_codes)
    due.refresh_from_db()
    print(
        f"\ndaphne SIGKILLed ({exit_code}), down {ready_at - killed_at:.2f} s until the new one answered; "
        f"{SOCKETS} sockets reconnected, first tick {min(delays):.2f}..{max(delays):.2f} s after it, "
        f"tick - true time left {min(errors):.2f}..{max(errors):.2f} s; REST remaining error {rest_error:.2f} s; "
        f"close codes seen {dict(codes)}"
    )
    assert exit_code == -9
    assert all(-TICK_SLACK_SECONDS <= error <= RIGHT_TIME_BOUND + TICK_SLACK_SECONDS for error in errors)
    assert status == 200 and 0 <= rest_error <= RIGHT_TIME_BOUND
    assert Attempt.objects.filter(pk__in=[a.pk for a in attempts[:SOCKETS]], status="ongoing").count() == SOCKETS
    # The attempt that ran out while its server was dead: timed out by the worker, told on reconnect.
    assert (due.status, due.ended_at) == (Attempt.Status.TIMEOUT, due.deadline_at)
    assert watchers[SOCKETS].frame_of_type("timeout") is not None and watchers[SOCKETS].close_codes[-1] == 4408
