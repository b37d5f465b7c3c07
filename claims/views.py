"""The biller's screens: the review queue, the claim page (transcript and evidence, code editor, findings,
decisions), the CMS-1500 items, history, code search, exports and acknowledgements.

Views are thin: check who asks (404 for outsiders), parse, call one service, render. HTMX requests get the
partial they swap; every other request gets the whole page.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from billing.code_search import search_codes
from billy.models import Role
from billy.selectors import require_membership
from claims import selectors, services
from claims.evidence import pieces, spans_of
from claims.forms import ClaimItemsForm, QueueFilterForm
from claims.models import ClaimStatus, FindingOrigin
from claims.second_reading import SecondReadError, second_read_for, second_read_retry

WORKERS = (Role.BILLER, Role.ADMIN)


def _vary(response: HttpResponse) -> HttpResponse:
    response["Vary"] = "HX-Request"
    return response


# --- the queue ----------------------------------------------------------------------------------------------

def claim_queue(request):
    """GET: the queue under the filters in the query string (no PHI there: ids, dates, flags). POST: the same
    with a patient search, whose words stay out of the URL."""
    membership = require_membership(request, *WORKERS)
    form = QueueFilterForm(request.GET or None, membership=membership)
    filters = form.filters() if form.is_valid() else selectors.QueueFilters()
    patient_query = ""
    if request.method == "POST":
        patient_query = request.POST.get("patient", "").strip()
        if patient_query:
            from patients.selectors import parse_patient_query, patient_search

            query = parse_patient_query(patient_query)
            found = patient_search(membership=membership, family_name=query.family_name,
                                   given_name=query.given_name, birth_date=query.birth_date,
                                   identifier=query.identifier)
            filters = selectors.QueueFilters(**{**filters.__dict__, "patient_ids": tuple(found.values_list(
                "pk", flat=True)), "status": ""})
    if request.htmx and request.GET.get("part") == "tabs":  # the counts the page went out without
        return _vary(render(request, "claims/queue.html#tabs", _status_tabs(request, membership, filters,
                                                                           lazy=False)))
    rows, next_cursor = selectors.queue_page(membership=membership, filters=filters,
                                             cursor=request.GET.get("after", ""))
    if request.htmx and request.GET.get("after"):  # more rows for the table: the tabs are already on the page
        return _vary(render(request, "claims/queue.html#more_rows", {"rows": rows, "next_cursor": next_cursor,
                                                                    "query_without_cursor": _query_without(
                                                                        request, "after")}))
    tabs = _status_tabs(request, membership, filters, lazy=request.method != "POST")
    context = {"form": form, "rows": rows, "next_cursor": next_cursor, "filters": filters, **tabs,
               "patient_query": patient_query,
               "query_without_cursor": _query_without(request, "after")}
    return _vary(render(request, "claims/queue.html", context))


def _status_tabs(request, membership, filters, *, lazy: bool) -> dict:
    """The tabs with their counts. Counting 100 000 claims takes tens of milliseconds, so when the counts are not
    cached (a claim changed since) the page goes out without them and the tabs fetch them right after."""
    counts = selectors.cached_queue_counts(membership=membership, filters=filters)
    if counts is None and not lazy:
        counts = selectors.queue_counts(membership=membership, filters=filters)
    return {"counts": counts, "filters": filters,
            "status_tabs": [(value, label, counts[value] if counts else None) for value, label in ClaimStatus.choices],
            "counts_url": "?" + "&".join(filter(None, [_query_without(request, "after", "part"), "part=tabs"])),
            "query_without_status": _query_without(request, "status", "after", "part")}


def _query_without(request, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


# --- the claim page -----------------------------------------------------------------------------------------

def _claim_context(request, claim, membership, **extra) -> dict:
    lines = list(claim.lines.all())
    diagnoses = list(claim.diagnoses.all())
    transcript_text = ""
    transcript = getattr(claim.recording, "transcript", None) if claim.recording_id else None
    if claim.coding_id:
        transcript_text = json.loads(claim.coding.claim_json).get("transcript", "")
    elif transcript is not None:
        transcript_text = transcript.text
    spans = []
    for line in lines:
        spans += spans_of(f"L{line.position}", json.loads(line.evidence_json or "[]"))
    for dx in diagnoses:
        spans += spans_of(f"D{dx.position}", json.loads(dx.evidence_json or "[]"))
    seek = {}
    for span in spans:
        if span.audio_start_s is not None:
            seek[span.key] = min(seek.get(span.key, span.audio_start_s), span.audio_start_s)
    findings = list(claim.findings.all())
    for finding in findings:
        if finding.origin == FindingOrigin.SECOND_READER:  # both readers' words, lit in the transcript
            finding.readers = json.loads(finding.evidence_json or "[]")
            spans += spans_of(f"F{finding.pk}", finding.readers)
    return {
        "claim": claim, "lines": lines, "diagnoses": diagnoses, "findings": findings,
        "second_read": second_read_for(claim), "use_llm": settings.USE_LLM,
        "errors": [f for f in findings if f.severity == "error"],
        "pieces": pieces(transcript_text, spans), "seek": seek,
        "blockers": services.approval_blockers(claim), "editable": claim.status in services.EDITABLE,
        "may_act": membership.role in WORKERS, "signed": not any(f.rule == "NOT-SIGNED" for f in findings),
        "letters": "ABCDEFGHIJKL", **extra,
    }


def claim_detail(request, claim_id: int):
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    return _vary(render(request, "claims/detail.html", _claim_context(request, claim, membership)))


def claim_json(request, claim_id: int):
    """The claim JSON of DESIGN.md, as the claims app stores it now."""
    from claims.claim_json import stored_claim_json

    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    return JsonResponse(stored_claim_json(claim), json_dumps_params={"ensure_ascii": False})


@require_POST
def claim_codes_save(request, claim_id: int):
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    status, error, typed = 200, "", None
    try:
        edit = _edit_from_post(request.POST)
        claim = services.claim_update_codes(membership=membership, claim=claim, version=_int(request.POST, "version"),
                                            edit=edit, reason=request.POST.get("reason", ""))
    except services.ClaimError as exc:
        error, typed = str(exc), _typed_rows(request.POST)
        status = 409 if isinstance(exc, services.StaleClaim) else 400
    context = _claim_context(request, claim, membership, editor_error=error, typed=typed,
                             saved=not error)
    if request.htmx:
        return _vary(render(request, "claims/detail.html#workspace", context, status=status))
    if error:
        return _vary(render(request, "claims/detail.html", context, status=status))
    messages.success(request, "Codes saved and checked again.")
    return redirect("claim_detail", claim_id=claim.pk)


def _edit_from_post(post) -> services.ClaimEdit:
    diagnoses = tuple(code.strip() for code in post.getlist("dx") if code.strip())
    lines = []
    for cpt, units, modifiers, pointers, charge in zip(post.getlist("cpt"), post.getlist("units"),
                                                       post.getlist("modifiers"), post.getlist("pointers"),
                                                       post.getlist("charge"), strict=False):
        if not cpt.strip():
            continue
        lines.append(services.parse_line_edit(cpt=cpt, units=units, modifiers=modifiers, dx_pointers=pointers,
                                              charge=charge))
    return services.ClaimEdit(diagnoses=diagnoses, lines=tuple(lines))


def _typed_rows(post) -> dict:
    """What the biller typed, to show again when the save is refused: nothing they entered is lost."""
    rows = [{"cpt": c, "units": u, "modifiers": m, "pointers": p, "charge": ch} for c, u, m, p, ch in zip(
        post.getlist("cpt"), post.getlist("units"), post.getlist("modifiers"), post.getlist("pointers"),
        post.getlist("charge"), strict=False)]
    return {"dx": post.getlist("dx"), "lines": rows, "reason": post.get("reason", "")}


def _int(post, name: str) -> int:
    try:
        return int(post.get(name, ""))
    except ValueError:
        return -1


def _decision(request, claim_id: int, act):
    """Approve / reject / reopen / void / re-code: one service call; the queue row or the claim page again."""
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    status = 200
    try:
        claim, done = act(membership, claim)
    except services.ClaimError as exc:
        status = 409 if isinstance(exc, services.StaleClaim) else 400
        if request.htmx and request.POST.get("from") == "queue":
            claim.refresh_from_db()
            return _vary(render(request, "claims/queue.html#row", {"claim": claim, "row_error": str(exc)},
                                status=status))
        messages.error(request, str(exc))
        context = _claim_context(request, claim, membership, typed_reason=request.POST.get("reason", ""))
        return _vary(render(request, "claims/detail.html", context, status=status))
    if request.htmx and request.POST.get("from") == "queue":
        return _vary(render(request, "claims/queue.html#row", {"claim": claim, "row_message": done}))
    messages.success(request, done)
    return redirect("claim_detail", claim_id=claim.pk)


def _decision_view(service, done_message: str, **post_fields: str):
    """A POST-only view running one decision service with the page's version and the named form fields."""
    @require_POST
    def view(request, claim_id: int):
        def act(membership, claim):
            extra = {argument: request.POST.get(field, "") for argument, field in post_fields.items()}
            decided = service(membership=membership, claim=claim, version=_int(request.POST, "version"), **extra)
            return decided, done_message.format(number=decided.number)
        return _decision(request, claim_id, act)
    return view


