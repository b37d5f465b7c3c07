from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from simple_history.admin import SimpleHistoryAdmin

from billing.forms import CoveragePolicyAdminForm, FeeScheduleEntryAdminForm, PayerRuleAdminForm
from billing.models import MUE, CoveragePolicy, EditOrigin, FeeScheduleEntry, ModifierMap, NCCIEdit, PayerRule
from billy.admin import AuditedAdminMixin, PracticeScopedAdmin, admin_practice_ids
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



# --- scrubbing reference data: the same for every practice, with each row's history ------------------------

class EstimatedCountPaginator(Paginator):
    """The PTP table holds millions of rows: an unfiltered list counts them from PostgreSQL's statistics."""

    @cached_property
    def count(self):
        query = self.object_list.query
        if query.where or query.combinator:
            return super().count
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                           [self.object_list.model._meta.db_table])
            row = cursor.fetchone()
        estimate = row[0] if row else -1
        return super().count if estimate < 10_000 else estimate


class ReferenceDataAdmin(AuditedAdminMixin, SimpleHistoryAdmin):
    """A row saved here becomes the admin's own (origin "admin"): the next seed load or CMS import replaces only
    its own rows, and an admin's row wins over theirs for the same codes."""

    list_per_page = 100
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "origin")

    def save_model(self, request, obj, form, change):
        if obj.origin != EditOrigin.ADMIN:
            self.message_user(request, f"{obj} is now an admin's row: seed loads and CMS imports leave it as it is.")
        obj.origin = EditOrigin.ADMIN
        super().save_model(request, obj, form, change)


@admin.register(NCCIEdit)
class NCCIEditAdmin(ReferenceDataAdmin):
    """CMS rows come from `manage.py import_ncci` (the whole quarter at once); add a row here for a payer's own
    pair or a correction: an admin's row wins over CMS's and the seed's for the same two codes."""

    list_display = ("column1", "column2", "modifier_indicator", "effective", "deleted", "origin", "rationale",
                    "source")
    list_filter = ("origin", "modifier_indicator")
    search_fields = ("=column1", "=column2")
    ordering = ("column1", "column2", "-effective")


@admin.register(MUE)
class MUEAdmin(ReferenceDataAdmin):
    list_display = ("code", "units", "adjudication_indicator", "origin", "rationale", "source")
    list_filter = ("origin", "adjudication_indicator")
    search_fields = ("=code",)


@admin.register(PayerRule)
class PayerRuleAdmin(ReferenceDataAdmin):
    form = PayerRuleAdminForm
    list_display = ("rule_id", "name", "severity", "payer_type", "payer_ids", "active", "origin", "updated_at")
    list_filter = ("active", "severity", "payer_type", "origin")
    search_fields = ("rule_id", "name", "message")
    fieldsets = [
        (None, {"fields": ("rule_id", "name", "active", "severity")}),
        ("Which claims", {"fields": ("payer_type", "payer_ids", "effective", "ends", "when")}),
        ("What the biller reads", {"fields": ("message", "fix")}),
        ("What it rests on", {"fields": ("source_title", "source_section", "source_passage")}),
    ]


@admin.register(ModifierMap)
class ModifierMapAdmin(ReferenceDataAdmin):
    list_display = ("name", "payer_type", "payer_ids", "distinct_modifier", "bilateral", "active", "origin")
    list_filter = ("payer_type", "distinct_modifier", "bilateral", "active")


@admin.register(CoveragePolicy)
class CoveragePolicyAdmin(ReferenceDataAdmin):
    form = CoveragePolicyAdminForm
    list_display = ("policy_id", "title", "payer_type", "active", "effective", "ends", "document_title", "origin")
    list_filter = ("active", "payer_type", "origin")
    search_fields = ("policy_id", "title", "cpt_codes", "covered_diagnoses")
    readonly_fields = ("source_ref",)

    def save_model(self, request, obj, form, change):
        from billing.scrub_reference import link_coverage_passages

        super().save_model(request, obj, form, change)
        link_coverage_passages()  # cite the library passage the policy rests on, when its document is loaded
from billing import policy_admin  # noqa: E402,F401  (the policy library admin registers itself)
