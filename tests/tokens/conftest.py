import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone

from tokens.models import RefreshToken, Session

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass
class Scenario:
    """Rows seeded for the purge: what must survive it and what must go."""

    kept_sessions: set = field(default_factory=set)
    dead_sessions: set = field(default_factory=set)
    kept_records: set = field(default_factory=set)
    dead_records: set = field(default_factory=set)
    sessions: list = field(default_factory=list)
    records: list = field(default_factory=list)

    def session(self, user, *, created, expires, last_used=None, revoked=None, dead: bool) -> Session:
        session = Session(
            id=uuid.uuid4(), user=user, created_at=created, last_used_at=last_used or created, expires_at=expires,
            revoked_at=revoked, revoke_reason=Session.RevokeReason.LOGOUT if revoked else "",
        )
        self.sessions.append(session)
        (self.dead_sessions if dead else self.kept_sessions).add(session.pk)
        return session

    def record(self, session, *, issued, expires, used=None, dead: bool) -> RefreshToken:
        record = RefreshToken(jti=uuid.uuid4(), session=session, issued_at=issued, expires_at=expires, used_at=used)
        self.records.append(record)
        (self.dead_records if dead else self.kept_records).add(record.pk)
        return record

    def save(self) -> "Scenario":
        Session.objects.bulk_create(self.sessions)
        RefreshToken.objects.bulk_create(self.records)
        return self


@pytest.fixture
def purge_scenario(make_user):
    """
    One of each kind of row the purge must tell apart (default settings:
    7-day refresh lifetime, 7-day retention of revoked sessions), as of now.
    """

    def build(user=None, now=None) -> Scenario:
        user = user or make_user()
        now = now or timezone.now()
        s = Scenario()

        # A live session: an expired record, a used-but-unexpired one (reuse
        # detection needs it) and its unused successor.
        live = s.session(user, created=now - 8 * DAY, last_used=now - HOUR, expires=now + 22 * DAY, dead=False)
        s.record(live, issued=now - 8 * DAY, expires=now - DAY, used=now - 2 * DAY, dead=True)
        s.record(live, issued=now - 2 * HOUR, expires=now + 7 * DAY - 2 * HOUR, used=now - HOUR, dead=False)
        s.record(live, issued=now - HOUR, expires=now + 7 * DAY - HOUR, dead=False)

        # Past its absolute expiry.
        expired = s.session(user, created=now - 31 * DAY, last_used=now - 2 * DAY, expires=now - DAY, dead=True)
        s.record(expired, issued=now - 3 * DAY, expires=now - DAY, used=now - 2 * DAY, dead=True)
        s.record(expired, issued=now - 2 * DAY, expires=now - DAY, dead=True)

        # Revoked 8 days ago: past the retention. Its record is still unexpired
        # (as under a refresh lifetime longer than the retention) and goes too.
        old_revoked = s.session(user, created=now - 9 * DAY, expires=now + 21 * DAY, revoked=now - 8 * DAY, dead=True)
        s.record(old_revoked, issued=now - 9 * DAY, expires=now + DAY, dead=True)

        # Revoked yesterday: kept for the retention, with its unexpired record;
        # its expired record goes.
        revoked = s.session(user, created=now - 3 * DAY, expires=now + 27 * DAY, revoked=now - DAY, dead=False)
        s.record(revoked, issued=now - 9 * DAY, expires=now - 2 * DAY, used=now - 3 * DAY, dead=True)
        s.record(revoked, issued=now - 2 * DAY, expires=now + 5 * DAY, dead=False)

        # Idle: never refreshed within the refresh lifetime, every token expired.
        idle = s.session(user, created=now - 10 * DAY, expires=now + 20 * DAY, dead=True)
        s.record(idle, issued=now - 10 * DAY, expires=now - 3 * DAY, dead=True)

        # Fresh: just logged in.
        fresh = s.session(user, created=now, expires=now + 30 * DAY, dead=False)
        s.record(fresh, issued=now, expires=now + 7 * DAY, dead=False)
        return s.save()

    return build