claim_approve = _decision_view(services.claim_approve, "Claim {number} approved.", override_reason="override_reason")
claim_reject = _decision_view(services.claim_reject, "Claim {number} sent back to the physician.", reason="reason")
claim_reopen = _decision_view(services.claim_reopen, "Claim {number} is back in review.")
claim_void = _decision_view(services.claim_void, "Claim {number} is void.", reason="reason")
claim_recode = _decision_view(services.claim_recode, "Re-coded from the dictation's latest text.")


@require_POST
def claim_correct(request, claim_id: int):
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    try:
        correction = services.claim_correction_create(membership=membership, claim=claim,
                                                      frequency_code=request.POST.get("frequency", ""))
    except services.ClaimError as exc:
        messages.error(request, str(exc))
        return redirect("claim_detail", claim_id=claim.pk)
    messages.success(request, f"Correction {correction.number} created from claim {claim.number}: review it.")
    return redirect("claim_detail", claim_id=correction.pk)


@require_GET
def claim_second_read(request, claim_id: int):
    """The second reader's panel (polled while the read runs). Once it has finished, the findings and the
    transcript come along out of band, so its findings appear in place without losing the biller's typing."""
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    context = _claim_context(request, claim, membership)
    second = context["second_read"]
    context["refresh_findings"] = request.GET.get("was") == "pending" and not (second and second.pending)
    return _vary(render(request, "claims/detail.html#second_read", context))


