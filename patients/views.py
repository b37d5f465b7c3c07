import datetime as dt

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from billy.middleware import client_ip
from billy.models import Role
from billy.selectors import require_membership
from billy.services import BillyError
from integrations.errors import EMRError
from patients import emr, selectors, services
from patients.forms import CoverageEndForm, CoverageForm, PatientForm, PatientSearchForm

ANY_ROLE = (Role.PHYSICIAN, Role.BILLER, Role.ADMIN)
EDITORS = (Role.BILLER, Role.ADMIN)


@require_http_methods(["GET", "POST"])
def patient_search(request):
    """Search is a POST: names and birth dates never ride in a URL (logs, history, referrers). Local patients
    first; the practice's EMR when nothing local matches or when asked (`emr`), its answers cached in Redis."""
    membership = require_membership(request, *ANY_ROLE)
    form = PatientSearchForm(request.POST or None)
    connection = emr.connection_for(membership=membership)
    results, found, rows = None, None, []
    if request.method == "POST" and form.is_valid():
        query = form.query
        results = list(selectors.patient_search(membership=membership, family_name=query.family_name,
                                                given_name=query.given_name, birth_date=query.birth_date,
                                                identifier=query.identifier)[:50])
        if connection and (not results or request.POST.get("emr")):
            found = emr.emr_search(connection=connection, query=query)
            imported = emr.imported(connection=connection, records=found.records)
            rows = [(record, imported.get(record.emr_id)) for record in found.records]
        shown = len(results) + (len(found.records) if found else 0)
        services.patient_search_record(membership=membership, result_count=shown, ip_address=client_ip(request))
    template = "patients/search.html#results" if request.htmx else "patients/search.html"
    response = render(request, template, {"form": form, "results": results, "connection": connection,
                                          "emr": found, "emr_rows": rows})
    response["Vary"] = "HX-Request"
    return response


@require_POST
def patient_emr_import(request):
    """A patient of the practice's EMR, with its coverage, into IamBilly (or brought up to date)."""
    membership = require_membership(request, *ANY_ROLE)
    connection = emr.connection_for(membership=membership)
    emr_id = request.POST.get("emr_id", "").strip()
    if connection is None or str(connection.pk) != request.POST.get("connection") or not 0 < len(emr_id) <= 200:
        raise Http404
    try:
        result = emr.patient_import(membership=membership, connection=connection, emr_id=emr_id,
                                    ip_address=client_ip(request))
    except (EMRError, BillyError) as error:
        messages.error(request, f"The patient was not imported from {connection.name}: {error}")
        return _redirect(request, reverse("patient_search"))
    added = result.coverages_added + result.coverages_updated
    coverage_words = f"{added} coverage{'s' if added != 1 else ''}" if added else "no coverage"
    verb = "Imported" if result.created else "Updated"
    messages.success(request, f"{verb} from {connection.name}, with {coverage_words}.")
    for reason in result.left_out:
        messages.warning(request, reason)
    return _redirect(request, reverse("patient_detail", args=[result.patient.pk]))


