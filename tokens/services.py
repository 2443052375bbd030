"""
The token lifecycle, one function per use case. The API, the admin, the
management commands and the Celery tasks all call these; none of them touches
``Session`` or ``RefreshToken`` rows directly.
"""

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import Field, QuerySet
from django.db.models.expressions import Col
from django.utils import timezone
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError

from authsvc.errors import NotFound
from authsvc.metrics import REFRESHES, REVOCATIONS
from tokens import audit
from tokens.conf import conf
from tokens.errors import TokenExpired, TokenInvalid, TokenReused, TokenRevoked
from tokens.jwt import AccessJWT, RefreshJWT, SessionToken
from tokens.models import AUTH_EPOCH_FIELD, RefreshToken, Session
from tokens.purge import purge_all, purge_expired  # noqa: F401  (re-exported; the purge lives in purge.py)

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


def _issue_pair(*, user_id: int, session_id: uuid.UUID, refresh_jti: uuid.UUID, refresh_issued_at: datetime,
                refresh_expires_at: datetime, now: datetime) -> IssuedTokens:
    # An access token never outlives the refresh token issued with it, so an
    # idle session (newest refresh token expired) ends for both at once.
    access_expires_at = min(now + conf.access_ttl, refresh_expires_at)
    access = AccessJWT.encode(
        user_id=user_id, session_id=session_id, jti=uuid.uuid4(),
        issued_at=now, expires_at=access_expires_at,
    )
    refresh = RefreshJWT.encode(
        user_id=user_id, session_id=session_id, jti=refresh_jti,
        issued_at=refresh_issued_at, expires_at=refresh_expires_at,
    )
    return IssuedTokens(
        access=access,
        access_expires_at=access_expires_at,
        refresh=refresh,
        refresh_expires_at=refresh_expires_at,
        session_id=session_id,
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
            auth_epoch=getattr(user, AUTH_EPOCH_FIELD),
        )
        record = _record_refresh_token(session=session, jti=uuid.uuid4(), now=now)
    logger.info("session started", extra={"session_id": str(session.id), "user_id": user.pk})
    return _issue_pair(
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
    token = decode(AccessJWT, raw)
    user = _hot_sql(router.db_for_read(Session)).user_of_live_session(
        session_id=token.session_id, user_id=token.user_id, now=timezone.now()
    )
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
    token = decode(RefreshJWT, raw)
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
        return _issue_pair(
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

    Three writes in one transaction and no read: the conditional UPDATE that
    decides the race and checks the session and its user in the same
    statement, so a refused refresh writes nothing; the session's
    ``last_used_at``, which hands back its absolute expiry; the successor.
    """
    sql = _hot_sql(router.db_for_write(RefreshToken))
    successor_jti = uuid.uuid4()
    with transaction.atomic(using=sql.alias), connections[sql.alias].cursor() as cursor:
        if not sql.mark_used(cursor, token=token, successor_jti=successor_jti, now=now):
            return None
        session_expires_at = sql.touch_session(cursor, session_id=token.session_id, now=now)
        if session_expires_at is None:
            # Deleted since the UPDATE (its user deleted): raising rolls the UPDATE back.
            raise TokenInvalid()
        # A refresh token never outlives its session's absolute lifetime.
        expires_at = min(now + conf.refresh_ttl, session_expires_at)
        sql.record_successor(cursor, jti=successor_jti, session_id=token.session_id, now=now, expires_at=expires_at)
    return _issue_pair(
        user_id=token.user_id, session_id=token.session_id, refresh_jti=successor_jti,
        refresh_issued_at=now, refresh_expires_at=expires_at, now=now,
    )


# --- the two hot paths, as fixed SQL ---------------------------------------------------------
#
# Authenticating a request and rotating a refresh token are what this service
# does all day. As querysets, building and compiling the SQL took several times
# the CPU that PostgreSQL spends running it (bench/RESULTS.md), so both are
# fixed statements, written once per database: plain SQL that SQLite (3.35+,
# for RETURNING) and PostgreSQL both run. Values are bound through each field's
# ``get_db_prep_value`` and loaded through the backend's converters, as the ORM
# does, so they compare and load exactly as in a queryset.

_USER_OF_LIVE_SESSION = """
SELECT {user_columns}
FROM {user} u INNER JOIN {session} s ON s.user_id = u.{user_pk}
WHERE s.id = %s AND s.user_id = %s AND s.revoked_at IS NULL AND s.expires_at > %s AND u.{user_active}
  AND s.auth_epoch = u.{user_epoch}
"""

# The record's own columns decide the race, in the UPDATE's own WHERE:
# PostgreSQL re-checks them on the newest row version after waiting for a
# concurrent exchange of the same token to commit (it would not re-check a
# condition on them inside a subquery). The session and its user are
# checked in the same statement.
_MARK_USED = """
UPDATE {record} SET used_at = %s, replaced_by = %s
WHERE jti = %s AND session_id = %s AND used_at IS NULL AND expires_at > %s
  AND EXISTS (
    SELECT 1 FROM {session} s INNER JOIN {user} u ON u.{user_pk} = s.user_id
    WHERE s.id = %s AND s.user_id = %s AND s.revoked_at IS NULL AND s.expires_at > %s AND u.{user_active}
      AND s.auth_epoch = u.{user_epoch}
  )
"""

_TOUCH_SESSION = "UPDATE {session} SET last_used_at = %s WHERE id = %s RETURNING expires_at"

_RECORD_SUCCESSOR = """
INSERT INTO {record} (jti, session_id, issued_at, expires_at, used_at, replaced_by)
VALUES (%s, %s, %s, %s, NULL, NULL)
"""


class _HotSQL:
    """The hot paths' statements for one database alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        user_model = get_user_model()
        qn = connections[alias].ops.quote_name
        self.user_fields: list[Field] = list(user_model._meta.concrete_fields)
        self.user_attnames = [field.attname for field in self.user_fields]
        names = {
            "session": qn(Session._meta.db_table),
            "record": qn(RefreshToken._meta.db_table),
            "user": qn(user_model._meta.db_table),
            "user_pk": qn(user_model._meta.pk.column),
            "user_active": qn(user_model._meta.get_field("is_active").column),
            "user_epoch": qn(user_model._meta.get_field(AUTH_EPOCH_FIELD).column),
            "user_columns": ", ".join(f"u.{qn(field.column)}" for field in self.user_fields),
        }
        self.user_model = user_model
        self._user_of_live_session = _USER_OF_LIVE_SESSION.format(**names)
        self._mark_used = _MARK_USED.format(**names)
        self._touch_session = _TOUCH_SESSION.format(**names)
        self._record_successor = _RECORD_SUCCESSOR.format(**names)
        self._uuid_field = RefreshToken._meta.pk
        self._time_field = Session._meta.get_field("expires_at")
        self._user_loaders = [self._converters(field) for field in self.user_fields]
        self._time_loader = self._converters(self._time_field)

    def _uuid(self, value: uuid.UUID, connection):
        return self._uuid_field.get_db_prep_value(value, connection)

    def _time(self, value: datetime, connection):
        return self._time_field.get_db_prep_value(value, connection)

    def _converters(self, field: Field) -> tuple[Col, list]:
        """What a queryset applies to a value of ``field`` read from this database, worked out once."""
        connection = connections[self.alias]
        expression = field.get_col(field.model._meta.db_table)
        return expression, connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)

    @staticmethod
    def _load(loader: tuple[Col, list], value, connection):
        expression, converters = loader
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    def user_of_live_session(self, *, session_id: uuid.UUID, user_id: int, now: datetime):
        """The user, if this is their session, not revoked, within its lifetime, and they are active."""
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self._user_of_live_session,
                           [self._uuid(session_id, connection), user_id, self._time(now, connection)])
            row = cursor.fetchone()
        if row is None:
            return None
        values = [self._load(loader, value, connection) for loader, value in zip(self._user_loaders, row)]
        return self.user_model.from_db(self.alias, self.user_attnames, values)

    def mark_used(self, cursor, *, token: RefreshJWT, successor_jti: uuid.UUID, now: datetime) -> bool:
        """Win the exchange of ``token``: True if this call marked it used."""
        connection = connections[self.alias]
        session_id, at = self._uuid(token.session_id, connection), self._time(now, connection)
        cursor.execute(self._mark_used, [
            at, self._uuid(successor_jti, connection), self._uuid(token.jti, connection), session_id, at,
            session_id, token.user_id, at,
        ])
        return cursor.rowcount == 1

    def touch_session(self, cursor, *, session_id: uuid.UUID, now: datetime) -> datetime | None:
        """Set the session's ``last_used_at``; its absolute expiry, or None if it is gone."""
        connection = connections[self.alias]
        cursor.execute(self._touch_session, [self._time(now, connection), self._uuid(session_id, connection)])
        row = cursor.fetchone()
        return None if row is None else self._load(self._time_loader, row[0], connection)

    def record_successor(self, cursor, *, jti: uuid.UUID, session_id: uuid.UUID, now: datetime,
                         expires_at: datetime) -> None:
        connection = connections[self.alias]
        cursor.execute(self._record_successor, [
            self._uuid(jti, connection), self._uuid(session_id, connection),
            self._time(now, connection), self._time(expires_at, connection),
        ])


@functools.cache
def _hot_sql(alias: str) -> _HotSQL:
    return _HotSQL(alias)


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


def end_session(*, tokens: list[str], ip: str | None = None, user_agent: str = "") -> bool:
    """
    Logout: revoke the session each token (access or refresh) belongs to.
    Idempotent: an expired, invalid or already revoked token is not an error.
    """
    ended = False
    for raw in tokens:
        token = _decode_any(raw)
        if token is not None:
            ended |= revoke_session(session_id=token.session_id, user_id=token.user_id, reason=RevokeReason.LOGOUT,
                                    ip=ip, user_agent=user_agent)
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
