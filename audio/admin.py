from django.contrib import admin

from audio.models import PracticeSpeechSettings, Recording, Transcript
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
    exclude = ("text", "segments_json", "changes_json")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PracticeSpeechSettings)
class PracticeSpeechSettingsAdmin(PracticeScopedAdmin):
    list_display = ("practice", "hotwords", "updated_at")
