"""The matching index (one row per team and category served) and the teams' record it ranks by."""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Avg, Count, Exists, F, OuterRef, Q, Sum

from volunteers.models import Team

from ..choices import OfferState
from ..models import TEAM_FACTS_COPIED, Offer, Order, TeamCell
from ..selectors import (
    team_loads,
)


def matching_index_refresh(*, team_ids: Iterable[int] | None = None, batch_size: int = 20_000) -> int:
    """File teams (all, or these) in the matching index again, with a fresh copy of their facts.

    Call it after anything the search reads of a team changes: place, radius, categories,
    active, capacity, hours, name or record (the load is kept by order transitions, and
    recounted here). Rows are upserted, so two refreshes of one team at once cannot collide;
    rows of teams gone inactive or categories no longer served are removed. Returns the
    number of index rows written.
    """
    through = Team.categories.through
    teams = Team.objects.filter(active=True).order_by("id")
    scope = TeamCell.objects.all()
    if team_ids is not None:
        team_ids = list(team_ids)
        teams, scope = teams.filter(pk__in=team_ids), scope.filter(team_id__in=team_ids)
    copied = ["cell", "lat", "lng", "radius_km", *TEAM_FACTS_COPIED, "load"]
    written = 0
    with transaction.atomic():
        last = 0
        while True:
            # Locked while their loads are counted: see _team_load_moved.
            chunk = list(
                teams.filter(pk__gt=last)
                .select_for_update(of=("self",), no_key=True)
                .only("home_lat", "home_lng", "radius_km", *TEAM_FACTS_COPIED)[:batch_size]
            )
            if not chunk:
                break
            last = chunk[-1].pk
            loads = team_loads([t.pk for t in chunk])
            served: dict[int, list[int]] = {}
            for team_id, category_id in through.objects.filter(team_id__in=[t.pk for t in chunk]).values_list(
                "team_id", "category_id"
            ):
                served.setdefault(team_id, []).append(category_id)
            rows = [
                TeamCell.of(team, category_id, load=loads.get(team.pk, 0))
                for team in chunk
                for category_id in served.get(team.pk, ())
            ]
            TeamCell.objects.bulk_create(
                rows,
                batch_size=5000,
                update_conflicts=True,
                unique_fields=["team", "category"],
                update_fields=copied,
            )
            written += len(rows)
        still_served = through.objects.filter(
            team_id=OuterRef("team_id"), category_id=OuterRef("category_id"), team__active=True
        )
        scope.exclude(Exists(still_served)).delete()
    return written


TEAM_RECORD_FIELDS = ["offers_answered", "offers_accepted", "rating_sum", "rating_count", "response_seconds"]


def team_stats_refresh(*, team_ids: Iterable[int] | None = None) -> int:
    """Roll up each team's record for ranking: offers answered and accepted, ratings, response time.

    Idempotent: it recomputes from the offers and orders, so running it twice changes nothing.
    """
    answered_states = (OfferState.ACCEPTED, OfferState.DECLINED, OfferState.EXPIRED)
    offers = Offer.objects.filter(state__in=answered_states)
    orders = Order.objects.filter(rating__isnull=False, team__isnull=False)
    teams = Team.objects.all()
    if team_ids is not None:
        team_ids = list(team_ids)
        offers, orders, teams = (
            offers.filter(team_id__in=team_ids),
            orders.filter(team_id__in=team_ids),
            teams.filter(pk__in=team_ids),
        )
    answered = {
        row["team_id"]: row
        for row in offers.values("team_id").annotate(
            n=Count("id"),
            accepted=Count("id", filter=Q(state=OfferState.ACCEPTED)),
        )
    }
    # Only answers given by people say how fast a team responds; an expiry is no answer.
    response = {
        row["team_id"]: row["mean"]
        for row in offers.filter(responded_by__isnull=False, responded_at__isnull=False)
        .values("team_id")
        .annotate(mean=Avg(F("responded_at") - F("created_at")))
    }
    ratings = {row["team_id"]: row for row in orders.values("team_id").annotate(n=Count("id"), total=Sum("rating"))}
    changed = []
    for team in teams.only("id", *TEAM_RECORD_FIELDS):
        a, r, mean = answered.get(team.pk, {}), ratings.get(team.pk, {}), response.get(team.pk)
        record = {
            "offers_answered": a.get("n", 0),
            "offers_accepted": a.get("accepted", 0),
            "rating_sum": r.get("total") or 0,
            "rating_count": r.get("n", 0),
            "response_seconds": mean.total_seconds() if mean is not None else None,
        }
        if any(getattr(team, name) != value for name, value in record.items()):
            for name, value in record.items():
                setattr(team, name, value)
            changed.append(team)
    if changed:
        with transaction.atomic():
            Team.objects.bulk_update(changed, TEAM_RECORD_FIELDS, batch_size=2000)
            # Ranking reads the record from the matching index's copy.
            matching_index_refresh(team_ids=[team.pk for team in changed])
    return len(changed)
