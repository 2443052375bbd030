"""A real `celery -A authsvc worker` subprocess for the tests that prove tasks travel through Redis."""

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import redis

from tests.hosts import stop

ROOT = Path(__file__).resolve().parents[1]


def database_url(settings) -> str:
    """The URL of the database this test runs on (pytest-django's test_… database), for a child process."""
    db = settings.DATABASES["default"]
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextlib.contextmanager
def celery_conf(**overrides):
    """The Celery app's settings changed for the block, then restored."""
    from authsvc import celery_app

    saved = {name: getattr(celery_app.conf, name) for name in overrides}
    celery_app.conf.update(overrides)
    try:
        yield
    finally:
        celery_app.conf.update(saved)


@contextlib.contextmanager
def celery_worker(*args: str, env: dict[str, str], log_path: Path):
    """Run a worker (extra ``args``, e.g. ``--beat``) until the block ends; its output goes to ``log_path``."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "authsvc", "worker", "--pool=solo", "--without-mingle",
             "--without-gossip", "--without-heartbeat", "-l", "info", *args],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own: ``kill_worker`` takes its pool processes too
        )
        try:
            yield process
        finally:
            stop(process, timeout=15)


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL a worker and its pool processes at once: nothing acknowledged, nothing handed back."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def worker_settings(directory: Path, **overrides) -> dict[str, str]:
    """
    The environment that gives a worker the suite's settings (``tests.settings``)
    with tasks going through the broker and ``overrides`` (setting name →
    value), written as a settings module in ``directory``.
    """
    module = f"worker_settings_{uuid.uuid4().hex[:12]}"
    lines = ["from tests.settings import *  # noqa: F403", "CELERY_TASK_ALWAYS_EAGER = False"]
    lines += [f"{name} = {value!r}" for name, value in overrides.items()]
    (directory / f"{module}.py").write_text("\n".join(lines) + "\n")
    return {"DJANGO_SETTINGS_MODULE": module, "PYTHONPATH": os.pathsep.join([str(directory), str(ROOT)])}


@contextlib.contextmanager
def private_queue(redis_url: str, prefix: str = "authsvc-test"):
    """
    A queue name of its own for the block, so a test's worker never takes (nor
    leaves) tasks of another run on the same Redis; its keys go afterwards:
    the list (and its priority lists), kombu's binding, and the
    unacknowledged copies a killed worker left.
    """
    queue = f"{prefix}-{uuid.uuid4().hex[:12]}"
    try:
        yield queue
    finally:
        with redis.Redis.from_url(redis_url) as client:
            keys = [*client.scan_iter(match=f"{queue}*"), f"_kombu.binding.{queue}",
                    f"_kombu.binding_permanent.{queue}"]
            client.delete(*keys)
            for tag in unacked_tags(client, queue):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)


def unacked_tags(client: redis.Redis, queue: str) -> list[bytes]:
    """Delivery tags of the messages of ``queue`` a worker took and has not acknowledged."""
    return [tag for tag, entry in client.hgetall("unacked").items() if json.loads(entry)[2] == queue]


def queued_tasks(client: redis.Redis, queue: str) -> list[tuple[str, list]]:
    """(task name, positional arguments) of each message waiting in ``queue``, oldest first."""
    tasks = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args))
    return tasks
