"""
A verifier no one here wrote (issue 17, "How it is checked"): npm ``jose``,
pinned in ``tests/interop/jose/package-lock.json``, fetches authsvc's JWKS
from a live server (``createRemoteJWKSet``) and checks its access tokens
(``jwtVerify`` with our issuer and audience) before and after a rotation,
and refuses a token whose signature or audience was tampered with.

``npm ci`` installs it into ``tests/interop/jose/node_modules`` (ignored by
git) the first time; without node or npm the test is skipped. Each check is
a fresh node process — a fresh verifier with an empty JWKS cache.
"""

import base64
import fcntl
import json
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import jwt
import pytest
from django.core.management import call_command

from tests.conftest import bearer
from tests.tokens.signing import sign_as_authsvc

JOSE = Path(__file__).resolve().parent / "jose"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                       reason="node and npm are needed for the jose interop check (CI has them)"),
]


@pytest.fixture(scope="session")
def installed_jose() -> Path:
    """``npm ci`` of the pinned jose, once (locked: parallel test processes install it once between them)."""
    with open(JOSE / "package.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (JOSE / "node_modules" / "jose" / "package.json").exists():
            done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=JOSE,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return JOSE


@pytest.fixture
def verify(installed_jose, live_server, settings):
    """``verify(*tokens)``: what jose says of each token, checked against the live server's JWKS."""

    def run(*tokens: str) -> list[dict]:
        done = subprocess.run(
            ["node", "verify.mjs", f"{live_server.url}/.well-known/jwks.json", settings.JWT_ISSUER,
             settings.JWT_AUDIENCE],
            cwd=installed_jose, input="\n".join(tokens), capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    return run


def kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def tamper_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    return f"{header}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def tamper_audience(token: str, audience: str) -> str:
    """The claims changed to another audience, header and signature kept."""
    header, _, signature = token.split(".")
    claims = {**jwt.decode(token, options={"verify_signature": False}), "aud": audience}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def test_jose_verifies_access_tokens_before_and_after_a_rotation(api, user, login, verify, settings):
    before = login(user).json()["access"]

    (verdict,) = verify(before)
    assert verdict["ok"] is True, verdict
    assert verdict["kid"] == kid(before)
    assert (verdict["payload"]["token_type"], verdict["payload"]["user_id"]) == ("access", user.pk)
    assert (verdict["payload"]["iss"], verdict["payload"]["aud"]) == (settings.JWT_ISSUER, settings.JWT_AUDIENCE)

    call_command("rotate_signing_key", "--now", stdout=StringIO())
    after = login(user).json()["access"]
    assert kid(after) != kid(before)

    assert [(v["ok"], v.get("kid")) for v in verify(before, after)] == [(True, kid(before)), (True, kid(after))]
    # Both tokens work on authsvc itself too: nobody is signed out.
    assert api.get("/api/auth/me/", **bearer(before)).status_code == 200


def test_jose_refuses_a_tampered_signature_or_audience(user, login, verify):
    access = login(user).json()["access"]
    claims = jwt.decode(access, options={"verify_signature": False})

    verdicts = verify(
        tamper_signature(access),
        tamper_audience(access, "another-service"),
        # Signed by authsvc's own key, but for another audience: refused by jose's claim check, not the signature.
        sign_as_authsvc({**claims, "aud": "another-service"}),
        access,
    )

    assert [v.get("code") for v in verdicts] == [
        "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        "ERR_JWT_CLAIM_VALIDATION_FAILED",
        None,
    ]
    assert verdicts[-1]["ok"] is True
