"""
What each change of the second performance round bought, one change at a
time: the new code against what it replaced, in one process, on the same
data, in alternating batches (so that a busier moment of the machine falls on
both), CPU time of this thread per call (plus wall time where a database
round trip is what changed). Writes a markdown table (bench/RESULTS.md quotes
it). Needs the local PostgreSQL (``BENCH_PG``), like the bench.

    .venv/bin/python bench/changes.py [--batches 7] [--calls 300]

The server-level effect of all of them together is the bench itself
(``make bench``); these are the parts, measured without gunicorn, wrk or
the other servers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.config import PASSWORD  # noqa: E402
from bench.harness.seed import prepare  # noqa: E402
from bench.harness.servers import Project  # noqa: E402

PROJECT = Project("authsvc", "bench_changes", "redis://127.0.0.1:6379/2")


def measure(old: Callable[[], object], new: Callable[[], object], *, batches: int, calls: int) -> dict:
    """Median CPU (and wall) µs per call of each, over alternating batches."""
    samples: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    for fn in (old, new):
        fn()  # warm: first-use work (imports, caches) is not what is measured
    for batch in range(batches):
        order = (("old", old), ("new", new)) if batch % 2 == 0 else (("new", new), ("old", old))
        for name, fn in order:
            cpu, wall = time.thread_time(), time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append(((time.thread_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6))
    result = {}
    for name, values in samples.items():
        cpus, walls = sorted(v[0] for v in values), sorted(v[1] for v in values)
        result[name] = (cpus[len(cpus) // 2], walls[len(walls) // 2])
    return result


def wsgi_call(application, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
               "wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)), "wsgi.url_scheme": "http",
               "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1", "wsgi.errors": sys.stderr,
               "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": "application/json"}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()})
    status = []
    payload = b"".join(application(environ, lambda s, h, e=None: status.append(s)))
    if not status[0].startswith("200"):
        raise RuntimeError(f"{method} {path}: {status[0]} {payload[:200]!r}")
    return json.loads(payload)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--output", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    prepare(PROJECT, 2)
    os.environ.update(PROJECT.env())
    import django

    django.setup()
    from bench.changes_cases import cases

    rows = []
    for name, old, new, unit in cases(PASSWORD, wsgi_call):
        result = measure(old, new, batches=args.batches, calls=args.calls)
        (old_cpu, old_wall), (new_cpu, new_wall) = result["old"], result["new"]
        rows.append(f"| {name} | {unit} | {old_cpu:.0f} | {new_cpu:.0f} | {new_cpu - old_cpu:+.0f} "
                    f"| {old_wall:.0f} | {new_wall:.0f} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        "| change | per | before, CPU µs | after, CPU µs | CPU µs | before, wall µs | after, wall µs |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
    ])
    if args.output:
        args.output.write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
