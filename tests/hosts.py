"""
The service as production runs it, for the tests that prove the shipped shape.

- :func:`shipped_venv` is a virtualenv made from ``requirements.txt`` alone,
  exactly what the Dockerfile installs, built once per hash of that file (and
  of the Python that runs it) and reused across runs;
- :func:`production_env` is the environment of a production process:
  ``authsvc.settings`` with ``DEBUG=0``, TLS redirect behind a proxy that sets
  ``X-Forwarded-Proto``, the real PostgreSQL and Redis — and nothing of the
  test runner's own environment;
- :class:`Process` runs gunicorn, a Celery worker, beat or a command from that
  venv, waits until it is ready, and stops it (its output kept in a log file
  for the failure message).

Nothing here comes from the dev venv: a dependency that only the dev
requirements bring in (pytest pulling ``packaging``, say) is missing here as
it would be in the image.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

#: The marks of a test that runs production processes on the suite's
#: PostgreSQL test database and Redis (they share both with the test).
PRODUCTION_SHAPE = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL or connection.vendor != "postgresql",
        reason="needs REDIS_URL and DATABASE_URL=postgres://… (the processes share the test database)",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
# Outside the checkout, so a clean clone in CI reuses the venv of the last run.
VENV_CACHE = Path(os.environ.get("AUTHSVC_VENV_CACHE", Path.home() / ".cache" / "authsvc"))
SECRET_KEY = "production-shape-tests-only-" + "k" * 40
# What a TLS-ending proxy in front of the service adds to every request.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def stop(process: subprocess.Popen, *, timeout: float = 15, sig: int = signal.SIGTERM) -> None:
    """Ask a child process (and its process group, when it leads one) to stop; kill it if it will not."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL) if os.getpgid(process.pid) == process.pid else process.kill()
        process.wait()


def shipped_venv() -> Path:
    """The venv made from ``requirements.txt`` alone; its ``bin/python``."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]
    venv = VENV_CACHE / f"shipped-{key}"
    python = venv / "bin" / "python"
    complete = venv / ".complete"
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    with open(VENV_CACHE / f"shipped-{key}.lock", "w") as lock:
        # One builder at a time (parallel test processes, two suites at once).
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not complete.exists():
            shutil.rmtree(venv, ignore_errors=True)
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
            result = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
                 str(REQUIREMENTS)],
                capture_output=True, text=True, timeout=900,
            )
            if result.returncode != 0:
                raise RuntimeError(f"pip install -r requirements.txt failed:\n{result.stdout}\n{result.stderr}")
            complete.write_text(REQUIREMENTS.read_text())
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(*, database_url: str, redis_url: str, workdir: Path, **overrides: str) -> dict[str, str]:
    """
    A production process's environment, built from nothing: ``DEBUG=0``,
    HTTPS required behind a proxy, mail to a file outbox in ``workdir``, and
    a cache key prefix and Celery queue of its own so that runs sharing one
    Redis neither see each other's counters nor take each other's tasks.
    """
    run = uuid.uuid4().hex[:12]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "authsvc.settings",
        "DEBUG": "0",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECURE_SSL_REDIRECT": "1",
        "USE_X_FORWARDED_PROTO": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(workdir / "mail"),
        "STATIC_ROOT": str(workdir / "static"),
        "CACHE_KEY_PREFIX": f"authsvc-prod-{run}",
        "CELERY_QUEUE": f"authsvc-prod-{run}",
    }
    env.update(overrides)
    return env


class Process:
    """One production process (gunicorn, worker, beat, a command) from the shipped venv."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = workdir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            [str(shipped_venv()), *self.args], cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return f"--- {self.name} log ---\n{self.log()[-chars:]}"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not log {text!r} within {timeout} s\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.popen is None:
            return
        stop(self.popen, timeout=timeout, sig=sig)
        self._log.close()

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_command(args: list[str], *, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``python <args>`` from the shipped venv, to completion."""
    return subprocess.run([str(shipped_venv()), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


class Host(Process):
    """gunicorn serving ``authsvc.wsgi`` on a port of its own, with an HTTP client that speaks through a proxy."""

    def __init__(self, name: str, *, env: dict[str, str], workdir: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["-m", "gunicorn", "authsvc.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                "--timeout", "30", "--graceful-timeout", "5"]
        super().__init__(name, args, env=env, workdir=workdir)

    def start(self) -> Host:
        super().start()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")
            try:
                if self.get("/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not become healthy within {timeout} s\n{self.tail()}")

    def request(self, method: str, path: str, *, session: requests.Session | None = None, headers=None,
                timeout: float = 15, **kwargs) -> requests.Response:
        """A request as the TLS-ending proxy forwards it (``X-Forwarded-Proto: https``); redirects not followed."""
        sender = session or requests
        return sender.request(method, self.url + path, headers={**PROXY_HEADERS, **(headers or {})},
                              allow_redirects=False, timeout=timeout, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json=None, **kwargs) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)


def worker(*, env: dict[str, str], workdir: Path, name: str = "worker") -> Process:
    """``celery -A authsvc worker``, as docker-compose runs it (on the env's ``CELERY_QUEUE``), named apart."""
    return Process(name, ["-m", "celery", "-A", "authsvc", "worker", "--loglevel=INFO", "--concurrency", "2",
                          "--hostname", f"{name}-{uuid.uuid4().hex[:8]}@%h"],
                   env=env, workdir=workdir)


def beat(*, env: dict[str, str], workdir: Path) -> Process:
    """``celery -A authsvc beat``, its schedule file in ``workdir``."""
    return Process("beat", ["-m", "celery", "-A", "authsvc", "beat", "--loglevel=INFO",
                            "--schedule", str(workdir / "beat-schedule")], env=env, workdir=workdir)
