"""
The admin behind the API's door (DESIGN.md, "Staff and the admin"; issue 11,
point 0): email + password, then the staff member's second factor — also
under AUTH_2FA=optional — with the API's rate limits on the same counters and
the same audit events marked ``via: admin``. No admin page is reachable with
a password alone, and the admin session lives only as long as the session
the sign-in started. Staff actions that weaken an account need a recent
sign-in and name the staff member in the audit trail.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.admin_site import CHALLENGE_KEY
from accounts.models import TwoFactorChallenge
from tests.accounts.conftest import code_from_outbox
from tests.conftest import PASSWORD, bearer
from tests.staff import ADMIN_CODE, ADMIN_LOGIN, admin_client, bound_session_id
from tokens.models import AuthEvent, Session
from tokens.services import revoke_all_sessions

pytestmark = pytest.mark.django_db

Kind = AuthEvent.Kind
STAFF_EMAIL = "staff@example.com"
USERS = "/admin/accounts/user/"
ERRORNOTE = re.compile(r'<p class="errornote">\s*(.*?)\s*</p>', re.S)


@pytest.fixture
def browser():
    return Client()


@pytest.fixture
def limits(settings):
    def set_limits(**rates):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}

    return set_limits


@pytest.fixture
def password_step(browser, django_capture_on_commit_callbacks):
    """Post email + password to the admin's login, with the code email actually sent."""

    def post(email=STAFF_EMAIL, password=PASSWORD, client=None, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or browser).post(ADMIN_LOGIN, {"username": email, "password": password}, **extra)

    return post


def post_code(client, code, **extra):
    return client.post(ADMIN_CODE, {"code": code}, **extra)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


def refusals(response) -> list[str]:
    """The error notes the page shows."""
    return ERRORNOTE.findall(response.content.decode())


def assert_sent_to_login(response, next_path: str | None = None):
    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN)
    if next_path is not None:
        # Django's redirect_to_login keeps slashes as they are in ``next``.
        assert response["Location"] == f"{ADMIN_LOGIN}?next={next_path}"


def events(kind):
    return list(AuthEvent.objects.filter(kind=kind).order_by("id"))


# --- the door --------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(browser):
    assert_sent_to_login(browser.get("/admin/"), "/admin/")
    page = browser.get(ADMIN_LOGIN)
    assert page.status_code == 200
    # The admin's own look, with the email and password fields.
    assert 'id="login-form"' in page.content.decode()
    assert 'name="username"' in page.content.decode() and 'name="password"' in page.content.decode()


@pytest.mark.parametrize("mode, enrolled", [
    pytest.param("required", False, id="AUTH_2FA=required"),
    # A staff member who never switched 2FA on still needs the second factor.
    pytest.param("optional", False, id="AUTH_2FA=optional, staff not enrolled"),
    pytest.param("optional", True, id="AUTH_2FA=optional, staff enrolled"),
])
def test_a_password_alone_reaches_no_admin_page(settings, make_user, browser, password_step, mode, enrolled):
    """The right password only leads to the code page; the admin opens with the emailed code."""
    settings.AUTH_2FA = mode
    make_user(email=STAFF_EMAIL, is_staff=True, is_superuser=True, two_factor_enabled=enrolled)

    response = password_step()

    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_CODE)
    for url in ("/admin/", USERS, "/admin/tokens/session/", "/admin/password_change/"):
        assert_sent_to_login(browser.get(url), url)
    assert not Session.objects.exists()
    assert [message.to for message in mail.outbox] == [[STAFF_EMAIL]]
    page = browser.get(ADMIN_CODE)
    assert page.status_code == 200
    assert len(re.findall(r'<input[^>]*\bname="code"', page.content.decode())) == 1

    done = post_code(browser, code_from_outbox())

    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200
    assert browser.get(USERS).status_code == 200


