"""
The token lifecycle, one function per use case. The API, the admin, the
management commands and the Celery tasks all call these; none of them touches
``Session`` or ``RefreshToken`` rows directly.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError

from authsvc.errors import NotFound
from tokens.conf import conf
from tokens.errors import TokenExpired, TokenInvalid, TokenReused, TokenRevoked
from tokens.jwt import AccessJWT, RefreshJWT, SessionToken
from tokens.models import RefreshToken, Session
# The purge use cases, in their own module for their size.
from tokens.purge import purge_all, purge_expired  # noqa: F401

logger = logging.getLogger(__name__)

RevokeReason = Session.RevokeReason


@dataclass(frozen=True)
class IssuedTokens:
    """A fresh access token and the refresh token that goes with it."""

    access: str
    access_expires_at: datetime
    refresh: str
    refresh_expires_at: datetime
    session_id: uuid.UUID


def _now() -> datetime:
    # JWT times are whole seconds; so are the stored ones, which lets a
    # stored (jti, issued_at, expires_at) sign back to the identical token.
    return timezone.now().replace(microsecond=0)


def decode(token_class: type[SessionToken], raw: str) -> SessionToken:
    """Verify a raw JWT of the given kind, mapping every failure to one domain error."""
    try:
        return token_class(raw)
    except ExpiredTokenError as exc:
        raise TokenExpired() from exc
    except TokenError as exc:
        raise TokenInvalid() from exc


def _issue_pair(*, session: Session, refresh_jti: uuid.UUID, refresh_issued_at: datetime,
                refresh_expires_at: datetime, now: datetime) -> IssuedTokens:
    # An access token never outlives the refresh token issued with it, so an
    # idle session (newest refresh token expired) ends for both at once.
    access_expires_at = min(now + conf.access_ttl, refresh_expires_at)
    access = AccessJWT.encode(
        user_id=session.user_id, session_id=session.id, jti=uuid.uuid4(),
        issued_at=now, expires_at=access_expires_at,
    )
    refresh = RefreshJWT.encode(
        user_id=session.user_id, session_id=session.id, jti=refresh_jti,
        issued_at=refresh_issued_at, expires_at=refresh_expires_at,
    )
    return IssuedTokens(
        access=access,
        access_expires_at=access_expires_at,
        refresh=refresh,
        refresh_expires_at=refresh_expires_at,
        session_id=session.id,
    )


def _record_refresh_token(*, session: Session, jti: uuid.UUID, now: datetime) -> RefreshToken:
    # A refresh token never outlives its session's absolute lifetime.
    expires_at = min(now + conf.refresh_ttl, session.expires_at)
    return RefreshToken.objects.create(jti=jti, session=session, issued_at=now, expires_at=expires_at)


def issue_session(*, user, ip: str | None = None, user_agent: str = "") -> IssuedTokens:
    """Start a session for a user who has just proven who they are."""
    started_at = timezone.now()
    now = started_at.replace(microsecond=0)
    with transaction.atomic():
        session = Session.objects.create(
            user=user,
            created_at=started_at,
            last_used_at=started_at,
            expires_at=now + conf.session_max_age,
            ip=ip,
            user_agent=user_agent,
        )
        record = _record_refresh_token(session=session, jti=uuid.uuid4(), now=now)
    logger.info("session started", extra={"session_id": str(session.id), "user_id": user.pk})
    return _issue_pair(
        session=session, refresh_jti=record.jti, refresh_issued_at=record.issued_at,
        refresh_expires_at=record.expires_at, now=now,
    )


def authenticate_access_token(raw: str) -> tuple[object, AccessJWT]:
    """
    The user behind a raw access token, or a domain error.

    The token's session is checked together with loading the user, in one
    query: a revoked session, a deactivated or deleted user, or a session past
    its absolute lifetime ends the access token at once, at the cost stock
    simplejwt already pays to load the user.
    """
    token = decode(AccessJWT, raw)
    session = (
        Session.objects.select_related("user")
        .filter(
            pk=token.session_id,
            user_id=token.user_id,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            user__is_active=True,
        )
        .first()
    )
    if session is None:
        raise TokenInvalid()
    return session.user, token


def rotate_refresh_token(*, raw: str) -> IssuedTokens:
    """
    Exchange a refresh token for a new pair in the same session (RFC 9700
    §4.14.2: refresh token rotation with reuse detection).

    Of many concurrent exchanges of one token, exactly one rotates: the race
    is decided by a conditional ``UPDATE … WHERE used_at IS NULL`` and its row
    count, never by reading first. A token presented again after it was used
    means two parties hold it, one of them a thief, so the whole session is
    revoked — unless it comes back within ``REFRESH_REUSE_GRACE`` while its
    successor is still unused (two tabs refreshing at once): then the same
    successor is handed out again, not a new branch of the family.
    """
    token = decode(RefreshJWT, raw)
    now = _now()
    issued = _rotate(token, now)
    if issued is not None:
        return issued

    # Outside the winning path: explain the refusal, or serve the grace window.
    record = RefreshToken.objects.select_related("session__user").filter(jti=token.jti).first()
    if record is None or record.session_id != token.session_id or record.session.user_id != token.user_id:
        raise TokenInvalid()
    session = record.session
    _check_session_alive(session, now)
    if record.used_at is None:
        # Only reachable when the record itself has expired.
        raise TokenExpired()
    successor = _grace_successor(record, now)
    if successor is not None:
        return _issue_pair(
            session=session, refresh_jti=successor.jti, refresh_issued_at=successor.issued_at,
            refresh_expires_at=successor.expires_at, now=now,
        )
    revoke_session(session_id=session.id, reason=RevokeReason.REUSE)
    logger.warning(
        "refresh token reuse detected; session revoked",
        extra={"session_id": str(session.id), "user_id": session.user_id},
    )
    raise TokenReused()


def _rotate(token: RefreshJWT, now: datetime) -> IssuedTokens | None:
    """The winning path: mark the token used and issue its successor, or None if it is not ours to rotate."""
    successor_jti = uuid.uuid4()
    with transaction.atomic():
        won = RefreshToken.objects.filter(
            jti=token.jti, session_id=token.session_id, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now, replaced_by=successor_jti)
        if not won:
            return None
        session = Session.objects.select_related("user").filter(pk=token.session_id).first()
        if session is None or session.user_id != token.user_id:
            raise TokenInvalid()
        # Raising here rolls the UPDATE back: a refused refresh changes nothing.
        _check_session_alive(session, now)
        record = _record_refresh_token(session=session, jti=successor_jti, now=now)
        Session.objects.filter(pk=session.pk).update(last_used_at=now)
    return _issue_pair(
        session=session, refresh_jti=record.jti, refresh_issued_at=record.issued_at,
        refresh_expires_at=record.expires_at, now=now,
    )


def _check_session_alive(session: Session, now: datetime) -> None:
    if session.revoked_at is not None:
        raise TokenRevoked()
    if not session.user.is_active:
        raise TokenInvalid()
    if session.expires_at <= now:
        raise TokenExpired()


def _grace_successor(record: RefreshToken, now: datetime) -> RefreshToken | None:
    grace = conf.reuse_grace
    if not grace or record.replaced_by is None or now - record.used_at > grace:
        return None
    # R1→R2→R3 then R1 is reuse: the window only covers an untouched successor.
    return RefreshToken.objects.filter(jti=record.replaced_by, used_at__isnull=True, expires_at__gt=now).first()


def revoke_session(*, session_id: uuid.UUID, reason: str, user_id: int | None = None,
                   revoked_by: str = "") -> bool:
    """Revoke one session (and so all its tokens). False if it was not active or not the user's."""
    sessions = Session.objects.filter(pk=session_id, revoked_at__isnull=True)
    if user_id is not None:
        sessions = sessions.filter(user_id=user_id)
    revoked = sessions.update(revoked_at=timezone.now(), revoke_reason=reason, revoked_by=revoked_by) == 1
    if revoked:
        logger.info("session revoked", extra={"session_id": str(session_id), "reason": reason})
    return revoked


