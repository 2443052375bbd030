"""
The bench's parts, one job each; ``bench/run.py`` is the command and says what
the bench does, in order.

- ``config``: where things are, the PostgreSQL server, the run's ``Config``
- ``procs``: child processes (started, measured, stopped) and /proc readings
- ``servers``: the two projects and their gunicorn servers
- ``seed``: databases, users and bulk dead rows
- ``load``: logins, one timed wrk run, the load phase
- ``dead_rows``: refresh latency against table size, and the purges
- ``report``: medians, targets, bench/RESULTS.md and the JSON
"""
