"""
Security notices (DESIGN.md, Part 2, "Security notices" and "New sign-in
alert"): the emails that tell a user their account changed, whoever changed
it, and that it was signed in to from somewhere new.

A notice is a row (``accounts.Notice``) written in the transaction of the
change it tells of, and mailed by a worker once that commits
(``notifications.send_notice``), which claims the row before sending: a
task delivered twice, or a change seen twice, is one email.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts import tasks
from accounts.models import Notice, User
from tokens import audit

Kind = Notice.Kind


def notify(user: User, kind: str, *, key: str, context: dict, to: str = "") -> bool:
    """
    Owe ``user`` the notice ``kind`` once for ``key`` (one event: the same key
    again is the same notice), and queue its email after commit. ``context``
    is what the email says: never a secret. ``to``: another address than
    the user's (the old one, after a change). False when it was owed already.
    """
    notice, created = Notice.objects.get_or_create(
        user=user, key=key, defaults={"kind": kind, "context": context, "created_at": timezone.now(), "to": to},
    )
    if created:
        tasks.enqueue(tasks.send_notice, str(notice.pk))
    return created


def credentials_key(user: User) -> str:
    """One credentials change, one notice: the epoch the change moved the user to (``User.auth_epoch``)."""
    return f"credentials:{user.auth_epoch}"


def credentials_changed(user: User, *, reason: str, by_staff: bool, revoked: int) -> bool:
    return notify(user, Kind.CREDENTIALS_CHANGED, key=credentials_key(user),
                  context={"reason": reason, "by_staff": by_staff, "revoked": revoked})


def factor_changed(user: User, *, method: str, change: str, by: str = "user", detail: str = "") -> bool:
    """
    A second factor added, removed or used up (``change``: "added",
    "removed", "replaced", "used"), by the user or by staff (``by``).
    """
    return notify(user, Kind.FACTOR_CHANGED, key=f"factor:{uuid.uuid4()}",
                  context={"method": method, "change": change, "by_staff": by != "user", "detail": detail})


def sign_in_if_new(user: User, *, session_id: uuid.UUID, ip: str | None, user_agent: str, via: str) -> bool:
    """
    The "New sign-in" alert: this login's IP + user agent pair was not seen
    in a login of the user within ``NEW_SIGN_IN_WINDOW_DAYS`` — never for the
    user's first login, which is the sign-up's own. Call it before the login
    is recorded. A login through a remembered device is not asked about:
    the device is the familiar thing.
    """
    since = timezone.now() - timedelta(days=settings.NEW_SIGN_IN_WINDOW_DAYS)
    signed_in_before, seen = audit.sign_ins_seen(user_id=user.pk, ip=ip, user_agent=user_agent, since=since)
    if not signed_in_before or seen:
        return False
    return notify(user, Kind.NEW_SIGN_IN, key=f"sign-in:{session_id}",
                  context={"at": timezone.now().isoformat(), "ip": ip or "", "user_agent": user_agent[:512],
                           "via": via})


def farewell(user: User, *, by_staff: bool) -> None:
    """
    The "account deleted" notice: owed to the address, not the row, which
    is about to go (the notice is deleted once sent).
    """
    notice = Notice.objects.create(user=None, to=user.email, kind=Kind.ACCOUNT_DELETED, key=f"deleted:{user.pk}",
                                   context={"by_staff": by_staff}, created_at=timezone.now())
    tasks.enqueue(tasks.send_notice, str(notice.pk))