def revoke_own_session(*, user_id: int, session_id: uuid.UUID) -> None:
    """A user ends one of their own sessions; someone else's is indistinguishable from none."""
    if not revoke_session(session_id=session_id, user_id=user_id, reason=RevokeReason.USER):
        raise NotFound("No such session.")


def revoke_all_sessions(*, user_id: int, reason: str, except_session_id: uuid.UUID | None = None,
                        revoked_by: str = "") -> int:
    """Revoke every active session of a user, optionally sparing one (the caller's own)."""
    sessions = Session.objects.filter(user_id=user_id, revoked_at__isnull=True)
    if except_session_id is not None:
        sessions = sessions.exclude(pk=except_session_id)
    count = sessions.update(revoked_at=timezone.now(), revoke_reason=reason, revoked_by=revoked_by)
    logger.info("sessions revoked", extra={"user_id": user_id, "count": count, "reason": reason})
    return count


def end_session(*, tokens: list[str]) -> bool:
    """
    Logout: revoke the session each token (access or refresh) belongs to.
    Idempotent: an expired, invalid or already revoked token is not an error.
    """
    ended = False
    for raw in tokens:
        token = _decode_any(raw)
        if token is not None:
            ended |= revoke_session(session_id=token.session_id, user_id=token.user_id, reason=RevokeReason.LOGOUT)
    return ended


def _decode_any(raw: str) -> SessionToken | None:
    for token_class in (AccessJWT, RefreshJWT):
        try:
            return token_class(raw)
        except TokenError:
            continue
    return None


def active_sessions(*, user_id: int) -> QuerySet[Session]:
    """
    The user's live sessions, newest first: not revoked, within their absolute
    lifetime, and holding an unused refresh token that has not expired (a
    session whose newest refresh token expired has timed out).
    """
    return Session.objects.filter(user_id=user_id).active(timezone.now()).order_by("-created_at")
