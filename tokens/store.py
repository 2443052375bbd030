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
does, so they compare and load exactly as in a queryset. On PostgreSQL they
are also prepared: planned once per connection instead of on every call (a
join of two tables costs PostgreSQL about 150 µs to plan and 30 µs to run,
measured), unless ``DISABLE_SERVER_SIDE_CURSORS`` says a transaction-mode
pooler stands between (prepared statements live in one server connection).

The rule that decides whether a session is live is not written here: both
statements embed SQL compiled, once per database, from
``SessionQuerySet.live_row_q`` — the rule the querysets, the admin and the
purge use — with placeholder values that each call replaces with its own
(``_Compiled``). tests/tokens/test_live_rule.py holds them to it, case by case.
"""

import functools
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import Field, QuerySet
from django.db.models.expressions import Col

from tokens.models import RefreshToken, Session

# The record's own columns decide the race, in the UPDATE's own WHERE:
# PostgreSQL re-checks them on the newest row version after waiting for a
# concurrent exchange of the same token to commit (it would not re-check a
# condition on them inside a subquery). The session and its user are
# checked in the same statement ({live_session}: the compiled rule), so a
# refused refresh writes nothing.
_MARK_USED = """
UPDATE {record} SET used_at = %s, replaced_by = %s
WHERE jti = %s AND session_id = %s AND used_at IS NULL AND expires_at > %s AND EXISTS ({live_session})
"""

_TOUCH_SESSION = "UPDATE {session} SET last_used_at = %s WHERE id = %s RETURNING expires_at"

_RECORD_SUCCESSOR = """
INSERT INTO {record} (jti, session_id, issued_at, expires_at, used_at, replaced_by)
VALUES (%s, %s, %s, %s, NULL, NULL)
"""

# PostgreSQL runs the three writes as one statement (data-modifying CTEs),
# which is a transaction of its own: one round trip instead of five (BEGIN,
# three statements, COMMIT). Each part feeds the next through RETURNING, so a
# refused exchange still writes nothing, and the first UPDATE's WHERE keeps
# deciding the race. The successor's expiry is the same min() as below.
_EXCHANGE = """
WITH used AS ({mark_used} RETURNING session_id),
touched AS (UPDATE {session} SET last_used_at = %s WHERE id IN (SELECT session_id FROM used) RETURNING expires_at)
INSERT INTO {record} (jti, session_id, issued_at, expires_at, used_at, replaced_by)
SELECT %s, %s, %s, LEAST(%s, touched.expires_at), NULL, NULL FROM touched
RETURNING expires_at
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
    if statements.one_statement:
        with statements.cursor() as cursor:
            return statements.exchange(cursor, jti, session_id, user_id, successor_jti, now, now + refresh_ttl)
    with transaction.atomic(using=statements.alias), statements.cursor() as cursor:
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


class _Compiled:
    """
    A queryset's SQL, compiled once with placeholder values; each call binds
    its own values in the placeholders' places. Compiling a queryset costs
    far more than running it (the module docstring); binding is a list copy.
    """

    def __init__(self, queryset: QuerySet, alias: str, placeholders: dict[str, object]) -> None:
        self.sql, params = queryset.query.get_compiler(using=alias).as_sql()
        self._params = list(params)
        self._slots = {
            name: [i for i, param in enumerate(params) if type(param) is type(value) and param == value]
            for name, value in placeholders.items()
        }
        missing = [name for name, places in self._slots.items() if not places]
        if missing:
            raise ImproperlyConfigured(f"The compiled statement lost its placeholders {missing}: {self.sql}")

    def params(self, **values) -> list:
        """The statement's parameters with ``values`` (already prepared for the database) in their places."""
        params = self._params.copy()
        for name, value in values.items():
            for i in self._slots[name]:
                params[i] = value
        return params


# Stand-ins for the values each call binds; chosen to match nothing else a statement holds.
_SESSION = uuid.UUID("5e55104e-0000-4000-8000-000000000001")
_USER = 987_654_321_012
_NOW = datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt_timezone.utc)


