"""
Password login, at every door (the API, the admin's login page): the
password step, then — when a second factor applies and no remembered device
is presented — the user's second factor, and in the end a session.
"""

from dataclasses import replace

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.utils import timezone

from accounts import budgets, methods, passkeys, store
from accounts.conf import TwoFactorMode, conf
from accounts.errors import ChallengeInvalid, ChallengeUsed, InvalidCode, InvalidCredentials, MethodUnavailable
from accounts.flows import challenges, notices, recovery_codes, verification
from accounts.flows import passkeys as passkey_flows
from accounts.flows.challenges import TwoFactorPending
from accounts.flows.credentials import check_credentials
from accounts.models import TwoFactorChallenge, User, WebAuthnCeremony, WebAuthnCredential, normalize_email
from authsvc.metrics import LOGINS, SECOND_FACTORS
from tokens import audit, devices
from tokens.services import IssuedTokens, issue_session

REMEMBERED_DEVICE = "remembered_device"


def two_factor_applies(user: User, *, staff: bool = False) -> bool:
    """
    Whether a password login of ``user`` must be finished with a second
    factor. At the admin's door (``staff``) it always must, unless 2FA is off
    altogether: a staff login can revoke anyone's sessions and switch off
    anyone's second factor, so it is not left to the staff member's own
    choice under ``AUTH_2FA=optional`` (DESIGN.md, "Staff and the admin").
    A user who set up an app factor has chosen one, whatever the switch.
    """
    mode = conf.two_factor_mode
    if mode == TwoFactorMode.REQUIRED:
        return True
    return mode == TwoFactorMode.OPTIONAL and (staff or user.two_factor_enabled or methods.has_app_factor(user))


def login(*, email: str, password: str, ip: str | None, user_agent: str, via: str = audit.Via.API,
          staff: bool = False, device_token: str | None = None) -> IssuedTokens | TwoFactorPending:
    """
    Password login: a session at once, or, when 2FA applies, a challenge for
    the second factor (and an emailed code, for a user with no app factor).

    ``via`` names the door in the audit trail. ``staff`` is the admin's door:
    only active staff pass it (anyone else gets the wrong-password answer, so
    the page does not tell which accounts are staff), and their second
    factor always applies unless ``AUTH_2FA=off``. ``device_token``: a
    remembered device of this user skips the second factor; any other value
    is ignored (``tokens.devices``).
    """
    try:
        user = check_credentials(email=email, password=password)
        if staff and not user.is_staff:
            raise InvalidCredentials(user_id=user.pk)
    except InvalidCredentials as refused:
        audit.record_event(audit.Kind.LOGIN_FAILED, user_id=refused.user_id, email=normalize_email(email), ip=ip,
                           user_agent=user_agent, reason="invalid_credentials", actor="user", via=via)
        LOGINS.labels(outcome="failed").inc()
        # Django's own signal (what ``authenticate()`` sends), for apps that
        # watch failed logins; the password is never part of it.
        user_login_failed.send(sender=__name__, credentials={"email": normalize_email(email)}, request=None)
        raise
    # Under ACCOUNT_EMAIL_VERIFICATION=mandatory an unverified address stops
    # the login here, after the password, unless the login goes on to the
    # emailed code, which proves the address (``_finish``).
    unverified = {"ip": ip, "user_agent": user_agent, "via": via}
    if not two_factor_applies(user, staff=staff):
        verification.refuse_unverified(user, **unverified)
        return start_session(user, ip=ip, user_agent=user_agent, reason="password", via=via)
    if devices.use_remembered_device(user_id=user.pk, raw=device_token):
        verification.refuse_unverified(user, **unverified)
        return start_session(user, ip=ip, user_agent=user_agent, reason=REMEMBERED_DEVICE, via=via)
    available = methods.methods_for(user)
    if methods.EMAIL not in available:
        verification.refuse_unverified(user, **unverified)
    pending = challenges.open_challenge(user, methods=available, ip=ip, user_agent=user_agent)
    LOGINS.labels(outcome="two_factor_required").inc()
    return pending


