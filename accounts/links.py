"""
The links mailed to prove an address (``EmailLink``): made, sent once,
used once. The key exists only in the email: the worker makes it and
stores its keyed hash in the same conditional UPDATE that claims the send,
so a task delivered twice mails one link, and the database never holds a
key that works.
"""

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.conf import conf
from accounts.models import EmailLink, User
from authsvc import secretbox

Purpose = EmailLink.Purpose
#: Longer than any key we make; a longer one is refused unhashed.
KEY_MAX_LENGTH = 128


def _hashes(key: str) -> list[str]:
    return secretbox.macs("email-link", key)


def new_link(user: User, purpose: str, *, email: str, session_id=None, task_id: str | None = None,
             now: datetime | None = None) -> EmailLink:
    """A link owed to ``email`` for ``user``: not sent yet, no key yet (``claim``)."""
    now = now or timezone.now()
    return EmailLink.objects.create(user=user, purpose=purpose, email=email, session_id=session_id, task_id=task_id,
                                    created_at=now, expires_at=now + conf.email_link_ttl)


def sent_recently(user: User, purpose: str, *, now: datetime | None = None) -> bool:
    """Whether a link of ``purpose`` went out (or is on its way) to ``user`` within the cooldown."""
    now = now or timezone.now()
    return EmailLink.objects.filter(user=user, purpose=purpose, created_at__gt=now - conf.email_link_cooldown).exists()


def owe_verification(user: User, *, task_id: str | None = None) -> EmailLink | None:
    """
    A verification link owed to the user's address — None when it is
    verified, or a link was made within the cooldown (that one still
    works). Decided under a lock on the user's row, so of parallel callers
    (a resend, a login, the worker) one makes it. ``task_id``: the worker's
    task asking; delivered again, it gets the link it made the first time
    (whose send the first delivery claimed, unless it failed before).
    """
    with transaction.atomic():
        if not User.objects.select_for_update().filter(pk=user.pk, email_verified=False).exists():
            return None
        made = EmailLink.objects.filter(task_id=task_id).first() if task_id else None
        if made is not None:
            return made
        if sent_recently(user, Purpose.VERIFY):
            return None
        return new_link(user, Purpose.VERIFY, email=user.email, task_id=task_id)


def claim(link_id) -> tuple[EmailLink, str] | None:
    """
    Take the send of an owed link, once: a new key, whose hash is stored by a
    conditional UPDATE on a link not sent yet. None when it was sent already,
    used, expired or gone.
    """
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    claimed = EmailLink.objects.filter(pk=link_id, sent_at__isnull=True, used_at__isnull=True,
                                       expires_at__gt=now).update(sent_at=now, key_hash=_hashes(key)[0])
    if not claimed:
        return None
    return EmailLink.objects.select_related("user").get(pk=link_id), key


def release(link: EmailLink) -> None:
    """Give back a claimed send whose email failed: the task's retry sends it with a new key."""
    EmailLink.objects.filter(pk=link.pk, sent_at=link.sent_at, used_at__isnull=True).update(sent_at=None,
                                                                                          key_hash=None)


def url(link: EmailLink, key: str) -> str:
    template = conf.verify_email_url if link.purpose == Purpose.VERIFY else conf.email_change_url
    return template.format(key=key)


def use(key: str, purpose: str, *, now: datetime | None = None) -> EmailLink | None:
    """
    Spend the link ``key`` opens, once: a conditional UPDATE, so of two
    requests with one key only one gets the link. None for a used, expired,
    garbage or unknown key. Call it in the transaction of what the link
    does: a refusal after it rolls the use back.
    """
    if not isinstance(key, str) or not key or len(key) > KEY_MAX_LENGTH:
        return None
    now = now or timezone.now()
    live = EmailLink.objects.filter(key_hash__in=_hashes(key), purpose=purpose, used_at__isnull=True,
                                    expires_at__gt=now)
    link = live.select_related("user").first()
    if link is None or not live.filter(pk=link.pk).update(used_at=now):
        return None
    link.used_at = now
    return link


def spend_others(user: User, purpose: str, *, now: datetime | None = None) -> int:
    """Every other open link of ``purpose`` of the user stops working (its address is proved, or changed)."""
    now = now or timezone.now()
    return EmailLink.objects.filter(user=user, purpose=purpose, used_at__isnull=True).update(
        used_at=now)
