"""
The report's section for issue 17, "Keys other services can verify": what
signing ES256 (authsvc's default) costs against HS256 — the same authsvc,
only ``JWT_ALGORITHM`` changed — and against stock simplejwt; and the example
resource server, which verifies authsvc's tokens locally, against authsvc's
own GET /me at the same concurrency.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Config


def _find(summary: list[dict], **match) -> dict | None:
    return next((row for row in summary if all(row[k] == v for k, v in match.items())), None)


def _ratio(a: dict | None, b: dict | None, key: str) -> str:
    return f"{a[key] / b[key]:.2f}×" if a and b and b[key] else "—"


def _value(row: dict | None, key: str, digits: int = 0) -> str:
    return f"{row[key]:.{digits}f}" if row else "—"


def keys_section(cfg: Config, summary: list[dict], out: Callable[[str], None], target_c: int) -> None:
    out("### Keys (issue 17): ES256 against HS256, and local verification")
    out("")
    out("The cost of the switch: authsvc signing ES256 (its default) against the same authsvc with "
        "`JWT_ALGORITHM=HS256` (a database of its own), and both against stock simplejwt (HS256). A refresh "
        "signs two tokens (access and refresh), a GET /me verifies one.")
    out("")
    out("| c | case | ES256 req/s | HS256 req/s | ES256 / HS256 | p99 ms ES256 / HS256 | app CPU ms/req ES256 / "
        "HS256 | ES256 / stock | HS256 / stock |")
    out("|---:|---|---:|---:|---:|---|---|---:|---:|")
    for concurrency in cfg.concurrency:
        for endpoint, transport, case in (("refresh", "body", "refresh (body)"), ("me", "bearer", "GET /me")):
            es, hs, stock = (_find(summary, endpoint=endpoint, transport=transport, concurrency=concurrency,
                                   server=server) for server in ("authsvc", "authsvc-hs256", "stock"))
            cpu = f"{_value(es, 'app_cpu_ms', 2)} / {_value(hs, 'app_cpu_ms', 2)}"
            if es and hs:
                cpu += f" ({es['app_cpu_ms'] - hs['app_cpu_ms']:+.2f})"
            out(f"| {concurrency} | {case} | {_value(es, 'rps')} | {_value(hs, 'rps')} | "
                f"**{_ratio(es, hs, 'rps')}** | {_value(es, 'p99_ms', 2)} / {_value(hs, 'p99_ms', 2)} | {cpu} | "
                f"{_ratio(es, stock, 'rps')} | {_ratio(hs, stock, 'rps')} |")
    out("")
    for endpoint, transport, case in (("refresh", "body", "refresh"), ("me", "bearer", "GET /me")):
        es, hs = (_find(summary, endpoint=endpoint, transport=transport, concurrency=target_c, server=server)
                  for server in ("authsvc", "authsvc-hs256"))
        if es and hs:
            out(f"- {case} at c={target_c}: ES256 gives {_ratio(es, hs, 'rps')} of HS256's throughput, "
                f"{es['app_cpu_ms'] - hs['app_cpu_ms']:+.2f} ms of gunicorn CPU per request.")
    out("")
    out("Local verification: the example resource server (`examples/resource_server`, under granian, the same "
        "worker count) answers GET /orders with no call to authsvc and no database: each worker checks a token's "
        "ES256 signature and claims against authsvc's cached JWKS once and keeps the result; on every request, "
        "cached or not, it checks the expiry, that the key is still published, and the session against the "
        "revocation set its feed thread keeps. authsvc's GET /me keeps its verified tokens the same way "
        "(tokens/verified.py) and reads the session from the database on every request. Tokens from logins "
        "at the ES256 authsvc.")
    out("")
    out("| c | resource GET /orders req/s | p50 ms | p99 ms | authsvc GET /me req/s | p99 ms | req/s resource / "
        "authsvc | p99 resource / authsvc | app CPU ms/req resource / authsvc | DB CPU ms/req resource / authsvc |")
    out("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for concurrency in cfg.concurrency:
        rs = _find(summary, endpoint="orders", concurrency=concurrency, server="resource")
        me = _find(summary, endpoint="me", concurrency=concurrency, server="authsvc")
        out(f"| {concurrency} | {_value(rs, 'rps')} | {_value(rs, 'p50_ms', 2)} | {_value(rs, 'p99_ms', 2)} | "
            f"{_value(me, 'rps')} | {_value(me, 'p99_ms', 2)} | **{_ratio(rs, me, 'rps')}** | "
            f"{_ratio(rs, me, 'p99_ms')} | {_value(rs, 'app_cpu_ms', 2)} / {_value(me, 'app_cpu_ms', 2)} | "
            f"{_value(rs, 'db_cpu_ms', 2)} / {_value(me, 'db_cpu_ms', 2)} |")
    out("")
    out("The resource server's feed threads (one per worker, a poll every 0.5 s) run during every run, so "
        "the ES256 authsvc also answers a few feed polls a second while it is measured.")
    out("")
