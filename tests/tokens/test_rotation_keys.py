"""
Rotating the signing keys (DESIGN.md, Part 2, "Keys other services can
verify"): publish first, sign later, retire only when nothing the old key
signed can still be valid — and nobody is signed out on the way.

``rotate`` publishes a ``next`` key; ``advance`` (the hourly purge task and
``purge_tokens``) activates it after ``JWT_KEY_PUBLISH_DELAY`` and retires
the former key once its last token has expired. ``advance(now=…)`` moves the
key clock alone: the tokens stay unexpired in real time, so a refusal below is
about the key, never about ``exp``.
"""

import json
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import jwt
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from tests.conftest import bearer
from tokens import keys
from tokens.conf import conf
from tokens.keys import keyring
from tokens.models import SigningKey

pytestmark = pytest.mark.django_db

State = SigningKey.State
SECOND = timedelta(seconds=1)
INVALID_ACCESS = {"detail": "Access token is invalid or expired.", "code": "token_invalid"}
INVALID_REFRESH = {"detail": "Token is invalid.", "code": "token_invalid"}


def kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def me(api, access: str):
    return api.get("/api/auth/me/", **bearer(access))


def refresh(api, token: str):
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json")


def published(api) -> set[str]:
    return {key["kid"] for key in api.get("/.well-known/jwks.json").json()["keys"]}


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def retirement_age() -> timedelta:
    """How long after it stops signing a key can still have signed a valid token (see ``keys.advance``)."""
    return max(conf.refresh_ttl, conf.access_ttl) + timedelta(seconds=conf.leeway + conf.keyring_max_age)


@pytest.fixture
def rotated(tokens):
    """A key published by ``rotate`` at ``t0``; ``tokens`` were signed by the key before it."""
    t0 = timezone.now()
    return SimpleNamespace(old=kid(tokens["access"]), new=keys.rotate(now=t0).kid, t0=t0)


def test_rotate_publishes_a_next_key_that_does_not_sign_yet(api, user, login, tokens, rotated):
    """Publish first: every verifier's cached JWKS holds the new key before any token names it."""
    assert published(api) == {rotated.old, rotated.new}
    assert SigningKey.objects.get(kid=rotated.new).state == State.NEXT
    assert kid(login(user).json()["access"]) == rotated.old
    # Rotating again while a key waits keeps the one already published.
    assert keys.rotate().kid == rotated.new


def test_advance_before_the_publish_delay_does_nothing(api, user, login, rotated):
    counts = keys.advance(now=rotated.t0 + conf.key_publish_delay - SECOND)

    assert counts == {"signing_keys_activated": 0, "signing_keys_retired": 0}
    assert SigningKey.objects.get(kid=rotated.new).state == State.NEXT
    assert kid(login(user).json()["access"]) == rotated.old


def test_after_the_delay_the_new_key_signs_and_nobody_is_signed_out(api, user, login, tokens, rotated):
    """The former key retires but still verifies: old access and refresh tokens work, a refresh moves to the new key."""
    counts = keys.advance(now=rotated.t0 + conf.key_publish_delay)

    assert counts == {"signing_keys_activated": 1, "signing_keys_retired": 0}
    assert dict(SigningKey.objects.values_list("kid", "state")) == {rotated.old: State.RETIRING,
                                                                     rotated.new: State.ACTIVE}
    assert published(api) == {rotated.old, rotated.new}
    assert kid(login(user).json()["access"]) == rotated.new
    assert me(api, tokens["access"]).status_code == 200
    renewed = refresh(api, tokens["refresh"])
    assert renewed.status_code == 200, renewed.json()
    assert {kid(renewed.json()["access"]), kid(renewed.json()["refresh"])} == {rotated.new}
    assert me(api, renewed.json()["access"]).status_code == 200


def test_the_old_key_retires_only_once_nothing_it_signed_can_be_valid(api, user, login, tokens, rotated):
    """Retired: unpublished, and its tokens (access and refresh) are 401 token_invalid, as an unknown kid's are."""
    activated = rotated.t0 + conf.key_publish_delay
    keys.advance(now=activated)
    fresh = login(user).json()

    assert keys.advance(now=activated + retirement_age() - SECOND)["signing_keys_retired"] == 0
    assert me(api, tokens["access"]).status_code == 200

    assert keys.advance(now=activated + retirement_age())["signing_keys_retired"] == 1

    assert SigningKey.objects.get(kid=rotated.old).state == State.RETIRED
    assert published(api) == {rotated.new}
    response = me(api, tokens["access"])
    assert (response.status_code, response.json()) == (401, INVALID_ACCESS)
    # Its session is live and this refresh token was never exchanged: only the key refuses it.
    response = refresh(api, tokens["refresh"])
    assert (response.status_code, response.json()) == (401, INVALID_REFRESH)
    # The new key's tokens are untouched.
    assert me(api, fresh["access"]).status_code == 200
    assert refresh(api, fresh["refresh"]).status_code == 200


def with_kid(token: str, new_kid: str) -> str:
    """``token`` with its header naming another key, payload and signature as they were."""
    header = {**jwt.get_unverified_header(token), "kid": new_kid}
    _, payload, signature = token.split(".")
    return f"{jwt.utils.base64url_encode(json.dumps(header).encode()).decode()}.{payload}.{signature}"


def test_an_unknown_kid_is_refused(api, tokens):
    response = me(api, with_kid(tokens["access"], "no-such-key"))
    assert (response.status_code, response.json()) == (401, INVALID_ACCESS)
    response = refresh(api, with_kid(tokens["refresh"], "no-such-key"))
    assert (response.status_code, response.json()) == (401, INVALID_REFRESH)


