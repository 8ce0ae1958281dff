"""The JWT endpoints: SimpleJWT's views with a login throttle and an exact schema."""

from django.contrib.auth import get_user_model
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from attempts.apis import serializers as s
from attempts.throttles import LoginFailureThrottle


class DetailErrorSerializer(serializers.Serializer):
    """DRF's own errors (401, 404, 405, 429): `detail`, and `error` with the same text."""

    detail = serializers.CharField()
    error = serializers.CharField(required=False)
    code = serializers.CharField(required=False)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


# SimpleJWT trims its string fields and refuses blank ones and NUL characters (400) before it
# looks at the credentials; the documented pattern says the same, so "valid" means valid. The
# one required character is neither white space nor NUL: `\S` alone would take a NUL.
NON_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def _non_blank(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(NON_BLANK, **kwargs)


class LoginRequestSerializer(serializers.Serializer):
    username = _non_blank()
    password = _non_blank(write_only=True)


class RefreshRequestSerializer(serializers.Serializer):
    refresh = _non_blank()


TOKEN_ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="A field is missing or malformed"),
    401: OpenApiResponse(DetailErrorSerializer, description="Wrong credentials, or a bad, expired or revoked token"),
}


class LoginView(TokenObtainPairView):
    """Obtain a JWT pair; failed attempts per username and address are throttled."""

    throttle_classes = [LoginFailureThrottle]

    @extend_schema(
        request=LoginRequestSerializer,
        responses={
            200: TokenPairSerializer,
            **TOKEN_ERRORS,
            429: OpenApiResponse(DetailErrorSerializer, description="Too many failed logins; see Retry-After"),
        },
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        """A JWT pair for a username and password."""
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            for throttle in self.get_throttles():
                throttle.record_failure(request, self)
            raise


class SafeTokenRefreshSerializer(TokenRefreshSerializer):
    """SimpleJWT's refresh, with a 401 instead of a 500 for the token of a deleted user."""

    def validate(self, attrs):
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist as exc:
            raise AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account") from exc


class RefreshView(TokenRefreshView):
    """Exchange a refresh token for a new pair; the old refresh token is blacklisted."""

    serializer_class = SafeTokenRefreshSerializer

    @extend_schema(request=RefreshRequestSerializer, responses={200: TokenPairSerializer, **TOKEN_ERRORS})
    def post(self, request: Request, *args, **kwargs) -> Response:
        """A new access token (and, rotated, a new refresh token) for a refresh token."""
        return super().post(request, *args, **kwargs)


class TokenBlacklistViewSchema(OpenApiViewExtension):
    """The exact schema of SimpleJWT's sign-out view (`/api/token/blacklist/`): `{}`, 400 or 401."""

    target_class = "rest_framework_simplejwt.views.TokenBlacklistView"

    def view_replacement(self):
        class DocumentedTokenBlacklistView(self.target_class):
            @extend_schema(
                request=RefreshRequestSerializer,
                responses={200: inline_serializer("SignedOut", fields={}), **TOKEN_ERRORS},
            )
            def post(self, request: Request, *args, **kwargs) -> Response:
                """Revoke a refresh token (sign out)."""
                return super().post(request, *args, **kwargs)

        return DocumentedTokenBlacklistView
