"""
The report's parts on scale (issue 20, "Scale"): refresh latency against the
size of the token tables, and the purge of dead rows, authsvc's
``purge_tokens`` against stock's ``flushexpiredtokens``.

Stock is not run at the largest size: at 1M rows it already takes 80 s and
1.8 GB, and both grow linearly (it loads every expired row into Python), so
10M would cost a quarter of an hour and most of the machine's memory. Its
figures there come from a least-squares line through its measured sizes, and
say so wherever they appear; authsvc's are always measured.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .config import Config
from .load import Run
from .report_rows import summarize, verdict
from .seed import SESSIONS_PER_FILL


def _find(summary: list[dict], **match) -> dict | None:
    return next((row for row in summary if all(row[k] == v for k, v in match.items())), None)


def _line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares: (intercept, slope) of y = a + b·x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return mean_y - slope * mean_x, slope


def stock_fit(purges: list[dict]) -> dict | None:
    """
    Stock's wall time and peak RSS as straight lines through its measured
    purges, evaluated at every size authsvc was purged at and stock was not;
    None with fewer than two measured sizes.
    """
    measured = sorted((p for p in purges if p["server"] == "stock"), key=lambda p: p["rows"])
    if len({p["rows"] for p in measured}) < 2:
        return None
    wall = _line([(p["rows"], p["wall_s"]) for p in measured])
    rss = _line([(p["rows"], p["max_rss_mb"]) for p in measured])
    cpu = _line([(p["rows"], p["cpu_s"]) for p in measured])

    def at(line: tuple[float, float], rows: int) -> float:
        return line[0] + line[1] * rows

    residual = max(abs(at(wall, p["rows"]) - p["wall_s"]) / p["wall_s"] for p in measured)
    stock_sizes = {p["rows"] for p in measured}
    targets = sorted({p["rows"] for p in purges if p["server"] == "authsvc"} - stock_sizes)
    return {
        "points": [p["rows"] for p in measured],
        "wall_intercept_s": wall[0], "wall_us_per_row": wall[1] * 1e6,
        "rss_intercept_mb": rss[0], "rss_kb_per_row": rss[1] * 1024,
        "wall_max_residual": residual,
        "extrapolated": [{"server": "stock", "rows": rows, "command": "manage.py flushexpiredtokens",
                          "wall_s": at(wall, rows), "cpu_s": at(cpu, rows), "max_rss_mb": at(rss, rows)}
                         for rows in targets],
    }


def _stock_at(purges: list[dict], fit: dict | None, rows: int) -> tuple[dict | None, bool]:
    """Stock's purge of ``rows``: measured if it was run, else extrapolated; and whether extrapolated."""
    measured = _find(purges, server="stock", rows=rows)
    if measured:
        return measured, False
    return (_find(fit["extrapolated"], rows=rows) if fit else None), True


def scale_target_rows(cfg: Config, lat_summary: list[dict], purges: list[dict]) -> list[tuple[str, str, bool]]:
    """The scale targets as (target, measured, met) rows, for the report's targets table."""
    rows: list[tuple[str, str, bool]] = []
    if lat_summary:
        lo, hi = min(cfg.latency_rows), max(cfg.latency_rows)
        small, big = _find(lat_summary, label=str(lo)), _find(lat_summary, label=str(hi))
        if small and big and small["p50_ms"]:
            r = big["p50_ms"] / small["p50_ms"]
            rows.append((f"refresh p50 at {hi:,} rows ≤ 1.2× the {lo:,}-row p50 (c={cfg.latency_concurrency})",
                         f"{r:.2f}× ({big['p50_ms']:.2f} vs {small['p50_ms']:.2f} ms)", r <= 1.2))
    authsvc = sorted((p for p in purges if p["server"] == "authsvc"), key=lambda p: p["rows"])
    if authsvc:
        fit = stock_fit(purges)
        smallest, largest = authsvc[0], authsvc[-1]
        stock, extrapolated = _stock_at(purges, fit, largest["rows"])
        if stock:
            how = (f"stock extrapolated from {len(fit['points'])} measured points" if extrapolated
                   else "stock measured")
            speedup = stock["wall_s"] / largest["wall_s"]
            flat = largest["max_rss_mb"] <= 1.2 * smallest["max_rss_mb"]
            rows.append((f"purge of {largest['rows']:,} dead rows ≥ 10× faster than flushexpiredtokens ({how}), "
                         "peak memory flat",
                         f"{speedup:.1f}× ({largest['wall_s']:.1f} s vs {stock['wall_s']:.1f} s"
                         f"{' extrapolated' if extrapolated else ''}); peak {largest['max_rss_mb']:.0f} MB at "
                         f"{largest['rows']:,}, {smallest['max_rss_mb']:.0f} MB at {smallest['rows']:,}",
                         speedup >= 10 and flat))
    return rows


def fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{table.split('_', 1)[1]} {count:,}" for table, count in counts.items())


def scale_report(cfg: Config, machine: dict, latency: list[Run], latency_info: dict, purges: list[dict],
                 started: datetime) -> tuple[str, dict]:
    """``--only-scale``'s report: the scale targets and sections alone."""
    lat_summary = summarize(latency)
    targets = scale_target_rows(cfg, lat_summary, purges)
    lines = [f"Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; `{cfg.command}` (the scale phases alone); "
             f"{machine['nproc']} CPUs, PostgreSQL {machine['postgresql']}", "",
             "### Targets (issue 20): scale", "", "| target | measured | |", "|---|---|---|",
             *(f"| {name} | {measured} | {verdict(ok)} |" for name, measured, ok in targets), ""]
    scale_sections(cfg, lat_summary, latency_info, purges, lines.append)
    data = {"command": cfg.command, "latency": lat_summary,
            "latency_info": {str(k): v for k, v in latency_info.items()},
            "purge": purges, "purge_fit": stock_fit(purges),
            "targets": [{"target": n, "measured": m, "met": ok} for n, m, ok in targets]}
    return "\n".join(lines), data


