"""Recovery codes: made (shown once), replaced with the password, and spent (``accounts.methods`` checks them)."""

from django.db import transaction
from django.utils import timezone

from accounts import methods, recovery
from accounts.conf import TwoFactorMode, conf
from accounts.flows import notices
from accounts.flows.credentials import confirm_password, require_factors_available
from accounts.models import RecoveryCode, User
from tokens import audit


def replace_codes(user: User) -> list[str]:
    """
    Ten new codes for ``user``, the old ones gone: the codes themselves, to
    show once; only their keyed hashes are kept. Call it in a transaction.
    """
    codes = recovery.new_codes()
    now = timezone.now()
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=recovery.hash_code(user.pk, recovery.normalized(code)), created_at=now)
        for code in codes
    )
    return codes


def regenerate_recovery_codes(*, user: User, password: str, ip: str | None = None, user_agent: str = "") -> list[str]:
    """The user replaces their recovery codes (with the password): the old ones stop working at once."""
    require_factors_available()
    confirm_password(user, password)
    with transaction.atomic():
        codes = replace_codes(user)
        audit.record_event(audit.Kind.FACTOR_ADDED, user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent,
                           reason=methods.RECOVERY, actor="user", via=audit.Via.API)
        notices.factor_changed(user, method=methods.RECOVERY, change="added")
    return codes


def recovery_code_used(user: User, *, ip: str | None, user_agent: str, via: str) -> None:
    """A recovery code was spent (a login, or proof for a factor change): audit event and notice, with how many are left."""
    left = methods.recovery_codes_left(user)
    audit.record_event(audit.Kind.RECOVERY_CODE_USED, user_id=user.pk, email=user.email, ip=ip,
                       user_agent=user_agent, reason=f"{left} left", actor="user", via=via)
    notices.factor_changed(user, method=methods.RECOVERY, change="used", detail=f"{left} left")


def app_factor_added(user: User, *, method: str, ip: str | None, user_agent: str) -> list[str]:
    """
    An app factor (an authenticator app, a passkey) is the user's now: under
    ``AUTH_2FA=optional`` the second factor is switched on (removing the
    factor later brings the emailed code back, DESIGN.md), the change is
    audited and noticed, and the user gets ten recovery codes if they had
    none left — returned, to show once (else an empty list). Call it in the
    transaction that added the factor.
    """
    if conf.two_factor_mode == TwoFactorMode.OPTIONAL and not user.two_factor_enabled:
        user.two_factor_enabled = True
        user.save(update_fields=["two_factor_enabled"])
    codes = [] if methods.recovery_codes_left(user) else replace_codes(user)
    audit.record_event(audit.Kind.FACTOR_ADDED, user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent,
                       reason=method, actor="user", via=audit.Via.API)
    notices.factor_changed(user, method=method, change="added")
    return codes
