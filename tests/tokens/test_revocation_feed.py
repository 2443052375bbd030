"""
The revocation feed (issue 17, point 5; ``tokens.feed``): every way a
session ends early, each once, for as long as its access tokens may be
unexpired, through an opaque cursor that never skips a revocation a slower
transaction commits late.

Transactional tests: on PostgreSQL the feed serves only what transactions
that have ended wrote, and a test's own transaction would never end.
"""

import base64
import json
import re
import threading
import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.utils import timezone

from tests.conftest import PASSWORD, bearer
from tests.tokens.services_auth import feed, services  # noqa: F401
from tokens import feed as feed_store
from tokens.models import AuthEvent, Session, SessionEnd
from tokens.purge import purge_all
from tokens.services import revoke_session

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a brand new passphrase 77"


def revoked_sids(response) -> list[str]:
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return [entry["sid"] for entry in response.json()["revoked"]]


def poll(api, *expected: str, since: str | None = None) -> tuple[list[dict], str]:
    """
    Follow the feed from ``since`` until every ``expected`` sid has come, as
    a resource server does: what it served on the way, and its cursor. On
    PostgreSQL the horizon is the whole server's oldest open transaction,
    which another test worker's may hold back a while (nothing is lost).
    """
    served, deadline = [], time.monotonic() + 60
    while True:
        response = feed(api, since=since)
        revoked_sids(response)
        # At least once: while an open transaction elsewhere on the server holds the
        # horizon back, a committed row comes again; a resource server keeps a set.
        served += [entry for entry in response.json()["revoked"] if entry not in served]
        since = response.json()["cursor"]
        if set(expected) <= {entry["sid"] for entry in served} or time.monotonic() > deadline:
            return served, since
        time.sleep(0.05)


def settled(api, since: str) -> str:
    """
    The cursor once the server's horizon has passed what was read (at once
    when nothing else runs on the server): follow the feed until a read
    serves nothing again.
    """
    deadline = time.monotonic() + 60
    while True:
        response = feed(api, since=since)
        if not revoked_sids(response) or time.monotonic() > deadline:
            return since
        since = response.json()["cursor"]
        time.sleep(0.05)


def by_revocation(api, user, tokens):
    api.delete(f"/api/auth/sessions/{tokens['session_id']}/", **bearer(tokens["access"]))


def by_logout(api, user, tokens):
    api.post("/api/auth/logout/", **bearer(tokens["access"]))


def by_reuse(api, user, tokens):
    api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 401


def by_logout_all(api, user, tokens):
    api.post("/api/auth/logout/all/", **bearer(tokens["access"]))


def by_deactivation_in_a_shell(api, user, tokens):
    user.is_active = False
    user.save()


def by_password_set_in_a_shell(api, user, tokens):
    user.set_password(NEW_PASSWORD)
    user.save()


def by_password_reset_flow(api, user, tokens):
    from accounts.flows.credentials import credentials_changed

    with transaction.atomic():
        user.set_password(NEW_PASSWORD)
        user.save()
        credentials_changed(user=user, reason=Session.RevokeReason.PASSWORD_RESET)


@pytest.mark.parametrize("end, reason", [
    (by_revocation, "user"), (by_logout, "logout"), (by_reuse, "reuse"), (by_logout_all, "logout_all"),
    (by_deactivation_in_a_shell, "deactivated"), (by_password_set_in_a_shell, "password_set"),
    (by_password_reset_flow, "password_reset"),
], ids=lambda value: getattr(value, "__name__", value))
def test_every_early_end_of_a_session_is_in_the_feed_once(api, services, user, login, settings, end, reason):
    settings.REFRESH_REUSE_GRACE = 0
    tokens = login(user).json()
    bystander = login(user).json() if end is by_revocation else None

    end(api, user, tokens)

    session = Session.objects.get(pk=tokens["session_id"])
    assert session.revoke_reason == reason
    served, cursor = poll(api, tokens["session_id"])
    assert served == [{"sid": tokens["session_id"], "revoked_at": session.revoked_at.isoformat().replace("+00:00", "Z")}]
    # Once read, not again (once the horizon has passed it).
    assert revoked_sids(feed(api, since=settled(api, cursor))) == []


def test_a_password_change_ends_the_other_sessions_and_keeps_the_current_one(api, services, user, login):
    """The receiver's revocation by epoch is idempotent with the flow, and spares the session it was changed from."""
    current, other = login(user).json(), login(user).json()

    response = api.post("/api/auth/password/change/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
                        format="json", **bearer(current["access"]))

    assert response.status_code == 204
    assert [entry["sid"] for entry in poll(api, other["session_id"])[0]] == [other["session_id"]]
    assert Session.objects.get(pk=current["session_id"]).revoked_at is None
    assert api.get("/api/auth/me/", **bearer(current["access"])).status_code == 200
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.SESSION_REVOKED).count() == 1


def test_a_password_set_in_a_shell_revokes_by_name_and_audits_once(api, services, user, login):
    first, second = login(user).json(), login(user).json()

    user.set_password(NEW_PASSWORD)
    user.save()
    user.save()  # saved again: nothing moved, nothing more revoked

    served, _ = poll(api, first["session_id"], second["session_id"])
    assert sorted(entry["sid"] for entry in served) == sorted([first["session_id"], second["session_id"]])
    events = AuthEvent.objects.filter(kind=AuthEvent.Kind.SESSION_REVOKED)
    assert sorted((str(e.session_id), e.reason, e.via) for e in events) == sorted(
        (s["session_id"], "password_set", "command") for s in (first, second))


