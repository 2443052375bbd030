"""
Staff delete an account in the admin (DESIGN.md, Part 2, "Account lifecycle",
"Deletion"; ``accounts.admin.UserAdmin``): through the one rule
(``flows.deletion.delete_account_by_staff``) — every session in the
revocation feed, the audit trail naming the staff member via admin, the
notice saying "by staff" — and, as for taking a factor away, only with a
recent sign-in: a stale one is refused before the confirmation page. No bulk
delete: it would delete rows, not accounts.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import Notice, User
from tests.staff import admin_client
from tokens import devices, feed
from tokens.models import AuthEvent, Session, TrustedDevice

pytestmark = pytest.mark.django_db

Kind = AuthEvent.Kind
STAFF_EMAIL = "staff@example.com"
USERS = "/admin/accounts/user/"
STALE = "This action needs a recent sign-in: sign in again, then retry."


@pytest.fixture
def admin(staff):
    """A browser signed in to the admin as staff, its sign-in's own email read."""
    client = admin_client(staff)
    mail.outbox.clear()
    return client


def delete_url(user) -> str:
    return f"{USERS}{user.pk}/delete/"


def later(settings):
    """Past ``ADMIN_REAUTH_MAX_AGE`` since the staff sign-in (which is itself still live)."""
    return time_machine.travel(timezone.now() + timedelta(seconds=settings.ADMIN_REAUTH_MAX_AGE + 1))


def test_staff_delete_a_user_through_the_confirmation_page(admin, user, login, capture):
    sessions = {login(user).json()["session_id"] for _ in range(2)}
    devices.remember_device(user=user, ip="198.51.100.7", user_agent="AlicesPhone/1.0")
    user_id = user.pk

    confirmation = admin.get(delete_url(user))
    deleted = capture(admin.post, delete_url(user), {"post": "yes"}, follow=True)

    # Django's page lists what goes with the account; the read-only rows it lists need no permission of their own.
    assert confirmation.status_code == 200
    assert "Are you sure you want to delete" in confirmation.content.decode()
    assert deleted.status_code == 200 and deleted.redirect_chain[-1][0] == USERS
    page = deleted.content.decode()
    assert "Ended 2 session(s) of alice@example.com." in page
    assert "was deleted successfully" in page
    assert not User.objects.filter(pk=user_id).exists()
    assert sessions <= {str(sid) for sid, _ in feed.read(since=None).ends}
    revoked = AuthEvent.objects.filter(kind=Kind.SESSION_REVOKED, user_id=user_id)
    assert sorted((str(e.session_id), e.reason, e.actor, e.via) for e in revoked) == sorted(
        (sid, "account_deleted", STAFF_EMAIL, "admin") for sid in sessions)
    (event,) = AuthEvent.objects.filter(kind=Kind.ACCOUNT_DELETED)
    assert (event.user_id, event.email, event.actor, event.via, event.reason) == (
        user_id, "alice@example.com", STAFF_EMAIL, "admin", "2 session(s) ended")
    assert not TrustedDevice.objects.filter(user_id=user_id).exists()
    (farewell,) = mail.outbox
    assert (farewell.subject, farewell.to) == ("Your account was deleted", ["alice@example.com"])
    assert "was deleted by staff." in farewell.body
    assert not Notice.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_stale_sign_in_is_refused_before_the_confirmation_page(admin, user, login, capture, settings, method):
    """
    OWASP ASVS 4.0 V3.7.1: an unattended or taken-over staff session must
    not be enough to delete an account. Refused on the confirmation page
    itself (not only at its "Yes"), back to the user's page, with a link to
    sign in afresh that returns to the delete page.
    """
    session = login(user).json()["session_id"]

    with later(settings):
        send = admin.get if method == "get" else admin.post
        refused = capture(send, delete_url(user), *([{"post": "yes"}] if method == "post" else []))
        shown = admin.get(refused["Location"])

    assert refused.status_code == 302 and refused["Location"] == f"{USERS}{user.pk}/change/"
    page = shown.content.decode()
    assert STALE in page
    link = re.search(r'<a href="([^"]+)">Sign in again</a>', page).group(1)
    assert link == "/admin/login/?reauth=1&amp;next=%2Fadmin%2Faccounts%2Fuser%2F" + f"{user.pk}%2Fdelete%2F"
    assert User.objects.filter(pk=user.pk).exists()
    assert Session.objects.get(pk=session).revoked_at is None
    assert not AuthEvent.objects.filter(kind__in=[Kind.ACCOUNT_DELETED, Kind.SESSION_REVOKED]).exists()
    assert not mail.outbox


def test_a_fresh_sign_in_deletes_again(admin, staff, user, settings, capture):
    """Signing in afresh (``?reauth``) is what the refusal asks for, and it is enough."""
    with later(settings):
        assert admin.post(delete_url(user), {"post": "yes"}).status_code == 302
        admin_client(staff, client=admin)
        deleted = capture(admin.post, delete_url(user), {"post": "yes"})

    assert deleted.status_code == 302 and deleted["Location"] == USERS
    assert not User.objects.filter(pk=user.pk).exists()


def test_there_is_no_bulk_delete(admin, user, make_user):
    """Django's "delete selected" would delete rows past the rule's per-account checks: it is not offered."""
    other = make_user(email="bob@example.com")

    listing = admin.get(USERS)
    refused = admin.post(USERS, {"action": "delete_selected", "_selected_action": [user.pk, other.pk], "post": "yes"})

    assert 'value="delete_selected"' not in listing.content.decode()
    assert refused.status_code in (200, 302)
    assert User.objects.filter(pk__in=[user.pk, other.pk]).count() == 2
    assert not AuthEvent.objects.filter(kind=Kind.ACCOUNT_DELETED).exists()


def test_the_admin_log_keeps_its_entries_about_a_deleted_account_without_the_address(admin, user, capture):
    """Django's admin log is never purged: it names the deleted account by id, not by its address."""
    from django.contrib.admin.models import LogEntry

    admin.post(f"{USERS}{user.pk}/change/", {"email": user.email, "is_active": "on", "date_joined_0": "2026-01-01",
                                              "date_joined_1": "00:00:00"})
    user_id = user.pk

    capture(admin.post, delete_url(user), {"post": "yes"})

    entries = LogEntry.objects.filter(object_id=str(user_id))
    assert entries.exists(), "the deletion itself is logged"
    assert {entry.object_repr for entry in entries} == {f"user {user_id} (deleted)"}
    assert not LogEntry.objects.filter(object_repr__contains="alice@example.com").exists()