class _Statements:
    """The hot paths' statements for one database alias, with the binding and loading worked out once."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        connection = connections[alias]
        self.prepared = connection.vendor == "postgresql" and not connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]
        user_model = get_user_model()
        qn = connection.ops.quote_name
        self.user_fields: list[Field] = list(user_model._meta.concrete_fields)
        self.user_attnames = [field.attname for field in self.user_fields]
        self.user_model = user_model
        self._uuid_field = RefreshToken._meta.pk
        self._time_field = Session._meta.get_field("expires_at")
        placeholders = {"session_id": self._uuid(_SESSION, connection), "user_id": _USER,
                        "now": self._time(_NOW, connection)}
        # The one rule for one session of one user, as the ORM writes it for this database.
        live_session = Session.objects.filter(pk=_SESSION, user_id=_USER).filter(Session.objects.live_row_q(_NOW))
        self._user_of_live_session = _Compiled(
            live_session.values_list(*(f"user__{name}" for name in self.user_attnames)), alias, placeholders
        )
        live_subquery = _Compiled(live_session.values("pk"), alias, placeholders)
        names = {"session": qn(Session._meta.db_table), "record": qn(RefreshToken._meta.db_table)}
        self._mark_used = _MARK_USED.format(live_session=live_subquery.sql, **names)
        self._live_subquery = live_subquery
        self._touch_session = _TOUCH_SESSION.format(**names)
        self._record_successor = _RECORD_SUCCESSOR.format(**names)
        self.one_statement = connection.vendor == "postgresql"
        self._exchange = _EXCHANGE.format(mark_used=self._mark_used.strip(), **names)
        self._user_loaders = [(i, load) for i, load in enumerate(map(self._converters, self.user_fields)) if load[1]]
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

    def cursor(self):
        """
        A cursor for the hot statements: Django's (errors wrapped, queries
        logged and counted), around one that prepares each statement on
        PostgreSQL when it may (the module docstring).
        """
        connection = connections[self.alias]
        if not self.prepared:
            return connection.cursor()
        connection.ensure_connection()
        with connection.wrap_database_errors:
            return connection._prepare_cursor(_preparing_cursor(connection))

    def user_of_live_session(self, session_id: uuid.UUID, user_id: int, now: datetime):
        connection = connections[self.alias]
        statement = self._user_of_live_session
        with self.cursor() as cursor:
            cursor.execute(statement.sql, statement.params(
                session_id=self._uuid(session_id, connection), user_id=user_id, now=self._time(now, connection),
            ))
            row = cursor.fetchone()
        return None if row is None else self.user_model.from_db(self.alias, self.user_attnames,
                                                                 self.user_values(row, connection))

    def user_values(self, row, connection) -> list:
        """The user's row as the ORM loads it: only columns with converters (SQLite's bools, times) go through them."""
        values = list(row)
        for index, loader in self._user_loaders:
            values[index] = self._load(loader, values[index], connection)
        return values

    def mark_used(self, cursor, jti: uuid.UUID, session_id: uuid.UUID, user_id: int, successor_jti: uuid.UUID,
                  now: datetime) -> bool:
        connection = connections[self.alias]
        session, at = self._uuid(session_id, connection), self._time(now, connection)
        cursor.execute(self._mark_used, self._mark_used_params(
            connection, jti, session, user_id, self._uuid(successor_jti, connection), at,
        ))
        return cursor.rowcount == 1

    def _mark_used_params(self, connection, jti: uuid.UUID, session, user_id: int, successor, at) -> list:
        """``_MARK_USED``'s parameters, the session, successor and time already prepared for the database."""
        return [at, successor, self._uuid(jti, connection), session, at,
                *self._live_subquery.params(session_id=session, user_id=user_id, now=at)]

    def exchange(self, cursor, jti: uuid.UUID, session_id: uuid.UUID, user_id: int, successor_jti: uuid.UUID,
                 now: datetime, latest_expiry: datetime) -> datetime | None:
        """``mark_used``, ``touch_session`` and ``record_successor`` in one statement (``_EXCHANGE``)."""
        connection = connections[self.alias]
        session, at, successor = (self._uuid(session_id, connection), self._time(now, connection),
                                  self._uuid(successor_jti, connection))
        cursor.execute(self._exchange, [
            *self._mark_used_params(connection, jti, session, user_id, successor, at),
            at, successor, session, at, self._time(latest_expiry, connection),
        ])
        row = cursor.fetchone()
        return None if row is None else self._load(self._time_loader, row[0], connection)

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


def _preparing_cursor(connection):
    """
    A psycopg cursor that binds on the server, prepares what it runs
    (Django's own binds on the client, and prepares nothing: its connections
    have ``prepare_threshold=None``, for the sake of poolers), and asks for
    its results in binary. Text results went through Django's timestamp
    loader, written in Python (a twentieth of a GET /me's CPU, two
    timestamps a user); psycopg's binary loaders are C. They give the same
    values: a binary ``timestamptz`` is loaded in the session's time zone,
    which Django sets to its own (``connection.timezone``) when it connects
    (tests/tokens/test_store.py compares them with the ORM's, field by field).
    """
    raw = connection.connection
    if raw.prepare_threshold is None:
        # psycopg prepares nothing at all, even when asked, with no threshold;
        # with one too high to reach, it prepares only what asks (ours).
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    return _preparing_cursor_class()(raw)


_ONLY_WHEN_ASKED = 2**31 - 1


@functools.cache
def _preparing_cursor_class():
    # Imported when first used: the PostgreSQL backend needs psycopg.
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True, binary=True, **kwargs)

    return PreparingCursor


@functools.cache
def _statements(alias: str) -> _Statements:
    return _Statements(alias)
