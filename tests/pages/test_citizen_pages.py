"""The citizen's pages with JavaScript off: plain links and form posts, one question per screen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.choices import OrderState
from dispatch.models import Notification, Order
from requests_app.models import Citizen, ServiceItem

pytestmark = pytest.mark.django_db

WIZARD = "order_wizard-current_step"


def step(client, name: str, data: dict):
    return client.post(f"/order/{name}/", {WIZARD: name, **{f"{name}-{k}": v for k, v in data.items()}})


@pytest.fixture
def item(category):
    return ServiceItem.objects.create(category=category, name="上门理发")


def order_through_every_screen(client, category, item, station, *, place=None) -> object:
    first = client.get(f"/order/?category={category.pk}")
    assert first.status_code == 302 and first["Location"] == "/order/details/"
    assert step(client, "details", {"item": item.pk, "description": "帮老人理发"}).status_code == 302
    where = place or {"place": "station", "station": station.pk, "address": "金山村3组12号", "remember": "on"}
    assert step(client, "where", where)["Location"] == "/order/when/"
    assert step(client, "when", {"day": "tomorrow", "half": "afternoon"})["Location"] == "/order/contact/"
    assert step(client, "contact", {"contact_name": "王奶奶", "contact_phone": "13811112222"})["Location"] == (
        "/order/confirm/"
    )
    confirm = client.get("/order/confirm/")
    assert "帮老人理发" in confirm.content.decode()
    placed = step(client, "confirm", {})
    return client.get(placed["Location"], follow=True)


def test_the_home_page_shows_the_menu_and_a_way_in(client, category):
    page = client.get("/")

    assert page.status_code == 200
    text = page.content.decode()
    assert category.name in text and "/login/" in text and "/team/" in text


def test_a_citizen_orders_through_every_screen_without_javascript(browser_for, citizen, category, item, station):
    client = browser_for(citizen)

    page = order_through_every_screen(client, category, item, station)

    order = Order.objects.get()
    assert page.redirect_chain[-1][0] == f"/orders/{order.pk}/"
    assert (order.item, order.station, order.address, order.contact_name) == (item, station, "金山村3组12号", "王奶奶")
    local = timezone.localtime(order.window_start)
    assert (local.date(), local.hour, timezone.localtime(order.window_end).hour) == (
        timezone.localdate() + timedelta(days=1),
        14,
        18,
    )
    assert Citizen.objects.get(user=citizen).address == "金山村3组12号"


def test_each_screen_says_what_is_missing_beside_the_field(browser_for, citizen, category, item, station):
    client = browser_for(citizen)
    client.get(f"/order/?category={category.pk}")

    page = step(client, "details", {"item": item.pk, "description": ""})

    assert page.status_code == 200
    assert "field-error" in page.content.decode() and Order.objects.count() == 0


def test_a_half_day_that_has_begun_is_refused_in_words(browser_for, citizen, category, item, station):
    client = browser_for(citizen)
    client.get(f"/order/?category={category.pk}")
    step(client, "details", {"item": item.pk, "description": "x"})
    step(client, "where", {"place": "station", "station": station.pk, "address": "a"})

    page = step(client, "when", {"day": "date", "date": (timezone.localdate() - timedelta(days=1)).isoformat()})

    assert page.status_code == 200 and "errorlist" in page.content.decode()


def test_this_phones_location_needs_a_position(browser_for, citizen, category, item):
    client = browser_for(citizen)
    client.get(f"/order/?category={category.pk}")
    step(client, "details", {"item": item.pk, "description": "x"})

    page = step(client, "where", {"place": "here", "address": "a"})

    assert page.status_code == 200 and "errorlist" in page.content.decode()


def test_an_open_order_nearby_of_the_same_service_is_offered_first(
    browser_for, story, citizen, category, item, station
):
    mine = story.placed(lat=station.lat, lng=station.lng)
    client = browser_for(citizen)
    client.get(f"/order/?category={category.pk}")
    step(client, "details", {"item": item.pk, "description": "x"})
    step(client, "where", {"place": "station", "station": station.pk, "address": "a"})
    step(client, "when", {"day": "tomorrow", "half": "morning"})
    step(client, "contact", {"contact_name": "王", "contact_phone": "13811112222"})

    page = client.get("/order/confirm/").content.decode()

    assert f"/orders/{mine.pk}/" in page


def test_the_order_page_shows_the_timeline_and_cancel(browser_for, story, citizen):
    order = story.placed()

    page = browser_for(citizen).get(f"/orders/{order.pk}/").content.decode()

    assert 'class="timeline"' in page and f"/orders/{order.pk}/cancel/" in page
    assert 'data-stream-user="' in page and f"stream-order-{order.pk}" in page


def test_the_citizen_cancels_while_allowed(browser_for, story, citizen):
    order = story.placed()

    browser_for(citizen).post(f"/orders/{order.pk}/cancel/")

    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED


def test_someone_elses_order_is_not_found(browser_for, story, other_citizen):
    order = story.placed()

    assert browser_for(other_citizen).get(f"/orders/{order.pk}/").status_code == 404
    assert browser_for(other_citizen).post(f"/orders/{order.pk}/cancel/").status_code == 404
    assert Order.objects.get(pk=order.pk).state == OrderState.SUBMITTED


def test_the_citizen_rates_with_stars_a_comment_and_consent(browser_for, story, citizen):
    order = story.completed()

    browser_for(citizen).post(
        f"/orders/{order.pk}/rate/", {"rating": "4", "comment": "很好", "publicity_consent": "on", "solved": "yes"}
    )

    order.refresh_from_db()
    assert (order.state, order.rating, order.comment, order.publicity_consent, order.resolved) == (
        OrderState.CLOSED,
        4,
        "很好",
        True,
        True,
    )


def test_not_solved_alerts_the_dispatchers_and_orders_again_in_one_tap(
    browser_for, story, citizen, institute, dispatcher
):
    from .. import factories as f

    institute_dispatcher = f.staff(institute)
    order = story.completed()
    client = browser_for(citizen)

    page = client.post(f"/orders/{order.pk}/rate/", {"solved": "no"}, follow=True)

    order.refresh_from_db()
    assert (order.state, order.resolved) == (OrderState.CLOSED, False)
    assert Notification.objects.filter(kind=Notification.Kind.UNRESOLVED, user=institute_dispatcher).exists()
    assert f"/orders/{order.pk}/again/" in page.content.decode()

    again = client.post(f"/orders/{order.pk}/again/")

    new = Order.objects.exclude(pk=order.pk).get()
    assert again["Location"] == f"/orders/{new.pk}/"
    assert (new.category, new.address, new.state) == (order.category, order.address, OrderState.SUBMITTED)
    assert new.window_start > timezone.now()
    client.post(f"/orders/{order.pk}/again/")
    assert Order.objects.count() == 2


def test_a_rating_without_stars_is_refused_in_words(browser_for, story, citizen):
    order = story.completed()

    page = browser_for(citizen).post(f"/orders/{order.pk}/rate/", {"solved": "yes"})

    assert page.status_code == 400 and "errorlist" in page.content.decode()
    assert Order.objects.get(pk=order.pk).state == OrderState.COMPLETED


def test_large_text_is_a_cookie_the_pages_follow(client):
    client.post("/display/elder/", {"elder": "1", "next": "/"})

    assert 'class="elder"' in client.get("/").content.decode()

    client.post("/display/elder/", {"elder": "0", "next": "/"})
    assert 'class="elder"' not in client.get("/").content.decode()


def test_staff_are_sent_to_the_console_not_the_ordering(browser_for, dispatcher, category):
    page = browser_for(dispatcher).get(f"/order/?category={category.pk}")

    assert page.status_code == 302 and page["Location"] == "/"


def test_an_id_too_large_for_the_database_is_simply_not_found(browser_for, citizen, team_leader):
    huge = "9" * 30

    assert browser_for(citizen).get(f"/orders/{huge}/").status_code == 404
    assert browser_for(team_leader).post(f"/team/offers/{huge}/accept/").status_code == 404
    assert browser_for(citizen).get(f"/order/?category={huge}").status_code == 302
