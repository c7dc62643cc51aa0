"""Every phone page at 360×740: readable sizes (长辈版 larger), no serious accessibility finding,
ordering with JavaScript off, and the stream's staleness note and catch-up on the order's page."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from dispatch import demo
from dispatch.choices import OrderState
from dispatch.models import Order
from requests_app.models import ServiceItem
from volunteers.models import Membership

from .. import factories as f
from .pages import call_api, screenshot, serious_violations, sign_in_with_code

pytestmark = pytest.mark.e2e


@pytest.fixture
def item(category) -> ServiceItem:
    return ServiceItem.objects.create(category=category, name="上门理发")


@pytest.fixture
def leader(team) -> User:
    return f.member(team, Membership.Role.LEADER).user


def sizes(page: Page) -> dict[str, float]:
    """The main text's size and the smallest touch target on the page, in CSS pixels."""
    return page.evaluate(
        """() => {
            const text = parseFloat(getComputedStyle(document.querySelector("main p, main li, main label")).fontSize);
            const selector = "main button, main .button, .bar .chip, main .tiles-menu a";
            const targets = Array.from(document.querySelectorAll(selector))
                .filter((el) => el.offsetParent !== null)
                .map((el) => el.getBoundingClientRect())
                .map((box) => Math.min(box.width, box.height));
            const body = getComputedStyle(document.body);
            const line = parseFloat(body.lineHeight) / parseFloat(body.fontSize);
            return {text: text, target: Math.min(...targets), line: line};
        }"""
    )


def test_large_text_raises_text_and_touch_targets_to_the_elderly_numbers(phone, db):
    demo.seed_menu()
    page = phone().new_page()
    page.goto("/")
    normal = sizes(page)
    screenshot(page, "citizen-home")

    page.get_by_role("button", name=re.compile("长辈版")).click()
    expect(page.locator("html")).to_have_class(re.compile("elder"))
    elder = sizes(page)
    screenshot(page, "citizen-home-elder")

    assert normal["text"] >= 18 and normal["target"] >= 48 and normal["line"] >= 1.5
    assert elder["text"] > normal["text"] and elder["text"] >= 22 and elder["target"] >= 60
    assert serious_violations(page) == []


def test_a_citizen_orders_with_javascript_off(phone, citizen, category, item, station):
    page = phone(java_script_enabled=False).new_page()
    sign_in_with_code(page, citizen.username, "/")

    page.get_by_role("link", name=re.compile(category.name)).click()
    page.locator('label:has(input[value="%d"])' % item.pk).click()
    page.locator('textarea[name="details-description"]').fill("帮老人理发")
    page.get_by_role("button", name=re.compile("下一步|Next")).click()
    page.locator('label:has(input[name="where-place"][value="station"])').click()
    page.locator('select[name="where-station"]').select_option(str(station.pk))
    page.locator('input[name="where-address"]').fill("金山村3组12号")
    expect(page.locator('input[name="where-place"][value="here"]')).to_be_hidden()
    page.get_by_role("button", name=re.compile("下一步|Next")).click()
    page.get_by_role("button", name=re.compile("下一步|Next")).click()  # tomorrow morning, as offered
    page.locator('input[name="contact-contact_name"]').fill("王奶奶")
    page.get_by_role("button", name=re.compile("下一步|Next")).click()
    page.get_by_role("button", name=re.compile("提交|Place the order")).click()

    order = Order.objects.get()
    expect(page).to_have_url(re.compile(f"/orders/{order.pk}/$"))
    assert (order.address, order.station, order.item) == ("金山村3组12号", station, item)


def test_the_order_page_says_when_it_is_stale_and_catches_up(phone, site, citizen, category, dispatcher, team, leader):
    context = phone()
    page = context.new_page()
    sign_in_with_code(page, citizen.username, "/orders/")
    order = Order.objects.get(pk=call_api(site, citizen, "/api/v1/orders/", f.order_payload(category))["id"])
    page.goto(f"/orders/{order.pk}/")
    status = page.locator("[data-stream-status]")
    expect(status).to_be_hidden()

    context.set_offline(True)
    expect(status).to_be_visible()
    expect(status).to_have_text(re.compile(r"\d\d:\d\d"))
    screenshot(page, "citizen-order-offline")
    call_api(site, dispatcher, f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [team.pk]})
    call_api(site, leader, f"/api/v1/offers/{order.offers.get().pk}/accept/", {})
    context.set_offline(False)

    expect(page.locator(".badge[data-state]")).to_have_attribute("data-state", OrderState.ACCEPTED, timeout=30_000)
    expect(status).to_be_hidden()


@pytest.mark.parametrize(
    "path,name",
    [
        ("/login/", "sign-in"),
        ("/orders/", "citizen-orders"),
        ("/order/what/", "citizen-order-what"),
        ("/team/history/", "team-history"),
        ("/team/offline/", "team-offline"),
    ],
)
def test_each_page_has_no_serious_accessibility_finding(phone, citizen, leader, category, story, path, name):
    user = leader if path.startswith("/team/") else citizen
    story.completed()
    page = phone().new_page()
    if path != "/login/":
        sign_in_with_code(page, user.username, path)
    page.goto(path)

    screenshot(page, name)
    assert serious_violations(page) == []
