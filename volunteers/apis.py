from rest_framework import mixins, serializers, viewsets

from common.fields import ID_IN_PATH, LocalTimeField
from dispatch.selectors import teams_visible_to

from .models import Membership, Team
from .selectors import hours_totals, star_level


class MemberSerializer(serializers.ModelSerializer):
    volunteer = serializers.IntegerField(source="volunteer.id")
    name = serializers.CharField(source="volunteer.real_name")
    number = serializers.CharField(source="volunteer.number")
    star_level = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["volunteer", "name", "number", "role", "star_level"]

    def get_star_level(self, membership: Membership) -> int:
        return star_level(self.context.get("hours", {}).get(membership.volunteer_id) or 0)


class TeamSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()
    available_from = LocalTimeField(read_only=True)
    available_to = LocalTimeField(read_only=True)

    class Meta:
        model = Team
        fields = [
            "id",
            "name",
            "unit",
            "leader",
            "categories",
            "home_lat",
            "home_lng",
            "radius_km",
            "capacity",
            "available_from",
            "available_to",
            "available_weekdays",
            "active",
            "members",
        ]

    def get_members(self, team: Team) -> list[dict]:
        rows = [m for m in team.memberships.all() if m.active]
        hours = hours_totals([m.volunteer_id for m in rows])
        return list(MemberSerializer(rows, many=True, context={"hours": hours}).data)


class TeamViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """A team with its members: for its own members and for dispatchers."""

    serializer_class = TeamSerializer
    filterset_fields = ["unit", "active", "categories"]
    lookup_value_regex = ID_IN_PATH

    def get_queryset(self):
        return (
            teams_visible_to(self.request.user).prefetch_related("categories", "memberships__volunteer").order_by("id")
        )
