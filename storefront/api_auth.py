"""Accounts for mobile apps: exchange an email (or username) and password for an API token, and
revoke it. The token is DRF's (one per user); every other endpoint accepts it as
``Authorization: Token <key>`` and answers for that user alone.

Guessing is limited twice: this endpoint's own rate (API_THROTTLE_AUTH_TOKEN, every attempt counts),
and the web sign-in's failed-attempt limits (allauth's ``login_failed``: per address, and per account
whichever of its email or username is typed), which this endpoint shares with the web's form. A new
password revokes the account's token (storefront/apps.py)."""

from allauth.account.adapter import get_adapter
from allauth.account.utils import has_verified_email
from django.conf import settings
from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommendations.services.interactions import visitor_merge_into_user
from recommendations.services.visitors import visitor_from_token
from storefront.throttling import AuthTokenThrottle

RETRY_GUESSING_AFTER_S = 300


class CredentialsSerializer(serializers.Serializer):
    login = serializers.CharField(max_length=254, help_text="The account's email address or username.")
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    user_id = serializers.IntegerField()
    email = serializers.EmailField(allow_blank=True)
    events_merged = serializers.IntegerField(
        help_text="Anonymous events of the X-Visitor-Id sent with this request, now the user's."
    )


class AuthTokenApi(APIView):
    throttle_classes = [AuthTokenThrottle]

    def get_authenticators(self):
        # POST takes credentials only (a session or a token cannot mint a token); DELETE takes the
        # token it revokes, and only a token (no session: a page could not revoke it by CSRF).
        return [TokenAuthentication()] if self._method() in ("DELETE", None) else []

    def get_permissions(self):
        return [IsAuthenticated()] if self._method() in ("DELETE", None) else []

    def _method(self) -> str | None:
        return getattr(self.request, "method", None)  # None while the schema is generated

    @extend_schema(
        request=CredentialsSerializer,
        responses={200: TokenSerializer,
                   400: OpenApiResponse(description="Missing fields, or wrong email/username or password."),
                   429: OpenApiResponse(description="Too many attempts; retry later.")},
        auth=[],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        """Sign in: the user's token (the same one until it is revoked). An app that sent events
        anonymously sends its X-Visitor-Id here too, and that history becomes the user's."""
        serializer = CredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        login, password = serializer.validated_data["login"], serializer.validated_data["password"]
        credentials = {"email" if "@" in login else "username": login, "password": password}
        try:
            user = get_adapter(request._request).authenticate(request._request, **credentials)
        except ValidationError as refused:  # allauth's failed-attempt limit
            # Its windows are a minute, five minutes and an hour (ACCOUNT_RATE_LIMITS); allauth does not say
            # which refused, so the client is told the middle one.
            raise Throttled(wait=RETRY_GUESSING_AFTER_S, detail=" ".join(refused.messages)) from None
        if user is None or not user.is_active:
            raise serializers.ValidationError({"non_field_errors": ["Wrong email/username or password."]})
        if settings.ACCOUNT_EMAIL_VERIFICATION == "mandatory" and not has_verified_email(user):
            # As on the web, where such a sign-in stops at "confirm your address".
            raise serializers.ValidationError({"non_field_errors": ["Confirm your email address first."]})
        token, _ = Token.objects.get_or_create(user=user)
        merged = 0
        if _sent_visitor(request):
            # Resolved for this user: a history already theirs merges nothing, and an app signing in
            # again with its old X-Visitor-Id does not get a new, empty visitor for it.
            visitor, _ = visitor_from_token(token=request.headers.get("X-Visitor-Id"), user_id=user.pk)
            if visitor.user_id is None:
                merged = visitor_merge_into_user(visitor=visitor, user=user)
        data = {"token": token.key, "user_id": user.pk, "email": user.email, "events_merged": merged}
        return Response(TokenSerializer(data).data)

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="Revoked."), 401: OpenApiResponse(description="No valid token.")},
    )  # fmt: skip
    def delete(self, request: Request) -> Response:
        """Sign out: the token that authenticates this request stops working everywhere."""
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def _sent_visitor(request: Request) -> bool:
    return bool(request.headers.get("X-Visitor-Id"))
