"""
The token lifecycle, one function per use case. The API, the admin, the
management commands and the Celery tasks all call these; none of them touches
``Session`` or ``RefreshToken`` rows directly.
"""

import logging
import uuid
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from authsvc.errors import NotFound
from authsvc.metrics import REFRESHES, REVOCATIONS
from tokens import audit, feed, store
from tokens.conf import conf
from tokens.devices import forget_devices
from tokens.errors import TokenExpired, TokenInvalid, TokenReused, TokenRevoked
from tokens.jwt import AccessJWT, IssuedTokens, RefreshJWT, decode_access, decode_any, decode_refresh, issue_pair
from tokens.models import AUTH_EPOCH_FIELD, RefreshToken, Session

logger = logging.getLogger(__name__)

RevokeReason = Session.RevokeReason


def _now() -> datetime:
    # JWT times are whole seconds; so are the stored ones, which lets a
    # stored (jti, issued_at, expires_at) sign back to the identical token.
    return timezone.now().replace(microsecond=0)


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
            auth_epoch=getattr(user, AUTH_EPOCH_FIELD),
        )
        record = _record_refresh_token(session=session, jti=uuid.uuid4(), now=now)
    logger.info("session started", extra={"session_id": str(session.id), "user_id": user.pk})
    return issue_pair(
        user_id=session.user_id, session_id=session.id, refresh_jti=record.jti,
        refresh_issued_at=record.issued_at, refresh_expires_at=record.expires_at, now=now,
    )


def authenticate_access_token(raw: str) -> tuple[object, AccessJWT]:
    """
    The user behind a raw access token, or a domain error.

    The token's session is checked together with loading the user, in one
    query: a revoked session, a deactivated or deleted user, or a session past
    its absolute lifetime ends the access token at once, at the cost stock
    simplejwt already pays to load the user.
    """
    token = decode_access(raw)
    user = store.user_of_live_session(session_id=token.session_id, user_id=token.user_id, now=timezone.now())
    if user is None:
        raise TokenInvalid()
    return user, token


# The refusals of a refresh, each with its outcome label in REFRESHES.
_REFRESH_REFUSALS = ((TokenInvalid, "invalid"), (TokenExpired, "expired"), (TokenRevoked, "revoked"),
                     (TokenReused, "reused"))


def rotate_refresh_token(*, raw: str, ip: str | None = None, user_agent: str = "") -> IssuedTokens:
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

    Every exchange is counted once in ``REFRESHES``, by outcome.
    """
    try:
        issued, outcome = _exchange(raw=raw, ip=ip, user_agent=user_agent)
    except (TokenInvalid, TokenExpired, TokenRevoked, TokenReused) as refused:
        REFRESHES.labels(outcome=next(label for kind, label in _REFRESH_REFUSALS if isinstance(refused, kind))).inc()
        raise
    REFRESHES.labels(outcome=outcome).inc()
    return issued


def _exchange(*, raw: str, ip: str | None, user_agent: str) -> tuple[IssuedTokens, str]:
    """The rotation itself: the new pair and whether it was ``rotated`` or a ``grace`` repeat, or a refusal."""
    token = decode_refresh(raw)
    now = _now()
    issued = _rotate(token, now)
    if issued is not None:
        return issued, "rotated"

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
        return issue_pair(
            user_id=session.user_id, session_id=session.id, refresh_jti=successor.jti,
            refresh_issued_at=successor.issued_at, refresh_expires_at=successor.expires_at, now=now,
        ), "grace"
    audit.record_event(audit.Kind.REFRESH_REUSE, user_id=session.user_id, email=session.user.email,
                       session_id=session.id, ip=ip, user_agent=user_agent, actor="system")
    revoke_session(session_id=session.id, reason=RevokeReason.REUSE, ip=ip, user_agent=user_agent)
    raise TokenReused()


def _rotate(token: RefreshJWT, now: datetime) -> IssuedTokens | None:
    """
    The winning path: mark the token used and issue its successor, or None if
    it is not ours to rotate (used, expired, another session's, or its session
    or user no longer live: the caller then says which).
    """
    successor_jti = uuid.uuid4()
    expires_at = store.exchange_refresh_token(
        jti=token.jti, session_id=token.session_id, user_id=token.user_id, successor_jti=successor_jti, now=now,
        refresh_ttl=conf.refresh_ttl,
    )
    if expires_at is None:
        return None
    return issue_pair(
        user_id=token.user_id, session_id=token.session_id, refresh_jti=successor_jti,
        refresh_issued_at=now, refresh_expires_at=expires_at, now=now,
    )


def _check_session_alive(session: Session, now: datetime) -> None:
    if session.revoked_at is not None:
        raise TokenRevoked()
    if not session.user.is_active:
        raise TokenInvalid()
    if session.auth_epoch != getattr(session.user, AUTH_EPOCH_FIELD):
        # Ended by a new password or a deactivation, whichever door it came through.
        raise TokenRevoked()
    if session.expires_at <= now:
        raise TokenExpired()


def _grace_successor(record: RefreshToken, now: datetime) -> RefreshToken | None:
    grace = conf.reuse_grace
    if not grace or record.replaced_by is None or now - record.used_at > grace:
        return None
    # R1→R2→R3 then R1 is reuse: the window only covers an untouched successor.
    return RefreshToken.objects.filter(jti=record.replaced_by, used_at__isnull=True, expires_at__gt=now).first()


def _revoke(sessions: QuerySet[Session], *, reason: str, revoked_by: str, ip: str | None,
            user_agent: str, via: str = audit.Via.API) -> int:
    """
    Revoke the still-active sessions among ``sessions`` and write one audit
    event for each. The rows are locked first, so the events name exactly the
    sessions this call revoked, not ones a concurrent revocation got to.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(sessions.filter(revoked_at__isnull=True).select_for_update().values_list("pk", "user_id"))
        if not rows:
            return 0
        Session.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            revoked_at=now, revoke_reason=reason, revoked_by=revoked_by
        )
        # The revocation feed hears of every early end here, in the same transaction.
        feed.record_ends(session_ids=[pk for pk, _ in rows], revoked_at=now)
        actor = revoked_by or ("system" if reason == RevokeReason.REUSE else "user")
        for user_id in {user_id for _, user_id in rows}:
            audit.record_revocations(
                user_id=user_id, session_ids=[pk for pk, owner in rows if owner == user_id], reason=reason,
                actor=actor, ip=ip, user_agent=user_agent, via=via,
            )
    # Counted once the revocation is committed (or, inside a caller's
    # transaction, once it is written): a rolled-back one revoked nothing.
    REVOCATIONS.labels(reason=reason).inc(len(rows))
    return len(rows)


