"""Channel-layer group names; nothing else formats them."""

from collections.abc import Iterable


def team(team_id: int) -> str:
    return f"team.{team_id}"


def unit(unit_id: int) -> str:
    return f"unit.{unit_id}"


def order(order_id: int) -> str:
    return f"order.{order_id}"


def board() -> str:
    return "board"


def units_of_path(path: str) -> list[str]:
    """Every unit on a materialized path ("1/4/17/"): an event there concerns all of them."""
    return [unit(int(part)) for part in path.split("/") if part]


def dedupe(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
