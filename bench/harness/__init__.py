"""
The bench's parts, one job each; ``bench/run.py`` is the command and says what
the bench does, in order.

- ``config``: where things are, the PostgreSQL server, the run's ``Config``
- ``procs``: child processes (started, measured, stopped) and /proc readings
- ``servers``: the projects (authsvc ES256 and HS256, stock) and their gunicorn servers
- ``resource``: the example resource server, in front of the ES256 authsvc
- ``seed``: databases, users and bulk dead rows
- ``load``: logins, the load clients, one timed run, the load phases (wrk's, the aiohttp client's)
- ``aioload``: the second load client, aiohttp, run as ``python -m bench.harness.aioload``
- ``dead_rows``: refresh latency against table size, and the purges
- ``report``: the targets, the tables, bench/RESULTS.md and the JSON
- ``report_rows``: runs grouped into medians; finding and comparing cases
- ``report_aio``: issue 20's throughput targets in both harnesses, the aiohttp harness's table
- ``report_keys``: the report's section on ES256 against HS256 and local verification
- ``report_scale``: the scale targets, refresh latency against table size, the purges (stock extrapolated)
"""
