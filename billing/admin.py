from django.contrib import admin
from django.db.models import Q
from django.utils import timezone

from billing.forms import FeeScheduleEntryAdminForm
from billing.models import FeeScheduleEntry
from billy.admin import PracticeScopedAdmin, admin_practice_ids
from billy.models import Practice


class InEffectFilter(admin.SimpleListFilter):
    title = "dates"
    parameter_name = "in_effect"

    def lookups(self, request, model_admin):
        return [("today", "In effect today"), ("scheduled", "Starting later"), ("ended", "Ended")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "today":
            return queryset.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today), effective_from__lte=today)
        if self.value() == "scheduled":
            return queryset.filter(effective_from__gt=today)
        if self.value() == "ended":
            return queryset.filter(effective_to__lt=today)
        return queryset


@admin.register(FeeScheduleEntry)
class FeeScheduleEntryAdmin(PracticeScopedAdmin):
    """One charge at a time; whole schedules load from the Fee schedule page (CSV, all or nothing)."""

    form = FeeScheduleEntryAdminForm
    list_display = ("code", "modifier", "descriptor", "charge", "effective_from", "effective_to", "practice")
    list_filter = (InEffectFilter, "modifier", ("practice", admin.RelatedOnlyFieldListFilter))
    search_fields = ("^code",)
    ordering = ("practice", "code", "modifier", "effective_from")
    readonly_fields = ("created_at", "updated_at")
    list_per_page = 200

    @admin.display(description="Description")
    def descriptor(self, obj):
        return obj.descriptor

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "practice" and not request.user.is_superuser:
            kwargs["queryset"] = Practice.objects.filter(pk__in=admin_practice_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
from billing import policy_admin  # noqa: E402,F401  (the policy library admin registers itself)
