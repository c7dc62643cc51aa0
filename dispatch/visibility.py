"""What of an order a user may read (DESIGN §5, §10): the privacy rules every answer about an order follows.

Who may see an order at all is `selectors.orders_visible_to`; this module decides, for an order
they see, which of its parts: a team learns who and where exactly only once it has accepted,
reads only its own offers and their history, and never the staff's notes, the check-in code or
a rejection's reason.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Account

from .models import Offer, Order, Transition
from .selectors import dispatch_scope, placed_by, team_ids_of

# Who and where exactly: for the order's staff, its citizen and the team that took it.
CONTACT_FIELDS = ("contact_name", "contact_phone", "address", "lat", "lng", "description")
# For the order's staff and its citizen only.
OWNER_FIELDS = ("checkin_code", "reject_reason")


@dataclass(frozen=True)
class Viewer:
    """Who is looking, read once per request."""

    user: Account | AnonymousUser
    # The subtree the viewer dispatches for (selectors.dispatch_scope), read once.
    scope: str | None
    team_ids: frozenset[int]

    @classmethod
    def of(cls, user: Account | AnonymousUser) -> "Viewer":
        return cls(user=user, scope=dispatch_scope(user), team_ids=frozenset(team_ids_of(user)))

    def is_staff_of(self, order: Order) -> bool:
        """selectors.acts_on, with the scope read once for the whole answer."""
        return self.scope is not None and order.station.path.startswith(self.scope)

    def owns(self, order: Order) -> bool:
        return placed_by(order, self.user)

    def sees_all_of(self, order: Order) -> bool:
        return self.is_staff_of(order) or self.owns(order)

    def sees_contact(self, order: Order) -> bool:
        """The contact, the exact place and the photos: the order's staff, its citizen, the team that took it."""
        return self.sees_all_of(order) or (order.team_id is not None and order.team_id in self.team_ids)

    def offers_seen(self, order: Order, offers: Iterable[Offer]) -> list[Offer]:
        return [o for o in offers if self.sees_all_of(order) or o.team_id in self.team_ids]

    def history_seen(self, order: Order, transitions: Iterable[Transition]) -> list[Transition]:
        """Teams read neither staff-only notes nor what happened to other teams' offers."""
        if self.sees_all_of(order):
            return list(transitions)
        return [t for t in transitions if not t.internal and (t.offer is None or t.offer.team_id in self.team_ids)]

    def redact(self, order: Order, data: dict[str, Any]) -> dict[str, Any]:
        """The order's rendered fields with what this viewer may not read set to None."""
        hidden = () if self.sees_contact(order) else CONTACT_FIELDS
        if not self.sees_all_of(order):
            hidden = (*hidden, *OWNER_FIELDS)
        for name in hidden:
            data[name] = None
        return data


def sees_private_details(user: Account | AnonymousUser, order: Order) -> bool:
    """Whether the user may read the order's contact, exact place and photos."""
    return Viewer.of(user).sees_contact(order)