def test_the_challenge_stays_on_the_server(browser, staff, password_step, two_factor):
    """The pending challenge is in the server-side session: not in a cookie, a URL or the page."""
    response = password_step()
    challenge = browser.session[CHALLENGE_KEY]
    page = browser.get(response["Location"])

    assert challenge not in response["Location"]
    assert challenge not in page.content.decode()
    assert all(challenge not in cookie.value for cookie in browser.cookies.values())


def test_with_2fa_off_the_password_alone_signs_in(settings, browser, staff, password_step):
    """AUTH_2FA=off switches the second factor off for every door, the admin's included (DESIGN.md)."""
    settings.AUTH_2FA = "off"

    response = password_step()

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200
    assert not mail.outbox
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    assert (ok.user_id, str(ok.session_id), ok.reason, ok.via) == (
        staff.pk, bound_session_id(browser), "password", "admin")


def test_a_django_session_without_our_door_reaches_nothing(browser, staff):
    """``login()`` in a shell or any other view that forgets the rule: no bound session, no admin page."""
    browser.force_login(staff)

    assert_sent_to_login(browser.get("/admin/"), "/admin/")
    # And that Django session is over, not merely refused once.
    assert SESSION_KEY not in browser.session


def test_next_is_carried_to_the_code_page(browser, staff, two_factor, django_capture_on_commit_callbacks):
    assert_sent_to_login(browser.get(USERS), USERS)

    with django_capture_on_commit_callbacks(execute=True):
        step_one = browser.post(f"{ADMIN_LOGIN}?next={USERS}", {"username": STAFF_EMAIL, "password": PASSWORD,
                                                                "next": USERS})
    code_page = browser.get(step_one["Location"])

    assert step_one.status_code == 302 and step_one["Location"] == f"{ADMIN_CODE}?next=%2Fadmin%2Faccounts%2Fuser%2F"
    assert f'name="next" value="{USERS}"' in code_page.content.decode()


@pytest.mark.parametrize("next_url, landing", [(USERS, USERS), ("https://evil.example/", "/admin/"),
                                               ("//evil.example/", "/admin/")])
def test_after_the_code_the_admin_opens_where_it_was_asked_on_this_site_only(browser, staff, password_step,
                                                                              two_factor, next_url, landing):
    password_step()

    done = browser.post(ADMIN_CODE, {"code": code_from_outbox(), "next": next_url})

    assert done.status_code == 302 and done["Location"] == landing


# --- who gets in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("account", ["not staff", "inactive staff"])
def test_an_account_that_may_not_enter_gets_the_wrong_password_answer(make_user, staff, browser, password_step,
                                                                     two_factor, account):
    """Same page, same message, no code: the admin's login does not tell who is staff."""
    other = make_user(email="carol@example.com", is_staff=account != "not staff",
                      is_active=account != "inactive staff")

    right_password = password_step(email=other.email)
    wrong_password = password_step(password="not the password")

    assert right_password.status_code == wrong_password.status_code == 200
    assert refusals(right_password) == refusals(wrong_password) == ["Email or password is incorrect."]
    assert not mail.outbox
    assert not TwoFactorChallenge.objects.exists()
    assert_sent_to_login(browser.get("/admin/"))
    assert [(e.user_id, e.via) for e in events(Kind.LOGIN_FAILED)] == [(other.pk, "admin"), (staff.pk, "admin")]


def test_an_api_user_is_not_refused_at_the_api(api, make_user, login):
    """The staff-only rule is the admin's: the same account still logs in to the API."""
    assert login(make_user(email="carol@example.com")).status_code == 200


# --- the second factor ---------------------------------------------------------------------------


def test_a_wrong_code_is_refused_on_the_page(browser, staff, password_step, two_factor):
    password_step()

    response = post_code(browser, wrong(code_from_outbox()))

    assert response.status_code == 200
    assert "The code is incorrect." in response.content.decode()
    assert 'name="code"' in response.content.decode()
    assert_sent_to_login(browser.get("/admin/"))


