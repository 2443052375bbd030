"""The accounts app's purge (a ``PURGE_FUNCTIONS`` entry, run with the token purge)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import EmailLink, Notice, TwoFactorChallenge, WebAuthnCeremony
from authsvc.purge import purge_queryset

CHALLENGES = "two_factor_challenges"
NOTICES = "notices"
EMAIL_LINKS = "email_links"
CEREMONIES = "webauthn_ceremonies"


def purge_challenges(*, batch_size: int, dry_run: bool = False, now=None, on_progress=None) -> dict[str, int]:
    """Delete 2FA challenges that can no longer be used: expired or consumed."""
    now = now or timezone.now()
    dead = TwoFactorChallenge.objects.filter(Q(expires_at__lt=now) | Q(consumed_at__isnull=False))
    return purge_queryset(dead, kind=CHALLENGES, batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)


def purge_notices(*, batch_size: int, dry_run: bool = False, now=None, on_progress=None) -> dict[str, int]:
    """
    Delete notices older than ``AUTH_EVENT_RETENTION``, sent or not: a notice
    that could not be sent in that long is news to no one. Each is only the
    record that makes its email go out once.
    """
    now = now or timezone.now()
    old = Notice.objects.filter(created_at__lt=now - timedelta(seconds=settings.AUTH_EVENT_RETENTION))
    return purge_queryset(old, kind=NOTICES, batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)


def purge_email_links(*, batch_size: int, dry_run: bool = False, now=None, on_progress=None) -> dict[str, int]:
    """Delete verification and email-change links that can no longer be used: expired or used."""
    now = now or timezone.now()
    dead = EmailLink.objects.filter(Q(expires_at__lt=now) | Q(used_at__isnull=False))
    return purge_queryset(dead, kind=EMAIL_LINKS, batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)


def purge_webauthn_ceremonies(*, batch_size: int, dry_run: bool = False, now=None,
                              on_progress=None) -> dict[str, int]:
    """
    Delete passkey ceremonies that can no longer be answered: expired or
    used. Anyone may open one (``login/passkey/begin``, rate limited per
    network): they must not pile up.
    """
    now = now or timezone.now()
    dead = WebAuthnCeremony.objects.filter(Q(expires_at__lt=now) | Q(used_at__isnull=False))
    return purge_queryset(dead, kind=CEREMONIES, batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)
