"""
DRF authentication by access JWT, from the ``Authorization: Bearer`` header
(native and server clients) or the ``access_token`` cookie (browsers).

A cookie is sent by the browser on its own, so a request authenticated by
one must also carry Django's CSRF double-submit header; a header token cannot
be attached by a cross-site page, so it needs none (OWASP CSRF Prevention
Cheat Sheet, "Token Based Mitigation").
"""

from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from authsvc.errors import ServiceError
from tokens import services
from tokens.conf import conf
from tokens.errors import TokenInvalid

AUTH_SCHEME = b"bearer"


class _CSRFCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason


def enforce_csrf(request) -> None:
    """Refuse an unsafe request whose credentials came from a cookie unless it passes Django's CSRF check."""
    django_request = getattr(request, "_request", request)
    check = _CSRFCheck(lambda req: None)
    check.process_request(django_request)
    reason = check.process_view(django_request, None, (), {})
    if reason:
        raise exceptions.PermissionDenied(f"CSRF check failed: {reason}", code="csrf_failed")


def bearer_token(request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None for no header or another scheme."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != AUTH_SCHEME:
        return None
    if len(parts) != 2:
        raise TokenInvalid("Malformed Authorization header: expected 'Bearer <token>'.")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise TokenInvalid() from None


class JWTAuthentication(BaseAuthentication):
    """Access JWT → user, with the token's session checked in the same query."""

    def authenticate(self, request):
        try:
            raw = bearer_token(request)
        except ServiceError as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from exc
        from_cookie = False
        if raw is None:
            raw = request.COOKIES.get(conf.access_cookie)
            from_cookie = True
        if not raw:
            return None
        try:
            user, token = services.authenticate_access_token(raw)
        except ServiceError as exc:
            # One outward answer for every reason (bad signature, expired,
            # revoked session, inactive user): the client's remedy is the same.
            raise exceptions.AuthenticationFailed(
                "Access token is invalid or expired.", code="token_invalid"
            ) from exc
        if from_cookie:
            enforce_csrf(request)
        return user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
