from __future__ import annotations

from django import forms

from accounts.cookies import CookieParseError, parse_credentials
from accounts.models import Account

MAX_COOKIE_FILE_BYTES = 1024 * 1024


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value: a form shown again after an error (a duplicate
    name, a bad limit) must not put the pasted credentials back into the page."""

    def format_value(self, value):
        return None


class AccountForm(forms.ModelForm):
    """Credentials come in as a file or pasted text, through the same parser as import_cookies.

    The stored credentials are never rendered back: the form only shows their summary.
    """

    cookies_file = forms.FileField(required=False, help_text=(
        "Cookie-Editor / EditThisCookie JSON, Playwright storage_state, Netscape cookies.txt, "
        "a Cookie: header, or (Jimeng) a sessionid."))
    cookies_text = forms.CharField(required=False, widget=SecretTextarea(attrs={"rows": 4, "autocomplete": "off"}),
                                   label="…or paste them", help_text=(
                                       "Leave both empty to keep the current credentials. Never shown again: "
                                       "after an error, paste them again."))

    class Meta:
        model = Account
        fields = ["name", "provider", "region", "max_concurrency", "proxy", "state", "state_until"]
        widgets = {"proxy": forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["proxy"].required = False
        if self.instance.pk and self.instance.proxy:
            self.fields["proxy"].help_text = "A proxy is set; leave empty to keep it, or enter '-' to remove it."
        self.credentials = None

    def clean_proxy(self):
        value = (self.cleaned_data.get("proxy") or "").strip()
        if not value and self.instance.pk:
            return self.instance.proxy
        return "" if value == "-" else value

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("cookies_file")
        text = cleaned.get("cookies_text") or ""
        provider = cleaned.get("provider")
        if upload is not None:
            if upload.size > MAX_COOKIE_FILE_BYTES:
                raise forms.ValidationError({"cookies_file": "The file is larger than 1 MB."})
            source, raw = upload.name, upload.read()
        elif text.strip():
            source, raw = "<pasted text>", text
        else:
            if not self.instance.pk or not self.instance.credentials_summary:
                raise forms.ValidationError("Upload or paste the account's cookies (or its sessionid).")
            return cleaned
        try:
            self.credentials = parse_credentials(raw, provider=provider, source=source,
                                                 region=cleaned.get("region") or None)
        except CookieParseError as exc:
            raise forms.ValidationError({"cookies_file" if upload is not None else "cookies_text": str(exc)})
        return cleaned

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.credentials is not None:
            account.set_credentials(self.credentials)
        if commit:
            account.save()
        return account
