"""
Deleting an account (DESIGN.md, Part 2, "Account lifecycle"): one rule for
every door — the user (password and second factor), staff in the admin,
``manage.py delete_user``.
"""

from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from accounts import methods
from accounts.errors import InvalidCode
from accounts.flows import notices
from accounts.flows.answers import answered
from accounts.flows.credentials import confirm_password, require_recent_sign_in
from accounts.models import User
from tokens import audit
from tokens.devices import forget_devices
from tokens.services import RevokeReason, revoke_all_sessions


def delete_account(user: User, *, actor: str = "user", ip: str | None = None, user_agent: str = "",
                   via: str = audit.Via.API) -> int:
    """
    The one rule: every session ends — revoked by name, so resource servers
    see them in the revocation feed — remembered devices are forgotten, the
    deletion is audited, a notice goes to the address, and the row goes with
    everything hanging off it (factors, links, notices), so the address is
    free again. The audit trail keeps its events by user id, until
    ``AUTH_EVENT_RETENTION`` purges them with their emails and IPs; the
    admin log keeps its entries about the account without the address.
    ``actor``: "user", a staff email, or the command. Returns how many
    sessions were revoked.
    """
    by_staff = actor != "user"
    with transaction.atomic():
        revoked = revoke_all_sessions(user_id=user.pk, reason=RevokeReason.ACCOUNT_DELETED,
                                      revoked_by=actor if by_staff else "", ip=ip, user_agent=user_agent, via=via)
        forget_devices(user_id=user.pk, reason=RevokeReason.ACCOUNT_DELETED, actor=actor, ip=ip,
                       user_agent=user_agent, via=via)
        audit.record_event(audit.Kind.ACCOUNT_DELETED, user_id=user.pk, email=user.email, ip=ip,
                           user_agent=user_agent, reason=f"{revoked} session(s) ended", actor=actor, via=via)
        notices.farewell(user, by_staff=by_staff)
        _forget_address_in_admin_log(user)
        user.delete()
    return revoked


def _forget_address_in_admin_log(user: User) -> int:
    """
    Django's admin log names the objects staff changed by their ``str()``,
    the address for a user, and is never purged: the entries about this
    account keep their id, action and time, not the address.
    """
    content_type = ContentType.objects.get_for_model(User)
    return LogEntry.objects.filter(content_type=content_type, object_id=str(user.pk)).update(
        object_repr=f"user {user.pk} (deleted)")


def delete_own_account(*, user: User, password: str, method: str | None = None, code: str = "", credential=None,
                       ip: str | None = None, user_agent: str = "") -> int:
    """
    The user deletes their account: the password (400 ``invalid_password``),
    and where they have an app factor its answer too — ``method`` (default:
    as at ``login/2fa``) with ``code``, or a passkey's ``credential`` (its
    options from ``2fa/webauthn/step-up/begin``); 401 ``invalid_code`` when
    missing or wrong, spending the account's budget of wrong answers as at
    login. Someone holding a session and the password alone cannot delete it.
    """
    confirm_password(user, password)
    if not methods.has_app_factor(user):
        return delete_account(user, ip=ip, user_agent=user_agent)
    available = [name for name in methods.methods_for(user) if name != methods.EMAIL]
    answer = credential if credential is not None and method in (None, methods.WEBAUTHN) else code
    method = method or methods.default_for(available, answer)
    if method not in available or not answer:
        raise InvalidCode(method=method)
    return answered(user, method=method, code=answer, step="delete", ip=ip, user_agent=user_agent,
                    then=lambda: delete_account(user, ip=ip, user_agent=user_agent))


def delete_account_by_staff(*, user: User, by: str, signed_in_at: datetime | None, ip: str | None = None,
                            user_agent: str = "", via: str = audit.Via.ADMIN) -> int:
    """
    Staff delete an account (the admin): the user's password is not asked,
    so the staff member's own recent sign-in is, as for taking a factor
    away; the audit trail and the notice name staff (``by``).
    """
    require_recent_sign_in(signed_in_at=signed_in_at)
    return delete_account(user, actor=by, ip=ip, user_agent=user_agent, via=via)
