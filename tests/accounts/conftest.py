import re

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factors import STEP, Enrolled, enrol_totp, still_clock
from tests.conftest import PASSWORD


@pytest.fixture
def two_factor(settings):
    settings.AUTH_2FA = "required"


def code_from_outbox(index: int = -1) -> str:
    message = mail.outbox[index]
    match = re.search(r"\b(\d{6})\b", message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def start_login(api, django_capture_on_commit_callbacks):
    """Login step one with the emails actually sent (on-commit callbacks run); returns (response, code)."""

    def start(user, transport="body", client=None, password=PASSWORD, **headers):
        client = client or api
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/auth/login/",
                {"email": user.email, "password": password, "transport": transport},
                format="json",
                **headers,
            )
        assert response.status_code == 200, response.content
        return response, code_from_outbox()

    return start


@pytest.fixture
def one_window():
    """
    The clock stands still, so every request of a test counts in one
    rate-limit window. The windows are fixed ones (a minute, an hour) keyed
    by ``time.time()``, in django-ratelimit and in authsvc/ratelimits.py
    alike, and time-machine stops that clock too: a window that ended
    mid-test would start its count again, and the request that should be
    refused would get through.
    """
    with time_machine.travel(timezone.now(), tick=False):
        yield


# --- the second factors' tests (tests/accounts/factors.py) -------------------------------------


@pytest.fixture
def clock():
    """Time stands still 5 s into a TOTP step (a whole second); ``clock.shift(STEP)`` moves it on one step."""
    with still_clock() as traveller:
        yield traveller


@pytest.fixture
def enrolled(clock, user) -> Enrolled:
    """alice with a confirmed app; the clock one step past the code that confirmed it."""
    enrolled = enrol_totp(user)
    clock.shift(STEP)
    return enrolled


@pytest.fixture
def password_step(api, capture):
    """Login step one with its emails sent (on-commit callbacks run); returns the 200 body (body transport)."""

    def start(user: User, client: APIClient | None = None) -> dict:
        response = capture((client or api).post, "/api/auth/login/",
                           {"email": user.email, "password": PASSWORD, "transport": "body"}, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return start
