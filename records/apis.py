"""Certificates: the public check by number, and the PDF for those who may see the volunteer."""

from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from common.errors import NotFound
from common.fields import IdField

from . import exports
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


class ExportQuerySerializer(serializers.Serializer):
    unit = IdField(required=False, allow_null=True, default=None)
    to = serializers.DateField(required=False, allow_null=True, default=None)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False, allow_null=True, default=None)
        return fields


class ExportApi(APIView):
    """Orders, ledger entries or team statistics of a unit's subtree and a date range, as CSV or XLSX."""

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={(200, "text/csv"): bytes, (200, XLSX): bytes},
    )
    def get(self, request: Request, kind: str, ext: str) -> HttpResponseBase:
        if ext not in exports.FORMATS:
            raise NotFound(_("Exports come as .csv or .xlsx."))
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        scope = exports.export_scope(
            user=request.user,  # type: ignore[arg-type]
            unit_id=q["unit"],
            date_from=q["from"],
            date_to=q["to"],
        )
        export = exports.export_for(kind, scope)
        name = exports.file_name(export, scope, ext)
        if ext == "csv":
            response: HttpResponseBase = StreamingHttpResponse(
                exports.csv_lines(export), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        else:
            response = FileResponse(exports.xlsx_file(export), content_type=XLSX, as_attachment=True, filename=name)
        response["Cache-Control"] = "private, no-store"
        return response
