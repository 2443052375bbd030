"""A user's password: changed while signed in, or reset through an emailed link."""

import uuid

from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from accounts import tasks
from accounts.errors import ResetTokenInvalid
from accounts.flows.credentials import confirm_password, credentials_changed, validated_password
from accounts.models import User, normalize_email
from tokens.services import RevokeReason


def change_password(*, user: User, old_password: str, new_password: str, current_session_id: uuid.UUID,
                    ip: str | None = None, user_agent: str = "") -> int:
    """
    Set a new password, keeping the session it was changed from and revoking
    every other one (whoever else holds them may be the reason for the
    change), and forgetting every remembered device. Returns how many
    sessions were revoked. The notice is the one rule's
    (``credentials_changed``).

    The new password is judged before the old one is checked: refusing a
    weak new password only after a right old one would tell whoever holds a
    stolen access token that their guess was right.
    """
    validated_password(new_password, user, field="new_password")
    confirm_password(user, old_password)
    user.set_password(new_password)
    with transaction.atomic():
        user.save(update_fields=["password"])
        return credentials_changed(user=user, reason=RevokeReason.PASSWORD_CHANGE,
                                   keep_session_id=current_session_id, ip=ip, user_agent=user_agent)


def request_password_reset(*, email: str) -> None:
    """
    Queue a reset email for whichever active account has this email, if any;
    say nothing either way. The account is looked up in the worker
    (``notifications.send_password_reset_email``), so a known and an unknown
    email take the same path here, through the broker: neither the answer,
    nor its timing, nor a 503 while the broker is down tells which emails
    have accounts.
    """
    tasks.enqueue(tasks.send_password_reset, normalize_email(email))


def confirm_password_reset(*, uid: str, token: str, new_password: str, ip: str | None = None,
                           user_agent: str = "") -> int:
    """Set the password from a reset link and revoke every session. Returns how many were revoked."""
    try:
        user_id = int(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError) as exc:
        raise ResetTokenInvalid() from exc
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        raise ResetTokenInvalid()
    user.set_password(validated_password(new_password, user, field="new_password"))
    with transaction.atomic():
        user.save(update_fields=["password"])
        return credentials_changed(user=user, reason=RevokeReason.PASSWORD_RESET, ip=ip, user_agent=user_agent)


def warn_of_sign_in_attempts(*, email: str) -> None:
    """
    The per-email cap on password tries tripped (``accounts.limits``): queue
    the "Someone is trying to sign in" notice for whichever active account
    has this email, if any. As for a reset, the account is looked up in the
    worker, so a known and an unknown email take the same path and get the
    same answer.
    """
    tasks.enqueue(tasks.send_sign_in_attempts_notice, normalize_email(email))