def test_rotate_now_signs_at_once_and_old_tokens_still_verify(api, user, login, tokens):
    old = kid(tokens["access"])

    output = run("rotate_signing_key", "--now")

    new = SigningKey.objects.get(state=State.ACTIVE)
    assert output == f"ES256 key {new.kid} signs from now on.\n"
    assert SigningKey.objects.get(kid=old).state == State.RETIRING
    assert kid(login(user).json()["access"]) == new.kid
    assert me(api, tokens["access"]).status_code == 200
    assert refresh(api, tokens["refresh"]).status_code == 200
    assert published(api) == {old, new.kid}


def test_rotate_now_activates_the_key_already_published(tokens):
    pending = keys.rotate()
    run("rotate_signing_key", "--now")
    assert SigningKey.objects.get(state=State.ACTIVE).kid == pending.kid


def test_the_command_says_when_the_published_key_will_sign(tokens, settings):
    settings.JWT_KEY_PUBLISH_DELAY = 7200

    output = run("rotate_signing_key")

    pending = SigningKey.objects.get(state=State.NEXT)
    signs_at = pending.created_at + timedelta(seconds=7200)
    assert output == f"ES256 key {pending.kid} published; it signs from {signs_at:%Y-%m-%d %H:%M:%S} UTC on.\n"


def test_purge_tokens_activates_a_due_key_and_says_so(tokens, settings):
    settings.JWT_KEY_PUBLISH_DELAY = 0
    pending = keys.rotate()

    output = run("purge_tokens")

    assert "signing keys: 1 activated, 0 retired" in output
    assert SigningKey.objects.get(state=State.ACTIVE).kid == pending.kid


def test_hs256_keys_are_not_rotated_here(api, user, login, settings):
    """The HS256 key is the JWT_SIGNING_KEY setting: the command refuses, with the reason, and changes nothing."""
    settings.JWT_ALGORITHM = "HS256"
    login(user)

    with pytest.raises(CommandError, match="HS256 keys are the JWT_SIGNING_KEY setting"):
        run("rotate_signing_key", "--now")
    assert list(SigningKey.objects.values_list("state", flat=True)) == [State.ACTIVE]


def test_a_new_algorithm_signs_at_once_and_the_former_keys_tokens_keep_verifying(api, user, login, tokens, settings):
    old = kid(tokens["access"])
    settings.JWT_ALGORITHM = "EdDSA"

    issued = login(user).json()

    new = SigningKey.objects.get(state=State.ACTIVE)
    assert (new.algorithm, jwt.get_unverified_header(issued["access"])) == ("EdDSA", {"alg": "EdDSA", "kid": new.kid,
                                                                                       "typ": "JWT"})
    assert SigningKey.objects.get(kid=old).state == State.RETIRING
    assert published(api) == {old, new.kid}
    assert me(api, tokens["access"]).status_code == 200
    renewed = refresh(api, tokens["refresh"])
    assert renewed.status_code == 200 and kid(renewed.json()["access"]) == new.kid


def test_a_rotation_reaches_a_process_that_did_not_make_it(api, user, login, tokens, monkeypatch, settings):
    """
    Another host rotates (this process's keyring is not told): its tokens
    verify here at once (an unknown kid reads the keys again, at most once a
    second), and this process signs with the new key once its copy is
    ``JWT_KEYRING_MAX_AGE`` old — no restart.
    """
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(keys, "time", SimpleNamespace(monotonic=lambda: clock.now))
    keyring.reset()
    old = kid(login(user).json()["access"])  # this process reads the keys at clock 1000

    def rotate_elsewhere() -> str:
        with monkeypatch.context() as elsewhere:
            elsewhere.setattr(keyring, "reset", lambda: None)
            return keys.rotate(at_once=True).kid

    new = rotate_elsewhere()
    host_b = keys.KeyRing().active()
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    from_b = jwt.encode(claims, host_b.signing_key, algorithm=host_b.algorithm, headers={"kid": new})
    assert kid(login(user).json()["access"]) == old  # this copy is not JWT_KEYRING_MAX_AGE old yet

    clock.now += 0.5
    assert me(api, from_b).status_code == 401  # read less than a second ago: not read again, whatever the kid
    clock.now += 1
    assert me(api, from_b).status_code == 200  # an unknown kid: the keys are read again...
    assert kid(login(user).json()["access"]) == new  # ...and the new active key with them

    newer = rotate_elsewhere()
    assert kid(login(user).json()["access"]) == new
    clock.now += settings.JWT_KEYRING_MAX_AGE + 0.5
    assert kid(login(user).json()["access"]) == newer
    assert me(api, tokens["access"]).status_code == 200


# --- the hot paths keep their query counts with ES256 (tests/tokens/test_api.py) ------------------


@pytest.mark.parametrize("after", ["no rotation", "rotation"])
def test_me_costs_one_query_with_a_warm_keyring(api, tokens, django_assert_num_queries, after):
    if after == "rotation":
        keys.rotate(at_once=True)  # the old key retiring: its token verifies by the warm keyring
        me(api, tokens["access"])  # this process reads the keys again once
    with django_assert_num_queries(1):
        assert me(api, tokens["access"]).status_code == 200


@pytest.mark.parametrize("after", ["no rotation", "rotation"])
def test_refresh_costs_its_exchange_alone_with_a_warm_keyring(api, user, login, tokens, django_assert_num_queries,
                                                             after):
    if after == "rotation":
        keys.rotate(at_once=True)
        me(api, tokens["access"])
    # The exchange: one statement on PostgreSQL, three and a savepoint pair on SQLite (tests/tokens/test_api.py).
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 5):
        response = refresh(api, tokens["refresh"])
    assert response.status_code == 200
    assert kid(response.json()["refresh"]) == keyring.active().kid