def complete_two_factor_login(*, challenge: str, code: str, method: str | None = None, remember_device: bool = False,
                              ip: str | None, user_agent: str, via: str = audit.Via.API) -> IssuedTokens:
    """
    Login step two, the one frame every method plugs into
    (``accounts.methods``): ``method``'s answer for this challenge → a
    session. No ``method``: the user's first (DESIGN's order).

    Each try is counted by a conditional ``UPDATE`` before the answer is
    checked (``accounts.store.count_attempt``), so 50 parallel wrong guesses
    still burn the challenge after ``MAX_ATTEMPTS``, whatever methods they
    name; the challenge is consumed by another conditional ``UPDATE``, in the
    transaction of the check, so of 10 parallel right answers exactly one
    logs in, and a single-use answer spent by a loser is given back.

    Across challenges, the account's budget of wrong answers
    (``accounts.budgets``) is spent before an answer is checked and given
    back when it was right, for every method alike, so switching method
    buys no guesses; the wrong answer that spends its last unit pauses the
    account (``challenges.pause``), and while it is paused nothing is
    checked at all.

    ``SECOND_FACTORS`` counts the answers checked by method, as the audit
    trail does: ``failed``, ``locked`` for the wrong answer that used up the
    last try, and ``succeeded`` when a session starts. ``remember_device``:
    the issued tokens carry a remembered device's token too.
    """
    pending = challenges.pending_challenge(challenge)
    now = timezone.now()
    user = pending.user
    if not user.is_active:
        raise ChallengeInvalid()
    available = methods.methods_for(user)
    name = method or methods.default_for(available, code)
    if name not in available:
        raise MethodUnavailable()
    if name != methods.EMAIL:
        # Only the emailed code proves an unverified address.
        verification.refuse_unverified(user, ip=ip, user_agent=user_agent, via=via)
    budgets.check_not_paused(pending.user_id)
    attempts = store.count_attempt(pending.pk, now=now)
    if attempts is None:
        pending.refresh_from_db()
        raise challenges.refusal(pending, now) or ChallengeInvalid()
    reserved = budgets.reserve_wrong_code(pending.user_id)
    try:
        # Checked and turned into a session together: a database lost between
        # the two must not eat a right answer and leave the user with nothing.
        with transaction.atomic():
            right = methods.get(name).check(user, code, challenge=pending, now=now)
            if right:
                issued = _finish(pending, now=now, method=name, remember_device=remember_device, ip=ip,
                                 user_agent=user_agent, via=via)
    except ChallengeUsed:
        budgets.give_back(reserved)
        raise
    if not right:
        locked = attempts >= TwoFactorChallenge.MAX_ATTEMPTS
        audit.record_event(
            audit.Kind.TWO_FACTOR_LOCKED if locked else audit.Kind.TWO_FACTOR_FAILED, user_id=pending.user_id,
            email=user.email, ip=ip, user_agent=user_agent, reason=f"{name}: attempt {attempts}", actor="user",
            via=via,
        )
        SECOND_FACTORS.labels(method=name, outcome="locked" if locked else "failed").inc()
        if reserved is not None and reserved.spent:
            challenges.pause(user, reserved, ip=ip, user_agent=user_agent, via=via)
        raise InvalidCode()
    budgets.give_back(reserved)
    SECOND_FACTORS.labels(method=name, outcome="succeeded").inc()
    return issued


def begin_login_assertion(*, challenge: str) -> dict:
    """
    The request options for a pending login's passkey step: a new WebAuthn
    challenge on the login's own challenge (the answer goes to ``login/2fa``
    with ``method: webauthn``), the user's credentials allowed.
    """
    pending = challenges.pending_challenge(challenge)
    refused = challenges.refusal(pending, timezone.now())
    if refused is not None:
        raise refused
    if methods.WEBAUTHN not in methods.methods_for(pending.user):
        raise MethodUnavailable()
    signed = passkeys.new_challenge()
    if not TwoFactorChallenge.objects.taking_codes(timezone.now()).filter(pk=pending.pk).update(webauthn_challenge=signed):
        raise ChallengeInvalid()
    return passkey_flows.request_options(pending.user, signed, require_uv=False)