def scale_sections(cfg: Config, lat_summary: list[dict], latency_info: dict, purges: list[dict],
                   out: Callable[[str], None]) -> None:
    """The table-size and purge sections, from "### Refresh latency against table size" on."""
    if lat_summary:
        out(f"### Refresh latency against table size (authsvc, body transport, c={cfg.latency_concurrency})")
        out("")
        out("| dead rows in the token tables | rows (refresh records / sessions) | fill s | req/s | p50 ms | p95 ms "
            "| p99 ms | errors | DB CPU ms/req |")
        out("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for rows in cfg.latency_rows:
            row = _find(lat_summary, label=str(rows))
            info = latency_info[rows]
            counts = info["counts"]
            out(f"| {rows:,} | {counts['tokens_refreshtoken']:,} / {counts['tokens_session']:,} | "
                f"{info['fill_s']:.1f} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['errors']} | {row['db_cpu_ms']:.2f} |")
        out("")
        reused = max(cfg.latency_rows) in cfg.purge_rows
        out(f"One database per size, filled by bulk SQL (the same mix as the purge below; fill: the insert, "
            f"VACUUM ANALYZE and CHECKPOINT), one gunicorn on each, measured in alternation, {cfg.reps} runs "
            "each." + (f" The {max(cfg.latency_rows):,}-row database is then purged below rather than filled "
                       "again." if reused else ""))
        out("")

    if purges:
        fit = stock_fit(purges)
        out("### Purge: authsvc `manage.py purge_tokens` against stock `manage.py flushexpiredtokens`")
        out("")
        out("| dead rows | command | fill s | wall s | CPU s | peak RSS MB | rows before | rows after |")
        out("|---:|---|---:|---:|---:|---:|---|---|")
        for p in sorted(purges, key=lambda p: (p["server"], p["rows"])):
            fill = f"{p['fill_s']:.1f}" + (" (the latency runs')" if p.get("reused") else "")
            out(f"| {p['rows']:,} | {p['server']}: `{p['command']}` | {fill} | {p['wall_s']:.2f} | "
                f"{p['cpu_s']:.2f} | {p['max_rss_mb']:.0f} | {fmt_counts(p['before'])} | "
                f"{fmt_counts(p['after'])} |")
        for e in fit["extrapolated"] if fit else []:
            out(f"| {e['rows']:,} | stock: `{e['command']}`, **extrapolated, not run** | — | *{e['wall_s']:.0f}* | "
                f"*{e['cpu_s']:.0f}* | *{e['max_rss_mb']:.0f}* | — | — |")
        out("")
        for a in sorted((p for p in purges if p["server"] == "authsvc"), key=lambda p: p["rows"]):
            s, extrapolated = _stock_at(purges, fit, a["rows"])
            if s:
                out(f"- {a['rows']:,} rows: authsvc {s['wall_s'] / a['wall_s']:.1f}× faster, "
                    f"{s['max_rss_mb'] / a['max_rss_mb']:.1f}× less peak memory"
                    f"{' (against stock extrapolated)' if extrapolated else ''}.")
        out("")
        if fit:
            out(f"Stock's line, least squares through its {len(fit['points'])} measured sizes "
                f"({', '.join(f'{n:,}' for n in fit['points'])}): wall {fit['wall_intercept_s']:.2f} s + "
                f"{fit['wall_us_per_row']:.1f} µs per row (the measured points lie within "
                f"{100 * fit['wall_max_residual']:.0f}% of it), peak RSS {fit['rss_intercept_mb']:.0f} MB + "
                f"{fit['rss_kb_per_row']:.2f} KB per row."
                + (" Figures in italics are this line extended, an extrapolation, not a measurement: stock is not "
                   "run there (" + "; ".join(f"{e['rows']:,} rows: about {e['wall_s'] / 60:.0f} min and "
                                             f"{e['max_rss_mb'] / 1024:.1f} GB" for e in fit["extrapolated"]) + ")."
                   if fit["extrapolated"] else ""))
            out("")
        out(f"authsvc rows: one session per {SESSIONS_PER_FILL} refresh records; sessions 40% past their "
            "absolute expiry, 30% idle (every refresh record expired), 30% revoked 8 days ago (past the 7-day "
            "retention); every record expired. Stock rows: one OutstandingToken per refresh token (the JWT "
            "stored), all expired, 30% of them blacklisted (BlacklistedToken rows on top). Each fill is one "
            "`INSERT … SELECT … FROM generate_series` with keys spread over the key space in ascending order "
            "(`bench/harness/seed.py`), then VACUUM ANALYZE and CHECKPOINT before the timed command; a database "
            "reused from the latency runs first loses the sessions those runs made, so the counts before are the "
            "fill's. Wall time and peak RSS are the command's process (Django start-up included), from wait4.")
        out("")
    phases = latency_info.get("scale_s")
    if phases:
        out(f"These two phases took {(phases['latency'] + phases['purge']) / 60:.1f} min: table size "
            f"{phases['latency']:.0f} s, purge {phases['purge']:.0f} s (fills included).")
        out("")
