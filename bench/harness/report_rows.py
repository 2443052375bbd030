"""
The report's rows: timed runs grouped by case into medians, and the small
helpers every section uses to find a case, compare two and judge a target.
"""

from __future__ import annotations

import statistics

from .load import Run


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


def verdict(ok: bool | None) -> str:
    """None: the target's runs were not part of this bench (--profile, --skip-purge)."""
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**NOT met**"


def measured_cells(row: dict, stock: dict | None) -> str:
    """A table row's cells from req/s on (shared by the wrk and aiohttp tables): ``—`` against itself for stock."""
    is_stock = row["server"] == "stock"
    vs = "—" if is_stock else f"**{ratio(row['rps'], stock and stock['rps']):.2f}×**"
    p99 = "—" if is_stock else f"{ratio(row['p99_ms'], stock and stock['p99_ms']):.2f}×"
    return (f"{row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {row['p99_ms']:.2f} | {row['errors']} | "
            f"{vs} | {p99} | {row['app_cpu_ms']:.2f} | {row['db_cpu_ms']:.2f} | {row['client_cpu_pct']:.0f} "
            f"(max {row['client_cpu_max_pct']:.0f}) | {row['machine_busy_pct']:.0f} |")
