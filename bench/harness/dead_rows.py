"""
The phases on tables full of dead rows (skipped by ``--skip-purge``): refresh
latency with small and big token tables, and each project's purge command on
the same mix of expired and revoked rows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .config import Config
from .load import Run, timed_run
from .procs import log, run_measured
from .seed import checkpoint, fill, prepare, table_counts, truncate
from .servers import Project, Server


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
