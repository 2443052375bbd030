"""
The authenticator app (TOTP, RFC 6238): set up with the password, confirmed
with a first code, disabled with the password and a code.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import budgets, methods, totp
from accounts.errors import FactorExists, FactorMissing, InvalidCode
from accounts.flows import notices, recovery_codes
from accounts.flows.answers import answered, audited_answer
from accounts.flows.credentials import confirm_password, require_factors_available
from accounts.models import TotpDevice, User
from authsvc import secretbox
from tokens import audit


@dataclass(frozen=True)
class TotpSetup:
    """What the user's app enrols from: shown once, while the setup is pending."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def begin_totp_setup(*, user: User, password: str) -> TotpSetup:
    """
    A new secret (160 bits), pending until a first code confirms it: no
    login asks for it before. Setting up again before confirming replaces
    the pending secret; a user with a confirmed app disables it first.
    """
    require_factors_available()
    confirm_password(user, password)
    if TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        raise FactorExists()
    secret = totp.new_secret()
    TotpDevice.objects.update_or_create(
        user=user,
        defaults={"encrypted_secret": secretbox.encrypt(secret), "created_at": timezone.now(), "confirmed_at": None,
                  "last_step": 0, "last_used_at": None},
    )
    uri = totp.provisioning_uri(secret, account=user.email, issuer=settings.TOTP_ISSUER)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def confirm_totp(*, user: User, code: str, ip: str | None = None, user_agent: str = "") -> list[str]:
    """
    The first code from the app confirms the pending setup: from now on
    logins ask for the app, and no code is emailed. Returns ten new recovery
    codes if the user had none left (shown once), else an empty list. A
    wrong code spends the account's budget of wrong answers like any
    second-factor answer.
    """
    require_factors_available()
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        raise FactorMissing()
    now = timezone.now()
    with budgets.spending_wrong_answer(user.pk), audited_answer(user, "confirm", ip=ip, user_agent=user_agent):
        with transaction.atomic():
            if not methods.accept_totp_code(device, code, now=now):
                raise InvalidCode(method=methods.TOTP)
            TotpDevice.objects.filter(pk=device.pk).update(confirmed_at=now)
            return recovery_codes.app_factor_added(user, method=methods.TOTP, ip=ip, user_agent=user_agent)


def disable_totp(*, user: User, password: str, code: str, ip: str | None = None, user_agent: str = "") -> None:
    """
    The user removes their authenticator app, with the password and a code
    from the app or a recovery code (someone holding a signed-in session
    and the password alone must not strip the second factor). The wrong
    code spends the account's budget of wrong answers.
    """
    confirm_password(user, password)
    if not methods.get(methods.TOTP).enrolled(user):
        raise FactorMissing()
    method = methods.method_for_answer((methods.TOTP, methods.RECOVERY), code)
    answered(user, method=method, code=code, step="disable", ip=ip, user_agent=user_agent,
             then=lambda: remove_totp(user, actor="user", ip=ip, user_agent=user_agent, via=audit.Via.API))


def remove_totp(user: User, *, actor: str, ip: str | None, user_agent: str, via: str) -> bool:
    """The app gone (by the user, or by staff: ``actor``), audited and noticed. False if there was none."""
    removed, _ = TotpDevice.objects.filter(user=user).delete()
    if not removed:
        return False
    audit.record_event(audit.Kind.FACTOR_REMOVED, user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent,
                       reason=methods.TOTP, actor=actor, via=via)
    notices.factor_changed(user, method=methods.TOTP, change="removed", by=actor)
    return True
