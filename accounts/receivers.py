"""
The one door no flow sees: a password set, or an account deactivated, by
code that saves the user itself — ``manage.py changepassword``, a shell's
``set_password`` + ``save``, another app. ``User.save`` marks such a save
(the credentials epoch moved, ``accounts.models``); this owes the user the
notice DESIGN.md promises for every credentials change, once the save has
committed, and the sessions that change ended are revoked by name
(``tokens.services.revoke_stale_sessions``: the epoch already refuses their
tokens here, but the revocation feed, the audit trail and the lists only
know of a revocation). A change made through a flow owes its notice in its
own transaction (``flows.credentials.credentials_changed``), under the same
key, and revoked its sessions there, so here it finds it owed already,
nothing is left to revoke, and nothing more is sent. After the commit, not
in the save: a flow carries the session a password was changed from over
to the new epoch after saving the user, and that session must survive.

A departure from STYLE 11 (no rules in signals), on purpose: only a hook on
the model hears every door, and all it does is ask the flow for the notice.
"""

from django.db import transaction
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from accounts.flows import notices
from accounts.models import User
from tokens import audit
from tokens.models import Session
from tokens.services import revoke_all_sessions, revoke_stale_sessions


@receiver(post_save, sender=User, dispatch_uid="accounts.receivers.credentials_saved")
def credentials_saved(sender, instance: User, created: bool, **kwargs) -> None:
    if created or not getattr(instance, "credentials_moved", False):
        return
    user_id, epoch = instance.pk, instance.auth_epoch
    transaction.on_commit(lambda: _owe_notice(user_id, epoch))


def _owe_notice(user_id: int, epoch: int) -> None:
    user = User.objects.filter(pk=user_id, auth_epoch=epoch).first()
    if user is None:
        return  # gone, or changed again since: that change owes its own notice
    reason = Session.RevokeReason.PASSWORD_SET if user.is_active else Session.RevokeReason.DEACTIVATED
    revoked = revoke_stale_sessions(user=user, reason=reason)
    notices.credentials_changed(user, reason=reason, by_staff=False, revoked=revoked)


@receiver(pre_delete, sender=User, dispatch_uid="accounts.receivers.account_deleting")
def account_deleting(sender, instance: User, **kwargs) -> None:
    """
    A user row deleted by code that skipped ``flows.deletion`` (a shell, a
    bulk delete): its sessions would vanish by cascade, unseen by resource
    servers. Revoked by name first, so the revocation feed tells of them.
    Nothing is left to revoke after the flow.
    """
    revoke_all_sessions(user_id=instance.pk, reason=Session.RevokeReason.ACCOUNT_DELETED, revoked_by="system",
                        via=audit.Via.COMMAND)
