"""
Proving an address (DESIGN.md, Part 2, "Account lifecycle"): the link
mailed at registration and on demand, and what else counts as proof — an
emailed sign-in code, a confirmed email change.
"""

from django.db import transaction

from accounts import links, tasks
from accounts.conf import Verification, conf
from accounts.errors import EmailUnverified, VerificationKeyInvalid
from accounts.models import User, normalize_email
from tokens import audit

Purpose = links.Purpose


def required() -> bool:
    """Whether a login needs a verified address (``ACCOUNT_EMAIL_VERIFICATION=mandatory``)."""
    return conf.email_verification == Verification.MANDATORY


def owe_link(user: User) -> bool:
    """
    Mail the user a verification link — unless the address is verified, or
    one went out within the cooldown (that one still works, and the caller's
    answer is the same: ``links.owe_verification``). False when none was owed.
    """
    link = links.owe_verification(user)
    if link is not None:
        tasks.enqueue(tasks.send_email_link, str(link.pk))
    return link is not None


def resend(*, user: User | None = None, email: str = "") -> None:
    """
    ``email/verify/resend``: for the signed-in ``user``, or by address — then
    looked up in the worker (``notifications.send_verification_email``), so
    every address takes the same path and gets the same answer.
    """
    if user is not None:
        owe_link(user)
    else:
        tasks.enqueue(tasks.send_verification, normalize_email(email))


def refuse_unverified(user: User, *, ip: str | None, user_agent: str, via: str) -> None:
    """
    Under ``mandatory``, a login whose password was right by a user whose
    address is unverified, and that does not go on to the emailed code:
    ``email_unverified``, audited, and a new link mailed (as resend does).
    """
    if not required() or user.email_verified:
        return
    owe_link(user)
    audit.record_event(audit.Kind.LOGIN_FAILED, user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent,
                       reason="email_unverified", actor="user", via=via)
    raise EmailUnverified()


def verify_email(*, key: str, ip: str | None = None, user_agent: str = "") -> None:
    """The link's key proves the address it was mailed to, once; 400 ``verification_key_invalid`` otherwise."""
    with transaction.atomic():
        link = links.use(key, Purpose.VERIFY)
        # A link to an address the account no longer has proves nothing.
        if link is None or link.email != link.user.email:
            raise VerificationKeyInvalid()
        mark_verified(link.user, how="link", ip=ip, user_agent=user_agent)


def mark_verified(user: User, *, how: str, ip: str | None = None, user_agent: str = "",
                  via: str = audit.Via.API) -> bool:
    """
    The owner proved ``user.email`` (``how``: "link", "email_code"): recorded
    once, and every other verification link stops working. False if it was
    proved already, or the address changed meanwhile.
    """
    if not User.objects.filter(pk=user.pk, email=user.email, email_verified=False).update(email_verified=True):
        return False
    user.email_verified = True
    links.spend_others(user, Purpose.VERIFY)
    audit.record_event(audit.Kind.EMAIL_VERIFIED, user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent,
                       reason=how, actor="user", via=via)
    return True
