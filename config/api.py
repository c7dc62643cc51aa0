"""API plumbing shared by every app: errors, pagination, token login."""

from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import DomainError

# Stable machine codes for DRF's own exceptions.
DRF_CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error is `{"code", "detail", "fields"}`; domain errors carry their own status."""
    if isinstance(exc, DomainError):
        return Response({"code": exc.code, "detail": exc.detail, "fields": exc.fields}, status=exc.status)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        detail = _("The request is too large.")
        return Response({"code": "payload_too_large", "detail": detail, "fields": {}}, status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        names = ", ".join(fields)
        detail = _("Invalid input in: %(fields)s. Nothing was saved.") % {"fields": names}
        response.data = {"code": code, "detail": detail, "fields": fields}
    else:
        response.data = {"code": code, "detail": str(getattr(exc, "detail", exc)), "fields": {}}
    return response


class TokenApi(APIView):
    """Phones log in with phone number and password and keep the token."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=20)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("TokenOutput", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, username=data.validated_data["phone"], password=data.validated_data["password"])
        if user is None:
            raise exceptions.AuthenticationFailed(_("Wrong phone number or password."))
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key}, status=status.HTTP_200_OK)
