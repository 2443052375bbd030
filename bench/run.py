"""
authsvc against a stock simplejwt peer, on the local PostgreSQL and Redis;
authsvc signing ES256 (its default) and HS256; the example resource server.

    .venv/bin/python bench/run.py            # the full bench (make bench), 15–20 min, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --smoke    # seconds per phase, tiny tables (make bench-smoke)

What it does, in order:

1. Databases, created when missing and migrated, on the PostgreSQL server at
   ``BENCH_PG`` (default ``postgres://root@127.0.0.1:5432``): ``bench_authsvc``,
   ``bench_authsvc_hs256`` and ``bench_stock`` for the load, ``bench_rows_10000`` and
   ``bench_rows_10000000`` for refresh latency against table size,
   ``bench_purge_authsvc`` and ``bench_purge_stock`` for the purges (smoke mode:
   ``bench_smoke_*``). Token tables are emptied first, so every run starts
   from the same state. Redis: database 2 (smoke: 3).
2. Servers: authsvc (``authsvc.wsgi``), once signing ES256 (the default) and
   once with ``JWT_ALGORITHM=HS256`` (what stock signs with), and the stock
   simplejwt project (``bench/stock``), each under gunicorn with the same sync
   worker count, ``DEBUG=0``, persistent connections (same ``CONN_MAX_AGE``;
   authsvc health-checks them, stock keeps Django's default, no health
   checks) and the same Argon2 hasher; authsvc with
   ``AUTH_2FA=off`` and ``RATELIMIT_ENABLE=0``. And the example resource
   server (``examples/resource_server``), the same gunicorn, in front of the
   ES256 authsvc: keys from its JWKS, revocations from its feed.
3. Load: wrk with ``bench/wrk.lua``, one connection per thread, one thread per
   virtual user, at each concurrency. Before each refresh run every virtual
   user logs in; during it, it chains its refresh tokens. Per (repetition,
   concurrency), in an order reversed every other repetition: authsvc refresh
   (body), stock refresh (body), authsvc refresh (cookie + CSRF header),
   authsvc-hs256 refresh (body), then ``GET /me`` in the order
   A-B-C-R-C-B-A (authsvc ``/api/auth/me/``, stock ``/me``, authsvc-hs256,
   and once the resource server's ``GET /orders``, with access tokens from
   logins kept across runs). Reported: medians, and the CPU that
   wrk, the gunicorn workers and the PostgreSQL backends used per request.
   Then a second load generator that is not wrk, on the setup an outside
   engineer measured with: ``bench/harness/aioload.py``, an aiohttp client in
   its own process (a coroutine and a connection per virtual user, refresh
   tokens chained the same way), against authsvc (ES256) and stock restarted
   with ``--aio-workers`` (5) sync workers each: refresh (body) and ``GET
   /me`` at ``--aio-concurrency`` (8), alternating repetitions, medians. The
   report's targets (issue 20) are checked in both harnesses.
4. Table size: the two ``bench_rows_*`` databases get 10k and 10M dead rows
   (``--latency-rows``; bulk SQL, keys in ascending order so that 10M fill
   in minutes); their servers are measured in alternation.
5. Purge: dead rows (70% expired, 30% revoked) by the same bulk SQL, in
   authsvc's tables at 100k, 1M and 10M (``--purge-rows``; the 10M database
   is the latency runs', their own sessions deleted first, not a second
   fill) and in stock's OutstandingToken/BlacklistedToken at 100k, 300k and
   1M (``--stock-purge-rows``); then ``manage.py purge_tokens`` against
   stock's ``manage.py flushexpiredtokens``, wall time and peak RSS of the
   command's process. Stock at 10M would take a quarter of an hour and
   most of the memory: the report extrapolates it along a straight line
   through its measured sizes, and marks it so.

``--only-scale`` runs phases 4 and 5 alone (report in the temp directory).

``--profile`` runs the load phase under py-spy instead (flame graphs in the
temp directory; its numbers are not comparable).

Only loopback addresses are contacted; every request loop is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

# Run as a script, Python puts bench/ first on the path, not the repository;
# with the repository the parts import as bench.harness, as the servers import
# bench.stock.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.config import BENCH, Config  # noqa: E402
from bench.harness.dead_rows import scale_phases  # noqa: E402
from bench.harness.load import aio_phase, load_phase  # noqa: E402
from bench.harness.procs import ensure_wrk, log, stop_spawned  # noqa: E402
from bench.harness.report import machine_info, render, write_report  # noqa: E402
from bench.harness.report_scale import scale_report  # noqa: E402
from bench.harness.resource import ResourceServer  # noqa: E402
from bench.harness.seed import prepare  # noqa: E402
from bench.harness.servers import Project, Server  # noqa: E402


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny durations and tables: checks the bench works")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers per server (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per timed run (default 5; smoke 1)")
    parser.add_argument("--reps", type=int, help="alternating repetitions (default 3; smoke 1)")
    parser.add_argument("--concurrency", help="comma-separated (default 4,8,16; smoke 2)")
    parser.add_argument("--aio-workers", type=int, help="gunicorn sync workers per server in the aiohttp phase "
                                                         "(default 5; smoke 2)")
    parser.add_argument("--aio-concurrency", help="comma-separated, the aiohttp phase (default 8; smoke 2)")
    parser.add_argument("--latency-rows", help="dead rows for the latency runs (default 10000,10000000; "
                                               "smoke 100,2000)")
    parser.add_argument("--purge-rows", help="dead rows for authsvc's purge runs (default 100000,1000000,10000000; "
                                             "smoke 1000,2000)")
    parser.add_argument("--stock-purge-rows", help="dead rows for stock's purge runs, extrapolated to the largest "
                                                   "of --purge-rows (default 100000,300000,1000000; smoke 1000,2000)")
    parser.add_argument("--skip-purge", action="store_true", help="no table-size and purge phases")
    parser.add_argument("--only-scale", action="store_true",
                        help="the table-size and purge phases alone (report in the temp dir unless --output)")
    parser.add_argument("--output", type=Path, help="markdown report (default bench/RESULTS.md)")
    parser.add_argument("--json", type=Path, dest="json_output", help="also write the raw results as JSON")
    parser.add_argument("--profile", action="store_true",
                        help="run the load servers under py-spy (flame graphs in the temp dir; numbers not valid)")
    args = parser.parse_args(argv)
    smoke = args.smoke

    def ints(text: str | None, default: str) -> list[int]:
        return [int(part) for part in (text or default).split(",")]

    default_output = Path(tempfile.gettempdir()) / "authsvc-bench-smoke.md" if smoke else BENCH / "RESULTS.md"
    if args.only_scale:
        default_output = Path(tempfile.gettempdir()) / f"authsvc-bench-scale{'-smoke' if smoke else ''}.md"
    return Config(
        smoke=smoke,
        workers=args.workers,
        duration=args.duration or (1 if smoke else 5),
        reps=args.reps or (1 if smoke else 3),
        concurrency=ints(args.concurrency, "2" if smoke else "4,8,16"),
        aio_workers=args.aio_workers or (2 if smoke else 5),
        aio_concurrency=ints(args.aio_concurrency, "2" if smoke else "8"),
        latency_rows=ints(args.latency_rows, "100,2000" if smoke else "10000,10000000"),
        latency_concurrency=2 if smoke else 4,
        purge_rows=ints(args.purge_rows, "1000,2000" if smoke else "100000,1000000,10000000"),
        stock_purge_rows=ints(args.stock_purge_rows, "1000,2000" if smoke else "100000,300000,1000000"),
        db_prefix="bench_smoke" if smoke else "bench",
        redis_url=f"redis://127.0.0.1:6379/{3 if smoke else 2}",
        output=args.output or default_output,
        json_output=args.json_output,
        skip_purge=args.skip_purge or args.profile,
        only_scale=args.only_scale,
        profile=args.profile,
        command=" ".join(["bench/run.py", *argv]) if argv else "make bench  (= .venv/bin/python bench/run.py)",
    )


def main(argv: list[str]) -> int:
    cfg = parse_args(argv)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    wrk = ensure_wrk()
    users = max([*cfg.concurrency, *cfg.aio_concurrency, cfg.latency_concurrency])
    machine = machine_info()
    if cfg.only_scale:
        return only_scale(cfg, wrk, machine, started)
    log(f"{'smoke' if cfg.smoke else 'full'} bench: {cfg.workers} workers, {cfg.duration} s runs, "
        f"{cfg.reps} reps, c={cfg.concurrency}")

    projects = {
        "authsvc": Project("authsvc", f"{cfg.db_prefix}_authsvc", cfg.redis_url),
        # A database of its own: one database has one active signing key, of one algorithm.
        "authsvc-hs256": Project("authsvc", f"{cfg.db_prefix}_authsvc_hs256", cfg.redis_url, label="authsvc-hs256",
                                 extra_env={"JWT_ALGORITHM": "HS256"}),
        "stock": Project("stock", f"{cfg.db_prefix}_stock", cfg.redis_url),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda project: prepare(project, users), projects.values()))
    servers = {name: Server(project, cfg.workers, profile=cfg.profile) for name, project in projects.items()}
    # Started after the authsvc it reads its keys and revocations from.
    servers["resource"] = ResourceServer(servers["authsvc"], cfg.workers, profile=cfg.profile)
    try:
        for server in servers.values():
            server.start()
        load = load_phase(cfg, wrk, servers)
    finally:
        for server in servers.values():
            server.stop()
    aio = [] if cfg.profile else aio_phase(cfg, projects)

    latency, latency_info, purges = [], {}, []
    if not cfg.skip_purge:
        latency, latency_info, purges = scale_phases(cfg, wrk, users)

    body, data = render(cfg, machine, load, latency, latency_info, purges, started, time.perf_counter() - t0,
                        aio=aio)
    write_report(cfg.output, body)
    if cfg.json_output:
        cfg.json_output.write_text(json.dumps(data, indent=2, default=str))
    log(f"report: {cfg.output}")
    print(body.split("### Refresh:", 1)[0])
    return 0


def only_scale(cfg: Config, wrk: str, machine: dict, started: datetime) -> int:
    """``--only-scale``: the table-size and purge phases, and their part of the report."""
    latency, latency_info, purges = scale_phases(cfg, wrk, cfg.latency_concurrency)
    body, data = scale_report(cfg, machine, latency, latency_info, purges, started)
    write_report(cfg.output, body)
    if cfg.json_output:
        cfg.json_output.write_text(json.dumps(data, indent=2, default=str))
    log(f"report: {cfg.output}")
    print(body)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    finally:
        stop_spawned()
