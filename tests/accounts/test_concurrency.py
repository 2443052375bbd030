"""Parallel 2FA submissions on a real PostgreSQL: attempts and single use are decided by the database."""

from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import TwoFactorChallenge
from tests.accounts.conftest import code_from_outbox
from tests.concurrency import in_parallel
from tests.conftest import PASSWORD

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (row locks)"),
]


def submit_in_parallel(bodies: list[dict]) -> list:
    def submit(client, i):
        # Distinct IPs: this is about the challenge's own cap, not the per-IP rate limit.
        response = client.post("/api/auth/login/2fa/", bodies[i], format="json", REMOTE_ADDR=f"10.0.0.{i}")
        return response.status_code, response.json()["code"] if response.status_code != 200 else None

    return in_parallel(len(bodies), submit)


@pytest.fixture
def pending(user, settings):
    settings.AUTH_2FA = "required"
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "two_factor_challenge": "1000/m"}
    response = APIClient().post("/api/auth/login/", {"email": user.email, "password": PASSWORD, "transport": "body"},
                                format="json")
    return response.json()["challenge"], code_from_outbox()


def test_fifty_parallel_wrong_guesses_burn_the_challenge_after_five(pending):
    challenge, code = pending
    wrong = "000000" if code != "000000" else "111111"

    results = submit_in_parallel([{"code": wrong, "challenge": challenge}] * 50)

    assert Counter(results) == {(401, "invalid_code"): 5, (401, "challenge_locked"): 45}
    assert TwoFactorChallenge.objects.get().attempts == 5
    locked = APIClient().post("/api/auth/login/2fa/", {"code": code, "challenge": challenge}, format="json")
    assert locked.json()["code"] == "challenge_locked"


def test_ten_parallel_right_codes_log_in_exactly_once(pending):
    challenge, code = pending

    results = submit_in_parallel([{"code": code, "challenge": challenge, "transport": "body"}] * 10)

    statuses = Counter(status for status, _ in results)
    assert statuses[200] == 1, results
    assert statuses[401] == 9
    assert {c for s, c in results if s == 401} <= {"challenge_used", "challenge_locked"}
