"""
What ships is what is tested (DESIGN.md, "Production shape, hosts and
faults"): a virtualenv made from ``requirements.txt`` alone — what the
Dockerfile installs — runs every process docker-compose starts, with
production settings, and a user goes through the whole service end to end:
gunicorn behind a TLS-ending proxy, a real Celery worker mailing the code, a
real beat purging by itself.

The first run builds that venv (about 30 s); later runs reuse it until
``requirements.txt`` changes.
"""

import json
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from tests import hosts
from tests.celery_worker import database_url
from tokens.models import Session

pytestmark = hosts.PRODUCTION_SHAPE

PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture
def prod_env(tmp_path, settings):
    """A production process's environment on this test's database, with its own cache prefix and queue."""
    env = hosts.production_env(database_url=database_url(settings), redis_url=settings.REDIS_URL,
                               workdir=tmp_path)
    yield env
    _forget_queue(settings.REDIS_URL, env["CELERY_QUEUE"])


def _forget_queue(redis_url: str, queue: str) -> None:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.delete(queue, f"_kombu.binding.{queue}")


def wait_for_mail(mail_dir: Path, to: str, pattern: str, *processes: hosts.Process, timeout: float = 45) -> str:
    """``pattern``'s group 1 in the newest email to ``to`` in the file outbox that holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sorted(mail_dir.glob("*.log"), reverse=True) if mail_dir.exists() else []:
            text = message.read_text()
            match = re.search(pattern, text)
            if match and f"To: {to}" in text:
                return match.group(1)
        time.sleep(0.2)
    pytest.fail(f"no email matching {pattern!r} arrived\n" + "\n".join(p.tail() for p in processes))


def wait_for_code(mail_dir: Path, to: str, *processes: hosts.Process, timeout: float = 45) -> str:
    """The code of the newest email to ``to`` in the file outbox."""
    return wait_for_mail(mail_dir, to, r"sign-in code is (\d{6})", *processes, timeout=timeout)


def test_requirements_txt_alone_starts_every_process(prod_env, tmp_path):
    """
    The worker and beat import the broker's transport (kombu's Redis
    transport needs ``packaging``, which only ``celery[redis]`` declares);
    gunicorn serves; the deploy checks pass with production settings; the
    commands docker-compose and operators run all work.
    """
    deploy = hosts.run_command(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env=prod_env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    for command in (["manage.py", "migrate", "--noinput"], ["manage.py", "collectstatic", "--noinput"],
                    ["manage.py", "purge_tokens", "--dry-run"]):
        result = hosts.run_command(command, env=prod_env)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    unknown = hosts.run_command(["manage.py", "revoke_all", "nobody@example.com"], env=prod_env)
    assert unknown.returncode == 1 and "No user" in unknown.stderr

    with hosts.worker(env=prod_env, workdir=tmp_path) as worker, hosts.beat(env=prod_env, workdir=tmp_path) as beat, \
            hosts.Host("web", env=prod_env, workdir=tmp_path) as web:
        worker.wait_for_log(" ready.")
        beat.wait_for_log("beat: Starting...")
        health = web.get("/healthz")
        assert health.status_code == 200, web.tail()
        assert health.json() == {"status": "ok", "database": "ok", "cache": "ok"}
        # Static files from collectstatic's manifest, served by whitenoise under gunicorn.
        docs = web.get("/api/docs/")
        assert docs.status_code == 200
        script = re.search(r'src="(/static/[^"]+\.js)"', docs.text).group(1)
        assert web.get(script).status_code == 200
        assert worker.alive() and beat.alive()
    assert "Traceback" not in worker.log() + beat.log() + web.log()
    # Production log lines are JSON objects, the worker's and beat's too (Celery's banner is not a log line).
    for process, expected in ((worker, " ready."), (beat, "beat: Starting...")):
        lines = [json.loads(line) for line in process.log().splitlines() if line.startswith("{")]
        assert any(expected in line["message"] and line["level"] == "INFO" for line in lines), process.tail()


def test_a_user_end_to_end_in_production_mode(prod_env, tmp_path):
    """
    register → login → the code arrives through the worker → tokens →
    refresh → ``manage.py revoke_all`` → refused; then beat purges a dead
    session by itself within seconds (and keeps the revoked one, for the
    retention). Plain HTTP is redirected to
    HTTPS; what the proxy forwards as HTTPS is served.
    """
    env = {**prod_env, "AUTH_2FA": "required", "PURGE_SCHEDULE": "2"}
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    with hosts.worker(env=env, workdir=tmp_path) as worker, hosts.beat(env=env, workdir=tmp_path) as beat, \
            hosts.Host("web", env=env, workdir=tmp_path) as web:
        plain = requests.get(web.url + "/api/auth/me/", allow_redirects=False, timeout=10)
        assert plain.status_code == 301
        assert plain.headers["Location"].startswith("https://")

        registered = web.post("/api/auth/register/", {"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        assert registered.json() == {"id": registered.json()["id"], "email": email}

        step_one = web.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
        assert step_one.status_code == 200, step_one.text
        assert step_one.json()["two_factor_required"] is True
        code = wait_for_code(tmp_path / "mail", email, worker, web)
        assert code not in worker.log()

        step_two = web.post("/api/auth/login/2fa/", {"code": code, "challenge": step_one.json()["challenge"],
                                                      "transport": "body"})
        assert step_two.status_code == 200, step_two.text
        tokens = step_two.json()
        me = web.get("/api/auth/me/", headers={"Authorization": f"Bearer {tokens['access']}"})
        assert me.status_code == 200 and me.json()["email"] == email

        refreshed = web.post("/api/auth/refresh/", {"refresh": tokens["refresh"]})
        assert refreshed.status_code == 200, refreshed.text
        new = refreshed.json()
        assert new["session_id"] == tokens["session_id"] and new["refresh"] != tokens["refresh"]

        revoked = hosts.run_command(["manage.py", "revoke_all", email, "--reason", "e2e"], env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.strip() == f"Revoked 1 session(s) of {email}."

        refused = web.get("/api/auth/me/", headers={"Authorization": f"Bearer {new['access']}"})
        assert refused.status_code == 401 and refused.json()["code"] == "token_invalid"
        again = web.post("/api/auth/refresh/", {"refresh": new["refresh"]})
        assert again.status_code == 401 and again.json()["code"] == "token_revoked"

        # A session past its absolute expiry: the next purge beat sends deletes it.
        now = timezone.now()
        dead = Session.objects.create(user_id=registered.json()["id"], created_at=now - timedelta(days=31),
                                      last_used_at=now - timedelta(days=2), expires_at=now - timedelta(days=1))
        deadline = time.monotonic() + 30
        while Session.objects.filter(pk=dead.pk).exists():
            if time.monotonic() > deadline:
                pytest.fail("beat did not purge the dead session\n" + beat.tail() + worker.tail())
            time.sleep(0.5)
        assert Session.objects.filter(pk=tokens["session_id"], revoked_at__isnull=False).exists()
        assert "Sending due task purge-expired-tokens" in beat.log()
        assert "tokens.tasks.purge_expired" in worker.log()


def test_the_account_life_in_production_mode(prod_env, tmp_path):
    """
    Mandatory verification, end to end through the shipped processes:
    register → the link arrives through the worker (its key nowhere in the
    worker's log) → the unverified login is 403 → the link verifies → login
    → export → ``manage.py delete_user`` → the session is refused and in the
    revocation feed; an unknown user is exit 1.
    """
    service = f"orders:{uuid.uuid4().hex}"
    env = {**prod_env, "AUTH_2FA": "off", "ACCOUNT_EMAIL_VERIFICATION": "mandatory", "INTROSPECTION_CLIENTS": service}
    email = f"life-{uuid.uuid4().hex[:8]}@example.com"
    with hosts.worker(env=env, workdir=tmp_path) as worker, hosts.Host("web", env=env, workdir=tmp_path) as web:
        registered = web.post("/api/auth/register/", {"email": email, "password": PASSWORD})
        assert (registered.status_code, registered.json()) == (201, {"email": email})
        unverified = web.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
        assert (unverified.status_code, unverified.json()["code"]) == (403, "email_unverified")

        key = wait_for_mail(tmp_path / "mail", email, r"verify-email\?key=([A-Za-z0-9_-]+)", worker, web)
        assert key not in worker.log()
        assert web.post("/api/auth/email/verify/", {"key": key}).status_code == 204

        signed_in = web.post("/api/auth/login/", {"email": email, "password": PASSWORD, "transport": "body"})
        assert signed_in.status_code == 200, signed_in.text
        tokens = signed_in.json()
        bearer = {"Authorization": f"Bearer {tokens['access']}"}
        exported = web.get("/api/auth/account/export/", headers=bearer)
        assert exported.status_code == 200 and exported.json()["user"]["email_verified"] is True

        deleted = hosts.run_command(["manage.py", "delete_user", email], env=env)
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout.strip() == f"Deleted the account of {email}; ended 1 session(s)."
        assert web.get("/api/auth/me/", headers=bearer).status_code == 401
        feed = web.get("/api/auth/revocations/", auth=tuple(service.split(":", 1)))
        assert feed.status_code == 200, feed.text
        assert tokens["session_id"] in {end["sid"] for end in feed.json()["revoked"]}, feed.json()
    unknown = hosts.run_command(["manage.py", "delete_user", "nobody@example.com"], env=env)
    assert unknown.returncode == 1 and "No user" in unknown.stderr
