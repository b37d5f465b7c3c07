"""The policy library in the Django admin: upload a document (or its next version), watch it process, read its
passages, and search the library as the scrubber will.

Policy documents are public and shared by every practice, so any practice admin (and a superuser) manages them;
versions are never deleted, so findings that cited an old version can still open it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from billing import policy_library
from billing.models import PAYER_SCOPES
from billing.policy_models import PolicyChunk, PolicyDocument, PolicyKind, PolicyStatus
from billing.policy_services import PolicyDetails, policy_document_retry, policy_document_upload
from billy.admin import AuditedAdminMixin, admin_practice_ids
from billy.services import BillyError


def _may_manage(request) -> bool:
    return request.user.is_active and (request.user.is_superuser or bool(admin_practice_ids(request)))


class PolicyUploadForm(forms.Form):
    file = forms.FileField(help_text="PDF with a text layer, HTML, text or markdown; up to "
                                     f"{policy_library.MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    title = forms.CharField(max_length=300, required=False,
                            help_text="Empty: the file's front matter or first heading.")
    identifier = forms.CharField(max_length=40, required=False,
                                 help_text="L33906, A56651 …: a document with the identifier of one already in the "
                                           "library becomes its next version (the old one is kept).")
    kind = forms.ChoiceField(choices=[("", "From the file, else Other"), *PolicyKind.choices], required=False)
    payer_type = forms.ChoiceField(choices=PAYER_SCOPES, required=False)
    payer_ids = forms.CharField(max_length=300, required=False, label="EDI payer ids",
                                help_text="Space separated; empty: every payer of the payer type.")
    source_url = forms.URLField(max_length=500, required=False)
    effective_date = forms.DateField(required=False, help_text="YYYY-MM-DD")

    def details(self) -> PolicyDetails:
        data = self.cleaned_data
        return PolicyDetails(title=data["title"], kind=data["kind"], identifier=data["identifier"],
                             payer_type=data["payer_type"], payer_ids=data["payer_ids"],
                             source_url=data["source_url"], effective_date=data["effective_date"])


class PolicySearchForm(forms.Form):
    q = forms.CharField(label="Question", max_length=500, required=False,
                        widget=forms.TextInput(attrs={"size": 80, "autofocus": True,
                                                      "placeholder": "how many times a year can I get a back shot"}))
    k = forms.IntegerField(label="Passages", min_value=1, max_value=20, initial=5, required=False)


class PolicyChunkInline(admin.TabularInline):
    model = PolicyChunk
    fields = ("ordinal", "section", "passage", "char_start", "char_end")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding")

    @admin.display(description="Passage")
    def passage(self, obj):
        return obj.text

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return _may_manage(request)


@admin.register(PolicyDocument)
class PolicyDocumentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("title", "identifier", "kind", "version", "status", "is_current", "chunk_count",
                    "payer_type", "uploaded_at")
    list_filter = ("status", "is_current", "kind", "payer_type")
    search_fields = ("title", "identifier")
    ordering = ("identifier", "title", "-version")
    inlines = [PolicyChunkInline]
    actions = ["process_again"]
    fieldsets = (
        (None, {"fields": ("title", "kind", "identifier", ("payer_type", "payer_ids"), "source_url",
                           "effective_date")}),
        ("Version", {"fields": ("version", "supersedes", "is_current", "status", "status_message", "attempts",
                                "processed_at", "open_link")}),
        ("File", {"fields": ("original_filename", "file_format", "size_bytes", "sha256", "uploaded_by",
                             "uploaded_at")}),
    )
    readonly_fields = ("identifier", "version", "supersedes", "is_current", "status", "status_message", "attempts",
                       "processed_at", "open_link", "original_filename", "file_format", "size_bytes", "sha256",
                       "uploaded_by", "uploaded_at")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("text").annotate(_chunks=Count("chunks"))

    @admin.display(description="Passages", ordering="_chunks")
    def chunk_count(self, obj):
        return obj._chunks

    @admin.display(description="Read it")
    def open_link(self, obj):
        if obj.pk and obj.status == PolicyStatus.READY:
            return format_html('<a href="{}">Open the document as billers see it</a>',
                               reverse("policy_document", args=[obj.pk]))
        return "—"

    # Shared by every practice: any practice admin manages the library; versions are kept, never deleted.
    def has_module_permission(self, request):
        return _may_manage(request)

    def has_view_permission(self, request, obj=None):
        return _may_manage(request)

    def has_add_permission(self, request):
        return _may_manage(request)

    def has_change_permission(self, request, obj=None):
        return _may_manage(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        own = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="billing_policydocument_upload"),
            path("search/", self.admin_site.admin_view(self.search_view), name="billing_policydocument_search"),
        ]
        return own + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:billing_policydocument_upload")

    def upload_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = PolicyUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                document = policy_document_upload(filename=upload.name, data=upload.read(), details=form.details(),
                                                  uploaded_by=request.user)
            except BillyError as exc:
                form.add_error("file", str(exc))
            else:
                self.message_user(request, f"{document} was uploaded and is being indexed; its status changes to "
                                           "Ready in a moment.", messages.SUCCESS)
                return redirect("admin:billing_policydocument_change", document.pk)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": "Upload a policy document"}
        return TemplateResponse(request, "admin/billing/policy_upload.html", context,
                                status=400 if form.is_bound and form.errors else 200)

    def search_view(self, request):
        if not self.has_view_permission(request):
            return redirect("admin:index")
        # Policy questions are not PHI (the form says so): a GET, so a search can be bookmarked and shared.
        form = PolicySearchForm(request.GET or None)
        passages = []
        if form.is_valid() and form.cleaned_data["q"]:
            passages = policy_library.search(form.cleaned_data["q"], k=form.cleaned_data["k"] or 5)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "passages": passages, "title": "Search the policy library",
                   "added": policy_library.expansions(form.cleaned_data["q"]) if form.is_valid() else []}
        return TemplateResponse(request, "admin/billing/policy_search.html", context)

    @admin.action(description="Process the selected failed documents again")
    def process_again(self, request, queryset):
        done = 0
        for document in queryset.filter(status=PolicyStatus.FAILED):
            policy_document_retry(document=document, by=request.user)
            done += 1
        self.message_user(request, f"Queued {done} document(s) again." if done else
                          "Only failed documents can be processed again.",
                          messages.SUCCESS if done else messages.WARNING)
