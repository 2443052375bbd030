"""
The purge (DESIGN.md, "Operations"): expired refresh records, expired and
long-revoked sessions go, in bounded batches, without loading rows; every
live session and every used-but-unexpired record stays.
"""

import threading
import uuid

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import bearer
from tests.tokens.conftest import DAY, HOUR, Scenario
from tokens.models import RefreshToken, Session
from tokens.purge import purge_all, purge_expired

pytestmark = pytest.mark.django_db


def remaining() -> tuple[set, set]:
    return set(Session.objects.values_list("pk", flat=True)), set(RefreshToken.objects.values_list("pk", flat=True))


def test_purge_deletes_exactly_the_dead_rows(purge_scenario):
    """Expired records, expired sessions, sessions revoked past the retention and idle ones go; the rest stays."""
    scenario = purge_scenario()

    counts = purge_expired()

    assert counts == {"refresh_tokens": len(scenario.dead_records), "sessions": len(scenario.dead_sessions)}
    sessions, records = remaining()
    assert sessions == scenario.kept_sessions
    assert records == scenario.kept_records


def test_a_second_purge_finds_nothing(purge_scenario):
    purge_scenario()
    purge_expired()

    assert purge_expired() == {"refresh_tokens": 0, "sessions": 0}


def test_dry_run_counts_what_a_purge_deletes_and_deletes_nothing(purge_scenario):
    scenario = purge_scenario()
    before = remaining()

    counts = purge_expired(dry_run=True)

    assert counts == {"refresh_tokens": len(scenario.dead_records), "sessions": len(scenario.dead_sessions)}
    assert remaining() == before
    assert purge_expired() == counts


def test_revoked_sessions_stay_for_the_configured_retention(purge_scenario, settings):
    """REVOKED_RETENTION is read when the purge runs: with 12 hours, yesterday's revocation goes too."""
    scenario = purge_scenario()
    settings.REVOKED_RETENTION = 12 * 3600

    counts = purge_expired()

    # The session revoked yesterday and its unexpired record join the dead.
    assert counts == {"refresh_tokens": len(scenario.dead_records) + 1, "sessions": len(scenario.dead_sessions) + 1}
    assert not Session.objects.filter(revoked_at__isnull=False).exists()


def test_purge_takes_its_clock_from_now(purge_scenario):
    """``now`` moves the purge's notion of time: ten days on, only the fresh session's future is left."""
    scenario = purge_scenario()
    counts = purge_expired(now=timezone.now() + 40 * DAY)

    assert counts == {"refresh_tokens": len(scenario.records), "sessions": len(scenario.sessions)}
    assert remaining() == (set(), set())


def test_purge_runs_raw_deletes_and_loads_no_row(purge_scenario):
    """Memory stays flat: every statement is a DELETE with its SELECT inside; nothing is fetched."""
    purge_scenario()

    with CaptureQueriesContext(connection) as queries:
        purge_expired()

    statements = [q["sql"] for q in queries.captured_queries]
    deletes = [sql for sql in statements if sql.startswith("DELETE")]
    assert deletes
    assert all(sql.startswith(("DELETE", "SAVEPOINT", "RELEASE SAVEPOINT")) for sql in statements), statements
    assert all(" LIMIT " in sql for sql in deletes), deletes
    if connection.vendor == "postgresql":
        assert all(" = ANY(ARRAY(SELECT " in sql and "FOR UPDATE" in sql and "SKIP LOCKED" in sql for sql in deletes)
    else:
        assert all(" IN (SELECT " in sql for sql in deletes), deletes


def test_batches_are_bounded_and_report_progress(make_user):
    """batch_size=2 over 5 expired records: three DELETEs (2, 2, 1), progress after each full batch."""
    now = timezone.now()
    scenario = Scenario()
    session = scenario.session(make_user(), created=now - DAY, expires=now + 29 * DAY, last_used=now, dead=False)
    for _ in range(5):
        scenario.record(session, issued=now - 8 * DAY, expires=now - DAY, dead=True)
    scenario.record(session, issued=now, expires=now + 7 * DAY, dead=False)
    scenario.save()
    progress = []

    with CaptureQueriesContext(connection) as queries:
        counts = purge_expired(batch_size=2, on_progress=lambda kind, n: progress.append((kind, n)))

    assert counts == {"refresh_tokens": 5, "sessions": 0}
    assert progress == [("refresh_tokens", 2), ("refresh_tokens", 4)]
    statements = [q["sql"] for q in queries.captured_queries]
    record_deletes = [sql for sql in statements if sql.startswith('DELETE FROM "tokens_refreshtoken"')]
    # Three for the expired records, one (empty) for the records of dead sessions.
    assert len([sql for sql in record_deletes if "INNER JOIN" not in sql]) == 3
    assert set(RefreshToken.objects.values_list("pk", flat=True)) == scenario.kept_records


def test_sessions_and_their_records_are_purged_in_batches_too(make_user):
    """Long-revoked sessions with several unexpired records each: records first, then sessions, all batched."""
    now = timezone.now()
    scenario = Scenario()
    user = make_user()
    for _ in range(3):
        session = scenario.session(user, created=now - 9 * DAY, expires=now + 21 * DAY, revoked=now - 8 * DAY,
                                   dead=True)
        for _ in range(3):
            scenario.record(session, issued=now - 9 * DAY, expires=now + DAY, dead=True)
    scenario.save()
    progress = []

    counts = purge_expired(batch_size=2, on_progress=lambda kind, n: progress.append((kind, n)))

    assert counts == {"refresh_tokens": 9, "sessions": 3}
    assert progress == [("refresh_tokens", 2), ("refresh_tokens", 4), ("refresh_tokens", 6), ("refresh_tokens", 8),
                        ("sessions", 2)]
    assert remaining() == (set(), set())


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        purge_expired(batch_size=0)