def test_the_cursor_moves_on_and_brings_only_what_came_after(api, services, user, login):
    first, second = login(user).json(), login(user).json()
    revoke_session(session_id=uuid.UUID(first["session_id"]), reason="admin")
    start, cursor = poll(api, first["session_id"])
    assert [entry["sid"] for entry in start] == [first["session_id"]]
    cursor = settled(api, cursor)

    revoke_session(session_id=uuid.UUID(second["session_id"]), reason="admin")
    after, cursor = poll(api, second["session_id"], since=cursor)

    assert [entry["sid"] for entry in after] == [second["session_id"]]
    assert revoked_sids(feed(api, since=settled(api, cursor))) == []


def test_only_sessions_whose_access_tokens_may_be_unexpired_are_served(api, services, user, login, settings):
    """Without a cursor the feed starts one access-token lifetime (plus leeway) ago; with one it never serves older."""
    old, recent = login(user).json(), login(user).json()
    start = feed(api).json()["cursor"]
    with time_machine.travel(timezone.now() - timedelta(seconds=settings.ACCESS_TOKEN_TTL + 5), tick=False):
        revoke_session(session_id=uuid.UUID(old["session_id"]), reason="admin")
    revoke_session(session_id=uuid.UUID(recent["session_id"]), reason="admin")

    assert [entry["sid"] for entry in poll(api, recent["session_id"])[0]] == [recent["session_id"]]
    assert [entry["sid"] for entry in poll(api, recent["session_id"], since=start)[0]] == [recent["session_id"]]


def test_a_full_page_hands_on_to_the_next(api, services, user, login, monkeypatch):
    monkeypatch.setattr(feed_store, "PAGE_SIZE", 2)
    sessions = [login(user).json()["session_id"] for _ in range(5)]
    api.post("/api/auth/logout/all/", **bearer(login(user).json()["access"]))

    # Every one of the six sessions (the five and the one that signed out everywhere), each once,
    # through pages of two, each handing on to the next.
    everyone = {str(pk) for pk in Session.objects.filter(user=user).values_list("pk", flat=True)}
    seen = [entry["sid"] for entry in poll(api, *everyone)[0]]
    assert sorted(seen) == sorted(everyone) and len(everyone) == 6
    assert set(sessions) <= everyone


def cursor_of(value) -> str:
    return "v1." + base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("since", [
    "v1.AAAA", "v1.e30", cursor_of({"x": 0, "i": 0}) + "!",
    "garbage", "v1.", "v1.!!!", "v2." + cursor_of({"x": 0, "i": 0})[3:], cursor_of({"x": -1, "i": 0}),
    cursor_of({"x": "1", "i": 0}), cursor_of({"x": 0}), cursor_of({"x": 0, "i": 0, "t": 1}), cursor_of([0, 0]),
    cursor_of({"x": 2**63, "i": 0}), cursor_of({"x": True, "i": 0}), "v1." + "A" * 300,
])
def test_a_cursor_the_feed_did_not_hand_out_is_a_400(api, services, since):
    response = feed(api, since=since)

    assert response.status_code == 400
    if re.fullmatch(r"v1\.[A-Za-z0-9_-]{1,197}", since):
        assert response.json() == {"detail": "The cursor is not one this feed handed out.", "code": "invalid_cursor"}
    else:  # not even of the documented form (the schema's pattern, 200 characters at most)
        assert response.json()["code"] == "invalid" and set(response.json()["errors"]) == {"since"}


def test_the_hourly_purge_drops_what_the_feed_no_longer_serves(services, settings):
    now = timezone.now()
    lifetime = timedelta(seconds=settings.ACCESS_TOKEN_TTL)
    gone = SessionEnd.objects.create(session_id=uuid.uuid4(), revoked_at=now - lifetime - timedelta(minutes=6))
    kept = SessionEnd.objects.create(session_id=uuid.uuid4(), revoked_at=now - lifetime)

    counts = purge_all(now=now)

    assert counts["session_ends"] == 1
    assert list(SessionEnd.objects.values_list("pk", flat=True)) == [kept.pk]
    assert gone.pk != kept.pk


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (two transactions)")
def test_a_revocation_committed_late_by_a_slower_transaction_is_not_skipped(api, services, user, login):
    """
    The slow transaction revokes first (its row's id and time are the
    smaller) and commits after a later one. A timestamp or serial cursor
    read between the two commits would pass it by for good; the horizon
    cursor holds back until it has committed, then serves it — while the
    later one is served at once, not held back with it.
    """
    slow, fast = login(user).json(), login(user).json()
    written, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_revocation():
        try:
            with transaction.atomic():
                revoke_session(session_id=uuid.UUID(slow["session_id"]), reason="admin")
                written.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=slow_revocation)
    thread.start()
    try:
        assert written.wait(timeout=30)
        revoke_session(session_id=uuid.UUID(fast["session_id"]), reason="admin")  # committed at once
        between = feed(api)
        assert slow["session_id"] not in revoked_sids(between)
        # The later revocation is served at once, the slow transaction holding the horizon back or not.
        assert fast["session_id"] in revoked_sids(between)
    finally:
        release.set()
        thread.join(timeout=30)
    assert done.is_set()

    after, _ = poll(api, slow["session_id"], fast["session_id"], since=between.json()["cursor"])

    # At least once, never skipped: the later one may come again (a resource server keeps a set).
    assert slow["session_id"] in [entry["sid"] for entry in after]
    assert set(revoked_sids(between)) | {entry["sid"] for entry in after} == {slow["session_id"], fast["session_id"]}
