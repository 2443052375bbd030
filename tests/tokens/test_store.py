"""
The hot paths' store (tokens/store.py): on PostgreSQL its statements are
prepared, so the database plans them once per connection, not on every
request; behind a transaction-mode pooler (DISABLE_SERVER_SIDE_CURSORS)
nothing is prepared, because the next statement may reach another server
connection, which never saw the PREPARE.
"""

import pytest
from django.db import connection

from tests.conftest import bearer
from tokens import store

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (prepared statements)"),
]


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


def test_the_access_check_is_planned_once_per_connection(api, tokens, fresh_statements):
    for _ in range(3):
        assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200
    api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")

    runs = prepared_runs()
    assert any("SELECT" in sql and runs[sql] == 3 for sql in runs), runs
    # The refresh's exchange: one statement (WITH … UPDATE … INSERT), prepared too.
    assert any(sql.lstrip().startswith("WITH") and "EXISTS" in sql and "INSERT" in sql for sql in runs), runs


def test_nothing_is_prepared_behind_a_transaction_pooler(api, tokens, fresh_statements, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)

    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200
    assert api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 200

    assert prepared_runs() == {}
