"""
Staff views of sessions and refresh records. Revocation goes through
``tokens.services`` like every other revocation, so it takes effect on the
session's access tokens at once and records which staff member did it.
Rows are never deleted or edited here: a session ends by being revoked, and
the purge removes it after the retention.
"""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext

from tokens import services
from tokens.models import AuthEvent, RefreshToken, Session, TrustedDevice


def staff_identity(request) -> str:
    """How a revocation by staff is recorded: their email (the username when the user model has none)."""
    user = request.user
    return getattr(user, user.get_email_field_name(), "") or user.get_username()


class SessionStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    ACTIVE, REVOKED, EXPIRED = "active", "revoked", "expired"

    def lookups(self, request, model_admin):
        return [
            (self.ACTIVE, "Active"),
            (self.REVOKED, "Revoked"),
            (self.EXPIRED, "Ended: expired, idle, or its user's credentials changed"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == self.ACTIVE:
            return queryset.active(now)
        if self.value() == self.REVOKED:
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == self.EXPIRED:
            return queryset.ended(now)
        return queryset


class SessionUserFilter(admin.SimpleListFilter):
    """
    Sessions of one user, as ``?user=<id>`` (the user page links here).

    A list of every user with a session, as ``list_filter = ["user"]`` would
    render, does not fit in a sidebar at millions of logins: only the chosen
    user is offered, and searching by email finds the others.
    """

    title = "user"
    parameter_name = "user"

    def lookups(self, request, model_admin):
        # Always offer the chosen value: Django applies only filters that have
        # choices, and ?user=<unknown> must list nothing, not everything.
        value = self.value()
        if not value:
            return []
        user = None
        user_id = self._user_id(value)
        if user_id is not None:
            user = Session._meta.get_field("user").related_model._default_manager.filter(pk=user_id).first()
        return [(value, str(user) if user is not None else f"no user {value}")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        user_id = self._user_id(value)
        if user_id is None:
            return queryset.none()
        return queryset.filter(user_id=user_id)

    @staticmethod
    def _user_id(value: str) -> int | None:
        """
        The id ``?user=`` names, or None. ASCII digits only: ``str.isdigit()``
        also says yes to "²", which ``int()`` refuses (a 500), and to "１" or
        "١", which it reads as 1; and no bigger than a 64-bit key, which
        SQLite would refuse with another 500.
        """
        if not (value.isascii() and value.isdigit()) or int(value) >= 2**63:
            return None
        return int(value)


class NoAddOrDeleteAdmin(admin.ModelAdmin):
    """Rows that only the service creates and only the purge deletes."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoAddOrDeleteAdmin):
    """
    Records staff may read but never change: refresh records (how a replayed
    token is recognised), audit events, 2FA challenges.
    """

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Session)
class SessionAdmin(NoAddOrDeleteAdmin):
    list_display = [
        "user_email", "created_at", "last_used_at", "expires_at", "ip", "short_user_agent",
        "is_active", "revoked_at", "revoke_reason",
    ]
    list_display_links = ["user_email", "created_at"]
    list_filter = [SessionStatusFilter, SessionUserFilter, "revoke_reason"]
    list_select_related = ["user"]
    search_fields = ["user__email", "ip"]
    ordering = ["-created_at"]
    # The exact count of an unfiltered list of millions of rows is not worth a scan.
    show_full_result_count = False
    readonly_fields = [f.name for f in Session._meta.fields] + ["is_active"]
    actions = ["revoke_selected_sessions"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_liveness(timezone.now())

    @admin.display(description="user", ordering="user__email")
    def user_email(self, session: Session) -> str:
        return str(session.user)

    @admin.display(description="user agent")
    def short_user_agent(self, session: Session) -> str:
        agent = session.user_agent
        return agent if len(agent) <= 40 else agent[:39] + "…"

    @admin.display(description="active", boolean=True)
    def is_active(self, session: Session) -> bool:
        # The one live-session rule, computed by the list's query (SessionQuerySet.with_liveness).
        return session.is_live

    @admin.action(description="Revoke selected sessions", permissions=["change"])
    def revoke_selected_sessions(self, request, queryset):
        revoked_by = staff_identity(request)
        revoked = sum(
            services.revoke_session(session_id=session_id, reason=Session.RevokeReason.ADMIN, revoked_by=revoked_by,
                                    via=AuthEvent.Via.ADMIN)
            for session_id in queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request,
            ngettext("Revoked %d session.", "Revoked %d sessions.", revoked) % revoked,
            messages.SUCCESS if revoked else messages.WARNING,
        )


class UserSessionInline(admin.TabularInline):
    """The user's sessions on the user page, newest first; read-only (revoke with the actions)."""

    model = Session
    fk_name = "user"
    fields = ["id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "revoked_at", "revoke_reason",
              "revoked_by"]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "sessions (newest first)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RefreshToken)
class RefreshTokenAdmin(ReadOnlyAdmin):
    list_display = ["jti", "session", "issued_at", "expires_at", "used_at", "replaced_by"]
    list_select_related = ["session"]
    search_fields = ["=jti", "=session__id"]
    # Roughly newest first, along the expiry index: a record expires a refresh lifetime after its issue.
    ordering = ["-expires_at"]
    show_full_result_count = False
    readonly_fields = [f.name for f in RefreshToken._meta.fields]


@admin.register(TrustedDevice)
class TrustedDeviceAdmin(ReadOnlyAdmin):
    """
    Remembered devices, read-only; staff forget a user's with the user list's
    action (``accounts.flows.factors.forget_devices_by_staff``). The keyed
    hashes are not shown: they serve no one here.
    """

    fields = ["id", "user", "created_at", "last_used_at", "expires_at", "ip", "user_agent"]
    readonly_fields = fields
    list_display = ["id", "user", "created_at", "last_used_at", "expires_at", "ip"]
    list_select_related = ["user"]
    search_fields = ["user__email", "ip"]
    ordering = ["-created_at"]
    show_full_result_count = False


@admin.register(AuthEvent)
class AuthEventAdmin(ReadOnlyAdmin):
    """The audit trail: read-only, filterable, searchable."""

    list_display = ["created_at", "kind", "email", "user_id", "session_id", "ip", "reason", "actor", "via"]
    list_filter = ["kind", "via", "reason", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["email", "ip"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    readonly_fields = [f.name for f in AuthEvent._meta.fields]