def test_five_wrong_codes_kill_the_challenge(browser, staff, password_step, two_factor):
    """At most 5 tries a challenge, as at the API; then the login starts again at the password."""
    password_step()
    code = code_from_outbox()
    for _ in range(TwoFactorChallenge.MAX_ATTEMPTS):
        assert post_code(browser, wrong(code)).status_code == 200

    response = post_code(browser, code)

    assert_sent_to_login(response)
    assert CHALLENGE_KEY not in browser.session
    assert "Too many wrong codes; log in again." in browser.get(response["Location"]).content.decode()
    assert_sent_to_login(browser.get("/admin/"))
    assert not Session.objects.exists()


def test_an_expired_challenge_starts_again_at_the_password(browser, staff, password_step, two_factor, settings):
    password_step()
    code = code_from_outbox()

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.TWO_FACTOR_CODE_TTL + 1)):
        response = post_code(browser, code)

    assert_sent_to_login(response)
    assert "expired" in browser.get(response["Location"]).content.decode()
    assert_sent_to_login(browser.get("/admin/"))


def test_the_code_page_without_a_pending_login_goes_back_to_the_password(browser):
    assert_sent_to_login(browser.get(ADMIN_CODE))
    assert_sent_to_login(post_code(browser, "123456"))


def test_send_a_new_code(browser, staff, password_step, two_factor, settings, django_capture_on_commit_callbacks):
    """The resend button mails a new code (the old one stops working), once per cooldown."""
    password_step()
    first = code_from_outbox()

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.TWO_FACTOR_RESEND_COOLDOWN + 1)):
        with django_capture_on_commit_callbacks(execute=True):
            resent = browser.post(ADMIN_CODE, {"resend": "1"})
        with django_capture_on_commit_callbacks(execute=True):
            again = browser.post(ADMIN_CODE, {"resend": "1"})
        second = code_from_outbox()

        assert resent.status_code == 302 and resent["Location"] == ADMIN_CODE
        assert again.status_code == 429
        assert refusals(again) == ["A code was sent moments ago; wait before asking again."]
        assert len(mail.outbox) == 2
        if first != second:
            assert post_code(browser, first).status_code == 200
        assert post_code(browser, second).status_code == 302
    assert browser.get("/admin/").status_code == 200


# --- rate limits: the API's, on the same counters -------------------------------------------------


def allowance(settings, scope: str) -> int:
    return int(settings.RATE_LIMITS[scope].split("/")[0])


def no_code_mailed() -> bool:
    return not TwoFactorChallenge.objects.exists() and all("code" not in m.subject for m in mail.outbox)


@pytest.mark.usefixtures("one_window")
@pytest.mark.parametrize("attacker, scope", [
    # One address guessing: the tight per (email, network) limit.
    pytest.param(lambda i: "198.51.100.7", "login_email_ip", id="one address"),
    # A botnet, every guess from another network: the per-email cap.
    pytest.param(lambda i: f"10.{i // 250}.{i % 250}.1", "login_email", id="rotating addresses"),
])
def test_brute_force_on_the_admin_login_is_stopped(browser, staff, password_step, two_factor, settings, attacker,
                                                   scope):
    """
    A loop of wrong passwords for one staff email on /admin/login/: past the
    API's limit every answer is 429 with the refusal on the page, and the
    right password is refused too while the limit holds (OWASP
    Authentication Cheat Sheet, "Protect Against Automated Attacks").
    """
    allowed = allowance(settings, scope)
    tries = max(50, allowed + 10)
    answers = [password_step(password=f"guess {i}", REMOTE_ADDR=attacker(i)) for i in range(tries)]

    assert [a.status_code for a in answers] == [200] * allowed + [429] * (tries - allowed)
    assert {tuple(refusals(a)) for a in answers[:allowed]} == {("Email or password is incorrect.",)}
    for limited in answers[allowed:]:
        assert refusals(limited) == ["Too many requests. Try again later."]
        assert int(limited["Retry-After"]) >= 1
    right = password_step(REMOTE_ADDR=attacker(tries))
    assert right.status_code == 429
    assert no_code_mailed()
    assert_sent_to_login(browser.get("/admin/"))
    # Refused before the password was even checked: no more failures than the limit let through.
    assert len(events(Kind.LOGIN_FAILED)) == allowed


