from django.contrib import admin

from tokens.models import RefreshToken, Session


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at", "last_used_at", "expires_at", "ip", "revoked_at", "revoke_reason"]
    list_select_related = ["user"]
    search_fields = ["user__email", "ip"]
    readonly_fields = [f.name for f in Session._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(RefreshToken)
class RefreshTokenAdmin(admin.ModelAdmin):
    list_display = ["jti", "session", "issued_at", "expires_at", "used_at"]
    readonly_fields = [f.name for f in RefreshToken._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
