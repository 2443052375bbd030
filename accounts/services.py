"""Account use cases: registration and password login."""

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from accounts.errors import EmailTaken, InvalidCredentials
from accounts.models import User, normalize_email
from authsvc.errors import FieldErrors
from tokens.services import IssuedTokens, issue_session

logger = logging.getLogger(__name__)


def register_user(*, email: str, password: str) -> User:
    """Create an account. Django's password validators apply; an email is taken whatever its case."""
    email = normalize_email(email)
    user = User(email=email)
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise FieldErrors({"password": list(exc.messages)}) from exc
    if User.objects.filter(email=email).exists():
        raise EmailTaken()
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
        raise InvalidCredentials()
    return user


def login(*, email: str, password: str, ip: str | None, user_agent: str) -> IssuedTokens:
    """Password login: a new session for the user."""
    user = check_credentials(email=email, password=password)
    return issue_session(user=user, ip=ip, user_agent=user_agent)
