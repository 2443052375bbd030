"""The operators' commands (DESIGN.md, "Operations"): revoke_all and purge_tokens."""

from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command
from django.utils import timezone

from tests.conftest import bearer
from tests.tokens.conftest import DAY, Scenario
from tokens.models import RefreshToken, Session

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- revoke_all -------------------------------------------------------------------------------


@pytest.mark.parametrize("identify", [lambda u: u.email.upper(), lambda u: f"  {u.email} ", lambda u: str(u.pk),
                                      lambda u: u.email.replace("example", "ｅｘａｍｐｌｅ")],
                         ids=["email-any-case", "email-padded", "id", "email-full-width"])
def test_revoke_all_revokes_every_session_and_their_access_tokens_at_once(api, user, login, make_user, identify):
    first, second = login(user).json(), login(user).json()
    bystander = login(make_user()).json()

    output = run("revoke_all", identify(user))

    assert output == "Revoked 2 session(s) of alice@example.com.\n"
    sessions = Session.objects.filter(user=user)
    assert sessions.count() == 2
    for session in sessions:
        assert session.revoked_at is not None
        assert session.revoke_reason == Session.RevokeReason.COMMAND
        assert session.revoked_by == "command: revoke_all"
    for tokens in (first, second):
        response = api.get("/api/auth/me/", **bearer(tokens["access"]))
        assert response.status_code == 401
        assert response.json()["code"] == "token_invalid"
        refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
        assert refreshed.status_code == 401
        assert refreshed.json()["code"] == "token_revoked"
    assert api.get("/api/auth/me/", **bearer(bystander["access"])).status_code == 200


def test_revoke_all_records_the_reason(user, login):
    login(user)

    run("revoke_all", user.email, "--reason", "laptop stolen, ticket 4521")

    assert Session.objects.get(user=user).revoked_by == "command: laptop stolen, ticket 4521"


def test_revoke_all_counts_only_sessions_it_revoked(user, login):
    login(user)
    run("revoke_all", user.email)

    assert run("revoke_all", user.email) == "Revoked 0 session(s) of alice@example.com.\n"


# "²" passes str.isdigit() but is no number int() reads.
@pytest.mark.parametrize("identifier", ["nobody@example.com", "999999", "alice", "²"])
def test_revoke_all_of_an_unknown_user_is_a_clear_error(user, identifier):
    with pytest.raises(CommandError, match="No user with the id or email"):
        run("revoke_all", identifier)


def test_revoke_all_of_an_unknown_user_exits_with_status_1(user, capsys):
    """From the shell, as an operator runs it: a message on stderr and exit status 1."""
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "revoke_all", "nobody@example.com"]).execute()

    assert exit_info.value.code == 1
    assert "No user with the id or email 'nobody@example.com'" in capsys.readouterr().err


def test_revoke_all_refuses_a_reason_too_long_to_record(user, login):
    login(user)

    with pytest.raises(CommandError, match="too long"):
        run("revoke_all", user.email, "--reason", "x" * 300)
    assert Session.objects.get(user=user).revoked_at is None


# --- purge_tokens -----------------------------------------------------------------------------


def test_purge_tokens_prints_the_counts_per_kind(purge_scenario):
    scenario = purge_scenario()

    output = run("purge_tokens")

    assert output == (
        "auth_events: 0 deleted\n"
        "email_links: 0 deleted\n"
        "notices: 0 deleted\n"
        f"refresh_tokens: {len(scenario.dead_records)} deleted\n"
        "session_ends: 0 deleted\n"
        f"sessions: {len(scenario.dead_sessions)} deleted\n"
        "trusted_devices: 0 deleted\n"
        "two_factor_challenges: 0 deleted\n"
        "webauthn_ceremonies: 0 deleted\n"
    )
    assert set(Session.objects.values_list("pk", flat=True)) == scenario.kept_sessions


def test_purge_tokens_dry_run_deletes_nothing(purge_scenario):
    scenario = purge_scenario()

    output = run("purge_tokens", "--dry-run")

    assert output == (
        "auth_events: 0 to delete (dry run)\n"
        "email_links: 0 to delete (dry run)\n"
        "notices: 0 to delete (dry run)\n"
        f"refresh_tokens: {len(scenario.dead_records)} to delete (dry run)\n"
        "session_ends: 0 to delete (dry run)\n"
        f"sessions: {len(scenario.dead_sessions)} to delete (dry run)\n"
        "trusted_devices: 0 to delete (dry run)\n"
        "two_factor_challenges: 0 to delete (dry run)\n"
        "webauthn_ceremonies: 0 to delete (dry run)\n"
    )
    assert Session.objects.count() == len(scenario.sessions)
    assert RefreshToken.objects.count() == len(scenario.records)


def test_purge_tokens_reports_progress_on_a_backlog(make_user):
    """A backlog larger than one batch shows progress, one line per full batch."""
    now = timezone.now()
    scenario = Scenario()
    session = scenario.session(make_user(), created=now - 31 * DAY, expires=now - DAY, dead=True)
    for _ in range(25):
        scenario.record(session, issued=now - 8 * DAY, expires=now - DAY, dead=True)
    scenario.save()

    output = run("purge_tokens", "--batch-size", "10")

    assert output.splitlines() == [
        "  refresh_tokens: 10 deleted so far…",
        "  refresh_tokens: 20 deleted so far…",
        "auth_events: 0 deleted",
        "email_links: 0 deleted",
        "notices: 0 deleted",
        "refresh_tokens: 25 deleted",
        "session_ends: 0 deleted",
        "sessions: 1 deleted",
        "trusted_devices: 0 deleted",
        "two_factor_challenges: 0 deleted",
        "webauthn_ceremonies: 0 deleted",
    ]


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_purge_tokens_rejects_a_bad_batch_size(value):
    with pytest.raises(CommandError, match="batch-size"):
        run("purge_tokens", "--batch-size", value)
