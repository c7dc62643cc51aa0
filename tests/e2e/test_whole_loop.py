"""The whole loop in three browsers at once: a citizen's phone, the dispatcher's desk, a team's phone.

Nothing is reloaded by hand: each page moves when the stream says another person acted."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from dispatch.choices import OrderState
from dispatch.models import Order
from requests_app.models import ServiceItem
from volunteers.models import Membership

from .. import factories as f
from .pages import screenshot, serious_violations, sign_in_with_code

pytestmark = pytest.mark.e2e

DESK = {"viewport": {"width": 1920, "height": 1080}, "is_mobile": False, "has_touch": False, "device_scale_factor": 1}


def sign_in_with_password(page: Page, user: User, next_path: str) -> None:
    page.goto(f"/login/?with=password&next={next_path}")
    page.locator('input[name="phone"]').fill(user.username)
    page.locator('input[name="password"]').fill(f.PASSWORD)
    page.get_by_role("button", name=re.compile("^(登录|Sign in)$")).click()
    page.wait_for_url(f"**{next_path}")


def order_as_citizen(page: Page, category, station) -> None:
    page.goto("/")
    page.get_by_role("link", name=re.compile(category.name)).click()
    page.locator("label:has(input[name='details-item'])").first.click()
    page.locator('textarea[name="details-description"]').fill("帮老人理发")
    page.get_by_role("button", name=re.compile("下一步|Next")).click()
    page.locator('label:has(input[name="where-place"][value="station"])').click()
    page.locator('select[name="where-station"]').select_option(str(station.pk))
    page.locator('input[name="where-address"]').fill("金山村3组12号")
    page.get_by_role("button", name=re.compile("下一步|Next")).click()
    page.get_by_role("button", name=re.compile("下一步|Next")).click()
    page.locator('input[name="contact-contact_name"]').fill("王奶奶")
    page.get_by_role("button", name=re.compile("下一步|Next")).click()
    page.get_by_role("button", name=re.compile("提交|Place the order")).click()
    page.wait_for_url(re.compile(r"/orders/\d+/$"))


def test_citizen_dispatcher_and_team_close_the_loop_live(phone, site, citizen, category, station, dispatcher, team):
    ServiceItem.objects.create(category=category, name="上门理发")
    leader = f.member(team, Membership.Role.LEADER).user
    desk = phone(**DESK).new_page()
    sign_in_with_password(desk, dispatcher, "/console/")
    board = desk.context.new_page()
    board.goto("/board/")
    team_phone = phone().new_page()
    sign_in_with_code(team_phone, leader.username, "/team/")
    citizen_phone = phone().new_page()
    sign_in_with_code(citizen_phone, citizen.username, "/")
    for page in (desk, team_phone, board):
        expect(page.locator("[data-stream-status]")).to_be_hidden()
        page.evaluate("window.__same_page = true")

    order_as_citizen(citizen_phone, category, station)
    order = Order.objects.get()

    row = desk.locator(f'[data-row="{order.pk}"]')
    expect(row).to_be_visible()
    expect(desk).to_have_title(re.compile(r"^\(1\)"))
    desk.keyboard.press("Enter")
    expect(desk.locator("#panel")).to_contain_text(team.name)
    # The map draws the units' jurisdictions, the order and the candidates without any tile server.
    expect(desk.locator("#order-map path.leaflet-interactive").first).to_be_visible()
    assert desk.locator("#order-map path.leaflet-interactive").count() >= 3
    screenshot(desk, "console")
    assert serious_violations(desk) == []
    desk.keyboard.press("1")
    desk.keyboard.press("d")
    expect(desk.locator("#panel .badge[data-state]").first).to_have_attribute("data-state", OrderState.DISPATCHING)
    desk.evaluate("window.__same_page = true")  # the dispatch was the desk's own post; from now on, no reload

    card = team_phone.locator(".offer-card")
    expect(card).to_be_visible()
    card.get_by_role("button", name=re.compile("接单|Accept")).click()
    team_phone.wait_for_url(f"**/team/orders/{order.pk}/")

    expect(citizen_phone.locator(".timeline li[aria-current=step]")).to_contain_text(re.compile("已接单|Accepted"))
    expect(desk.locator("#panel .badge[data-state]").first).to_have_attribute("data-state", OrderState.ACCEPTED)
    assert desk.evaluate("window.__same_page") is True

    team_phone.locator('input[name="qr"]').fill(Order.objects.get().checkin_code)
    team_phone.get_by_role("button", name=re.compile("验证码签到|Check in with the code")).click()
    expect(citizen_phone.locator(".timeline li[aria-current=step]")).to_contain_text(re.compile("服务中|In service"))
    team_phone.locator('textarea[name="summary"]').fill("理发完成")
    team_phone.get_by_role("button", name=re.compile("完成服务|Complete the service")).click()

    stars = citizen_phone.locator("label[for=star-5]")
    expect(stars).to_be_visible()
    stars.click()
    citizen_phone.get_by_role("button", name=re.compile("提交评价|Send my rating")).click()
    expect(citizen_phone.locator(".timeline li[aria-current=step]")).to_contain_text(re.compile("已评价|Rated"))
    order.refresh_from_db()
    assert (order.state, order.rating, order.team) == (OrderState.CLOSED, 5, team)
    expect(desk.locator("#panel .badge[data-state]").first).to_have_attribute("data-state", OrderState.CLOSED)
    for counter in ("placed", "dispatched", "accepted", "completed", "rated"):
        expect(board.locator(f'[data-counter="{counter}"]')).to_have_text("1")
    assert board.evaluate("window.__same_page") is True
