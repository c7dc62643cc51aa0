"""Channel-layer group names; nothing else formats them."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from dispatch.choices import Role
from volunteers.models import Membership, Team


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


def media() -> str:
    """The media editors: stories, comments waiting and messages."""
    return "media"


def stream_log() -> str:
    """Every stream process's listener (realtime.keeper): it hears every logged event, to send none."""
    return "stream.log"


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
    """The groups a user's connection belongs in, or None once the user is gone or deactivated."""
    return stream_rights_of([user_id]).get(user_id)


def stream_rights_of(user_ids: Iterable[int]) -> dict[int, StreamRights]:
    """The rights of many users in four queries, whatever their number; a user gone or deactivated is absent.

    A team member hears their teams; a dispatcher their own unit (every event is sent to
    all units on its station's path, so the subtree needs no more) and the board; everyone
    their own group, which carries their orders. The same rules as `dispatch.selectors`
    (`team_ids_of`, `is_dispatcher`, `dispatcher_unit`), read for a whole process's
    connections at once: a rights check per connection would be four queries each
    (tests/realtime/test_stream_rights.py holds the two to the same answers).
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    users = get_user_model()
    accounts = users.objects.filter(pk__in=ids, is_active=True).values_list("pk", "is_superuser", "staff_profile__unit")
    roles = users.groups.through.objects.filter(user_id__in=ids, group__name__in=[Role.DISPATCHER, Role.MEDIA_EDITOR])
    held = set(roles.values_list("user_id", "group__name"))
    dispatchers = {pk for pk, role in held if role == Role.DISPATCHER}
    editors = {pk for pk, role in held if role == Role.MEDIA_EDITOR}
    teams: dict[int, set[int]] = {}
    for leader, team_id in Team.objects.filter(leader_id__in=ids).values_list("leader_id", "id"):
        teams.setdefault(leader, set()).add(team_id)
    for member, team_id in Membership.objects.filter(volunteer__user_id__in=ids, active=True).values_list(
        "volunteer__user_id", "team_id"
    ):
        teams.setdefault(member, set()).add(team_id)
    rights = {}
    for pk, superuser, unit_id in accounts:
        names = {user(pk), *(team(t) for t in teams.get(pk, ()))}
        dispatches = superuser or pk in dispatchers
        if dispatches:
            if unit_id is not None:
                names.add(unit(unit_id))
            names.add(board())
        if superuser or pk in editors:
            names.add(media())
        rights[pk] = StreamRights(names=frozenset(names), unit_id=unit_id if dispatches else None)
    return rights
