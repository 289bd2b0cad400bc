from django import forms
from django.contrib import admin, messages

from api.models import ApiKey, new_webhook_secret


class ApiKeyForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = ApiKey
        # webhook_secret is not editable and never rendered: it is shown once, in a message, when it is made.
        fields = ["name", "enabled", "expires_at", "allowed_models", "webhook_url"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "enabled", "created_at", "last_used_at", "expires_at")
    list_filter = ("enabled",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ["regenerate_webhook_secret"]

    def show_webhook_secret(self, request, key: ApiKey) -> None:
        # Shown exactly once: the admin never renders it again (see ApiKeyForm).
        self.message_user(request, f"Webhook signing secret for '{key.name}': {key.webhook_secret} — keep it now "
                                   "(pass it to the SDK's webhooks.unwrap), it will not be shown again.",
                          messages.WARNING)

    def save_model(self, request, obj, form, change):
        if change:
            # A key that gains a webhook URL gets a signing secret, as ApiKey.issue() gives one: without it
            # deliveries would go out unsigned and receivers' webhooks.unwrap would reject them.
            made_secret = bool(obj.webhook_url) and not obj.webhook_secret
            if made_secret:
                obj.webhook_secret = new_webhook_secret()
            super().save_model(request, obj, form, change)
            if made_secret:
                self.show_webhook_secret(request, obj)
            return
        fields = {f: form.cleaned_data.get(f) for f in ("enabled", "expires_at", "allowed_models", "webhook_url")}
        fields["allowed_models"] = fields["allowed_models"] or []
        fields["webhook_url"] = fields["webhook_url"] or ""
        key, raw = ApiKey.issue(form.cleaned_data["name"], **fields)
        obj.pk = key.pk
        obj.refresh_from_db()
        # Shown exactly once: only the hash is kept.
        self.message_user(request, f"New API key for '{key.name}': {raw} — copy it now, it will not be shown again.",
                          messages.WARNING)
        if key.webhook_secret:
            self.show_webhook_secret(request, key)

    @admin.action(description="Regenerate webhook signing secret")
    def regenerate_webhook_secret(self, request, queryset):
        # The old secret is not read (nor decrypted): this also recovers a key whose secret cannot be read.
        regenerated = 0
        for key in queryset.only("pk", "name", "prefix", "webhook_url").order_by("pk"):
            if not key.webhook_url:
                self.message_user(request, f"'{key.name}' has no webhook URL; no signing secret made for it.",
                                  messages.INFO)
                continue
            key.webhook_secret = new_webhook_secret()
            key.save(update_fields=["webhook_secret"])
            self.show_webhook_secret(request, key)
            regenerated += 1
        if regenerated:
            self.message_user(request, "Deliveries already queued keep the secret they were queued with; new "
                                       "events are signed with the new secret.", messages.INFO)
