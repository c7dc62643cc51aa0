"""Reads that several callers share: who may see what."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Prefetch, Q, QuerySet

from volunteers.models import Membership, Team

from .choices import OfferState, OrderState, Role
from .models import Offer, Order, Transition, Unit

BUSY_STATES = (OrderState.ACCEPTED, OrderState.IN_SERVICE)

User = AbstractBaseUser | AnonymousUser


def placed_by(order: Order, user: User) -> bool:
    """The citizen whose order it is, or the staff member who placed it for them."""
    return user.is_authenticated and (
        order.placed_by_id == user.pk or (order.citizen_id is not None and order.citizen.user_id == user.pk)
    )


def roles_of(user: User) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_civic_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._civic_roles = cached
    return cached


def is_dispatcher(user: User) -> bool:
    return user.is_authenticated and (user.is_superuser or Role.DISPATCHER in roles_of(user))


def dispatcher_unit(user: User) -> Unit | None:
    profile = getattr(user, "staff_profile", None) if user.is_authenticated else None
    return profile.unit if profile else None


def team_ids_of(user: User) -> set[int]:
    """Teams the user serves in: as an active member, or as the team's leader."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_civic_team_ids", None)
    if cached is None:
        # Two indexed lookups: an OR across the two joins would scan the membership table.
        cached = set(Team.objects.filter(leader=user).values_list("id", flat=True))
        cached |= set(Membership.objects.filter(volunteer__user=user, active=True).values_list("team_id", flat=True))
        user._civic_team_ids = cached
    return cached


def orders_visible_to(user: User) -> QuerySet[Order]:
    """Dispatchers see their unit's subtree, teams the orders offered to them, citizens their own."""
    qs = Order.objects.select_related("category", "station", "team", "citizen")
    if not user.is_authenticated:
        return qs.none()
    if user.is_superuser:
        return qs
    scope = Q(placed_by=user) | Q(citizen__user=user)
    if is_dispatcher(user):
        unit = dispatcher_unit(user)
        if unit is not None:
            scope |= Q(station__path__startswith=unit.path)
    team_ids = team_ids_of(user)
    if team_ids:
        scope |= Q(team_id__in=team_ids) | Q(id__in=Offer.objects.filter(team_id__in=team_ids).values("order_id"))
    return qs.filter(scope)


def order_details_visible_to(user: User) -> QuerySet[Order]:
    """Visible orders with what their detail renders: offers with teams, the history with offers."""
    return orders_visible_to(user).prefetch_related(
        Prefetch("offers", queryset=Offer.objects.select_related("team").order_by("id")),
        Prefetch("transitions", queryset=Transition.objects.select_related("offer").order_by("at", "id")),
    )


def offers_visible_to(user: User) -> QuerySet[Offer]:
    qs = Offer.objects.select_related("order", "order__category", "order__station", "team")
    if user.is_authenticated and user.is_superuser:
        return qs
    team_ids = team_ids_of(user)
    scope = Q(team_id__in=team_ids)
    if is_dispatcher(user) and (unit := dispatcher_unit(user)) is not None:
        scope |= Q(order__station__path__startswith=unit.path)
    return qs.filter(scope)


def teams_visible_to(user: User) -> QuerySet[Team]:
    qs = Team.objects.select_related("unit", "leader")
    if user.is_authenticated and user.is_superuser:
        return qs
    scope = Q(id__in=team_ids_of(user))
    if is_dispatcher(user) and (unit := dispatcher_unit(user)) is not None:
        # A dispatcher sees teams of the subtree and every team an order of theirs was offered to.
        scope |= Q(unit__path__startswith=unit.path) | Q(offers__order__station__path__startswith=unit.path)
    return qs.filter(scope).distinct()


def team_load(team_id: int) -> int:
    return Order.objects.filter(team_id=team_id, state__in=BUSY_STATES).count()


def team_loads(team_ids: list[int]) -> dict[int, int]:
    rows = Order.objects.filter(team_id__in=team_ids, state__in=BUSY_STATES).values("team_id").annotate(n=Count("id"))
    return {row["team_id"]: row["n"] for row in rows}


def pending_offers(order: Order) -> QuerySet[Offer]:
    return order.offers.filter(state=OfferState.PENDING)
