from functools import partial

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from accounts import methods
from accounts.admin_session import reauthenticate_url, signed_in_at
from accounts.conf import TwoFactorMode, conf
from accounts.flows import factors
from accounts.flows.credentials import credentials_changed, require_recent_sign_in
from accounts.flows.deletion import delete_account_by_staff
from accounts.flows.passkeys import user_passkeys
from accounts.errors import ReauthenticationRequired
from accounts.models import TotpDevice, TwoFactorChallenge, User
from authsvc.net import client_ip, user_agent
from tokens import audit, devices
from tokens.admin import ReadOnlyAdmin, UserSessionInline, staff_identity
from tokens.models import Session
from tokens.services import revoke_all_sessions


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_active", "is_staff", "two_factor_enabled", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "two_factor_enabled"]
    search_fields = ["email"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Security", {"fields": ("two_factor_enabled", "second_factors", "recovery_codes_left", "authenticator_app",
                                 "passkeys", "remembered_devices", "sessions_link")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined", "second_factors", "recovery_codes_left", "authenticator_app",
                       "passkeys", "remembered_devices", "sessions_link"]
    inlines = [UserSessionInline]
    actions = ["revoke_all_sessions", "disable_two_factor", "remove_authenticator_app", "remove_passkeys",
               "remove_recovery_codes", "forget_remembered_devices"]

    # --- credentials changed through the admin: the one rule (accounts.flows.credentials.credentials_changed) ---

    def save_model(self, request, obj, form, change):
        deactivated = change and "is_active" in form.changed_data and not obj.is_active
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if deactivated:
                credentials_changed(user=obj, reason=Session.RevokeReason.DEACTIVATED,
                                    revoked_by=staff_identity(request), ip=client_ip(request),
                                    user_agent=user_agent(request), via=audit.Via.ADMIN)

    def user_change_password(self, request, id, form_url=""):
        """Django's "set password" page (usable or not); when it saved a new one, every session of the user ends."""
        with transaction.atomic():
            epoch_before = User.objects.filter(pk=unquote(id)).values_list("auth_epoch", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            user = User.objects.filter(pk=unquote(id)).first()
            if user is not None and epoch_before is not None and user.auth_epoch != epoch_before:
                credentials_changed(user=user, reason=Session.RevokeReason.PASSWORD_SET,
                                    revoked_by=staff_identity(request), ip=client_ip(request),
                                    user_agent=user_agent(request), via=audit.Via.ADMIN)
        return response

    def get_inline_instances(self, request, obj=None):
        # No sessions to show on the "add user" page.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_actions(self, request):
        actions = super().get_actions(request)
        # The per-user switch only means something when 2FA is optional.
        if conf.two_factor_mode != TwoFactorMode.OPTIONAL:
            actions.pop("disable_two_factor", None)
        # Django's bulk delete would delete rows, not accounts: one at a time, through the rule (delete_view).
        actions.pop("delete_selected", None)
        return actions

    # --- deleting an account: the one rule (accounts.flows.deletion), under a recent sign-in ---

    def delete_view(self, request, object_id, extra_context=None):
        """
        Refused before the confirmation page, not only at its "Yes", when
        the staff member's sign-in is too old (as for taking a factor away):
        back to the user's page, with a link to sign in afresh that returns
        here.
        """
        try:
            require_recent_sign_in(signed_in_at=signed_in_at(request))
            return super().delete_view(request, object_id, extra_context)
        except ReauthenticationRequired as refused:
            # Raised inside the delete (the sign-in aged in between), it rolled the delete view's transaction back.
            self._ask_to_sign_in_again(request, refused)
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))

    def get_deleted_objects(self, objs, request):
        """
        What goes with the account, as Django lists it — but the rows that
        hang off it (sessions, devices, factors) are read-only here so that
        no one deletes them one by one past the flows; deleting the account
        is the flow that ends them, so they need no permission of their own.
        """
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected

    def delete_model(self, request, obj):
        ended = delete_account_by_staff(user=obj, by=staff_identity(request), signed_in_at=signed_in_at(request),
                                        ip=client_ip(request), user_agent=user_agent(request), via=audit.Via.ADMIN)
        self.message_user(request, f"Ended {ended} session(s) of {obj.email}.", messages.INFO)

    # --- the user's second factors, read-only (taken away with the actions below) ---

    @admin.display(description="second-factor methods")
    def second_factors(self, user: User) -> str:
        """What a login of this user can finish with, in the order it is offered (as ``GET 2fa`` lists them)."""
        return ", ".join(methods.methods_for(user)) if user.pk is not None else "-"

    @admin.display(description="recovery codes left")
    def recovery_codes_left(self, user: User) -> int | str:
        return methods.recovery_codes_left(user) if user.pk is not None else "-"

    @admin.display(description="authenticator app")
    def authenticator_app(self, user: User) -> str:
        app = TotpDevice.objects.filter(user_id=user.pk).first() if user.pk is not None else None
        if app is None:
            return "-"
        if app.confirmed_at is None:
            return f"set up {display_for_value(app.created_at, '-')}, not confirmed: no login asks for it"
        return f"confirmed {display_for_value(app.confirmed_at, '-')}"

    @admin.display(description="passkeys")
    def passkeys(self, user: User) -> str:
        """The user's passkeys and security keys by name, oldest first (never a key or a counter)."""
        keys = list(user_passkeys(user)) if user.pk is not None else []
        if not keys:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((key["name"], display_for_value(key["created_at"], "-"), display_for_value(key["last_used_at"], "never"))
             for key in keys),
        )
        return format_html("<table><thead><tr><th>name</th><th>created</th><th>last used</th></tr></thead>"
                           "<tbody>{}</tbody></table>", rows)

    @admin.display(description="remembered devices")
    def remembered_devices(self, user: User) -> str:
        """The devices that skip this user's second factor (never their tokens' hashes), newest first."""
        remembered = devices.remembered_devices(user_id=user.pk) if user.pk is not None else []
        if not remembered:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((display_for_value(d.created_at, "-"), display_for_value(d.last_used_at, "never"), d.ip or "-",
              d.user_agent or "-") for d in remembered),
        )
        return format_html("<table><thead><tr><th>created</th><th>last used</th><th>IP</th><th>user agent</th>"
                           "</tr></thead><tbody>{}</tbody></table>", rows)

    @admin.display(description="sessions")
    def sessions_link(self, user: User) -> str:
        if user.pk is None:
            return "-"
        url = reverse("admin:tokens_session_changelist") + f"?user={user.pk}"
        return format_html('<a href="{}">All sessions of this user</a>', url)

    @admin.action(description="Revoke all sessions", permissions=["change"])
    def revoke_all_sessions(self, request, queryset):
        revoked_by = staff_identity(request)
        users = list(queryset.values_list("pk", flat=True))
        revoked = sum(
            revoke_all_sessions(user_id=user_id, reason=Session.RevokeReason.ADMIN, revoked_by=revoked_by,
                                ip=client_ip(request), user_agent=user_agent(request), via=audit.Via.ADMIN)
            for user_id in users
        )
        self.message_user(
            request,
            f"Revoked {revoked} session(s) of {len(users)} user(s).",
            messages.SUCCESS,
        )

    # --- staff weakening an account: a recent sign-in, and the audit trail names them ---

    def _weaken(self, request, users, change) -> list | None:
        """
        ``change(user=…)`` for each of ``users``, as the signed-in staff
        member (``accounts.flows.factors``: a recent sign-in, audit events
        naming them, the user mailed); what each returned. None when their
        sign-in is too old: refused before the first change, and the
        message links to signing in afresh, which comes back here.
        """
        staff = {"by": staff_identity(request), "signed_in_at": signed_in_at(request), "ip": client_ip(request),
                 "user_agent": user_agent(request), "via": audit.Via.ADMIN}
        try:
            return [change(user=user, **staff) for user in users]
        except ReauthenticationRequired as refused:
            self._ask_to_sign_in_again(request, refused)
            return None

    def _ask_to_sign_in_again(self, request, refused: ReauthenticationRequired) -> None:
        self.message_user(request, format_html('{} <a href="{}">Sign in again</a>', refused.detail,
                                               reauthenticate_url(request)), messages.ERROR)

    @admin.action(description="Disable two-factor", permissions=["change"])
    def disable_two_factor(self, request, queryset):
        users = list(queryset.filter(two_factor_enabled=True))
        if self._weaken(request, users, factors.disable_two_factor) is None:
            return
        self.message_user(
            request,
            ngettext("Two-factor disabled for %d user.", "Two-factor disabled for %d users.", len(users)) % len(users),
            messages.SUCCESS,
        )

    @admin.action(description="Remove authenticator app", permissions=["change"])
    def remove_authenticator_app(self, request, queryset):
        self._remove_factor(request, queryset, methods.TOTP, "Authenticator app")

    @admin.action(description="Remove passkeys", permissions=["change"])
    def remove_passkeys(self, request, queryset):
        self._remove_factor(request, queryset, methods.WEBAUTHN, "Passkeys")

    @admin.action(description="Remove recovery codes", permissions=["change"])
    def remove_recovery_codes(self, request, queryset):
        self._remove_factor(request, queryset, methods.RECOVERY, "Recovery codes")

    def _remove_factor(self, request, queryset, method: str, what: str) -> None:
        removed = self._weaken(request, queryset, partial(factors.remove_factor, method=method))
        if removed is not None:
            self.message_user(request, f"{what} removed for {sum(removed)} of {len(removed)} user(s).",
                              messages.SUCCESS if any(removed) else messages.WARNING)

    @admin.action(description="Forget remembered devices", permissions=["change"])
    def forget_remembered_devices(self, request, queryset):
        forgotten = self._weaken(request, queryset, factors.forget_devices_by_staff)
        if forgotten is not None:
            self.message_user(request, f"Forgot {sum(forgotten)} remembered device(s) of {len(forgotten)} user(s).",
                              messages.SUCCESS if any(forgotten) else messages.WARNING)


@admin.register(TwoFactorChallenge)
class TwoFactorChallengeAdmin(ReadOnlyAdmin):
    """Pending and past 2FA logins, read-only. The keyed hashes are not shown: they serve no one here."""

    fields = ["id", "user", "created_at", "expires_at", "code_sent_at", "attempts", "consumed_at", "ip", "user_agent"]
    readonly_fields = fields
    list_display = ["id", "user", "created_at", "expires_at", "attempts", "consumed_at", "ip"]
    list_select_related = ["user"]
    list_filter = [("consumed_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "ip"]
    ordering = ["-expires_at"]
    show_full_result_count = False
