"""A real `celery -A authsvc worker` subprocess for the tests that prove tasks travel through Redis."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def database_url(settings) -> str:
    """The URL of the database this test runs on (pytest-django's test_… database), for a child process."""
    db = settings.DATABASES["default"]
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextlib.contextmanager
def celery_conf(**overrides):
    """The Celery app's settings changed for the block, then restored."""
    from authsvc import celery_app

    saved = {name: getattr(celery_app.conf, name) for name in overrides}
    celery_app.conf.update(overrides)
    try:
        yield
    finally:
        celery_app.conf.update(saved)


@contextlib.contextmanager
def celery_worker(*args: str, env: dict[str, str], log_path: Path):
    """Run a worker (extra ``args``, e.g. ``--beat``) until the block ends; its output goes to ``log_path``."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "authsvc", "worker", "--pool=solo", "--without-mingle",
             "--without-gossip", "--without-heartbeat", "-l", "info", *args],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
