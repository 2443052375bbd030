"""Checking a password, whether factors can change here, and the one rule for "credentials changed"."""

import uuid
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone

from accounts.conf import TwoFactorMode, conf
from accounts.errors import InvalidCredentials, InvalidPassword, ReauthenticationRequired, TwoFactorUnavailable
from accounts.models import User, normalize_email
from authsvc.errors import FieldErrors
from accounts.flows import notices
from tokens import audit
from tokens.devices import forget_devices
from tokens.services import keep_session_across_credentials_change, revoke_all_sessions


def validated_password(password: str, user: User, field: str = "password") -> str:
    """``password`` if Django's password validators accept it for ``user``, else a 400 on ``field``."""
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise FieldErrors({field: list(exc.messages)}) from exc
    return password


def check_credentials(*, email: str, password: str) -> User:
    """
    The active user with this email and password, or ``InvalidCredentials``.

    Unknown email, wrong password and inactive account are one answer, and an
    unknown email still pays for one password hash, so neither the body nor
    the timing tells an attacker which emails have accounts (OWASP
    Authentication Cheat Sheet, "Authentication Responses").
    """
    user = get_user_model().objects.filter(email=normalize_email(email)).first()
    if user is None:
        get_user_model()().set_password(password)
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials(user_id=user.pk)
    return user


def confirm_password(user: User, password: str) -> None:
    """A signed-in user proves it is them before changing their protection: 400 ``invalid_password`` if not."""
    if not user.check_password(password):
        raise InvalidPassword()


def require_factors_available() -> None:
    """With ``AUTH_2FA=off`` no login asks for a second factor: setting one up would only mislead (403)."""
    if conf.two_factor_mode == TwoFactorMode.OFF:
        raise TwoFactorUnavailable()


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


def credentials_changed(*, user: User, reason: str, keep_session_id: uuid.UUID | None = None, revoked_by: str = "",
                        ip: str | None = None, user_agent: str = "", via: str = audit.Via.API) -> int:
    """
    The one rule for "credentials changed": once a password is set (by the
    user, a reset link or staff) or the account is deactivated, every session
    of the user ends — API and admin alike — except ``keep_session_id``, the
    session a user changed their own password from; every remembered device
    is forgotten; and the user is owed one notice, whoever made the change.
    Call it in the transaction that saved the change. Returns how many
    sessions were revoked.

    The saved change has already moved ``User.auth_epoch`` on, which ends the
    sessions for the token checks whatever the door (a shell included, which
    ``accounts.receivers`` sees for the notice); this revokes them by name,
    for the audit trail, the admin and the user's list, and records the
    change itself (``credentials_changed``, its reason the revocations'),
    whoever made it and through whichever door.
    """
    audit.record_event(audit.Kind.CREDENTIALS_CHANGED, user_id=user.pk, email=user.email, ip=ip,
                       user_agent=user_agent, reason=reason, actor=revoked_by or "user", via=via)
    if keep_session_id is not None:
        keep_session_across_credentials_change(session_id=keep_session_id, user=user)
    revoked = revoke_all_sessions(user_id=user.pk, reason=reason, except_session_id=keep_session_id,
                                  revoked_by=revoked_by, ip=ip, user_agent=user_agent, via=via)
    forget_devices(user_id=user.pk, reason=reason, actor=revoked_by or "user", ip=ip, user_agent=user_agent, via=via)
    notices.credentials_changed(user, reason=reason, by_staff=bool(revoked_by), revoked=revoked)
    return revoked
