"""The Django admin for practice admins: users, memberships, sessions, the audit trail (read-only)."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from billy import services
from billy.audit import audit_record
from billy.middleware import client_ip
from billy.models import (
    AuditEvent,
    EdiSettings,
    Facility,
    KeyCanary,
    LanguageModelStatus,
    Membership,
    Practice,
    Provider,
    Role,
    User,
    UserSession,
)


def admin_practice_ids(request) -> list[int]:
    memberships = Membership.objects.filter(user=request.user, role=Role.ADMIN, is_active=True)
    return list(memberships.values_list("practice_id", flat=True))


class AuditedAdminMixin:
    """Every add, change and delete made in the admin also goes into the audit trail (field names, not values)."""

    def _audit(self, request, action, obj, detail=None):
        audit_record(action=f"admin.{action}", actor=request.user, obj=obj, ip_address=client_ip(request),
                     practice_id=getattr(obj, "practice_id", None), detail=detail or {})

    def log_addition(self, request, obj, message):
        self._audit(request, "add", obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        changed = sorted({f for entry in message if "changed" in entry for f in entry["changed"].get("fields", [])})
        self._audit(request, "change", obj, {"fields": changed})
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, "delete", obj)
        return super().log_deletions(request, queryset)


class PracticeScopedAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A practice admin sees and edits only rows of the practices they administer; superusers see all."""

    practice_field = "practice"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.practice_field}__in": admin_practice_ids(request)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # New rows go to one of the admin's own practices, never to a practice they cannot see.
        if db_field.name == "practice" and not request.user.is_superuser:
            kwargs["queryset"] = Practice.objects.filter(pk__in=admin_practice_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    """Shown for reference: roles change on the Team page or the Membership admin (both go through services)."""

    model = Membership
    fk_name = "user"
    extra = 0
    fields = ("practice", "role", "is_active")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_active", "is_staff", "last_login")
    search_fields = ("email", "full_name")
    list_filter = ("is_active", "is_staff")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)
    # Groups and the staff flag follow the roles in Memberships (billy.services); they are not edited by hand.
    readonly_fields = ("last_login", "date_joined", "groups", "is_staff")
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if request.user.is_superuser else (*fields, "is_superuser")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(memberships__practice_id__in=admin_practice_ids(request)).distinct()


@admin.register(Practice)
class PracticeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk__in=admin_practice_ids(request))


@admin.register(Membership)
class MembershipAdmin(PracticeScopedAdmin):
    list_display = ("user", "practice", "role", "is_active", "created_at")
    list_filter = ("role", "is_active", "practice")
    search_fields = ("user__email", "user__full_name")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A practice admin picks among their own practices and their own people (new people: the Team page).
        if not request.user.is_superuser:
            practice_ids = admin_practice_ids(request)
            if db_field.name == "practice":
                kwargs["queryset"] = Practice.objects.filter(pk__in=practice_ids)
            elif db_field.name == "user":
                kwargs["queryset"] = User.objects.filter(memberships__practice_id__in=practice_ids).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Through the service, so groups, the admin-site flag and the audit trail follow the role.
        services.membership_grant(user=obj.user, practice=obj.practice, role=obj.role, by=request.user)
        if not obj.is_active:
            services.membership_revoke(membership=Membership.objects.get(user=obj.user, practice=obj.practice),
                                       by=request.user)
        obj.pk = Membership.objects.get(user=obj.user, practice=obj.practice).pk


class ReadOnlyPracticeAdmin(PracticeScopedAdmin):
    """Rows written only by the application (its services keep their invariants): the admin looks, never edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyPracticeAdmin):
    practice_field = "practice_id"
    list_display = (
        "sequence", "occurred_at", "actor_email", "role", "action", "object_type", "object_id", "ip_address",
    )
    list_filter = ("action",)
    search_fields = ("actor_email", "object_id", "action")
    ordering = ("-sequence",)


@admin.register(UserSession)
class UserSessionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "created_at", "last_seen_at", "ip_address", "user_agent")
    actions = ["end_sessions"]
    readonly_fields = ("session_key", "user", "created_at", "last_seen_at", "ip_address", "user_agent")

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        if request.user.is_superuser:
            return qs
        return qs.filter(user__memberships__practice_id__in=admin_practice_ids(request)).distinct()

    def has_add_permission(self, request):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="End the selected sessions (sign those people out now)", permissions=["delete"])
    def end_sessions(self, request, queryset):
        count = 0
        for user_session in queryset:
            services.session_end(user_session=user_session, by=request.user)
            count += 1
        self.message_user(request, f"Ended {count} session(s).", messages.SUCCESS)


@admin.register(KeyCanary)
class KeyCanaryAdmin(admin.ModelAdmin):
    list_display = ("purpose", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return request.user.is_superuser


@admin.register(Provider)
class ProviderAdmin(PracticeScopedAdmin):
    list_display = ("__str__", "practice", "taxonomy", "is_rendering", "is_billing", "is_referring", "is_active")
    list_filter = ("practice", "is_rendering", "is_billing", "is_referring", "is_active")
    search_fields = ("family_name", "given_name", "organisation_name", "npi")
    fieldsets = (
        (None, {"fields": ("practice", "entity", "is_active")}),
        ("Name", {"fields": (("given_name", "middle_name", "family_name"), "credential", "organisation_name")}),
        ("Identifiers", {"fields": ("npi", "taxonomy", ("tax_id_type", "tax_id"))}),
        ("Roles on claims", {"fields": (("is_rendering", "is_billing", "is_referring"), "user")}),
        ("Street address", {"fields": ("address_line1", "address_line2", ("city", "state", "postal_code"), "phone")}),
    )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = User.objects.filter(memberships__practice_id__in=admin_practice_ids(request),
                                                     memberships__role=Role.PHYSICIAN).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Facility)
class FacilityAdmin(PracticeScopedAdmin):
    list_display = ("name", "practice", "npi", "city", "state", "default_place_of_service", "is_active")
    list_filter = ("practice", "default_place_of_service", "is_active")
    search_fields = ("name", "npi")


@admin.register(EdiSettings)
class EdiSettingsAdmin(PracticeScopedAdmin):
    list_display = ("practice", "submitter_id", "receiver_id", "receiver_name", "usage_indicator")


@admin.register(LanguageModelStatus)
class LanguageModelStatusAdmin(admin.ModelAdmin):
    """The second reader's model on each LLM worker host: what is loaded, how, how fast, and the last error. Written
    by the worker (claims.second_reading); nothing here holds PHI. Staff read it; nobody edits it."""

    list_display = ("host", "model_name", "backend", "device", "available", "load_seconds", "loaded_at", "reads_done",
                    "reads_failed", "last_read_seconds", "last_error", "last_error_at")
    readonly_fields = [f.name for f in LanguageModelStatus._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff
