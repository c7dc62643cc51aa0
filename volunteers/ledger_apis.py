"""The hours ledger's API: a volunteer's record and ledger, manual entries, corrections, decisions."""

from datetime import date
from decimal import Decimal
from typing import Any

from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import NotFound
from common.fields import ID_IN_PATH, IdField, actor, body_of, path_id
from common.uploads import photo_response
from records.services import certificate_issue, verify_url

from . import ledger
from .models import Membership, RecordPhoto, ServiceRecord, Volunteer
from .selectors import hours_total, ledger_of, records_to_decide, star_level, volunteer_visible_to


class RecordSerializer(serializers.ModelSerializer):
    date = serializers.DateField(source="day")
    photos = serializers.SerializerMethodField()

    class Meta:
        model = ServiceRecord
        fields = [
            "id",
            "kind",
            "state",
            "hours",
            "order",
            "team",
            "date",
            "content",
            "reason",
            "volunteer",
            "unit",
            "place",
            "corrects",
            "note",
            "recorded_at",
            "decided_at",
            "photos",
        ]

    def get_photos(self, record: ServiceRecord) -> list[str]:
        return [p.image.url for p in record.photos.all()]


class VolunteerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    number = serializers.CharField()
    hours_total = serializers.DecimalField(max_digits=9, decimal_places=1)
    star_level = serializers.IntegerField()
    teams = serializers.ListField(child=serializers.DictField())


class ManualSerializer(serializers.Serializer):
    volunteer = IdField()
    order = IdField(required=False, allow_null=True, default=None)
    date = serializers.DateField(required=False, allow_null=True, default=None)
    content = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    place = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    team = IdField(required=False, allow_null=True, default=None)
    hours = serializers.DecimalField(max_digits=5, decimal_places=1)
    reason = serializers.CharField(max_length=1000)
    photos = serializers.ListField(child=serializers.FileField(), required=False, default=list)


class CorrectionSerializer(serializers.Serializer):
    hours = serializers.DecimalField(max_digits=5, decimal_places=1)
    reason = serializers.CharField(max_length=1000)


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class CertificateRequestSerializer(serializers.Serializer):
    # "from" is a keyword in Python: the field is renamed in to_internal_value.
    to = serializers.DateField()

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        return fields


class CertificateIssuedSerializer(serializers.Serializer):
    number = serializers.CharField()
    pdf = serializers.CharField()
    verify_url = serializers.CharField()


def volunteer_data(volunteer: Volunteer) -> dict[str, Any]:
    total = hours_total(volunteer.pk)
    memberships = Membership.objects.filter(volunteer=volunteer, active=True).select_related("team")
    return {
        "id": volunteer.pk,
        "name": volunteer.real_name,
        "number": volunteer.number,
        "hours_total": total,
        "star_level": star_level(total),
        "teams": [{"id": m.team_id, "name": m.team.name, "role": m.role} for m in memberships],
    }


class VolunteerViewSet(viewsets.ViewSet):
    """A volunteer's record: for the volunteer, their team leaders and their units' dispatchers."""

    lookup_value_regex = ID_IN_PATH

    def _volunteer(self, pk: str) -> Volunteer:
        volunteer = Volunteer.objects.filter(pk=path_id(pk)).first()
        if volunteer is None or not volunteer_visible_to(actor(self.request), volunteer):
            raise NotFound(_("Volunteer %(id)s does not exist.") % {"id": pk})
        return volunteer

    @extend_schema(responses=VolunteerSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(VolunteerSerializer(volunteer_data(self._volunteer(pk))).data)

    @extend_schema(responses=RecordSerializer(many=True))
    @action(detail=True, methods=["get"])
    def records(self, request: Request, pk: str) -> Response:
        rows = ledger_of(self._volunteer(pk).pk).prefetch_related("photos")
        return Response(RecordSerializer(rows, many=True).data)

    @extend_schema(request=CertificateRequestSerializer, responses={201: CertificateIssuedSerializer})
    @action(detail=True, methods=["post"])
    def certificates(self, request: Request, pk: str) -> Response:
        s = CertificateRequestSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        dates: dict[str, date] = s.validated_data
        certificate = certificate_issue(
            user=actor(request),
            volunteer_id=path_id(pk),
            date_from=dates["from"],
            date_to=dates["to"],
            base_url=request.build_absolute_uri("/"),
        )
        body = {
            "number": certificate.number,
            "pdf": request.build_absolute_uri(f"/api/v1/certificates/{certificate.number}/pdf/"),
            "verify_url": certificate_verify_url(certificate.number, request),
        }
        return Response(body, status=status.HTTP_201_CREATED)


def certificate_verify_url(number: str, request: Request) -> str:
    return verify_url(number, request.build_absolute_uri("/"))


class RecordViewSet(viewsets.ViewSet):
    """Ledger entries: a leader adds hours by hand; a volunteer or leader asks a correction; a dispatcher decides."""

    lookup_value_regex = ID_IN_PATH

    def _render(self, record: ServiceRecord, code: int = status.HTTP_200_OK) -> Response:
        fresh = ServiceRecord.objects.prefetch_related("photos").get(pk=record.pk)
        return Response(RecordSerializer(fresh).data, status=code)

    @extend_schema(responses=RecordSerializer(many=True))
    def list(self, request: Request) -> Response:
        """The manual entries and corrections waiting for the dispatcher's unit."""
        return Response(RecordSerializer(records_to_decide(actor(request)), many=True).data)

    @extend_schema(request=ManualSerializer, responses={201: RecordSerializer})
    def create(self, request: Request) -> Response:
        s = ManualSerializer(data=body_of(request, "photos"))
        s.is_valid(raise_exception=True)
        v = s.validated_data
        record = ledger.record_manual_add(
            user=actor(request),
            volunteer_id=v["volunteer"],
            hours=v["hours"],
            reason=v["reason"],
            order_id=v["order"],
            day=v["date"],
            content=v["content"],
            place=v["place"],
            team_id=v["team"],
            photos=v["photos"],
        )
        return self._render(record, status.HTTP_201_CREATED)

    @extend_schema(request=CorrectionSerializer, responses={201: RecordSerializer})
    @action(detail=True, methods=["post"])
    def correction(self, request: Request, pk: str) -> Response:
        s = CorrectionSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        hours: Decimal = s.validated_data["hours"]
        record = ledger.record_correction_ask(
            user=actor(request), record_id=path_id(pk), hours=hours, reason=s.validated_data["reason"]
        )
        return self._render(record, status.HTTP_201_CREATED)

    @extend_schema(request=DecisionSerializer, responses=RecordSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, approve=True)

    @extend_schema(request=DecisionSerializer, responses=RecordSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, approve=False)

    def _decide(self, request: Request, pk: str, *, approve: bool) -> Response:
        s = DecisionSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        record = ledger.record_decide(
            user=actor(request), record_id=path_id(pk), approve=approve, note=s.validated_data["note"]
        )
        return self._render(record)


class RecordPhotoApi(APIView):
    """Evidence for a manual entry: for its volunteer, their leaders and the unit's dispatchers."""

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    def get(self, request: Request, record_id: int, name: str) -> FileResponse:
        record = ServiceRecord.objects.select_related("volunteer").filter(pk=path_id(str(record_id))).first()
        photo = RecordPhoto.objects.filter(record=record, image=f"records/{record_id}/{name}").first()
        if record is None or photo is None or not volunteer_visible_to(actor(request), record.volunteer):
            raise NotFound(_("There is no such photo."))
        return photo_response(photo.image)
