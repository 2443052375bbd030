"""
Recording the audit trail (``AuthEvent``), also sent to Python logging as
``authsvc.audit``. Callers pass identifiers and request metadata only; there
is no parameter that could carry a secret.
"""

import logging
import uuid
from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from authsvc.purge import purge_queryset
from tokens.conf import conf
from tokens.models import AuthEvent

logger = logging.getLogger("authsvc.audit")

Kind = AuthEvent.Kind
Via = AuthEvent.Via
AUTH_EVENTS = "auth_events"


def record_event(kind: str, *, user_id: int | None = None, email: str = "", session_id: uuid.UUID | None = None,
                 ip: str | None = None, user_agent: str = "", reason: str = "", actor: str = "",
                 via: str = Via.API) -> AuthEvent:
    event = AuthEvent.objects.create(
        kind=kind, created_at=timezone.now(), user_id=user_id, email=email[:254], session_id=session_id,
        ip=ip, user_agent=user_agent[:512], reason=reason[:64], actor=actor[:254], via=via,
    )
    _log(event)
    return event


def record_revocations(*, user_id: int, session_ids: list[uuid.UUID], reason: str, actor: str,
                       ip: str | None = None, user_agent: str = "", via: str = Via.API) -> None:
    """One ``session_revoked`` event per session, written in one statement."""
    now = timezone.now()
    events = AuthEvent.objects.bulk_create([
        AuthEvent(kind=Kind.SESSION_REVOKED, created_at=now, user_id=user_id, session_id=session_id, ip=ip,
                  user_agent=user_agent[:512], reason=reason[:64], actor=actor[:254], via=via)
        for session_id in session_ids
    ])
    for event in events:
        _log(event)


def _log(event: AuthEvent) -> None:
    """
    One log line per event. The fields also travel as ``extra``, so a JSON
    line (``LOG_FORMAT=json``) carries them as fields to filter on; the
    message repeats them for the plain format. Email and user agent stay in
    the database only.
    """
    level = logging.WARNING if event.kind in (Kind.REFRESH_REUSE, Kind.TWO_FACTOR_LOCKED) else logging.INFO
    fields = {
        "event": event.kind, "user_id": event.user_id,
        "session_id": str(event.session_id) if event.session_id else None,
        "ip": event.ip, "reason": event.reason, "actor": event.actor, "via": event.via,
    }
    logger.log(level, "%s user=%s session=%s ip=%s reason=%s actor=%s via=%s", event.kind, event.user_id,
               event.session_id, event.ip, event.reason, event.actor, event.via, extra=fields)


def purge_events(*, batch_size: int, dry_run: bool = False, now: datetime | None = None,
                 on_progress=None) -> dict[str, int]:
    """Delete events older than ``AUTH_EVENT_RETENTION`` (a ``PURGE_FUNCTIONS`` entry)."""
    now = now or timezone.now()
    cutoff = now - conf.auth_event_retention
    return purge_queryset(AuthEvent.objects.filter(created_at__lt=cutoff), kind=AUTH_EVENTS,
                          batch_size=batch_size, dry_run=dry_run, on_progress=on_progress)


def sign_ins_seen(*, user_id: int, ip: str | None, user_agent: str, since: datetime) -> tuple[bool, bool]:
    """
    ``(signed in before, seen)``: whether the trail holds any login of the
    user, and whether one came from this IP and user agent since ``since``.
    One query on the (user, created_at) index.
    """
    logins = AuthEvent.objects.filter(user_id=user_id, kind=Kind.LOGIN_SUCCEEDED)
    counts = logins.aggregate(
        any=Count("pk"),
        seen=Count("pk", filter=Q(ip=ip, user_agent=user_agent[:512], created_at__gte=since)),
    )
    return counts["any"] > 0, counts["seen"] > 0
