"""Who sees what (DESIGN §5): out of scope is 404, inside scope without the role is 403."""

import pytest
from rest_framework.test import APIClient

from dispatch import services as dispatching
from dispatch.choices import DispatchMode
from dispatch.models import Offer, Order, Transition
from requests_app import services as intake

from .. import factories as f

CONTACT = ("contact_name", "contact_phone", "address", "lat", "lng")


def order_url(order: Order, action: str = "") -> str:
    return f"/api/v1/orders/{order.pk}/" + (f"{action}/" if action else "")


def offer_url(offer: Offer, action: str = "") -> str:
    return f"/api/v1/offers/{offer.pk}/" + (f"{action}/" if action else "")


def listed_ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def broadcast(story, other_team) -> Order:
    return story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)


# --- offers of another team ---------------------------------------------------------


def test_it_hides_a_teams_offer_from_another_team(api, story, other_leader):
    order = story.dispatching()
    offer = story.offer_of(order)
    client = api(other_leader)

    detail = client.get(offer_url(offer))
    accept = client.post(offer_url(offer, "accept"), format="json")
    decline = client.post(offer_url(offer, "decline"), {"note": "忙"}, format="json")

    assert [detail.status_code, accept.status_code, decline.status_code] == [404, 404, 404]
    assert {r.json()["code"] for r in (detail, accept, decline)} == {"not_found"}
    offer.refresh_from_db()
    assert offer.state == "pending"
    assert Order.objects.get(pk=order.pk).state == "dispatching"


def test_it_shows_a_team_its_own_offer(api, story, volunteer):
    offer = story.offer_of(story.dispatching())

    response = api(volunteer).get(offer_url(offer))

    assert response.status_code == 200
    assert response.json()["state"] == "pending"


# --- orders out of scope: 404 on detail and every action ----------------------------

ACTIONS = [
    ("get", "", None),
    ("get", "candidates", None),
    ("get", "events", None),
    ("post", "dispatch", {"mode": "directed", "teams": [1]}),
    ("post", "recall", {"note": ""}),
    ("post", "reject", {"note": "不在服务范围"}),
    ("post", "cancel", {"note": ""}),
    ("post", "abandon", {"note": ""}),
    ("post", "start", {"qr": "000000"}),
    ("post", "complete", {"summary": "完成", "hours": [{"volunteer": 1, "hours": 1}]}),
    ("post", "evaluate", {"rating": 5}),
]


@pytest.mark.parametrize(("method", "action", "body"), ACTIONS, ids=[a[1] or "detail" for a in ACTIONS])
def test_it_answers_404_to_a_team_never_offered_the_order(api, story, other_leader, method, action, body):
    order = story.dispatching()
    before = Transition.objects.count()

    response = getattr(api(other_leader), method)(order_url(order, action), body, format="json")

    assert response.status_code == 404, response.json()
    assert response.json()["code"] == "not_found"
    assert Order.objects.get(pk=order.pk).state == "dispatching"
    assert story.offer_of(order).state == "pending"
    assert Transition.objects.count() == before


@pytest.mark.parametrize(("method", "action", "body"), ACTIONS, ids=[a[1] or "detail" for a in ACTIONS])
def test_it_answers_404_to_another_citizen(api, story, other_citizen, method, action, body):
    order = story.placed()
    before = Transition.objects.count()

    response = getattr(api(other_citizen), method)(order_url(order, action), body, format="json")

    assert response.status_code == 404, response.json()
    assert Order.objects.get(pk=order.pk).state == "submitted"
    assert Transition.objects.count() == before


@pytest.mark.parametrize(("method", "action", "body"), ACTIONS, ids=[a[1] or "detail" for a in ACTIONS])
def test_it_answers_404_to_a_dispatcher_of_another_branch(api, story, other_dispatcher, method, action, body):
    order = story.placed()
    before = Transition.objects.count()

    response = getattr(api(other_dispatcher), method)(order_url(order, action), body, format="json")

    assert response.status_code == 404, response.json()
    assert Order.objects.get(pk=order.pk).state == "submitted"
    assert Transition.objects.count() == before


@pytest.mark.parametrize("who", ["dispatcher", "station_dispatcher"])
def test_it_shows_an_order_to_the_dispatchers_above_its_station(api, request, story, who):
    order = story.placed()

    response = api(request.getfixturevalue(who)).get(order_url(order))

    assert response.status_code == 200
    assert response.json()["id"] == order.pk


def test_it_answers_404_for_an_order_that_does_not_exist(api, dispatcher):
    assert api(dispatcher).get("/api/v1/orders/987654/").status_code == 404
    assert api(dispatcher).get("/api/v1/orders/not-a-number/").status_code == 404


# --- lists ------------------------------------------------------------------------


