"""The people in the story: a citizen, dispatchers at each level, two teams."""

import os
from dataclasses import dataclass

import pytest
from django.db import connection
from rest_framework.test import APIClient

from dispatch import services as dispatching
from dispatch.choices import DispatchMode, Level, Role
from dispatch.models import Offer, Order, OrderPhoto, Unit
from publicity import services as publicity
from requests_app import services as intake
from tests.volunteers.test_order_complete import photo
from volunteers import services as field_work
from volunteers.models import Membership, Team

from . import factories as f


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/civic (as .ci/run does)",
)
requires_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis: run with REDIS_URL=redis://127.0.0.1:6379/0 (as .ci/run does)"
)
requires_fast_path = pytest.mark.skipif(
    not (os.environ.get("REDIS_URL") and os.environ.get("STREAM_FAST_PATH", "").lower() in ("1", "true", "yes", "on")),
    reason="tests the stream's fast path: run with REDIS_URL and STREAM_FAST_PATH=1 (as .ci/run does)",
)


@pytest.fixture
def center(db) -> Unit:
    return f.UnitFactory(level=Level.CENTER, name="中心")


@pytest.fixture
def institute(center) -> Unit:
    return f.UnitFactory(level=Level.INSTITUTE, parent=center, name="柏溪所")


@pytest.fixture
def station(institute) -> Unit:
    return f.UnitFactory(level=Level.STATION, parent=institute, name="金山村站", lat=28.70, lng=104.50)


@pytest.fixture
def other_station(center) -> Unit:
    other_institute = f.UnitFactory(level=Level.INSTITUTE, parent=center, name="南岸所")
    return f.UnitFactory(level=Level.STATION, parent=other_institute, name="江北村站", lat=28.80, lng=104.60)


@pytest.fixture
def category(db):
    return f.CategoryFactory(code="elderly", name="助老助残")


@pytest.fixture
def citizen(station):
    return f.CitizenFactory(station=station).user


@pytest.fixture
def other_citizen(station):
    return f.CitizenFactory(station=station).user


@pytest.fixture
def dispatcher(center):
    """The center's dispatcher: sees the whole district."""
    return f.staff(center)


@pytest.fixture
def station_dispatcher(station):
    return f.staff(station)


@pytest.fixture
def other_dispatcher(other_station):
    """A dispatcher of another branch of the network."""
    return f.staff(other_station)


@pytest.fixture
def team(station, category) -> Team:
    return f.TeamFactory(unit=station, categories=[category])


@pytest.fixture
def team_leader(team):
    return f.member(team, Membership.Role.LEADER).user


@pytest.fixture
def volunteer(team):
    return f.member(team).user


@pytest.fixture
def other_team(station, category) -> Team:
    return f.TeamFactory(unit=station, categories=[category], home_lat=28.71)


@pytest.fixture
def other_leader(other_team):
    return f.member(other_team, Membership.Role.LEADER).user


@pytest.fixture
def stranger(db):
    return f.UserFactory()


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def api():
    return client_for


@dataclass
class Story:
    """Drives an order through the real services to any state."""

    citizen: object
    dispatcher: object
    team: Team
    team_leader: object
    category: object

    def placed(self, **overrides) -> Order:
        order, _ = intake.order_place(user=self.citizen, **f.order_fields(self.category, **overrides))
        return order

    def dispatching(self, teams: list[Team] | None = None, mode: str = DispatchMode.DIRECTED) -> Order:
        order = self.placed()
        dispatching.order_dispatch(
            order_id=order.pk, user=self.dispatcher, mode=mode, team_ids=[t.pk for t in teams or [self.team]]
        )
        return Order.objects.get(pk=order.pk)

    def offer_of(self, order: Order, team: Team | None = None) -> Offer:
        return Offer.objects.get(order=order, team=team or self.team, state="pending")

    def accepted(self) -> Order:
        order = self.dispatching()
        return dispatching.offer_accept(offer_id=self.offer_of(order).pk, user=self.team_leader)

    def in_service(self) -> Order:
        order = self.accepted()
        return field_work.order_start(order_id=order.pk, user=self.team_leader, qr=order.checkin_code)

    def completed(self, photos: list | None = None) -> Order:
        order = self.in_service()
        volunteer = self.team.memberships.first().volunteer_id
        return field_work.order_complete(
            order_id=order.pk,
            user=self.team_leader,
            summary="陪同就医,顺利完成。",
            hours=[{"volunteer": volunteer, "hours": 2}],
            photos=photos,
        )

    def closed(self) -> Order:
        order = self.completed()
        return intake.order_evaluate(order_id=order.pk, user=self.citizen, rating=5)

    def rejected(self) -> Order:
        return dispatching.order_reject(order_id=self.placed().pk, user=self.dispatcher, note="不在服务范围")

    def cancelled(self) -> Order:
        return dispatching.order_cancel(order_id=self.placed().pk, user=self.citizen)

    def in_state(self, state: str) -> Order:
        return getattr(self, {"submitted": "placed"}.get(state, state))()


@pytest.fixture
def story(citizen, dispatcher, team, team_leader, category) -> Story:
    return Story(citizen=citizen, dispatcher=dispatcher, team=team, team_leader=team_leader, category=category)


# --- 媒体宣传: the media editor, a consented order, a published story ---


@pytest.fixture
def editor(center):
    return f.staff(center, Role.MEDIA_EDITOR)


@pytest.fixture
def consented(story, citizen):
    """A closed order whose citizen gave consent to publicity, with a completion photo."""
    order = story.completed(photos=[photo()])
    return intake.order_evaluate(order_id=order.pk, user=citizen, rating=5, comment="很好", publicity_consent=True)


@pytest.fixture
def published(editor, consented):
    photo_ids = list(OrderPhoto.objects.filter(order=consented).values_list("pk", flat=True))
    draft = publicity.story_draft(
        user=editor, order_id=consented.pk, title="志愿者陪老人就医", body="服务队耐心细致。", photo_ids=photo_ids
    )
    return publicity.story_publish(user=editor, story_id=draft.pk)
