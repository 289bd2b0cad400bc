from django import forms
from django.contrib import admin, messages

from api.models import ApiKey


class ApiKeyForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = ApiKey
        fields = ["name", "enabled", "expires_at", "allowed_models", "webhook_url"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "enabled", "created_at", "last_used_at", "expires_at")
    list_filter = ("enabled",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
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
            self.message_user(request, f"Webhook signing secret: {key.webhook_secret}", messages.INFO)
