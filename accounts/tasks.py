"""Celery adapters over accounts.services: the emails, sent by a worker."""

from smtplib import SMTPException

from celery import shared_task

from accounts import services

EMAIL_RETRY = {
    "autoretry_for": (SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": 5,
    "retry_jitter": True,
    "max_retries": 3,
}


@shared_task(name="accounts.tasks.send_two_factor_code", **EMAIL_RETRY)
def send_two_factor_code(challenge_id: str) -> bool:
    return services.send_two_factor_code(challenge_id=challenge_id)


@shared_task(name="accounts.tasks.send_password_reset", **EMAIL_RETRY)
def send_password_reset(user_id: int) -> None:
    services.send_password_reset_email(user_id=user_id)


@shared_task(name="accounts.tasks.send_password_changed_notice", **EMAIL_RETRY)
def send_password_changed_notice(user_id: int, how: str, revoked: int) -> None:
    services.send_password_changed_email(user_id=user_id, how=how, revoked=revoked)