def _redirect(request, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _duplicate_context(form: PatientForm, exc: services.DuplicatePatient) -> dict:
    form.add_error(None, str(exc))
    return {"duplicate_of": exc.existing_id, "duplicate_overridable": exc.overridable}


@require_http_methods(["GET", "POST"])
def patient_new(request):
    membership = require_membership(request, *EDITORS)
    form = PatientForm(request.POST or None)
    context = {}
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(membership=membership, **form.demographics().__dict__,
                                              allow_duplicate=form.cleaned_data["allow_duplicate"])
        except services.DuplicatePatient as exc:
            context = _duplicate_context(form, exc)
        except BillyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Patient added. Add their coverage next.")
            return redirect("patient_detail", patient_id=patient.pk)
    return render(request, "patients/new.html", {"form": form, **context})


def patient_detail(request, patient_id: int):
    membership = require_membership(request, *ANY_ROLE)
    patient = selectors.patient_get(membership=membership, patient_id=patient_id)
    services.patient_record_view(membership=membership, patient=patient, ip_address=client_ip(request))
    today = dt.date.today()
    coverages = list(selectors.coverages_of(patient=patient))
    in_force = {c.pk for c in selectors.coverage_in_force(patient=patient, date_of_service=today).in_order()}
    return render(request, "patients/detail.html", {
        "patient": patient, "coverages": coverages, "in_force": in_force, "today": today,
        "can_edit": membership.role in EDITORS,
    })


@require_http_methods(["GET", "POST"])
def patient_edit(request, patient_id: int):
    membership = require_membership(request, *EDITORS)
    patient = selectors.patient_get(membership=membership, patient_id=patient_id)
    form = PatientForm.for_patient(patient, request.POST or None)
    context = {}
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(membership=membership, patient=patient, person=form.demographics(),
                                    allow_duplicate=form.cleaned_data["allow_duplicate"])
        except services.DuplicatePatient as exc:
            context = _duplicate_context(form, exc)
        except BillyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Patient details saved.")
            return redirect("patient_detail", patient_id=patient.pk)
    else:
        services.patient_record_view(membership=membership, patient=patient, ip_address=client_ip(request))
    return render(request, "patients/edit.html", {"form": form, "patient": patient, **context})


@require_http_methods(["GET", "POST"])
def coverage_new(request, patient_id: int):
    """The coverage form, inline on the patient page (HTMX) or on its own page without JavaScript."""
    membership = require_membership(request, *EDITORS)
    patient = selectors.patient_get(membership=membership, patient_id=patient_id)
    form = CoverageForm(request.POST or None, payers=selectors.payers_for(membership=membership))
    if request.method == "POST" and form.is_valid():
        try:
            services.coverage_add(membership=membership, patient=patient, data=form.coverage_input())
        except BillyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Coverage added.")
            return _back_to_patient(request, patient.pk)
    return _coverage_form(request, form, patient=patient, coverage=None)


@require_http_methods(["GET", "POST"])
def coverage_edit(request, coverage_id: int):
    membership = require_membership(request, *EDITORS)
    coverage = selectors.coverage_get(membership=membership, coverage_id=coverage_id)
    form = CoverageForm.for_coverage(coverage, payers=selectors.payers_for(membership=membership, active_only=False),
                                     data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.coverage_update(membership=membership, coverage=coverage, data=form.coverage_input())
        except BillyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Coverage saved.")
            return _back_to_patient(request, coverage.patient_id)
    return _coverage_form(request, form, patient=coverage.patient, coverage=coverage)


@require_POST
def coverage_end(request, coverage_id: int):
    membership = require_membership(request, *EDITORS)
    coverage = selectors.coverage_get(membership=membership, coverage_id=coverage_id)
    form = CoverageEndForm(request.POST)
    if form.is_valid():
        try:
            services.coverage_end(membership=membership, coverage=coverage, last_day=form.cleaned_data["last_day"])
        except BillyError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Coverage with {coverage.payer.name} ends on {coverage.effective_to:%Y-%m-%d}.")
    else:
        messages.error(request, "Give the last day the coverage is in force.")
    return _back_to_patient(request, coverage.patient_id)


def _coverage_form(request, form, *, patient, coverage):
    template = "patients/coverage_form.html#form" if request.htmx else "patients/coverage_form.html"
    response = render(request, template, {"form": form, "patient": patient, "coverage": coverage})
    response["Vary"] = "HX-Request"
    return response


def _back_to_patient(request, patient_id: int):
    if request.htmx:  # a full page load, so the coverage table and the messages both refresh
        return HttpResponseClientRedirect(reverse("patient_detail", kwargs={"patient_id": patient_id}))
    return redirect("patient_detail", patient_id=patient_id)
