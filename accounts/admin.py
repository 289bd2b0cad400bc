from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts import standing
from accounts.forms import AccountForm
from accounts.models import Account, AccountLease


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = ("name", "provider", "region", "state_display", "cooldown", "active_leases", "max_concurrency",
                    "last_used_at", "short_error")
    list_filter = ("provider", "state", "region")
    search_fields = ("name",)
    readonly_fields = ("credentials_overview", "credentials_updated_at", "active_leases", "probation",
                       "cooldown_level", "state_reason", "last_error", "last_error_at", "last_used_at",
                       "last_success_at", "jobs_succeeded", "jobs_failed")
    actions = ("enable_accounts", "disable_accounts", "clear_cooldowns")
    fieldsets = (
        (None, {"fields": ("name", "provider", "region", "max_concurrency", "proxy")}),
        ("Credentials", {"fields": ("cookies_file", "cookies_text", "credentials_overview", "credentials_updated_at")}),
        ("State", {"fields": ("state", "state_until", "state_reason", "probation", "cooldown_level", "active_leases")}),
        ("History", {"fields": ("last_used_at", "last_success_at", "jobs_succeeded", "jobs_failed", "last_error",
                                "last_error_at")}),
    )

    @admin.display(description="state", ordering="state")
    def state_display(self, obj):
        return obj.effective_state()

    @admin.display(description="cooldown left")
    def cooldown(self, obj):
        seconds = int(obj.cooldown_remaining())
        return f"{seconds // 60} min {seconds % 60} s" if seconds else "—"

    @admin.display(description="last error")
    def short_error(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else (obj.last_error or "—")

    @admin.display(description="stored credentials")
    def credentials_overview(self, obj):
        summary = obj.credentials_summary or {}
        if not summary:
            return "none"
        rows = [(k, ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in summary.items()]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.action(description="Enable selected accounts")
    def enable_accounts(self, request, queryset):
        self.message_user(request, f"Enabled {standing.enable(queryset)} account(s).", messages.SUCCESS)

    @admin.action(description="Disable selected accounts")
    def disable_accounts(self, request, queryset):
        self.message_user(request, f"Disabled {standing.disable(queryset)} account(s).", messages.SUCCESS)

    @admin.action(description="Clear cooldown of selected accounts")
    def clear_cooldowns(self, request, queryset):
        self.message_user(request, f"Cleared {standing.clear_cooldown(queryset)} cooldown(s).", messages.SUCCESS)


@admin.register(AccountLease)
class AccountLeaseAdmin(admin.ModelAdmin):
    list_display = ("account", "holder", "acquired_at", "expires_at", "released_at", "is_live")
    list_filter = ("account",)
    readonly_fields = ("account", "holder", "token", "acquired_at", "expires_at", "released_at")

    @admin.display(boolean=True, description="live")
    def is_live(self, obj):
        return obj.released_at is None and obj.expires_at > timezone.now()

    def has_add_permission(self, request):
        return False
