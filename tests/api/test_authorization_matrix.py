"""Every role × every endpoint, against an order in one role's scope and out of another's.

One table says what each role gets; a refused request changes no row. The roles come in pairs,
one for whom the order is in scope and one for whom it is not: the citizen who placed it and
another citizen, the team it was offered to and another team, the station's dispatcher and
another branch's, and the center's dispatcher, the media editor and an anonymous client.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from dispatch.choices import Role
from dispatch.models import Offer, Order, OrderPhoto, Transition
from realtime.models import Event
from volunteers.models import ServiceRecord

from .. import factories as f
from ..images import image_bytes

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "citizen",
    "other_citizen",
    "leader",
    "other_leader",
    "station",
    "other_station",
    "center",
    "media",
)


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str  # under /api/v1; {order}, {offer}, {team} are filled in, {photo} is the photo's own address
    state: str  # the state the order is driven to first
    expect: tuple[int, ...]  # one status per role, in ROLES order
    body: Any = None


def row(name, method, path, state, statuses, body=None) -> Row:
    expect = tuple(int(s) for s in statuses.split())
    assert len(expect) == len(ROLES), name
    return Row(name, method, path if path.startswith("{") else f"/api/v1{path}", state, expect, body)


# fmt: off
# name, method, path, state, then the statuses of: anon cit oth lead olead stat ostat cent media
TABLE = [
    row("menu", "get", "/categories/", "dispatching", "200 200 200 200 200 200 200 200 200"),
    row("orders", "get", "/orders/", "dispatching", "401 200 200 200 200 200 200 200 200"),
    row("order", "get", "/orders/{order}/", "dispatching", "401 200 404 200 404 200 404 200 404"),
    row("candidates", "get", "/orders/{order}/candidates/", "submitted", "401 403 404 404 404 200 404 200 404"),
    row("events", "get", "/orders/{order}/events/", "dispatching", "401 200 404 200 404 200 404 200 404"),
    row("place", "post", "/orders/", "dispatching", "401 201 201 403 403 201 400 201 403", "order"),
    row("dispatch", "post", "/orders/{order}/dispatch/", "submitted", "401 403 404 404 404 200 404 200 404", "team"),
    row("recall", "post", "/orders/{order}/recall/", "dispatching", "401 403 404 403 404 200 404 200 404", {}),
    row("reject", "post", "/orders/{order}/reject/", "submitted", "401 403 404 404 404 200 404 200 404", "reason"),
    row("cancel", "post", "/orders/{order}/cancel/", "submitted", "401 200 404 404 404 200 404 200 404", {}),
    row("abandon", "post", "/orders/{order}/abandon/", "accepted", "401 403 404 200 404 403 404 403 404", {}),
    row("start", "post", "/orders/{order}/start/", "accepted", "401 403 404 200 404 403 404 403 404", "code"),
    row("complete", "post", "/orders/{order}/complete/", "in_service", "401 403 404 200 404 403 404 403 404", "hours"),
    row("evaluate", "post", "/orders/{order}/evaluate/", "completed", "401 200 404 403 404 403 404 403 404", "stars"),
    row("photo", "get", "{photo}", "completed", "401 200 404 200 404 200 404 200 404"),
    row("offers", "get", "/offers/", "dispatching", "401 200 200 200 200 200 200 200 200"),
    row("offer", "get", "/offers/{offer}/", "dispatching", "401 404 404 200 404 200 404 200 404"),
    row("accept", "post", "/offers/{offer}/accept/", "dispatching", "401 404 404 200 404 403 404 403 404", {}),
    row("decline", "post", "/offers/{offer}/decline/", "dispatching", "401 404 404 200 404 403 404 403 404", {}),
    row("teams", "get", "/teams/", "dispatching", "401 200 200 200 200 200 200 200 200"),
    row("team", "get", "/teams/{team}/", "dispatching", "401 404 404 200 404 200 404 200 404"),
    row("stats", "get", "/stats/", "dispatching", "401 403 403 403 403 200 200 200 403"),
]
# fmt: on

# Lists answer 200 to everyone signed in; what they hold is scoped: these roles see the order (or its offer).
LISTED = {
    "orders": {"citizen", "leader", "station", "center"},
    "offers": {"leader", "station", "center"},
    "teams": {"leader", "station", "center"},
}


@pytest.fixture
def people(story, other_citizen, other_leader, station_dispatcher, other_dispatcher, center) -> dict[str, Any]:
    return {
        "anonymous": None,
        "citizen": story.citizen,
        "other_citizen": other_citizen,
        "leader": story.team_leader,
        "other_leader": other_leader,
        "station": station_dispatcher,
        "other_station": other_dispatcher,
        "center": story.dispatcher,
        "media": f.staff(center, Role.MEDIA_EDITOR),
    }


def drive(story, state: str) -> Order:
    if state == "completed":
        return story.completed(photos=[SimpleUploadedFile("site.jpg", image_bytes())])
    return story.in_state(state)


def body_for(row: Row, story, order: Order) -> Any:
    if row.body == "order":
        return f.order_payload(story.category)
    if row.body == "team":
        return {"mode": "directed", "teams": [story.team.pk]}
    if row.body == "code":
        return {"qr": order.checkin_code}
    if row.body == "reason":
        return {"note": "超出服务范围"}
    if row.body == "stars":
        return {"rating": 5}
    if row.body == "hours":
        return {"summary": "完成", "hours": [{"volunteer": story.team.memberships.first().volunteer_id, "hours": 1}]}
    return row.body


def snapshot(order: Order) -> tuple:
    models = (Order, Offer, Transition, Event, ServiceRecord, OrderPhoto)
    offers = tuple(Offer.objects.filter(order=order).order_by("pk").values_list("state", flat=True))
    return (*(m.objects.count() for m in models), Order.objects.get(pk=order.pk).state, offers)


CASES = [(r, role, status) for r in TABLE for role, status in zip(ROLES, r.expect, strict=True)]


@pytest.mark.parametrize(("row", "role", "status"), CASES, ids=[f"{r.name}-{role}" for r, role, _ in CASES])
def test_each_role_gets_what_the_table_says_and_a_refusal_changes_nothing(story, people, row, role, status):
    order = drive(story, row.state)
    offer = Offer.objects.filter(order=order).order_by("pk").first()
    photo = OrderPhoto.objects.filter(order=order).first()
    path = row.path.format(
        order=order.pk, offer=getattr(offer, "pk", 0), team=story.team.pk, photo=photo.image.url if photo else ""
    )
    client = APIClient()
    if people[role] is not None:
        client.force_login(people[role])
    before = snapshot(order)

    response = getattr(client, row.method)(path, body_for(row, story, order), format="json")

    assert response.status_code == status, getattr(response, "data", None)
    if status >= 400:
        assert response["Content-Type"].startswith("application/json")
        assert snapshot(order) == before
    if row.name in LISTED:
        key = {"orders": order.pk, "offers": getattr(offer, "pk", None), "teams": story.team.pk}[row.name]
        listed = {item["id"] for item in response.json()["results"]} if status == 200 else set()
        assert (key in listed) == (role in LISTED[row.name])
