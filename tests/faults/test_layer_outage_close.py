"""A channel layer that stays unreachable closes the socket with 1011 under daphne, so the page reconnects.

Before daphne was allowed to send 1011 (`realtime.daphne_close_codes`), the consumer's close
raised inside autobahn, was swallowed, and the socket stayed open with no ticks and no events:
a page that never learns to reconnect.
"""

from __future__ import annotations

import asyncio

import pytest

from attempts import services
from tests.factories import access_token_for, make_exam
from tests.faults.bulk import bulk_users
from tests.faults.sockets import AttemptWatcher, until
from tests.helpers import set_deadline

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The layer's receive gives up after its pool's ~2 s of retries (examsite/redis_pools.py); the
# rest bounds a loaded machine.
CLOSE_BOUND_SECONDS = 15.0


def test_a_socket_whose_layer_stays_down_is_closed_1011_not_left_open_and_silent(private_redis, cluster):
    exam = make_exam(questions=2)
    web = cluster.start_web()
    (user,) = bulk_users(1)
    attempt = services.attempt_start(user=user, exam_id=exam.pk).attempt
    set_deadline(attempt, 120)
    watcher = AttemptWatcher(web, attempt.pk, access_token_for(user))

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await until(lambda: watcher.ticks, 10, "the first tick")
        await asyncio.to_thread(private_redis.stop)  # for good: timers, layer and cache
        await until(lambda: watcher.close_codes, CLOSE_BOUND_SECONDS, "the socket closed")
        stop.set()
        await task

    asyncio.run(scenario())
    assert watcher.close_codes[0] == 1011
