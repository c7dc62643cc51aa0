"""The hours ledger in a browser: a leader's 补录 on a 360 px phone, a volunteer's certificate and its
public verification, and the dispatcher approving the entry at the desk."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from records.models import Certificate
from volunteers.ledger import record_manual_add
from volunteers.models import ServiceRecord, Volunteer

from .pages import screenshot, serious_violations, sign_in_with_code
from .test_whole_loop import DESK, sign_in_with_password

pytestmark = pytest.mark.e2e

REAL_NAME = "张秀英"


def phone_page(phone, user: User, path: str) -> Page:
    page = phone().new_page()
    sign_in_with_code(page, user.username, path)
    return page


def test_the_leader_adds_hours_by_hand_for_a_member(phone, story, volunteer):
    order = story.completed()
    member = Volunteer.objects.get(user=volunteer)
    page = phone_page(phone, story.team_leader, f"/team/volunteers/{member.pk}/")

    form = page.locator(f'form[action$="/team/volunteers/{member.pk}/add/"]')
    form.get_by_label(re.compile("订单号|Order number")).fill(str(order.pk))
    form.get_by_label(re.compile("服务时长|Hours")).fill("1.5")
    form.get_by_label(re.compile("补录原因|Why it is added")).fill("签到后忘记登记时长")
    form.get_by_role("button", name=re.compile("提交审核|Send for approval")).click()

    page.wait_for_url(f"**/team/volunteers/{member.pk}/")
    entry = page.locator(".ledger [data-record]")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("1.5 h")
    expect(entry).to_contain_text(re.compile("待审核|waiting for approval"))
    record = ServiceRecord.objects.get(volunteer=member)
    assert (record.state, record.hours, record.order_id) == ("pending", Decimal("1.5"), order.pk)
    screenshot(page, "team-ledger")
    assert serious_violations(page) == []


def test_a_volunteer_gets_a_certificate_anyone_can_verify(phone, story):
    order = story.completed()
    credited = ServiceRecord.objects.get(order=order).volunteer
    Volunteer.objects.filter(pk=credited.pk).update(real_name=REAL_NAME)
    page = phone_page(phone, credited.user, "/team/")
    page.goto("/team/record/")
    page.wait_for_url(f"**/team/volunteers/{credited.pk}/")
    assert serious_violations(page) == []
    for field in ("date_from", "date_to"):  # the default range, as <input type="date"> must hold it
        expect(page.locator(f'input[name="{field}"]')).to_have_value(re.compile(r"^\d{4}-\d\d-\d\d$"))

    page.get_by_role("button", name=re.compile(r"申请开具证明|Request a certificate")).click()

    page.wait_for_url(f"**/team/volunteers/{credited.pk}/#certificates")
    certificate = Certificate.objects.get(volunteer=credited)
    expect(page.locator("#certificates ~ ul.list li").first).to_contain_text(certificate.number)
    assert serious_violations(page) == []

    anyone = phone().new_page()
    anyone.goto(f"/verify/{certificate.number}/")
    expect(anyone.get_by_role("status")).to_contain_text("真实有效")
    facts = anyone.locator("dl.facts")
    expect(facts).to_contain_text(certificate.number)
    expect(facts).to_contain_text("张*")
    expect(anyone.locator("body")).not_to_contain_text(REAL_NAME)
    screenshot(anyone, "verify")
    assert serious_violations(anyone) == []


def test_the_dispatcher_approves_a_pending_entry(phone, story, dispatcher, volunteer):
    order = story.completed()
    member = Volunteer.objects.get(user=volunteer)
    record = record_manual_add(
        user=story.team_leader, volunteer_id=member.pk, hours="1.5", reason="签到后忘记登记时长", order_id=order.pk
    )
    page = phone(**DESK).new_page()
    sign_in_with_password(page, dispatcher, "/console/records/")

    row = page.locator(f'[data-record="{record.pk}"]')
    expect(row).to_contain_text(member.real_name)
    expect(row).to_contain_text("+1.5 h")
    screenshot(page, "console-records")
    assert serious_violations(page) == []
    row.get_by_role("button", name=re.compile("^(通过|Approve)$")).click()

    expect(page.locator("[data-record]")).to_have_count(0)
    expect(page.get_by_text(re.compile("已通过，时长已计入|Approved: the hours count"))).to_be_visible()
    assert ServiceRecord.objects.get(pk=record.pk).state == "counted"
    assert serious_violations(page) == []
