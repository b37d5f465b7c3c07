from django.contrib import admin

from billy.admin import PracticeScopedAdmin
from patients.models import Patient


@admin.register(Patient)
class PatientAdmin(PracticeScopedAdmin):
    """Lists name patients by id only: opening one shows the record. Encrypted fields cannot be searched."""

    list_display = ("__str__", "practice", "sex", "created_at")
    list_filter = ("practice", "sex")
    readonly_fields = ("name_dob_index", "mrn_index", "created_at", "updated_at")
    fields = ("practice", "family_name", "given_name", "birth_date", "sex", "mrn") + readonly_fields

    def has_add_permission(self, request):
        # New patients go through the app's form, which fills the blind indexes and checks duplicates.
        return False

    def has_change_permission(self, request, obj=None):
        return False
