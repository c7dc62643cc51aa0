"""The pages people open in a browser, rendered by a real Chromium against a live server."""

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Request, Response, Route, expect

pytestmark = pytest.mark.e2e

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
ADMIN_PASSWORD = "e2e-admin-password"

NewContext = Callable[..., BrowserContext]


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    # data: and blob: URLs never leave the browser.
    return parts.scheme in {"data", "blob"} or parts.hostname in LOCAL_HOSTS


def test_api_docs_render_the_operations_with_nothing_fetched_off_the_machine(new_context: NewContext) -> None:
    page = new_context(locale="en-US").new_page()
    off_machine: list[str] = []
    failed: list[str] = []

    def keep_on_machine(route: Route) -> None:
        if _is_local(route.request.url):
            route.continue_()
        else:
            off_machine.append(route.request.url)
            route.abort()

    def record_failure(request: Request) -> None:
        failed.append(f"{request.method} {request.url}: {request.failure}")

    def record_error_status(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.request.method} {response.url}: HTTP {response.status}")

    page.route("**/*", keep_on_machine)
    page.on("requestfailed", record_failure)
    page.on("response", record_error_status)

    response = page.goto("/api/docs/", wait_until="networkidle")

    assert response is not None and response.ok
    # Checked first too, so that a CDN link or a missing static file is named in the failure.
    assert off_machine == []
    assert failed == []
    # Swagger UI puts the raw path in data-path once it has fetched and rendered the schema.
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/orders/"]').first).to_be_visible()
    expect(page.locator('.opblock-summary-path[data-path="/api/v1/offers/"]').first).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Civic Dispatch API")
    assert off_machine == []
    assert failed == []


def _log_in_to_admin(context: BrowserContext, username: str, password: str) -> Page:
    page = context.new_page()
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login/?next=/admin/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator('#login-form [type="submit"]').click()
    expect(page).to_have_url("/admin/")
    return page


def test_admin_speaks_chinese_then_english_as_the_browser_asks(
    new_context: NewContext, django_user_model, tmp_path: Path
) -> None:
    django_user_model.objects.create_superuser(username="admin", email="admin@example.org", password=ADMIN_PASSWORD)

    chinese = _log_in_to_admin(new_context(locale="zh-CN"), "admin", ADMIN_PASSWORD)
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(chinese.locator("#content h1")).to_have_text("站点管理")
    expect(chinese.locator("#logout-form button")).to_have_text("注销")
    chinese.screenshot(path=tmp_path / "admin-index-zh-CN.png", full_page=True)

    english = _log_in_to_admin(new_context(locale="en-US"), "admin", ADMIN_PASSWORD)
    expect(english.locator("html")).to_have_attribute("lang", "en")
    expect(english.locator("#content h1")).to_have_text("Site administration")
    expect(english.locator("#logout-form button")).to_have_text("Log out")
    english.screenshot(path=tmp_path / "admin-index-en-US.png", full_page=True)


def test_home_page_language_switcher_changes_the_language_to_english(new_context: NewContext, tmp_path: Path) -> None:
    page = new_context(locale="zh-CN").new_page()

    response = page.goto("/")

    assert response is not None and response.ok
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.screenshot(path=tmp_path / "home-zh-CN.png", full_page=True)

    with page.expect_navigation():
        page.get_by_role("button", name="English").click()

    expect(page).to_have_url("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="中文")).to_be_visible()
    page.screenshot(path=tmp_path / "home-after-switch.png", full_page=True)
