"""
Clock skew between hosts (tokens/jwt.py verifies with simplejwt's backend):
a token signed by a host whose clock runs a few seconds ahead is still
good, so a fresh login is not refused and a browser not signed out; a
token "issued" well in the future is not.
"""

import time
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from tests.conftest import bearer
from tests.tokens.signing import sign_as_authsvc

pytestmark = pytest.mark.django_db

def me(api, access):
    return api.get("/api/auth/me/", **bearer(access))


def refresh(api, token):
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json")


def test_the_leeway_is_a_few_seconds_by_default():
    assert settings.SIMPLE_JWT["LEEWAY"] == 5


@pytest.mark.parametrize("use, token", [(me, "access"), (refresh, "refresh")])
@pytest.mark.parametrize("behind, accepted", [(3, True), (30, False)])
def test_a_host_whose_clock_is_behind_the_signers(api, tokens, use, token, behind, accepted):
    """Issued (iat) `behind` seconds in this host's future: 3 s is skew, 30 s is no token of ours."""
    with time_machine.travel(timezone.now() - timedelta(seconds=behind), tick=False):
        response = use(api, tokens[token])

    if accepted:
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == 401
        assert response.json()["code"] == "token_invalid"


@pytest.mark.parametrize("ahead, accepted", [(3, True), (30, False)])
def test_not_before_in_the_near_future(api, tokens, ahead, accepted):
    """An nbf claim (ours carry none; PyJWT checks it when present) gets the same leeway as iat."""
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    access = sign_as_authsvc({**claims, "nbf": int(time.time()) + ahead})

    assert me(api, access).status_code == (200 if accepted else 401)