def revoke_session(*, session_id: uuid.UUID, reason: str, user_id: int | None = None, revoked_by: str = "",
                   ip: str | None = None, user_agent: str = "", via: str = audit.Via.API) -> bool:
    """Revoke one session (and so all its tokens). False if it was not active or not the user's."""
    sessions = Session.objects.filter(pk=session_id)
    if user_id is not None:
        sessions = sessions.filter(user_id=user_id)
    return _revoke(sessions, reason=reason, revoked_by=revoked_by, ip=ip, user_agent=user_agent, via=via) == 1


def keep_session_across_credentials_change(*, session_id: uuid.UUID, user) -> bool:
    """
    Carry one session over to the user's new credentials epoch: the session
    a password was changed from stays signed in while every other one ends.
    Call it in the transaction that saves the new password. False if that
    session is not the user's or no longer live.
    """
    return bool(
        Session.objects.filter(pk=session_id, user_id=user.pk, revoked_at__isnull=True)
        .update(auth_epoch=getattr(user, AUTH_EPOCH_FIELD))
    )


def revoke_stale_sessions(*, user, reason: str) -> int:
    """
    Revoke by name the user's sessions that their credentials epoch has
    already ended (a password set or a deactivation saved by code no flow
    saw: a shell, ``changepassword``), so the audit trail, the lists and the
    revocation feed know of them. Idempotent with the flows, which revoked
    theirs already; the session a password was changed from is on the new
    epoch and stays.
    """
    stale = Session.objects.filter(user_id=user.pk).exclude(auth_epoch=getattr(user, AUTH_EPOCH_FIELD))
    return _revoke(stale, reason=reason, revoked_by="system", ip=None, user_agent="", via=audit.Via.COMMAND)


def revoke_own_session(*, user_id: int, session_id: uuid.UUID, ip: str | None = None, user_agent: str = "") -> None:
    """A user ends one of their own sessions; someone else's is indistinguishable from none."""
    if not revoke_session(session_id=session_id, user_id=user_id, reason=RevokeReason.USER, ip=ip,
                          user_agent=user_agent):
        raise NotFound("No such session.")


def revoke_all_sessions(*, user_id: int, reason: str, except_session_id: uuid.UUID | None = None,
                        revoked_by: str = "", ip: str | None = None, user_agent: str = "",
                        via: str = audit.Via.API) -> int:
    """Revoke every active session of a user, optionally sparing one (the caller's own). Returns how many."""
    sessions = Session.objects.filter(user_id=user_id)
    if except_session_id is not None:
        sessions = sessions.exclude(pk=except_session_id)
    return _revoke(sessions, reason=reason, revoked_by=revoked_by, ip=ip, user_agent=user_agent, via=via)


def sign_out_everywhere(*, user_id: int, ip: str | None = None, user_agent: str = "") -> int:
    """
    Logout-all: every session of the user ends and every remembered device
    is forgotten — a user who signs out everywhere because a device was lost
    must not leave it able to skip the second factor. Returns how many
    sessions were revoked.
    """
    with transaction.atomic():
        revoked = revoke_all_sessions(user_id=user_id, reason=RevokeReason.LOGOUT_ALL, ip=ip, user_agent=user_agent)
        forget_devices(user_id=user_id, reason=RevokeReason.LOGOUT_ALL, ip=ip, user_agent=user_agent)
    return revoked


def end_session(*, tokens: list[str], ip: str | None = None, user_agent: str = "") -> bool:
    """
    Logout: revoke the session each token (access or refresh) belongs to.
    Idempotent: an expired, invalid or already revoked token is not an error.
    """
    ended = False
    for raw in tokens:
        token = decode_any(raw)
        if token is not None:
            ended |= revoke_session(session_id=token.session_id, user_id=token.user_id, reason=RevokeReason.LOGOUT,
                                    ip=ip, user_agent=user_agent)
    return ended


def active_sessions(*, user_id: int) -> QuerySet[Session]:
    """
    The user's live sessions, newest first: not revoked, within their absolute
    lifetime, and holding an unused refresh token that has not expired (a
    session whose newest refresh token expired has timed out).
    """
    return Session.objects.filter(user_id=user_id).active(timezone.now()).order_by("-created_at")
