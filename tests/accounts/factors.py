"""
What the second-factor tests share (``test_totp.py``, ``test_recovery_codes.py``):
the answers' bodies, the endpoints, and how to enrol an app and answer a
challenge. Their fixtures (``clock``, ``enrolled``, ``password_step``)
are in ``tests/accounts/conftest.py``.
"""

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import pyotp
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import PASSWORD, bearer
from tokens.services import issue_session

# RFC 6238 §4.1: X, the time step; DESIGN.md: 30 s, SHA-1, 6 digits.
STEP = 30
TOKENS = {"access", "refresh", "access_expires_at", "refresh_expires_at", "session_id"}
# DESIGN.md: 10 characters, shown grouped as xxxxx-xxxxx.
RECOVERY_CODE = re.compile(r"^[a-z2-9]{5}-[a-z2-9]{5}$")
# Well formed, and not one of the user's (49 bits each: never by chance).
NOT_A_RECOVERY_CODE = "22222-22222"

INVALID_CODE = {"detail": "The code is incorrect.", "code": "invalid_code"}
INVALID_PASSWORD = {"detail": "The password is incorrect.", "code": "invalid_password"}
METHOD_UNAVAILABLE = {"detail": "This second-factor method is not available for this account.",
                      "code": "method_unavailable"}
COOLDOWN = {"detail": "Too many wrong sign-in codes for this account; sign in again later.",
            "code": "two_factor_cooldown"}
CHALLENGE_LOCKED = {"detail": "Too many wrong codes; log in again.", "code": "challenge_locked"}

SETUP, CONFIRM, DISABLE = "/api/auth/2fa/totp/setup/", "/api/auth/2fa/totp/confirm/", "/api/auth/2fa/totp/disable/"
STATUS, RECOVERY_CODES = "/api/auth/2fa/", "/api/auth/2fa/recovery-codes/"

# How far a test may move a still clock on without leaving the hour it began in.
HOUR, CLOCK_LEEWAY = 3600, 600


def still_clock():
    """
    Time stopped 5 s into a TOTP step, so a test knows each code's step, and
    at least ten minutes before the hour ends: the per-account budgets count
    in fixed hourly windows (``authsvc.ratelimits.take``), and a test that
    spends a budget and moves the clock on a step must find its count still
    there, not a new window's (started at 12:59:35, one step used to land
    in the next hour one run in 120).
    """
    now = int(time.time())
    if now % HOUR > HOUR - CLOCK_LEEWAY:
        now += HOUR - now % HOUR
    return time_machine.travel(datetime.fromtimestamp(now - now % STEP + 5, UTC), tick=False)


def totp_code(secret: str, steps: int = 0) -> str:
    """The app's code ``steps`` steps away from now (pyotp; ``test_codes_from_oathtool…`` uses another implementation)."""
    return pyotp.TOTP(secret).at(timezone.now() + timedelta(seconds=steps * STEP))


def wrong_totp_code(secret: str) -> str:
    """Six digits that no step of the drift window has for this secret."""
    window = {totp_code(secret, steps) for steps in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in window)


def signed_in(user: User) -> APIClient:
    """A client holding a fresh session of ``user`` (a bearer access token): what the 2fa/… endpoints need."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(**bearer(issue_session(user=user, ip="127.0.0.1", user_agent="tests").access))
    return client


@dataclass
class Enrolled:
    """A user with a confirmed authenticator app, a signed-in client of theirs, and the recovery codes shown."""

    user: User
    client: APIClient
    secret: str
    recovery_codes: list[str]


def enrol_totp(user: User, client: APIClient | None = None) -> Enrolled:
    """Set up and confirm an app through the API, confirming with the code of the current step."""
    client = client or signed_in(user)
    setup = client.post(SETUP, {"password": PASSWORD}, format="json")
    assert setup.status_code == 200, setup.content
    secret = setup.json()["secret"]
    confirmed = client.post(CONFIRM, {"code": totp_code(secret)}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    return Enrolled(user=user, client=client, secret=secret, recovery_codes=confirmed.json()["recovery_codes"])


def answer(api: APIClient, challenge: str, code: str, method: str | None = None, **extra):
    """Login step two (body transport); no ``method``: the server picks the user's first."""
    body = {"challenge": challenge, "code": code, "transport": "body", **extra}
    if method is not None:
        body["method"] = method
    return api.post("/api/auth/login/2fa/", body, format="json")


def pending_body(methods: list[str]) -> dict:
    return {"two_factor_required": True, "expires_in": 600, "methods": methods, "challenge": ANY}
