from django.contrib import admin

from audio.models import PracticeSpeechSettings, Recording, Transcript, TranscriptSignature
from billy.admin import PracticeScopedAdmin


@admin.register(Recording)
class RecordingAdmin(PracticeScopedAdmin):
    """Read-only: dictations come in through the physician's upload, which validates and encrypts them."""

    list_display = ("__str__", "practice", "physician", "date_of_service", "status", "duration_s", "attempts",
                    "created_at")
    list_filter = ("practice", "status", "source")
    readonly_fields = ("uuid", "sha256", "size_bytes", "format_label", "codec", "duration_s", "progress_s",
                       "status_message", "created_at", "updated_at")
    exclude = ("audio", "original_name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Transcript)
class TranscriptAdmin(PracticeScopedAdmin):
    practice_field = "recording__practice"
    list_display = ("__str__", "model_name", "device", "real_time_factor", "created_at")
    exclude = ("text", "machine_text", "segments_json", "changes_json", "addendum_request_reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TranscriptSignature)
class TranscriptSignatureAdmin(PracticeScopedAdmin):
    """Who signed what and when; the signed text stays on the physician's page (PHI), never in lists."""

    practice_field = "transcript__recording__practice"
    list_display = ("__str__", "kind", "signer_name", "signed_at", "text_sha256")
    list_filter = ("kind",)
    exclude = ("text", "reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the database refuses it too


@admin.register(PracticeSpeechSettings)
class PracticeSpeechSettingsAdmin(PracticeScopedAdmin):
    list_display = ("practice", "hotwords", "updated_at")
