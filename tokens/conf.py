"""
Token, cookie and purge settings, read from ``django.conf.settings`` on every
access so that ``override_settings`` and the pytest ``settings`` fixture take
effect. The one place the tokens app reads its settings (``checks.py`` aside,
which validates the raw values).

``authsvc/settings.py`` imports :func:`secure_unless_debug` from here: nothing
in this module may read a setting at import time.
"""

from datetime import timedelta

from django.conf import settings


def secure_unless_debug(cookie_secure: bool | None, *, debug: bool) -> bool:
    """
    Whether cookies are Secure: ``COOKIE_SECURE`` when set, otherwise Secure
    unless ``DEBUG``. The one rule: the auth cookies apply it when they are set
    (:attr:`TokenSettings.cookie_secure`), the settings apply it once to
    Django's own CSRF and session cookies.
    """
    return not debug if cookie_secure is None else cookie_secure


def parse_client(entry: str) -> tuple[str, str] | None:
    """One ``name:secret`` entry of ``INTROSPECTION_CLIENTS``; None unless it has both (a secret may hold ``:``)."""
    name, _, secret = entry.strip().partition(":")
    return (name, secret) if name and secret else None


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
    def auth_event_retention(self) -> timedelta:
        return timedelta(seconds=settings.AUTH_EVENT_RETENTION)

    @property
    def purge_functions(self) -> list[str]:
        """Dotted paths of the purges ``tokens.purge.purge_all`` runs."""
        return list(settings.PURGE_FUNCTIONS)

    @property
    def purge_batch_size(self) -> int:
        """Rows per DELETE statement of the purges."""
        return settings.PURGE_BATCH_SIZE

    @property
    def cookie_secure(self) -> bool:
        return secure_unless_debug(settings.COOKIE_SECURE, debug=settings.DEBUG)

    @property
    def cookie_samesite(self) -> str:
        return settings.COOKIE_SAMESITE

    @property
    def cookie_domain(self) -> str | None:
        return settings.COOKIE_DOMAIN or None

    @property
    def jwt_algorithm(self) -> str:
        return settings.JWT_ALGORITHM

    @property
    def jwt_issuer(self) -> str:
        return settings.JWT_ISSUER

    @property
    def jwt_audience(self) -> str:
        return settings.JWT_AUDIENCE

    @property
    def key_publish_delay(self) -> timedelta:
        return timedelta(seconds=settings.JWT_KEY_PUBLISH_DELAY)

    @property
    def keyring_max_age(self) -> float:
        return float(settings.JWT_KEYRING_MAX_AGE)

    @property
    def access_token_cache_size(self) -> int:
        return settings.ACCESS_TOKEN_CACHE_SIZE

    @property
    def shared_secret(self) -> str:
        """The HS256 secret: the key of ``JWT_ALGORITHM=HS256``, and of the tokens issued before keys had ids."""
        return settings.SIMPLE_JWT["SIGNING_KEY"]

    @property
    def leeway(self) -> int:
        return settings.SIMPLE_JWT["LEEWAY"]

    @property
    def introspection_clients(self) -> tuple[tuple[str, str], ...]:
        """``INTROSPECTION_CLIENTS`` as (name, secret) pairs; an entry without both is left out (``tokens.checks`` says so)."""
        return tuple(pair for pair in map(parse_client, settings.INTROSPECTION_CLIENTS.split(",")) if pair)

    @property
    def metrics_token(self) -> str:
        """``METRICS_TOKEN``: the bearer token of ``/metrics`` (empty: no one may read it)."""
        return settings.METRICS_TOKEN

    @property
    def trusted_device_ttl(self) -> timedelta:
        return timedelta(seconds=settings.TRUSTED_DEVICE_TTL)

    # Cookie names and paths are part of the API contract, not settings.
    access_cookie = "access_token"
    access_cookie_path = "/"
    refresh_cookie = "refresh_token"
    refresh_cookie_path = "/api/auth/"
    # A remembered device: sent to the login endpoints and to the devices list (which marks it ``current``).
    device_cookie = "device"
    device_cookie_path = "/api/auth/"


conf = TokenSettings()
