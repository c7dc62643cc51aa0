from rest_framework import mixins, serializers, viewsets

from common.fields import ID_IN_PATH, LocalTimeField
from dispatch.selectors import teams_visible_to

from .models import Membership, Team


class MemberSerializer(serializers.ModelSerializer):
    volunteer = serializers.IntegerField(source="volunteer.id")
    name = serializers.CharField(source="volunteer.real_name")
    number = serializers.CharField(source="volunteer.number")
    star_level = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["volunteer", "name", "number", "role", "star_level"]

    def get_star_level(self, membership: Membership) -> int:
        # Star levels come with the hours ledger's own issue; until then everyone starts at one.
        return 1


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
        return list(MemberSerializer(rows, many=True).data)


class TeamViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """A team with its members: for its own members and for dispatchers."""

    serializer_class = TeamSerializer
    filterset_fields = ["unit", "active", "categories"]
    lookup_value_regex = ID_IN_PATH

    def get_queryset(self):
        return (
            teams_visible_to(self.request.user).prefetch_related("categories", "memberships__volunteer").order_by("id")
        )
