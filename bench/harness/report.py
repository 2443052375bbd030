"""
The report: medians per case, the targets met or missed, the tables, and every
timed run, written between the markers of bench/RESULTS.md (what is written by
hand around them stays); the same results as JSON for the smoke test.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
from datetime import datetime
from pathlib import Path

import psycopg

from .config import CONN_MAX_AGE, PG, Config
from .load import Run
from .report_keys import keys_section
from .seed import SESSIONS_PER_FILL

RESULTS_START = "<!-- bench:results:start -->"
SERVER_ORDER = {"authsvc": 0, "authsvc-hs256": 1, "stock": 2}
RESULTS_END = "<!-- bench:results:end -->"


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
        f"AUTH_2FA=off, RATELIMIT_ENABLE=0, SECURE_SSL_REDIRECT=0, REDIS_URL={cfg.redis_url}; authsvc signs "
        "ES256 (its default), authsvc-hs256 is the same with JWT_ALGORITHM=HS256; the example resource server "
        "runs in front of the ES256 one.  ")
    out(f"Load: wrk + bench/wrk.lua, one connection per thread = one virtual user, refresh tokens chained; "
        f"{cfg.duration} s per run; medians of {cfg.reps} repetitions, the cases alternating (order reversed "
        f"every other repetition; GET /me twice per repetition and server, A-B-C-R-C-B-A with the resource server's "
        f"GET /orders once in the middle, so {2 * cfg.reps} runs each); "
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
