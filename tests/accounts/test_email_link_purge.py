"""The hourly purge drops verification and email-change links no one can use any more."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import links
from accounts.models import EmailLink
from accounts.purge import purge_email_links

pytestmark = pytest.mark.django_db


def test_used_and_expired_links_are_purged_and_live_ones_kept(make_user):
    user = make_user(email="links@example.com")
    now = timezone.now()
    live, used, expired = (links.new_link(user, links.Purpose.VERIFY, email=user.email, now=now) for _ in range(3))
    EmailLink.objects.filter(pk=used.pk).update(used_at=now)
    EmailLink.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(seconds=1))

    assert purge_email_links(batch_size=1, dry_run=True) == {"email_links": 2}
    assert purge_email_links(batch_size=1) == {"email_links": 2}
    assert list(EmailLink.objects.values_list("pk", flat=True)) == [live.pk]
