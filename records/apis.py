"""Certificates: the public check by number, and the PDF for those who may see the volunteer."""

from typing import Any

from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from common.errors import NotFound
from common.fields import ID_IN_PATH, IdField, path_id

from . import exports, jobs
from .models import ExportJob, ExportState
from .selectors import certificate_by_number, may_download, public_facts

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CertificateFactsSerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField(help_text="masked: the surname and a star")
    volunteer_number = serializers.CharField()
    hours_total = serializers.CharField()
    services = serializers.IntegerField()
    to = serializers.DateField()
    issuer = serializers.CharField()
    issued_on = serializers.DateField()
    valid = serializers.BooleanField()


class CertificateApi(APIView):
    """Anyone may confirm a certificate by its number; the answer holds nothing private."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "verify"

    @extend_schema(responses=CertificateFactsSerializer)
    def get(self, request: Request, number: str) -> Response:
        certificate = certificate_by_number(number)
        if certificate is None:
            raise NotFound(_("No certificate has this number."))
        return Response(public_facts(certificate))


class CertificatePdfApi(APIView):
    """The certificate's PDF, for the volunteer, their team leaders and their units' dispatchers."""

    @extend_schema(responses={(200, "application/pdf"): bytes})
    def get(self, request: Request, number: str) -> FileResponse:
        certificate = certificate_by_number(number)
        if certificate is None or not may_download(request.user, certificate):  # type: ignore[arg-type]
            raise NotFound(_("No certificate has this number."))
        stamp = timezone.localdate(certificate.issued_at).isoformat()
        response = FileResponse(
            certificate.pdf.open("rb"),
            content_type="application/pdf",
            filename=f"certificate-{stamp}-{certificate.number}.pdf",
        )
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ExportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(exports.KINDS))
    format = serializers.ChoiceField(choices=list(exports.FORMATS))
    unit = IdField(required=False, allow_null=True, default=None)
    to = serializers.DateField(required=False, allow_null=True, default=None)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False, allow_null=True, default=None)
        return fields


class ExportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    format = serializers.CharField(source="ext")
    unit = serializers.IntegerField(source="unit_id")
    to = serializers.DateField(source="date_to")
    state = serializers.CharField()
    rows = serializers.IntegerField()
    file = serializers.SerializerMethodField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(source="date_from")
        return fields

    def get_file(self, job: ExportJob) -> str | None:
        return f"/api/v1/exports/{job.pk}/file/" if job.state == ExportState.DONE else None


class ExportViewSet(viewsets.ViewSet):
    """Exports for dispatchers, written in the background: ask, follow `state` and `rows`, then download."""

    lookup_value_regex = ID_IN_PATH

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportJobSerializer})
    def create(self, request: Request) -> Response:
        s = ExportRequestSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        v = s.validated_data
        job = jobs.export_request(
            user=request.user,  # type: ignore[arg-type]
            kind=v["kind"],
            ext=v["format"],
            unit_id=v["unit"],
            date_from=v["from"],
            date_to=v["to"],
        )
        job.refresh_from_db()
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ExportJobSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ExportJobSerializer(jobs.job_of(request.user, path_id(pk))).data)  # type: ignore[arg-type]

    @extend_schema(responses={(200, "text/csv"): bytes, (200, XLSX): bytes})
    @action(detail=True, methods=["get"])
    def file(self, request: Request, pk: str) -> FileResponse:
        job = jobs.job_of(request.user, path_id(pk))  # type: ignore[arg-type]
        if job.state != ExportState.DONE:
            raise NotFound(_("The export is not ready."))
        name = (job.file.name or "").rsplit("/", 1)[-1]
        kind = XLSX if job.ext == "xlsx" else "text/csv; charset=utf-8"
        response = FileResponse(job.file.open("rb"), content_type=kind, as_attachment=True, filename=name)
        response["Cache-Control"] = "private, no-store"
        return response
