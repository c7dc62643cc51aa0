"""Sign-in for phones: ask for a code, then trade the code (or a password) for a token."""

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from common.errors import InvalidInput

from . import services


class SignInApi(APIView):
    """Open to anyone, rate-limited as sign-in."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class SignInCodeApi(SignInApi):
    """Send a one-time 6-digit code to a phone (the same answer whether or not it has an account)."""

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=20)

    @extend_schema(
        request=inline_serializer("SignInCodeInput", {"phone": serializers.CharField(max_length=20)}),
        responses={
            202: inline_serializer(
                "SignInCodeSent",
                {"detail": serializers.CharField(), "expires_in": serializers.IntegerField()},
            )
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.signin_code_send(phone=data.validated_data["phone"], address=request.META.get("REMOTE_ADDR"))
        return Response(
            {
                "detail": _("If the number can receive it, a code is on its way."),
                "expires_in": int(settings.SIGNIN_CODE_TTL.total_seconds()),
            },
            status=status.HTTP_202_ACCEPTED,
        )


class TokenApi(SignInApi):
    """Phones sign in with their number and a one-time code (or a password) and keep the token."""

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=20)
        password = serializers.CharField(max_length=128, trim_whitespace=False, required=False)
        code = serializers.CharField(max_length=6, required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("TokenOutput", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        if "code" in given:
            user = services.signin_with_code(phone=given["phone"], code=given["code"])
        elif "password" in given:
            user = services.signin_with_password(request=request, phone=given["phone"], password=given["password"])
        else:
            need = _("Give the code sent to the phone, or the password.")
            raise InvalidInput(need, fields={"code": [need], "password": [need]})
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key}, status=status.HTTP_200_OK)
