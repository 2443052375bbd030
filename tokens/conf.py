"""
Token and cookie settings, read from ``django.conf.settings`` on every access
so that ``override_settings`` and the pytest ``settings`` fixture take effect.
"""

from datetime import timedelta

from django.conf import settings


class TokenSettings:
    @property
    def access_ttl(self) -> timedelta:
        return timedelta(seconds=settings.ACCESS_TOKEN_TTL)

    @property
    def refresh_ttl(self) -> timedelta:
        return timedelta(seconds=settings.REFRESH_TOKEN_TTL)

    @property
    def session_max_age(self) -> timedelta:
        return timedelta(seconds=settings.SESSION_MAX_AGE)

    @property
    def reuse_grace(self) -> timedelta:
        return timedelta(seconds=settings.REFRESH_REUSE_GRACE)

    @property
    def revoked_retention(self) -> timedelta:
        return timedelta(seconds=settings.REVOKED_RETENTION)

    @property
    def cookie_secure(self) -> bool:
        if settings.COOKIE_SECURE is None:
            return not settings.DEBUG
        return settings.COOKIE_SECURE

    @property
    def cookie_samesite(self) -> str:
        return settings.COOKIE_SAMESITE

    @property
    def cookie_domain(self) -> str | None:
        return settings.COOKIE_DOMAIN or None

    # Cookie names and paths are part of the API contract, not settings.
    access_cookie = "access_token"
    access_cookie_path = "/"
    refresh_cookie = "refresh_token"
    refresh_cookie_path = "/api/auth/"


conf = TokenSettings()
