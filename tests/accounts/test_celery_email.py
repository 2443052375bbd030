"""
The 2FA email goes through a real Celery worker on the local Redis: the
worker makes the code, stores its hash in the (test) PostgreSQL database and
mails it; the test reads it from the file outbox and finishes the login.
"""

import re
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.celery_worker import celery_conf, celery_worker, database_url
from tests.conftest import PASSWORD, bearer

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not django_settings.REDIS_URL or connection.vendor != "postgresql",
        reason="needs REDIS_URL and DATABASE_URL=postgres://… (a worker process shares the database)",
    ),
]


@pytest.fixture
def worker(tmp_path, settings):
    env = {
        "DJANGO_SETTINGS_MODULE": "authsvc.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,  # the code hash is keyed: same key as this process
        "DATABASE_URL": database_url(settings),
        "REDIS_URL": settings.REDIS_URL,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    with celery_worker(env=env, log_path=tmp_path / "worker.log"):
        yield tmp_path / "mail", tmp_path / "worker.log"


def wait_for_code(mail_dir: Path, log: Path, timeout: float = 45) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sorted(mail_dir.glob("*.log")) if mail_dir.exists() else []:
            match = re.search(r"sign-in code is (\d{6})", message.read_text())
            if match:
                return match.group(1)
        time.sleep(0.2)
    pytest.fail("no 2FA email from the worker; its log:\n" + log.read_text()[-3000:])


@pytest.fixture
def through_broker():
    """Tasks go to Redis instead of running in this process."""
    with celery_conf(task_always_eager=False):
        yield


def test_two_factor_email_is_sent_by_a_real_worker(api, user, settings, worker, through_broker):
    settings.AUTH_2FA = "required"
    mail_dir, log = worker

    response = api.post("/api/auth/login/", {"email": user.email, "password": PASSWORD, "transport": "body"},
                        format="json")
    assert response.status_code == 200
    code = wait_for_code(mail_dir, log)

    done = api.post("/api/auth/login/2fa/", {"code": code, "challenge": response.json()["challenge"],
                                              "transport": "body"}, format="json")
    assert done.status_code == 200, done.content
    assert api.get("/api/auth/me/", **bearer(done.json()["access"])).status_code == 200
    # The worker logged the task, not the code.
    assert code not in log.read_text()
