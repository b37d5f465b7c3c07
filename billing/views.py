from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from billing import fees, selectors, services
from billing.forms import FeeScheduleFilterForm, FeeScheduleImportForm
from billy.models import Role
from billy.selectors import require_membership
from billy.services import BillyError

FEE_ROLES = (Role.BILLER, Role.ADMIN)
# A refused file lists every problem; past this many the page says how many more there are.
MAX_ERRORS_SHOWN = 500


def _schedule_context(*, membership, filters: FeeScheduleFilterForm, import_form: FeeScheduleImportForm,
                      import_errors: list[fees.LineError] = ()) -> dict:
    search, include_past = "", False
    if filters.is_valid():
        search, include_past = filters.cleaned_data["q"], filters.cleaned_data["past"]
    today = timezone.localdate()
    return {
        "membership": membership,
        "today": today,
        "filters": filters,
        "entries": selectors.fee_schedule_entries(membership=membership, search=search, include_past=include_past,
                                                  today=today),
        "searching": bool(search),
        "gaps": selectors.fee_schedule_gaps(practice_id=membership.practice_id, date_of_service=today),
        "has_entries": selectors.fee_schedule_exists(practice_id=membership.practice_id),
        "import_form": import_form,
        "import_errors": list(import_errors)[:MAX_ERRORS_SHOWN],
        "import_errors_hidden": max(0, len(import_errors) - MAX_ERRORS_SHOWN),
        "header": fees.HEADER,
    }


@require_GET
def fee_schedule(request):
    """The practice's charges. Codes and charges are not PHI, so the filter is a plain GET."""
    membership = require_membership(request, *FEE_ROLES)
    context = _schedule_context(membership=membership, filters=FeeScheduleFilterForm(request.GET),
                                import_form=FeeScheduleImportForm())
    template = "billing/fees.html#entries" if request.htmx else "billing/fees.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@require_POST
def fee_schedule_import(request):
    membership = require_membership(request, *FEE_ROLES)
    form = FeeScheduleImportForm(request.POST, request.FILES)
    errors: list[fees.LineError] = []
    if form.is_valid():
        try:
            result = services.fee_schedule_import(membership=membership, csv_bytes=form.cleaned_data["file"],
                                                  replace=form.cleaned_data["replace"])
        except services.FeeScheduleImportError as exc:
            form.add_error(None, str(exc))
            errors = exc.errors
        except BillyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, result.summary())
            return redirect("fee_schedule")
    context = _schedule_context(membership=membership, filters=FeeScheduleFilterForm(), import_form=form,
                                import_errors=errors)
    return render(request, "billing/fees.html", context, status=400)


@require_GET
def fee_schedule_export(request):
    """The whole schedule, past and future charges, in the file format the import reads."""
    membership = require_membership(request, *FEE_ROLES)
    rows = selectors.fee_schedule_rows(practice_id=membership.practice_id)
    response = HttpResponse(fees.write(rows), content_type="text/csv; charset=utf-8")
    filename = f"fee-schedule-{slugify(membership.practice.name)}-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