def test_live_session_still_refreshes_and_detects_reuse_after_a_purge(api, user, tokens, purge_scenario, settings):
    """
    The purge keeps what rotation needs: the live session refreshes, and its
    used-but-unexpired record still unmasks a replayed token (RFC 9700 §4.14.2).
    """
    settings.REFRESH_REUSE_GRACE = 0
    rotated = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert rotated.status_code == 200
    purge_scenario(user=user)

    purge_expired()

    again = api.post("/api/auth/refresh/", {"refresh": rotated.json()["refresh"]}, format="json")
    assert again.status_code == 200, again.content
    assert api.get("/api/auth/me/", **bearer(again.json()["access"])).status_code == 200
    replay = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert replay.status_code == 401
    assert replay.json()["code"] == "token_reused"


def test_purge_all_merges_the_counts_of_every_configured_purge(purge_scenario, settings):
    """PURGE_FUNCTIONS is read when used; counts of one kind from several functions add up."""
    scenario = purge_scenario()
    settings.PURGE_FUNCTIONS = ["tokens.purge.purge_expired", "tests.tokens.test_purge.fake_purge"]
    now = timezone.now()

    counts = purge_all(batch_size=7, now=now)

    assert counts == {
        "refresh_tokens": len(scenario.dead_records),
        "sessions": len(scenario.dead_sessions) + 1,
        "two_factor_challenges": 3,
    }
    assert fake_purge.calls == [{"batch_size": 7, "dry_run": False, "now": now, "on_progress": None}]


def fake_purge(**kwargs):
    fake_purge.calls.append(kwargs)
    return {"two_factor_challenges": 3, "sessions": 1}


fake_purge.calls = []


@pytest.fixture(autouse=True)
def _reset_fake_purge():
    fake_purge.calls.clear()


# --- two purges at once, on PostgreSQL ------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (row locks)")
def test_two_purges_at_once_split_the_work_and_refreshes_go_on(make_user, purge_scenario):
    """
    SKIP LOCKED: two concurrent purges finish without error or deadlock,
    delete every dead row exactly once between them, and refreshes running
    meanwhile are neither blocked nor refused.
    """
    now = timezone.now()
    user = make_user()
    scenario = Scenario()
    for i in range(300):
        revoked = now - 8 * DAY if i % 2 else None
        expires = now + 20 * DAY if revoked else now - HOUR
        session = scenario.session(user, created=now - 9 * DAY, expires=expires, revoked=revoked, dead=True)
        for _ in range(5):
            scenario.record(session, issued=now - 9 * DAY, expires=now + DAY if revoked else now - HOUR, dead=True)
    for _ in range(1000):
        scenario.record(session, issued=now - 9 * DAY, expires=now - 2 * DAY, dead=True)
    scenario.save()
    kept = purge_scenario(user=user)
    login = APIClient().post(
        "/api/auth/login/", {"email": user.email, "password": "correct horse battery staple 42", "transport": "body"},
        format="json",
    )
    assert login.status_code == 200
    refresh_token = login.json()["refresh"]

    barrier = threading.Barrier(3)
    results: dict = {}

    def purge(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            results[name] = purge_expired(batch_size=50, now=now)
        except Exception as exc:  # the assertion below shows it
            results[name] = exc
        finally:
            connections.close_all()

    def refresh_repeatedly() -> None:
        nonlocal refresh_token
        client = APIClient()
        statuses = []
        try:
            barrier.wait(timeout=10)
            for _ in range(10):
                response = client.post("/api/auth/refresh/", {"refresh": refresh_token}, format="json")
                statuses.append(response.status_code)
                if response.status_code == 200:
                    refresh_token = response.json()["refresh"]
        finally:
            results["refreshes"] = statuses
            connections.close_all()

    threads = [threading.Thread(target=purge, args=(name,)) for name in ("a", "b")]
    threads.append(threading.Thread(target=refresh_repeatedly))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(isinstance(r, Exception) for r in results.values()), results
    assert results["refreshes"] == [200] * 10
    total = {kind: results["a"][kind] + results["b"][kind] for kind in ("refresh_tokens", "sessions")}
    assert total == {
        "refresh_tokens": len(scenario.dead_records) + len(kept.dead_records),
        "sessions": len(scenario.dead_sessions) + len(kept.dead_sessions),
    }
    sessions, records = remaining()
    live_login = uuid.UUID(login.json()["session_id"])
    assert sessions == kept.kept_sessions | {live_login}
    assert kept.kept_records <= records
    assert records - kept.kept_records == set(
        RefreshToken.objects.filter(session_id=live_login).values_list("pk", flat=True)
    )


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (the key's action)")
def test_the_database_cascades_a_deleted_session_to_its_records(user, tokens):
    """
    Migration 0004: on PostgreSQL the session key is ``ON DELETE CASCADE``,
    so a session deleted in SQL takes its records along (one delete per
    session at the statement's end, where ``NO ACTION`` ran two lookups per
    session at COMMIT), and the key still refuses a record without a session.
    """
    session_id = uuid.UUID(tokens["session_id"])
    assert RefreshToken.objects.filter(session_id=session_id).exists()

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tokens_session WHERE id = %s", [session_id])

    assert not RefreshToken.objects.filter(session_id=session_id).exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            RefreshToken.objects.create(jti=uuid.uuid4(), session_id=session_id, issued_at=timezone.now(),
                                        expires_at=timezone.now())
