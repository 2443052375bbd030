"""
Security notices (DESIGN.md, "Second factors", "Security notices" and "New
sign-in alert"): every credentials change — a password set through any door,
deactivation — and every factor change mails the user one notice, whoever
made it; a redelivered task never sends it twice. A login from an IP + user
agent pair not seen for the user in 90 days mails "New sign-in", never for
the first login after sign-up nor through a remembered device.
"""

import email
import email.policy
import re
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts import emails, notifications, tasks
from accounts.flows import notices
from accounts.models import Notice, User
from tests.accounts.test_admin_credentials import change_form_values
from tests.accounts.test_devices import remember_device
from tests.celery_worker import celery_conf, celery_worker, database_url, private_queue, worker_settings
from tests.conftest import PASSWORD, bearer
from tests.staff import admin_client

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely new passphrase 77"
NEW_SIGN_IN = "New sign-in to your account"
FACTOR_CHANGED = "A sign-in method of your account changed"


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


def sign_in(api, user, capture, *, password=PASSWORD, **headers):
    """A password login through the API with its after-commit emails sent: the response."""
    response = capture(api.post, "/api/auth/login/",
                       {"email": user.email, "password": password, "transport": "body"}, format="json", **headers)
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def signed_in(api, user, capture):
    """``user`` after one login (the first, which alerts nobody), its mail read: the tokens."""
    tokens = sign_in(api, user, capture).json()
    assert subjects() == []
    return tokens


# --- credentials changes, whatever the door ------------------------------------------