@pytest.mark.usefixtures("one_window")
def test_the_per_ip_limit_applies_whatever_the_email(browser, password_step, limits):
    limits(login_ip="3/m")
    for i in range(3):
        assert password_step(email=f"u{i}@example.com").status_code == 200

    limited = password_step(email="fresh@example.com")

    assert limited.status_code == 429
    assert refusals(limited) == ["Too many requests. Try again later."]


@pytest.mark.usefixtures("one_window")
def test_the_api_and_the_admin_share_one_budget(api, browser, staff, password_step, two_factor, settings):
    """Guesses at the API count at the admin: two doors do not double the attempts."""
    for i in range(allowance(settings, "login_email_ip")):
        api.post("/api/auth/login/", {"email": STAFF_EMAIL, "password": f"guess {i}"}, format="json",
                 REMOTE_ADDR="198.51.100.7")

    assert password_step(REMOTE_ADDR="198.51.100.7").status_code == 429
    assert no_code_mailed()


@pytest.mark.usefixtures("one_window")
def test_the_code_step_is_rate_limited_per_ip(browser, staff, password_step, two_factor, limits):
    limits(two_factor_ip="2/m")
    password_step()
    code = code_from_outbox()
    for _ in range(2):
        post_code(browser, wrong(code))

    limited = post_code(browser, code)

    assert limited.status_code == 429
    assert refusals(limited) == ["Too many requests. Try again later."]
    assert 'name="code"' in limited.content.decode()
    assert_sent_to_login(browser.get("/admin/"))


def test_rate_limits_unreachable_is_a_503_page(browser, staff, monkeypatch):
    """The limits fail closed: without their cache no password is tried, and the page says so with 503."""

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr("authsvc.ratelimits.get_usage", unreachable)

    response = browser.post(ADMIN_LOGIN, {"username": STAFF_EMAIL, "password": PASSWORD})

    assert response.status_code == 503
    assert response["Retry-After"]
    assert refusals(response) == ["Rate limiting is unavailable; try again shortly."]
    assert not events(Kind.LOGIN_SUCCEEDED)


# --- the audit trail -----------------------------------------------------------------------------


def test_the_audit_events_are_the_apis_marked_via_admin(browser, staff, password_step, two_factor):
    password_step(password="wrong", HTTP_USER_AGENT="Firefox")
    password_step(HTTP_USER_AGENT="Firefox")
    code = code_from_outbox()
    post_code(browser, wrong(code), HTTP_USER_AGENT="Firefox")
    post_code(browser, code, HTTP_USER_AGENT="Firefox")

    (failed,) = events(Kind.LOGIN_FAILED)
    (wrong_code,) = events(Kind.TWO_FACTOR_FAILED)
    (ok,) = events(Kind.LOGIN_SUCCEEDED)
    assert (failed.user_id, failed.email, failed.reason, failed.via) == (
        staff.pk, STAFF_EMAIL, "invalid_credentials", "admin")
    assert (wrong_code.user_id, wrong_code.reason, wrong_code.via) == (staff.pk, "email: attempt 1", "admin")
    assert (ok.user_id, str(ok.session_id), ok.reason, ok.user_agent, ok.via) == (
        staff.pk, bound_session_id(browser), "email", "Firefox", "admin")


def test_api_events_stay_marked_via_api(api, user, login):
    login(user)
    api.post("/api/auth/login/", {"email": user.email, "password": "wrong"}, format="json")

    assert {(e.kind, e.via) for e in AuthEvent.objects.all()} == {
        (Kind.LOGIN_SUCCEEDED, "api"), (Kind.LOGIN_FAILED, "api")}


def test_the_audit_list_shows_the_door(staff):
    admin = admin_client(staff)

    page = admin.get("/admin/tokens/authevent/", {"via__exact": "admin"})

    assert page.status_code == 200
    assert [event.via for event in page.context["cl"].result_list] == ["admin"]
    assert "column-via" in page.content.decode()


# --- one session: what ends it ends the admin ------------------------------------------------------


