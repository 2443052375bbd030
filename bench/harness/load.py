"""
Load: the virtual users' logins, one timed wrk run with the CPU that wrk, the
gunicorn workers and the PostgreSQL backends used during it, and the load
phase, which alternates the cases so that neither server gets the quieter turn.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from .config import BENCH, PASSWORD, PG, Config
from .procs import cpu_seconds, log, machine_busy, run_measured
from .servers import Server, http_request

WRK_SCRIPT = BENCH / "wrk.lua"


def cookie_value(message: http.client.HTTPMessage, name: str) -> str:
    for header in message.get_all("Set-Cookie") or []:
        match = re.match(rf"{name}=([^;]*)", header)
        if match:
            return match.group(1)
    raise RuntimeError(f"no {name} cookie in the response")


def login(server: Server, index: int, transport: str) -> tuple[str, str, str]:
    """One virtual user's login: (access, refresh, csrftoken or '-')."""
    issuer = getattr(server, "issuer", None)
    if issuer is not None:  # the example resource server: its users sign in at authsvc
        return login(issuer, index, transport)
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
    server: str  # "authsvc" | "authsvc-hs256" | "stock" | "resource"
    endpoint: str  # "refresh" | "me" | "orders" (the resource server's GET, as "me" is authsvc's)
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
    if endpoint != "refresh" and access is not None:
        tokens = access.get(server, concurrency)
    else:
        tokens = login_all(server, concurrency, "cookie" if transport == "cookie" else "body")
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as handle:
        handle.write("".join(f"{a} {r} {c}\n" for a, r, c in tokens))
        token_file = handle.name
    mode = f"refresh_{transport}" if endpoint == "refresh" else "me"
    path = project.refresh_path if endpoint == "refresh" else project.me_path
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
    run = Run(server=project.name, endpoint=endpoint, transport=transport, concurrency=concurrency, rep=rep,
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


# --- the load phase ---------------------------------------------------------------------------

# Per repetition and concurrency, in this order (reversed every other
# repetition). GET /me runs need no login (AccessTokens), so they are run
# twice, in an order that reads the same backwards (A-B-C-R-C-B-A): their
# margins are the thinner ones, and each pair has the same share of a drift.
# authsvc signs ES256 (its default); authsvc-hs256 is the same code with
# JWT_ALGORITHM=HS256, what stock signs with: the cost of the switch. The
# resource server's GET /orders verifies authsvc's tokens locally.
LOAD_CASES = [  # (server, endpoint, transport)
    ("authsvc", "refresh", "body"),
    ("stock", "refresh", "body"),
    ("authsvc", "refresh", "cookie"),
    ("authsvc-hs256", "refresh", "body"),
    ("authsvc", "me", "bearer"),
    ("stock", "me", "bearer"),
    ("authsvc-hs256", "me", "bearer"),
    ("resource", "orders", "bearer"),
    ("authsvc-hs256", "me", "bearer"),
    ("stock", "me", "bearer"),
    ("authsvc", "me", "bearer"),
]


def load_phase(cfg: Config, wrk: str, servers: dict[str, Server]) -> list[Run]:
    runs: list[Run] = []
    access = AccessTokens()
    if not cfg.smoke:
        log("warm-up")
        for server in servers.values():
            resource = server.project.kind == "resource"
            for endpoint, transport in (("orders", "bearer"),) if resource else (("refresh", "body"), ("me", "bearer")):
                timed_run(wrk, server, endpoint=endpoint, transport=transport, concurrency=max(cfg.concurrency),
                          rep=0, duration=1)
    for rep in range(1, cfg.reps + 1):
        cases = LOAD_CASES if rep % 2 else list(reversed(LOAD_CASES))
        for concurrency in cfg.concurrency:
            for kind, endpoint, transport in cases:
                run = timed_run(wrk, servers[kind], endpoint=endpoint, transport=transport,
                                concurrency=concurrency, rep=rep, duration=cfg.duration, access=access)
                runs.append(run)
                log(f"rep {rep} c={concurrency:<2} {kind:13} {endpoint:7} {transport:6} "
                    f"{run.rps:8.1f}/s p50 {run.p50_ms:6.2f} p99 {run.p99_ms:6.2f} ms errors {run.errors} "
                    f"| wrk {run.client_cpu_pct:4.1f}% app {run.app_cpu_ms:.2f} db {run.db_cpu_ms:.2f} ms/req "
                    f"| machine {run.machine_busy_pct:.0f}%")
    return runs
