import json
import uuid

from django.contrib import admin
from django.utils.html import format_html

from generation.media import signed_url
from generation.models import FailureArtifact, GeneratedFile, Generation


class GeneratedFileInline(admin.TabularInline):
    model = GeneratedFile
    extra = 0
    can_delete = False
    fields = ("kind", "index", "preview", "mime", "width", "height", "size_bytes", "created_at")
    readonly_fields = fields

    @admin.display(description="file")
    def preview(self, obj):
        url = signed_url(obj.file.name, ttl=3600)
        if obj.mime.startswith("image/"):
            return format_html('<a href="{}"><img src="{}" style="max-height:120px"></a>', url, url)
        return format_html('<a href="{}">{}</a>', url, obj.file.name)

    def has_add_permission(self, request, obj=None):
        return False


class FailureArtifactInline(admin.TabularInline):
    model = FailureArtifact
    extra = 0
    can_delete = False
    fields = ("attempt", "account_name", "kind", "shown", "created_at")
    readonly_fields = fields

    @admin.display(description="artifact")
    def shown(self, obj):
        url = signed_url(obj.file.name, ttl=3600)
        if obj.kind == FailureArtifact.Kind.SCREENSHOT:
            return format_html('<a href="{}"><img src="{}" style="max-height:240px"></a>', url, url)
        return format_html('<a href="{}">open {}</a>', url, obj.get_kind_display())

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("short_id", "model", "kind", "status", "account", "attempts", "created_at", "duration",
                    "error_code")
    list_filter = ("status", "provider", "kind", "model")
    search_fields = ("id", "error_code", "error_message")
    inlines = (GeneratedFileInline, FailureArtifactInline)
    readonly_fields = ("id", "api_key", "provider", "model", "kind", "pretty_params", "inputs", "status", "account",
                       "tried_accounts", "attempts", "deliveries", "created_at", "enqueued_at", "started_at",
                       "finished_at", "deadline_at", "heartbeat_at", "error_code", "error_status", "error_param",
                       "error_message", "pretty_upstream_log", "result_meta", "idempotency_key")
    exclude = ("params", "upstream_log", "request_fingerprint")

    def get_search_results(self, request, queryset, search_term):
        # Clients see `gen_<hex>` (the x-gateway-job-id header); the column holds a bare UUID.
        term = search_term.strip()
        if term.startswith("gen_"):
            try:
                return queryset.filter(pk=uuid.UUID(term[4:])), False
            except ValueError:
                pass
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="id")
    def short_id(self, obj):
        return obj.id.hex[:12]

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.started_at and obj.finished_at:
            return f"{(obj.finished_at - obj.created_at).total_seconds():.1f} s"
        return "—"

    @admin.display(description="params")
    def pretty_params(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.params, indent=2, ensure_ascii=False))

    @admin.display(description="upstream exchange of failed attempts (redacted)")
    def pretty_upstream_log(self, obj):
        if not obj.upstream_log:
            return "—"
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                           json.dumps(obj.upstream_log, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False
