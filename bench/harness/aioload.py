"""
The bench's second load generator, not wrk: an aiohttp client on uvloop, run in a
process of its own so that its CPU is measured as wrk's is.

    python -m bench.harness.aioload --url http://127.0.0.1:PORT/PATH --mode refresh|me \\
        --tokens FILE --concurrency N --duration SECONDS

``FILE`` holds N lines ``<access> <refresh> <csrftoken>`` (as for bench/wrk.lua),
one per virtual user. Each virtual user is a coroutine with a session of its
own, one connection at a time (``TCPConnector(limit=1)``), as wrk's threads
are; gunicorn's sync workers close the connection after every answer, and
aiohttp opens the next one. ``refresh`` POSTs ``{"refresh": token}`` and sends
the refresh token each answer returns next (rotation: a 200 without a readable
token is a chain break); ``me`` GETs with ``Authorization: Bearer``.

Prints one line ``BENCH_JSON {...}`` with the keys wrk.lua prints (those that
apply) and the client's own CPU during the timed loop, interpreter start-up
left out: ``bench/harness/load.py`` reads both clients' lines the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time

import aiohttp
import uvloop

TIMEOUT_S = 10  # as wrk's --timeout in load.py


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds, every answered request
        self.non_200 = 0
        self.chain_breaks = 0
        self.connect_errors = 0
        self.read_errors = 0
        self.timeouts = 0


async def virtual_user(url: str, mode: str, access: str, refresh: str, deadline: float, tally: Tally) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    # No cookie jar: the body transport sends none, as wrk does.
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                if mode == "refresh":
                    response = await session.post(url, json={"refresh": refresh})
                else:
                    response = await session.get(url, headers={"Authorization": f"Bearer {access}"})
                async with response:
                    body = await response.read()
            except aiohttp.ClientConnectorError:
                tally.connect_errors += 1
                continue
            except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
                tally.timeouts += 1
                continue
            except (aiohttp.ClientError, OSError):
                tally.read_errors += 1
                continue
            tally.latencies.append(time.perf_counter() - started)
            if response.status != 200:
                tally.non_200 += 1
            elif mode == "refresh":
                try:
                    refresh = json.loads(body)["refresh"]
                except (ValueError, KeyError, TypeError):
                    tally.chain_breaks += 1


def percentile_us(ordered: list[float], percent: float) -> int:
    """Nearest rank, in microseconds (0 when nothing was answered)."""
    if not ordered:
        return 0
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1e6)


async def run(url: str, mode: str, users: list[tuple[str, str]], duration: float) -> dict:
    tally = Tally()
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(virtual_user(url, mode, access, refresh, deadline, tally) for access, refresh in users))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    ordered = sorted(tally.latencies)
    return {
        "requests": len(ordered), "duration_us": round(elapsed * 1e6),
        "p50_us": percentile_us(ordered, 50), "p95_us": percentile_us(ordered, 95),
        "p99_us": percentile_us(ordered, 99), "max_us": percentile_us(ordered, 100),
        "mean_us": sum(ordered) / len(ordered) * 1e6 if ordered else 0.0,
        "non_200": tally.non_200, "chain_breaks": tally.chain_breaks, "connect_errors": tally.connect_errors,
        "read_errors": tally.read_errors, "timeouts": tally.timeouts,
        "client_cpu_s": cpu, "client": f"aiohttp {aiohttp.__version__}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=("refresh", "me"), required=True)
    parser.add_argument("--tokens", required=True, help="a file of '<access> <refresh> <csrftoken>' lines")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    args = parser.parse_args()
    with open(args.tokens) as handle:
        users = [tuple(line.split()[:2]) for line in handle if line.strip()]
    if len(users) < args.concurrency:
        raise SystemExit(f"{args.tokens} has {len(users)} users, fewer than {args.concurrency}")
    result = uvloop.run(run(args.url, args.mode, users[:args.concurrency], args.duration))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
