"""
Remembered devices (DESIGN.md, Part 2, "Remembered devices"): after a
second factor, a login may ask to be remembered; the token it gets back lets
the same user's later password logins skip the second factor on that browser
or app until it expires. The token is random (256 bits), shown once, stored
as a keyed hash, and bound to its user: a token that does not count —
another user's, forgotten, expired, garbage — is simply not a device, never
an error, and the login goes on to the second factor.

The one "credentials changed" rule and logout-all forget them all
(``forget_devices``): whoever took the password or a session may also hold a
device token.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from authsvc.errors import NotFound
from authsvc.purge import purge_queryset
from tokens import audit
from tokens.conf import conf
from tokens.models import AUTH_EPOCH_FIELD, TrustedDevice

TRUSTED_DEVICES = "trusted_devices"
# Longer than any token we issue (43 characters): a longer one is not worth hashing.
MAX_DEVICE_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class RememberedDevice:
    token: str
    expires_at: datetime


def hash_device_token(raw: str) -> str:
    """Keyed hash of a device token: a leaked table cannot be presented without SECRET_KEY."""
    return salted_hmac("authsvc.trusted_device", raw, algorithm="sha256").hexdigest()


def remember_device(*, user, ip: str | None, user_agent: str, via: str = audit.Via.API) -> RememberedDevice:
    """A new remembered device for ``user``, who has just passed a second factor, on their current credentials."""
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    device = TrustedDevice.objects.create(
        user_id=user.pk, token_hash=hash_device_token(raw), created_at=now,
        expires_at=now + conf.trusted_device_ttl, ip=ip, user_agent=user_agent[:512],
        auth_epoch=getattr(user, AUTH_EPOCH_FIELD),
    )
    audit.record_event(audit.Kind.DEVICE_REMEMBERED, user_id=user.pk, ip=ip, user_agent=user_agent,
                       reason=str(device.pk), actor="user", via=via)
    return RememberedDevice(token=raw, expires_at=device.expires_at)


def use_remembered_device(*, user_id: int, raw: str | None) -> bool:
    """
    Whether ``raw`` is a live remembered device of ``user_id``; if so it is
    marked used. One conditional ``UPDATE`` on the hash, the user, the
    expiry and the credentials epoch: a token of another user matches no row.
    """
    if not raw or len(raw) > MAX_DEVICE_TOKEN_LENGTH:
        return False
    now = timezone.now()
    live = _live(TrustedDevice.objects.filter(token_hash=hash_device_token(raw), user_id=user_id), now)
    return bool(live.update(last_used_at=now))


def remembered_devices(*, user_id: int) -> QuerySet[TrustedDevice]:
    """The user's devices that still skip the second factor, newest first."""
    return _live(TrustedDevice.objects.filter(user_id=user_id), timezone.now()).order_by("-created_at")


def _live(devices: QuerySet[TrustedDevice], now: datetime) -> QuerySet[TrustedDevice]:
    """
    Unexpired, and remembered on the user's current credentials: whatever
    door set a password or deactivated the account (a shell included, which
    no flow sees to forget the devices by name), the devices remembered
    before skip nothing — the rule sessions follow (``Session.auth_epoch``).
    """
    return devices.filter(expires_at__gt=now, auth_epoch=F(f"user__{AUTH_EPOCH_FIELD}"))


def forget_devices(*, user_id: int, reason: str, actor: str = "user", ip: str | None = None, user_agent: str = "",
                   via: str = audit.Via.API) -> int:
    """Forget every remembered device of the user (one audit event, if there were any). Returns how many."""
    forgotten, _ = TrustedDevice.objects.filter(user_id=user_id).delete()
    if forgotten:
        audit.record_event(audit.Kind.DEVICE_FORGOTTEN, user_id=user_id, ip=ip, user_agent=user_agent,
                           reason=f"{reason}: {forgotten}", actor=actor, via=via)
    return forgotten


def forget_device(*, user_id: int, device_id: uuid.UUID, actor: str = "user", ip: str | None = None,
                  user_agent: str = "", via: str = audit.Via.API) -> None:
    """Forget one device of the user; another user's (or an unknown one) is 404, as for sessions."""
    forgotten, _ = TrustedDevice.objects.filter(pk=device_id, user_id=user_id).delete()
    if not forgotten:
        raise NotFound("No such device.")
    audit.record_event(audit.Kind.DEVICE_FORGOTTEN, user_id=user_id, ip=ip, user_agent=user_agent,
                       reason=str(device_id), actor=actor, via=via)


def purge_devices(*, batch_size: int, dry_run: bool = False, now: datetime | None = None,
                  on_progress=None) -> dict[str, int]:
    """Delete expired remembered devices (a ``PURGE_FUNCTIONS`` entry)."""
    now = now or timezone.now()
    return purge_queryset(TrustedDevice.objects.filter(expires_at__lt=now), kind=TRUSTED_DEVICES,
                          batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)
