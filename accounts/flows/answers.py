"""
A second-factor answer asked for outside a login — to confirm or remove an
authenticator app, to delete the account: the same budget of wrong answers
as a login's, the same audit event, and the same single use.
"""

import contextlib
from collections.abc import Callable
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from accounts import budgets, methods
from accounts.errors import InvalidCode
from accounts.flows import recovery_codes
from accounts.models import User
from tokens import audit

T = TypeVar("T")


@contextlib.contextmanager
def audited_answer(user: User, step: str, *, ip: str | None, user_agent: str, via: str = audit.Via.API):
    """
    A wrong code outside a login is audited as a login's is
    (``two_factor_failed``, the method and the step as reason) — at
    ``disable`` or ``delete`` it may be someone holding a session and the
    password — after the step's transaction, which the refusal rolls back.
    """
    try:
        yield
    except InvalidCode as wrong:
        audit.record_event(audit.Kind.TWO_FACTOR_FAILED, user_id=user.pk, email=user.email, ip=ip,
                           user_agent=user_agent, reason=f"{wrong.method}: {step}", actor="user", via=via)
        raise


def answered(user: User, *, method: str, code, step: str, then: Callable[[], T], ip: str | None, user_agent: str,
             via: str = audit.Via.API) -> T:
    """
    ``then()``'s result, run only after a right ``code`` of ``method`` and
    in one transaction with the check: a single-use answer is spent only if
    ``then`` commits. A wrong one spends the account's budget of wrong
    answers, is audited, and is ``InvalidCode`` — raised after the check's
    transaction has committed what a refusal leaves behind (a passkey
    ceremony spent, a cloned key's audit event).
    """
    now = timezone.now()
    with budgets.spending_wrong_answer(user.pk), audited_answer(user, step, ip=ip, user_agent=user_agent, via=via):
        with transaction.atomic():
            if methods.get(method).check(user, code, challenge=None, now=now):
                if method == methods.RECOVERY:
                    recovery_codes.recovery_code_used(user, ip=ip, user_agent=user_agent, via=via)
                return then()
        raise InvalidCode(method=method)
