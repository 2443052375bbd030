"""
The report's parts for issue 20, "Performance round 2": the throughput
targets, each checked in both harnesses (wrk, and the aiohttp client of
``aioload.py`` against servers with more workers), the resource server's
margin over authsvc's own GET /me, and the aiohttp harness's table.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Config
from .load import Run
from .report_rows import find, measured_cells, ratio

SERVER_ORDER = {"authsvc": 0, "stock": 1}
# (endpoint, transport, name in the report, least authsvc / stock throughput); p99 no worse for both.
THROUGHPUT_TARGETS = [("me", "bearer", "GET /me", 1.3), ("refresh", "body", "refresh", 2.8)]
RESOURCE_TARGET = 10.0  # resource server's GET /orders / authsvc's GET /me, in the wrk phase


def aio_target_concurrency(cfg: Config) -> int:
    return 8 if 8 in cfg.aio_concurrency else cfg.aio_concurrency[0]


def load_targets(cfg: Config, summary: list[dict], aio_summary: list[dict],
                 target_c: int) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met; None when not measured) for the throughput rows of the targets table."""
    targets = []
    for endpoint, transport, case, least in THROUGHPUT_TARGETS:
        for harness, rows, c in (("wrk", summary, target_c), ("aiohttp", aio_summary, aio_target_concurrency(cfg))):
            name = f"{case} at c={c} ≥ {least}× stock, p99 no worse — {harness}"
            ours, stock = (find(rows, endpoint=endpoint, transport=transport, concurrency=c, server=server)
                           for server in ("authsvc", "stock"))
            if not (ours and stock):
                targets.append((name, "—", None))
                continue
            r, p99 = ratio(ours["rps"], stock["rps"]), ratio(ours["p99_ms"], stock["p99_ms"])
            targets.append((name, f"{r:.2f}× ({ours['rps']:.0f} vs {stock['rps']:.0f} req/s); p99 {p99:.2f}× "
                                  f"({ours['p99_ms']:.1f} vs {stock['p99_ms']:.1f} ms)", r >= least and p99 <= 1.0))
    name = f"resource GET /orders ≥ {RESOURCE_TARGET:.0f}× authsvc GET /me at c={target_c} — wrk"
    orders = find(summary, endpoint="orders", concurrency=target_c, server="resource")
    me = find(summary, endpoint="me", concurrency=target_c, server="authsvc")
    if orders and me:
        r = ratio(orders["rps"], me["rps"])
        targets.append((name, f"{r:.2f}× ({orders['rps']:.0f} vs {me['rps']:.0f} req/s)", r >= RESOURCE_TARGET))
    else:
        targets.append((name, "—", None))
    return targets


def aio_section(cfg: Config, aio_summary: list[dict], aio: list[Run], out: Callable[[str], None]) -> None:
    if not aio_summary:
        return
    out(f"### Second harness: an aiohttp client, {cfg.aio_workers} sync workers per server")
    out("")
    out(f"The margins checked with a load generator that is not wrk, on the setup an engineer outside the team "
        f"measured with: `bench/harness/aioload.py`, in a process of its own, one coroutine and one connection "
        f"per virtual user (gunicorn's sync workers close it after every answer; aiohttp opens the next), "
        f"refresh tokens chained as with wrk, latency timed around each request. authsvc (ES256) and stock "
        f"restarted with {cfg.aio_workers} sync workers each once the wrk phase's servers had stopped, on the "
        f"same databases; {cfg.duration} s per run, medians of {cfg.reps} repetitions, the order reversed every "
        f"other repetition.")
    out("")
    out("| c | case | server | req/s | p50 ms | p95 ms | p99 ms | errors | req/s vs stock | p99 vs stock "
        "| app CPU ms/req | DB CPU ms/req | client CPU % of a core | machine busy % |")
    out("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in cfg.aio_concurrency:
        for endpoint, transport, case, _ in reversed(THROUGHPUT_TARGETS):
            rows = [r for r in aio_summary if r["endpoint"] == endpoint and r["concurrency"] == concurrency]
            rows.sort(key=lambda r: SERVER_ORDER.get(r["server"], 9))
            stock = find(rows, server="stock")
            for row in rows:
                out(f"| {concurrency} | {case} ({transport}) | {row['server']} | {measured_cells(row, stock)}")
    out("")
    client_max = max(r.client_cpu_pct for r in aio)
    out(f"The aiohttp client used at most {client_max:.0f}% of one core in any run (its CPU during the timed loop, "
        "interpreter start-up left out), "
        + ("so it is not the bottleneck; " if client_max < 80 else "close to a full core: it may hold the numbers "
           "down; ")
        + "it shares the machine's cores with the servers, so the CPU it takes is the servers' loss, more so for "
        "the faster server.")
    out("")
