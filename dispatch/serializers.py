"""Shapes of the API (DESIGN §5). Input serializers check form only; rules live in services."""

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.fields import MAX_ID, DateTimeField, IdField, NumberField

from .choices import DispatchMode
from .models import Offer, Order, Transition
from .visibility import Viewer


def viewer_of(context: Mapping[str, Any]) -> Viewer:
    viewer = context.get("viewer")
    if viewer is None:
        viewer = Viewer.of(context["request"].user)
        # The serializer's own context (a dict): one viewer for the whole answer.
        cast(dict[str, Any], context)["viewer"] = viewer
    return viewer


class OfferSerializer(serializers.ModelSerializer):
    class Meta:
        model = Offer
        fields = [
            "id",
            "order",
            "team",
            "state",
            "mode",
            "rank",
            "distance_km",
            "expires_at",
            "created_at",
            "responded_at",
        ]


class HistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Transition
        fields = ["action", "offer", "from", "to", "by", "at", "note"]

    def to_representation(self, instance: Transition) -> dict[str, Any]:
        data = super().to_representation(instance)
        # System notes are stored untranslated; people's own words pass through unchanged.
        data["note"] = gettext(instance.note) if instance.note else ""
        return data


# "from" is a Python keyword, so these two cannot be declared in the class body.
HistorySerializer._declared_fields["from"] = serializers.CharField(source="from_state")
HistorySerializer._declared_fields["to"] = serializers.CharField(source="to_state")


# Shared, field-building-once renderers of the rows nested in every order.
OFFER_ROW = OfferSerializer()
HISTORY_ROW = HistorySerializer()


class OrderSerializer(serializers.ModelSerializer):
    category_name = serializers.CharField(source="category.name", read_only=True)
    station_name = serializers.CharField(source="station.name", read_only=True)
    offers = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    distance_km = serializers.SerializerMethodField()
    photos = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "state",
            "level",
            "priority",
            "category",
            "category_name",
            "item",
            "description",
            "lat",
            "lng",
            "address",
            "station",
            "station_name",
            "window_start",
            "window_end",
            "contact_name",
            "contact_phone",
            "team",
            "mode",
            "distance_km",
            "checkin_code",
            "reject_reason",
            "summary",
            "photos",
            "rating",
            "comment",
            "publicity_consent",
            "resolved",
            "offers",
            "history",
            "created_at",
            "dispatched_at",
            "accepted_at",
            "started_at",
            "completed_at",
            "closed_at",
        ]

    @extend_schema_field(OfferSerializer(many=True))
    def get_offers(self, order: Order) -> list[dict[str, Any]]:
        viewer = viewer_of(self.context)
        return [OFFER_ROW.to_representation(o) for o in viewer.offers_seen(order, order.offers.all())]

    @extend_schema_field(HistorySerializer(many=True))
    def get_history(self, order: Order) -> list[dict[str, Any]]:
        viewer = viewer_of(self.context)
        return [HISTORY_ROW.to_representation(t) for t in viewer.history_seen(order, order.transitions.all())]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_photos(self, order: Order) -> list[str]:
        """Addresses of the completion photos, for those who may see them (they answer only to them)."""
        if not viewer_of(self.context).sees_contact(order):
            return []
        return [photo.image.url for photo in order.photos.all()]

    def get_distance_km(self, order: Order) -> float | None:
        """For a team member: how far the order is from the team's home base."""
        viewer = viewer_of(self.context)
        # The offer already holds the geodesic distance measured when it was made.
        offer = next((o for o in order.offers.all() if o.team_id in viewer.team_ids), None)
        if offer is None or offer.distance_km is None:
            return None
        return round(offer.distance_km, 1)

    def to_representation(self, order: Order) -> dict[str, Any]:
        return viewer_of(self.context).redact(order, super().to_representation(order))


