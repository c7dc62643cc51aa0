"""Channel-layer group names; nothing else formats them."""

from collections.abc import Iterable
from dataclasses import dataclass


def team(team_id: int) -> str:
    return f"team.{team_id}"


def unit(unit_id: int) -> str:
    return f"unit.{unit_id}"


def order(order_id: int) -> str:
    return f"order.{order_id}"


def user(user_id: int) -> str:
    """One user's own group: their orders' events, and what changes their rights."""
    return f"user.{user_id}"


def board() -> str:
    return "board"


def units_of_path(path: str) -> list[str]:
    """Every unit on a materialized path ("1/4/17/"): an event there concerns all of them."""
    return [unit(int(part)) for part in path.split("/") if part]


def dedupe(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class StreamRights:
    """What one user's stream connection may hear right now."""

    names: frozenset[str]
    unit_id: int | None


def stream_rights(user_id: int) -> StreamRights | None:
    """The groups a user's connection belongs in, or None once the user is gone or deactivated.

    A team member hears their teams; a dispatcher their own unit (every event is sent to
    all units on its station's path, so the subtree needs no more) and the board; everyone
    their own group, which carries their orders. Read fresh each time: rights change.
    """
    from django.contrib.auth import get_user_model

    from dispatch.selectors import dispatcher_unit, is_dispatcher, team_ids_of

    account = get_user_model().objects.filter(pk=user_id, is_active=True).select_related("staff_profile__unit").first()
    if account is None:
        return None
    names = {user(account.pk), *(team(t) for t in team_ids_of(account))}
    unit_id = None
    if is_dispatcher(account):
        staff_unit = dispatcher_unit(account)
        if staff_unit is not None:
            unit_id = staff_unit.pk
            names.add(unit(unit_id))
        names.add(board())
    return StreamRights(names=frozenset(names), unit_id=unit_id)
