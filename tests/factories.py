"""Every test's data comes from here."""

from datetime import datetime, timedelta

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from dispatch.choices import Level, Role
from dispatch.models import StaffProfile, Unit
from dispatch.services import matching_index_refresh
from requests_app.models import Category, Citizen
from volunteers.models import Membership, Team, Volunteer

PASSWORD = "test-pass-2026"


def in_role(user: User, role: str) -> User:
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"1500000{n:04d}")
    first_name = factory.Sequence(lambda n: f"用户{n}")
    password = factory.django.Password(PASSWORD)


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    name = factory.Sequence(lambda n: f"单位{n}")
    code = factory.Sequence(lambda n: f"U{n:05d}")
    level = Level.STATION
    lat = 28.70
    lng = 104.50


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    code = factory.Sequence(lambda n: f"cat{n}")
    name = factory.Sequence(lambda n: f"服务{n}")


class CitizenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Citizen
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    name = factory.SelfAttribute("user.first_name")
    phone = factory.SelfAttribute("user.username")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        in_role(self.user, Role.CITIZEN)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"志愿服务队{n}")
    home_lat = 28.70
    home_lng = 104.50
    radius_km = 10
    capacity = 2

    @factory.post_generation
    def categories(self, create, extracted, **kwargs):
        if extracted:
            self.categories.set(extracted)
        if create:
            matching_index_refresh(team_ids=[self.pk])


def edit_teams(teams, **fields) -> None:
    """Change teams as the Team admin does: the matching index is refiled with them."""
    ids = list(teams.values_list("pk", flat=True))
    teams.update(**fields)
    matching_index_refresh(team_ids=ids)


class VolunteerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Volunteer

    user = factory.SubFactory(UserFactory)
    real_name = factory.SelfAttribute("user.first_name")
    phone = factory.SelfAttribute("user.username")
    number = factory.Sequence(lambda n: f"TV{n:07d}")


def staff(unit: Unit, role: str = Role.DISPATCHER) -> User:
    user = in_role(UserFactory(), role)
    StaffProfile.objects.create(user=user, unit=unit)
    return user


def member(team: Team, role: str = Membership.Role.MEMBER) -> Volunteer:
    volunteer = VolunteerFactory()
    in_role(volunteer.user, Role.VOLUNTEER)
    Membership.objects.create(volunteer=volunteer, team=team, role=role)
    if role == Membership.Role.LEADER:
        team.leader = volunteer.user
        team.save(update_fields=["leader"])
    return volunteer


def tomorrow_at(hour: int) -> datetime:
    """A fixed local hour tomorrow: inside every team's default service hours whenever the tests run."""
    local = timezone.localtime() + timedelta(days=1)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


def order_fields(category: Category, **overrides) -> dict:
    """A valid placing request, as the service takes it."""
    start = tomorrow_at(10)
    fields = {
        "category": category,
        "description": "帮老人买菜",
        "lat": 28.701,
        "lng": 104.501,
        "address": "柏溪镇金山村3组12号",
        "window_start": start,
        "window_end": start + timedelta(hours=2),
        "contact_name": "王大爷",
        "contact_phone": "13811112222",
    }
    fields.update(overrides)
    return fields


def order_payload(category: Category, **overrides) -> dict:
    """A valid placing request, as the API takes it."""
    data = order_fields(category)
    data["category"] = category.pk
    data["window_start"] = data["window_start"].isoformat()
    data["window_end"] = data["window_end"].isoformat()
    data.update(overrides)
    return data
