"""The dispatcher's console with JavaScript off: the queue, an order with its candidates, 代点单."""

import json
import re

import pytest

from dispatch import services as dispatching
from dispatch.choices import OfferState, OrderState
from dispatch.models import Order
from requests_app import services as intake
from requests_app.models import Citizen

from .. import factories as f

pytestmark = pytest.mark.django_db


def test_the_queue_shows_waiting_orders_with_counts_and_the_title(browser_for, story, dispatcher):
    waiting = story.placed()
    story.dispatching()

    page = browser_for(dispatcher).get("/console/").content.decode()

    assert f'data-row="{waiting.pk}"' in page
    assert re.search(r"<title>\(2\)", page) is None and re.search(r"<title>\(1\)", page)
    assert 'data-count="submitted"' in page and 'hx-trigger="stream-orders from:body' in page


def test_filters_narrow_the_queue(browser_for, story, dispatcher, category):
    story.placed(description="买菜")
    other = f.CategoryFactory()
    order, _created = intake.order_place(user=story.citizen, **f.order_fields(other, description="修电视"))
    client = browser_for(dispatcher)

    by_text = client.get("/console/", {"q": "修电视"}).content.decode()
    by_category = client.get("/console/", {"category": other.pk}).content.decode()

    assert by_text.count('data-row="') == 1 and f'data-row="{order.pk}"' in by_text
    assert by_category.count('data-row="') == 1
    assert client.get("/console/", {"category": "x" * 30}).status_code == 200


def test_the_order_shows_the_contact_candidates_with_reasons_and_a_map(browser_for, story, dispatcher, team):
    order = story.placed()

    page = browser_for(dispatcher).get(f"/console/orders/{order.pk}/").content.decode()

    assert order.contact_phone in page and team.name in page and "km" in page
    data = json.loads(re.search(r'<script id="map-data" type="application/json">(.*?)</script>', page).group(1))
    assert data["order"]["lat"] == order.lat and [t["name"] for t in data["teams"]] == [team.name]
    assert data["units"] and all("km" in u for u in data["units"])


def test_dispatching_from_the_candidates(browser_for, story, dispatcher, team):
    order = story.placed()

    browser_for(dispatcher).post(f"/console/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [team.pk]})

    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING
    assert [(o.team_id, o.state) for o in order.offers.all()] == [(team.pk, OfferState.PENDING)]


def test_broadcast_without_a_pick_goes_to_the_best(browser_for, story, dispatcher, team, other_team):
    order = story.placed()

    browser_for(dispatcher).post(f"/console/orders/{order.pk}/dispatch/", {"mode": "broadcast", "top": "2"})

    assert Order.objects.get(pk=order.pk).offers.count() == 2


def test_a_team_outside_the_candidates_cannot_be_slipped_in(browser_for, story, dispatcher):
    order = story.placed()
    stranger_team = f.TeamFactory(unit=order.station, home_lat=20.0, home_lng=100.0)

    browser_for(dispatcher).post(
        f"/console/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [stranger_team.pk]}
    )

    assert Order.objects.get(pk=order.pk).state == OrderState.SUBMITTED


def test_reject_needs_a_reason_and_keeps_it(browser_for, story, dispatcher):
    order = story.placed()
    client = browser_for(dispatcher)

    client.post(f"/console/orders/{order.pk}/reject/", {"note": ""})
    assert Order.objects.get(pk=order.pk).state == OrderState.SUBMITTED

    client.post(f"/console/orders/{order.pk}/reject/", {"note": "不在服务范围"})
    order.refresh_from_db()
    assert (order.state, order.reject_reason) == (OrderState.REJECTED, "不在服务范围")


def test_recall_takes_a_dispatched_order_back(browser_for, story, dispatcher):
    order = story.dispatching()

    browser_for(dispatcher).post(f"/console/orders/{order.pk}/recall/")

    assert Order.objects.get(pk=order.pk).state == OrderState.SUBMITTED


def test_placing_for_a_citizen_finds_or_makes_their_account(browser_for, station_dispatcher, station, category):
    form = {
        "phone": "13987654321",
        "name": "李大爷",
        "category": category.pk,
        "description": "帮忙修水管",
        "station": station.pk,
        "address": "金山村5组",
        "day": (f.tomorrow_at(8)).date().isoformat(),
        "half": "afternoon",
        "priority": "urgent",
        "key": "k1",
    }
    client = browser_for(station_dispatcher)

    first = client.post("/console/place/", form)
    again = client.post("/console/place/", form)

    order = Order.objects.get()
    assert first["Location"] == again["Location"] == f"/console/orders/{order.pk}/"
    citizen = Citizen.objects.get(phone="13987654321")
    assert (order.citizen, order.placed_by, order.priority, order.contact_name) == (
        citizen,
        station_dispatcher,
        "urgent",
        "李大爷",
    )


def test_placing_for_a_citizen_refuses_a_station_outside_the_unit(
    browser_for, station_dispatcher, other_station, category
):
    form = {
        "phone": "13987654321",
        "name": "李大爷",
        "category": category.pk,
        "description": "x",
        "station": other_station.pk,
        "address": "y",
        "day": f.tomorrow_at(8).date().isoformat(),
        "half": "morning",
        "priority": "normal",
    }

    page = browser_for(station_dispatcher).post("/console/place/", form)

    assert page.status_code == 400 and not Order.objects.exists()


def test_the_console_is_for_dispatchers_only(browser_for, citizen, team_leader):
    assert browser_for(citizen).get("/console/").status_code == 403
    assert browser_for(team_leader).get("/console/").status_code == 403


def test_an_order_outside_the_subtree_is_not_found(browser_for, story, other_dispatcher):
    order = story.placed()

    assert browser_for(other_dispatcher).get(f"/console/orders/{order.pk}/").status_code == 404


def test_the_filter_form_sent_with_empty_fields_means_any(browser_for, story, dispatcher):
    story.placed()

    page = browser_for(dispatcher).get(
        "/console/", {"state": "", "category": "", "station": "", "level": "", "priority": "", "q": ""}
    )

    assert page.content.decode().count('data-row="') == 1


def test_a_rejected_orders_page_shows_its_reason(browser_for, story, dispatcher):
    order = story.rejected()

    page = browser_for(dispatcher).get(f"/console/orders/{order.pk}/")

    assert page.status_code == 200 and "不在服务范围" in page.content.decode()


def test_an_order_with_system_changes_in_its_history_shows(browser_for, story, dispatcher):
    order = story.dispatching()
    story.offer_of(order)

    dispatching.order_recall(order_id=order.pk, user=dispatcher)

    assert browser_for(dispatcher).get(f"/console/orders/{order.pk}/").status_code == 200
