"""Embedded default: `make run`. DEBUG stays off (no tracebacks or settings on error pages);
DJANGO_DEBUG=1 turns it on for development."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
