"""A new account, and the one address it may have."""

import logging

from django.db import IntegrityError, transaction

from accounts import addresses, tasks
from accounts.conf import Verification, conf
from accounts.errors import EmailTaken
from accounts.flows import verification
from accounts.flows.credentials import validated_password
from accounts.models import User, normalize_email
from authsvc.errors import FieldErrors
from tokens import audit

logger = logging.getLogger(__name__)


def register_user(*, email: str, password: str, ip: str | None = None, user_agent: str = "") -> User | None:
    """
    Create an account. Django's password validators apply; an email is taken
    whatever its spelling (``normalize_email``: case, Unicode forms, the
    quoted local part); an address that only looks like an existing
    account's (``addresses.skeleton``: ``аррӏе.com``, all Cyrillic, for
    ``apple.com``), mixes alphabets in one label, or names a host rather than
    a domain (``addresses.refusal``) is refused, so staff, the user's
    contacts and the emails we send cannot be fooled by a twin.

    The unique indexes decide, on the address and on its skeleton: in either
    order, and of two look-alike registrations at once, one wins.

    With ``ACCOUNT_EMAIL_VERIFICATION=mandatory`` a taken (or look-alike)
    address is not refused: the same work is done as for a new one — the
    password hashed, one row written, one task queued — and the owner is
    mailed instead (``notifications.send_sign_up_attempt_email``). Returns
    None then: the caller answers as for a new account, with nothing
    that tells the two apart.
    """
    email = normalize_email(email)
    refusal = addresses.refusal(email)
    if refusal:
        raise FieldErrors({"email": [refusal]})
    user = User(email=email)
    validated_password(password, user)
    user.set_password(password)
    blind = conf.email_verification == Verification.MANDATORY
    try:
        with transaction.atomic():
            user.save()
            audit.record_event(audit.Kind.ACCOUNT_CREATED, user_id=user.pk, email=email, ip=ip,
                               user_agent=user_agent, actor="user")
            if conf.email_verification != Verification.NONE:
                verification.mail_link(user)
    except IntegrityError as exc:
        if not blind:
            # Which index refused it: the address itself, or its look-alike.
            if User.objects.filter(email=email).exists():
                raise EmailTaken() from exc
            raise FieldErrors({"email": [addresses.LOOKALIKE]}) from exc
        audit.record_event(audit.Kind.SIGN_UP_TAKEN, email=email, ip=ip, user_agent=user_agent, actor="user")
        tasks.enqueue(tasks.send_sign_up_attempt, email)
        return None
    logger.info("user registered", extra={"user_id": user.pk})
    return user
