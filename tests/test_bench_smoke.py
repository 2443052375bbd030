"""
The benchmark (``bench/run.py``, ``make bench``) still runs from end to end.

A smoke run serves authsvc (signing ES256, and again HS256), the stock
simplejwt peer and the example resource server under gunicorn, drives each
with wrk for a second per case, then authsvc and stock again with the second
load generator (the aiohttp client), fills and purges tiny tables, and writes
its report. Nothing here is timed and no number is compared: a smoke run's
numbers mean nothing. What is checked is that every case answered, without
errors, and that the report compares both servers.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    urlsplit(DATABASE_URL).scheme not in {"postgres", "postgresql", "pgsql"},
    reason="the bench needs PostgreSQL: DATABASE_URL=postgres://…",
)


def test_bench_smoke_run_reports_both_servers(tmp_path):
    report, data = tmp_path / "RESULTS.md", tmp_path / "results.json"
    server = urlsplit(DATABASE_URL)
    # The bench's own databases (bench_smoke_*) on the PostgreSQL server the suite uses.
    env = {**os.environ, "BENCH_PG": f"{server.scheme}://{server.netloc}"}

    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(report), "--json", str(data)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    results = json.loads(data.read_text())
    cases = {(row["server"], row["endpoint"], row["transport"]) for row in results["load"]}
    assert cases == {
        ("authsvc", "refresh", "body"),
        ("authsvc", "refresh", "cookie"),
        ("stock", "refresh", "body"),
        ("authsvc", "me", "bearer"),
        ("stock", "me", "bearer"),
        ("authsvc-hs256", "refresh", "body"),
        ("authsvc-hs256", "me", "bearer"),
        ("resource", "orders", "bearer"),
    }
    # The second harness, not wrk: the same two servers, both cases, chains unbroken.
    assert {(row["server"], row["endpoint"], row["transport"]) for row in results["aio_load"]} == {
        ("authsvc", "refresh", "body"),
        ("stock", "refresh", "body"),
        ("authsvc", "me", "bearer"),
        ("stock", "me", "bearer"),
    }
    for row in results["load"] + results["aio_load"] + results["latency"]:
        assert row["requests"] > 0, row
        assert row["errors"] == 0, row
    # Both purges ran at both sizes and left no dead row behind.
    assert {(p["server"], p["rows"]) for p in results["purge"]} == {
        (server_kind, rows) for server_kind in ("authsvc", "stock") for rows in (1000, 2000)
    }
    for purge in results["purge"]:
        assert sum(purge["after"].values()) == 0, purge
    text = report.read_text()
    for heading in ("### Targets (issue 20)", "### Keys", "### Refresh:", "### GET /me", "### Second harness",
                    "### Refresh latency", "### Purge"):
        assert heading in text
    assert "— wrk |" in text and "— aiohttp |" in text
    assert "| authsvc |" in text and "| stock |" in text


def test_the_per_change_measurements_run(tmp_path):
    """bench/changes.py (RESULTS.md's table of what each change bought) still runs; its numbers are not judged."""
    server = urlsplit(DATABASE_URL)
    env = {**os.environ, "BENCH_PG": f"{server.scheme}://{server.netloc}"}
    table = tmp_path / "changes.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "changes.py"), "--batches", "1", "--calls", "2", "--output", str(table)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    rows = [line for line in table.read_text().splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 10  # the header and one row per change
    assert any("one statement" in row for row in rows) and any("tokens/verified.py" in row for row in rows)