class OfferWithOrderSerializer(OfferSerializer):
    """A team's offer with what the team may know of the order before accepting it."""

    order_detail = serializers.SerializerMethodField()

    class Meta(OfferSerializer.Meta):
        fields = [*OfferSerializer.Meta.fields, "order_detail"]

    @extend_schema_field(OrderSerializer)
    def get_order_detail(self, offer: Offer) -> dict[str, Any]:
        # One order serializer for the whole page: building a ModelSerializer's fields is its dearest part.
        if not hasattr(self, "_order_serializer"):
            self._order_serializer = OrderSerializer(context=self.context)
        return self._order_serializer.to_representation(offer.order)


class OrderCreateSerializer(serializers.Serializer):
    category = IdField()
    item = IdField(required=False, allow_null=True)
    description = serializers.CharField(max_length=2000)
    lat = NumberField(min_value=-90, max_value=90, required=False, allow_null=True)
    lng = NumberField(min_value=-180, max_value=180, required=False, allow_null=True)
    station = IdField(required=False, allow_null=True)
    address = serializers.CharField(max_length=200)
    window_start = DateTimeField()
    window_end = DateTimeField()
    contact_name = serializers.CharField(max_length=50)
    contact_phone = serializers.RegexField(
        r"^\+?[0-9][0-9 -]{4,18}[0-9]$",
        max_length=20,
        error_messages={"invalid": _("Enter a phone number of digits, 6 to 20 long.")},
    )
    priority = serializers.ChoiceField(choices=["normal", "urgent"], required=False, default="normal")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("lat") is None) != (attrs.get("lng") is None):
            missing = "lng" if attrs.get("lng") is None else "lat"
            raise serializers.ValidationError({missing: [_("Give both lat and lng.")]})
        return attrs


class DispatchSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=DispatchMode.choices)
    teams = serializers.ListField(child=IdField(), min_length=1, max_length=50)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StartSerializer(serializers.Serializer):
    lat = NumberField(min_value=-90, max_value=90, required=False, allow_null=True)
    lng = NumberField(min_value=-180, max_value=180, required=False, allow_null=True)
    qr = serializers.CharField(max_length=100, required=False, allow_blank=True)


class HoursLineSerializer(serializers.Serializer):
    volunteer = IdField()
    hours = serializers.DecimalField(max_digits=4, decimal_places=1, min_value=Decimal("0.5"))


class HoursField(serializers.ListField):
    """A JSON list; in a multipart upload (with photos) it arrives as a JSON string."""

    child = HoursLineSerializer()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError(_("Give the hours as a JSON list.")) from None
        return super().to_internal_value(data)


class CompleteSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=2000)
    hours = HoursField(min_length=1, max_length=100)
    photos = serializers.ListField(child=serializers.FileField(), required=False, default=list)


class EvaluateSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    publicity_consent = serializers.BooleanField(required=False, default=False)
    resolved = serializers.BooleanField(
        required=False, default=True, help_text="false: 没有解决 (alerts the dispatchers)"
    )


class CandidateSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    name = serializers.CharField()
    distance_km = serializers.FloatField()
    score = serializers.FloatField()
    reason = serializers.CharField()
    parts = serializers.DictField(child=serializers.FloatField())


class CandidateQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100)
    explain = serializers.BooleanField(required=False, default=False)


class MatchSerializer(serializers.Serializer):
    candidates = CandidateSerializer(many=True)
    searched_km = serializers.FloatField()
    reachable = serializers.IntegerField(help_text="Teams whose radius reaches the order within searched_km.")
    at_capacity = serializers.IntegerField()
    unavailable = serializers.IntegerField()
    outside_jurisdiction = serializers.IntegerField()
    explanation = serializers.CharField()


class EventSerializer(serializers.Serializer):
    """An event of the stream's log: these three fields, then the event's own payload."""

    seq = serializers.IntegerField()
    type = serializers.CharField()
    at = serializers.DateTimeField()


class EventQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=MAX_ID, default=0, help_text="A sequence number.")
