"""A new account, and the one address it may have."""

from django.db import transaction
from django.db.models.signals import post_save

from accounts import addresses, tasks
from accounts.conf import Verification, conf
from accounts.errors import EmailTaken
from accounts.flows.credentials import validated_password
from accounts.models import User, normalize_email
from authsvc.errors import FieldErrors
from tokens import audit


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
    order, and of two look-alike registrations at once, one wins
    (``_inserted``).

    With ``ACCOUNT_EMAIL_VERIFICATION=mandatory`` a taken (or look-alike)
    address is not refused: the same work is done as for a new one — the
    password hashed, the same two statements, one audit event, one task
    queued by address (the worker makes a new account's link) — and the owner is
    mailed instead (``notifications.send_sign_up_attempt_email``). Returns
    None then: the caller answers as for a new account, with nothing that
    tells the two apart, its timing included
    (tests/accounts/test_registration_oracle.py).
    """
    email = normalize_email(email)
    refusal = addresses.refusal(email)
    if refusal:
        raise FieldErrors({"email": [refusal]})
    user = User(email=email)
    validated_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        if not _inserted(user):
            if conf.email_verification != Verification.MANDATORY:
                # Which index refused it: the address itself, or its look-alike.
                if user.pk is not None:
                    raise EmailTaken()
                raise FieldErrors({"email": [addresses.LOOKALIKE]})
            audit.record_event(audit.Kind.SIGN_UP_TAKEN, email=email, ip=ip, user_agent=user_agent, actor="user")
            tasks.enqueue(tasks.send_sign_up_attempt, email)
            return None
        audit.record_event(audit.Kind.ACCOUNT_CREATED, user_id=user.pk, email=email, ip=ip, user_agent=user_agent,
                           actor="user")
        if conf.email_verification != Verification.NONE:
            # By address, as for a taken one: the worker makes the link.
            tasks.enqueue(tasks.send_verification, email)
    return user


def _inserted(user: User) -> bool:
    """
    Write the new account unless a unique index refuses it (the address, or
    its skeleton), by the same two statements either way: ``INSERT … ON
    CONFLICT DO NOTHING`` (``INSERT OR IGNORE`` on SQLite), then the row the
    address now has. The row is this one when it carries this call's
    password hash (salted: no other row has it). No exception, no savepoint
    rolled back: a taken address costs what a new one costs.

    ``user.pk`` is set to the row's: this account's, another account's (the
    address is taken), or None (a look-alike refused it).
    """
    user.email_skeleton = addresses.skeleton(user.email)
    User.objects.bulk_create([user], ignore_conflicts=True)
    row = User.objects.filter(email=user.email).values_list("pk", "password").first()
    user.pk = row[0] if row else None
    if row is None or row[1] != user.password:
        return False
    user._state.adding = False
    # What saving a new account tells other apps (``bulk_create`` sends no signal).
    post_save.send(sender=User, instance=user, created=True, update_fields=None, raw=False, using=user._state.db)
    return True
