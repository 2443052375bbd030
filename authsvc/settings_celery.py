"""
The cache and Celery, both on ``REDIS_URL``; without it, a local-memory cache
and tasks run in-process, so ``make run`` works alone. Part of the settings:
``authsvc/settings.py`` star-imports this module.
"""

import environ
from celery.schedules import crontab

env = environ.Env()

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            # Several deployments (or test runs) can share one Redis database.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker the tasks run in-process, so `make run` works alone.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
# With late acknowledgement a task whose worker process dies (the OOM killer,
# SIGKILL of a prefork child) is still acknowledged, and lost, unless it is
# requeued instead. Celery warns of a loop if a task kills its process every
# time; ours hold little memory (one email, or purge batches of
# PURGE_BATCH_SIZE rows), and a redelivered code email sends nothing twice.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A message a worker took and never acknowledged (the whole worker killed or
# its host lost) goes back to the queue only after the visibility timeout:
# kombu's default hour outlives a 10-minute 2FA code, so the email would be
# useless. 300 s is well above what a healthy worker holds a message:
# seconds to send an email, and a retry's countdown, held unacknowledged
# until it is due (at most 20 s for the emails, 120 s for the purge). A
# message held longer is handed out again while still running: harmless for
# the emails (the send is claimed once), and the hourly purge, which on a
# huge backlog may run longer, is safe to run twice (its batches delete rows
# already dead, and two runs at once split them). kombu only looks for such
# messages every unacked_restore_interval × unacked_restore_throttle seconds
# (100 s by default); a throttle of 1 makes that every 10 s (one cheap
# sorted-set query), so they are back within about 5 minutes.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300),
    "unacked_restore_throttle": 1,
}
# Queueing a task (a code email) on a broker that stopped answering fails
# within seconds, and the request gets its 503, instead of waiting forever:
# kombu's Redis transport has no socket timeout of its own. One retry, at
# once, covers a pooled connection that a Redis restart closed; more would
# only hold the request longer (at most about 4 s in all).
CELERY_BROKER_TRANSPORT_OPTIONS.update(socket_connect_timeout=2, socket_timeout=2)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# The worker and beat log through LOGGING (authsvc/settings_logging.py), as
# the web does (JSON lines in production), instead of Celery's own handlers
# and format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# An email that failed for a reason that may pass (SMTP 4xx, connection
# refused or timed out) is retried three times, after a random wait of up to
# EMAIL_RETRY_BACKOFF × 1, 2, 4 s (accounts/tasks.py).
EMAIL_RETRY_BACKOFF = env.int("EMAIL_RETRY_BACKOFF", default=5)
# The queue every task goes to; installs sharing one Redis give each its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")

# The hourly purge (DESIGN.md, "Operations"; what it runs: PURGE_FUNCTIONS in
# authsvc/settings.py). PURGE_SCHEDULE, in seconds, replaces the crontab with
# an interval (tests run a real beat every second).
PURGE_SCHEDULE = env.int("PURGE_SCHEDULE", default=None)
CELERY_BEAT_SCHEDULE = {
    "purge-expired-tokens": {
        "task": "tokens.tasks.purge_expired",
        "schedule": PURGE_SCHEDULE if PURGE_SCHEDULE else crontab(minute=0),
    },
}
