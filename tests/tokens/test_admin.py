"""
Staff revocation through the Django admin (DESIGN.md, "Operations"): the
changelists render, the revoke actions take effect on the session's access
tokens at once, and record which staff member revoked.
"""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import bearer
from tests.staff import admin_client, bound_session_id
from tests.tokens.conftest import DAY
from tokens.models import AuthEvent, RefreshToken, Session

pytestmark = pytest.mark.django_db

STAFF_EMAIL = "staff@example.com"


@pytest.fixture
def admin(staff):
    # Through the admin's door, as staff sign in; its own session is one of the sessions listed.
    return admin_client(staff)


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def listed(response) -> set:
    return {obj.pk for obj in response.context["cl"].result_list}


# --- pages render ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "/admin/tokens/session/",
    "/admin/tokens/refreshtoken/",
    "/admin/accounts/user/",
    "/admin/accounts/twofactorchallenge/",
])
def test_changelists_render_for_a_superuser(admin, user, login, url):
    login(user)

    response = admin.get(url)

    assert response.status_code == 200


def test_session_and_user_pages_render(admin, user, login):
    session_id = login(user).json()["session_id"]

    session_page = admin.get(reverse("admin:tokens_session_change", args=[session_id]))
    user_page = admin.get(reverse("admin:accounts_user_change", args=[user.pk]))

    assert session_page.status_code == 200
    assert user_page.status_code == 200
    # The user's sessions, inline, read-only, with a link to the filtered list.
    assert session_id in user_page.content.decode()
    assert f"/admin/tokens/session/?user={user.pk}" in user_page.content.decode()
    assert reverse("admin:tokens_session_delete", args=[session_id]) not in session_page.content.decode()


def test_session_changelist_columns(admin, user, login):
    login(user, HTTP_USER_AGENT="authsvc-cli/1.2 (linux)")

    page = admin.get(changelist(Session)).content.decode()

    for heading in ("User", "Created at", "Last used at", "Expires at", "Ip", "User agent", "Active", "Revoked at"):
        assert heading in page
    assert "alice@example.com" in page
    assert "authsvc-cli/1.2 (linux)" in page


def test_sessions_cannot_be_added_or_deleted_in_the_admin(admin, user, login):
    session_id = login(user).json()["session_id"]

    assert admin.get(reverse("admin:tokens_session_add")).status_code == 403
    assert admin.post(reverse("admin:tokens_session_delete", args=[session_id]), {"post": "yes"}).status_code == 403
    page = admin.get(changelist(Session)).content.decode()
    assert "delete_selected" not in page
    assert Session.objects.filter(pk=session_id).exists()


# --- filters and search ------------------------------------------------------------------------


@pytest.fixture
def three_sessions(user, login, make_user):
    """An active, a revoked and an expired session of alice, and one active session of someone else."""
    active = login(user).json()["session_id"]
    revoked = login(user).json()["session_id"]
    Session.objects.filter(pk=revoked).update(revoked_at=timezone.now(), revoke_reason=Session.RevokeReason.USER)
    expired = login(user).json()["session_id"]
    Session.objects.filter(pk=expired).update(expires_at=timezone.now() - DAY)
    RefreshToken.objects.filter(session_id=expired).update(expires_at=timezone.now() - DAY)
    other = login(make_user(email="bob@example.com"), REMOTE_ADDR="203.0.113.9").json()["session_id"]
    return {"active": active, "revoked": revoked, "expired": expired, "other": other}


@pytest.mark.parametrize("status, expected", [
    ("active", {"active", "other", "staff"}),
    ("revoked", {"revoked"}),
    ("expired", {"expired"}),
])
def test_status_filter(admin, three_sessions, status, expected):
    sessions = {**three_sessions, "staff": bound_session_id(admin)}

    response = admin.get(changelist(Session), {"status": status})

    assert response.status_code == 200
    assert {str(pk) for pk in listed(response)} == {sessions[name] for name in expected}


def test_idle_sessions_count_as_expired(admin, user, login):
    """A session whose newest refresh token expired is over (idle timeout), though within its lifetime."""
    idle = login(user).json()["session_id"]
    RefreshToken.objects.filter(session_id=idle).update(expires_at=timezone.now() - DAY)

    assert {str(pk) for pk in listed(admin.get(changelist(Session), {"status": "expired"}))} == {idle}
    # Only the staff member's own admin session is left active.
    assert {str(pk) for pk in listed(admin.get(changelist(Session), {"status": "active"}))} == {
        bound_session_id(admin)}


def test_user_filter(admin, user, three_sessions):
    response = admin.get(changelist(Session), {"user": user.pk})

    assert {str(pk) for pk in listed(response)} == {three_sessions[n] for n in ("active", "revoked", "expired")}
    # The chosen user is offered in the sidebar by email.
    assert "alice@example.com" in response.content.decode()


# "²" and "１": str.isdigit() says yes, and int() refuses the first (it was a 500) and
# reads the second as user 1; only ASCII digits are an id, and only as many as a key holds.
@pytest.mark.parametrize("value", ["alice", "999999", "²", "１", "9" * 30])
def test_user_filter_of_no_user_lists_nothing(admin, three_sessions, value):
    response = admin.get(changelist(Session), {"user": value})

    assert response.status_code == 200
    assert not listed(response)


