"""With REDIS_URL and nothing else, the stream runs on stock channels_redis; the fast path is opt-in."""

import logging

import pytest

from realtime import events, fastpath


def test_the_default_redis_layer_is_channels_redis_own(monkeypatch):
    import importlib

    import config.settings.base as base

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/9")
    monkeypatch.delenv("STREAM_FAST_PATH", raising=False)
    try:
        reloaded = importlib.reload(base)
        assert reloaded.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
        monkeypatch.setenv("STREAM_FAST_PATH", "1")
        reloaded = importlib.reload(base)
        assert reloaded.CHANNEL_LAYERS["default"]["BACKEND"] == "realtime.fastpath.redis_layer"
    finally:
        monkeypatch.undo()
        importlib.reload(base)


def test_the_fast_path_finds_every_internal_it_needs_in_the_pinned_packages():
    assert fastpath.missing() == []


def test_a_missing_internal_turns_the_fast_path_off_with_one_warning(settings, monkeypatch, caplog):
    settings.STREAM_FAST_PATH = True
    monkeypatch.setattr(fastpath, "INTERNALS", (*fastpath.INTERNALS, ("daphne.server", "Server.no_such_thing")))
    fastpath.usable.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="realtime.fastpath"):
            assert fastpath.usable() is False
            layer = fastpath.redis_layer(hosts=[{"address": "redis://127.0.0.1:6379/9", "timeout": 10}])
    finally:
        fastpath.usable.cache_clear()

    assert type(layer).__module__ == "channels_redis.core"
    assert [r.getMessage() for r in caplog.records if "Server.no_such_thing" in r.getMessage()]


@pytest.mark.django_db
def test_publishing_falls_back_to_group_send_on_a_layer_without_a_batch_send(monkeypatch):
    sent = []

    class Layer:
        async def group_send(self, group, message):
            sent.append((group, message["type"]))

    monkeypatch.setattr(events, "get_channel_layer", lambda: Layer())

    events._deliver([(["team.1", "unit.2"], {"type": "stream.event"})])

    assert sent == [("team.1", "stream.event"), ("unit.2", "stream.event")]


@pytest.mark.django_db
def test_an_unexpected_error_of_the_layer_is_logged_not_swallowed(monkeypatch, caplog):
    class Layer:
        async def group_send(self, group, message):
            raise RuntimeError("the layer broke")

    monkeypatch.setattr(events, "get_channel_layer", lambda: Layer())
    monkeypatch.setattr(events._pending, "paused_until", 0.0)

    with caplog.at_level(logging.WARNING, logger="realtime.events"):
        events._deliver([(["team.1"], {"type": "stream.event"})])

    (record,) = [r for r in caplog.records if "could not push" in r.getMessage()]
    assert record.exc_info and "the layer broke" in str(record.exc_info[1])