def test_a_password_change_mails_one_notice(api, user, signed_in, capture):
    response = capture(api.post, "/api/auth/password/change/",
                       {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json",
                       **bearer(signed_in["access"]))

    assert response.status_code == 204
    # The flow owes it and the model's receiver sees the same save: one key, one email.
    assert subjects() == ["Your password was changed"]
    (message,) = mail.outbox
    assert message.to == [user.email]
    assert NEW_PASSWORD not in message.body and NEW_PASSWORD not in message.alternatives[0][0]
    assert Notice.objects.filter(user=user, kind=Notice.Kind.CREDENTIALS_CHANGED).count() == 1


def test_a_password_reset_mails_one_notice(api, user, capture):
    capture(api.post, "/api/auth/password/reset/", {"email": user.email}, format="json")
    uid, token = re.search(r"uid=([\w-]+)&token=([\w-]+)", mail.outbox[-1].body).groups()

    response = capture(api.post, "/api/auth/password/reset/confirm/",
                       {"uid": uid, "token": token, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 204
    assert subjects() == ["Reset your password", "Your password was reset"]


def test_a_password_set_by_staff_in_the_admin_mails_one_notice_saying_so(user, staff, capture):
    admin = admin_client(staff)
    mail.outbox.clear()  # the staff member's own sign-in is not what this is about

    response = capture(admin.post, f"/admin/accounts/user/{user.pk}/password/",
                       {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert subjects() == ["Your password was set by staff"]
    assert mail.outbox[0].to == [user.email]
    assert "Your password was set by staff" in mail.outbox[0].body


def test_deactivation_by_staff_in_the_admin_mails_one_notice(user, staff, capture):
    admin = admin_client(staff)
    mail.outbox.clear()
    url = f"/admin/accounts/user/{user.pk}/change/"
    values = change_form_values(admin, url)
    values.pop("is_active", None)  # the box unticked

    response = capture(admin.post, url, values)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert subjects() == ["Your account was deactivated by staff"]


def set_password_in_a_shell(user: User, monkeypatch) -> None:
    user = User.objects.get(pk=user.pk)
    user.set_password(NEW_PASSWORD)
    user.save()


def changepassword_command(user: User, monkeypatch) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", user.email, stdout=open("/dev/null", "w"))


@pytest.mark.parametrize("door", [set_password_in_a_shell, changepassword_command])
def test_a_password_set_outside_every_flow_mails_one_notice(user, door, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    """No flow sees a shell's ``set_password`` + ``save``: the model's receiver owes the notice."""
    with django_capture_on_commit_callbacks(execute=True):
        door(user, monkeypatch)

    assert subjects() == ["Your password was set"]
    assert mail.outbox[0].to == [user.email]


def test_a_deactivation_in_a_shell_mails_one_notice(user, django_capture_on_commit_callbacks):
    shell_user = User.objects.get(pk=user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        shell_user.is_active = False
        shell_user.save()

    assert subjects() == ["Your account was deactivated"]


def test_a_save_that_changes_no_credentials_mails_nothing(user, django_capture_on_commit_callbacks):
    shell_user = User.objects.get(pk=user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        shell_user.two_factor_enabled = True
        shell_user.save()
        shell_user.save(update_fields=["two_factor_enabled"])

    assert subjects() == []
    assert not Notice.objects.exists()


# --- each notice sent once ------------------------------------------------------------


@pytest.fixture
def owed(user, django_capture_on_commit_callbacks):
    """A credentials notice owed to ``user`` and not sent yet (its task message left unsent): the row."""
    with django_capture_on_commit_callbacks() as queued:
        assert notices.credentials_changed(user, reason="password_change", by_staff=False, revoked=0)
    assert len(queued) == 1 and mail.outbox == []
    return Notice.objects.get(user=user)


def test_a_notice_task_delivered_twice_sends_one_email(owed):
    """Late acknowledgement and Redis's visibility timeout redeliver messages: the claim on ``sent_at`` wins once."""
    first = tasks.send_notice.apply(args=[str(owed.pk)])
    second = tasks.send_notice.apply(args=[str(owed.pk)])

    assert (first.get(), second.get()) == (True, False)
    assert subjects() == ["Your password was changed"]
    owed.refresh_from_db()
    assert owed.sent_at is not None


def test_the_same_change_seen_twice_is_one_notice(user, owed):
    """The flow and the model's receiver owe the same change under one key: the second owes nothing new."""
    assert notices.credentials_changed(user, reason="password_change", by_staff=False, revoked=0) is False
    assert Notice.objects.filter(user=user).count() == 1


def test_a_password_reset_task_delivered_twice_sends_one_email(user):
    first = tasks.send_password_reset.apply(args=[user.email], task_id="same")
    second = tasks.send_password_reset.apply(args=[user.email], task_id="same")
    other = tasks.send_password_reset.apply(args=[user.email], task_id="another request")

    assert all(result.successful() for result in (first, second, other))
    # A second request is a second email; the same request delivered again is not.
    assert subjects() == ["Reset your password", "Reset your password"]


@pytest.mark.parametrize("task, args, subject", [
    (tasks.send_sign_in_attempts_notice, lambda user: [user.email], "Someone is trying to sign in to your account"),
    (tasks.send_two_factor_paused_notice, lambda user: [user.pk, 3600], "Too many wrong sign-in codes"),
], ids=["sign-in attempts", "second factor paused"])
def test_the_warnings_of_an_account_under_attack_are_sent_once_per_task(user, task, args, subject):
    """The same task delivered again (late acknowledgement, a lost worker) sends nothing; another one does."""
    for task_id in ("same", "same", "another trip of the limit"):
        assert task.apply(args=args(user), task_id=task_id).successful()

    assert subjects() == [subject, subject]


def test_a_failed_send_gives_the_claim_back_for_the_retry(owed, monkeypatch):
    """
    An email that could not be sent is owed again: the retry sends it (and
    only it). Without the release the claim would swallow the notice.
    """
    real_send = emails.send
    failures = []

    def fails_once(**kwargs):
        if not failures:
            failures.append(kwargs["subject"])
            raise OSError("connection reset")
        real_send(**kwargs)

    monkeypatch.setattr(emails, "send", fails_once)

    with pytest.raises(OSError):
        notifications.send_notice(notice_id=owed.pk)
    owed.refresh_from_db()
    assert owed.sent_at is None
    assert mail.outbox == []

    assert notifications.send_notice(notice_id=owed.pk) is True
    assert notifications.send_notice(notice_id=owed.pk) is False
    assert failures == ["Your password was changed"]
    assert subjects() == ["Your password was changed"]


def test_the_task_retries_a_transient_failure_and_sends_once(owed, monkeypatch):
    """The whole path: the task's retry of a transient failure finds the notice owed again and sends it, once."""
    real_send = emails.send
    calls = []

    def fails_once(**kwargs):
        calls.append(kwargs["subject"])
        if len(calls) == 1:
            raise OSError("connection reset")
        real_send(**kwargs)

    monkeypatch.setattr(emails, "send", fails_once)

    # Eager tasks that retry in-process (at once, without the countdown) instead of raising Retry.
    with celery_conf(task_eager_propagates=False):
        result = tasks.send_notice.apply(args=[str(owed.pk)])

    assert result.successful(), result.traceback
    assert len(calls) == 2
    assert subjects() == ["Your password was changed"]


# --- factor changes -------------------------------------------------------------------


@pytest.fixture
def factors(settings, signed_in):
    """Second factors on offer (optional: the signed-in user has none yet); returns a bearer header."""
    settings.AUTH_2FA = "optional"
    return bearer(signed_in["access"])


def set_up_totp(api, headers, capture) -> pyotp.TOTP:
    setup = api.post("/api/auth/2fa/totp/setup/", {"password": PASSWORD}, format="json", **headers)
    assert setup.status_code == 200, setup.content
    app = pyotp.TOTP(setup.json()["secret"])
    confirm = capture(api.post, "/api/auth/2fa/totp/confirm/", {"code": app.now()}, format="json", **headers)
    assert confirm.status_code == 200, confirm.content
    return app


def test_confirming_an_authenticator_app_mails_one_notice(api, factors, capture):
    set_up_totp(api, factors, capture)

    # One change, one email: the recovery codes it made come with it.
    assert subjects() == [FACTOR_CHANGED]
    assert "An authenticator app was added to your account" in mail.outbox[0].body


def test_a_pending_setup_mails_nothing(api, factors, capture):
    response = capture(api.post, "/api/auth/2fa/totp/setup/", {"password": PASSWORD}, format="json", **factors)

    assert response.status_code == 200
    assert subjects() == []


def test_removing_the_authenticator_app_mails_one_notice(api, factors, capture):
    app = set_up_totp(api, factors, capture)
    mail.outbox.clear()
    # The next step's code: the confirming one is spent (one use per step), one step of drift is allowed.
    code = app.at(timezone.now() + timedelta(seconds=30))

    response = capture(api.post, "/api/auth/2fa/totp/disable/", {"password": PASSWORD, "code": code},
                       format="json", **factors)

    assert response.status_code == 204, response.content
    assert subjects() == [FACTOR_CHANGED]
    assert "An authenticator app was removed from your account" in mail.outbox[0].body


def test_new_recovery_codes_mail_one_notice(api, factors, capture):
    set_up_totp(api, factors, capture)
    mail.outbox.clear()

    response = capture(api.post, "/api/auth/2fa/recovery-codes/", {"password": PASSWORD}, format="json", **factors)

    assert response.status_code == 200, response.content
    assert subjects() == [FACTOR_CHANGED]
    body = mail.outbox[0].body
    assert "New recovery codes were made for your account" in body
    assert not any(code in body for code in response.json()["recovery_codes"]), "never a secret in a notice"


# --- the new sign-in alert ------------------------------------------------------------


def registered(api, capture) -> User:
    response = capture(api.post, "/api/auth/register/", {"email": "new@example.com", "password": PASSWORD},
                       format="json")
    assert response.status_code == 201, response.content
    mail.outbox.clear()  # the sign-up's verification link
    return User.objects.get(email="new@example.com")


def test_the_first_login_after_sign_up_alerts_nobody(api, capture):
    """The first login is the sign-up's own: nothing was ever seen, so every pair would be 'new'."""
    user = registered(api, capture)

    sign_in(api, user, capture, HTTP_USER_AGENT="Firefox/128.0", REMOTE_ADDR="203.0.113.9")

    assert subjects() == []


def test_a_login_from_a_known_ip_and_user_agent_alerts_nobody(api, capture):
    user = registered(api, capture)
    where = {"HTTP_USER_AGENT": "Firefox/128.0", "REMOTE_ADDR": "203.0.113.9"}
    sign_in(api, user, capture, **where)

    sign_in(api, user, capture, **where)

    assert subjects() == []


@pytest.mark.parametrize("change", [{"HTTP_USER_AGENT": "curl/8.5.0"}, {"REMOTE_ADDR": "198.51.100.77"}],
                         ids=["new-user-agent", "new-ip"])
def test_a_login_from_a_new_ip_or_user_agent_mails_a_new_sign_in_alert(api, capture, change):
    user = registered(api, capture)
    known = {"HTTP_USER_AGENT": "Firefox/128.0", "REMOTE_ADDR": "203.0.113.9"}
    sign_in(api, user, capture, **known)
    now = timezone.now()

    with time_machine.travel(now, tick=False):
        sign_in(api, user, capture, **{**known, **change})

    assert subjects() == [NEW_SIGN_IN]
    (message,) = mail.outbox
    assert message.to == [user.email]
    where = {**known, **change}
    for text in (message.body, message.alternatives[0][0]):
        assert now.isoformat() in text
        assert where["REMOTE_ADDR"] in text
        assert where["HTTP_USER_AGENT"] in text
    # How to revoke: sign out everywhere.
    assert "sign out everywhere" in message.body


def test_each_new_login_alerts_once(api, capture):
    user = registered(api, capture)
    sign_in(api, user, capture, HTTP_USER_AGENT="Firefox/128.0")

    sign_in(api, user, capture, HTTP_USER_AGENT="curl/8.5.0")
    sign_in(api, user, capture, HTTP_USER_AGENT="curl/8.5.0")

    assert subjects() == [NEW_SIGN_IN], "the pair is seen once the first login from it succeeded"


def test_a_pair_not_seen_for_90_days_alerts_again(api, capture, settings):
    assert settings.NEW_SIGN_IN_WINDOW_DAYS == 90
    user = registered(api, capture)
    where = {"HTTP_USER_AGENT": "Firefox/128.0", "REMOTE_ADDR": "203.0.113.9"}
    start = timezone.now()
    sign_in(api, user, capture, **where)

    with time_machine.travel(start + timedelta(days=89)):
        sign_in(api, user, capture, **where)
    assert subjects() == [], "seen 89 days ago"
    with time_machine.travel(start + timedelta(days=89 + 91)):
        sign_in(api, user, capture, **where)

    assert subjects() == [NEW_SIGN_IN]


def test_a_login_through_a_remembered_device_alerts_nobody(make_api, user, settings, start_login, capture):
    """The device is the familiar thing: its login is not asked about, wherever it comes from."""
    settings.AUTH_2FA = "required"
    device_token = remember_device(make_api(), user, start_login, HTTP_USER_AGENT="Firefox/128.0").json()[
        "device_token"]
    mail.outbox.clear()

    through_device = capture(make_api().post, "/api/auth/login/",
                             {"email": user.email, "password": PASSWORD, "transport": "body",
                              "device_token": device_token}, format="json",
                             HTTP_USER_AGENT="Firefox/129.0", REMOTE_ADDR="198.51.100.77")

    assert through_device.status_code == 200 and "access" in through_device.json()
    assert subjects() == []


def test_a_login_finished_with_a_second_factor_alerts_too(make_api, user, settings, start_login, capture):
    """Any method: the alert belongs to the session's start, not to the password step."""
    settings.AUTH_2FA = "required"
    remember_device(make_api(), user, start_login, HTTP_USER_AGENT="Firefox/128.0")
    api = make_api()
    pending, code = start_login(user, client=api, HTTP_USER_AGENT="curl/8.5.0")
    mail.outbox.clear()

    done = capture(api.post, "/api/auth/login/2fa/", {"code": code, "challenge": pending.json()["challenge"],
                                                     "transport": "body"}, format="json",
                   HTTP_USER_AGENT="curl/8.5.0")

    assert done.status_code == 200, done.content
    assert subjects() == [NEW_SIGN_IN]
    assert "curl/8.5.0" in mail.outbox[0].body


def test_the_admins_door_alerts_too(api, staff, capture):
    """A staff member's sign-in to the admin from somewhere new is a sign-in like any other."""
    sign_in(api, staff, capture, HTTP_USER_AGENT="Firefox/128.0")

    admin_client(staff, HTTP_USER_AGENT="Chromium/131.0", REMOTE_ADDR="198.51.100.77")

    assert subjects() == [NEW_SIGN_IN]
    assert "Chromium/131.0" in mail.outbox[0].body and "198.51.100.77" in mail.outbox[0].body
    assert Notice.objects.get(user=staff, kind=Notice.Kind.NEW_SIGN_IN).context["via"] == "admin"


# --- through Redis, with a real worker ------------------------------------------------

NOTICE_TASK = "accounts.tasks.send_notice"


@pytest.fixture
def queue(settings):
    with private_queue(settings.REDIS_URL, prefix="authsvc-notice-test") as name:
        yield name


def subjects_in_files(mail_dir: Path) -> list[tuple[str, str]]:
    """(recipient, subject) of every email the file backend wrote (one file per connection, ``-`` × 79 between)."""
    found = []
    for path in sorted(mail_dir.glob("*.log")) if mail_dir.exists() else []:
        for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if raw.strip():
                message = email.message_from_bytes(raw, policy=email.policy.default)
                found.append((message["To"], message["Subject"]))
    return found


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not django_settings.REDIS_URL or connection.vendor != "postgresql",
                    reason="needs REDIS_URL and DATABASE_URL=postgres://… (a worker process shares the database)")
def test_a_real_worker_mails_a_shell_password_change_once_however_often_its_task_comes(user, settings, queue,
                                                                                       tmp_path):
    """
    A shell's ``set_password`` + ``save`` commits for real: the receiver owes
    the notice and its task goes to Redis. The same message delivered again
    (late acknowledgement, the visibility timeout) reaches a worker twice; the
    user gets one email.
    """
    with celery_conf(task_always_eager=False, task_default_queue=queue):
        set_password_in_a_shell(user, None)
        notice = Notice.objects.get(user=user)
        tasks.send_notice.delay(str(notice.pk))  # the redelivery

    env = {"SECRET_KEY": settings.SECRET_KEY, "DATABASE_URL": database_url(settings), "REDIS_URL": settings.REDIS_URL,
           **worker_settings(tmp_path, CELERY_TASK_DEFAULT_QUEUE=queue, EMAIL_FILE_PATH=str(tmp_path / "mail"),
                             EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend")}
    log = tmp_path / "worker.log"
    with celery_worker("-Q", queue, env=env, log_path=log):
        deadline = time.monotonic() + 45
        while len(re.findall(rf"{NOTICE_TASK}\[[0-9a-f-]+\] succeeded", log.read_text())) < 2:
            if time.monotonic() > deadline:
                pytest.fail("the worker did not run both messages; its log:\n" + log.read_text()[-4000:])
            time.sleep(0.1)

    assert subjects_in_files(tmp_path / "mail") == [(user.email, "Your password was set")]
    notice.refresh_from_db()
    assert notice.sent_at is not None
