"""
The report: medians per case, the targets met or missed, the tables, and every
timed run, written between the markers of bench/RESULTS.md (what is written by
hand around them stays); the same results as JSON for the smoke test.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import datetime
from pathlib import Path

import psycopg

from .config import CONN_MAX_AGE, PG, Config
from .load import Run
from .report_aio import aio_section, load_targets
from .report_keys import keys_section
from .report_rows import find, measured_cells, summarize, verdict
from .report_scale import scale_sections, scale_target_rows, stock_fit

RESULTS_START = "<!-- bench:results:start -->"
SERVER_ORDER = {"authsvc": 0, "authsvc-hs256": 1, "stock": 2}
RESULTS_END = "<!-- bench:results:end -->"


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
    for package in ("Django", "djangorestframework", "djangorestframework-simplejwt", "gunicorn", "psycopg",
                    "aiohttp"):
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
           purges: list[dict], started: datetime, elapsed: float, *, aio: list[Run] | None = None,
           ) -> tuple[str, dict]:
    aio = aio or []
    summary = summarize(load)
    aio_summary = summarize(aio)
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
        f"CONN_MAX_AGE={CONN_MAX_AGE} for both (authsvc health-checks reused connections, stock keeps Django's "
        "default: no health checks), Argon2 (Django defaults) for both; authsvc with "
        f"AUTH_2FA=off, RATELIMIT_ENABLE=0, SECURE_SSL_REDIRECT=0, REDIS_URL={cfg.redis_url}; authsvc signs "
        "ES256 (its default), authsvc-hs256 is the same with JWT_ALGORITHM=HS256; the example resource server "
        "runs in front of the ES256 one.  ")
    out(f"Load: wrk + bench/wrk.lua, one connection per thread = one virtual user, refresh tokens chained; "
        f"{cfg.duration} s per run; medians of {cfg.reps} repetitions, the cases alternating (order reversed "
        f"every other repetition; GET /me twice per repetition and server, A-B-C-R-C-B-A with the resource server's "
        f"GET /orders once in the middle, so {2 * cfg.reps} runs each); "
        f"logins before the timed runs (a fresh one for every refresh run).")
    out("")

    # Targets: throughput in both harnesses (report_aio.py), then the tables' sizes
    targets = load_targets(cfg, summary, aio_summary, target_c)
    targets += scale_target_rows(cfg, lat_summary, purges)  # report_scale.py
    out("### Targets (issue 20)")
    out("")
    out("| target | measured | |")
    out("|---|---|---|")
    for name, measured, ok in targets:
        out(f"| {name} | {measured} | {verdict(ok)} |")
    out("")
    keys_section(cfg, summary, out, target_c)

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
            rows.sort(key=lambda r: (SERVER_ORDER.get(r["server"], 9), r["transport"]))
            for row in rows:
                out(f"| {concurrency} | {row['server']} | {row['transport']} | {measured_cells(row, stock)}")
        out("")

    load_table("refresh", "Refresh: POST, each virtual user chaining its rotated refresh tokens")
    out("Errors count non-200 answers, chain breaks (a 200 without a readable new token), socket errors and "
        "timeouts, summed over the runs. Cookie transport: refresh_token + csrftoken cookies and the "
        "X-CSRFToken header (stock has no cookie transport; its body numbers are the reference). CPU per "
        "request: the gunicorn workers' and the PostgreSQL backends' utime+stime over the run, divided by the "
        "requests; wrk's own CPU is in % of one core (of 2).")
    out("")
    load_table("me", "GET /me with the access token (Bearer)")
    aio_section(cfg, aio_summary, aio, out)

    scale_sections(cfg, lat_summary, latency_info, purges, out)  # report_scale.py

    client_max = max([r.client_cpu_pct for r in load + latency] or [0])
    out(f"wrk used at most {client_max:.0f}% of one core in any run (median per case in the tables): the client "
        "is not the bottleneck.")
    out("")
    out("<details><summary>Every timed run</summary>")
    out("")
    out("| rep | c | client | server | endpoint | transport | label | req/s | p50 | p95 | p99 | errors "
        "| client CPU % | app ms/req | DB ms/req | busy % |")
    out("|---:|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in load + latency + aio:
        out(f"| {r.rep} | {r.concurrency} | {r.client} | {r.server} | {r.endpoint} | {r.transport} | {r.label} "
            f"| {r.rps:.0f} | "
            f"{r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.client_cpu_pct:.0f} | "
            f"{r.app_cpu_ms:.2f} | {r.db_cpu_ms:.2f} | {r.machine_busy_pct:.0f} |")
    out("")
    out("</details>")
    data = {
        "started": started.isoformat(), "elapsed_s": elapsed, "command": cfg.command, "smoke": cfg.smoke,
        "workers": cfg.workers, "machine": machine,
        "load": summary, "aio_workers": cfg.aio_workers, "aio_load": aio_summary,
        "latency": lat_summary, "latency_info": {str(k): v for k, v in latency_info.items()},
        "purge": purges, "purge_fit": stock_fit(purges),
        "targets": [{"target": n, "measured": m, "met": ok} for n, m, ok in targets],
        "runs": [r.__dict__ for r in load + latency + aio],
    }
    return "\n".join(lines), data


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
