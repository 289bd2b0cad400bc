import json

from django.contrib import admin, messages
from django.utils.html import format_html

from generation.media import signed_url
from videos.models import VideoAsset, VideoTask, WebhookDelivery, parse_public_id
from videos.webhooks import redeliver


class VideoAssetInline(admin.TabularInline):
    model = VideoAsset
    extra = 0
    can_delete = False
    fields = ("kind", "link", "mime", "width", "height", "size_bytes")
    readonly_fields = fields

    @admin.display(description="file")
    def link(self, obj):
        url = signed_url(obj.file.name, ttl=3600)
        if obj.kind == VideoAsset.Kind.THUMBNAIL:
            return format_html('<img src="{}" style="max-height:120px">', url)
        return format_html('<a href="{}">video.mp4</a>', url)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(VideoTask)
class VideoTaskAdmin(admin.ModelAdmin):
    list_display = ("short_id", "model", "status", "progress", "account", "upstream_submissions", "created_at",
                    "error_code")
    list_filter = ("status", "model")
    search_fields = ("id", "upstream_id", "error_code")
    inlines = (VideoAssetInline,)
    exclude = ("upstream_log", "params", "request_fingerprint")

    def get_search_results(self, request, queryset, search_term):
        # Clients see `video_<hex>` or `vtask_<hex>`; the column holds a bare UUID.
        term = search_term.strip()
        if term.startswith(("video_", "vtask_")):
            pk = parse_public_id(term)
            if pk is not None:
                return queryset.filter(pk=pk), False
        return super().get_search_results(request, queryset, search_term)
    readonly_fields = [f.name for f in VideoTask._meta.fields
                       if f.name not in ("upstream_log", "params", "request_fingerprint")] + ["pretty_upstream_log"]

    @admin.display(description="id")
    def short_id(self, obj):
        return obj.id.hex[:12]

    @admin.display(description="upstream exchange of failed attempts (redacted)")
    def pretty_upstream_log(self, obj):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>",
                           json.dumps(obj.upstream_log, indent=2, ensure_ascii=False)) if obj.upstream_log else "—"

    def has_add_permission(self, request):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_type", "event_id", "url", "status", "attempts", "last_status_code", "next_attempt_at",
                    "delivered_at")
    list_filter = ("status", "event_type")
    search_fields = ("event_id", "url")
    exclude = ("secret",)
    readonly_fields = ("event_id", "event_type", "task", "url", "payload", "status", "attempts", "next_attempt_at",
                       "give_up_at", "last_status_code", "last_error", "delivered_at", "created_at")
    actions = ("redeliver_selected",)

    @admin.action(description="Deliver again now")
    def redeliver_selected(self, request, queryset):
        self.message_user(request, f"Queued {redeliver(queryset)} delivery(ies).", messages.SUCCESS)

    def has_add_permission(self, request):
        return False
