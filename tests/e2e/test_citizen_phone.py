"""The citizen on a 360 px phone: signs in with a code, orders, watches the order move live."""

import re

import pytest
from playwright.sync_api import expect

from dispatch.models import Order
from requests_app.models import ServiceItem
from volunteers.models import Membership

from .. import factories as f
from .pages import call_api, screenshot, serious_violations, sign_in_with_code

pytestmark = pytest.mark.e2e


@pytest.fixture
def menu(category):
    ServiceItem.objects.create(category=category, name="上门理发")
    category.icon = "🧓"
    category.save()
    return category


def choose(page, name: str, value: str) -> None:
    """Tap a tile, as a finger does: on its label."""
    page.locator(f'label:has(input[name="{name}"][value="{value}"])').click()


def next_screen(page) -> None:
    page.get_by_role("button", name=re.compile("下一步|Next")).click()


def test_a_citizen_signs_in_with_a_code_orders_and_watches_the_order_move(phone, site, menu, station, dispatcher, team):
    leader = f.member(team, Membership.Role.LEADER).user
    page = phone().new_page()

    page.goto("/")
    assert serious_violations(page) == []
    sign_in_with_code(page, "13912345678")

    page.get_by_role("link", name=re.compile(menu.name)).click()
    page.get_by_text("上门理发").click()
    page.locator('textarea[name="details-description"]').fill("帮老人理发")
    next_screen(page)
    choose(page, "where-place", "station")
    page.locator('select[name="where-station"]').select_option(str(station.pk))
    page.locator('input[name="where-address"]').fill("金山村3组12号")
    next_screen(page)
    choose(page, "when-day", "tomorrow")
    choose(page, "when-half", "afternoon")
    next_screen(page)
    page.locator('input[name="contact-contact_name"]').fill("王奶奶")
    next_screen(page)
    screenshot(page, "citizen-confirm")
    assert serious_violations(page) == []
    page.get_by_role("button", name=re.compile("提交|Place the order")).click()

    order = Order.objects.get()
    page.wait_for_url(f"**/orders/{order.pk}/")
    now = page.locator(".timeline li[aria-current=step]")
    expect(now).to_contain_text(re.compile("已提交|Submitted"))
    assert serious_violations(page) == []

    # The dispatcher and the team act on their own devices; the citizen's page moves without a reload.
    page.evaluate("window.__same_page = true")
    call_api(site, dispatcher, f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [team.pk]})
    call_api(site, leader, f"/api/v1/offers/{order.offers.get().pk}/accept/", {})

    expect(now).to_contain_text(re.compile("已接单|Accepted"), timeout=20_000)
    expect(page.locator(".timeline")).to_contain_text(team.name)
    assert page.evaluate("window.__same_page") is True
    screenshot(page, "citizen-order")
