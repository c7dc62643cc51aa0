"""What the page tests share: signing in by code, the accessibility scan, screenshots."""

import json
import os
import re
import urllib.request
from pathlib import Path

from django.contrib.auth.models import User
from django.db.models import Q
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

from dispatch.models import Notification

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "static" / "vendor" / "axe-core-4.14.1" / "axe.min.js"
# The README shows these; a run rewrites them.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "docs" / "screenshots"))


def latest_code(phone: str) -> str:
    """The sign-in code the notification backends were given for this phone."""
    sent = Notification.objects.filter(Q(phone=phone) | Q(user__username=phone), kind=Notification.Kind.SIGNIN_CODE)
    notification = sent.order_by("-pk").first()
    assert notification is not None, f"no code was sent to {phone}"
    return re.search(r"\d{6}", notification.text).group()


def sign_in_with_code(page: Page, phone: str, next_path: str = "/") -> None:
    page.goto(f"/login/?next={next_path}")
    page.get_by_label(re.compile("手机号|Mobile")).fill(phone)
    page.get_by_role("button", name=re.compile("发送验证码|Send me a code")).click()
    code = page.get_by_label(re.compile("验证码|6-digit code"))
    expect(code).to_be_visible()
    code.fill(latest_code(phone))
    page.get_by_role("button", name=re.compile("^(登录|Sign in)$")).click()
    page.wait_for_url(f"**{next_path}")


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def call_api(site: str, user: User, path: str, body: dict) -> dict:
    """What another person's device does: the API of the running site, with the user's token."""
    token, _created = Token.objects.get_or_create(user=user)
    request = urllib.request.Request(
        f"{site}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
