"""Check-in by the order's QR code: the citizen's page shows it, the team's phone camera reads it.

Chromium's fake camera plays a still picture of the QR code the citizen's page drew."""

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from PIL import Image
from playwright.sync_api import Browser, expect, sync_playwright

from dispatch.choices import OrderState
from dispatch.models import Order
from volunteers.models import Membership

from .. import factories as f
from .conftest import CHROMIUM, CHROMIUM_ARGS, _require_chromium
from .pages import call_api, screenshot, serious_violations, sign_in_with_code

pytestmark = pytest.mark.e2e

CAMERA = Path("/tmp") / f"civic-fake-camera-{id(object())}.y4m"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium with a fake camera that plays CAMERA (written by the test before the scan starts)."""
    _require_chromium()
    camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        args = [*CHROMIUM_ARGS, *camera, f"--use-file-for-fake-video-capture={CAMERA}"]
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield launched
        launched.close()
    CAMERA.unlink(missing_ok=True)


def write_camera(png: bytes) -> None:
    """A one-frame Y4M video (4:2:0) of the picture on a white 640×480 frame."""
    picture = Image.open(io.BytesIO(png)).convert("L")
    picture.thumbnail((400, 400))
    frame = Image.new("L", (640, 480), 255)
    frame.paste(picture, ((640 - picture.width) // 2, (480 - picture.height) // 2))
    chroma = bytes([128]) * (320 * 240)
    CAMERA.write_bytes(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + frame.tobytes() + chroma + chroma)


def test_the_team_checks_in_by_scanning_the_citizens_qr_code(phone, site, citizen, category, dispatcher, team):
    leader: User = f.member(team, Membership.Role.LEADER).user
    order = Order.objects.get(pk=call_api(site, citizen, "/api/v1/orders/", f.order_payload(category))["id"])
    call_api(site, dispatcher, f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [team.pk]})
    call_api(site, leader, f"/api/v1/offers/{order.offers.get().pk}/accept/", {})

    citizen_page = phone().new_page()
    sign_in_with_code(citizen_page, citizen.username, f"/orders/{order.pk}/")
    expect(citizen_page.locator("[data-checkin-code]")).to_have_text(order.checkin_code)
    screenshot(citizen_page, "citizen-checkin-code")
    assert serious_violations(citizen_page) == []
    write_camera(citizen_page.locator(".qr svg").screenshot())

    team_context = phone()
    team_context.grant_permissions(["camera"])
    team_page = team_context.new_page()
    sign_in_with_code(team_page, leader.username, f"/team/orders/{order.pk}/")
    team_page.get_by_role("button", name=re.compile("扫描|Scan")).click()

    expect(team_page.locator(".badge[data-state]")).to_have_attribute("data-state", OrderState.IN_SERVICE)
    order.refresh_from_db()
    assert order.state == OrderState.IN_SERVICE
    assert order.transitions.get(action="start").note == "Checked in with the order's code."
