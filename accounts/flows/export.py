"""
Everything authsvc holds about a user, for the user (GDPR art. 15 and 20):
``GET account/export``. Each part names its fields: a secret, a hash, a
code or a token can never slip in with a new column.
"""

from django.utils import timezone

from accounts import methods
from accounts.flows import notices
from accounts.models import EmailLink, Notice, RecoveryCode, TotpDevice, User, WebAuthnCredential
from tokens import audit
from tokens.models import AuthEvent, Session, TrustedDevice

USER_FIELDS = ("id", "email", "email_verified", "date_joined", "last_login", "is_active", "is_staff",
               "two_factor_enabled")
SESSION_FIELDS = ("id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "revoked_at", "revoke_reason")
DEVICE_FIELDS = ("id", "created_at", "last_used_at", "expires_at", "ip", "user_agent")
EVENT_FIELDS = ("kind", "created_at", "ip", "user_agent", "reason", "via", "session_id")
NOTICE_FIELDS = ("kind", "created_at", "sent_at", "context")
LINK_FIELDS = ("purpose", "email", "created_at", "expires_at", "sent_at", "used_at")


def export_account(user: User, *, ip: str | None = None, user_agent: str = "") -> dict:
    """
    The user's data, as JSON-ready values. The export itself is audited and
    noticed after it is read, so it is not part of it.
    """
    data = {
        "exported_at": timezone.now(),
        "user": {field: getattr(user, field) for field in USER_FIELDS},
        "sessions": list(Session.objects.filter(user_id=user.pk).order_by("-created_at").values(*SESSION_FIELDS)),
        "devices": list(TrustedDevice.objects.filter(user_id=user.pk).order_by("-created_at")
                        .values(*DEVICE_FIELDS)),
        "factors": _factors(user),
        "events": list(AuthEvent.objects.filter(user_id=user.pk).order_by("-created_at").values(*EVENT_FIELDS)),
        "notices": list(Notice.objects.filter(user=user).order_by("-created_at").values(*NOTICE_FIELDS)),
        "email_links": list(EmailLink.objects.filter(user=user).order_by("-created_at").values(*LINK_FIELDS)),
    }
    event = audit.record_event(audit.Kind.ACCOUNT_EXPORTED, user_id=user.pk, email=user.email, ip=ip,
                               user_agent=user_agent, actor="user")
    # Whoever holds a session can read all of this: the owner hears of it, as of a new sign-in.
    notices.notify(user, Notice.Kind.ACCOUNT_EXPORTED, key=f"export:{event.pk}",
                   context={"at": event.created_at.isoformat(), "ip": ip or "", "user_agent": user_agent[:512]})
    return data


def _factors(user: User) -> list[dict]:
    """Each second factor by name and dates: never its secret, hash, code, key or counter."""
    factors = [{"method": methods.EMAIL, "enabled": user.two_factor_enabled and not methods.has_app_factor(user)}]
    device = TotpDevice.objects.filter(user=user).values("created_at", "confirmed_at", "last_used_at").first()
    if device is not None:
        factors.append({"method": methods.TOTP, **device})
    for key in WebAuthnCredential.objects.filter(user=user).order_by("created_at").values(
            "id", "name", "created_at", "last_used_at", "backed_up", "aaguid"):
        factors.append({"method": methods.WEBAUTHN, **key})
    recovery = list(RecoveryCode.objects.filter(user=user).order_by("created_at", "pk").values("created_at", "used_at"))
    if recovery:
        factors.append({"method": methods.RECOVERY, "codes": recovery})
    return factors
