"""The team's phone workspace with JavaScript off, and the answers its offline outbox relies on."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from dispatch.choices import OfferState, OrderState
from dispatch.models import Offer, Order, OrderPhoto
from volunteers.forms import DECLINE_REASONS
from volunteers.models import ServiceRecord

from ..images import image_bytes

pytestmark = pytest.mark.django_db


def test_the_workspace_lists_the_open_offers_live(browser_for, story, team_leader):
    order = story.dispatching()

    page = browser_for(team_leader).get("/team/").content.decode()

    offer = story.offer_of(order)
    assert f"/team/offers/{offer.pk}/accept/" in page and 'hx-trigger="stream-offer from:body' in page
    assert order.contact_phone not in page


def test_someone_outside_every_team_is_told_so(browser_for, citizen):
    assert browser_for(citizen).get("/team/").status_code == 403


def test_accepting_leads_to_the_order_with_the_contact_shown_only_now(browser_for, story, team_leader):
    order = story.dispatching()
    client = browser_for(team_leader)

    page = client.post(f"/team/offers/{story.offer_of(order).pk}/accept/", follow=True)

    assert page.redirect_chain[-1][0] == f"/team/orders/{order.pk}/"
    text = page.content.decode()
    assert order.contact_phone in text and order.address in text and f"geo:{order.lat},{order.lng}" in text


def test_declining_gives_the_reason_from_the_list(browser_for, story, team_leader):
    order = story.dispatching()
    offer = story.offer_of(order)

    browser_for(team_leader).post(f"/team/offers/{offer.pk}/decline/", {"reason": "far"})

    offer.refresh_from_db()
    assert offer.state == OfferState.DECLINED
    with translation.override("zh-hans"):
        assert offer.transitions.last().note == str(dict(DECLINE_REASONS)["far"]) == "距离太远"


def test_check_in_by_the_citizens_code_sent_twice_acts_once(browser_for, story, team_leader):
    order = story.accepted()
    client = browser_for(team_leader)
    form = {"qr": order.checkin_code, "idempotency_key": "k-1"}

    first = client.post(f"/team/orders/{order.pk}/start/", form, HTTP_ACCEPT="application/json")
    second = client.post(f"/team/orders/{order.pk}/start/", form, HTTP_ACCEPT="application/json")

    assert (first.json()["ok"], second.json()["ok"]) == (True, True)
    assert Order.objects.get(pk=order.pk).state == OrderState.IN_SERVICE
    assert Order.objects.get(pk=order.pk).transitions.filter(action="start").count() == 1


def test_a_wrong_code_is_refused_in_words(browser_for, story, team_leader):
    order = story.accepted()
    wrong = "000000" if order.checkin_code != "000000" else "111111"

    answer = browser_for(team_leader).post(
        f"/team/orders/{order.pk}/start/", {"qr": wrong, "idempotency_key": "k"}, HTTP_ACCEPT="application/json"
    )

    assert answer.status_code == 400 and answer.json()["ok"] is False and answer.json()["detail"]
    assert Order.objects.get(pk=order.pk).state == OrderState.ACCEPTED


def test_completion_with_a_photo_and_hours_in_half_hours_sent_twice_acts_once(browser_for, story, team_leader):
    order = story.in_service()
    member = story.team.memberships.first()
    client = browser_for(team_leader)

    def send():
        photo = SimpleUploadedFile("p.jpg", image_bytes(), content_type="image/jpeg")
        form = {"summary": "理发完成", "idempotency_key": "c-1", f"hours_{member.volunteer_id}": "1.5", "photos": photo}
        return client.post(f"/team/orders/{order.pk}/complete/", form, HTTP_ACCEPT="application/json")

    assert send().json()["ok"] and send().json()["ok"]

    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED and order.summary == "理发完成"
    assert [str(r.hours) for r in ServiceRecord.objects.filter(order=order)] == ["1.5"]
    assert OrderPhoto.objects.filter(order=order).count() == 1


def test_completion_without_anyone_serving_is_refused(browser_for, story, team_leader):
    order = story.in_service()

    answer = browser_for(team_leader).post(
        f"/team/orders/{order.pk}/complete/", {"summary": "x", "idempotency_key": "c"}, HTTP_ACCEPT="application/json"
    )

    assert answer.status_code == 400 and Order.objects.get(pk=order.pk).state == OrderState.IN_SERVICE


def test_a_key_reused_for_another_action_is_a_conflict(browser_for, story, team_leader):
    order = story.accepted()
    client = browser_for(team_leader)
    client.post(f"/team/orders/{order.pk}/start/", {"qr": order.checkin_code, "idempotency_key": "same"})
    member = story.team.memberships.first()

    answer = client.post(
        f"/team/orders/{order.pk}/complete/",
        {"summary": "x", "idempotency_key": "same", f"hours_{member.volunteer_id}": "1"},
        HTTP_ACCEPT="application/json",
    )

    assert answer.status_code == 400 and Order.objects.get(pk=order.pk).state == OrderState.IN_SERVICE


def test_another_teams_order_is_not_found(browser_for, story, other_leader):
    order = story.accepted()

    assert browser_for(other_leader).get(f"/team/orders/{order.pk}/").status_code == 404
    answer = browser_for(other_leader).post(f"/team/orders/{order.pk}/start/", {"qr": order.checkin_code})
    assert answer.status_code == 404


def test_history_shows_each_members_hours_and_stars(browser_for, story, team_leader, settings):
    settings.STAR_LEVEL_HOURS = [1, 100]
    story.closed()

    page = browser_for(team_leader).get("/team/history/").content.decode()

    assert "2.0" in page and "★" in page


def test_the_workspace_installs_manifest_service_worker_offline_page(client):
    manifest = json.loads(client.get("/team/manifest.webmanifest").content)
    worker = client.get("/team/sw.js")

    assert manifest["start_url"] == "/team/" and manifest["display"] == "standalone"
    assert worker["Content-Type"].startswith("text/javascript") and "/team/offline/" in worker.content.decode()
    assert client.get("/team/offline/").status_code == 200


def test_the_api_replays_a_check_in_with_the_same_idempotency_key(api, story, team_leader):
    order = story.accepted()
    client = api(team_leader)

    answers = [
        client.post(
            f"/api/v1/orders/{order.pk}/start/", {"qr": order.checkin_code}, format="json", HTTP_IDEMPOTENCY_KEY="x"
        ).status_code
        for _ in range(2)
    ]

    assert answers == [200, 200]
    assert Offer.objects.filter(order=order).count() == 1