@require_POST
def claim_second_read_retry(request, claim_id: int):
    """A biller queues the second read again (it failed, or no model was there)."""
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    try:
        second_read_retry(membership=membership, claim=claim)
    except SecondReadError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, "The second read was queued again.")
    return redirect("claim_detail", claim_id=claim.pk)


@require_POST
def claim_retry(request, claim_id: int):
    """A failed pipeline step runs again (the coding task, by id)."""
    from claims.pipeline import recording_code_enqueue

    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    if claim.recording_id and claim.status == ClaimStatus.PROCESSING:
        recording_code_enqueue(recording_id=claim.recording_id)
        messages.info(request, "The coding step was queued again.")
    return redirect("claim_detail", claim_id=claim.pk)


def claim_items(request, claim_id: int):
    """The CMS-1500 editor: claim-level items (patient and insured items are edited on the patient's page)."""
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    form = ClaimItemsForm(request.POST or None, claim=claim)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.claim_update_header(membership=membership, claim=claim,
                                             version=_int(request.POST, "version"), values=form.cleaned_data,
                                             reason=request.POST.get("reason", ""))
            except services.ClaimError as exc:
                form.add_error(None, str(exc))
                status = 409 if isinstance(exc, services.StaleClaim) else 400
            else:
                messages.success(request, "CMS-1500 items saved and checked again.")
                return redirect("claim_detail", claim_id=claim.pk)
        else:
            status = 400
    return render(request, "claims/items.html", {"claim": claim, "form": form}, status=status)


def claim_history(request, claim_id: int):
    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    return render(request, "claims/history.html", {"claim": claim,
                                                   "history": services.revision_history(claim=claim)})


