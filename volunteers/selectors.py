"""Team-side reads for the phone workspace: live offers, orders in hand, history, hours and stars."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.db.models import QuerySet, Sum
from django.utils import timezone

from dispatch.choices import OfferState, OrderState
from dispatch.models import Offer, Order
from dispatch.selectors import team_ids_of

from .models import Membership, ServiceRecord, Team

IN_HAND = (OrderState.ACCEPTED, OrderState.IN_SERVICE)
DONE = (OrderState.COMPLETED, OrderState.CLOSED)


def teams_of(user: Account) -> QuerySet[Team]:
    return Team.objects.filter(pk__in=team_ids_of(user)).order_by("name")


def live_offers(user: Account) -> QuerySet[Offer]:
    """The user's teams' offers still open, the soonest to expire first."""
    return (
        Offer.objects.filter(team_id__in=team_ids_of(user), state=OfferState.PENDING, expires_at__gt=timezone.now())
        .select_related("order", "order__category", "order__item", "order__station", "team")
        .order_by("expires_at", "pk")
    )


def team_orders(user: Account) -> QuerySet[Order]:
    """Every order one of the user's teams accepted."""
    return Order.objects.filter(team_id__in=team_ids_of(user)).select_related("category", "item", "station", "team")


def orders_in_hand(user: Account) -> QuerySet[Order]:
    return team_orders(user).filter(state__in=IN_HAND).order_by("window_start", "pk")


def team_history(user: Account, limit: int = 50) -> list[Order]:
    return list(team_orders(user).filter(state__in=DONE).order_by("-completed_at", "-pk")[:limit])


def star_level(hours: Decimal | float) -> int:
    """Stars from counted hours: one more for each threshold in STAR_LEVEL_HOURS reached."""
    return sum(1 for threshold in settings.STAR_LEVEL_HOURS if hours >= threshold)


@dataclass(frozen=True)
class MemberHours:
    volunteer_id: int
    name: str
    number: str
    role: str
    hours: Decimal
    stars: int


def member_hours(team: Team) -> list[MemberHours]:
    """Each active member's hours on record (all teams) and star level, most hours first."""
    members = list(Membership.objects.filter(team=team, active=True).select_related("volunteer"))
    totals = dict(
        ServiceRecord.objects.filter(volunteer_id__in=[m.volunteer_id for m in members])
        .values("volunteer_id")
        .annotate(total=Sum("hours"))
        .values_list("volunteer_id", "total")
    )
    rows = [
        MemberHours(
            volunteer_id=m.volunteer_id,
            name=m.volunteer.real_name,
            number=m.volunteer.number,
            role=m.get_role_display(),
            hours=totals.get(m.volunteer_id) or Decimal(0),
            stars=star_level(totals.get(m.volunteer_id) or Decimal(0)),
        )
        for m in members
    ]
    return sorted(rows, key=lambda r: (-r.hours, r.name))
