"""The dispatcher's desk at 1920×1080: filters and keyboard, 代点单, a rejection's reason kept from
the team, and the big screen moving with the stream and saying when it is stale."""

import json
import re
import urllib.request

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

from dispatch.choices import OrderState
from dispatch.models import Order
from requests_app import services as intake
from requests_app.models import Citizen
from volunteers.models import Membership

from .. import factories as f
from .pages import call_api, screenshot, serious_violations
from .test_whole_loop import DESK, sign_in_with_password

pytestmark = pytest.mark.e2e


def desk_page(phone, user: User, path: str) -> Page:
    page = phone(**DESK).new_page()
    sign_in_with_password(page, user, path)
    return page


def test_filters_and_the_keyboard_drive_the_queue(phone, story, dispatcher):
    first = story.placed(description="买菜")
    second = story.placed(description="修电视机")
    page = desk_page(phone, dispatcher, "/console/")
    expect(page.locator("[data-row]")).to_have_count(2)

    page.keyboard.press("/")
    page.keyboard.type("电视")
    page.keyboard.press("Enter")
    expect(page.locator("[data-row]")).to_have_count(1)
    expect(page.locator(f'[data-row="{second.pk}"]')).to_be_visible()

    page.goto("/console/")
    page.locator("body").click()
    page.keyboard.press("j")
    expect(page.locator("tr.selected")).to_have_attribute("data-row", str(second.pk))
    page.keyboard.press("k")
    expect(page.locator("tr.selected")).to_have_attribute("data-row", str(first.pk))
    page.keyboard.press("Enter")
    expect(page.locator("#panel")).to_have_attribute("data-order", str(first.pk))
    expect(page).to_have_url(re.compile(f"/console/orders/{first.pk}/$"))
    page.keyboard.press("?")
    expect(page.locator("dialog[data-help]")).to_be_visible()
    screenshot(page, "console-keys")
    assert serious_violations(page) == []
    page.keyboard.press("Escape")
    expect(page.locator("dialog[data-help]")).to_be_hidden()


def test_an_order_for_a_citizen_who_phoned(phone, station_dispatcher, station, category):
    page = desk_page(phone, station_dispatcher, "/console/")
    page.get_by_role("link", name=re.compile("代点单|Order for a citizen")).click()
    page.locator('input[name="phone"]').fill("13987654321")
    page.locator('input[name="name"]').fill("李大爷")
    page.locator('select[name="category"]').select_option(str(category.pk))
    page.locator('textarea[name="description"]').fill("帮忙修水管")
    page.locator('select[name="station"]').select_option(str(station.pk))
    page.locator('input[name="address"]').fill("金山村5组")
    page.locator('input[name="day"]').fill(f.tomorrow_at(8).date().isoformat())
    page.locator('select[name="half"]').select_option("afternoon")
    screenshot(page, "console-place")
    assert serious_violations(page) == []
    page.get_by_role("button", name=re.compile("提交|Place the order")).click()

    order = Order.objects.get()
    expect(page).to_have_url(re.compile(f"/console/orders/{order.pk}/$"))
    assert order.citizen == Citizen.objects.get(phone="13987654321") and order.placed_by == station_dispatcher


def test_a_rejections_reason_never_reaches_the_team(phone, site, story, dispatcher, team):
    leader = f.member(team, Membership.Role.LEADER).user
    order = story.placed()
    call_api(site, dispatcher, f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [team.pk]})
    call_api(site, dispatcher, f"/api/v1/orders/{order.pk}/recall/", {})
    page = desk_page(phone, dispatcher, f"/console/orders/{order.pk}/")

    page.keyboard.press("r")
    page.keyboard.type("重复下单，已合并")
    page.keyboard.press("Enter")

    expect(page.locator("#panel .badge[data-state]").first).to_have_attribute("data-state", OrderState.REJECTED)
    assert Order.objects.get(pk=order.pk).reject_reason == "重复下单，已合并"
    token, _created = Token.objects.get_or_create(user=leader)
    seen = []
    for path in ("/api/v1/offers/", f"/api/v1/orders/{order.pk}/events/?after=0"):
        request = urllib.request.Request(f"{site}{path}", headers={"Authorization": f"Token {token.key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            seen.append(json.dumps(json.load(response), ensure_ascii=False))
    assert all("重复下单" not in answer for answer in seen)


def test_the_big_screen_moves_with_the_stream_and_says_when_it_is_stale(phone, site, dispatcher, citizen, category):
    intake.order_place(user=citizen, **f.order_fields(category))
    page = desk_page(phone, dispatcher, "/board/")
    placed = page.locator('[data-counter="placed"]')
    expect(placed).to_have_text("1")
    expect(page.locator("[data-stream-status]")).to_be_hidden()

    call_api(site, citizen, "/api/v1/orders/", f.order_payload(category))

    expect(placed).to_have_text("2")
    expect(page.locator('[data-list="latest"] li').first).to_contain_text("王*")
    screenshot(page, "board")
    assert serious_violations(page) == []
    page.context.set_offline(True)
    expect(page.locator("[data-stream-status]")).to_be_visible()
    screenshot(page, "board-stale")
