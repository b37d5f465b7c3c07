"""EMR connections in the admin: practice-scoped, credentials write-only, and a "Test connection" action."""

from django import forms
from django.contrib import admin, messages

from billy.admin import PracticeScopedAdmin
from billy.middleware import client_ip
from integrations.filing import emr_document_refile
from integrations.models import EMRConnection, EMRDocument
from integrations.services import connection_check

_SECRETS = ("client_secret", "private_key")


class EMRConnectionForm(forms.ModelForm):
    """Secrets are never shown again once saved: a blank field keeps the stored value."""

    client_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                                    help_text=EMRConnection._meta.get_field("client_secret").help_text
                                    + " Leave blank to keep the stored one.")
    private_key = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
                                  help_text=EMRConnection._meta.get_field("private_key").help_text
                                  + " Leave blank to keep the stored one.")
    clear_credentials = forms.BooleanField(required=False, help_text="Remove the stored secret and private key.")

    class Meta:
        model = EMRConnection
        fields = ("practice", "name", "vendor", "is_enabled", "files_transcripts", "base_url", "token_url", "tenant",
                  "client_id",
                  "client_secret", "private_key", "key_id", "scope", "mrn_system", "payer_id_system")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in _SECRETS:
            self.initial[name] = ""
            stored = getattr(self.instance, name, None) if self.instance.pk else None
            if stored:
                self.fields[name].widget.attrs["placeholder"] = "•••••• stored"

    def clean_private_key(self):
        value = self.cleaned_data.get("private_key", "").strip()
        if value and "PRIVATE KEY-----" not in value:
            raise forms.ValidationError("Paste the PEM private key, from -----BEGIN … PRIVATE KEY----- to its END "
                                        "line.")
        return value

    def save(self, commit=True):
        connection = super().save(commit=False)
        stored = EMRConnection.objects.filter(pk=connection.pk).first() if connection.pk else None
        for name in _SECRETS:
            typed = self.cleaned_data.get(name) or ""
            if self.cleaned_data.get("clear_credentials"):
                setattr(connection, name, None)
            elif typed:
                setattr(connection, name, typed)
            else:
                setattr(connection, name, getattr(stored, name) if stored else None)
        if commit:
            connection.save()
        return connection


@admin.register(EMRConnection)
class EMRConnectionAdmin(PracticeScopedAdmin):
    form = EMRConnectionForm
    list_display = ("name", "practice", "vendor", "base_url", "is_enabled", "last_check_ok", "last_checked_at")
    list_filter = ("vendor", "is_enabled", "practice")
    readonly_fields = ("last_checked_at", "last_check_ok", "last_check_message", "created_at", "updated_at")
    actions = ("test_connections",)
    fieldsets = (
        (None, {"fields": ("practice", "name", "vendor", "is_enabled", "files_transcripts")}),
        ("Endpoints", {"fields": ("base_url", "token_url", "tenant")}),
        ("Credentials", {"fields": ("client_id", "client_secret", "private_key", "key_id", "scope",
                                    "clear_credentials")}),
        ("Identifiers", {"fields": ("mrn_system", "payer_id_system")}),
        ("Last test", {"fields": ("last_checked_at", "last_check_ok", "last_check_message")}),
    )

    @admin.action(description="Test the selected connections")
    def test_connections(self, request, queryset):
        for connection in queryset:
            ok, message = connection_check(connection=connection, actor=request.user, ip_address=client_ip(request))
            self.message_user(request, f"{connection.name}: {'OK' if ok else 'failed'}. {message}",
                              messages.SUCCESS if ok else messages.ERROR)


@admin.register(EMRDocument)
class EMRDocumentAdmin(PracticeScopedAdmin):
    """Signed transcripts written back to the EMR: where each stands, and the reason of a failure."""

    practice_field = "connection__practice"
    list_display = ("__str__", "connection", "status", "attempts", "emr_document_id", "last_error", "queued_at",
                    "filed_at")
    list_filter = ("status", "connection")
    readonly_fields = ("connection", "signature", "status", "attempts", "emr_document_id", "last_error", "queued_at",
                       "filed_at")
    actions = ("file_again",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="File the selected failed documents again")
    def file_again(self, request, queryset):
        queued = sum(emr_document_refile(document=document) for document in queryset)
        self.message_user(request, f"{queued} document(s) queued to be filed again.", messages.SUCCESS)