def sign_in_with_passkey(*, credential, ip: str | None, user_agent: str, via: str = audit.Via.API) -> IssuedTokens:
    """
    Passwordless sign-in (``login/passkey``): a discoverable passkey whose
    assertion signs an open ``SIGN_IN`` ceremony's challenge (spent once),
    with user verification — the passkey is then both factors. Its account
    must be active; the account's budget of wrong answers applies as at
    ``login/2fa`` — the refusal that spends it pauses the account
    (``challenges.pause``: 429, the owner mailed), and a paused account is
    paused here too — a refusal is 401 ``invalid_code`` and audited, and the
    session starts as
    any login's does (audit event, new sign-in alert). Under mandatory
    verification an unverified address is refused after the passkey.
    """
    signed = passkeys.challenge_of(credential)
    key = (WebAuthnCredential.objects.select_related("user")
           .filter(credential_id=passkeys.credential_id_of(credential) or "").first())
    if signed is None or key is None or not key.user.is_active or not _handle_matches(credential, key):
        audit.record_event(audit.Kind.LOGIN_FAILED, user_id=key.user_id if key else None, ip=ip, user_agent=user_agent,
                           reason=f"{methods.WEBAUTHN}: unknown passkey", actor="user", via=via)
        LOGINS.labels(outcome="failed").inc()
        raise InvalidCode(method=methods.WEBAUTHN)
    user, now = key.user, timezone.now()
    budgets.check_not_paused(user.pk)
    reserved = budgets.reserve_wrong_code(user.pk)
    # A refusal commits what it leaves behind (the ceremony spent, a cloned key's audit event).
    with transaction.atomic():
        right = (methods.spend_ceremony(signed, WebAuthnCeremony.Purpose.SIGN_IN, user=None, now=now)
                 and methods.accept_assertion(key, credential, challenge=signed, require_uv=True, now=now))
    if not right:
        audit.record_event(audit.Kind.LOGIN_FAILED, user_id=user.pk, email=user.email, ip=ip, user_agent=user_agent,
                           reason=f"{methods.WEBAUTHN}: refused", actor="user", via=via)
        LOGINS.labels(outcome="failed").inc()
        SECOND_FACTORS.labels(method=methods.WEBAUTHN, outcome="failed").inc()
        if reserved is not None and reserved.spent:
            challenges.pause(user, reserved, ip=ip, user_agent=user_agent, via=via)
        raise InvalidCode(method=methods.WEBAUTHN)
    budgets.give_back(reserved)
    # The passkey is spent either way; an unverified address stops here, as after a right password.
    verification.refuse_unverified(user, ip=ip, user_agent=user_agent, via=via)
    issued = start_session(user, ip=ip, user_agent=user_agent, reason="passkey", via=via)
    SECOND_FACTORS.labels(method=methods.WEBAUTHN, outcome="succeeded").inc()
    return issued


def _handle_matches(credential, key: WebAuthnCredential) -> bool:
    """A discoverable credential returns the user handle it was made for: it must be this key's account's."""
    handle = passkeys.user_handle_of(credential)
    return handle is None or handle == key.user_handle


def _finish(pending: TwoFactorChallenge, *, now, method: str, remember_device: bool, ip: str | None,
            user_agent: str, via: str) -> IssuedTokens:
    """The right answer: the challenge consumed (once), a session, and a remembered device if asked for."""
    if not TwoFactorChallenge.objects.filter(pk=pending.pk, consumed_at__isnull=True).update(consumed_at=now):
        raise ChallengeUsed()
    user = pending.user
    issued = start_session(user, ip=ip, user_agent=user_agent, reason=method, via=via)
    if method == methods.RECOVERY:
        recovery_codes.recovery_code_used(user, ip=ip, user_agent=user_agent, via=via)
    if method == methods.EMAIL:
        # The code reached the mailbox and came back: the address is proved.
        verification.mark_verified(user, how="email_code", ip=ip, user_agent=user_agent, via=via)
    if remember_device:
        device = devices.remember_device(user=user, ip=ip, user_agent=user_agent, via=via)
        issued = replace(issued, device_token=device.token, device_expires_at=device.expires_at)
    return issued


def start_session(user: User, *, ip: str | None, user_agent: str, reason: str, via: str) -> IssuedTokens:
    """
    A login's last step, by password, second factor or remembered device:
    counted once as a succeeded login, and the "New sign-in" alert when it
    comes from somewhere new (``notices.sign_in_if_new``).
    """
    issued = issue_session(user=user, ip=ip, user_agent=user_agent)
    # What ``django.contrib.auth.login()`` sends: its receiver sets
    # ``last_login`` (the admin's column), and other apps hook it. The admin's
    # door ends in ``login()`` itself, which sends it: not twice.
    if via != audit.Via.ADMIN:
        user_logged_in.send(sender=user.__class__, request=None, user=user)
    if reason != REMEMBERED_DEVICE:
        notices.sign_in_if_new(user, session_id=issued.session_id, ip=ip, user_agent=user_agent, via=via)
    audit.record_event(audit.Kind.LOGIN_SUCCEEDED, user_id=user.pk, email=user.email, session_id=issued.session_id,
                       ip=ip, user_agent=user_agent, reason=reason, actor="user", via=via)
    LOGINS.labels(outcome="succeeded").inc()
    return issued
