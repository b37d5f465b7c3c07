"""The policy document a finding cites, opened at its passage, for the billers and admins of any practice."""

from __future__ import annotations

from itertools import groupby

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from billing.policy_models import PolicyDocument, PolicyStatus
from billing.policy_services import policy_series_q
from billy.models import Role
from billy.selectors import require_membership

POLICY_ROLES = (Role.BILLER, Role.ADMIN)


@require_GET
def policy_document(request, document_id: int):
    """The document by section; `?chunk=<id>` (or `#chunk-<ordinal>`) marks the cited passage and scrolls to it.

    Policies are public documents shared by every practice, but still only for billers and admins: a physician
    or someone with no membership gets 404, like every other page.
    """
    require_membership(request, *POLICY_ROLES)
    document = get_object_or_404(PolicyDocument.objects.select_related("superseded_by"), pk=document_id,
                                 status=PolicyStatus.READY)
    chunks = list(document.chunks.defer("embedding").order_by("ordinal"))
    cited_id = request.GET.get("chunk", "")
    cited = next((c for c in chunks if cited_id.isdigit() and c.pk == int(cited_id)), None)
    sections = [(title, list(items)) for title, items in groupby(chunks, key=lambda c: c.section)]
    versions = PolicyDocument.objects.filter(policy_series_q(document)).only(
        "pk", "version", "status", "is_current", "uploaded_at").order_by("-version")
    return render(request, "billing/policy_document.html", {
        "document": document, "sections": sections, "cited": cited, "versions": versions,
        "current": versions.filter(is_current=True).first(),
    })
