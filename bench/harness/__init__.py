"""
The bench's parts, one job each; ``bench/run.py`` is the command and says what
the bench does, in order.

- ``config``: where things are, the PostgreSQL server, the run's ``Config``
- ``procs``: child processes (started, measured, stopped) and /proc readings
- ``servers``: the projects (authsvc ES256 and HS256, stock) and their gunicorn servers
- ``resource``: the example resource server, in front of the ES256 authsvc
- ``seed``: databases, users and bulk dead rows
- ``load``: logins, one timed wrk run, the load phase
- ``dead_rows``: refresh latency against table size, and the purges
- ``report``: medians, targets, bench/RESULTS.md and the JSON
- ``report_keys``: the report's section on ES256 against HS256 and local verification
"""
