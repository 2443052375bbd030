"""Forged and misused JWTs are refused on both the access path (GET me) and the refresh path."""

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from tests.conftest import bearer
from tests.tokens.signing import sign_as_authsvc
from tokens.keys import keyring

pytestmark = pytest.mark.django_db

KEY = settings.SIMPLE_JWT["SIGNING_KEY"]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def decoded(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def sign(claims: dict, key: str = KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def unsigned(claims: dict, alg: str) -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."


def tamper(token: str, **changes) -> str:
    """Change claims but keep the original header and signature."""
    header, _, signature = token.split(".")
    return f"{header}.{b64({**decoded(token), **changes})}.{signature}"


# Forgeries of the claims, signed as authsvc signs (the active key, its kid):
# refused for the claim they break, not for a missing kid or a foreign key.
CLAIM_CASES = ["expired", "nbf in the future", "missing jti", "no exp", "sid not a uuid", "user_id as string",
               "unknown session"]


def claim_forgeries(claims: dict) -> dict[str, str]:
    now = int(time.time())
    return {
        "expired": sign_as_authsvc({**claims, "exp": now - 10, "iat": now - 100}),
        "nbf in the future": sign_as_authsvc({**claims, "nbf": now + 3600}),
        "missing jti": sign_as_authsvc({k: v for k, v in claims.items() if k != "jti"}),
        "no exp": sign_as_authsvc({k: v for k, v in claims.items() if k != "exp"}),
        "sid not a uuid": sign_as_authsvc({**claims, "sid": "nope"}),
        "user_id as string": sign_as_authsvc({**claims, "user_id": str(claims["user_id"])}),
        "unknown session": sign_as_authsvc({**claims, "sid": str(uuid.uuid4())}),
    }


def forgeries(tokens: dict, kind: str) -> dict[str, str]:
    claims = decoded(tokens[kind])
    kid = jwt.get_unverified_header(tokens[kind])["kid"]
    return {
        **{f"alg {alg}": unsigned(claims, alg) for alg in ("none", "None", "NONE", "nOnE")},
        "alg none with signature": unsigned(claims, "none") + "c2ln",
        # The shared secret (the HS256 mode's, and the pre-upgrade tokens'), with another HMAC, with and without our kid.
        "HS512 with the right key": sign(claims, algorithm="HS512"),
        "HS384 with the right key": sign(claims, algorithm="HS384"),
        "HS256 with the shared secret under our kid": jwt.encode(claims, KEY, algorithm="HS256", headers={"kid": kid}),
        "wrong signing key": sign(claims, key="not-the-key-" * 4),
        "another ES256 key under our kid": jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()),
                                                      algorithm="ES256", headers={"kid": kid}),
        "tampered user_id": tamper(tokens[kind], user_id=claims["user_id"] + 1),
        "tampered sid": tamper(tokens[kind], sid=str(uuid.uuid4())),
        **claim_forgeries(claims),
        "garbage": "not.a.jwt",
        "empty segments": "..",
    }



CASES = [
    "alg none", "alg None", "alg NONE", "alg nOnE", "alg none with signature", "HS512 with the right key",
    "HS384 with the right key", "HS256 with the shared secret under our kid", "wrong signing key",
    "another ES256 key under our kid", "tampered user_id", "tampered sid", *CLAIM_CASES, "garbage", "empty segments",
]


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_the_claim_forgeries_carry_a_signature_of_ours(tokens, kind):
    """The control: each claim forgery verifies with the active public key, so only its claims can refuse it."""
    key = keyring.active()
    for case, forged in claim_forgeries(decoded(tokens[kind])).items():
        assert jwt.get_unverified_header(forged)["kid"] == key.kid, case
        jwt.decode(forged, key.verifying_key, algorithms=[key.algorithm],
                   options={"verify_exp": False, "verify_nbf": False, "verify_aud": False})


@pytest.mark.parametrize("case", CASES)
def test_forged_access_token_is_refused(api, tokens, case):
    forged = forgeries(tokens, "access")[case]
    response = api.get("/api/auth/me/", **bearer(forged))
    assert response.status_code == 401
    assert response.json() == {"detail": "Access token is invalid or expired.", "code": "token_invalid"}
    # The genuine token still works: the refusal is about the forgery.
    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200


@pytest.mark.parametrize("case", CASES)
def test_forged_refresh_token_is_refused(api, tokens, case):
    forged = forgeries(tokens, "refresh")[case]
    response = api.post("/api/auth/refresh/", {"refresh": forged}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == ("token_expired" if case == "expired" else "token_invalid")


def test_refresh_token_cannot_be_used_as_access_token(api, tokens):
    response = api.get("/api/auth/me/", **bearer(tokens["refresh"]))
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_access_token_cannot_be_used_as_refresh_token(api, tokens):
    response = api.post("/api/auth/refresh/", {"refresh": tokens["access"]}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_validly_signed_token_naming_another_users_session_is_refused(api, make_user, login, tokens):
    """A token is bound to its session's user: the sid of someone else's session is worthless."""
    other = login(make_user()).json()
    claims = decoded(tokens["access"])
    forged = sign_as_authsvc({**claims, "sid": decoded(other["access"])["sid"]})
    assert api.get("/api/auth/me/", **bearer(forged)).status_code == 401
    claims = decoded(tokens["refresh"])
    forged = sign_as_authsvc({**claims, "sid": decoded(other["refresh"])["sid"]})
    response = api.post("/api/auth/refresh/", {"refresh": forged}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
