from django.db import models
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from authsvc.api import UtcDateTimeField
from tokens.jwt import MAX_TOKEN_LENGTH
from tokens.models import Session


class Transport:
    COOKIE = "cookie"
    BODY = "body"
    CHOICES = (COOKIE, BODY)


def transport_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Transport.CHOICES,
        default=Transport.COOKIE,
        help_text="'cookie' (browsers): tokens in HttpOnly cookies. 'body' (native/server clients): tokens in the JSON body.",
    )


class _ProhibitSurrogates(ProhibitSurrogateCharactersValidator):
    """
    DRF's check, which tests each character in Python (14 µs for a refresh
    token, every refresh), skipped for an ASCII string: it holds none. A
    token always is one; anything else is checked as before.
    """

    def __call__(self, value):
        if not str(value).isascii():
            super().__call__(value)


class RawTokenField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_TOKEN_LENGTH)
        kwargs.setdefault("trim_whitespace", True)
        super().__init__(**kwargs)
        self.validators = [_ProhibitSurrogates() if type(validator) is ProhibitSurrogateCharactersValidator
                           else validator for validator in self.validators]


class EmptySerializer(serializers.Serializer):
    """For endpoints that take no fields: a body, if sent, must still be a JSON object."""


class RefreshRequestSerializer(serializers.Serializer):
    refresh = RawTokenField(
        required=False,
        help_text="The refresh token, for clients that keep it themselves. Browsers send the refresh_token cookie instead.",
    )


class LogoutRequestSerializer(serializers.Serializer):
    refresh = RawTokenField(required=False, help_text="The refresh token of the session to end (body transport).")


class CookieTokensSerializer(serializers.Serializer):
    """Token response in cookie transport: the refresh token is only ever in its cookie."""

    access = serializers.CharField()
    access_expires_at = UtcDateTimeField()
    session_id = serializers.UUIDField()


class BodyTokensSerializer(CookieTokensSerializer):
    refresh = serializers.CharField()
    refresh_expires_at = UtcDateTimeField()


class DeviceTokenSerializer(serializers.Serializer):
    """A remembered device's token, in the body transport (``remember_device`` on ``login/2fa``)."""

    device_token = serializers.CharField()
    device_expires_at = UtcDateTimeField()


class TokensSerializer(CookieTokensSerializer):
    """The schema of a token answer in either transport (renders nothing: see tokens/responses.py)."""

    refresh = serializers.CharField(required=False, help_text="Body transport only.")
    refresh_expires_at = UtcDateTimeField(required=False, help_text="Body transport only.")
    device_token = serializers.CharField(
        required=False, help_text="Body transport, when login/2fa asked for remember_device: send it as device_token "
                                  "with later logins to skip the second factor. Browsers get the device cookie.")
    device_expires_at = UtcDateTimeField(required=False, help_text="With device_token.")


class DeviceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    created_at = UtcDateTimeField()
    last_used_at = UtcDateTimeField(allow_null=True)
    expires_at = UtcDateTimeField()
    user_agent = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    current = serializers.SerializerMethodField()

    def get_current(self, device) -> bool:
        return device.token_hash == self.context.get("current_token_hash")


class SessionSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.DateTimeField: UtcDateTimeField}
    current = serializers.SerializerMethodField()

    class Meta:
        model = Session
        fields = ["id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"]

    def get_current(self, session: Session) -> bool:
        return session.id == self.context.get("current_session_id")


class RevokedCountSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


class CsrfTokenSerializer(serializers.Serializer):
    csrf_token = serializers.CharField()


class JwksSerializer(serializers.Serializer):
    keys = serializers.ListField(child=serializers.DictField(), help_text="Public JWKs: kid, kty, alg, use, and the "
                                                                         "key's own members (crv, x, y / n, e).")


# --- for other services: introspection (RFC 7662) and the revocation feed ------------------------


class _StrictRawTokenField(RawTokenField):
    """A string and nothing else: DRF's CharField would read a JSON number or boolean as one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class IntrospectionRequestSerializer(serializers.Serializer):
    token = _StrictRawTokenField(help_text="An access or refresh token.")
    # Blank allowed: a form's empty field is no field (DRF), so it is taken either way.
    token_type_hint = _StrictRawTokenField(required=False, allow_blank=True, max_length=32,
                                           help_text="RFC 7662 §2.1; read from the token itself, so ignored.")


class IntrospectionSerializer(serializers.Serializer):
    """RFC 7662 §2.2. An inactive token is ``{"active": false}`` and nothing else."""

    active = serializers.BooleanField()
    sub = serializers.CharField(required=False, help_text="The user id.")
    sid = serializers.UUIDField(required=False, help_text="The session id.")
    exp = serializers.IntegerField(required=False)
    iat = serializers.IntegerField(required=False)
    iss = serializers.CharField(required=False)
    aud = serializers.CharField(required=False)
    token_type = serializers.ChoiceField(choices=["access", "refresh"], required=False)


class RevocationFeedQuerySerializer(serializers.Serializer):
    since = serializers.RegexField(
        r"^v1\.[A-Za-z0-9_-]+$", required=False, allow_blank=True, max_length=200,
        help_text="The cursor of the previous answer; none (or empty): one access-token lifetime back.",
    )


class RevokedSessionSerializer(serializers.Serializer):
    sid = serializers.UUIDField()
    revoked_at = UtcDateTimeField()


class RevocationFeedSerializer(serializers.Serializer):
    revoked = RevokedSessionSerializer(many=True)
    cursor = serializers.CharField(help_text="Opaque: send it back as `since`.")
