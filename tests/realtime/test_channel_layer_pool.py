"""A storm of group joins and leaves in one process waits for Redis connections instead of failing.

Five hundred connections in one daphne process join their groups at a server start and leave
them when it stops, all at once. redis-py's asyncio pool refuses a command outright once 100
connections are busy (MaxConnectionsError), and a refused leave keeps a dead channel in its
group for a day. The layer configured in the settings must queue them instead.
"""

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from django.conf import settings

from tests.conftest import requires_fast_path

pytestmark = requires_fast_path

STORM = 300  # three times redis-py's default pool size


def test_hundreds_of_concurrent_group_joins_and_leaves_on_one_layer_all_succeed():
    layer = channel_layers.make_backend("default")  # the layer as configured, not the process's shared one
    group = f"storm.{uuid.uuid4().hex}"

    async def scenario():
        channels = [await layer.new_channel() for _ in range(STORM)]
        try:
            await asyncio.gather(*(layer.group_add(group, name) for name in channels))
            members = await layer.connection(layer.consistent_hash(group)).zcard(layer._group_key(group))
            assert members == STORM
            await asyncio.gather(*(layer.group_discard(group, name) for name in channels))
            assert await layer.connection(layer.consistent_hash(group)).zcard(layer._group_key(group)) == 0
        finally:
            await layer.connection(layer.consistent_hash(group)).delete(layer._group_key(group))
            await layer.close_pools()

    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] != "channels.layers.InMemoryChannelLayer"
    async_to_sync(scenario)()
