"""
Account settings, read from ``django.conf.settings`` on every access so that
``override_settings`` and the pytest ``settings`` fixture take effect
(STYLE 8). Misconfiguration is refused by ``accounts.checks``.
"""

from datetime import timedelta

from django.conf import settings

from authsvc import ratelimits


class TwoFactorMode:
    """The values of ``AUTH_2FA``."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    OFF = "off"


class Verification:
    """The values of ``ACCOUNT_EMAIL_VERIFICATION`` (django-allauth's names)."""

    MANDATORY = "mandatory"
    OPTIONAL = "optional"
    NONE = "none"


class AccountSettings:
    @property
    def two_factor_mode(self) -> str:
        return settings.AUTH_2FA

    @property
    def code_ttl(self) -> int:
        """Seconds a login's emailed code (and its challenge) stays valid."""
        return settings.TWO_FACTOR_CODE_TTL

    @property
    def resend_cooldown(self) -> timedelta:
        return timedelta(seconds=settings.TWO_FACTOR_RESEND_COOLDOWN)

    @property
    def max_open_challenges(self) -> int:
        return settings.TWO_FACTOR_MAX_OPEN_CHALLENGES

    @property
    def password_reset_url(self) -> str:
        return settings.PASSWORD_RESET_URL

    @property
    def email_verification(self) -> str:
        return settings.ACCOUNT_EMAIL_VERIFICATION

    @property
    def email_link_ttl(self) -> timedelta:
        return timedelta(seconds=settings.EMAIL_VERIFICATION_TTL)

    @property
    def email_link_cooldown(self) -> timedelta:
        return timedelta(seconds=settings.EMAIL_VERIFICATION_COOLDOWN)

    @property
    def verify_email_url(self) -> str:
        return settings.VERIFY_EMAIL_URL

    @property
    def email_change_url(self) -> str:
        return settings.EMAIL_CHANGE_URL

    @property
    def webauthn_rp_id(self) -> str:
        return settings.WEBAUTHN_RP_ID

    @property
    def webauthn_origins(self) -> list[str]:
        return list(settings.WEBAUTHN_ORIGINS)

    @property
    def webauthn_timeout(self) -> int:
        return settings.WEBAUTHN_TIMEOUT

    @property
    def service_name(self) -> str:
        """What an authenticator app or a passkey manager shows beside the account (``TOTP_ISSUER``)."""
        return settings.TOTP_ISSUER

    @property
    def reauth_max_age(self) -> timedelta:
        return timedelta(seconds=settings.ADMIN_REAUTH_MAX_AGE)

    @property
    def email_retry_backoff(self) -> float:
        return settings.EMAIL_RETRY_BACKOFF

    @staticmethod
    def rate(scope: str) -> tuple[int, int]:
        """``(requests, seconds)`` of the rate limit ``scope`` (``RATE_LIMITS``)."""
        return ratelimits.parse_rate(settings.RATE_LIMITS[scope])


conf = AccountSettings()
