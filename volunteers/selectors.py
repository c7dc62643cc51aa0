"""Team-side reads for the phone workspace: live offers, orders in hand, history, hours and stars."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.db.models import QuerySet, Sum
from django.utils import timezone

from dispatch.choices import OfferState, OrderState
from dispatch.models import Offer, Order
from dispatch.selectors import dispatch_scope, team_ids_of

from .models import Membership, RecordState, ServiceRecord, Team, Volunteer

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
    totals = hours_totals([m.volunteer_id for m in members])
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


def counted(records: QuerySet[ServiceRecord]) -> QuerySet[ServiceRecord]:
    """The entries that count toward a volunteer's total: credits, and approved manual entries and corrections."""
    return records.filter(state=RecordState.COUNTED)


def hours_totals(volunteer_ids: list[int]) -> dict[int, Decimal]:
    """Each volunteer's hours on record: the sum of their counted entries."""
    rows = counted(ServiceRecord.objects.filter(volunteer_id__in=volunteer_ids)).values("volunteer_id")
    return dict(rows.annotate(total=Sum("hours")).values_list("volunteer_id", "total"))


def hours_total(volunteer_id: int) -> Decimal:
    return hours_totals([volunteer_id]).get(volunteer_id) or Decimal(0)


def ledger_of(volunteer_id: int) -> QuerySet[ServiceRecord]:
    """A volunteer's ledger, newest first, in every state."""
    return (
        ServiceRecord.objects.filter(volunteer_id=volunteer_id)
        .select_related("team", "unit", "order")
        .order_by("-day", "-recorded_at", "-id")
    )


def volunteer_visible_to(user: Account, volunteer: Volunteer) -> bool:
    """The volunteer themself, the leaders of their teams and the dispatchers of those teams' units."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or volunteer.user_id == user.pk:
        return True
    teams = Team.objects.filter(memberships__volunteer=volunteer)
    if teams.filter(leader=user).exists():
        return True
    scope = dispatch_scope(user)
    return scope is not None and teams.filter(unit__path__startswith=scope).exists()


def records_to_decide(user: Account) -> QuerySet[ServiceRecord]:
    """Manual entries and corrections waiting for a dispatcher of the user's unit, oldest first."""
    scope = dispatch_scope(user)
    if scope is None:
        return ServiceRecord.objects.none()
    return (
        ServiceRecord.objects.filter(state=RecordState.PENDING, unit__path__startswith=scope)
        .select_related("volunteer", "team", "unit", "order", "corrects", "requested_by")
        .prefetch_related("photos")
        .order_by("recorded_at", "id")
    )
