"""
The phases on tables full of dead rows (skipped by ``--skip-purge``): refresh
latency with small and big token tables, and each project's purge command on
the same mix of expired and revoked rows.

Filling the largest size is most of these phases' time, so it is filled once:
the latency runs' biggest database, when the purge runs at that size too, is
handed to the purge instead of a fresh fill. Stock runs only at its own,
smaller sizes (``stock_purge_rows``); the report extrapolates it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

from .config import Config
from .load import Run, timed_run
from .procs import log, run_measured
from .seed import checkpoint, fill, prepare, table_counts, truncate
from .servers import Project, Server


@dataclass
class Filled:
    """A database holding ``rows`` dead rows of the filler user, and what filling it took."""

    project: Project
    rows: int
    filler: int
    fill_s: float


def filled(project: Project, rows: int, users: int) -> Filled:
    """``project``'s database with ``users`` virtual users and ``rows`` dead rows, vacuumed and checkpointed."""
    filler = prepare(project, users)
    started = time.perf_counter()
    fill(project, rows, filler)
    checkpoint(project)
    return Filled(project, rows, filler, time.perf_counter() - started)


def table_size_phase(cfg: Config, wrk: str, users: int) -> tuple[list[Run], dict, Filled | None]:
    """
    Refresh latency on the same server code with small and big token tables,
    in alternation; and the biggest database, left filled when the purge
    runs at its size.
    """
    runs: list[Run] = []
    servers = []
    info = {}

    def fill_one(rows: int) -> Filled:
        done = filled(Project("authsvc", f"{cfg.db_prefix}_rows_{rows}", cfg.redis_url), rows, users)
        info[rows] = {"fill_s": done.fill_s, "counts": table_counts(done.project)}
        log(f"{done.project.database}: {rows} dead rows in {done.fill_s:.1f} s {info[rows]['counts']}")
        return done

    with ThreadPoolExecutor(max_workers=2) as pool:
        databases = list(pool.map(fill_one, cfg.latency_rows))
    kept = next((d for d in databases if d.rows == max(cfg.latency_rows) and d.rows in cfg.purge_rows), None)
    try:
        for database in databases:
            server = Server(database.project, cfg.workers)
            servers.append((database.rows, server))
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
        for database in databases:
            if database is not kept:
                truncate(database.project)  # give the disk back
    return runs, info, kept


def purge_phase(cfg: Config, kept: Filled | None = None) -> list[dict]:
    """
    authsvc's purge at each of ``purge_rows`` (at ``kept.rows`` on the
    database the latency runs left), stock's at each of ``stock_purge_rows``;
    by size, the two interleaved, so that what is compared runs close in time
    on a machine whose other load comes and goes.
    """
    results = []
    projects = {kind: Project(kind, f"{cfg.db_prefix}_purge_{kind}", cfg.redis_url) for kind in ("authsvc", "stock")}
    with ThreadPoolExecutor(max_workers=2) as pool:
        fillers = dict(zip(projects, pool.map(lambda project: prepare(project, 0), projects.values())))
    runs = [(rows, "authsvc") for rows in cfg.purge_rows] + [(rows, "stock") for rows in cfg.stock_purge_rows]
    for rows, kind in sorted(runs):
        if kept and kind == "authsvc" and rows == kept.rows:
            project, fill_s = kept.project, kept.fill_s
            _drop_latency_sessions(kept)
        else:
            project = projects[kind]
            truncate(project)
            started = time.perf_counter()
            fill(project, rows, fillers[kind])
            checkpoint(project)
            fill_s = time.perf_counter() - started
        before = table_counts(project)
        command = ("purge_tokens",) if kind == "authsvc" else ("flushexpiredtokens",)
        log(f"{kind}: {rows} dead rows filled in {fill_s:.1f} s {before}; running {command[0]}")
        measured = run_measured(project.manage(*command), project.env(), timeout=3600)
        if measured.returncode != 0:
            raise SystemExit(f"{command[0]} failed:\n{measured.output}")
        after = table_counts(project)
        results.append({
            "server": kind, "rows": rows, "command": f"manage.py {command[0]}", "fill_s": fill_s,
            "reused": project is not projects[kind],
            "wall_s": measured.wall_s, "cpu_s": measured.cpu_s, "max_rss_mb": measured.max_rss_mb,
            "before": before, "after": after,
        })
        log(f"{kind}: {command[0]} on {rows} rows: {measured.wall_s:.2f} s, "
            f"peak RSS {measured.max_rss_mb:.0f} MB, left {after}")
        if project is not projects[kind]:
            truncate(project)
    for project in projects.values():
        truncate(project)  # the deleted rows' space goes back to the disk at once
    return results


def scale_phases(cfg: Config, wrk: str, users: int) -> tuple[list[Run], dict, list[dict]]:
    """Both phases, the purge reusing the latency runs' biggest database; ``info["scale_s"]``: their time."""
    started = time.perf_counter()
    runs, info, kept = table_size_phase(cfg, wrk, users)
    latency_s = time.perf_counter() - started
    purges = purge_phase(cfg, kept)
    info["scale_s"] = {"latency": latency_s, "purge": time.perf_counter() - started - latency_s}
    log(f"table-size phase {latency_s:.0f} s, purge phase {info['scale_s']['purge']:.0f} s")
    return runs, info, purges


def _drop_latency_sessions(kept: Filled) -> None:
    """
    Delete what the latency runs added (the virtual users' sessions, their
    records by cascade), so that the purge meets exactly the fill, as on a
    fresh database; then vacuum and checkpoint as after a fill.
    """
    with psycopg.connect(kept.project.url, autocommit=True) as conn:
        # By the users' index: the virtual users are few, the filler's sessions millions.
        deleted = conn.execute("DELETE FROM tokens_session WHERE user_id = ANY(ARRAY("
                               "SELECT id FROM accounts_user WHERE id <> %s))", [kept.filler]).rowcount
    checkpoint(kept.project)
    log(f"{kept.project.database}: the latency runs' {deleted} sessions deleted before the purge")
