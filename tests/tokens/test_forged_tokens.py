"""Forged and misused JWTs are refused on both the access path (GET me) and the refresh path."""

import base64
import json
import time
import uuid

import jwt
import pytest
from django.conf import settings

from tests.conftest import bearer

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


def forgeries(tokens: dict, kind: str) -> dict[str, str]:
    claims = decoded(tokens[kind])
    now = int(time.time())
    without_jti = {k: v for k, v in claims.items() if k != "jti"}
    return {
        **{f"alg {alg}": unsigned(claims, alg) for alg in ("none", "None", "NONE", "nOnE")},
        "alg none with signature": unsigned(claims, "none") + "c2ln",
        "HS512 with the right key": sign(claims, algorithm="HS512"),
        "HS384 with the right key": sign(claims, algorithm="HS384"),
        "wrong signing key": sign(claims, key="not-the-key-" * 4),
        "tampered user_id": tamper(tokens[kind], user_id=claims["user_id"] + 1),
        "tampered sid": tamper(tokens[kind], sid=str(uuid.uuid4())),
        "expired": sign({**claims, "exp": now - 10, "iat": now - 100}),
        "nbf in the future": sign({**claims, "nbf": now + 3600}),
        "missing jti": sign(without_jti),
        "no exp": sign({k: v for k, v in claims.items() if k != "exp"}),
        "sid not a uuid": sign({**claims, "sid": "nope"}),
        "user_id as string": sign({**claims, "user_id": str(claims["user_id"])}),
        "unknown session": sign({**claims, "sid": str(uuid.uuid4())}),
        "garbage": "not.a.jwt",
        "empty segments": "..",
    }



CASES = [
    "alg none", "alg None", "alg NONE", "alg nOnE", "alg none with signature", "HS512 with the right key",
    "HS384 with the right key", "wrong signing key", "tampered user_id", "tampered sid", "expired",
    "nbf in the future", "missing jti", "no exp", "sid not a uuid", "user_id as string", "unknown session",
    "garbage", "empty segments",
]


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
    forged = sign({**claims, "sid": decoded(other["access"])["sid"]})
    assert api.get("/api/auth/me/", **bearer(forged)).status_code == 401
    claims = decoded(tokens["refresh"])
    forged = sign({**claims, "sid": decoded(other["refresh"])["sid"]})
    response = api.post("/api/auth/refresh/", {"refresh": forged}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"
