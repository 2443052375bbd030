"""
Keys across hosts (DESIGN.md, Part 2, "Keys other services can verify"): two
gunicorn hosts from the shipped venv on one PostgreSQL, each with its own
in-memory keyring. A token one host signed verifies on the other, and a
rotation made by an operator's command reaches both without a restart —
within ``JWT_KEYRING_MAX_AGE`` — while the tokens of the former key keep
working on both: nobody is signed out.
"""

import time
import uuid

import jwt
import pytest

from tests import hosts
from tests.celery_worker import database_url
from tokens.models import SigningKey

pytestmark = hosts.PRODUCTION_SHAPE

PASSWORD = "a long and unusual passphrase 42"
KEYRING_MAX_AGE = 1


@pytest.fixture
def production(tmp_path, settings):
    """The shared environment of hosts A and B (and of the operator's commands), keys read again every second."""
    env = hosts.production_env(database_url=database_url(settings), redis_url=settings.REDIS_URL, workdir=tmp_path,
                               AUTH_2FA="off", JWT_KEYRING_MAX_AGE=str(KEYRING_MAX_AGE))
    started = [hosts.Host(name, env=env, workdir=tmp_path).start() for name in ("host-a", "host-b")]
    yield env, started
    for host in started:
        host.stop()


def kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_rotation_made_by_the_command_reaches_both_hosts_and_signs_nobody_out(production):
    env, (a, b) = production
    email = f"keys-{uuid.uuid4().hex[:8]}@example.com"
    assert a.post("/api/auth/register/", {"email": email, "password": PASSWORD}).status_code == 201
    credentials = {"email": email, "password": PASSWORD, "transport": "body"}
    before = a.post("/api/auth/login/", credentials).json()
    old = kid(before["access"])
    assert b.get("/api/auth/me/", headers=bearer(before["access"])).status_code == 200, "A's token verifies on B"

    done = hosts.run_command(["manage.py", "rotate_signing_key", "--now"], env=env)

    assert done.returncode == 0, done.stderr
    new = SigningKey.objects.get(state=SigningKey.State.ACTIVE).kid
    assert new != old and done.stdout == f"ES256 key {new} signs from now on.\n"
    # Within a couple of seconds both hosts sign with the new key, with no restart.
    deadline = time.monotonic() + KEYRING_MAX_AGE + 3
    signed_by = {}
    while time.monotonic() < deadline and set(signed_by.values()) != {new}:
        signed_by = {host.name: kid(host.post("/api/auth/login/", credentials).json()["access"]) for host in (a, b)}
        time.sleep(0.2)
    assert signed_by == {"host-a": new, "host-b": new}, f"{signed_by} {a.tail()} {b.tail()}"
    # The former key's tokens still work on both hosts: its access token, and its refresh token once.
    for host in (a, b):
        assert host.get("/api/auth/me/", headers=bearer(before["access"])).status_code == 200, host.name
    renewed = b.post("/api/auth/refresh/", {"refresh": before["refresh"]})
    assert renewed.status_code == 200, renewed.text
    assert kid(renewed.json()["access"]) == kid(renewed.json()["refresh"]) == new
    assert a.get("/api/auth/me/", headers=bearer(renewed.json()["access"])).status_code == 200
    published = {key["kid"] for key in a.get("/.well-known/jwks.json").json()["keys"]}
    assert published == {old, new}
