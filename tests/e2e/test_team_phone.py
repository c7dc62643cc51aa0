"""The team leader on a 360 px phone: an offer arrives live, accept, check in by code, complete with a
photo; and the same completion made offline is sent once when the phone is back online."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import BrowserContext, Page, expect

from dispatch.choices import OrderState
from dispatch.models import Order, Transition
from volunteers.models import Membership, ServiceRecord

from .. import factories as f
from ..images import image_bytes
from .pages import call_api, screenshot, serious_violations, sign_in_with_code

pytestmark = pytest.mark.e2e


@pytest.fixture
def leader(team) -> User:
    return f.member(team, Membership.Role.LEADER).user


def place(site: str, citizen: User, category) -> Order:
    return Order.objects.get(pk=call_api(site, citizen, "/api/v1/orders/", f.order_payload(category))["id"])


def open_workspace(phone, leader: User) -> tuple[BrowserContext, Page]:
    context = phone()
    page = context.new_page()
    sign_in_with_code(page, leader.username, "/team/")
    expect(page.locator("[data-stream-status]")).to_be_hidden()  # the stream is live
    return context, page


def test_an_offer_arrives_live_and_the_team_serves_the_order(phone, site, citizen, category, dispatcher, team, leader):
    context, page = open_workspace(phone, leader)
    screenshot(page, "team-workspace")
    assert serious_violations(page) == []
    order = place(site, citizen, category)

    call_api(site, dispatcher, f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [team.pk]})

    card = page.locator(".offer-card")
    expect(card).to_be_visible()
    expect(card.locator("[data-countdown]")).to_have_text(re.compile(r"\d+:\d\d"))
    screenshot(page, "team-offer")
    assert serious_violations(page) == []
    card.get_by_role("button", name=re.compile("接单|Accept")).click()

    page.wait_for_url(f"**/team/orders/{order.pk}/")
    expect(page.get_by_text(order.contact_phone)).to_be_visible()
    screenshot(page, "team-order")
    assert serious_violations(page) == []
    page.locator('input[name="qr"]').fill(order.checkin_code)
    page.get_by_role("button", name=re.compile("验证码签到|Check in with the code")).click()

    expect(page.locator('textarea[name="summary"]')).to_be_visible()
    page.locator('textarea[name="summary"]').fill("理发完成")
    page.locator('input[name="photos"]').set_input_files(
        {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": image_bytes(size=(64, 48))}
    )
    screenshot(page, "team-complete")
    assert serious_violations(page) == []
    page.get_by_role("button", name=re.compile("完成服务|Complete the service")).click()

    expect(page.locator(".badge[data-state]")).to_have_attribute("data-state", OrderState.COMPLETED)
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED and order.photos.count() == 1
    assert ServiceRecord.objects.get(order=order).volunteer.user == leader


def test_a_completion_made_offline_is_sent_once_when_back_online(
    phone, site, citizen, category, dispatcher, team, leader
):
    order = place(site, citizen, category)
    call_api(site, dispatcher, f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [team.pk]})
    call_api(site, leader, f"/api/v1/offers/{order.offers.get().pk}/accept/", {})
    call_api(site, leader, f"/api/v1/orders/{order.pk}/start/", {"qr": order.checkin_code})
    context, page = open_workspace(phone, leader)
    page.goto(f"/team/orders/{order.pk}/")

    context.set_offline(True)
    page.locator('textarea[name="summary"]').fill("断网时完成")
    page.get_by_role("button", name=re.compile("完成服务|Complete the service")).click()

    queued = page.locator("[data-queue-list] li")
    expect(queued).to_have_count(1)
    screenshot(page, "team-offline-queue")
    assert Order.objects.get(pk=order.pk).state == OrderState.IN_SERVICE

    context.set_offline(False)

    expect(queued).to_have_count(0, timeout=20_000)
    order.refresh_from_db()
    assert (order.state, order.summary) == (OrderState.COMPLETED, "断网时完成")
    assert Transition.objects.filter(order=order, action="complete").count() == 1
    # Sending it again (a second tab, a retry) changes nothing: the key was used.
    page.reload()
    assert Transition.objects.filter(order=order, action="complete").count() == 1
