"""Fixtures for the real-browser tests: Debian's Chromium driven by Playwright.

The browser is never downloaded: `.ci/install-browser` puts it at /usr/bin/chromium.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: the first Swagger UI render parses a 1 MB bundle on a cold CPU.
TIMEOUT_MS = 15_000

expect.set_options(timeout=TIMEOUT_MS)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing; run .ci/install-browser (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        # On CI a missing browser is a broken machine, not a reason to pass quietly.
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module: Playwright's event loop lives only as long as it, so the
    async-unsafe allowance below ends with the module and leaks into no other test."""
    _require_chromium()
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps an asyncio event loop in the test thread, so Django
        # takes the ORM calls the tests make between browser steps for calls from async
        # code and raises SynchronousOnlyOperation. Nothing here is really concurrent.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Browser, live_server: Any) -> Iterator[Callable[..., BrowserContext]]:
    """Opens browser contexts on the live server (one per locale, say); closes them after the test."""
    contexts: list[BrowserContext] = []

    def open_context(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


# --- The whole site on daphne (pages and the live stream), for the phone pages' tests -----------

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="session")
def site(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """daphne serving config.asgi on the test database: pages, static files and the stream.

    Tests that use it take `transactional_db`, so that the rows they make are committed and seen.
    With REDIS_URL set the server uses Redis, so events published by the test process reach it too.
    """
    from ..realtime.processes import free_port, start_daphne, stop

    with django_db_blocker.unblock():
        port = free_port()
        # Short heartbeats: a dropped connection is noticed, and a lost push made up for, quickly.
        process = start_daphne(port, os.environ.get("REDIS_URL"), STREAM_HEARTBEAT_SECONDS="2")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture
def phone(browser: Browser, site: str, transactional_db: Any) -> Iterator[Callable[..., BrowserContext]]:
    """Opens 360×740 phone contexts on the site, in Chinese unless told otherwise."""
    contexts: list[BrowserContext] = []

    def open_phone(**options: Any) -> BrowserContext:
        settings = {**PHONE, "locale": "zh-CN", **options}
        context = browser.new_context(base_url=site, **settings)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield open_phone
    for context in contexts:
        context.close()
