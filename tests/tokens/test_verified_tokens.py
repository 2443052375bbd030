"""
The access tokens a process has verified (tokens/verified.py): the same
token's next request skips its signature, and nothing else. Expiry, the
key's publication and the session are checked on every request, and only a
token verified whole, under the same settings, is ever served from the cache.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.conftest import bearer
from tokens import jws, keys
from tokens.models import Session, SigningKey
from tokens.services import revoke_all_sessions
from tokens.verified import verified_access_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def signature_checks(monkeypatch):
    """How many times a token's signature and claims were verified (simplejwt's backend, through PyJWT)."""
    calls = []
    real = jws.Backend.decode

    def counting(self, token, verify=True):
        calls.append(token)
        return real(self, token, verify)

    monkeypatch.setattr(jws.Backend, "decode", counting)
    return calls


def me(api, access):
    return api.get("/api/auth/me/", **bearer(access))


def test_a_token_is_verified_once_per_process(api, tokens, signature_checks):
    for _ in range(3):
        assert me(api, tokens["access"]).status_code == 200
    assert signature_checks == [tokens["access"]]


def test_without_the_cache_every_request_is_verified(api, tokens, signature_checks, settings):
    settings.ACCESS_TOKEN_CACHE_SIZE = 0
    for _ in range(3):
        assert me(api, tokens["access"]).status_code == 200
    assert len(signature_checks) == 3


def test_a_cached_token_of_a_revoked_session_is_refused_at_once(api, user, tokens):
    assert me(api, tokens["access"]).status_code == 200
    revoke_all_sessions(user_id=user.pk, reason=Session.RevokeReason.LOGOUT_ALL)
    response = me(api, tokens["access"])
    assert response.status_code == 401, response.json()


def test_a_cached_token_is_refused_once_it_has_expired(api, tokens, settings):
    assert me(api, tokens["access"]).status_code == 200
    past_expiry = timedelta(seconds=settings.ACCESS_TOKEN_TTL + settings.JWT_LEEWAY + 1)
    with time_machine.travel(timezone.now() + past_expiry):
        response = me(api, tokens["access"])
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
    assert verified_access_tokens.get(tokens["access"]) is None


def test_a_cached_token_is_good_until_its_expiry_and_leeway(api, tokens, settings):
    assert me(api, tokens["access"]).status_code == 200
    within = timedelta(seconds=settings.ACCESS_TOKEN_TTL + settings.JWT_LEEWAY - 2)
    with time_machine.travel(timezone.now() + within):
        assert me(api, tokens["access"]).status_code == 200


def test_a_cached_token_whose_key_left_the_key_set_is_refused(api, tokens):
    assert me(api, tokens["access"]).status_code == 200
    SigningKey.objects.update(state=SigningKey.State.RETIRED, retired_at=timezone.now())
    keys.keyring.reset()
    assert me(api, tokens["access"]).status_code == 401


def test_a_token_cached_under_other_settings_is_checked_again(api, tokens, settings):
    assert me(api, tokens["access"]).status_code == 200
    settings.JWT_AUDIENCE = "another-service"
    assert me(api, tokens["access"]).status_code == 401


def test_a_token_one_byte_away_from_a_cached_one_is_verified_from_scratch(api, tokens, signature_checks):
    assert me(api, tokens["access"]).status_code == 200
    head, payload, signature = tokens["access"].split(".")
    forged = f"{head}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    assert me(api, forged).status_code == 401
    assert signature_checks == [tokens["access"], forged]


def test_the_cache_is_bounded_and_forgets_its_oldest_token(api, user, login, settings):
    settings.ACCESS_TOKEN_CACHE_SIZE = 2
    accesses = [login(user).json()["access"] for _ in range(3)]
    for access in accesses:
        assert me(api, access).status_code == 200
    assert verified_access_tokens.get(accesses[0]) is None
    assert all(verified_access_tokens.get(access) is not None for access in accesses[1:])


def test_a_refused_token_is_never_cached(api, tokens, settings):
    settings.JWT_ISSUER = "someone-else"
    assert me(api, tokens["access"]).status_code == 401
    settings.JWT_ISSUER = "authsvc"
    assert verified_access_tokens.get(tokens["access"]) is None
