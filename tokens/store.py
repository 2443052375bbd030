"""
The two hot paths' storage, as fixed SQL behind a small typed interface
(STYLE 13, the way Django keeps sessions behind ``SessionStore``):
``user_of_live_session`` behind every authenticated request, and
``exchange_refresh_token`` behind every refresh. ``tokens.services`` reads
as use cases and never builds SQL.

Authenticating a request and rotating a refresh token are what this service
does all day. As querysets, building and compiling the SQL took several times
the CPU that PostgreSQL spends running it (bench/RESULTS.md), so both are
fixed statements, written once per database: plain SQL that SQLite (3.35+,
for RETURNING) and PostgreSQL both run. Values are bound through each field's
``get_db_prep_value`` and loaded through the backend's converters, as the ORM
does, so they compare and load exactly as in a queryset.

Both state the live-session rule for one row (``SessionQuerySet.live_q`` is
the rule; tests/tokens/test_live_rule.py holds these statements to it, case
by case). They leave out its "idle" part, which the token's own ``exp``
already decides: an access token never outlives the refresh token issued with
it, and a refresh token is only exchanged before its own expiry.
"""

import functools
import uuid
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import Field
from django.db.models.expressions import Col

from tokens.models import AUTH_EPOCH_FIELD, RefreshToken, Session

# The session ``s`` is live for its user ``u`` at %s (one row of the rule).
_LIVE = "s.revoked_at IS NULL AND s.expires_at > %s AND u.{user_active} AND s.auth_epoch = u.{user_epoch}"

_USER_OF_LIVE_SESSION = f"""
SELECT {{user_columns}}
FROM {{user}} u INNER JOIN {{session}} s ON s.user_id = u.{{user_pk}}
WHERE s.id = %s AND s.user_id = %s AND {_LIVE}
"""

# The record's own columns decide the race, in the UPDATE's own WHERE:
# PostgreSQL re-checks them on the newest row version after waiting for a
# concurrent exchange of the same token to commit (it would not re-check a
# condition on them inside a subquery). The session and its user are
# checked in the same statement, so a refused refresh writes nothing.
_MARK_USED = f"""
UPDATE {{record}} SET used_at = %s, replaced_by = %s
WHERE jti = %s AND session_id = %s AND used_at IS NULL AND expires_at > %s
  AND EXISTS (
    SELECT 1 FROM {{session}} s INNER JOIN {{user}} u ON u.{{user_pk}} = s.user_id
    WHERE s.id = %s AND s.user_id = %s AND {_LIVE}
  )
"""

_TOUCH_SESSION = "UPDATE {session} SET last_used_at = %s WHERE id = %s RETURNING expires_at"

_RECORD_SUCCESSOR = """
INSERT INTO {record} (jti, session_id, issued_at, expires_at, used_at, replaced_by)
VALUES (%s, %s, %s, %s, NULL, NULL)
"""


def user_of_live_session(*, session_id: uuid.UUID, user_id: int, now: datetime):
    """The user, if this is their session and it is live at ``now``; else None. One query."""
    return _statements(router.db_for_read(Session)).user_of_live_session(session_id, user_id, now)


def exchange_refresh_token(*, jti: uuid.UUID, session_id: uuid.UUID, user_id: int, successor_jti: uuid.UUID,
                           now: datetime, refresh_ttl: timedelta) -> datetime | None:
    """
    Win the exchange of refresh token ``jti`` and record its successor: the
    successor's expiry, or None if the token is not ours to rotate (used,
    expired, another session's, or its session or user no longer live),
    having written nothing.

    Three writes in one transaction and no read: the conditional UPDATE that
    decides the race; the session's ``last_used_at``, which hands back its
    absolute expiry; the successor, which never outlives the session.
    """
    statements = _statements(router.db_for_write(RefreshToken))
    with transaction.atomic(using=statements.alias), connections[statements.alias].cursor() as cursor:
        if not statements.mark_used(cursor, jti, session_id, user_id, successor_jti, now):
            return None
        session_expires_at = statements.touch_session(cursor, session_id, now)
        if session_expires_at is None:
            # Deleted since the UPDATE (its user deleted): undo the UPDATE.
            transaction.set_rollback(True, using=statements.alias)
            return None
        expires_at = min(now + refresh_ttl, session_expires_at)
        statements.record_successor(cursor, successor_jti, session_id, now, expires_at)
    return expires_at


class _Statements:
    """The hot paths' statements for one database alias, with the binding and loading worked out once."""

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

    def user_of_live_session(self, session_id: uuid.UUID, user_id: int, now: datetime):
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self._user_of_live_session,
                           [self._uuid(session_id, connection), user_id, self._time(now, connection)])
            row = cursor.fetchone()
        if row is None:
            return None
        values = [self._load(loader, value, connection) for loader, value in zip(self._user_loaders, row)]
        return self.user_model.from_db(self.alias, self.user_attnames, values)

    def mark_used(self, cursor, jti: uuid.UUID, session_id: uuid.UUID, user_id: int, successor_jti: uuid.UUID,
                  now: datetime) -> bool:
        connection = connections[self.alias]
        session, at = self._uuid(session_id, connection), self._time(now, connection)
        cursor.execute(self._mark_used, [
            at, self._uuid(successor_jti, connection), self._uuid(jti, connection), session, at,
            session, user_id, at,
        ])
        return cursor.rowcount == 1

    def touch_session(self, cursor, session_id: uuid.UUID, now: datetime) -> datetime | None:
        connection = connections[self.alias]
        cursor.execute(self._touch_session, [self._time(now, connection), self._uuid(session_id, connection)])
        row = cursor.fetchone()
        return None if row is None else self._load(self._time_loader, row[0], connection)

    def record_successor(self, cursor, jti: uuid.UUID, session_id: uuid.UUID, now: datetime,
                         expires_at: datetime) -> None:
        connection = connections[self.alias]
        cursor.execute(self._record_successor, [
            self._uuid(jti, connection), self._uuid(session_id, connection),
            self._time(now, connection), self._time(expires_at, connection),
        ])


@functools.cache
def _statements(alias: str) -> _Statements:
    return _Statements(alias)
