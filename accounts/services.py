"""
Account use cases: registration, password login with an emailed second
factor, password change and reset, and the per-user two-factor switch.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import NoReturn
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from accounts import addresses, budgets, codes, emails
from accounts.errors import (
    ChallengeExpired,
    ChallengeInvalid,
    ChallengeLocked,
    ChallengeUsed,
    EmailTaken,
    EmailUnavailable,
    InvalidCode,
    InvalidCredentials,
    InvalidPassword,
    ReauthenticationRequired,
    ResetTokenInvalid,
    TwoFactorCooldown,
    TwoFactorEnforced,
    TwoFactorUnavailable,
)
from accounts.models import TwoFactorChallenge, User, normalize_email
from authsvc.errors import FieldErrors, TooManyRequests
from authsvc import ratelimits
from authsvc.metrics import LOGINS, SECOND_FACTORS
from tokens import audit
from tokens.purge import purge_queryset
from tokens.services import (
    IssuedTokens,
    RevokeReason,
    issue_session,
    keep_session_across_credentials_change,
    revoke_all_sessions,
)

logger = logging.getLogger(__name__)


class TwoFactorMode:
    REQUIRED = "required"
    OPTIONAL = "optional"
    OFF = "off"


@dataclass(frozen=True)
class TwoFactorPending:
    """Login step one passed: a code was emailed; the client holds ``challenge`` until step two."""

    challenge: str
    expires_in: int


# --- registration and credentials --------------------------------------------------


def _validated_password(password: str, user: User, field: str = "password") -> str:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise FieldErrors({field: list(exc.messages)}) from exc
    return password


def register_user(*, email: str, password: str) -> User:
    """
    Create an account. Django's password validators apply; an email is taken
    whatever its spelling (``normalize_email``); an address that only looks
    like an existing account's (``addresses.skeleton``: ``аррӏе.com``, all
    Cyrillic, for ``apple.com``) or mixes alphabets in one label
    (``addresses.refusal``) is refused, so staff, the user's contacts and
    the emails we send cannot be fooled by a twin.
    """
    email = normalize_email(email)
    refusal = addresses.refusal(email)
    if refusal:
        raise FieldErrors({"email": [refusal]})
    user = User(email=email)
    _validated_password(password, user)
    # One lookup for both: the address itself, and the account it may imitate.
    # Only this direction is checked (a Latin address registered after its
    # whole-script twin is let through); the unique index decides races for
    # the address itself, not for look-alikes.
    clashes = set(User.objects.filter(email__in={email, addresses.skeleton(email)}).values_list("email", flat=True))
    if email in clashes:
        raise EmailTaken()
    if clashes:
        raise FieldErrors({"email": [addresses.LOOKALIKE]})
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        # Two registrations of one email at once: the unique index decides.
        raise EmailTaken() from exc
    logger.info("user registered", extra={"user_id": user.pk})
    return user


def check_credentials(*, email: str, password: str) -> User:
    """
    The active user with this email and password, or ``InvalidCredentials``.

    Unknown email, wrong password and inactive account are one answer, and an
    unknown email still pays for one password hash, so neither the body nor
    the timing tells an attacker which emails have accounts (OWASP
    Authentication Cheat Sheet, "Authentication Responses").
    """
    user = get_user_model().objects.filter(email=normalize_email(email)).first()
    if user is None:
        get_user_model()().set_password(password)
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials(user_id=user.pk)
    return user


def _confirm_password(user: User, password: str) -> None:
    if not user.check_password(password):
        raise InvalidPassword()


# --- login -------------------------------------------------------------------------------


def two_factor_applies(user: User, *, staff: bool = False) -> bool:
    """
    Whether a password login of ``user`` must be finished with a second
    factor. At the admin's door (``staff``) it always must, unless 2FA is off
    altogether: a staff login can revoke anyone's sessions and switch off
    anyone's second factor, so it is not left to the staff member's own
    choice under ``AUTH_2FA=optional`` (DESIGN.md, "Staff and the admin").
    """
    mode = settings.AUTH_2FA
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
        return _start_session(user, ip=ip, user_agent=user_agent, reason="password", via=via)
    # The account's own budgets (accounts.budgets), whatever the address or
    # the challenge: no challenge while wrong codes have paused the account,
    # no code email past the hourly cap.
    budgets.check_not_paused(user.pk)
    budgets.take_code_email(user.pk)
    now = timezone.now()
    secret = codes.new_secret()
    ttl = settings.TWO_FACTOR_CODE_TTL
    challenge = TwoFactorChallenge.objects.create(
        user=user,
        secret_hash=codes.hash_secret(secret),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        code_sent_at=now,
        pending_send=uuid.uuid4(),
        ip=ip,
        user_agent=user_agent,
    )
    _end_open_challenges(user.pk, now=now, keep=settings.TWO_FACTOR_MAX_OPEN_CHALLENGES)
    _enqueue_code_email(challenge.pk, challenge.pending_send)
    LOGINS.labels(outcome="two_factor_required").inc()
    return TwoFactorPending(challenge=secret, expires_in=ttl)


def _enqueue(task, *args) -> None:
    """Queue a task once the surrounding transaction commits; a broker that is down is a 503, not a 500."""

    def send() -> None:
        try:
            task.delay(*args)
        except (KombuError, RedisError, OSError) as exc:
            # Logged once, as every 503 is, by the exception handler.
            raise EmailUnavailable() from exc

    transaction.on_commit(send)


def _enqueue_code_email(challenge_id: uuid.UUID, send_id: uuid.UUID) -> None:
    from accounts.tasks import send_two_factor_code

    _enqueue(send_two_factor_code, str(challenge_id), str(send_id))


def send_two_factor_code(*, challenge_id: uuid.UUID | str, send_id: uuid.UUID | str) -> bool:
    """
    Send the code email that login or resend asked for as ``send_id``, once.

    Runs in the worker, so the raw code never travels through the broker and
    exists only in the email. The send is claimed first, by a conditional
    ``UPDATE`` that stores the new code's keyed hash: a task message
    delivered twice (late acknowledgement after a lost worker, Redis's
    visibility timeout), one superseded by a newer resend, or one for a
    challenge that no longer takes codes claims nothing and sends nothing,
    so it never mails a second code that silently replaces the first. If the
    email cannot be sent, the claim is given back for the task's retry.
    False when there was nothing to send.

    A worker killed between the claim and the end of the SMTP exchange loses
    that one email (its redelivered message finds the send taken) and the
    user asks for another with resend: at most once, because sending twice
    would mail two different codes, the second killing the first.
    """
    challenge_id, send_id = uuid.UUID(str(challenge_id)), uuid.UUID(str(send_id))
    challenge = TwoFactorChallenge.objects.select_related("user").filter(pk=challenge_id).first()
    code = codes.new_code()
    code_hash = codes.hash_code(challenge_id, code)
    if challenge is None or not _claim_code_send(challenge_id, send_id=send_id, code_hash=code_hash):
        logger.info("two-factor code send skipped: already sent, superseded or challenge closed",
                    extra={"challenge_id": str(challenge_id)})
        return False
    try:
        emails.send(
            to=challenge.user.email,
            subject="Your sign-in code",
            template="two_factor_code",
            context={"code": code, "minutes": max(1, settings.TWO_FACTOR_CODE_TTL // 60)},
        )
    except BaseException:
        # Whatever stopped it (an SMTP refusal, a timeout, the worker shutting
        # down), this email was not sent: it is pending again.
        _release_code_send(challenge_id, send_id=send_id, code_hash=code_hash)
        raise
    logger.info("two-factor code sent", extra={"challenge_id": str(challenge_id)})
    return True


def _takes_codes(now) -> Q:
    """The challenges a code may still be sent for and tried on: not consumed, not expired, not locked."""
    return Q(consumed_at__isnull=True, expires_at__gt=now, attempts__lt=TwoFactorChallenge.MAX_ATTEMPTS)


def _end_open_challenges(user_id: int, *, now, keep: int = 0) -> int:
    """
    End the user's open challenges but the newest ``keep``: they expire now,
    so their codes stop working, and a code email not sent yet never goes
    out (the worker's claim needs an open challenge). One conditional
    ``UPDATE``: a challenge consumed or locked meanwhile is left as it is.
    Each login makes its challenge before it trims, so of concurrent logins
    the last to trim sees every challenge, and at most ``keep`` codes of one
    account are valid at once — not one per login that an attacker who
    knows the password cares to open. Returns how many ended.
    """
    ending = TwoFactorChallenge.objects.filter(_takes_codes(now), user_id=user_id)
    if keep > 0:
        newest = ending.order_by("-created_at", "-pk").values("pk")[:keep]
        ending = ending.exclude(pk__in=newest)
    return ending.update(expires_at=now)


def _claim_code_send(challenge_id: uuid.UUID, *, send_id: uuid.UUID, code_hash: str) -> bool:
    """
    Take the pending send ``send_id`` and store the hash of the code about to
    be mailed, in one conditional ``UPDATE`` on the row's own columns: of two
    deliveries of one task message exactly one wins, and the code sent before
    keeps working until a new one is actually sent.
    """
    return bool(
        TwoFactorChallenge.objects.filter(_takes_codes(timezone.now()), pk=challenge_id, pending_send=send_id)
        .update(code_hash=code_hash, pending_send=None)
    )


def _release_code_send(challenge_id: uuid.UUID, *, send_id: uuid.UUID, code_hash: str) -> bool:
    """
    Make ``send_id`` pending again after its email failed, so the retry sends
    it; unless something newer happened since the claim: a resend asked for
    another email (a send is pending) or already sent it (the code hash
    changed). Putting the old send back then would mail a second code.
    """
    return bool(
        TwoFactorChallenge.objects.filter(pk=challenge_id, pending_send__isnull=True, code_hash=code_hash)
        .update(pending_send=send_id)
    )


def _pending_challenge(secret: str) -> TwoFactorChallenge:
    challenge = (
        TwoFactorChallenge.objects.select_related("user").filter(secret_hash=codes.hash_secret(secret)).first()
    )
    if challenge is None:
        raise ChallengeInvalid()
    return challenge


def _refusal(challenge: TwoFactorChallenge, now) -> Exception | None:
    """Why a challenge no longer takes codes, as the error to raise; None while it is pending."""
    if challenge.consumed_at is not None:
        return ChallengeUsed()
    if challenge.expires_at <= now:
        return ChallengeExpired()
    if challenge.attempts >= TwoFactorChallenge.MAX_ATTEMPTS:
        return ChallengeLocked()
    if not challenge.user.is_active:
        return ChallengeInvalid()
    return None


def complete_two_factor_login(*, challenge: str, code: str, ip: str | None, user_agent: str,
                              via: str = audit.Via.API) -> IssuedTokens:
    """
    Login step two: the emailed code for this challenge → a session.

    Each try is counted by a conditional ``UPDATE`` before the code is
    compared, so 50 parallel wrong guesses still burn the challenge after
    ``MAX_ATTEMPTS``; the challenge is consumed by another conditional
    ``UPDATE``, so of 10 parallel right codes exactly one logs in.

    Across challenges, the account's budget of wrong codes
    (``accounts.budgets``) is spent before a code is compared and given back
    when it was right; the wrong code that spends its last unit pauses the
    account (``_pause_two_factor``), and while it is paused no code is
    compared at all.

    ``SECOND_FACTORS`` counts the codes compared, as the audit trail does:
    ``failed``, ``locked`` for the wrong code that used up the last try, and
    ``succeeded`` when a session starts.
    """
    pending = _pending_challenge(challenge)
    now = timezone.now()
    if not pending.user.is_active:
        raise ChallengeInvalid()
    budgets.check_not_paused(pending.user_id)
    attempts = _count_attempt(pending, now)
    if attempts is None:
        pending.refresh_from_db()
        raise _refusal(pending, now) or ChallengeInvalid()
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
            _pause_two_factor(pending, reserved, ip=ip, user_agent=user_agent, via=via)
        raise InvalidCode()
    budgets.give_back(reserved)
    # Consumed and turned into a session together: a database lost between
    # the two must not eat a right code and leave the user with nothing.
    with transaction.atomic():
        if not TwoFactorChallenge.objects.filter(pk=pending.pk, consumed_at__isnull=True).update(consumed_at=now):
            raise ChallengeUsed()
        issued = _start_session(pending.user, ip=ip, user_agent=user_agent, reason="two_factor", via=via)
    SECOND_FACTORS.labels(method="email", outcome="succeeded").inc()
    return issued


def _pause_two_factor(pending: TwoFactorChallenge, spent: ratelimits.Usage, *, ip: str | None, user_agent: str,
                      via: str) -> NoReturn:
    """
    This wrong answer spent the account's budget (``accounts.budgets``):
    every open challenge of the account ends, the owner is mailed — once, as
    only one answer takes the last unit — and the answer is 429
    ``two_factor_cooldown`` until the budget's window is over. A second
    factor is only asked after the right password, so the notice tells the
    owner to change it. The audit event reuses ``two_factor_locked`` (the
    account's codes are locked), told apart by its reason.
    """
    from accounts.tasks import send_two_factor_paused_notice

    _end_open_challenges(pending.user_id, now=timezone.now())
    audit.record_event(
        audit.Kind.TWO_FACTOR_LOCKED, user_id=pending.user_id, email=pending.user.email, ip=ip,
        user_agent=user_agent, reason=f"account: {spent.limit} wrong codes", actor="user", via=via,
    )
    _enqueue(send_two_factor_paused_notice, pending.user_id, spent.retry_after)
    raise TwoFactorCooldown(retry_after=spent.retry_after)


def _count_attempt(challenge: TwoFactorChallenge, now) -> int | None:
    """
    Count one try, if the challenge still takes one; the count after it, or None.

    A conditional ``UPDATE … RETURNING`` on the row's own columns only:
    PostgreSQL re-checks them on the latest row version after waiting for a
    concurrent writer's lock (it would not for a condition in a joined
    subquery), so parallel tries cannot exceed ``MAX_ATTEMPTS``.
    """
    model = TwoFactorChallenge
    alias = router.db_for_write(model)
    connection = connections[alias]
    qn = connection.ops.quote_name
    field = model._meta.get_field
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(model._meta.db_table)} SET {qn('attempts')} = {qn('attempts')} + 1 "
            f"WHERE {qn('id')} = %s AND {qn('consumed_at')} IS NULL AND {qn('expires_at')} > %s "
            f"AND {qn('attempts')} < %s RETURNING {qn('attempts')}",
            [field("id").get_db_prep_value(challenge.pk, connection),
             field("expires_at").get_db_prep_value(now, connection), model.MAX_ATTEMPTS],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _start_session(user: User, *, ip: str | None, user_agent: str, reason: str, via: str) -> IssuedTokens:
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


def resend_two_factor_code(*, challenge: str) -> None:
    """
    Email a new code for a pending challenge; the previous one stops working
    once the new one is sent. One email per ``TWO_FACTOR_RESEND_COOLDOWN``
    seconds per challenge, claimed by a conditional ``UPDATE`` so parallel
    resends send one email; the same ``UPDATE`` makes this send the pending
    one, so a send asked for earlier and not done yet is superseded by it.
    The attempt count is kept: resending does not buy more guesses. And the
    account's code emails an hour are capped, logins and resends together
    (``accounts.budgets``): a resend that sends nothing gives its unit back.
    """
    pending = _pending_challenge(challenge)
    now = timezone.now()
    cooldown = timedelta(seconds=settings.TWO_FACTOR_RESEND_COOLDOWN)
    send_id = uuid.uuid4()
    email_unit = budgets.take_code_email(pending.user_id)
    claimed = TwoFactorChallenge.objects.filter(
        _takes_codes(now), pk=pending.pk, code_sent_at__lte=now - cooldown,
    ).update(code_sent_at=now, pending_send=send_id)
    if not claimed:
        budgets.give_back(email_unit)
        pending.refresh_from_db()
        refusal = _refusal(pending, now)
        if refusal is not None:
            raise refusal
        wait = (pending.code_sent_at + cooldown - now).total_seconds()
        raise TooManyRequests(retry_after=wait + 1, detail="A code was sent moments ago; wait before asking again.")
    _enqueue_code_email(pending.pk, send_id)


# --- passwords ---------------------------------------------------------------------------


def change_password(*, user: User, old_password: str, new_password: str, current_session_id: uuid.UUID,
                    ip: str | None = None, user_agent: str = "") -> int:
    """
    Set a new password, keeping the session it was changed from and revoking
    every other one (whoever else holds them may be the reason for the
    change). Returns how many sessions were revoked.

    The new password is judged before the old one is checked: refusing a
    weak new password only after a right old one would tell whoever holds a
    stolen access token that their guess was right.
    """
    _validated_password(new_password, user, field="new_password")
    _confirm_password(user, old_password)
    user.set_password(new_password)
    with transaction.atomic():
        user.save(update_fields=["password"])
        revoked = credentials_changed(user=user, reason=RevokeReason.PASSWORD_CHANGE,
                                      keep_session_id=current_session_id, ip=ip, user_agent=user_agent)
    _notify_password_changed(user, how="changed", revoked=revoked)
    return revoked


def credentials_changed(*, user: User, reason: str, keep_session_id: uuid.UUID | None = None, revoked_by: str = "",
                        ip: str | None = None, user_agent: str = "", via: str = audit.Via.API) -> int:
    """
    The one rule for "credentials changed": once a password is set (by the
    user, a reset link or staff) or the account is deactivated, every session
    of the user ends — API and admin alike — except ``keep_session_id``, the
    session a user changed their own password from. Call it in the
    transaction that saved the change. Returns how many sessions were revoked.

    The saved change has already moved ``User.auth_epoch`` on, which ends the
    sessions for the token checks whatever the door (a shell included); this
    revokes them by name, for the audit trail, the admin and the user's list.
    """
    if keep_session_id is not None:
        keep_session_across_credentials_change(session_id=keep_session_id, user=user)
    return revoke_all_sessions(user_id=user.pk, reason=reason, except_session_id=keep_session_id,
                               revoked_by=revoked_by, ip=ip, user_agent=user_agent, via=via)


def request_password_reset(*, email: str) -> None:
    """
    Queue a reset email for whichever active account has this email, if any;
    say nothing either way. The account is looked up in the worker, so a
    known and an unknown email take the same path here, through the broker:
    neither the answer, nor its timing, nor a 503 while the broker is down
    tells which emails have accounts.
    """
    from accounts.tasks import send_password_reset

    _enqueue(send_password_reset, normalize_email(email))


def send_password_reset_email(*, email: str) -> None:
    """
    Make the reset token and email the link (in the worker: the token only
    exists in the email). Django's token generator hashes the password and
    last login into the token, so it dies once used or once the password
    changes, and after ``PASSWORD_RESET_TIMEOUT``.
    """
    user = User.objects.filter(email=normalize_email(email), is_active=True).first()
    if user is None:
        logger.info("password reset requested for an unknown email")
        return
    link = settings.PASSWORD_RESET_URL.format(
        uid=urlsafe_base64_encode(force_bytes(user.pk)), token=default_token_generator.make_token(user)
    )
    emails.send(
        to=user.email, subject="Reset your password", template="password_reset",
        context={"email": user.email, "link": link},
    )


def confirm_password_reset(*, uid: str, token: str, new_password: str, ip: str | None = None,
                           user_agent: str = "") -> int:
    """Set the password from a reset link and revoke every session. Returns how many were revoked."""
    try:
        user_id = int(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError) as exc:
        raise ResetTokenInvalid() from exc
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        raise ResetTokenInvalid()
    user.set_password(_validated_password(new_password, user, field="new_password"))
    with transaction.atomic():
        user.save(update_fields=["password"])
        revoked = credentials_changed(user=user, reason=RevokeReason.PASSWORD_RESET, ip=ip, user_agent=user_agent)
    _notify_password_changed(user, how="reset", revoked=revoked)
    return revoked


def _notify_password_changed(user: User, *, how: str, revoked: int) -> None:
    from accounts.tasks import send_password_changed_notice

    _enqueue(send_password_changed_notice, user.pk, how, revoked)


def send_password_changed_email(*, user_id: int, how: str, revoked: int) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    note = f"{revoked} other session(s) were signed out." if revoked else "No other session was signed in."
    emails.send(
        to=user.email, subject=f"Your password was {how}", template="password_changed",
        context={"email": user.email, "how": how, "sessions_note": note},
    )


# --- notices of an account under attack -------------------------------------------------------


def warn_of_sign_in_attempts(*, email: str) -> None:
    """
    The per-email cap on password tries tripped: queue the "Someone is
    trying to sign in" notice for whichever active account has this email,
    if any. As for a reset, the account is looked up in the worker, so a
    known and an unknown email take the same path and get the same answer.
    """
    from accounts.tasks import send_sign_in_attempts_notice

    _enqueue(send_sign_in_attempts_notice, normalize_email(email))


def send_sign_in_attempts_email(*, email: str) -> None:
    user = User.objects.filter(email=normalize_email(email), is_active=True).first()
    if user is None:
        logger.info("sign-in attempts notice for an unknown email: nothing sent")
        return
    attempts, period = ratelimits.parse_rate(settings.RATE_LIMITS["login_email"])
    emails.send(
        to=user.email, subject="Someone is trying to sign in to your account", template="sign_in_attempts",
        context={"email": user.email, "attempts": attempts, "minutes": max(1, period // 60)},
    )


def send_two_factor_paused_email(*, user_id: int, retry_after: int) -> None:
    """The notice of ``_pause_two_factor``: what happened and what to do; never a code."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    failures, _ = ratelimits.parse_rate(settings.RATE_LIMITS[budgets.WRONG_CODES])
    emails.send(
        to=user.email, subject="Too many wrong sign-in codes", template="two_factor_paused",
        context={"email": user.email, "failures": failures, "minutes": max(1, -(-retry_after // 60))},
    )


# --- per-user two-factor ----------------------------------------------------------------


def _check_two_factor_switchable() -> None:
    if settings.AUTH_2FA == TwoFactorMode.REQUIRED:
        raise TwoFactorEnforced()
    if settings.AUTH_2FA == TwoFactorMode.OFF:
        raise TwoFactorUnavailable()


def set_two_factor(*, user: User, password: str, enabled: bool) -> None:
    """The user switches their own emailed second factor on or off (``AUTH_2FA=optional``)."""
    _check_two_factor_switchable()
    _confirm_password(user, password)
    user.two_factor_enabled = enabled
    user.save(update_fields=["two_factor_enabled"])
    logger.info("two-factor %s", "enabled" if enabled else "disabled", extra={"user_id": user.pk})


def require_recent_sign_in(*, signed_in_at: datetime | None) -> None:
    """
    Refuse an action that weakens an account unless whoever asks signed in
    (password and second factor) within ``ADMIN_REAUTH_MAX_AGE`` seconds:
    a staff session left open on an unattended screen, or taken over, must
    not be enough to strip a user's protection (OWASP ASVS 4.0 V3.7.1,
    re-authentication before sensitive account modifications).
    """
    max_age = timedelta(seconds=settings.ADMIN_REAUTH_MAX_AGE)
    if signed_in_at is None or timezone.now() - signed_in_at > max_age:
        raise ReauthenticationRequired()


def disable_two_factor(*, user: User, by: str, signed_in_at: datetime | None, ip: str | None = None,
                       user_agent: str = "", via: str = audit.Via.ADMIN) -> None:
    """
    Staff switch a user's second factor off (a lost mailbox); the user's
    password is not asked, so the staff member's own recent sign-in is, and
    the audit trail names them (``by``).
    """
    require_recent_sign_in(signed_in_at=signed_in_at)
    with transaction.atomic():
        user.two_factor_enabled = False
        user.save(update_fields=["two_factor_enabled"])
        audit.record_event(audit.Kind.TWO_FACTOR_DISABLED, user_id=user.pk, email=user.email, ip=ip,
                           user_agent=user_agent, reason="staff", actor=by, via=via)
    logger.info("two-factor disabled by staff", extra={"user_id": user.pk})


# --- housekeeping -------------------------------------------------------------------------


def purge_challenges(*, batch_size: int, dry_run: bool = False, now=None, on_progress=None) -> dict[str, int]:
    """Delete 2FA challenges that can no longer be used: expired or consumed (a ``PURGE_FUNCTIONS`` entry)."""
    now = now or timezone.now()
    dead = TwoFactorChallenge.objects.filter(Q(expires_at__lt=now) | Q(consumed_at__isnull=False))
    return purge_queryset(dead, kind="two_factor_challenges", batch_size=batch_size, dry_run=dry_run,
                          on_progress=on_progress)
