from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from accounts import services
from accounts.models import TwoFactorChallenge, User
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
        ("Security", {"fields": ("two_factor_enabled", "sessions_link")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined", "sessions_link"]
    inlines = [UserSessionInline]
    actions = ["revoke_all_sessions", "disable_two_factor"]

    def get_inline_instances(self, request, obj=None):
        # No sessions to show on the "add user" page.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_actions(self, request):
        actions = super().get_actions(request)
        # The per-user switch only means something when 2FA is optional.
        if settings.AUTH_2FA != services.TwoFactorMode.OPTIONAL:
            actions.pop("disable_two_factor", None)
        return actions

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
            revoke_all_sessions(user_id=user_id, reason=Session.RevokeReason.ADMIN, revoked_by=revoked_by)
            for user_id in users
        )
        self.message_user(
            request,
            f"Revoked {revoked} session(s) of {len(users)} user(s).",
            messages.SUCCESS,
        )

    @admin.action(description="Disable two-factor", permissions=["change"])
    def disable_two_factor(self, request, queryset):
        users = list(queryset.filter(two_factor_enabled=True))
        for user in users:
            services.disable_two_factor(user=user)
        self.message_user(
            request,
            ngettext("Two-factor disabled for %d user.", "Two-factor disabled for %d users.", len(users)) % len(users),
            messages.SUCCESS,
        )


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
