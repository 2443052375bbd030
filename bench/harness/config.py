"""
What every part of the bench shares: where things are, the PostgreSQL server
(``BENCH_PG``), what both servers' users and settings have in common, and the
run's configuration (``Config``, from the command line in ``bench/run.py``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
PYTHON = sys.executable

PG = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
PASSWORD = "bench passphrase, long enough 42"
CONN_MAX_AGE = "600"


@dataclass
class Config:
    smoke: bool
    workers: int
    duration: int
    reps: int
    concurrency: list[int]
    aio_workers: int  # the aiohttp phase's sync workers per server
    aio_concurrency: list[int]  # the aiohttp phase's virtual users
    latency_rows: list[int]
    latency_concurrency: int
    purge_rows: list[int]  # authsvc's purges; the largest may reuse the latency runs' database
    stock_purge_rows: list[int]  # stock's purges, fewer and smaller: the report extrapolates
    db_prefix: str
    redis_url: str
    output: Path
    json_output: Path | None
    skip_purge: bool
    only_scale: bool  # the table-size and purge phases alone
    profile: bool
    command: str
