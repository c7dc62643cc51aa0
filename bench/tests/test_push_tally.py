"""bench/push_crowd.py's tally: each receipt is checked against who should get which offer, and timed by broadcast."""

import json
from dataclasses import dataclass, field

from bench import push_crowd


@dataclass
class Conn:
    index: int
    team: int
    inbox: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass
class Crowd:
    conns: list[Conn]

    def parse_all(self) -> None:
        pass


def offer(offer_id: int, team: int, sent_at: str) -> str:
    return json.dumps({"type": "offer.created", "offer": {"id": offer_id, "team": team}, "sent_at": sent_at})


def test_receipts_are_grouped_by_the_broadcast_that_sent_them() -> None:
    first, second = "2026-12-04T01:00:00.000000+00:00", "2026-12-04T01:00:00.250000+00:00"
    t1, t2 = 1796346000.0, 1796346000.25
    crowd = Crowd(
        [
            Conn(0, 7, [(t1 + 0.002, t1 + 0.003, offer(1, 7, first)), (t2 + 0.004, t2 + 0.004, offer(2, 7, second))]),
            Conn(1, 7, [(t1 + 0.005, t1 + 0.006, offer(1, 7, first))]),  # missed offer 2
            Conn(2, 8, [(t1 + 0.001, t1 + 0.001, offer(1, 7, first))]),  # not its team's
        ]
    )
    outcome = push_crowd.Outcome()
    push_crowd.tally(crowd, {1: 7, 2: 7}, outcome)  # type: ignore[arg-type]
    assert (outcome.expected, outcome.missing, outcome.misrouted) == (4, 1, 1)
    assert sorted(round(d * 1e3) for d in outcome.by_broadcast[first]) == [2, 5]
    assert [round(d * 1e3) for d in outcome.by_broadcast[second]] == [4]