def api_tokens(api, user, start_login):
    response, code = start_login(user)
    done = api.post("/api/auth/login/2fa/", {"code": code, "challenge": response.json()["challenge"],
                                             "transport": "body"}, format="json")
    assert done.status_code == 200
    return done.json()


@pytest.mark.parametrize("how", ["revoke_all_sessions", "api logout/all", "admin revoke action"])
def test_ending_the_staff_session_ends_the_admin_session(api, staff, two_factor, start_login, how):
    """Logout everywhere, staff revoking it, an operator's revoke_all: one rule, the admin session ends too."""
    admin = admin_client(staff)
    assert admin.get("/admin/").status_code == 200

    if how == "revoke_all_sessions":
        revoke_all_sessions(user_id=staff.pk, reason=Session.RevokeReason.COMMAND, revoked_by="command: test")
    elif how == "api logout/all":
        tokens = api_tokens(api, staff, start_login)
        assert api.post("/api/auth/logout/all/", **bearer(tokens["access"])).status_code == 200
    else:
        other_staff = admin_client(staff)
        other_staff.post(USERS, {"action": "revoke_all_sessions", "_selected_action": [staff.pk]})

    assert_sent_to_login(admin.get("/admin/"), "/admin/")
    assert SESSION_KEY not in admin.session
    assert_sent_to_login(admin.get(USERS), USERS)


def test_an_idle_or_expired_session_ends_the_admin_session(staff, settings):
    admin = admin_client(staff)

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.REFRESH_TOKEN_TTL + 1)):
        assert_sent_to_login(admin.get("/admin/"), "/admin/")


def test_admin_logout_revokes_the_session(staff):
    admin = admin_client(staff)
    session_id = bound_session_id(admin)

    assert admin.post("/admin/logout/").status_code == 200

    session = Session.objects.get(pk=session_id)
    assert (session.revoke_reason, session.revoked_by) == (Session.RevokeReason.LOGOUT, "")
    (revoked,) = events(Kind.SESSION_REVOKED)
    assert (str(revoked.session_id), revoked.reason, revoked.actor, revoked.via) == (
        session_id, "logout", "user", "admin")
    assert_sent_to_login(admin.get("/admin/"))


def test_one_query_checks_the_session_per_admin_request(staff):
    admin = admin_client(staff)

    with CaptureQueriesContext(connection) as queries:
        assert admin.get("/admin/").status_code == 200

    session_table = Session._meta.db_table
    assert len([q for q in queries.captured_queries if session_table in q["sql"]]) == 1


# --- CSRF ----------------------------------------------------------------------------------------


def csrf_token(page) -> str:
    """The token inside the page's sign-in form (the code page has a second form, for resending)."""
    form = re.search(r'<form[^>]*id="login-form".*?</form>', page.content.decode(), re.S).group(0)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)


