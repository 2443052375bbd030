"""
Concurrent exchanges of one refresh token, on a real PostgreSQL: the race is
decided by the database (conditional UPDATE), so it must be tested on one.
"""

from collections import Counter

import jwt
import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.concurrency import in_parallel
from tests.conftest import PASSWORD, bearer
from tokens.models import RefreshToken, Session

THREADS = 20

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (row locks)"),
]


def exchange_concurrently(refresh: str, n: int = THREADS) -> list:
    def exchange(client, i):
        response = client.post("/api/auth/refresh/", {"refresh": refresh}, format="json")
        return response.status_code, response.json()

    return in_parallel(n, exchange)


@pytest.fixture
def session_tokens(make_user):
    user = make_user()
    response = APIClient().post(
        "/api/auth/login/", {"email": user.email, "password": PASSWORD, "transport": "body"}, format="json"
    )
    return response.json()


def test_concurrent_exchanges_inside_grace_all_get_the_one_successor(session_tokens):
    results = exchange_concurrently(session_tokens["refresh"])

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: THREADS}, results
    successors = {body["refresh"] for _, body in results}
    assert len(successors) == 1
    (successor,) = successors
    old_jti = jwt.decode(session_tokens["refresh"], options={"verify_signature": False})["jti"]
    # Exactly one successor row written, recorded as the old token's replacement.
    records = RefreshToken.objects.filter(session_id=session_tokens["session_id"])
    assert records.count() == 2
    new_jti = jwt.decode(successor, options={"verify_signature": False})["jti"]
    assert str(records.get(jti=old_jti).replaced_by.hex) == new_jti
    # The session is still alive and the successor rotates.
    client = APIClient()
    rotated = client.post("/api/auth/refresh/", {"refresh": successor}, format="json")
    assert rotated.status_code == 200
    assert client.get("/api/auth/me/", **bearer(rotated.json()["access"])).status_code == 200


def test_concurrent_exchanges_without_grace_exactly_one_wins(session_tokens, settings):
    settings.REFRESH_REUSE_GRACE = 0

    results = exchange_concurrently(session_tokens["refresh"])

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 401: THREADS - 1}, results
    assert {body["code"] for status, body in results if status == 401} <= {"token_reused", "token_revoked"}
    assert RefreshToken.objects.filter(session_id=session_tokens["session_id"]).count() == 2
    # The losers detected reuse: the family is revoked.
    assert Session.objects.get(pk=session_tokens["session_id"]).revoked_at is not None
