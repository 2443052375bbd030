"""
The upgrade to keys with ids (DESIGN.md, Part 2; README, "Keys"): the HS256
tokens the previous version issued — signed with ``SIMPLE_JWT["SIGNING_KEY"]``,
no ``kid``, no ``iss`` nor ``aud`` — keep working until they expire, and only
they: a token with no ``kid`` issued after this version made its first key,
or presented once every token of before can have expired, is refused.
"""

from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.backends import TokenBackend

import tokens.jwt
from tests.conftest import bearer
from tokens.conf import conf
from tokens.keys import keyring
from tokens.models import SigningKey

pytestmark = pytest.mark.django_db

INVALID_ACCESS = {"detail": "Access token is invalid or expired.", "code": "token_invalid"}
INVALID_REFRESH = {"detail": "Token is invalid.", "code": "token_invalid"}


def previous_version_sign(claims: dict, **_) -> str:
    """What the version before keys did: simplejwt's backend, HS256, the settings' key, the claims as given (no MAC)."""
    return TokenBackend("HS256", signing_key=settings.SIMPLE_JWT["SIGNING_KEY"]).encode(claims)


@pytest.fixture
def old_tokens(user, login, monkeypatch):
    """A login served by the previous version a minute before the upgrade (no key row exists yet)."""
    with monkeypatch.context() as before_the_upgrade, time_machine.travel(timezone.now() - timedelta(minutes=1)):
        before_the_upgrade.setattr(tokens.jwt, "sign", previous_version_sign)
        issued = login(user).json()
    assert not SigningKey.objects.exists()
    assert jwt.get_unverified_header(issued["access"]) == {"alg": "HS256", "typ": "JWT"}
    assert not {"iss", "aud"} & jwt.decode(issued["access"], options={"verify_signature": False}).keys()
    keyring.reset()
    return issued


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def first_key_made_at() -> int:
    return int(SigningKey.objects.earliest("created_at").created_at.timestamp())


def test_a_previous_versions_token_is_the_first_thing_the_upgraded_service_sees(api, old_tokens):
    """The first request after the upgrade carries an old token: it works (the first key is made then, after it)."""
    assert api.get("/api/auth/me/", **bearer(old_tokens["access"])).status_code == 200

    assert SigningKey.objects.count() == 1
    assert claims_of(old_tokens["access"])["iat"] < first_key_made_at()


def test_a_previous_versions_refresh_token_rotates_into_an_es256_pair(api, old_tokens):
    response = api.post("/api/auth/refresh/", {"refresh": old_tokens["refresh"]}, format="json")

    assert response.status_code == 200, response.json()
    (key,) = SigningKey.objects.all()
    for kind in ("access", "refresh"):
        token = response.json()[kind]
        header = jwt.get_unverified_header(token)
        assert header.pop("mac", None) is not None if kind == "refresh" else "mac" not in header
        assert header == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
        claims = jwt.decode(token, jwt.PyJWK(key.public_jwk).key, algorithms=["ES256"],
                            audience=settings.JWT_AUDIENCE, issuer=settings.JWT_ISSUER)
        assert claims["sid"] == str(old_tokens["session_id"])
    assert api.get("/api/auth/me/", **bearer(response.json()["access"])).status_code == 200
    # The old access token too, after another host made the first key.
    assert api.get("/api/auth/me/", **bearer(old_tokens["access"])).status_code == 200


@pytest.mark.parametrize("after_first_key, accepted", [(-1, True), (0, False), (1, False)])
def test_a_token_without_kid_issued_since_the_first_key_is_refused(api, old_tokens, after_first_key, accepted):
    """Whole seconds, as iat is: a kid-less token stamped within the second the first key was made is refused."""
    keyring.active()
    iat = first_key_made_at() + after_first_key
    for kind, path in (("access", "/api/auth/me/"), ("refresh", "/api/auth/refresh/")):
        token = previous_version_sign({**claims_of(old_tokens[kind]), "iat": iat})
        if kind == "access":
            response = api.get(path, **bearer(token))
        else:
            response = api.post(path, {"refresh": token}, format="json")
        assert response.status_code == (200 if accepted else 401), response.json()
        if not accepted:
            assert response.json() == (INVALID_ACCESS if kind == "access" else INVALID_REFRESH)


def test_tokens_without_kid_are_refused_once_every_one_of_them_can_have_expired(api, old_tokens):
    """Even one whose exp says otherwise: after refresh TTL + leeway since the first key, no kid means no token."""
    keyring.active()
    until = SigningKey.objects.get().created_at + conf.refresh_ttl + timedelta(seconds=conf.leeway)
    far = int((until + timedelta(days=30)).timestamp())
    access = previous_version_sign({**claims_of(old_tokens["access"]), "exp": far})
    refresh = previous_version_sign({**claims_of(old_tokens["refresh"]), "exp": far})

    with time_machine.travel(until - timedelta(seconds=1)):
        assert api.get("/api/auth/me/", **bearer(access)).status_code == 200
    with time_machine.travel(until + timedelta(seconds=1)):
        response = api.get("/api/auth/me/", **bearer(access))
        assert (response.status_code, response.json()) == (401, INVALID_ACCESS)
        response = api.post("/api/auth/refresh/", {"refresh": refresh}, format="json")
        assert (response.status_code, response.json()) == (401, INVALID_REFRESH)


def test_a_kid_less_token_signed_with_anything_but_the_shared_secret_is_refused(api, old_tokens):
    claims = claims_of(old_tokens["access"])
    for forged in (jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256"),
                   jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")):
        response = api.get("/api/auth/me/", **bearer(forged))
        assert (response.status_code, response.json()) == (401, INVALID_ACCESS)


@pytest.mark.parametrize("fallback", [True, False], ids=["old-key-in-fallbacks", "no-fallback"])
def test_rotating_secret_key_signs_nobody_out_under_es256(api, user, login, settings, caplog, fallback):
    """
    With ES256 the tokens are signed by the keys in the database, not by
    SECRET_KEY, and verified by their public parts: rotating SECRET_KEY ends
    no session. With the old one in SECRET_KEY_FALLBACKS the private key
    still decrypts and signs; with no fallback a new key signs from then on
    (logged), the former one verifying what it signed until it retires.
    """
    issued = login(user).json()
    old_secret, old_kid = settings.SECRET_KEY, jwt.get_unverified_header(issued["access"])["kid"]
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "n" * 40
    settings.SECRET_KEY_FALLBACKS = [old_secret] if fallback else []
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": settings.SECRET_KEY}
    keyring.reset()

    assert api.get("/api/auth/me/", **bearer(issued["access"])).status_code == 200
    response = api.post("/api/auth/refresh/", {"refresh": issued["refresh"]}, format="json")
    assert response.status_code == 200, response.json()
    assert api.get("/api/auth/me/", **bearer(response.json()["access"])).status_code == 200
    new_kid = jwt.get_unverified_header(response.json()["access"])["kid"]
    assert (new_kid == old_kid) is fallback
    if not fallback:
        assert dict(SigningKey.objects.values_list("kid", "state")) == {old_kid: SigningKey.State.RETIRING,
                                                                         new_kid: SigningKey.State.ACTIVE}
        assert "cannot be decrypted" in caplog.text
