"""
A login's second-factor challenge: opened by a password login that needs a
second factor (with an emailed code, for a user with no app factor), resent
on request, ended when the account's budget of wrong answers is spent.
Checking an answer and starting the session is ``flows.login``.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from django.utils import timezone

from accounts import budgets, codes, tasks
from accounts.conf import conf
from accounts.errors import (
    ChallengeExpired,
    ChallengeInvalid,
    ChallengeLocked,
    ChallengeUsed,
    MethodUnavailable,
    TwoFactorCooldown,
)
from accounts.methods import EMAIL, methods_for
from accounts.models import TwoFactorChallenge, User
from authsvc import ratelimits
from authsvc.errors import ServiceError, TooManyRequests
from tokens import audit


@dataclass(frozen=True)
class TwoFactorPending:
    """
    Login step one passed: the client holds ``challenge`` until step two,
    answering with one of ``methods`` (an emailed code was sent when
    ``email`` is among them).
    """

    challenge: str
    expires_in: int
    methods: tuple[str, ...] = ("email",)


def open_challenge(user: User, *, methods: list[str], ip: str | None, user_agent: str) -> TwoFactorPending:
    """
    Start the second step of a login whose password was right: a challenge
    and, when the emailed code is among the user's ``methods``, its code
    emailed by a worker. The account's own budgets (``accounts.budgets``)
    apply whatever the address or the challenge: no challenge while wrong
    answers have paused the account, no code email past the hourly cap.
    """
    budgets.check_not_paused(user.pk)
    emailed = EMAIL in methods
    if emailed:
        budgets.take_code_email(user.pk)
    now = timezone.now()
    secret = codes.new_secret()
    ttl = conf.code_ttl
    challenge = TwoFactorChallenge.objects.create(
        user=user,
        secret_hash=codes.hash_secret(secret),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        code_sent_at=now if emailed else None,
        pending_send=uuid.uuid4() if emailed else None,
        ip=ip,
        user_agent=user_agent,
    )
    end_open_challenges(user.pk, now=now, keep=conf.max_open_challenges)
    if emailed:
        tasks.enqueue(tasks.send_two_factor_code, str(challenge.pk), str(challenge.pending_send))
    return TwoFactorPending(challenge=secret, expires_in=ttl, methods=tuple(methods))


def end_open_challenges(user_id: int, *, now: datetime, keep: int = 0) -> int:
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
    ending = TwoFactorChallenge.objects.taking_codes(now).filter(user_id=user_id)
    if keep > 0:
        newest = ending.order_by("-created_at", "-pk").values("pk")[:keep]
        ending = ending.exclude(pk__in=newest)
    return ending.update(expires_at=now)


def pending_challenge(secret: str) -> TwoFactorChallenge:
    """The challenge the client's secret names, with its user; ``challenge_invalid`` if none."""
    challenge = (
        TwoFactorChallenge.objects.select_related("user").filter(secret_hash=codes.hash_secret(secret)).first()
    )
    if challenge is None:
        raise ChallengeInvalid()
    return challenge


def refusal(challenge: TwoFactorChallenge, now: datetime) -> ServiceError | None:
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


def pause(user: User, spent: ratelimits.Usage, *, ip: str | None, user_agent: str, via: str) -> NoReturn:
    """
    This wrong answer spent the account's budget (``accounts.budgets``):
    every open challenge of the account ends, the owner is mailed — once, as
    only one answer takes the last unit — and the answer is 429
    ``two_factor_cooldown`` until the budget's window is over. A second
    factor is only asked after the right password, so the notice tells the
    owner to change it. The audit event reuses ``two_factor_locked`` (the
    account's codes are locked), told apart by its reason.
    """
    end_open_challenges(user.pk, now=timezone.now())
    audit.record_event(
        audit.Kind.TWO_FACTOR_LOCKED, user_id=user.pk, email=user.email, ip=ip,
        user_agent=user_agent, reason=f"account: {spent.limit} wrong codes", actor="user", via=via,
    )
    tasks.enqueue(tasks.send_two_factor_paused_notice, user.pk, spent.retry_after)
    raise TwoFactorCooldown(retry_after=spent.retry_after)


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
    pending = pending_challenge(challenge)
    if EMAIL not in methods_for(pending.user):
        # A user with an app factor is never mailed a code (DESIGN.md): not on request either.
        raise MethodUnavailable()
    now = timezone.now()
    cooldown = conf.resend_cooldown
    send_id = uuid.uuid4()
    email_unit = budgets.take_code_email(pending.user_id)
    claimed = TwoFactorChallenge.objects.taking_codes(now).filter(
        pk=pending.pk, code_sent_at__lte=now - cooldown,
    ).update(code_sent_at=now, pending_send=send_id)
    if not claimed:
        budgets.give_back(email_unit)
        pending.refresh_from_db()
        refused = refusal(pending, now)
        if refused is not None:
            raise refused
        wait = (pending.code_sent_at + cooldown - now).total_seconds()
        raise TooManyRequests(retry_after=wait + 1, detail="A code was sent moments ago; wait before asking again.")
    tasks.enqueue(tasks.send_two_factor_code, str(pending.pk), str(send_id))
