"""Exactly one accept wins a broadcast, under real concurrency."""

import threading

import pytest
from django.db import connection

from dispatch.choices import DispatchMode, OfferState, OrderState
from dispatch.models import Offer, Order, Transition
from volunteers.models import Membership

from .. import factories as f
from ..conftest import client_for, requires_postgres

THREADS = 20


def race(story, teams):
    """Broadcast one order to `teams`, then let every team's leader accept at the same instant."""
    leaders = {t.pk: f.member(t, Membership.Role.LEADER).user for t in teams}
    order = story.dispatching(teams=teams, mode=DispatchMode.BROADCAST)
    offers = list(Offer.objects.filter(order=order))
    clients = {o.pk: client_for(leaders[o.team_id]) for o in offers}
    barrier = threading.Barrier(len(offers))
    statuses: dict[int, int] = {}
    errors: list[BaseException] = []

    def accept(offer_id: int) -> None:
        try:
            barrier.wait(timeout=30)
            statuses[offer_id] = clients[offer_id].post(f"/api/v1/offers/{offer_id}/accept/").status_code
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(o.pk,)) for o in offers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return Order.objects.get(pk=order.pk), statuses


def assert_exactly_one_winner(order, statuses):
    assert sorted(statuses.values()) == [200] + [409] * (len(statuses) - 1)
    winner = next(offer_id for offer_id, status in statuses.items() if status == 200)
    assert order.state == OrderState.ACCEPTED
    offers = Offer.objects.filter(order=order)
    assert offers.get(pk=winner).state == OfferState.ACCEPTED
    assert order.team_id == offers.get(pk=winner).team_id
    assert offers.filter(state=OfferState.WITHDRAWN).count() == len(statuses) - 1
    log = Transition.objects.filter(order=order)
    assert log.filter(action="accept", offer=None).count() == 1
    assert log.filter(action="offer_accept").count() == 1
    assert log.filter(action="offer_withdraw").count() == len(statuses) - 1


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_teams_accepting_one_broadcast_order_on_postgres_leave_one_winner(story, station, category):
    teams = [story.team] + [f.TeamFactory(unit=station, categories=[category]) for _ in range(THREADS - 1)]
    order, statuses = race(story, teams)
    assert_exactly_one_winner(order, statuses)


@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_leave_one_winner_on_any_database(story, station, category):
    # On SQLite the IMMEDIATE write transaction serializes the accepts; on PostgreSQL the row lock does.
    teams = [story.team] + [f.TeamFactory(unit=station, categories=[category]) for _ in range(5)]
    order, statuses = race(story, teams)
    assert_exactly_one_winner(order, statuses)


def test_the_losers_answer_names_the_lost_race(story, other_team, other_leader, api):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)
    api(story.team_leader).post(f"/api/v1/offers/{story.offer_of(order).pk}/accept/")
    loser_offer = Offer.objects.get(order=order, team=other_team)
    response = api(other_leader).post(f"/api/v1/offers/{loser_offer.pk}/accept/")
    assert response.status_code == 409
    assert response.json()["code"] == "already_accepted"
    loser_offer.refresh_from_db()
    assert loser_offer.state == OfferState.WITHDRAWN


def test_a_team_at_capacity_cannot_accept_another_order(story, api):
    story.team.capacity = 1
    story.team.save()
    story.accepted()
    order = story.dispatching()
    response = api(story.team_leader).post(f"/api/v1/offers/{story.offer_of(order).pk}/accept/")
    assert response.status_code == 409
    assert response.json()["code"] == "team_at_capacity"
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING
