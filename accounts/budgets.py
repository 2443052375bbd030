"""
Per-account budgets of the emailed second factor (issue 11).

The per-challenge cap (five tries) and the per-IP limits say nothing about an
attacker who knows the password: each new login opened a new challenge with
five fresh guesses, from any address — about 50 guesses a minute, 88 % of
6-digit codes in 30 days. These budgets are kept per account, whatever the
challenge or the address, on the shared cache (``authsvc.ratelimits.take``:
an atomic counter per fixed window, Redis ``INCR`` in production, so every
web host spends from one budget):

- wrong answers: ``RATE_LIMITS["two_factor_account_failures"]`` (10 an hour:
  240 guesses a day at most, 0.7 % of the code space in 30 days). The answer
  that spends the last one pauses the account (``flows.challenges.pause``): every open
  challenge ends, the owner is mailed, and neither a code nor a new login is
  taken until the window is over (429 ``two_factor_cooldown``);
- code emails: ``RATE_LIMITS["two_factor_account_emails"]`` (10 an hour),
  logins and resends together, so no mailbox is flooded with codes.

NIST SP 800-63B §5.2.2, "Rate Limiting (Throttling)": failed attempts are
limited per account, not per address; OWASP Authentication Cheat Sheet,
"Protect Against Automated Attacks".
"""

import contextlib

from accounts.errors import InvalidCode, TwoFactorCooldown
from authsvc import ratelimits
from authsvc.errors import TooManyRequests
from authsvc.metrics import RATE_LIMITED

WRONG_CODES = "two_factor_account_failures"
CODE_EMAILS = "two_factor_account_emails"

give_back = ratelimits.give_back


def check_not_paused(user_id: int) -> None:
    """Refuse (429 ``two_factor_cooldown``) while the account's wrong-code budget is spent."""
    usage = ratelimits.peek(WRONG_CODES, str(user_id))
    if usage is not None and usage.spent:
        RATE_LIMITED.labels(scope=WRONG_CODES).inc()
        raise TwoFactorCooldown(retry_after=usage.retry_after)


def reserve_wrong_code(user_id: int) -> ratelimits.Usage | None:
    """
    Take one wrong answer from the account's budget *before* a code is
    compared, and ``give_back`` once it proved right. Counting after the
    comparison would let answers sent together all be compared while the
    count still looked low; this way no more than the budget's wrong codes
    are ever compared in a window, however many arrive at once. ``spent`` on
    the result: this answer holds the last unit, and pauses the account if
    it is wrong.
    """
    usage = ratelimits.take(WRONG_CODES, str(user_id))
    if usage is not None and usage.over:
        ratelimits.give_back(usage)
        RATE_LIMITED.labels(scope=WRONG_CODES).inc()
        raise TwoFactorCooldown(retry_after=usage.retry_after)
    return usage


@contextlib.contextmanager
def spending_wrong_answer(user_id: int):
    """
    A second-factor answer checked outside a login challenge (confirming or
    removing an app) spends from the same budget as a login's: refused while
    the account is paused, one unit reserved before the answer is compared,
    kept only if the block raises ``InvalidCode``.
    """
    check_not_paused(user_id)
    reserved = reserve_wrong_code(user_id)
    try:
        yield
    except InvalidCode:
        raise
    except BaseException:
        give_back(reserved)
        raise
    give_back(reserved)


def take_code_email(user_id: int) -> ratelimits.Usage | None:
    """Take one code email from the account's budget, or refuse (429 ``rate_limited``) with nothing queued."""
    usage = ratelimits.take(CODE_EMAILS, str(user_id))
    if usage is not None and usage.over:
        ratelimits.give_back(usage)
        RATE_LIMITED.labels(scope=CODE_EMAILS).inc()
        raise TooManyRequests(retry_after=usage.retry_after,
                              detail="Too many sign-in codes were emailed to this account; try again later.")
    return usage
