"""One whole order lifecycle through the HTTP API, with the demo district and its accounts."""

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from dispatch import demo
from tests import factories as f
from volunteers.models import ServiceRecord

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def district(db):
    return demo.seed(orders=5)


def login(phone: str) -> APIClient:
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"phone": phone, "password": demo.DEMO_PASSWORD}, format="json")
    assert response.status_code == 200, response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def test_a_citizen_order_goes_from_placed_to_closed_with_the_demo_accounts(district):
    citizen, dispatcher = login(demo.CITIZEN_PHONE), login(demo.DISPATCHER_PHONE)
    leader = login(demo.leader_phone(7))
    team = leader.get("/api/v1/teams/7/").json()
    start = f.tomorrow_at(10)

    placed = citizen.post(
        "/api/v1/orders/",
        {
            "category": team["categories"][0],
            "description": "需要上门理发",
            "lat": team["home_lat"],
            "lng": team["home_lng"],
            "address": "3组12号",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
            "contact_name": "李奶奶",
            "contact_phone": "13822223333",
        },
        format="json",
    )
    assert placed.status_code == 201, placed.json()
    order = placed.json()["id"]

    candidates = dispatcher.get(f"/api/v1/orders/{order}/candidates/").json()
    assert 7 in [c["team"] for c in candidates]
    assert all(re.search(r"\d.* · .*\d+/\d+", c["reason"]) for c in candidates)
    assert [c["score"] for c in candidates] == sorted((c["score"] for c in candidates), reverse=True)

    broadcast = [7] + [c["team"] for c in candidates if c["team"] != 7][:2]
    dispatched = dispatcher.post(
        f"/api/v1/orders/{order}/dispatch/", {"mode": "broadcast", "teams": broadcast}, format="json"
    )
    assert dispatched.status_code == 200 and dispatched.json()["state"] == "dispatching"
    assert len(dispatched.json()["offers"]) == len(broadcast)

    offers = leader.get("/api/v1/offers/", {"order": order, "state": "pending"}).json()["results"]
    assert [o["team"] for o in offers] == [7]
    assert offers[0]["order_detail"]["contact_phone"] is None  # privacy staging before acceptance
    accepted = leader.post(f"/api/v1/offers/{offers[0]['id']}/accept/")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert accepted.json()["contact_phone"] == "13822223333"

    started = leader.post(
        f"/api/v1/orders/{order}/start/", {"lat": team["home_lat"], "lng": team["home_lng"]}, format="json"
    )
    assert started.json()["state"] == "in_service"
    hours = [{"volunteer": m["volunteer"], "hours": 2.5} for m in team["members"][:3]]
    completed = leader.post(f"/api/v1/orders/{order}/complete/", {"summary": "理发三人", "hours": hours}, format="json")
    assert completed.status_code == 200 and completed.json()["state"] == "completed"
    assert ServiceRecord.objects.filter(order_id=order).count() == 3

    closed = citizen.post(
        f"/api/v1/orders/{order}/evaluate/", {"rating": 5, "comment": "好", "publicity_consent": True}, format="json"
    )
    assert closed.json()["state"] == "closed"
    history = [(h["from"], h["to"]) for h in closed.json()["history"] if h["offer"] is None]
    assert history == [
        ("", "submitted"),
        ("submitted", "dispatching"),
        ("dispatching", "accepted"),
        ("accepted", "in_service"),
        ("in_service", "completed"),
        ("completed", "closed"),
    ]

    events = citizen.get(f"/api/v1/orders/{order}/events/", {"after": 0}).json()
    assert [e["type"] for e in events if e["type"].startswith("order.")] == [
        "order.placed",
        "order.dispatched",
        "order.accepted",
        "order.started",
        "order.completed",
        "order.evaluated",
    ]
    later = citizen.get(f"/api/v1/orders/{order}/events/", {"after": events[2]["seq"]}).json()
    assert [e["seq"] for e in later] == [e["seq"] for e in events[3:]]

    stats = dispatcher.get("/api/v1/stats/").json()
    assert stats["by_state"]["closed"] == 1 and stats["hours"] == 7.5


def walkthrough() -> str:
    text = README.read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README.md lost its curl walk-through"
    return block.group(1)


@pytest.mark.django_db(transaction=True)
def test_the_readme_curl_walk_through_works_as_written(live_server):
    demo.seed(orders=0)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        env={"BASE": live_server.url, "PATH": "/usr/local/bin:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    states = [
        line
        for line in run.stdout.splitlines()
        if line in {"dispatching", "accepted", "in_service", "completed", "closed"}
    ]
    assert states == ["dispatching", "accepted", "in_service", "completed", "closed"]
    assert "order.evaluated" in run.stdout
