"""
The emails an account receives, composed and sent in the worker (the Celery
adapters in ``accounts.tasks`` call these): the sign-in code, the reset
link, the security notices (``flows.notices``: credentials and factor
changes, new sign-ins) and the warnings of an account under attack.
A code or a reset token is made here, in the worker, so it never travels
through the broker and exists only in the email. An account that is gone by
the time the task runs gets nothing.
"""

import logging
import uuid

from django.contrib.auth.tokens import default_token_generator
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import budgets, codes, emails, links
from accounts.conf import conf
from accounts.models import EmailLink, Notice, TwoFactorChallenge, User, normalize_email
from tokens.models import Session

RevokeReason = Session.RevokeReason

logger = logging.getLogger(__name__)


def send_two_factor_code(*, challenge_id: uuid.UUID | str, send_id: uuid.UUID | str) -> bool:
    """
    Send the code email that login or resend asked for as ``send_id``, once.

    The send is claimed first, by a conditional ``UPDATE`` that stores the
    new code's keyed hash: a task message delivered twice (late
    acknowledgement after a lost worker, Redis's visibility timeout), one
    superseded by a newer resend, or one for a challenge that no longer takes
    codes claims nothing and sends nothing, so it never mails a second code
    that silently replaces the first. If the email cannot be sent, the claim
    is given back for the task's retry. False when there was nothing to send.

    A worker killed between the claim and the end of the SMTP exchange loses
    that one email (its redelivered message finds the send taken) and the
    user asks for another with resend: at most once, because sending twice
    would mail two different codes, the second killing the first.
    """
    challenge_id, send_id = uuid.UUID(str(challenge_id)), uuid.UUID(str(send_id))
    challenge = TwoFactorChallenge.objects.select_related("user").filter(pk=challenge_id).first()
    code = codes.new_code()
    code_hash = codes.hash_code(challenge_id, code)
    if challenge is None or not _claim_code_send(challenge_id, send_id=send_id, code_hash=code_hash):
        logger.info("two-factor code send skipped: already sent, superseded or challenge closed",
                    extra={"challenge_id": str(challenge_id)})
        return False
    try:
        emails.send(
            to=challenge.user.email,
            subject="Your sign-in code",
            template="two_factor_code",
            context={"code": code, "minutes": max(1, conf.code_ttl // 60)},
        )
    except BaseException:
        # Whatever stopped it (an SMTP refusal, a timeout, the worker shutting
        # down), this email was not sent: it is pending again.
        _release_code_send(challenge_id, send_id=send_id, code_hash=code_hash)
        raise
    logger.info("two-factor code sent", extra={"challenge_id": str(challenge_id)})
    return True


def _claim_code_send(challenge_id: uuid.UUID, *, send_id: uuid.UUID, code_hash: str) -> bool:
    """
    Take the pending send ``send_id`` and store the hash of the code about to
    be mailed, in one conditional ``UPDATE`` on the row's own columns: of two
    deliveries of one task message exactly one wins, and the code sent before
    keeps working until a new one is actually sent.
    """
    return bool(
        TwoFactorChallenge.objects.taking_codes(timezone.now()).filter(pk=challenge_id, pending_send=send_id)
        .update(code_hash=code_hash, pending_send=None)
    )


def _release_code_send(challenge_id: uuid.UUID, *, send_id: uuid.UUID, code_hash: str) -> bool:
    """
    Make ``send_id`` pending again after its email failed, so the retry sends
    it; unless something newer happened since the claim: a resend asked for
    another email (a send is pending) or already sent it (the code hash
    changed). Putting the old send back then would mail a second code.
    """
    return bool(
        TwoFactorChallenge.objects.filter(pk=challenge_id, pending_send__isnull=True, code_hash=code_hash)
        .update(pending_send=send_id)
    )


def _active_account(email: str) -> User | None:
    return User.objects.filter(email=normalize_email(email), is_active=True).first()


def send_password_reset_email(*, email: str, task_id: str) -> None:
    """
    Make the reset token and email the link. Django's token generator hashes
    the password and last login into the token, so it dies once used or once
    the password changes, and after ``PASSWORD_RESET_TIMEOUT``. Owed as a
    notice keyed by the task (``task_id``): a redelivered task sends nothing.
    """
    user = _active_account(email)
    if user is None:
        logger.info("password reset requested for an unknown email")
        return
    _send_once_per_task(user, Notice.Kind.PASSWORD_RESET, task_id=task_id)


def _send_once_per_task(user: User, kind: str, *, task_id: str, context: dict | None = None) -> None:
    """
    Send ``kind`` to ``user`` once for the task ``task_id``: owed as a notice
    keyed by the task, so a redelivered message (the same task id) finds it
    sent and sends nothing.
    """
    notice, _ = Notice.objects.get_or_create(
        user=user, key=f"{kind}:{task_id}",
        defaults={"kind": kind, "context": context or {}, "created_at": timezone.now()},
    )
    send_notice(notice_id=notice.pk)


def send_notice(*, notice_id: uuid.UUID | str) -> bool:
    """
    Send a notice owed to a user (``flows.notices``), once: the worker claims
    it by a conditional ``UPDATE`` of ``sent_at`` before sending, so a task
    message delivered twice sends nothing the second time; an email that
    fails gives the claim back for the task's retry. False when there was
    nothing to send (sent already, or the account is gone).
    """
    now = timezone.now()
    if not Notice.objects.filter(pk=notice_id, sent_at__isnull=True).update(sent_at=now):
        logger.info("notice skipped: already sent or gone", extra={"notice_id": str(notice_id)})
        return False
    notice = Notice.objects.select_related("user").get(pk=notice_id)
    try:
        emails.send(to=notice.to or notice.user.email, **_compose(notice))
    except BaseException:
        Notice.objects.filter(pk=notice_id, sent_at=now).update(sent_at=None)
        raise
    if notice.user_id is None:
        # A deleted account's farewell: once sent, nothing of it is kept.
        Notice.objects.filter(pk=notice_id).delete()
    logger.info("notice sent", extra={"notice_id": str(notice_id), "kind": notice.kind})
    return True


def send_email_link(*, link_id: uuid.UUID | str) -> bool:
    """
    Mail a verification or email-change link (``accounts.links``), once: the
    key is made here and only its hash stored, by the claim; a failed send
    gives the claim back. False when there was nothing to send.
    """
    claimed = links.claim(link_id)
    if claimed is None:
        logger.info("email link skipped: sent already, used or gone", extra={"link_id": str(link_id)})
        return False
    link, key = claimed
    template = "verify_email" if link.purpose == EmailLink.Purpose.VERIFY else "email_change"
    subject = "Confirm your email address" if template == "verify_email" else "Confirm your new email address"
    try:
        emails.send(to=link.email, subject=subject, template=template,
                    context={"email": link.email, "link": links.url(link, key),
                             "days": max(1, round(conf.email_link_ttl.total_seconds() / 86400))})
    except BaseException:
        links.release(link)
        raise
    logger.info("email link sent", extra={"link_id": str(link_id), "purpose": link.purpose})
    return True


# What a credentials change was, in the notice's words, by its reason.
_CREDENTIALS_SUBJECTS = {
    RevokeReason.PASSWORD_CHANGE: "Your password was changed",
    RevokeReason.PASSWORD_RESET: "Your password was reset",
    RevokeReason.PASSWORD_SET: "Your password was set",
    RevokeReason.DEACTIVATED: "Your account was deactivated",
    RevokeReason.EMAIL_CHANGE: "Your email address was changed",
}
_LIFECYCLE_SUBJECTS = {
    Notice.Kind.SIGN_UP_ATTEMPT: "Someone tried to sign up with your address",
    Notice.Kind.EMAIL_CHANGE_REQUESTED: "A change of your account's address was requested",
    Notice.Kind.EMAIL_CHANGED: "Your account's address was changed",
    Notice.Kind.ACCOUNT_DELETED: "Your account was deleted",
    Notice.Kind.ACCOUNT_EXPORTED: "Your account's data was downloaded",
}
_FACTOR_CHANGES = {"added": "was added to", "removed": "was removed from", "used": "was used to sign in to"}
_METHOD_NAMES = {"totp": "An authenticator app", "recovery": "A recovery code", "email": "The emailed code",
                 "webauthn": "A passkey", "device": "A remembered device"}


def _compose(notice: Notice) -> dict:
    """Subject, template and context of a notice's email: ``emails.send``'s arguments but the address."""
    user, context = notice.user, {**notice.context, "email": notice.to or notice.user.email}
    if notice.kind in _LIFECYCLE_SUBJECTS:
        return {"subject": _LIFECYCLE_SUBJECTS[notice.kind], "template": notice.kind, "context": context}
    if notice.kind == Notice.Kind.PASSWORD_RESET:
        context["link"] = conf.password_reset_url.format(
            uid=urlsafe_base64_encode(force_bytes(user.pk)), token=default_token_generator.make_token(user)
        )
        return {"subject": "Reset your password", "template": "password_reset", "context": context}
    if notice.kind == Notice.Kind.SIGN_IN_ATTEMPTS:
        attempts, period = conf.rate("login_email")
        return {"subject": "Someone is trying to sign in to your account", "template": "sign_in_attempts",
                "context": {**context, "attempts": attempts, "minutes": max(1, period // 60)}}
    if notice.kind == Notice.Kind.TWO_FACTOR_PAUSED:
        failures, _ = conf.rate(budgets.WRONG_CODES)
        return {"subject": "Too many wrong sign-in codes", "template": "two_factor_paused",
                "context": {**context, "failures": failures}}
    if notice.kind == Notice.Kind.CREDENTIALS_CHANGED:
        subject = _CREDENTIALS_SUBJECTS.get(context.get("reason"), "Your password was changed")
        if context.get("by_staff"):
            subject += " by staff"
        return {"subject": subject, "template": "credentials_changed", "context": {**context, "what": subject}}
    if notice.kind == Notice.Kind.FACTOR_CHANGED:
        return {"subject": "A sign-in method of your account changed", "template": "factor_changed",
                "context": {**context, "what": _factor_change(context)}}
    return {"subject": "New sign-in to your account", "template": "new_sign_in", "context": context}


def _factor_change(context: dict) -> str:
    if context.get("method") == "recovery" and context.get("change") == "added":
        what = "New recovery codes were made for your account; the old ones no longer work"
    elif context.get("method") == "recovery" and context.get("change") == "removed":
        what = "The recovery codes of your account were removed"
    else:
        method = _METHOD_NAMES.get(context.get("method"), "A second factor")
        what = f"{method} {_FACTOR_CHANGES.get(context.get('change'), 'changed on')} your account"
    return what + (" by staff" if context.get("by_staff") else "")


def send_sign_in_attempts_email(*, email: str, task_id: str) -> None:
    """
    The per-email cap on password tries tripped (``accounts.limits``): tell
    the owner, if there is one — once, however often the task is delivered.
    """
    user = _active_account(email)
    if user is None:
        logger.info("sign-in attempts notice for an unknown email: nothing sent")
        return
    _send_once_per_task(user, Notice.Kind.SIGN_IN_ATTEMPTS, task_id=task_id)


def send_two_factor_paused_email(*, user_id: int, retry_after: int, task_id: str) -> None:
    """
    The notice of a paused second factor (``flows.challenges.pause``): what
    happened and what to do, never a code; once, however often the task is
    delivered.
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    _send_once_per_task(user, Notice.Kind.TWO_FACTOR_PAUSED, task_id=task_id,
                        context={"minutes": max(1, -(-retry_after // 60))})


def send_sign_up_attempt_email(*, email: str, task_id: str) -> None:
    """
    Someone tried to register an address that has an account (with
    ``ACCOUNT_EMAIL_VERIFICATION=mandatory`` registration answers alike):
    tell its owner once per task, and mail a fresh verification link while
    theirs is unverified. Looked up here, in the worker, so registration
    took the same path for a new and a taken address.
    """
    user = _active_account(email)
    if user is None:
        logger.info("sign-up attempt for an address with no account (a look-alike): nothing sent")
        return
    # The link goes in an email of its own: its key is made by the send that claims it, and never stored.
    unverified = not user.email_verified
    if unverified:
        _mail_verification(user, task_id=task_id)
    _send_once_per_task(user, Notice.Kind.SIGN_UP_ATTEMPT, task_id=task_id, context={"unverified": unverified})


def send_verification_email(*, email: str, task_id: str) -> None:
    """
    A verification link asked for by address (``email/verify/resend``
    without a session, or a registration): for whichever active, unverified
    account has it, at most once per cooldown and once per task; nothing
    otherwise. Looked up here, so every address takes the same path and
    gets the same answer.
    """
    user = _active_account(email)
    if user is not None:
        _mail_verification(user, task_id=task_id)


def _mail_verification(user: User, *, task_id: str) -> None:
    """The verification link ``task_id`` owes ``user``, if any (``links.owe_verification``), mailed once."""
    link = links.owe_verification(user, task_id=task_id)
    if link is not None:
        send_email_link(link_id=link.pk)
