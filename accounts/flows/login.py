"""
Password login, at every door (the API, the admin's login page): the
password step, then — when a second factor applies — the emailed code, and
in the end a session.
"""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.utils import timezone

from accounts import budgets, codes, store
from accounts.conf import TwoFactorMode, conf
from accounts.errors import ChallengeInvalid, ChallengeUsed, InvalidCode, InvalidCredentials
from accounts.flows import challenges
from accounts.flows.challenges import TwoFactorPending
from accounts.flows.credentials import check_credentials
from accounts.models import TwoFactorChallenge, User, normalize_email
from authsvc.metrics import LOGINS, SECOND_FACTORS
from tokens import audit
from tokens.services import IssuedTokens, issue_session


def two_factor_applies(user: User, *, staff: bool = False) -> bool:
    """
    Whether a password login of ``user`` must be finished with a second
    factor. At the admin's door (``staff``) it always must, unless 2FA is off
    altogether: a staff login can revoke anyone's sessions and switch off
    anyone's second factor, so it is not left to the staff member's own
    choice under ``AUTH_2FA=optional`` (DESIGN.md, "Staff and the admin").
    """
    mode = conf.two_factor_mode
    return mode == TwoFactorMode.REQUIRED or (mode == TwoFactorMode.OPTIONAL and (staff or user.two_factor_enabled))


def login(*, email: str, password: str, ip: str | None, user_agent: str, via: str = audit.Via.API,
          staff: bool = False) -> IssuedTokens | TwoFactorPending:
    """
    Password login: a session at once, or, when 2FA applies, a challenge and an emailed code.

    ``via`` names the door in the audit trail. ``staff`` is the admin's door:
    only active staff pass it (anyone else gets the wrong-password answer, so
    the page does not tell which accounts are staff), and their second
    factor always applies unless ``AUTH_2FA=off``.
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
    if not two_factor_applies(user, staff=staff):
        return start_session(user, ip=ip, user_agent=user_agent, reason="password", via=via)
    pending = challenges.open_challenge(user, ip=ip, user_agent=user_agent)
    LOGINS.labels(outcome="two_factor_required").inc()
    return pending


def complete_two_factor_login(*, challenge: str, code: str, ip: str | None, user_agent: str,
                              via: str = audit.Via.API) -> IssuedTokens:
    """
    Login step two: the emailed code for this challenge → a session.

    Each try is counted by a conditional ``UPDATE`` before the code is
    compared (``accounts.store.count_attempt``), so 50 parallel wrong guesses
    still burn the challenge after ``MAX_ATTEMPTS``; the challenge is
    consumed by another conditional ``UPDATE``, so of 10 parallel right
    codes exactly one logs in.

    Across challenges, the account's budget of wrong codes
    (``accounts.budgets``) is spent before a code is compared and given back
    when it was right; the wrong code that spends its last unit pauses the
    account (``challenges.pause``), and while it is paused no code is
    compared at all.

    ``SECOND_FACTORS`` counts the codes compared, as the audit trail does:
    ``failed``, ``locked`` for the wrong code that used up the last try, and
    ``succeeded`` when a session starts.
    """
    pending = challenges.pending_challenge(challenge)
    now = timezone.now()
    if not pending.user.is_active:
        raise ChallengeInvalid()
    budgets.check_not_paused(pending.user_id)
    attempts = store.count_attempt(pending.pk, now=now)
    if attempts is None:
        pending.refresh_from_db()
        raise challenges.refusal(pending, now) or ChallengeInvalid()
    reserved = budgets.reserve_wrong_code(pending.user_id)
    if not codes.is_well_formed_code(code) or not codes.hashes_match(
        pending.code_hash, codes.hash_code(pending.pk, code)
    ):
        locked = attempts >= TwoFactorChallenge.MAX_ATTEMPTS
        audit.record_event(
            audit.Kind.TWO_FACTOR_LOCKED if locked else audit.Kind.TWO_FACTOR_FAILED, user_id=pending.user_id,
            email=pending.user.email, ip=ip, user_agent=user_agent, reason=f"attempt {attempts}", actor="user",
            via=via,
        )
        SECOND_FACTORS.labels(method="email", outcome="locked" if locked else "failed").inc()
        if reserved is not None and reserved.spent:
            challenges.pause(pending, reserved, ip=ip, user_agent=user_agent, via=via)
        raise InvalidCode()
    budgets.give_back(reserved)
    # Consumed and turned into a session together: a database lost between
    # the two must not eat a right code and leave the user with nothing.
    with transaction.atomic():
        if not TwoFactorChallenge.objects.filter(pk=pending.pk, consumed_at__isnull=True).update(consumed_at=now):
            raise ChallengeUsed()
        issued = start_session(pending.user, ip=ip, user_agent=user_agent, reason="two_factor", via=via)
    SECOND_FACTORS.labels(method="email", outcome="succeeded").inc()
    return issued


def start_session(user: User, *, ip: str | None, user_agent: str, reason: str, via: str) -> IssuedTokens:
    """A login's last step, by password or by second factor: counted once as a succeeded login."""
    issued = issue_session(user=user, ip=ip, user_agent=user_agent)
    # What ``django.contrib.auth.login()`` sends: its receiver sets
    # ``last_login`` (the admin's column), and other apps hook it. The admin's
    # door ends in ``login()`` itself, which sends it: not twice.
    if via != audit.Via.ADMIN:
        user_logged_in.send(sender=user.__class__, request=None, user=user)
    audit.record_event(audit.Kind.LOGIN_SUCCEEDED, user_id=user.pk, email=user.email, session_id=issued.session_id,
                       ip=ip, user_agent=user_agent, reason=reason, actor="user", via=via)
    LOGINS.labels(outcome="succeeded").inc()
    return issued
