"""
A new address for an account (DESIGN.md, Part 2, "Account lifecycle"):
asked for with the password, confirmed from the new mailbox, and then a
credentials change like a new password.
"""

import uuid

from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts import addresses, links, tasks
from accounts.errors import EmailTaken, VerificationKeyInvalid
from accounts.flows import notices
from accounts.flows.credentials import confirm_password, credentials_changed
from accounts.models import Notice, User, normalize_email
from authsvc.errors import FieldErrors
from tokens import audit
from tokens.services import RevokeReason

SAME_ADDRESS = "This is already the address of your account."


def _check_free(email: str, *, user: User) -> None:
    """400 unless ``email`` may become ``user``'s: not another account's, nor a look-alike of one."""
    if email == user.email:
        raise FieldErrors({"email": [SAME_ADDRESS]})
    clashes = set(User.objects.filter(Q(email=email) | Q(email_skeleton=addresses.skeleton(email)))
                  .exclude(pk=user.pk).values_list("email", flat=True))
    if email in clashes:
        raise EmailTaken()
    if clashes:
        raise FieldErrors({"email": [addresses.LOOKALIKE]})


def request_email_change(*, user: User, password: str, new_email: str, session_id: uuid.UUID | None,
                         ip: str | None = None, user_agent: str = "") -> None:
    """
    Mail a confirmation link to ``new_email`` and a notice to the current
    address; nothing changes until the link is used. The address rules
    (``addresses.refusal``) are judged first, then the password (400
    ``invalid_password``), then whether the address is free: only someone
    who knows the password learns that an address has an account.
    """
    new_email = normalize_email(new_email)
    refusal = addresses.refusal(new_email)
    if refusal:
        raise FieldErrors({"email": [refusal]})
    confirm_password(user, password)
    _check_free(new_email, user=user)
    with transaction.atomic():
        link = links.new_link(user, links.Purpose.CHANGE, email=new_email, session_id=session_id)
        tasks.enqueue(tasks.send_email_link, str(link.pk))
        notices.notify(user, Notice.Kind.EMAIL_CHANGE_REQUESTED, key=f"email-change:{link.pk}",
                       context={"new_email": new_email})
        audit.record_event(audit.Kind.EMAIL_CHANGE_REQUESTED, user_id=user.pk, email=user.email, ip=ip,
                           user_agent=user_agent, actor="user")


def confirm_email_change(*, key: str, ip: str | None = None, user_agent: str = "") -> User:
    """
    The new mailbox opened the link: the account takes the address, verified.
    Checked again here (taken, look-alike): of two confirmations racing to
    one address, the unique indexes let one in and the other is 400
    ``email_taken``, its link unspent. Then the one rule for a credentials
    change: every session ends but the one that asked, remembered devices are
    forgotten, the user is noticed at the new address, and the old one
    hears where the account went.
    """
    with transaction.atomic():
        link = links.use(key, links.Purpose.CHANGE)
        if link is None:
            raise VerificationKeyInvalid()
        user = User.objects.select_for_update().filter(pk=link.user_id, is_active=True).first()
        if user is None:
            raise VerificationKeyInvalid()
        old = user.email
        _check_free(link.email, user=user)
        user.change_email(link.email)
        try:
            with transaction.atomic():
                user.save(update_fields=["email", "email_verified", "auth_epoch"])
        except IntegrityError as exc:
            raise EmailTaken() from exc
        links.spend_others(user, links.Purpose.CHANGE)
        links.spend_others(user, links.Purpose.VERIFY)
        audit.record_event(audit.Kind.EMAIL_CHANGED, user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent,
                           reason="link", actor="user")
        credentials_changed(user=user, reason=RevokeReason.EMAIL_CHANGE, keep_session_id=link.session_id, ip=ip,
                            user_agent=user_agent)
        notices.notify(user, Notice.Kind.EMAIL_CHANGED, key=f"email-changed:{link.pk}",
                       context={"new_email": user.email}, to=old)
    return user
