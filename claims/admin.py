"""Claims in the admin: read-only views for audit and support. Billers work claims on the claim pages, where
every change goes through the services (revision, audit, checks); the admin never edits a claim behind them."""

from django.contrib import admin

from billy.admin import ReadOnlyPracticeAdmin as ReadOnlyAdmin
from claims.models import Acknowledgement, Claim, ClaimExport, ClaimFinding, ControlNumberCounter, SecondRead


class ClaimFindingInline(admin.TabularInline):
    """The claim's findings as the scrubber left them, each with the rule, fix and source it rests on."""

    model = ClaimFinding
    fields = ("severity", "rule", "origin", "lines", "message", "fix", "source_title", "source_section",
              "source_passage")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("claims.view_claim")  # whoever sees the claim sees its findings


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "practice", "status", "date_of_service", "cpt_summary", "total_charge", "error_count",
                    "ack_outcome", "updated_at")
    list_filter = ("practice", "status", "frequency_code", "ack_outcome")
    exclude = ("onset_date", "accident_date", "additional_information", "rejection_reason", "override_reason")
    inlines = [ClaimFindingInline]


@admin.register(ClaimExport)
class ClaimExportAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "practice", "kind", "claim_count", "total_charge", "interchange_control_number",
                    "created_by", "created_at")
    list_filter = ("practice", "kind")
    exclude = ("file", "claims")


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "practice", "kind", "summary", "imported_by", "imported_at")
    list_filter = ("practice", "kind")
    exclude = ("file",)


@admin.register(ControlNumberCounter)
class ControlNumberCounterAdmin(ReadOnlyAdmin):
    list_display = ("practice", "last_interchange")


@admin.register(SecondRead)
class SecondReadAdmin(ReadOnlyAdmin):
    """Each second read: its state, model, cost and error (the facts it read are PHI and stay on the claim page)."""

    practice_field = "coding__recording__practice"
    list_display = ("__str__", "status", "model_name", "backend", "device", "seconds", "attempts", "finding_count",
                    "dropped_count", "error", "queued_at", "finished_at")
    list_filter = ("status", "backend")
    exclude = ("facts_json",)
