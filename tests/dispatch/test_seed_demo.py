"""The demo district is deterministic, refuses to double itself, and scales."""

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from dispatch import demo
from dispatch.models import Order, Unit
from volunteers.models import Team, Volunteer


def district_snapshot(**options) -> tuple:
    """Seed inside a transaction, read the district, roll it all back."""
    with transaction.atomic():
        demo.seed(**options)
        snapshot = (
            list(Unit.objects.order_by("code").values_list("code", "name", "lat", "lng")),
            list(
                Team.objects.filter(id__lte=demo.DISTRICT_TEAMS)
                .order_by("id")
                .values_list("id", "name", "home_lat", "home_lng", "radius_km", "capacity", "leader__username")
            ),
            list(Volunteer.objects.order_by("number").values_list("number", "real_name", "phone")),
        )
        transaction.set_rollback(True)
    return snapshot


def test_the_same_seed_builds_the_same_district_whatever_the_scale(db):
    first = district_snapshot(seed=7, orders=3)
    assert first == district_snapshot(seed=7, orders=3)
    assert first == district_snapshot(seed=7, teams=demo.DISTRICT_TEAMS + 50, orders=40)
    assert first != district_snapshot(seed=8, orders=3)


def test_the_district_has_its_network_teams_and_accounts(db):
    report = demo.seed(orders=10)
    assert report.teams == 405 and report.orders == Order.objects.count() == 10
    assert Unit.objects.filter(level=3).count() == 1
    assert Unit.objects.filter(level=2).count() == 20
    assert Unit.objects.filter(level=1).count() == 400
    assert Team.objects.get(pk=1).leader.username == "13700000001"
    assert Team.objects.get(pk=405).leader.username == "13700000405"
    assert all(team.memberships.count() >= 5 for team in Team.objects.all()[:20])
    assert Volunteer.objects.count() > 2000
    station = Unit.objects.filter(level=1).first()
    assert station.path == f"{station.parent.parent_id}/{station.parent_id}/{station.pk}/"


def test_seeding_twice_is_refused_or_skipped(db):
    call_command("seed_demo", orders=0)
    with pytest.raises(CommandError, match="already seeded"):
        call_command("seed_demo")
    call_command("seed_demo", if_empty=True)
    assert Team.objects.count() == 405


def test_the_district_scales_past_its_own_teams(db):
    call_command("seed_demo", teams=1200, orders=2500)
    assert Team.objects.count() == 1200 and Order.objects.count() == 2500
    assert Team.objects.filter(pk__gt=405, leader__isnull=False).count() == 0
