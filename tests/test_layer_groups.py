"""The groups of a process's sockets, joined again when the channel layer's Redis loses them (`realtime.layer_groups`).

A real channels-redis layer on a private redis-server that the tests restart or flush; the
sockets are played by members with a channel of their own. `check()` is called directly: the
watch loop only calls it every CHECK_SECONDS.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from channels_redis.core import RedisChannelLayer

from examsite.redis_pools import layer_host_options
from realtime.layer_groups import LayerGroups
from tests.redis_server import PrivateRedis

LAYER_DB = 2
# The watch loop ends before the test's event loop does: asyncio.run's one cancel of what is left
# once met a watch that kept running (120 s, a machine at load 12); a stop that hangs fails here.
STOP_SECONDS = 10.0
RECEIVE_SECONDS = 2.0  # a message sent to a group is in its channels at once; only a failure waits this long


class Member:
    def __init__(self, channel_name: str) -> None:
        self.channel_name = channel_name
        self.told = 0
        self.since: list[float] = []

    async def on_rejoined(self, since: float) -> None:
        self.told += 1
        self.since.append(since)


@pytest.fixture
def redis_server():
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.stop()


def _layer(server: PrivateRedis) -> RedisChannelLayer:
    host = {"address": server.url(LAYER_DB), "socket_timeout": 30, **layer_host_options()}
    return RedisChannelLayer(hosts=[host], prefix="layergroups")


async def _hears(layer: RedisChannelLayer, member: Member, group: str) -> bool:
    """True when a message sent to `group` now reaches `member`'s channel."""
    await layer.group_send(group, {"type": "probe", "group": group})
    try:
        message = await asyncio.wait_for(layer.receive(member.channel_name), RECEIVE_SECONDS)
    except TimeoutError:
        return False
    return message == {"type": "probe", "group": group}


async def _members(layer: RedisChannelLayer, groups: LayerGroups, names: list[str]) -> list[Member]:
    members = [Member(await layer.new_channel()) for _ in names]
    for member, group in zip(members, names, strict=True):
        await groups.join(member, group)
    return members


def test_an_empty_restart_is_found_and_every_group_joined_again(redis_server):
    async def scenario():
        layer = _layer(redis_server)
        groups = LayerGroups(layer)
        joining = time.time()
        members = await _members(layer, groups, ["a", "a", "b"])
        heard_before = [await _hears(layer, m, g) for m, g in zip(members, ["a", "a", "b"], strict=True)]
        await groups.check()  # intact: the groups were whole at least until now
        intact = time.time()
        await asyncio.to_thread(redis_server.restart)
        heard_lost = await _hears(layer, members[2], "b")  # the restart took the group with it
        await groups.check()
        heard_after = [await _hears(layer, m, g) for m, g in zip(members, ["a", "a", "b"], strict=True)]
        await groups.check()  # nothing changed since: no second re-join
        await asyncio.wait_for(groups.stop(), STOP_SECONDS)
        await layer.close_pools()
        since = [m.since for m in members]
        return heard_before, heard_lost, heard_after, groups.rejoins, [m.told for m in members], since, joining, intact

    heard_before, heard_lost, heard_after, rejoins, told, since, joining, intact = asyncio.run(scenario())
    assert heard_before == [True, True, True]
    assert heard_lost is False
    assert heard_after == [True, True, True]
    assert rejoins == 1
    assert told == [1, 1, 1]
    # Each socket is told to catch up from the last check that found the groups whole: after the
    # joins (nothing older is sent again), not after the restart (nothing lost is left out).
    assert all(joining <= moments[0] <= intact for moments in since), (joining, since, intact)


def test_a_flushed_layer_database_is_found_too(redis_server):
    async def scenario():
        layer = _layer(redis_server)
        groups = LayerGroups(layer)
        (member,) = await _members(layer, groups, ["a"])
        redis_server.client(LAYER_DB).flushdb()  # the same server (same run_id), its data gone
        await groups.check()
        heard = await _hears(layer, member, "a")
        await asyncio.wait_for(groups.stop(), STOP_SECONDS)
        await layer.close_pools()
        return heard, groups.rejoins

    assert asyncio.run(scenario()) == (True, 1)


def test_a_socket_that_left_is_not_joined_again(redis_server):
    async def scenario():
        layer = _layer(redis_server)
        groups = LayerGroups(layer)
        stays, leaves, gone = await _members(layer, groups, ["a", "a", "a"])
        await groups.part(leaves, "a")
        groups.forget(gone)  # closed without a leave (its consumer ended on an error)
        await asyncio.to_thread(redis_server.restart)
        await groups.check()
        members = await layer.connection(0).zrange(f"{layer.prefix}:group:a", 0, -1)
        await asyncio.wait_for(groups.stop(), STOP_SECONDS)
        await layer.close_pools()
        return {name.decode() for name in members}, groups.membership_count, (stays, leaves, gone)

    members, count, (stays, leaves, gone) = asyncio.run(scenario())
    assert members == {stays.channel_name}
    assert count == 1
    assert (stays.told, leaves.told, gone.told) == (1, 0, 0)


def test_while_redis_is_down_a_check_changes_nothing_and_the_next_one_rejoins(redis_server):
    async def scenario():
        layer = _layer(redis_server)
        groups = LayerGroups(layer)
        (member,) = await _members(layer, groups, ["a"])
        port = redis_server.port
        redis_server.stop()
        await groups.check()  # unreachable beyond the retries: logged, nothing joined
        rejoins_while_down = groups.rejoins
        redis_server.start(port=port)
        await groups.check()
        heard = await _hears(layer, member, "a")
        await asyncio.wait_for(groups.stop(), STOP_SECONDS)
        await layer.close_pools()
        return rejoins_while_down, groups.rejoins, heard

    assert asyncio.run(scenario()) == (0, 1, True)
