"""
gunicorn's configuration for authsvc, read from the working directory by
``gunicorn authsvc.wsgi`` (the Dockerfile's command) without a ``-c``.

It only wires Prometheus' multiprocess mode (DESIGN.md, "Observability"):
every worker is a process of its own, so each writes its counts to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics``, whichever worker serves it,
adds up all of them. Workers, timeouts and the rest keep gunicorn's defaults
and its own knobs (``WEB_CONCURRENCY``, ``GUNICORN_CMD_ARGS``, flags).
"""

import glob
import os
import shutil
import tempfile

# prometheus_client decides once, when a process first imports it, whether
# it counts in memory or in files, from this variable. The master runs this
# file before it forks, and the workers import the app (and so
# prometheus_client) after the fork — or the master does, with --preload,
# also after this file — so every one of them sees the directory.
_OWN_DIR_PREFIX = "authsvc-metrics-"
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
else:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_OWN_DIR_PREFIX)


def on_starting(server) -> None:
    """
    Forget the counts of an earlier run that used the same directory: its
    processes are gone, yet their files would be added to this run's totals
    (and a worker that got one of their pids would carry on from its
    numbers). Once per master start, not on a reload (HUP), when the live
    workers' files must stay.
    """
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker) -> None:
    """A worker has exited: its counters stay in the totals, its live gauges must not."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """
    Remove the directory this file made, known by its name (a reload runs
    this file again, with the variable already set); an operator's own
    directory is left alone.
    """
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if os.path.dirname(path) == tempfile.gettempdir() and os.path.basename(path).startswith(_OWN_DIR_PREFIX):
        shutil.rmtree(path, ignore_errors=True)
