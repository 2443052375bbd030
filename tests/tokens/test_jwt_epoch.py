"""
The times in a token's claims: ``tokens.jwt._epoch`` gives the very number
simplejwt's ``datetime_to_epoch`` gives (whole seconds, UTC), for aware
times in any zone, at every microsecond of a second, and for naive ones.
"""

import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from rest_framework_simplejwt.utils import datetime_to_epoch

from tokens.jwt import _epoch

ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11)),
         ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]


def test_the_same_seconds_as_simplejwt_for_aware_times():
    rng = random.Random(20261207)
    start = datetime(1971, 1, 1, tzinfo=UTC)
    for _ in range(20_000):
        moment = (start + timedelta(seconds=rng.randrange(0, 4_000_000_000),
                                    microseconds=rng.choice([0, 1, 500_000, 999_999, rng.randrange(1_000_000)])))
        moment = moment.astimezone(rng.choice(ZONES))
        assert _epoch(moment) == datetime_to_epoch(moment), moment


def test_the_same_seconds_as_simplejwt_for_naive_times():
    moment = datetime(2026, 12, 7, 20, 45, 1, 999_999)
    assert _epoch(moment) == datetime_to_epoch(moment) == 1796676301
