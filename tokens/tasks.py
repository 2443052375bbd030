"""Celery adapters over the token services: the hourly purge, run by beat."""

import logging

from celery import shared_task
from django.db import OperationalError

from tokens import keys
from tokens.conf import conf
from tokens.purge import purge_all

logger = logging.getLogger(__name__)


# A lost connection or a failover is worth another try; every batch already
# deleted stays deleted, so a retry only picks up where the run stopped.
@shared_task(
    name="tokens.tasks.purge_expired",
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    ignore_result=True,
)
def purge_expired() -> dict[str, int]:
    """Every purge in ``settings.PURGE_FUNCTIONS`` (the counts per kind), then the signing keys' rotation."""
    counts = purge_all(batch_size=conf.purge_batch_size)
    logger.info("purge task done", extra={"counts": counts})
    # Rotation's hourly share: a published key starts signing, a spent one retires (tokens.keys).
    keys.advance()
    return counts
