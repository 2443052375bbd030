"""The accounts app's purge (a ``PURGE_FUNCTIONS`` entry, run with the token purge)."""

from django.db.models import Q
from django.utils import timezone

from accounts.models import TwoFactorChallenge
from authsvc.purge import purge_queryset

CHALLENGES = "two_factor_challenges"


def purge_challenges(*, batch_size: int, dry_run: bool = False, now=None, on_progress=None) -> dict[str, int]:
    """Delete 2FA challenges that can no longer be used: expired or consumed."""
    now = now or timezone.now()
    dead = TwoFactorChallenge.objects.filter(Q(expires_at__lt=now) | Q(consumed_at__isnull=False))
    return purge_queryset(dead, kind=CHALLENGES, batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)
