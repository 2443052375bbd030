"""
Load: the virtual users' logins, the two load clients (wrk, and the aiohttp
one in ``aioload.py``), one timed run with the CPU that the client, the
gunicorn workers and the PostgreSQL backends used during it, and the load
phases, which alternate the cases so that neither server gets the quieter turn:
wrk's, and the aiohttp client's against servers with more workers.
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

from .config import BENCH, PASSWORD, PG, PYTHON, Config
from .procs import base_env, cpu_seconds, log, machine_busy, run_measured
from .servers import Project, Server, http_request

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
    client: str = "wrk"  # "wrk" | "aiohttp"
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    client_cpu_pct: float = 0.0  # the load client's CPU, % of one core
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


# --- the load clients: both print one line "BENCH_JSON {...}" with the same keys -------------

ERROR_KEYS = ("non_200", "chain_breaks", "connect_errors", "read_errors", "write_errors", "timeouts")


class Wrk:
    """wrk + bench/wrk.lua: one thread, one connection, one virtual user."""

    name = "wrk"

    def __init__(self, path: str) -> None:
        self.path = path

    def command(self, url: str, mode: str, token_file: str, concurrency: int,
                duration: int) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "BENCH_MODE": mode, "BENCH_TOKENS": token_file}
        return [self.path, "-t", str(concurrency), "-c", str(concurrency), "-d", f"{duration}s",
                "--timeout", "10s", "-s", str(WRK_SCRIPT), url], env


class AioLoad:
    """bench/harness/aioload.py: one coroutine, one connection, one virtual user; body transport only."""

    name = "aiohttp"

    def command(self, url: str, mode: str, token_file: str, concurrency: int,
                duration: int) -> tuple[list[str], dict[str, str]]:
        if mode not in ("refresh_body", "me"):
            raise ValueError(f"the aiohttp client has no mode {mode}")
        return [PYTHON, "-m", "bench.harness.aioload", "--url", url, "--mode", mode.split("_")[0],
                "--tokens", token_file, "--concurrency", str(concurrency), "--duration", str(duration)], base_env()


def timed_run(client: Wrk | AioLoad | str, server: Server, *, endpoint: str, transport: str, concurrency: int,
              rep: int, duration: int, label: str = "", access: AccessTokens | None = None) -> Run:
    if isinstance(client, str):  # a path is wrk's (ensure_wrk() returns one)
        client = Wrk(client)
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
    args, env = client.command(f"http://127.0.0.1:{server.port}{path}", mode, token_file, concurrency, duration)
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
        raise SystemExit(f"{client.name} failed ({measured.returncode}):\n{measured.output}")
    data = json.loads(match.group(1))
    run = Run(server=project.name, endpoint=endpoint, transport=transport, concurrency=concurrency, rep=rep,
              label=label, client=client.name, raw=data)
    run.requests = data["requests"]
    run.rps = data["requests"] / (data["duration_us"] / 1e6)
    run.p50_ms, run.p95_ms, run.p99_ms = (data[k] / 1000 for k in ("p50_us", "p95_us", "p99_us"))
    run.errors = sum(data.get(k, 0) for k in ERROR_KEYS)
    if run.errors and access is not None:
        access.forget(server, concurrency)
    requests = max(run.requests, 1)
    run.app_cpu_ms = app_cpu * 1000 / requests
    run.db_cpu_ms = db_cpu * 1000 / requests
    if "client_cpu_s" in data:  # the aiohttp client's timed loop, without the interpreter's start-up
        run.client_cpu_pct = 100 * data["client_cpu_s"] / (data["duration_us"] / 1e6)
    else:
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
    access = AccessTokens()
    if not cfg.smoke:
        log("warm-up")
        for server in servers.values():
            resource = server.project.kind == "resource"
            for endpoint, transport in (("orders", "bearer"),) if resource else (("refresh", "body"), ("me", "bearer")):
                timed_run(wrk, server, endpoint=endpoint, transport=transport, concurrency=max(cfg.concurrency),
                          rep=0, duration=1)
    return alternating(cfg, wrk, servers, LOAD_CASES, cfg.concurrency, access)


def alternating(cfg: Config, client, servers: dict[str, Server], cases: list[tuple[str, str, str]],
                concurrencies: list[int], access: AccessTokens) -> list[Run]:
    """Every case at every concurrency, ``cfg.reps`` times, the order of the cases reversed every other time."""
    runs = []
    for rep in range(1, cfg.reps + 1):
        ordered = cases if rep % 2 else list(reversed(cases))
        for concurrency in concurrencies:
            for kind, endpoint, transport in ordered:
                run = timed_run(client, servers[kind], endpoint=endpoint, transport=transport,
                                concurrency=concurrency, rep=rep, duration=cfg.duration, access=access)
                runs.append(run)
                log_run(run)
    return runs


def log_run(run: Run) -> None:
    log(f"rep {run.rep} c={run.concurrency:<2} {run.server:13} {run.endpoint:7} {run.transport:6} "
        f"{run.rps:8.1f}/s p50 {run.p50_ms:6.2f} p99 {run.p99_ms:6.2f} ms errors {run.errors} "
        f"| {run.client} {run.client_cpu_pct:4.1f}% app {run.app_cpu_ms:.2f} db {run.db_cpu_ms:.2f} ms/req "
        f"| machine {run.machine_busy_pct:.0f}%")


# --- the second harness: the aiohttp client, servers with more workers ---------------------------

# authsvc (ES256) and stock, body transport; reversed every other repetition.
AIO_CASES = [  # (server, endpoint, transport)
    ("authsvc", "refresh", "body"),
    ("stock", "refresh", "body"),
    ("authsvc", "me", "bearer"),
    ("stock", "me", "bearer"),
]


def aio_phase(cfg: Config, projects: dict[str, Project]) -> list[Run]:
    """
    The margins checked with a client that is not wrk, on the setup an engineer outside the team used
    (aiohttp, cfg.aio_workers sync workers per server), after the wrk phase's servers have stopped.
    """
    client = AioLoad()
    servers = {kind: Server(projects[kind], cfg.aio_workers) for kind in ("authsvc", "stock")}
    access = AccessTokens()
    runs: list[Run] = []  # none, if a server fails to start
    log(f"aiohttp phase: {cfg.aio_workers} workers per server, c={cfg.aio_concurrency}")
    try:
        for server in servers.values():
            server.start()
        if not cfg.smoke:
            for kind, endpoint, transport in AIO_CASES:
                timed_run(client, servers[kind], endpoint=endpoint, transport=transport,
                          concurrency=max(cfg.aio_concurrency), rep=0, duration=1, access=access)
        runs = alternating(cfg, client, servers, AIO_CASES, cfg.aio_concurrency, access)
    finally:
        for server in servers.values():
            server.stop()
    return runs
