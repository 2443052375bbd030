"""
The two projects under test, authsvc and the stock simplejwt peer, and their
gunicorn servers: the same settings for both but for what only authsvc has
(2FA, rate limits, Redis), so that the numbers compare the code, not the setup.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .config import CONN_MAX_AGE, PG, PYTHON, ROOT
from .procs import base_env, children, free_port, log, spawned

GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
SECRET_KEY = "bench-only-secret-key-" + "k" * 40


@dataclass
class Project:
    """authsvc or the stock peer, on one database."""

    kind: str  # "authsvc" | "stock"
    database: str
    redis_url: str

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
            })
        else:
            env["DJANGO_SETTINGS_MODULE"] = "bench.stock.settings"
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
        return "/api/auth/me/" if self.kind == "authsvc" else "/me"

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

    def start(self) -> None:
        self.port = free_port()
        args = [
            GUNICORN, self.project.wsgi,
            "--workers", str(self.workers), "--worker-class", "sync",
            "--bind", f"127.0.0.1:{self.port}", "--backlog", "2048",
            "--timeout", "60", "--log-level", "warning", "--chdir", str(ROOT),
        ]
        self.log = Path(tempfile.gettempdir()) / f"authsvc-bench-{self.project.database}.log"
        if self.profile:
            # py-spy starts gunicorn itself (attaching to a running process is not possible on every
            # machine) and samples the master and its workers; the flame graph is written when it stops.
            svg = self.log.with_suffix(".svg")
            args = [str(Path(PYTHON).with_name("py-spy")), "record", "--subprocesses", "--rate", "250",
                    "--output", str(svg), "--", *args]
            log(f"profiling {self.project.database} with py-spy: {svg}")
        with self.log.open("w") as log_file:
            self.process = subprocess.Popen(args, env=self.project.env(), cwd=ROOT, stdout=log_file,
                                            stderr=subprocess.STDOUT)
        spawned.append(self.process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn for {self.project.database} exited with {self.process.returncode}:\n"
                                 f"{self.log.read_text()[-3000:]}")
            try:
                status, _, _ = http_request(self.port, "GET", self.project.me_path)
                if status == 401:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn for {self.project.database} did not answer within 60 s")

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
