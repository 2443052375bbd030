"""
The hot paths' store (tokens/store.py): on PostgreSQL its statements are
prepared, so the database plans them once per connection, not on every
request; behind a transaction-mode pooler (DISABLE_SERVER_SIDE_CURSORS)
nothing is prepared, because the next statement may reach another server
connection, which never saw the PREPARE. Its results come in binary, and
load as the ORM's do.
"""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from tests.conftest import bearer
from tokens import store
from tokens.models import Session

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                     reason="needs DATABASE_URL=postgres://… (prepared statements)")


def prepared_runs() -> dict[str, int]:
    """This connection's prepared statements that touch the sessions table: {statement: times run}."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return {sql: runs for sql, runs in cursor.fetchall() if "tokens_session" in sql}


@pytest.fixture
def fresh_statements():
    store._statements.cache_clear()
    yield
    store._statements.cache_clear()


@postgresql_only
def test_the_access_check_is_planned_once_per_connection(api, tokens, fresh_statements):
    for _ in range(3):
        assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200
    api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")

    runs = prepared_runs()
    assert any("SELECT" in sql and runs[sql] == 3 for sql in runs), runs
    # The refresh's exchange: one statement (WITH … UPDATE … INSERT), prepared too.
    assert any(sql.lstrip().startswith("WITH") and "EXISTS" in sql and "INSERT" in sql for sql in runs), runs


@postgresql_only
def test_nothing_is_prepared_behind_a_transaction_pooler(api, tokens, fresh_statements, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)

    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200
    assert api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 200

    assert prepared_runs() == {}


@pytest.mark.parametrize("pooled", [False, True], ids=["prepared", "behind a pooler"])
def test_the_user_loads_as_the_orm_loads_it(tokens, user, fresh_statements, monkeypatch, pooled):
    """
    Every field of the user the access check hands the view, value, type and
    time zone, as a queryset loads it: on PostgreSQL the prepared statement's
    results come in binary (psycopg's loaders), the ORM's in text (Django's);
    on SQLite booleans and times go through Django's converters, and only
    they. The view, the serializers and the audit log must not tell them apart.
    """
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", pooled)
    get_user_model().objects.filter(pk=user.pk).update(
        last_login=timezone.now() - timedelta(days=3, microseconds=7), email="Zoë@example.com",
    )
    session_id = uuid.UUID(Session.objects.get(user=user).pk.hex)

    loaded = store.user_of_live_session(session_id=session_id, user_id=user.pk, now=timezone.now())

    expected = get_user_model().objects.get(pk=user.pk)
    for field in expected._meta.concrete_fields:
        ours, theirs = getattr(loaded, field.attname), getattr(expected, field.attname)
        assert (ours, type(ours), getattr(ours, "tzinfo", None)) == (theirs, type(theirs),
                                                                      getattr(theirs, "tzinfo", None)), field.name
    assert loaded._state.adding is False and loaded._state.db == "default"