@pytest.mark.parametrize("query, expected", [("bob@example", {"other"}), ("203.0.113.9", {"other"}),
                                             ("nothing-matches", set())])
def test_search_by_email_and_ip(admin, three_sessions, query, expected):
    response = admin.get(changelist(Session), {"q": query})

    assert response.status_code == 200
    assert {str(pk) for pk in listed(response)} == {three_sessions[name] for name in expected}


@pytest.mark.parametrize("query", ["not-a-uuid", "6b0f3a7e-9c51-4cbb-8d0e-2f4f0e3c1a55"])
def test_refresh_token_search_takes_any_text(admin, tokens, query):
    assert admin.get(changelist(RefreshToken), {"q": query}).status_code == 200


# --- revoke actions ---------------------------------------------------------------------------


def test_revoke_selected_sessions_ends_their_access_tokens_at_once(admin, api, user, login):
    first, second, spared = login(user).json(), login(user).json(), login(user).json()
    assert api.get("/api/auth/me/", **bearer(first["access"])).status_code == 200

    response = admin.post(changelist(Session), {
        "action": "revoke_selected_sessions",
        "_selected_action": [first["session_id"], second["session_id"]],
    })

    assert response.status_code == 302
    for tokens in (first, second):
        session = Session.objects.get(pk=tokens["session_id"])
        assert session.revoke_reason == Session.RevokeReason.ADMIN
        assert session.revoked_by == STAFF_EMAIL
        me = api.get("/api/auth/me/", **bearer(tokens["access"]))
        assert me.status_code == 401
        assert me.json()["code"] == "token_invalid"
    assert api.get("/api/auth/me/", **bearer(spared["access"])).status_code == 200
    assert "Revoked 2 sessions." in admin.get(changelist(Session)).content.decode()
    # The audit trail names the staff member.
    events = AuthEvent.objects.filter(kind=AuthEvent.Kind.SESSION_REVOKED)
    assert {(str(e.session_id), e.reason, e.actor) for e in events} == {
        (first["session_id"], "admin", STAFF_EMAIL), (second["session_id"], "admin", STAFF_EMAIL)}


def test_revoking_an_already_revoked_session_keeps_its_first_revocation(admin, user, login):
    session_id = login(user).json()["session_id"]
    Session.objects.filter(pk=session_id).update(revoked_at=timezone.now(), revoke_reason=Session.RevokeReason.LOGOUT)

    admin.post(changelist(Session), {"action": "revoke_selected_sessions", "_selected_action": [session_id]})

    session = Session.objects.get(pk=session_id)
    assert session.revoke_reason == Session.RevokeReason.LOGOUT
    assert session.revoked_by == ""


def test_revoke_all_sessions_of_selected_users(admin, api, user, login, make_user):
    first, second = login(user).json(), login(user).json()
    bob = make_user(email="bob@example.com")
    bobs = login(bob).json()
    carol = login(make_user(email="carol@example.com")).json()

    response = admin.post(changelist(user.__class__), {
        "action": "revoke_all_sessions",
        "_selected_action": [user.pk, bob.pk],
    })

    assert response.status_code == 302
    for tokens in (first, second, bobs):
        session = Session.objects.get(pk=tokens["session_id"])
        assert (session.revoke_reason, session.revoked_by) == (Session.RevokeReason.ADMIN, STAFF_EMAIL)
        assert api.get("/api/auth/me/", **bearer(tokens["access"])).status_code == 401
    assert api.get("/api/auth/me/", **bearer(carol["access"])).status_code == 200
    assert "Revoked 3 session(s) of 2 user(s)." in admin.get(changelist(user.__class__)).content.decode()


@pytest.mark.parametrize("mode, offered", [("optional", True), ("required", False), ("off", False)])
def test_disable_two_factor_is_offered_only_when_2fa_is_optional(admin, settings, mode, offered):
    settings.AUTH_2FA = mode

    page = admin.get(changelist(Session._meta.get_field("user").related_model)).content.decode()

    assert ('value="disable_two_factor"' in page) is offered


def test_disable_two_factor_action(admin, settings, make_user):
    settings.AUTH_2FA = "optional"
    enrolled = make_user(two_factor_enabled=True)
    other = make_user(two_factor_enabled=True)

    response = admin.post(changelist(enrolled.__class__), {
        "action": "disable_two_factor",
        "_selected_action": [enrolled.pk],
    })

    assert response.status_code == 302
    enrolled.refresh_from_db()
    other.refresh_from_db()
    assert enrolled.two_factor_enabled is False
    assert other.two_factor_enabled is True


def test_staff_without_change_permission_cannot_revoke(make_user, user, login):
    """Viewing sessions is not revoking them: the action needs the change permission."""
    from django.contrib.auth.models import Permission

    viewer = make_user(email="viewer@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_session", content_type__app_label="tokens"))
    client = admin_client(viewer)
    session_id = login(user).json()["session_id"]

    page = client.get(changelist(Session))
    client.post(changelist(Session), {"action": "revoke_selected_sessions", "_selected_action": [session_id]})

    assert page.status_code == 200
    assert "revoke_selected_sessions" not in page.content.decode()
    assert Session.objects.get(pk=session_id).revoked_at is None
