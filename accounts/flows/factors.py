"""A user's second factor, switched on or off: by the user, or by staff for a user who lost it."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.conf import TwoFactorMode, conf
from accounts.errors import ReauthenticationRequired, TwoFactorEnforced, TwoFactorUnavailable
from accounts.flows.credentials import confirm_password
from accounts.models import User
from tokens import audit

logger = logging.getLogger(__name__)


def set_two_factor(*, user: User, password: str, enabled: bool, ip: str | None = None,
                   user_agent: str = "") -> None:
    """
    The user switches their own emailed second factor on or off
    (``AUTH_2FA=optional``): an audit event either way, as when staff switch
    it off.
    """
    if conf.two_factor_mode == TwoFactorMode.REQUIRED:
        raise TwoFactorEnforced()
    if conf.two_factor_mode == TwoFactorMode.OFF:
        raise TwoFactorUnavailable()
    confirm_password(user, password)
    with transaction.atomic():
        user.two_factor_enabled = enabled
        user.save(update_fields=["two_factor_enabled"])
        audit.record_event(audit.Kind.TWO_FACTOR_ENABLED if enabled else audit.Kind.TWO_FACTOR_DISABLED,
                           user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent, reason="user",
                           actor="user", via=audit.Via.API)
    logger.info("two-factor %s", "enabled" if enabled else "disabled", extra={"user_id": user.pk})


def require_recent_sign_in(*, signed_in_at: datetime | None) -> None:
    """
    Refuse an action that weakens an account unless whoever asks signed in
    (password and second factor) within ``ADMIN_REAUTH_MAX_AGE`` seconds:
    a staff session left open on an unattended screen, or taken over, must
    not be enough to strip a user's protection (OWASP ASVS 4.0 V3.7.1,
    re-authentication before sensitive account modifications).
    """
    if signed_in_at is None or timezone.now() - signed_in_at > conf.reauth_max_age:
        raise ReauthenticationRequired()


def disable_two_factor(*, user: User, by: str, signed_in_at: datetime | None, ip: str | None = None,
                       user_agent: str = "", via: str = audit.Via.ADMIN) -> None:
    """
    Staff switch a user's second factor off (a lost mailbox); the user's
    password is not asked, so the staff member's own recent sign-in is, and
    the audit trail names them (``by``).
    """
    require_recent_sign_in(signed_in_at=signed_in_at)
    with transaction.atomic():
        user.two_factor_enabled = False
        user.save(update_fields=["two_factor_enabled"])
        audit.record_event(audit.Kind.TWO_FACTOR_DISABLED, user_id=user.pk, email=user.email, ip=ip,
                           user_agent=user_agent, reason="staff", actor=by, via=via)
    logger.info("two-factor disabled by staff", extra={"user_id": user.pk})
