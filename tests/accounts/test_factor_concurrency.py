"""
Parallel second-factor answers on a real PostgreSQL: a TOTP code and a
recovery code are each taken once, by the database's conditional ``UPDATE``
(STYLE 7), however many logins present them at the same instant — each on a
challenge of its own, so the challenge's own single use decides nothing here.
"""

from collections import Counter

import pyotp
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import totp
from authsvc import secretbox
from accounts.flows import recovery_codes
from accounts.models import RecoveryCode, TotpDevice
from tests.concurrency import in_parallel
from tests.conftest import PASSWORD
from tokens.models import Session

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (row locks)"),
]

LOGINS = 8


@pytest.fixture
def app_user(user, settings):
    """alice with a confirmed app (made directly: confirming through the API would spend the current step)."""
    settings.AUTH_2FA = "required"
    # Every challenge stays open (by default a new login ends all but the newest three).
    settings.TWO_FACTOR_MAX_OPEN_CHALLENGES = LOGINS
    secret = totp.new_secret()
    now = timezone.now()
    TotpDevice.objects.create(user=user, encrypted_secret=secretbox.encrypt(secret), created_at=now,
                              confirmed_at=now)
    return user, secret


def open_challenges(user, count: int) -> list[str]:
    challenges = []
    for _ in range(count):
        response = APIClient().post("/api/auth/login/", {"email": user.email, "password": PASSWORD,
                                                         "transport": "body"}, format="json")
        assert response.status_code == 200, response.content
        challenges.append(response.json()["challenge"])
    return challenges


def answer_in_parallel(challenges: list[str], code: str, method: str) -> Counter:
    def submit(client, i):
        # Distinct IPs: this is about the code's single use, not the per-IP rate limit.
        response = client.post("/api/auth/login/2fa/", {"challenge": challenges[i], "code": code, "method": method,
                                                        "transport": "body"},
                               format="json", REMOTE_ADDR=f"10.0.1.{i}")
        return response.status_code, None if response.status_code == 200 else response.json()["code"]

    return Counter(in_parallel(len(challenges), submit))


def test_one_totp_code_on_parallel_challenges_logs_in_once(app_user):
    """RFC 6238 §5.2, one use per code, when the replays arrive together: exactly one session."""
    user, secret = app_user
    challenges = open_challenges(user, LOGINS)

    results = answer_in_parallel(challenges, pyotp.TOTP(secret).now(), "totp")

    assert results == {(200, None): 1, (401, "invalid_code"): LOGINS - 1}, results
    assert Session.objects.filter(user=user).count() == 1


def test_one_recovery_code_on_parallel_challenges_logs_in_once(app_user):
    user, _ = app_user
    codes = recovery_codes.replace_codes(user)
    challenges = open_challenges(user, LOGINS)

    results = answer_in_parallel(challenges, codes[0], "recovery")

    assert results == {(200, None): 1, (401, "invalid_code"): LOGINS - 1}, results
    assert Session.objects.filter(user=user).count() == 1
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=False).count() == 1
