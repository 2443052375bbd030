"""
The hourly purge through Celery (DESIGN.md, "Operations"): the beat entry,
the task as a thin adapter with retries, and a real `celery worker --beat`
purging by itself.
"""

import os
import subprocess
import sys
import time
import uuid

import pytest
import redis
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.db import OperationalError, connection

from authsvc import celery_app
from tests.celery_worker import ROOT, celery_conf, celery_worker, database_url
from tokens import tasks
from tokens.models import RefreshToken, Session



# --- the schedule and the task ---------------------------------------------------------


@pytest.mark.skipif("PURGE_SCHEDULE" in os.environ, reason="PURGE_SCHEDULE replaces the hourly crontab")
def test_beat_runs_the_purge_at_minute_0_of_every_hour():
    (entry,) = [e for e in celery_app.conf.beat_schedule.values() if e["task"] == "tokens.tasks.purge_expired"]

    schedule = entry["schedule"]
    assert schedule == crontab(minute=0)
    assert schedule.minute == {0}
    assert schedule.hour == set(range(24))
    assert schedule.day_of_week == set(range(7))


def test_the_beat_entry_names_a_registered_task():
    celery_app.loader.import_default_modules()

    for entry in celery_app.conf.beat_schedule.values():
        assert entry["task"] in celery_app.tasks
    assert tasks.purge_expired.name == "tokens.tasks.purge_expired"


def test_purge_schedule_setting_replaces_the_crontab_with_seconds():
    """PURGE_SCHEDULE (seconds) is how tests, and impatient operators, shorten the hourly run."""
    env = {**os.environ, "PURGE_SCHEDULE": "5", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    code = "from django.conf import settings; print(settings.CELERY_BEAT_SCHEDULE['purge-expired-tokens']['schedule'])"

    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5"


@pytest.mark.django_db
def test_task_runs_the_configured_purges_and_returns_the_counts(purge_scenario):
    scenario = purge_scenario()

    result = tasks.purge_expired.apply()

    assert result.get() == {
        "refresh_tokens": len(scenario.dead_records), "sessions": len(scenario.dead_sessions),
        "auth_events": 0, "two_factor_challenges": 0, "trusted_devices": 0, "notices": 0, "session_ends": 0,
        "email_links": 0, "webauthn_ceremonies": 0,
    }
    assert set(Session.objects.values_list("pk", flat=True)) == scenario.kept_sessions


@pytest.fixture
def eager_retries():
    """Eager tasks that retry in-process instead of raising Retry at the first failure."""
    with celery_conf(task_eager_propagates=False):
        yield


def test_task_retries_on_a_database_error(monkeypatch, eager_retries):
    """A dropped connection or a failover is retried; every batch deleted before it stays deleted."""
    outcomes = [OperationalError("server closed the connection"), {"refresh_tokens": 1, "sessions": 0}]
    calls = []

    def flaky_purge(**kwargs):
        calls.append(kwargs)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(tasks, "purge_all", flaky_purge)
    # Only the purge is under test here: the keys' rotation step that follows it touches nothing.
    monkeypatch.setattr(tasks.keys, "advance", dict)

    result = tasks.purge_expired.apply()

    assert result.get() == {"refresh_tokens": 1, "sessions": 0}
    assert len(calls) == 2
    assert calls[0] == {"batch_size": django_settings.PURGE_BATCH_SIZE}


def test_task_gives_up_after_three_retries(monkeypatch, eager_retries):
    calls = []

    def failing_purge(**kwargs):
        calls.append(kwargs)
        raise OperationalError("database is down")

    monkeypatch.setattr(tasks, "purge_all", failing_purge)

    with pytest.raises(OperationalError):
        tasks.purge_expired.apply().get()
    assert len(calls) == 4  # the first run and three retries
    assert tasks.purge_expired.max_retries == 3
    assert tasks.purge_expired.autoretry_for == (OperationalError,)


# --- a real worker with beat ----------------------------------------------------------------


@pytest.fixture
def worker_with_beat(tmp_path, settings):
    """
    `celery -A authsvc worker --beat` on the local Redis and this test's
    database, with the purge every second. Its own queue name keeps it from
    taking (or giving away) tasks of any other worker on the same Redis.
    """
    queue = f"authsvc-purge-test-{uuid.uuid4().hex[:12]}"
    # The suite's settings run tasks eagerly: beat would then run the purge
    # itself instead of sending it through Redis to the worker.
    (tmp_path / "purge_worker_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "CELERY_TASK_ALWAYS_EAGER = False\n"
        f"CELERY_TASK_DEFAULT_QUEUE = {queue!r}\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "purge_worker_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DATABASE_URL": database_url(settings),
        "REDIS_URL": settings.REDIS_URL,
        "PURGE_SCHEDULE": "1",
    }
    log_path = tmp_path / "worker.log"
    try:
        with celery_worker("--beat", "-Q", queue, "--schedule", str(tmp_path / "beat-schedule"), env=env,
                           log_path=log_path) as process:
            yield process, log_path
    finally:
        # The queue's binding is left in Redis by kombu; it names a queue nobody will use again.
        redis.Redis.from_url(settings.REDIS_URL).delete(f"_kombu.binding.{queue}", queue)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not django_settings.REDIS_URL or connection.vendor != "postgresql",
    reason="needs REDIS_URL and DATABASE_URL=postgres://… (a worker process shares the database)",
)
def test_a_real_worker_with_beat_purges_seeded_rows_by_itself(purge_scenario, worker_with_beat):
    scenario = purge_scenario()
    process, log = worker_with_beat

    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        sessions = set(Session.objects.values_list("pk", flat=True))
        records = set(RefreshToken.objects.values_list("pk", flat=True))
        if sessions == scenario.kept_sessions and records == scenario.kept_records:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the rows were not purged in time; the worker's log:\n" + log.read_text()[-3000:])

    # Sent by beat, received from Redis and run by the worker, which logs the
    # task's success just after the rows are gone: wait for that line.
    deadline = time.monotonic() + 15
    while "succeeded" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    output = log.read_text()
    assert "Sending due task purge-expired-tokens (tokens.tasks.purge_expired)" in output
    assert "Task tokens.tasks.purge_expired[" in output and "] received" in output
    assert "succeeded" in output
