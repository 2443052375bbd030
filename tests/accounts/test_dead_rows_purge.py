"""The hourly purge drops email links and passkey ceremonies no one can use any more."""

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


def test_dead_passkey_ceremonies_are_purged_and_open_ones_kept():
    """Anyone may open a passwordless ceremony: used and expired ones must not pile up."""
    from accounts.flows.passkeys import open_ceremony
    from accounts.models import WebAuthnCeremony
    from accounts.purge import purge_webauthn_ceremonies

    live, used, expired = (open_ceremony(WebAuthnCeremony.Purpose.SIGN_IN, user=None) for _ in range(3))
    WebAuthnCeremony.objects.filter(challenge=used).update(used_at=timezone.now())
    WebAuthnCeremony.objects.filter(challenge=expired).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert purge_webauthn_ceremonies(batch_size=1, dry_run=True) == {"webauthn_ceremonies": 2}
    assert purge_webauthn_ceremonies(batch_size=1) == {"webauthn_ceremonies": 2}
    assert list(WebAuthnCeremony.objects.values_list("challenge", flat=True)) == [live]