@require_GET
def code_search(request):
    """Search-as-you-type for the editor: <option>s for a datalist. Codes and descriptions only: no PHI."""
    require_membership(request, *WORKERS)
    system = "icd" if request.GET.get("system") == "icd" else "cpt"
    query = request.GET.get("q") or next((v for k, v in request.GET.items() if k in ("dx", "cpt")), "")
    hits = search_codes(query, system=system, limit=15)
    return render(request, "claims/code_options.html", {"hits": hits})


# --- exports and acknowledgements ---------------------------------------------------------------------------

def claim_exports(request):
    """Approved claims ready to send (each says what it lacks, if anything) and the practice's past exports."""
    from claims import exports
    from claims.models import ClaimExport, ExportKind

    membership = require_membership(request, *WORKERS)
    status = 200
    if request.method == "POST":
        try:
            export = exports.claims_export(membership=membership, kind=request.POST.get("kind", ""),
                                           claim_ids=[int(pk) for pk in request.POST.getlist("claim")
                                                      if pk.isdigit()])
        except services.ClaimError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            messages.success(request, f"{export.get_kind_display()} #{export.pk} written with {export.claim_count} "
                                      f"claim{'s' if export.claim_count != 1 else ''}; they are marked exported.")
            return redirect("claim_exports")
    approved = list(selectors.claims_for(membership=membership).filter(status=ClaimStatus.APPROVED)
                    .select_related("patient", "payer", "coverage__payer", "billing_provider", "rendering_provider",
                                    "referring_provider", "facility").order_by("date_of_service", "pk")[:500])
    readiness = exports.export_readiness(approved)
    past = ClaimExport.objects.filter(practice_id=membership.practice_id).select_related("created_by")[:50]
    return render(request, "claims/exports.html", {
        "approved": [(claim, readiness[claim.pk]) for claim in approved], "past": past,
        "kinds": ExportKind.choices, "chosen": set(request.POST.getlist("claim"))}, status=status)


@require_GET
def claim_export_download(request, export_id: int):
    from claims import exports
    from claims.models import ClaimExport

    membership = require_membership(request, *WORKERS)
    export = ClaimExport.objects.filter(practice_id=membership.practice_id, pk=export_id).first()
    if export is None:
        from django.http import Http404

        raise Http404
    try:
        content = exports.export_content(export=export)
    except services.ClaimError as exc:
        messages.error(request, str(exc))
        return redirect("claim_exports")
    from billy.audit import audit_record

    audit_record(action="claims.export_download", actor=request.user, role=membership.role,
                 practice_id=membership.practice_id, obj=export)
    types = {"837p": "application/edi-x12", "pdf": "application/pdf", "json": "application/x-ndjson"}
    response = HttpResponse(content, content_type=types[export.kind])
    response["Content-Disposition"] = f'attachment; filename="{export.download_name}"'
    return response


@require_GET
def claim_pdf(request, claim_id: int):
    """The claim as a CMS-1500 to look at or print (not an export: the claim's status does not change)."""
    from claims.cms1500_pdf import render_cms1500
    from claims.documents import claim_document

    membership = require_membership(request, *WORKERS)
    claim = selectors.claim_get(membership=membership, claim_id=claim_id)
    form_image = request.GET.get("form") != "data"
    try:
        content = render_cms1500([claim_document(claim)], form_image=form_image)
    except ValueError as exc:
        messages.error(request, f"The CMS-1500 could not be drawn: {exc}")
        return redirect("claim_detail", claim_id=claim.pk)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="cms1500-{claim.number}.pdf"'
    return response


def claim_acks(request):
    """Import a 999 or 277CA from the clearinghouse; list what earlier files said."""
    from claims.acks import MAX_ACK_BYTES, acknowledgement_import
    from claims.models import Acknowledgement

    membership = require_membership(request, *WORKERS)
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise services.ClaimError("Choose a 999 or 277CA file.")
            if upload.size > MAX_ACK_BYTES:
                raise services.ClaimError("The file is larger than 20 MB: it is not an acknowledgement file.")
            ack = acknowledgement_import(membership=membership, content=upload.read())
        except services.ClaimError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            messages.success(request, ack.summary)
            return redirect("claim_acks")
    acks = Acknowledgement.objects.filter(practice_id=membership.practice_id).select_related("imported_by")[:50]
    return render(request, "claims/acks.html", {"acks": acks}, status=status)
