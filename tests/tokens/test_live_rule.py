"""
One rule for "is this session live?" (STYLE 14; issue 12, point 2): the
hot path's SQL behind every access token and every refresh, the querysets
behind the sessions list and the purge, and the admin's "active" column give
the same answer in every case — live, revoked, past its absolute lifetime,
idle, its user deactivated, its user's credentials epoch moved on. (A
deleted user's sessions are deleted with it.)
"""

from datetime import timedelta

import pytest
import time_machine
from django.contrib import admin
from django.db.models import F
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import User
from tests.conftest import bearer
from tokens.models import Session
from tokens.services import active_sessions

pytestmark = pytest.mark.django_db


def revoke(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(revoked_at=timezone.now(), revoke_reason="admin")


def past_absolute_lifetime(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def user_deactivated(session: Session) -> None:
    # Around User.save(): only the flag, so this case tests the is_active condition on its own.
    User.objects.filter(pk=session.user_id).update(is_active=False)


def epoch_moved_on(session: Session) -> None:
    User.objects.filter(pk=session.user_id).update(auth_epoch=F("auth_epoch") + 1)


def admin_column(session_id) -> bool:
    """The "active" column of the admin's sessions list, for one session."""
    model_admin = admin.site._registry[Session]
    row = model_admin.get_queryset(RequestFactory().get("/admin/tokens/session/")).get(pk=session_id)
    return model_admin.is_active(row)


@pytest.mark.parametrize(("change", "live"), [
    (None, True),
    (revoke, False),
    (past_absolute_lifetime, False),
    (user_deactivated, False),
    (epoch_moved_on, False),
])
def test_every_form_of_the_rule_agrees(api, user, tokens, change, live):
    session = Session.objects.get(pk=tokens["session_id"])
    if change is not None:
        change(session)
    now = timezone.now()

    answers = {
        "access token (hot SQL)": api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200,
        "SessionQuerySet.active": Session.objects.active(now).filter(pk=session.pk).exists(),
        "sessions list": active_sessions(user_id=user.pk).filter(pk=session.pk).exists(),
        "admin column": admin_column(session.pk),
        # Last: a live session's refresh rotates it.
        "refresh (hot SQL)": api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]},
                                      format="json").status_code == 200,
    }

    assert answers == dict.fromkeys(answers, live)


def test_every_form_agrees_that_an_idle_session_is_over(api, user, login, settings):
    """Idle: its newest refresh token expired (and the access token with it)."""
    settings.REFRESH_TOKEN_TTL = 60
    tokens = login(user).json()

    with time_machine.travel(timezone.now() + timedelta(seconds=61 + settings.SIMPLE_JWT["LEEWAY"])):
        now = timezone.now()
        answers = {
            "access token": api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200,
            "SessionQuerySet.active": Session.objects.active(now).filter(pk=tokens["session_id"]).exists(),
            "sessions list": active_sessions(user_id=user.pk).exists(),
            "admin column": admin_column(tokens["session_id"]),
            "refresh": api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]},
                                format="json").status_code == 200,
        }

    assert answers == dict.fromkeys(answers, False)


@pytest.fixture
def stricter_rule(monkeypatch):
    """The rule with one more condition (the session was started from 10.9.9.9), and the hot SQL rebuilt."""
    from django.db.models import Q

    from tokens import store
    from tokens.models import SessionQuerySet

    row_rule = SessionQuerySet.live_row_q
    monkeypatch.setattr(SessionQuerySet, "live_row_q", staticmethod(lambda at: row_rule(at) & Q(ip="10.9.9.9")))
    store._statements.cache_clear()
    yield
    store._statements.cache_clear()


def test_the_hot_paths_follow_the_one_definition(api, user, tokens, stricter_rule):
    """
    The statements behind every request and every refresh are compiled from
    ``SessionQuerySet.live_row_q``, not written beside it: change the rule and
    both hot paths change with it (a copy of the rule in SQL would still let
    this session through).
    """
    session = Session.objects.get(pk=tokens["session_id"])
    assert session.ip != "10.9.9.9"
    now = timezone.now()

    answers = {
        "SessionQuerySet.active": Session.objects.active(now).filter(pk=session.pk).exists(),
        "access token (hot SQL)": api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200,
        "refresh (hot SQL)": api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]},
                                      format="json").status_code == 200,
    }

    assert answers == dict.fromkeys(answers, False)
    Session.objects.filter(pk=session.pk).update(ip="10.9.9.9")
    assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 200
