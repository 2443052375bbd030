"""
The account emails as Celery tasks: adapters over ``accounts.notifications``,
run by a worker, and ``enqueue``, how the flows queue them once their
transaction commits (STYLE 9).
"""

import contextlib
import logging

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import transaction
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from accounts import emails, notifications
from accounts.conf import conf
from accounts.errors import EmailUnavailable

logger = logging.getLogger(__name__)

EMAIL_MAX_RETRIES = 3
EMAIL_RETRY_BACKOFF_MAX = 600


@contextlib.contextmanager
def _retried_when_transient(task: Task):
    """
    Retry the task when its email fails for a reason that may pass
    (``emails.is_transient_failure``: SMTP 4xx, a refused, reset or timed-out
    connection), after an exponential backoff with full jitter — a random
    wait of up to ``EMAIL_RETRY_BACKOFF`` × 1, 2, 4 s (read when used), so
    workers that all failed at once do not retry at once. A permanent
    refusal (SMTP 5xx) and the last try fail the task. Every failed try is
    logged with the task and the attempt, never the message.
    """
    try:
        yield
    except OSError as exc:
        attempt, tries = task.request.retries + 1, EMAIL_MAX_RETRIES + 1
        failure = emails.describe_failure(exc)
        if not emails.is_transient_failure(exc):
            logger.error("%s failed on attempt %d of %d: %s is permanent, not retried", task.name, attempt, tries,
                         failure)
            raise
        if attempt >= tries:
            logger.error("%s failed on attempt %d of %d: %s; giving up", task.name, attempt, tries, failure)
            raise
        countdown = get_exponential_backoff_interval(
            factor=conf.email_retry_backoff, retries=task.request.retries, maximum=EMAIL_RETRY_BACKOFF_MAX,
            full_jitter=True,
        )
        logger.warning("%s failed on attempt %d of %d: %s; retrying in %d s", task.name, attempt, tries, failure,
                       countdown)
        raise task.retry(exc=exc, countdown=countdown, max_retries=EMAIL_MAX_RETRIES) from exc


@shared_task(bind=True, name="accounts.tasks.send_two_factor_code")
def send_two_factor_code(self: Task, challenge_id: str, send_id: str) -> bool:
    with _retried_when_transient(self):
        return notifications.send_two_factor_code(challenge_id=challenge_id, send_id=send_id)


@shared_task(bind=True, name="accounts.tasks.send_password_reset")
def send_password_reset(self: Task, email: str) -> None:
    with _retried_when_transient(self):
        notifications.send_password_reset_email(email=email, task_id=str(self.request.id))


@shared_task(bind=True, name="accounts.tasks.send_notice")
def send_notice(self: Task, notice_id: str) -> bool:
    with _retried_when_transient(self):
        return notifications.send_notice(notice_id=notice_id)


@shared_task(bind=True, name="accounts.tasks.send_sign_in_attempts_notice")
def send_sign_in_attempts_notice(self: Task, email: str) -> None:
    with _retried_when_transient(self):
        notifications.send_sign_in_attempts_email(email=email, task_id=str(self.request.id))


@shared_task(bind=True, name="accounts.tasks.send_two_factor_paused_notice")
def send_two_factor_paused_notice(self: Task, user_id: int, retry_after: int) -> None:
    with _retried_when_transient(self):
        notifications.send_two_factor_paused_email(user_id=user_id, retry_after=retry_after,
                                                   task_id=str(self.request.id))


@shared_task(bind=True, name="accounts.tasks.send_email_link")
def send_email_link(self: Task, link_id: str) -> bool:
    with _retried_when_transient(self):
        return notifications.send_email_link(link_id=link_id)


@shared_task(bind=True, name="accounts.tasks.send_sign_up_attempt")
def send_sign_up_attempt(self: Task, email: str) -> None:
    with _retried_when_transient(self):
        notifications.send_sign_up_attempt_email(email=email, task_id=str(self.request.id))


@shared_task(bind=True, name="accounts.tasks.send_verification")
def send_verification(self: Task, email: str) -> None:
    with _retried_when_transient(self):
        notifications.send_verification_email(email=email, task_id=str(self.request.id))


def enqueue(task: Task, *args) -> None:
    """Queue ``task`` once the surrounding transaction commits; a broker that is down is a 503, not a 500."""

    def send() -> None:
        try:
            task.delay(*args)
        except (KombuError, RedisError, OSError) as exc:
            # Logged once, as every 503 is, by the exception handler.
            raise EmailUnavailable() from exc

    transaction.on_commit(send)
