from django.contrib import admin

from billy.admin import PracticeScopedAdmin
from patients.models import Coverage, Patient, Payer


@admin.register(Patient)
class PatientAdmin(PracticeScopedAdmin):
    """Lists name patients by id only: opening one shows the record. Encrypted fields cannot be searched."""

    list_display = ("__str__", "practice", "sex", "created_at")
    list_filter = ("practice", "sex")
    readonly_fields = ("name_dob_index", "mrn_index", "created_at", "updated_at")
    fields = ("practice", "family_name", "given_name", "middle_name", "birth_date", "sex", "mrn", "address_line1",
              "address_line2", "city", "state", "postal_code", "phone") + readonly_fields

    def has_add_permission(self, request):
        # New patients go through the app's form, which fills the blind indexes and checks duplicates.
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Payer)
class PayerAdmin(PracticeScopedAdmin):
    list_display = ("name", "payer_id", "payer_type", "filing_indicator", "distinct_modifier", "bilateral_convention",
                    "is_active", "practice")
    list_filter = ("practice", "payer_type", "is_active")
    search_fields = ("name", "payer_id")
    fieldsets = (
        (None, {"fields": ("practice", "name", "payer_id", "payer_type", "claim_filing_indicator", "is_active")}),
        ("Claims address", {"fields": ("address_line1", "address_line2", ("city", "state", "postal_code"), "phone")}),
        ("Member ids", {"fields": ("member_id_pattern", "member_id_example")}),
        ("This practice's preferences", {"fields": ("distinct_modifier", "bilateral_convention")}),
    )

    @admin.display(description="SBR09")
    def filing_indicator(self, obj):
        return obj.filing_indicator


@admin.register(Coverage)
class CoverageAdmin(PracticeScopedAdmin):
    """Read-only here: coverage is entered on the patient page, which validates member ids and overlaps."""

    practice_field = "patient__practice"
    list_display = ("__str__", "patient", "payer", "order", "effective_from", "effective_to")
    list_filter = ("order", "payer")
    readonly_fields = ("member_id_index", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