def test_both_steps_carry_and_need_the_csrf_token(staff, two_factor, django_capture_on_commit_callbacks):
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get(ADMIN_LOGIN)

    forged = browser.post(ADMIN_LOGIN, {"username": STAFF_EMAIL, "password": PASSWORD})
    with django_capture_on_commit_callbacks(execute=True):
        step_one = browser.post(ADMIN_LOGIN, {"username": STAFF_EMAIL, "password": PASSWORD,
                                              "csrfmiddlewaretoken": csrf_token(login_page)})
    code_page = browser.get(step_one["Location"])
    forged_code = post_code(browser, code_from_outbox())
    step_two = browser.post(ADMIN_CODE, {"code": code_from_outbox(), "csrfmiddlewaretoken": csrf_token(code_page)})

    assert forged.status_code == 403
    assert step_one.status_code == 302 and step_one["Location"].startswith(ADMIN_CODE)
    assert forged_code.status_code == 403
    assert step_two.status_code == 302 and step_two["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200


# --- weakening an account needs a recent sign-in ------------------------------------------------------


def test_disabling_two_factor_needs_a_recent_sign_in(settings, staff, make_user):
    """
    Switching off a user's second factor is refused when the staff member's
    sign-in is older than ADMIN_REAUTH_MAX_AGE, allowed once they sign in
    again, and the audit event names them (OWASP ASVS 4.0 V3.7.1).
    """
    settings.AUTH_2FA = "optional"
    enrolled = make_user(email="dave@example.com", two_factor_enabled=True)
    admin = admin_client(staff)
    action = {"action": "disable_two_factor", "_selected_action": [enrolled.pk]}
    later = timezone.now() + timedelta(seconds=settings.ADMIN_REAUTH_MAX_AGE + 1)

    with time_machine.travel(later):
        refused = admin.post(USERS, action, follow=True)

        enrolled.refresh_from_db()
        assert enrolled.two_factor_enabled is True
        assert not events(Kind.TWO_FACTOR_DISABLED)
        page = refused.content.decode()
        assert "This action needs a recent sign-in" in page
        assert "/admin/login/?reauth=1" in page
        # Signing in again (password and code) on the reauth link, the same action goes through.
        first_session = bound_session_id(admin)
        assert admin.get("/admin/login/?reauth=1").status_code == 200
        admin_client(staff, client=admin)
        allowed = admin.post(USERS, action, follow=True)

    assert "Two-factor disabled for 1 user." in allowed.content.decode()
    enrolled.refresh_from_db()
    assert enrolled.two_factor_enabled is False
    (event,) = events(Kind.TWO_FACTOR_DISABLED)
    assert (event.user_id, event.email, event.actor, event.via) == (enrolled.pk, enrolled.email, STAFF_EMAIL, "admin")
    # The sign-in that was replaced is over.
    assert Session.objects.get(pk=first_session).revoke_reason == Session.RevokeReason.LOGOUT


def test_disabling_two_factor_soon_after_signing_in(settings, staff, make_user):
    settings.AUTH_2FA = "optional"
    enrolled = make_user(email="dave@example.com", two_factor_enabled=True)
    admin = admin_client(staff)

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.ADMIN_REAUTH_MAX_AGE - 5)):
        admin.post(USERS, {"action": "disable_two_factor", "_selected_action": [enrolled.pk]})

    enrolled.refresh_from_db()
    assert enrolled.two_factor_enabled is False
    (event,) = events(Kind.TWO_FACTOR_DISABLED)
    assert (event.actor, event.via) == (STAFF_EMAIL, "admin")


def test_revoking_from_the_admin_names_the_staff_member_via_admin(staff, user, login):
    tokens = login(user).json()
    admin = admin_client(staff)

    admin.post("/admin/tokens/session/", {"action": "revoke_selected_sessions",
                                         "_selected_action": [tokens["session_id"]]})
    admin.post(USERS, {"action": "revoke_all_sessions", "_selected_action": [user.pk]})
    second = login(user).json()
    admin.post(USERS, {"action": "revoke_all_sessions", "_selected_action": [user.pk]})

    revoked = events(Kind.SESSION_REVOKED)
    assert [(str(e.session_id), e.actor, e.via) for e in revoked] == [
        (tokens["session_id"], STAFF_EMAIL, "admin"), (second["session_id"], STAFF_EMAIL, "admin")]


def test_with_mandatory_verification_an_unverified_staff_address_is_refused_after_the_password(
        settings, browser, staff, password_step):
    """The admin's door meets the API's rule: 403 email_unverified, a link mailed; a wrong password is the usual answer."""
    settings.AUTH_2FA = "off"
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"

    wrong_password = password_step(password="not the password")
    refused = password_step()

    assert wrong_password.status_code == 200 and refusals(wrong_password) != refusals(refused)
    assert refused.status_code == 403
    assert refusals(refused) == ["Confirm your email address first: a new link was mailed to it."]
    assert browser.get("/admin/").status_code == 302
    assert [message.subject for message in mail.outbox] == ["Confirm your email address"]
    staff.refresh_from_db()
    staff.email_verified = True
    staff.save(update_fields=["email_verified"])
    assert password_step().status_code == 302
