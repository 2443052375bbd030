"""A new account."""

import logging

from django.db import IntegrityError, transaction

from accounts import addresses
from accounts.errors import EmailTaken
from accounts.flows.credentials import validated_password
from accounts.models import User, normalize_email
from authsvc.errors import FieldErrors

logger = logging.getLogger(__name__)


def register_user(*, email: str, password: str) -> User:
    """
    Create an account. Django's password validators apply; an email is taken
    whatever its spelling (``normalize_email``); an address that only looks
    like an existing account's (``addresses.skeleton``: ``аррӏе.com``, all
    Cyrillic, for ``apple.com``) or mixes alphabets in one label
    (``addresses.refusal``) is refused, so staff, the user's contacts and
    the emails we send cannot be fooled by a twin.
    """
    email = normalize_email(email)
    refusal = addresses.refusal(email)
    if refusal:
        raise FieldErrors({"email": [refusal]})
    user = User(email=email)
    validated_password(password, user)
    # One lookup for both: the address itself, and the account it may imitate.
    # Only this direction is checked (a Latin address registered after its
    # whole-script twin is let through); the unique index decides races for
    # the address itself, not for look-alikes.
    clashes = set(User.objects.filter(email__in={email, addresses.skeleton(email)}).values_list("email", flat=True))
    if email in clashes:
        raise EmailTaken()
    if clashes:
        raise FieldErrors({"email": [addresses.LOOKALIKE]})
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        # Two registrations of one email at once: the unique index decides.
        raise EmailTaken() from exc
    logger.info("user registered", extra={"user_id": user.pk})
    return user