@pytest.fixture
def three_orders(story, other_citizen, other_station, category):
    """a: the citizen's, offered to `team`; b: another citizen's at `station`; c: the citizen's at `other_station`."""
    a = story.dispatching()
    b, _ = intake.order_place(user=other_citizen, **f.order_fields(category))
    c = story.placed(lat=28.799, lng=104.599)
    assert (a.station_id, b.station_id, c.station_id) == (story.team.unit_id, story.team.unit_id, other_station.pk)
    return a, b, c


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("citizen", "ac"),
        ("other_citizen", "b"),
        ("volunteer", "a"),
        ("team_leader", "a"),
        ("other_leader", ""),
        ("station_dispatcher", "ab"),
        ("other_dispatcher", "c"),
        ("dispatcher", "abc"),
        ("stranger", ""),
    ],
)
def test_it_lists_only_the_orders_each_user_may_see(api, request, three_orders, who, sees):
    expected = {o.pk for o, name in zip(three_orders, "abc", strict=True) if name in sees}

    response = api(request.getfixturevalue(who)).get("/api/v1/orders/", {"page_size": 100})

    assert listed_ids(response) == expected


@pytest.mark.parametrize(
    ("who", "sees_offer"),
    [
        ("volunteer", True),
        ("team_leader", True),
        ("other_leader", False),
        ("citizen", False),
        ("dispatcher", True),
        ("station_dispatcher", True),
        ("other_dispatcher", False),
    ],
)
def test_it_lists_only_the_offers_each_user_may_see(api, request, story, three_orders, who, sees_offer):
    offer = story.offer_of(three_orders[0])

    response = api(request.getfixturevalue(who)).get("/api/v1/offers/", {"page_size": 100})

    assert listed_ids(response) == ({offer.pk} if sees_offer else set())


# --- privacy staging ------------------------------------------------------------------


def test_it_shows_an_offered_team_the_what_and_when_but_not_the_who_and_where(api, story, other_team, volunteer):
    order = broadcast(story, other_team)

    body = api(volunteer).get(order_url(order)).json()

    assert body["station"] == order.station_id
    assert body["category"] == order.category_id
    assert body["window_start"] is not None and body["window_end"] is not None
    assert body["distance_km"] is not None
    assert {name: body[name] for name in CONTACT} == dict.fromkeys(CONTACT)
    assert body["checkin_code"] is None


def test_it_hides_contact_details_in_a_teams_offer_list_before_acceptance(api, story, volunteer):
    story.dispatching()

    rows = api(volunteer).get("/api/v1/offers/").json()["results"]

    assert len(rows) == 1
    detail = rows[0]["order_detail"]
    assert detail["station"] is not None
    assert {name: detail[name] for name in CONTACT} == dict.fromkeys(CONTACT)
    assert detail["checkin_code"] is None


def test_it_reveals_contact_details_to_the_accepting_team_only(
    api, story, other_team, volunteer, team_leader, other_leader
):
    order = broadcast(story, other_team)
    accepted = api(team_leader).post(offer_url(story.offer_of(order), "accept"), format="json")
    assert accepted.status_code == 200, accepted.json()
    assert Offer.objects.get(order=order, team=other_team).state == "withdrawn"

    mine = api(volunteer).get(order_url(order)).json()
    theirs = api(other_leader).get(order_url(order))

    assert mine["contact_name"] == "王大爷"
    assert mine["contact_phone"] == "13811112222"
    assert mine["address"] == "柏溪镇金山村3组12号"
    assert (mine["lat"], mine["lng"]) == (28.701, 104.501)
    assert theirs.status_code == 200
    assert {name: theirs.json()[name] for name in CONTACT} == dict.fromkeys(CONTACT)


@pytest.mark.parametrize("stage", ["dispatching", "accepted", "in_service", "completed"])
def test_it_never_shows_the_checkin_code_to_a_team(api, story, volunteer, team_leader, citizen, dispatcher, stage):
    order = story.in_state(stage)

    for member in (volunteer, team_leader):
        assert api(member).get(order_url(order)).json()["checkin_code"] is None
    # The citizen shows the code on site, so they (and staff) must see it.
    assert api(citizen).get(order_url(order)).json()["checkin_code"] == order.checkin_code
    assert api(dispatcher).get(order_url(order)).json()["checkin_code"] == order.checkin_code


def test_it_hides_the_checkin_code_in_the_accept_response(api, story, team_leader):
    order = story.dispatching()

    response = api(team_leader).post(offer_url(story.offer_of(order), "accept"), format="json")

    assert response.status_code == 200
    assert response.json()["state"] == "accepted"
    assert response.json()["checkin_code"] is None


# --- rejection reasons ----------------------------------------------------------------


@pytest.fixture
def rejected_after_offer(story, dispatcher) -> Order:
    """Offered to `team`, recalled, then rejected: the team can still see the order."""
    order = story.dispatching()
    dispatching.order_recall(order_id=order.pk, user=dispatcher)
    return dispatching.order_reject(order_id=order.pk, user=dispatcher, note="不在服务范围")


@pytest.mark.parametrize("who", ["dispatcher", "station_dispatcher", "citizen"])
def test_it_shows_the_rejection_reason_to_staff_and_the_citizen(api, request, rejected_after_offer, who):
    body = api(request.getfixturevalue(who)).get(order_url(rejected_after_offer)).json()

    assert body["state"] == "rejected"
    assert body["reject_reason"] == "不在服务范围"
    assert any(row["note"] == "不在服务范围" for row in body["history"])


