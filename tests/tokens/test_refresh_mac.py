"""
A refresh token holds its payload's MAC in its header, under a key derived
from SECRET_KEY (``tokens.jwt``): a refresh token exactly as authsvc issued
it is proven by the MAC, and its signature is not verified; anything else —
a changed claim, another header, no MAC, a MAC from a former SECRET_KEY — is
decided by the signature, as before.
"""

import base64
import json
from datetime import timedelta

import jwt
import pytest
import time_machine

import tokens.jws
from tests.tokens.signing import sign_as_authsvc
from tokens.conf import conf
from tokens.keys import keyring

pytestmark = pytest.mark.django_db

INVALID = {"detail": "Token is invalid.", "code": "token_invalid"}


@pytest.fixture
def signature_checks(monkeypatch) -> list[bytes]:
    """The signing inputs whose signature authsvc verified, in order."""
    seen: list[bytes] = []
    verify = tokens.jws.jws._verify_signature

    def counted(signing_input, *args, **kwargs):
        seen.append(signing_input)
        return verify(signing_input, *args, **kwargs)

    monkeypatch.setattr(tokens.jws.jws, "_verify_signature", counted)
    return seen


def refresh(api, token: str):
    return api.post("/api/auth/refresh/", {"refresh": token}, format="json")


def segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_refresh_token_as_issued_is_proven_by_its_mac_not_its_signature(api, tokens, signature_checks):
    assert "mac" in jwt.get_unverified_header(tokens["refresh"])
    assert "mac" not in jwt.get_unverified_header(tokens["access"])  # read by other services: signature only

    first = refresh(api, tokens["refresh"])
    second = refresh(api, first.json()["refresh"])

    assert (first.status_code, second.status_code) == (200, 200)
    assert signature_checks == []
    # The signature is still there, and still ours: what anyone holding the public key would check.
    key = keyring.active()
    jwt.decode(second.json()["refresh"], key.verifying_key, algorithms=[key.algorithm],
               audience=conf.jwt_audience, issuer=conf.jwt_issuer)


@pytest.mark.parametrize("claim, value", [("exp", 10 * 365 * 86400), ("iat", -3600), ("aud", "another-service")])
def test_a_claim_changed_under_the_mac_it_came_with_is_refused(api, tokens, signature_checks, claim, value):
    """The header (and its MAC) and signature kept, one claim changed: the MAC no longer proves it, the signature refuses it."""
    head, _, signature = tokens["refresh"].split(".")
    claims = claims_of(tokens["refresh"])
    claims[claim] = claims[claim] + value if isinstance(value, int) else value
    response = refresh(api, f"{head}.{segment(claims)}.{signature}")

    assert (response.status_code, response.json()) == (401, INVALID)
    assert len(signature_checks) == 1
    assert refresh(api, tokens["refresh"]).status_code == 200  # nothing was written: the token itself still rotates


def test_only_the_header_authsvc_writes_is_proven_by_the_mac(api, tokens, signature_checks):
    """Payload and MAC as issued, under another header: decided by the signature (and refused), never by the MAC."""
    head, payload, signature = tokens["refresh"].split(".")
    header = jwt.get_unverified_header(tokens["refresh"])
    other_headers = {
        "alg none, no signature": (segment({**header, "alg": "none"}), ""),
        "alg HS256": (segment({**header, "alg": "HS256"}), signature),
        "a key URL": (segment({**header, "jku": "https://attacker.example/jwks"}), signature),
        "the same fields, spelt otherwise": (segment(dict(reversed(header.items()))), signature),
    }
    for case, (other_head, other_signature) in other_headers.items():
        assert other_head != head, case
        response = refresh(api, f"{other_head}.{payload}.{other_signature}")
        assert (response.status_code, response.json()) == (401, INVALID), case
    assert refresh(api, tokens["refresh"]).status_code == 200


def test_a_refresh_token_without_a_mac_is_verified_by_its_signature(api, tokens, signature_checks):
    """As every refresh token issued before refresh tokens had a MAC: the same claims, signed, no MAC."""
    unmacked = sign_as_authsvc(claims_of(tokens["refresh"]))
    assert "mac" not in jwt.get_unverified_header(unmacked)

    assert refresh(api, unmacked).status_code == 200
    assert len(signature_checks) == 1


def test_after_secret_key_rotation_a_refresh_token_is_verified_by_its_signature(api, tokens, signature_checks,
                                                                                 settings):
    """The MAC's key is derived from SECRET_KEY: under a new one the MAC proves nothing, and nobody is signed out."""
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "n" * 40
    settings.SECRET_KEY_FALLBACKS = [old_secret]  # the signing key's private part still decrypts
    keyring.reset()

    response = refresh(api, tokens["refresh"])

    assert response.status_code == 200, response.json()
    assert len(signature_checks) == 1
    assert refresh(api, response.json()["refresh"]).status_code == 200
    assert len(signature_checks) == 1  # the new one's MAC is under the new key


def test_an_expired_refresh_token_proven_by_its_mac_is_token_expired(api, tokens, signature_checks):
    expires_at = claims_of(tokens["refresh"])["exp"]
    with time_machine.travel(expires_at + conf.leeway + 1):
        response = refresh(api, tokens["refresh"])
    assert (response.status_code, response.json()["code"]) == (401, "token_expired")
    assert signature_checks == []


def test_a_retired_keys_refresh_token_is_refused_though_its_mac_holds(api, tokens, monkeypatch):
    """The key its kid names is looked up as for a signature: no longer published, no token of ours."""
    monkeypatch.setattr(keyring, "verifying", lambda kid: None)
    response = refresh(api, tokens["refresh"])
    assert (response.status_code, response.json()) == (401, INVALID)


def test_a_used_refresh_token_proven_by_its_mac_is_still_reuse(api, tokens, settings, signature_checks):
    """The MAC proves the token; what the record says of it decides, as before: reuse revokes the session."""
    settings.REFRESH_REUSE_GRACE = 0
    assert conf.reuse_grace == timedelta(0)
    successor = refresh(api, tokens["refresh"]).json()["refresh"]
    response = refresh(api, tokens["refresh"])
    assert (response.status_code, response.json()["code"]) == (401, "token_reused")
    assert signature_checks == []  # told apart from a forgery by its MAC alone
    response = refresh(api, successor)
    assert (response.status_code, response.json()["code"]) == (401, "token_revoked")


@pytest.mark.parametrize("setting", ["JWT_ISSUER", "JWT_AUDIENCE"])
def test_a_refresh_token_proven_by_its_mac_still_has_its_issuer_and_audience_checked(api, tokens, signature_checks,
                                                                                     settings, setting):
    """The MAC proves authsvc wrote the claims, not that they are this configuration's: iss and aud are checked."""
    setattr(settings, setting, "another-" + getattr(settings, setting))
    response = refresh(api, tokens["refresh"])
    assert (response.status_code, response.json()) == (401, INVALID)
    assert signature_checks == []
