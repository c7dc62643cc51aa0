"""The production settings, plus the ceiling route: what the lifecycle benchmark serves."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.ceiling.urls"