@pytest.mark.parametrize("who", ["volunteer", "team_leader"])
def test_it_hides_the_rejection_reason_from_teams(api, request, rejected_after_offer, who):
    response = api(request.getfixturevalue(who)).get(order_url(rejected_after_offer))

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "rejected"
    assert body["reject_reason"] is None
    assert "不在服务范围" not in response.content.decode()
    assert all(row["action"] != "reject" for row in body["history"])


def test_it_hides_another_teams_offer_history_from_a_team(api, story, other_team, other_leader, team_leader):
    order = broadcast(story, other_team)
    dispatching.offer_accept(offer_id=story.offer_of(order).pk, user=team_leader)

    body = api(other_leader).get(order_url(order)).json()

    own_offer = Offer.objects.get(order=order, team=other_team).pk
    assert {o["id"] for o in body["offers"]} == {own_offer}
    assert {row["offer"] for row in body["history"] if row["offer"]} == {own_offer}


# --- roles inside scope: 403 ----------------------------------------------------------


def test_it_forbids_the_citizen_to_dispatch_their_own_order(api, story, citizen):
    order = story.placed()

    response = api(citizen).post(
        order_url(order, "dispatch"), {"mode": "directed", "teams": [story.team.pk]}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Order.objects.get(pk=order.pk).state == "submitted"
    assert not Offer.objects.filter(order=order).exists()


def test_it_forbids_the_citizen_to_recall_their_own_order(api, story, citizen):
    order = story.dispatching()

    response = api(citizen).post(order_url(order, "recall"), {"note": "不要了"}, format="json")

    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).state == "dispatching"
    assert story.offer_of(order).state == "pending"


def test_it_forbids_the_citizen_to_reject_their_own_order(api, story, citizen):
    order = story.placed()

    response = api(citizen).post(order_url(order, "reject"), {"note": "不要了"}, format="json")

    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).state == "submitted"


@pytest.mark.parametrize("who", ["team_leader", "volunteer", "dispatcher"])
def test_it_forbids_anyone_but_the_citizen_to_evaluate(api, request, story, who):
    order = story.completed()

    response = api(request.getfixturevalue(who)).post(order_url(order, "evaluate"), {"rating": 5}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    order.refresh_from_db()
    assert (order.state, order.rating) == ("completed", None)


@pytest.mark.parametrize(
    ("who", "status"),
    [("citizen", 403), ("team_leader", 403), ("stranger", 403), ("dispatcher", 200), ("station_dispatcher", 200)],
)
def test_it_shows_statistics_to_dispatchers_only(api, request, story, who, status):
    story.placed()

    response = api(request.getfixturevalue(who)).get("/api/v1/stats/")

    assert response.status_code == status
    if status == 200:
        assert response.json()["orders"] == 1
    else:
        assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize(("who", "status"), [("citizen", 403), ("team_leader", 403), ("dispatcher", 200)])
def test_it_shows_candidate_teams_to_dispatchers_only(api, request, story, who, status):
    # Offered to the team, so that its leader can see the order at all.
    order = story.dispatching()

    response = api(request.getfixturevalue(who)).get(order_url(order, "candidates"))

    assert response.status_code == status
    if status == 200:
        assert isinstance(response.json(), list)
    else:
        assert response.json()["code"] == "permission_denied"


# --- teams ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("volunteer", 200),
        ("team_leader", 200),
        ("dispatcher", 200),
        ("station_dispatcher", 200),
        ("other_leader", 404),
        ("citizen", 404),
        ("stranger", 404),
        ("other_dispatcher", 404),
    ],
)
def test_it_shows_a_team_to_its_members_and_dispatchers_only(api, request, team, volunteer, who, status):
    response = api(request.getfixturevalue(who)).get(f"/api/v1/teams/{team.pk}/")

    assert response.status_code == status
    if status == 200:
        assert volunteer.volunteer.pk in {m["volunteer"] for m in response.json()["members"]}


# --- anonymous ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/orders/"),
        ("post", "/api/v1/orders/"),
        ("get", "/api/v1/orders/{order}/"),
        ("post", "/api/v1/orders/{order}/cancel/"),
        ("get", "/api/v1/offers/"),
        ("post", "/api/v1/offers/{offer}/accept/"),
        ("get", "/api/v1/stats/"),
        ("get", "/api/v1/teams/{team}/"),
    ],
)
def test_it_answers_401_to_an_anonymous_request(story, method, path):
    order = story.dispatching()
    offer = story.offer_of(order)
    before = Transition.objects.count()

    response = getattr(APIClient(), method)(
        path.format(order=order.pk, offer=offer.pk, team=story.team.pk), {}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert Transition.objects.count() == before


def test_it_serves_the_service_menu_anonymously(category):
    f.CategoryFactory(code="retired", active=False)

    response = APIClient().get("/api/v1/categories/")

    assert response.status_code == 200
    assert [c["code"] for c in response.json()] == ["elderly"]
