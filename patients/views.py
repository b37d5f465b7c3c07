from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billy.middleware import client_ip
from billy.models import Role
from billy.selectors import require_membership
from billy.services import BillyError
from patients import selectors, services
from patients.forms import PatientForm, PatientSearchForm

ANY_ROLE = (Role.PHYSICIAN, Role.BILLER, Role.ADMIN)


@require_http_methods(["GET", "POST"])
def patient_search(request):
    """Search is a POST: names and birth dates never ride in a URL (logs, history, referrers)."""
    membership = require_membership(request, *ANY_ROLE)
    form = PatientSearchForm(request.POST or None)
    results = None
    if request.method == "POST" and form.is_valid():
        results = list(selectors.patient_search(membership=membership, **form.cleaned_data)[:50])
        services.patient_search_record(membership=membership, result_count=len(results),
                                       ip_address=client_ip(request))
    template = "patients/search.html#results" if request.htmx else "patients/search.html"
    response = render(request, template, {"form": form, "results": results})
    response["Vary"] = "HX-Request"
    return response


@require_http_methods(["GET", "POST"])
def patient_new(request):
    membership = require_membership(request, Role.BILLER, Role.ADMIN)
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(membership=membership, **form.cleaned_data)
        except BillyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Patient added.")
            return redirect("patient_detail", patient_id=patient.pk)
    return render(request, "patients/new.html", {"form": form})


def patient_detail(request, patient_id: int):
    membership = require_membership(request, *ANY_ROLE)
    patient = selectors.patient_get(membership=membership, patient_id=patient_id)
    services.patient_record_view(membership=membership, patient=patient, ip_address=client_ip(request))
    return render(request, "patients/detail.html", {"patient": patient})
