"""
A user's second factors as a whole: what they hold (``GET 2fa``), the
emailed code switched on or off by the user, and factors taken away by staff
for a user who lost them.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from accounts import methods
from accounts.conf import TwoFactorMode, conf
from accounts.errors import TwoFactorEnforced, TwoFactorUnavailable
from accounts.flows import notices
from accounts.flows.credentials import confirm_password, require_recent_sign_in
from accounts.flows.passkeys import remove_passkeys, user_passkeys
from accounts.flows.totp import remove_totp
from accounts.models import RecoveryCode, User
from tokens import audit, devices

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FactorStatus:
    methods: list[str]
    recovery_codes_left: int
    webauthn: list[dict]


def factor_status(user: User) -> FactorStatus:
    """What ``GET 2fa`` shows: the methods a login of this user can finish with (in DESIGN's order), codes left."""
    return FactorStatus(methods=methods.methods_for(user), recovery_codes_left=methods.recovery_codes_left(user),
                        webauthn=list(user_passkeys(user)))


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
        notices.factor_changed(user, method=methods.EMAIL, change="added" if enabled else "removed")
    logger.info("two-factor %s", "enabled" if enabled else "disabled", extra={"user_id": user.pk})


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
        notices.factor_changed(user, method=methods.EMAIL, change="removed", by=by)
    logger.info("two-factor disabled by staff", extra={"user_id": user.pk})


def remove_factor(*, user: User, method: str, by: str, signed_in_at: datetime | None, ip: str | None = None,
                  user_agent: str = "", via: str = audit.Via.ADMIN) -> bool:
    """
    Staff take a factor away from a user who lost it (the app, or the
    recovery codes), under the same recent sign-in rule as switching the
    emailed code off; audited naming them (``by``), and the user is mailed.
    False if the user had no such factor.
    """
    require_recent_sign_in(signed_in_at=signed_in_at)
    with transaction.atomic():
        if method == methods.TOTP:
            return remove_totp(user, actor=by, ip=ip, user_agent=user_agent, via=via)
        if method == methods.WEBAUTHN:
            return bool(remove_passkeys(user, actor=by, ip=ip, user_agent=user_agent, via=via))
        removed, _ = RecoveryCode.objects.filter(user=user).delete()
        if removed:
            audit.record_event(audit.Kind.FACTOR_REMOVED, user_id=user.pk, email=user.email, ip=ip,
                               user_agent=user_agent, reason=methods.RECOVERY, actor=by, via=via)
            notices.factor_changed(user, method=methods.RECOVERY, change="removed", by=by)
    return bool(removed)


def forget_devices_by_staff(*, user: User, by: str, signed_in_at: datetime | None, ip: str | None = None,
                            user_agent: str = "", via: str = audit.Via.ADMIN) -> int:
    """Staff forget every remembered device of a user: their next logins ask for the second factor again."""
    require_recent_sign_in(signed_in_at=signed_in_at)
    with transaction.atomic():
        forgotten = devices.forget_devices(user_id=user.pk, reason="staff", actor=by, ip=ip, user_agent=user_agent,
                                           via=via)
        if forgotten:
            notices.factor_changed(user, method="device", change="removed", by=by,
                                   detail=f"{forgotten} remembered device(s) forgotten")
    return forgotten
