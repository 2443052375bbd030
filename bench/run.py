"""
authsvc against a stock simplejwt peer, on the local PostgreSQL and Redis.

    .venv/bin/python bench/run.py            # the full bench (make bench), ~10 min, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --smoke    # seconds per phase, tiny tables (make bench-smoke)

What it does, in order:

1. Databases, created when missing and migrated, on the PostgreSQL server at
   ``BENCH_PG`` (default ``postgres://root@127.0.0.1:5432``): ``bench_authsvc``
   and ``bench_stock`` for the load, ``bench_rows_10000`` and
   ``bench_rows_1000000`` for refresh latency against table size,
   ``bench_purge_authsvc`` and ``bench_purge_stock`` for the purges (smoke mode:
   ``bench_smoke_*``). Token tables are emptied first, so every run starts
   from the same state. Redis: database 2 (smoke: 3).
2. Servers: authsvc (``authsvc.wsgi``) and the stock simplejwt project
   (``bench/stock``), each under gunicorn with the same sync worker count,
   ``DEBUG=0``, persistent health-checked connections (same
   ``CONN_MAX_AGE``) and the same Argon2 hasher; authsvc with
   ``AUTH_2FA=off`` and ``RATELIMIT_ENABLE=0``.
3. Load: wrk with ``bench/wrk.lua``, one connection per thread, one thread per
   virtual user, at each concurrency. Before each refresh run every virtual
   user logs in; during it, it chains its refresh tokens. Per (repetition,
   concurrency), in an order reversed every other repetition: authsvc refresh
   (body), stock refresh (body), authsvc refresh (cookie + CSRF header), then
   ``GET /me`` A-B-B-A (authsvc ``/api/auth/me/``, stock ``/me``, with access
   tokens from logins kept across runs). Reported: medians, and the CPU that
   wrk, the gunicorn workers and the PostgreSQL backends used per request.
4. Table size: the two ``bench_rows_*`` databases get 10k and 1M dead rows
   (bulk SQL); their servers are measured in alternation.
5. Purge: 100k and 1M dead rows (70% expired, 30% revoked), by bulk SQL, in
   authsvc's tables and in stock's OutstandingToken/BlacklistedToken; then
   ``manage.py purge_tokens`` against stock's ``manage.py
   flushexpiredtokens``, wall time and peak RSS of the command's process.

``--profile`` runs the load phase under py-spy instead (flame graphs in the
temp directory; its numbers are not comparable).

Only loopback addresses are contacted; every request loop is bounded in time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
WRK_SCRIPT = BENCH / "wrk.lua"
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"

PG = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
PASSWORD = "bench passphrase, long enough 42"
SECRET_KEY = "bench-only-secret-key-" + "k" * 40
CONN_MAX_AGE = "600"
SESSIONS_PER_FILL = 4  # refresh records per filled session: a login and three rotations


# --- configuration ------------------------------------------------------------------------


@dataclass
class Config:
    smoke: bool
    workers: int
    duration: int
    reps: int
    concurrency: list[int]
    latency_rows: list[int]
    latency_concurrency: int
    purge_rows: list[int]
    db_prefix: str
    redis_url: str
    output: Path
    json_output: Path | None
    skip_purge: bool
    profile: bool
    command: str


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny durations and tables: checks the bench works")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers per server (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per timed run (default 5; smoke 1)")
    parser.add_argument("--reps", type=int, help="alternating repetitions (default 3; smoke 1)")
    parser.add_argument("--concurrency", help="comma-separated (default 4,8,16; smoke 2)")
    parser.add_argument("--latency-rows", help="dead rows for the latency runs (default 10000,1000000)")
    parser.add_argument("--purge-rows", help="dead rows for the purge runs (default 100000,1000000)")
    parser.add_argument("--skip-purge", action="store_true", help="no table-size and purge phases")
    parser.add_argument("--output", type=Path, help="markdown report (default bench/RESULTS.md)")
    parser.add_argument("--json", type=Path, dest="json_output", help="also write the raw results as JSON")
    parser.add_argument("--profile", action="store_true",
                        help="run the load servers under py-spy (flame graphs in the temp dir; numbers not valid)")
    args = parser.parse_args(argv)
    smoke = args.smoke

    def ints(text: str | None, default: str) -> list[int]:
        return [int(part) for part in (text or default).split(",")]

    default_output = Path(tempfile.gettempdir()) / "authsvc-bench-smoke.md" if smoke else BENCH / "RESULTS.md"
    return Config(
        smoke=smoke,
        workers=args.workers,
        duration=args.duration or (1 if smoke else 5),
        reps=args.reps or (1 if smoke else 3),
        concurrency=ints(args.concurrency, "2" if smoke else "4,8,16"),
        latency_rows=ints(args.latency_rows, "100,1000" if smoke else "10000,1000000"),
        latency_concurrency=2 if smoke else 4,
        purge_rows=ints(args.purge_rows, "1000,2000" if smoke else "100000,1000000"),
        db_prefix="bench_smoke" if smoke else "bench",
        redis_url=f"redis://127.0.0.1:6379/{3 if smoke else 2}",
        output=args.output or default_output,
        json_output=args.json_output,
        skip_purge=args.skip_purge or args.profile,
        profile=args.profile,
        command=" ".join(["bench/run.py", *argv]) if argv else "make bench  (= .venv/bin/python bench/run.py)",
    )


# --- processes ----------------------------------------------------------------------------

_started: list[subprocess.Popen] = []


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    """The caller's environment without anything that would point a project elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "PYTHONPATH"}}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_checked(args: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing: installing Debian's package")
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed (apt-get install wrk)")
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


