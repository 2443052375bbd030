"""
The bench's scale report (``bench/harness/report_scale.py``) extrapolates
stock's purge to sizes it is never run at; the smoke run measures stock at
every size it measures authsvc at, so the extrapolation is checked here, on
made-up purges, without running anything.
"""

import dataclasses

import pytest

from bench.harness.config import Config
from bench.harness.report_scale import scale_sections, scale_target_rows, stock_fit


def purge(server: str, rows: int, wall_s: float, max_rss_mb: float) -> dict:
    return {"server": server, "rows": rows, "command": "manage.py x", "fill_s": 1.0, "reused": False,
            "wall_s": wall_s, "cpu_s": wall_s / 2, "max_rss_mb": max_rss_mb,
            "before": {"tokens_refreshtoken": rows}, "after": {"tokens_refreshtoken": 0}}


@pytest.fixture
def cfg() -> Config:
    blank = {field.name: None for field in dataclasses.fields(Config)}
    return Config(**{**blank, "reps": 3, "latency_rows": [10, 1000], "latency_concurrency": 4,
                     "purge_rows": [100, 1000, 10000], "stock_purge_rows": [100, 300, 1000]})


# Stock on a straight line: 1 s + 10 ms a row, 50 MB + 1 MB a row; authsvc flat.
PURGES = [
    purge("authsvc", 100, 1.0, 90), purge("authsvc", 1000, 2.0, 90), purge("authsvc", 10000, 10.0, 95),
    purge("stock", 100, 2.0, 150), purge("stock", 300, 4.0, 350), purge("stock", 1000, 11.0, 1050),
]


def test_stock_is_extrapolated_along_its_line_to_the_sizes_it_did_not_run():
    fit = stock_fit(PURGES)

    assert fit["points"] == [100, 300, 1000]
    assert fit["wall_us_per_row"] == pytest.approx(10_000)
    assert fit["rss_kb_per_row"] == pytest.approx(1024)
    assert [(e["rows"], round(e["wall_s"], 6), round(e["max_rss_mb"], 6)) for e in fit["extrapolated"]] == [
        (10000, 101.0, 10050.0)
    ]


def test_no_line_through_a_single_size():
    assert stock_fit([purge("stock", 100, 2.0, 150), purge("authsvc", 1000, 2.0, 90)]) is None


def test_the_purge_target_says_when_stock_is_extrapolated(cfg):
    [latency, purge_target] = scale_target_rows(
        cfg, [{"label": "10", "p50_ms": 10.0}, {"label": "1000", "p50_ms": 11.0}], PURGES
    )

    assert latency == ("refresh p50 at 1,000 rows ≤ 1.2× the 10-row p50 (c=4)", "1.10× (11.00 vs 10.00 ms)", True)
    name, measured, met = purge_target
    assert "stock extrapolated from 3 measured points" in name
    assert measured.startswith("10.1× (10.0 s vs 101.0 s extrapolated)")
    assert met  # 10.1× and 95 MB against 90 MB: flat


def test_the_purge_table_marks_the_extrapolated_row(cfg):
    lines = []
    scale_sections(cfg, [], {}, PURGES, lines.append)
    text = "\n".join(lines)

    assert "| 10,000 | stock: `manage.py flushexpiredtokens`, **extrapolated, not run** | — | *101* |" in text
    assert "10,000 rows: authsvc 10.1× faster, 105.8× less peak memory (against stock extrapolated)." in text
