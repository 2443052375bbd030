"""
The projects under test, authsvc (signing ES256, its default, and again with
JWT_ALGORITHM=HS256 on a database of its own) and the stock simplejwt peer,
and their gunicorn servers: the same settings for all but for what only
authsvc has (2FA, rate limits, Redis), so that the numbers compare the code,
not the setup. The example resource server is in ``resource.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import CONN_MAX_AGE, PG, PYTHON, ROOT
from .procs import base_env, children, free_port, log, spawned

GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
SECRET_KEY = "bench-only-secret-key-" + "k" * 40
# The service the example resource server reads the revocation feed as (authsvc's INTROSPECTION_CLIENTS).
FEED_CLIENT = "bench-resource:bench-only-feed-secret"


@dataclass
class Project:
    """authsvc or the stock peer, on one database."""

    kind: str  # "authsvc" | "stock" | "resource" (the example resource server, in front of an authsvc)
    database: str
    redis_url: str
    label: str = ""  # the name in the report, when one kind runs twice (authsvc-hs256)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label or self.kind

    @property
    def url(self) -> str:
        return f"{PG}/{self.database}"

    def env(self) -> dict[str, str]:
        env = base_env()
        env.update({
            "DATABASE_URL": self.url,
            "SECRET_KEY": SECRET_KEY,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "CONN_MAX_AGE": CONN_MAX_AGE,
        })
        if self.kind == "authsvc":
            env.update({
                "DJANGO_SETTINGS_MODULE": "authsvc.settings",
                "REDIS_URL": self.redis_url,
                "SECURE_SSL_REDIRECT": "0",
                "AUTH_2FA": "off",
                "RATELIMIT_ENABLE": "0",
                "LOG_LEVEL": "WARNING",
                "INTROSPECTION_CLIENTS": FEED_CLIENT,
                # Two authsvc servers share the bench's Redis database, never its keys.
                "CACHE_KEY_PREFIX": self.database,
            })
        else:
            env["DJANGO_SETTINGS_MODULE"] = "bench.stock.settings"
        env.update(self.extra_env)
        return env

    def manage(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "django", *args]

    @property
    def wsgi(self) -> str:
        return "authsvc.wsgi:application" if self.kind == "authsvc" else "bench.stock.wsgi:application"

    # Paths
    @property
    def login_path(self) -> str:
        return "/api/auth/login/" if self.kind == "authsvc" else "/api/token/"

    @property
    def refresh_path(self) -> str:
        return "/api/auth/refresh/" if self.kind == "authsvc" else "/api/token/refresh/"

    @property
    def me_path(self) -> str:
        return {"authsvc": "/api/auth/me/", "stock": "/me", "resource": "/orders"}[self.kind]

    # Tables
    @property
    def token_tables(self) -> list[str]:
        if self.kind == "authsvc":
            return ["tokens_refreshtoken", "tokens_session"]
        return ["token_blacklist_blacklistedtoken", "token_blacklist_outstandingtoken"]

    def user_email(self, index: int) -> str:
        return f"bench-{index}@example.com"

    def user_login(self, index: int) -> str:
        return self.user_email(index) if self.kind == "authsvc" else f"bench-{index}"


@dataclass
class Server:
    project: Project
    workers: int
    profile: bool = False
    port: int = 0
    process: subprocess.Popen | None = None
    log: Path | None = None

    def gunicorn_args(self) -> list[str]:
        return [
            GUNICORN, self.project.wsgi,
            "--workers", str(self.workers), "--worker-class", "sync",
            "--bind", f"127.0.0.1:{self.port}", "--backlog", "2048",
            "--timeout", "60", "--log-level", "warning", "--chdir", str(ROOT),
        ]

    def env(self) -> dict[str, str]:
        return self.project.env()

    def ready(self) -> bool:
        """Serving: the protected path refuses a request without a token."""
        return http_request(self.port, "GET", self.project.me_path)[0] == 401

    def start(self) -> None:
        self.port = free_port()
        args = self.gunicorn_args()
        self.log = Path(tempfile.gettempdir()) / f"authsvc-bench-{self.project.name}-{self.project.database}.log"
        if self.profile:
            # py-spy starts gunicorn itself (attaching to a running process is not possible on every
            # machine) and samples the master and its workers; the flame graph is written when it stops.
            svg = self.log.with_suffix(".svg")
            args = [str(Path(PYTHON).with_name("py-spy")), "record", "--subprocesses", "--rate", "250",
                    "--output", str(svg), "--", *args]
            log(f"profiling {self.project.name} with py-spy: {svg}")
        with self.log.open("w") as log_file:
            self.process = subprocess.Popen(args, env=self.env(), cwd=ROOT, stdout=log_file,
                                            stderr=subprocess.STDOUT)
        spawned.append(self.process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn for {self.project.name} exited with {self.process.returncode}:\n"
                                 f"{self.log.read_text()[-3000:]}")
            try:
                if self.ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn for {self.project.name} did not answer within 60 s")

    def master_pid(self) -> int | None:
        if not self.process:
            return None
        if not self.profile:
            return self.process.pid
        below = children(self.process.pid)  # py-spy → gunicorn master
        return below[0] if below else None

    def worker_pids(self) -> list[int]:
        master = self.master_pid()
        return children(master) if master else []

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # Under py-spy, gunicorn's exit makes py-spy write its flame graph and exit too.
            os.kill(self.master_pid() or self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def http_request(port: int, method: str, path: str, body: dict | None = None,
                 headers: dict | None = None) -> tuple[int, dict, http.client.HTTPMessage]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json"} if payload else {}
        all_headers.update(headers or {})
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        raw = response.read()
        data = json.loads(raw) if raw and response.getheader("Content-Type", "").startswith("application/json") else {}
        return response.status, data, response.msg
    finally:
        conn.close()