# --- projects and servers -----------------------------------------------------------------


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


def ensure_database(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(project: Project, users: int) -> int:
    """Create and migrate the database, empty the token tables, create the users; the filler user's id."""
    ensure_database(project.database)
    run_checked(project.manage("migrate", "--noinput", "-v", "0"), project.env(), f"migrate {project.database}")
    truncate(project)
    if project.kind == "authsvc":
        code = (
            "from django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            f"for i in range({users}):\n"
            "    email = f'bench-{i}@example.com'\n"
            "    if not User.objects.filter(email=email).exists():\n"
            f"        User.objects.create_user(email=email, password={PASSWORD!r})\n"
            "filler = User.objects.filter(email='bench-filler@example.com').first()\n"
            "filler = filler or User.objects.create_user(email='bench-filler@example.com', password=None)\n"
            "print(filler.pk)\n"
        )
    else:
        code = (
            "from django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            f"for i in range({users}):\n"
            "    if not User.objects.filter(username=f'bench-{i}').exists():\n"
            f"        User.objects.create_user(username=f'bench-{{i}}', email=f'bench-{{i}}@example.com', "
            f"password={PASSWORD!r})\n"
            "filler = User.objects.filter(username='bench-filler').first()\n"
            "filler = filler or User.objects.create_user(username='bench-filler', password=None)\n"
            "print(filler.pk)\n"
        )
    out = run_checked(project.manage("shell", "-c", code), project.env(), f"users in {project.database}")
    return int(out.strip().splitlines()[-1])


def truncate(project: Project) -> None:
    with psycopg.connect(project.url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(project.token_tables)} CASCADE")


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
        _started.append(self.process)
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


def cookie_value(message: http.client.HTTPMessage, name: str) -> str:
    for header in message.get_all("Set-Cookie") or []:
        match = re.match(rf"{name}=([^;]*)", header)
        if match:
            return match.group(1)
    raise RuntimeError(f"no {name} cookie in the response")


def login(server: Server, index: int, transport: str) -> tuple[str, str, str]:
    """One virtual user's login: (access, refresh, csrftoken or '-')."""
    project = server.project
    if project.kind == "stock":
        status, data, _ = http_request(server.port, "POST", project.login_path,
                                       {"username": project.user_login(index), "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"stock login answered {status}: {data}")
        return data["access"], data["refresh"], "-"
    body = {"email": project.user_login(index), "password": PASSWORD, "transport": transport}
    if transport == "body":
        status, data, _ = http_request(server.port, "POST", project.login_path, body)
        if status != 200:
            raise RuntimeError(f"authsvc login answered {status}: {data}")
        return data["access"], data["refresh"], "-"
    status, data, message = http_request(server.port, "GET", "/api/auth/csrf/")
    csrf = cookie_value(message, "csrftoken")
    status, data, message = http_request(server.port, "POST", project.login_path, body)
    if status != 200:
        raise RuntimeError(f"authsvc cookie login answered {status}: {data}")
    return cookie_value(message, "access_token"), cookie_value(message, "refresh_token"), csrf


def login_all(server: Server, count: int, transport: str) -> list[tuple[str, str, str]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda i: login(server, i, transport), range(count)))


# --- one timed run ------------------------------------------------------------------------


@dataclass
class Run:
    server: str  # "authsvc" | "stock"
    endpoint: str  # "refresh" | "me"
    transport: str  # "body" | "cookie" | "bearer"
    concurrency: int
    rep: int
    label: str = ""
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    client_cpu_pct: float = 0.0  # wrk's CPU, % of one core
    app_cpu_ms: float = 0.0  # gunicorn workers' CPU per request
    db_cpu_ms: float = 0.0  # PostgreSQL backends' CPU per request
    machine_busy_pct: float = 0.0  # all CPUs, during the run
    raw: dict = field(default_factory=dict)


def db_backend_pids(database: str) -> list[int]:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        ).fetchall()
    return [row[0] for row in rows]


@dataclass
class Measured:
    returncode: int
    output: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float


def run_measured(args: list[str], env: dict[str, str], timeout: float) -> Measured:
    """Run a command to completion; its wall time, CPU and peak RSS (from wait4, this child only)."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        _started.append(process)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return Measured(
            returncode=process.returncode,
            output=out.read(),
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        )


class AccessTokens:
    """
    Logged-in virtual users for the GET /me runs, kept across runs. (A refresh
    run always logs in afresh: when wrk stops, each connection's last refresh
    may have rotated on the server unseen, so its chain cannot go on.)
    """

    MAX_AGE = 600  # seconds; access tokens live 15 minutes

    def __init__(self) -> None:
        self._pools: dict[tuple[int, int], tuple[float, list[tuple[str, str, str]]]] = {}

    def get(self, server: Server, concurrency: int) -> list[tuple[str, str, str]]:
        key = (server.port, concurrency)
        pool = self._pools.get(key)
        if pool is None or time.monotonic() - pool[0] > self.MAX_AGE:
            pool = (time.monotonic(), login_all(server, concurrency, "body"))
            self._pools[key] = pool
        return pool[1]

    def forget(self, server: Server, concurrency: int) -> None:
        self._pools.pop((server.port, concurrency), None)


def timed_run(wrk: str, server: Server, *, endpoint: str, transport: str, concurrency: int, rep: int,
              duration: int, label: str = "", access: AccessTokens | None = None) -> Run:
    project = server.project
    if endpoint == "me" and access is not None:
        tokens = access.get(server, concurrency)
    else:
        tokens = login_all(server, concurrency, "cookie" if transport == "cookie" else "body")
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as handle:
        handle.write("".join(f"{a} {r} {c}\n" for a, r, c in tokens))
        token_file = handle.name
    mode = "me" if endpoint == "me" else f"refresh_{transport}"
    path = project.me_path if endpoint == "me" else project.refresh_path
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_TOKENS": token_file}
    args = [wrk, "-t", str(concurrency), "-c", str(concurrency), "-d", f"{duration}s", "--timeout", "10s",
            "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{server.port}{path}"]
    workers = server.worker_pids()
    app_before = {pid: cpu_seconds(pid) for pid in workers}
    db_before = {pid: cpu_seconds(pid) for pid in db_backend_pids(project.database)}
    busy_before = machine_busy()
    try:
        measured = run_measured(args, env, timeout=duration + 60)
    finally:
        os.unlink(token_file)
    busy_after = machine_busy()
    app_cpu = sum(cpu_seconds(pid) - app_before[pid] for pid in workers)
    db_cpu = sum(cpu_seconds(pid) - db_before.get(pid, 0.0) for pid in db_backend_pids(project.database))
    match = re.search(r"^BENCH_JSON (.*)$", measured.output, re.MULTILINE)
    if measured.returncode != 0 or not match:
        raise SystemExit(f"wrk failed ({measured.returncode}):\n{measured.output}")
    data = json.loads(match.group(1))
    run = Run(server=project.kind, endpoint=endpoint, transport=transport, concurrency=concurrency, rep=rep,
              label=label, raw=data)
    run.requests = data["requests"]
    run.rps = data["requests"] / (data["duration_us"] / 1e6)
    run.p50_ms, run.p95_ms, run.p99_ms = (data[k] / 1000 for k in ("p50_us", "p95_us", "p99_us"))
    run.errors = sum(data[k] for k in ("non_200", "chain_breaks", "connect_errors", "read_errors",
                                      "write_errors", "timeouts"))
    if run.errors and access is not None:
        access.forget(server, concurrency)
    requests = max(run.requests, 1)
    run.app_cpu_ms = app_cpu * 1000 / requests
    run.db_cpu_ms = db_cpu * 1000 / requests
    run.client_cpu_pct = 100 * measured.cpu_s / measured.wall_s
    busy, total = busy_after[0] - busy_before[0], busy_after[1] - busy_before[1]
    run.machine_busy_pct = 100 * busy / total if total else 0.0
    return run


# --- bulk rows ------------------------------------------------------------------------------

# authsvc: one session per SESSIONS_PER_FILL refresh records. Of the sessions,
# 40% are past their absolute expiry, 30% idle (every refresh record expired,
# last used 20 days ago), 30% revoked 8 days ago (past the 7-day retention):
# 70% expired, 30% revoked. Every refresh record has expired (a 7-day token
# issued 21 days ago); the first three of each session were rotated.
AUTHSVC_FILL = """
INSERT INTO tokens_session (id, user_id, created_at, last_used_at, expires_at, user_agent, ip,
                            revoked_at, revoke_reason, revoked_by, auth_epoch)
SELECT md5(%(seed)s || ':s:' || g)::uuid, %(user_id)s,
       CASE WHEN g %% 10 < 4 THEN now() - interval '40 days' ELSE now() - interval '25 days' END,
       now() - interval '20 days',
       CASE WHEN g %% 10 < 4 THEN now() - interval '10 days' ELSE now() + interval '5 days' END,
       'bench-fill', '127.0.0.1',
       CASE WHEN g %% 10 >= 7 THEN now() - interval '8 days' END,
       CASE WHEN g %% 10 >= 7 THEN 'logout' ELSE '' END,
       '', 0
FROM generate_series(1, %(sessions)s) AS g;

INSERT INTO tokens_refreshtoken (jti, session_id, issued_at, expires_at, used_at, replaced_by)
SELECT md5(%(seed)s || ':r:' || g)::uuid,
       md5(%(seed)s || ':s:' || ((g - 1) / %(per)s + 1))::uuid,
       now() - interval '21 days' + (g %% %(per)s) * interval '10 minutes',
       now() - interval '14 days' + (g %% %(per)s) * interval '10 minutes',
       CASE WHEN g %% %(per)s <> 0 THEN now() - interval '21 days' + (g %% %(per)s + 1) * interval '10 minutes' END,
       CASE WHEN g %% %(per)s <> 0 THEN md5(%(seed)s || ':r:' || (g + 1))::uuid END
FROM generate_series(1, %(rows)s) AS g;
"""

# stock: one OutstandingToken per refresh token ever issued (the whole JWT is
# stored, ~230 characters), all past expiry; 30% of them blacklisted.
STOCK_FILL = """
WITH issued AS (
    INSERT INTO token_blacklist_outstandingtoken (user_id, jti, token, created_at, expires_at)
    SELECT %(user_id)s, md5(%(seed)s || ':o:' || g),
           'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' || repeat(md5(%(seed)s || g::text), 6),
           now() - interval '21 days', now() - interval '14 days'
    FROM generate_series(1, %(rows)s) AS g
    RETURNING id
)
INSERT INTO token_blacklist_blacklistedtoken (token_id, blacklisted_at)
SELECT id, now() - interval '20 days' FROM issued WHERE id %% 10 >= 7;
"""


def fill(project: Project, rows: int, user_id: int) -> float:
    """Add ``rows`` dead token rows by bulk SQL (then ANALYZE, as autovacuum would); seconds taken."""
    started = time.perf_counter()
    params = {"seed": uuid.uuid4().hex, "user_id": user_id, "rows": rows,
              "sessions": -(-rows // SESSIONS_PER_FILL), "per": SESSIONS_PER_FILL}
    with psycopg.connect(project.url, autocommit=True) as conn:
        with conn.transaction():
            for statement in (AUTHSVC_FILL if project.kind == "authsvc" else STOCK_FILL).split(";\n\n"):
                conn.execute(statement, params)
        for table in project.token_tables:
            conn.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def table_counts(project: Project) -> dict[str, int]:
    with psycopg.connect(project.url, autocommit=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in project.token_tables}


def checkpoint(project: Project) -> None:
    with psycopg.connect(project.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


# --- phases -----------------------------------------------------------------------------------

# Per repetition and concurrency, in this order (reversed every other
# repetition). GET /me runs need no login (AccessTokens), so they are run
# twice, A-B-B-A: their margin is the thinner one.
LOAD_CASES = [  # (server, endpoint, transport)
    ("authsvc", "refresh", "body"),
    ("stock", "refresh", "body"),
    ("authsvc", "refresh", "cookie"),
    ("authsvc", "me", "bearer"),
    ("stock", "me", "bearer"),
    ("stock", "me", "bearer"),
    ("authsvc", "me", "bearer"),
]


def load_phase(cfg: Config, wrk: str, servers: dict[str, Server]) -> list[Run]:
    runs: list[Run] = []
    access = AccessTokens()
    if not cfg.smoke:
        log("warm-up")
        for server in servers.values():
            for endpoint, transport in (("refresh", "body"), ("me", "bearer")):
                timed_run(wrk, server, endpoint=endpoint, transport=transport, concurrency=max(cfg.concurrency),
                          rep=0, duration=1)
    for rep in range(1, cfg.reps + 1):
        cases = LOAD_CASES if rep % 2 else list(reversed(LOAD_CASES))
        for concurrency in cfg.concurrency:
            for kind, endpoint, transport in cases:
                run = timed_run(wrk, servers[kind], endpoint=endpoint, transport=transport,
                                concurrency=concurrency, rep=rep, duration=cfg.duration, access=access)
                runs.append(run)
                log(f"rep {rep} c={concurrency:<2} {kind:7} {endpoint:7} {transport:6} "
                    f"{run.rps:8.1f}/s p50 {run.p50_ms:6.2f} p99 {run.p99_ms:6.2f} ms errors {run.errors} "
                    f"| wrk {run.client_cpu_pct:4.1f}% app {run.app_cpu_ms:.2f} db {run.db_cpu_ms:.2f} ms/req "
                    f"| machine {run.machine_busy_pct:.0f}%")
    return runs


def table_size_phase(cfg: Config, wrk: str, users: int) -> tuple[list[Run], dict]:
    """Refresh latency on the same server code with small and big token tables, in alternation."""
    runs: list[Run] = []
    servers = []
    info = {}

    def filled(rows: int) -> Project:
        project = Project("authsvc", f"{cfg.db_prefix}_rows_{rows}", cfg.redis_url)
        seconds = fill(project, rows, prepare(project, users))
        checkpoint(project)
        info[rows] = {"fill_s": seconds, "counts": table_counts(project)}
        log(f"{project.database}: {rows} dead rows in {seconds:.1f} s {info[rows]['counts']}")
        return project

    with ThreadPoolExecutor(max_workers=2) as pool:
        projects = list(pool.map(filled, cfg.latency_rows))
    try:
        for rows, project in zip(cfg.latency_rows, projects):
            server = Server(project, cfg.workers)
            servers.append((rows, server))
            server.start()
            timed_run(wrk, server, endpoint="refresh", transport="body", concurrency=cfg.latency_concurrency,
                      rep=0, duration=1)
        for rep in range(1, cfg.reps + 1):
            order = servers if rep % 2 else list(reversed(servers))
            for rows, server in order:
                run = timed_run(wrk, server, endpoint="refresh", transport="body",
                                concurrency=cfg.latency_concurrency, rep=rep, duration=cfg.duration,
                                label=str(rows))
                runs.append(run)
                log(f"rep {rep} rows={rows:<8} refresh {run.rps:8.1f}/s p50 {run.p50_ms:6.2f} "
                    f"p99 {run.p99_ms:6.2f} ms errors {run.errors}")
    finally:
        for _, server in servers:
            server.stop()
        for project in projects:
            truncate(project)  # give the disk back
    return runs, info


def purge_phase(cfg: Config) -> list[dict]:
    results = []
    projects = [Project(kind, f"{cfg.db_prefix}_purge_{kind}", cfg.redis_url) for kind in ("authsvc", "stock")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        fillers = list(pool.map(lambda project: prepare(project, 0), projects))
    for project, filler in zip(projects, fillers):
        kind = project.kind
        for rows in cfg.purge_rows:
            truncate(project)
            seconds = fill(project, rows, filler)
            checkpoint(project)
            before = table_counts(project)
            command = ("purge_tokens",) if kind == "authsvc" else ("flushexpiredtokens",)
            log(f"{kind}: {rows} dead rows filled in {seconds:.1f} s {before}; running {command[0]}")
            measured = run_measured(project.manage(*command), project.env(), timeout=3600)
            if measured.returncode != 0:
                raise SystemExit(f"{command[0]} failed:\n{measured.output}")
            after = table_counts(project)
            results.append({
                "server": kind, "rows": rows, "command": f"manage.py {command[0]}",
                "wall_s": measured.wall_s, "cpu_s": measured.cpu_s, "max_rss_mb": measured.max_rss_mb,
                "before": before, "after": after,
            })
            log(f"{kind}: {command[0]} on {rows} rows: {measured.wall_s:.2f} s, "
                f"peak RSS {measured.max_rss_mb:.0f} MB, left {after}")
        truncate(project)  # the deleted rows' space goes back to the disk at once
    return results


# --- report -------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(runs: list[Run]) -> list[dict]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault((run.endpoint, run.transport, run.concurrency, run.server, run.label), []).append(run)
    rows = []
    for (endpoint, transport, concurrency, server, label), group in groups.items():
        rows.append({
            "endpoint": endpoint, "transport": transport, "concurrency": concurrency, "server": server,
            "label": label, "runs": len(group),
            "rps": median([r.rps for r in group]),
            "p50_ms": median([r.p50_ms for r in group]),
            "p95_ms": median([r.p95_ms for r in group]),
            "p99_ms": median([r.p99_ms for r in group]),
            "errors": sum(r.errors for r in group),
            "requests": sum(r.requests for r in group),
            "client_cpu_pct": median([r.client_cpu_pct for r in group]),
            "client_cpu_max_pct": max(r.client_cpu_pct for r in group),
            "app_cpu_ms": median([r.app_cpu_ms for r in group]),
            "db_cpu_ms": median([r.db_cpu_ms for r in group]),
            "machine_busy_pct": median([r.machine_busy_pct for r in group]),
        })
    return rows


def find(summary: list[dict], **match) -> dict | None:
    for row in summary:
        if all(row[k] == v for k, v in match.items()):
            return row
    return None


def ratio(a: float | None, b: float | None) -> float:
    return a / b if a and b else float("nan")


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def machine_info() -> dict:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        pg_settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                       for name in ("shared_buffers", "synchronous_commit", "fsync")}
    versions = {}
    for package in ("Django", "djangorestframework", "djangorestframework-simplejwt", "gunicorn", "psycopg"):
        try:
            from importlib.metadata import version
            versions[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is reported as such
            versions[package] = "?"
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "nproc": os.cpu_count(), "cpu": model, "memory_gib": mem_kb / 1024 / 1024,
        "python": platform.python_version(), "postgresql": pg_version, "pg_settings": pg_settings,
        "versions": versions, "wrk": wrk_version.split(" [")[0],
    }


def render(cfg: Config, machine: dict, load: list[Run], latency: list[Run], latency_info: dict,
           purges: list[dict], started: datetime, elapsed: float) -> tuple[str, dict]:
    summary = summarize(load)
    lat_summary = summarize(latency)
    lines: list[str] = []
    out = lines.append
    target_c = 8 if 8 in cfg.concurrency else cfg.concurrency[len(cfg.concurrency) // 2]

    out(f"Date: {started.strftime('%Y-%m-%d %H:%M UTC')} (took {elapsed / 60:.1f} min)  ")
    out(f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory_gib']:.1f} GiB RAM, shared with "
        f"other work (see \"machine busy\"); PostgreSQL {machine['postgresql']} "
        f"(shared_buffers {machine['pg_settings']['shared_buffers']}, synchronous_commit "
        f"{machine['pg_settings']['synchronous_commit']}, fsync {machine['pg_settings']['fsync']}), Redis on "
        f"127.0.0.1; Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()) + f"; {machine['wrk']}  ")
    out(f"Command: `{cfg.command}`{' (smoke mode: numbers mean nothing)' if cfg.smoke else ''}  ")
    out(f"Servers: gunicorn, {cfg.workers} sync workers each, one server loaded at a time; DEBUG=0, "
        f"CONN_MAX_AGE={CONN_MAX_AGE} with health checks, Argon2 (Django defaults) for both; authsvc with "
        f"AUTH_2FA=off, RATELIMIT_ENABLE=0, SECURE_SSL_REDIRECT=0, REDIS_URL={cfg.redis_url}.  ")
    out(f"Load: wrk + bench/wrk.lua, one connection per thread = one virtual user, refresh tokens chained; "
        f"{cfg.duration} s per run; medians of {cfg.reps} repetitions, the cases alternating (order reversed "
        f"every other repetition; GET /me twice per repetition, A-B-B-A, so {2 * cfg.reps} runs each); "
        f"logins before the timed runs (a fresh one for every refresh run).")
    out("")

    # Targets
    refresh_a = find(summary, endpoint="refresh", transport="body", concurrency=target_c, server="authsvc")
    refresh_s = find(summary, endpoint="refresh", transport="body", concurrency=target_c, server="stock")
    me_a = find(summary, endpoint="me", concurrency=target_c, server="authsvc")
    me_s = find(summary, endpoint="me", concurrency=target_c, server="stock")
    targets = []
    if refresh_a and refresh_s:
        r = ratio(refresh_a["rps"], refresh_s["rps"])
        p99 = ratio(refresh_a["p99_ms"], refresh_s["p99_ms"])
        targets.append((f"refresh throughput at c={target_c} ≥ 2.0× stock, p99 no worse",
                        f"{r:.2f}×, p99 {refresh_a['p99_ms']:.1f} vs {refresh_s['p99_ms']:.1f} ms ({p99:.2f}×)",
                        r >= 2.0 and p99 <= 1.0))
    if me_a and me_s:
        r = ratio(me_a["rps"], me_s["rps"])
        targets.append((f"GET /me throughput at c={target_c} ≥ 1.0× stock", f"{r:.2f}×", r >= 1.0))
    big = max(cfg.purge_rows) if purges else None
    if purges:
        pa = next(p for p in purges if p["server"] == "authsvc" and p["rows"] == big)
        ps = next(p for p in purges if p["server"] == "stock" and p["rows"] == big)
        small = min(cfg.purge_rows)
        pa_small = next(p for p in purges if p["server"] == "authsvc" and p["rows"] == small)
        speedup = ps["wall_s"] / pa["wall_s"]
        flat = pa["max_rss_mb"] <= 1.2 * pa_small["max_rss_mb"]
        targets.append((f"purge of {big:,} dead rows ≥ 10× faster than flushexpiredtokens, peak < 150 MB "
                        f"and flat from {small:,}",
                        f"{speedup:.1f}× ({pa['wall_s']:.1f} s vs {ps['wall_s']:.1f} s); peak "
                        f"{pa['max_rss_mb']:.0f} MB at {big:,}, {pa_small['max_rss_mb']:.0f} MB at {small:,}",
                        speedup >= 10 and pa["max_rss_mb"] < 150 and flat))
    if lat_summary:
        lo, hi = min(cfg.latency_rows), max(cfg.latency_rows)
        a = find(lat_summary, label=str(lo))
        b = find(lat_summary, label=str(hi))
        if a and b:
            r = ratio(b["p50_ms"], a["p50_ms"])
            targets.append((f"refresh p50 with {hi:,} rows ≤ 1.2× p50 with {lo:,} (c={cfg.latency_concurrency})",
                            f"{r:.2f}× ({b['p50_ms']:.2f} vs {a['p50_ms']:.2f} ms)", r <= 1.2))
    out("### Targets (issue 5)")
    out("")
    out("| target | measured | |")
    out("|---|---|---|")
    for name, measured, ok in targets:
        out(f"| {name} | {measured} | {verdict(ok)} |")
    out("")

    # Load tables
    def load_table(endpoint: str, title: str) -> None:
        out(f"### {title}")
        out("")
        out("| c | server | transport | req/s | p50 ms | p95 ms | p99 ms | errors | req/s vs stock | p99 vs stock "
            "| app CPU ms/req | DB CPU ms/req | wrk CPU % of a core | machine busy % |")
        out("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for concurrency in cfg.concurrency:
            stock = find(summary, endpoint=endpoint, concurrency=concurrency, server="stock")
            rows = [r for r in summary if r["endpoint"] == endpoint and r["concurrency"] == concurrency]
            rows.sort(key=lambda r: (r["server"] != "authsvc", r["transport"]))
            for row in rows:
                is_stock = row["server"] == "stock"
                vs = "—" if is_stock else f"**{ratio(row['rps'], stock and stock['rps']):.2f}×**"
                p99 = "—" if is_stock else f"{ratio(row['p99_ms'], stock and stock['p99_ms']):.2f}×"
                out(f"| {concurrency} | {row['server']} | {row['transport']} | {row['rps']:.0f} | "
                    f"{row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {row['p99_ms']:.2f} | {row['errors']} | {vs} | "
                    f"{p99} | {row['app_cpu_ms']:.2f} | {row['db_cpu_ms']:.2f} | {row['client_cpu_pct']:.0f} "
                    f"(max {row['client_cpu_max_pct']:.0f}) | {row['machine_busy_pct']:.0f} |")
        out("")

    load_table("refresh", "Refresh: POST, each virtual user chaining its rotated refresh tokens")
    out("Errors count non-200 answers, chain breaks (a 200 without a readable new token), socket errors and "
        "timeouts, summed over the runs. Cookie transport: refresh_token + csrftoken cookies and the "
        "X-CSRFToken header (stock has no cookie transport; its body numbers are the reference). CPU per "
        "request: the gunicorn workers' and the PostgreSQL backends' utime+stime over the run, divided by the "
        "requests; wrk's own CPU is in % of one core (of 2).")
    out("")
    load_table("me", "GET /me with the access token (Bearer)")

    if lat_summary:
        out(f"### Refresh latency against table size (authsvc, body transport, c={cfg.latency_concurrency})")
        out("")
        out("| dead rows in the token tables | rows (refresh records / sessions) | req/s | p50 ms | p95 ms "
            "| p99 ms | errors | DB CPU ms/req |")
        out("|---:|---|---:|---:|---:|---:|---:|---:|")
        for rows in cfg.latency_rows:
            row = find(lat_summary, label=str(rows))
            counts = latency_info[rows]["counts"]
            out(f"| {rows:,} | {counts['tokens_refreshtoken']:,} / {counts['tokens_session']:,} | "
                f"{row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {row['p99_ms']:.2f} | "
                f"{row['errors']} | {row['db_cpu_ms']:.2f} |")
        out("")
        out("Two databases filled by bulk SQL (the same mix as the purge below), one gunicorn on each, measured "
            f"in alternation, {cfg.reps} runs each.")
        out("")

    if purges:
        out("### Purge: authsvc `manage.py purge_tokens` against stock `manage.py flushexpiredtokens`")
        out("")
        out("| dead rows | command | wall s | CPU s | peak RSS MB | rows before | rows after |")
        out("|---:|---|---:|---:|---:|---|---|")
        for p in purges:
            out(f"| {p['rows']:,} | {p['server']}: `{p['command']}` | {p['wall_s']:.2f} | {p['cpu_s']:.2f} | "
                f"{p['max_rss_mb']:.0f} | {fmt_counts(p['before'])} | {fmt_counts(p['after'])} |")
        out("")
        for rows in cfg.purge_rows:
            a = next(p for p in purges if p["server"] == "authsvc" and p["rows"] == rows)
            s = next(p for p in purges if p["server"] == "stock" and p["rows"] == rows)
            out(f"- {rows:,} rows: authsvc {s['wall_s'] / a['wall_s']:.1f}× faster, "
                f"{s['max_rss_mb'] / a['max_rss_mb']:.1f}× less peak memory.")
        out("")
        out(f"authsvc rows: one session per {SESSIONS_PER_FILL} refresh records; sessions 40% past their "
            "absolute expiry, 30% idle (every refresh record expired), 30% revoked 8 days ago (past the 7-day "
            "retention); every record expired. Stock rows: one OutstandingToken per refresh token (the JWT "
            "stored), all expired, 30% of them blacklisted (BlacklistedToken rows on top). Each fill is one "
            "`INSERT … SELECT … FROM generate_series`, then VACUUM ANALYZE and CHECKPOINT before the timed "
            "command; wall time and peak RSS are the command's process (Django start-up included), from wait4.")
        out("")

    client_max = max([r.client_cpu_pct for r in load + latency] or [0])
    out(f"wrk used at most {client_max:.0f}% of one core in any run (median per case in the tables): the client "
        "is not the bottleneck.")
    out("")
    out("<details><summary>Every timed run</summary>")
    out("")
    out("| rep | c | server | endpoint | transport | label | req/s | p50 | p95 | p99 | errors | wrk CPU % "
        "| app ms/req | DB ms/req | busy % |")
    out("|---:|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in load + latency:
        out(f"| {r.rep} | {r.concurrency} | {r.server} | {r.endpoint} | {r.transport} | {r.label} | {r.rps:.0f} | "
            f"{r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.client_cpu_pct:.0f} | "
            f"{r.app_cpu_ms:.2f} | {r.db_cpu_ms:.2f} | {r.machine_busy_pct:.0f} |")
    out("")
    out("</details>")
    data = {
        "started": started.isoformat(), "elapsed_s": elapsed, "command": cfg.command, "smoke": cfg.smoke,
        "workers": cfg.workers, "machine": machine,
        "load": summary, "latency": lat_summary, "latency_info": {str(k): v for k, v in latency_info.items()},
        "purge": purges,
        "targets": [{"target": n, "measured": m, "met": ok} for n, m, ok in targets],
        "runs": [r.__dict__ for r in load + latency],
    }
    return "\n".join(lines), data


def fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{table.split('_', 1)[1]} {count:,}" for table, count in counts.items())


def write_report(path: Path, body: str) -> None:
    """Replace the generated block of the report, keeping whatever was written around it by hand."""
    block = f"{RESULTS_START}\n{body}\n{RESULTS_END}"
    if path.exists():
        text = path.read_text()
        if RESULTS_START in text and RESULTS_END in text:
            head, rest = text.split(RESULTS_START, 1)
            _, tail = rest.split(RESULTS_END, 1)
            path.write_text(head + block + tail)
            return
    path.write_text(f"# Benchmark: authsvc against stock simplejwt\n\n{block}\n")


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    cfg = parse_args(argv)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    wrk = ensure_wrk()
    users = max([*cfg.concurrency, cfg.latency_concurrency])
    machine = machine_info()
    log(f"{'smoke' if cfg.smoke else 'full'} bench: {cfg.workers} workers, {cfg.duration} s runs, "
        f"{cfg.reps} reps, c={cfg.concurrency}")

    projects = {
        "authsvc": Project("authsvc", f"{cfg.db_prefix}_authsvc", cfg.redis_url),
        "stock": Project("stock", f"{cfg.db_prefix}_stock", cfg.redis_url),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda project: prepare(project, users), projects.values()))
    servers = {kind: Server(project, cfg.workers, profile=cfg.profile) for kind, project in projects.items()}
    try:
        for server in servers.values():
            server.start()
        load = load_phase(cfg, wrk, servers)
    finally:
        for server in servers.values():
            server.stop()

    latency, latency_info, purges = [], {}, []
    if not cfg.skip_purge:
        latency, latency_info = table_size_phase(cfg, wrk, users)
        purges = purge_phase(cfg)

    body, data = render(cfg, machine, load, latency, latency_info, purges, started, time.perf_counter() - t0)
    write_report(cfg.output, body)
    if cfg.json_output:
        cfg.json_output.write_text(json.dumps(data, indent=2, default=str))
    log(f"report: {cfg.output}")
    print(body.split("### Refresh:", 1)[0])
    return 0


def _stop_started() -> None:
    for process in _started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    finally:
        _stop_started()
