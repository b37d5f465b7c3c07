"""Forms of the claims screens: the queue's filters (query string: ids, dates and flags only) and the CMS-1500
claim-level items."""

from __future__ import annotations

from django import forms

from billy.models import Membership, PlaceOfService, Role
from billy.selectors import facilities_for, providers_for
from claims.models import Claim, ClaimStatus
from claims.selectors import SORTS, QueueFilters


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "All")] + list(ClaimStatus.choices))
    physician = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    payer = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    dos_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    dos_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    has_errors = forms.BooleanField(required=False, label="Has errors")
    low_confidence = forms.BooleanField(required=False, label="Low confidence")
    sort = forms.ChoiceField(required=False, choices=[("-dos", "Newest date of service"),
                                                      ("dos", "Oldest date of service"),
                                                      ("-charge", "Highest charge"),
                                                      ("confidence", "Lowest confidence")])

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        from patients.selectors import payers_for

        physicians = Membership.objects.filter(practice_id=membership.practice_id, role=Role.PHYSICIAN,
                                               is_active=True).select_related("user")
        self.fields["physician"].choices = [("", "Any physician")] + [(m.user_id, str(m.user)) for m in physicians]
        self.fields["payer"].choices = [("", "Any payer")] + [(p.pk, p.name) for p in
                                                              payers_for(membership=membership)]

    def filters(self) -> QueueFilters:
        data = self.cleaned_data
        status = data.get("status")
        if "status" not in self.data:
            status = ClaimStatus.NEEDS_REVIEW
        return QueueFilters(status=status or "", physician_id=data.get("physician"), payer_id=data.get("payer"),
                            dos_from=data.get("dos_from"), dos_to=data.get("dos_to"),
                            has_errors=bool(data.get("has_errors")), low_confidence=bool(data.get("low_confidence")),
                            sort=data.get("sort") if data.get("sort") in SORTS else "-dos")


class ClaimItemsForm(forms.Form):
    """CMS-1500 items a biller sets on the claim itself. Shapes are checked here, meaning in the service."""

    place_of_service = forms.ChoiceField(label="24B Place of service", choices=PlaceOfService.choices)
    coverage = forms.TypedChoiceField(label="1a / 11 Coverage (payer and insured)", coerce=int, required=False,
                                      empty_value=None)
    billing_provider = forms.TypedChoiceField(label="33 Billing provider", coerce=int, required=False,
                                              empty_value=None)
    rendering_provider = forms.TypedChoiceField(label="24J Rendering provider", coerce=int, required=False,
                                                empty_value=None)
    referring_provider = forms.TypedChoiceField(label="17 Referring provider", coerce=int, required=False,
                                                empty_value=None)
    facility = forms.TypedChoiceField(label="32 Service facility", coerce=int, required=False, empty_value=None)
    prior_authorization = forms.CharField(label="23 Prior authorization number", max_length=50, required=False)
    related_to_employment = forms.BooleanField(label="10a Related to employment", required=False)
    related_to_auto_accident = forms.BooleanField(label="10b Auto accident", required=False)
    auto_accident_state = forms.RegexField(label="10b State", regex=r"^[A-Za-z]{2}$", required=False, max_length=2,
                                           error_messages={"invalid": "Two letters, e.g. OH."})
    related_to_other_accident = forms.BooleanField(label="10c Other accident", required=False)
    accident_date = forms.DateField(label="Accident date", required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}))
    onset_date = forms.DateField(label="14 Date of current illness", required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}))
    additional_information = forms.CharField(label="19 Additional claim information", max_length=80, required=False)
    amount_paid = forms.DecimalField(label="29 Amount paid", max_digits=9, decimal_places=2, min_value=0,
                                     required=False)
    accept_assignment = forms.BooleanField(label="27 Accept assignment", required=False)
    payer_claim_number = forms.CharField(label="22 Original reference number (payer's claim number)", max_length=50,
                                         required=False)

    def __init__(self, *args, claim: Claim, **kwargs):
        initial = {name: getattr(claim, name) for name in (
            "place_of_service", "prior_authorization", "related_to_employment", "related_to_auto_accident",
            "auto_accident_state", "related_to_other_accident", "accident_date", "onset_date",
            "additional_information", "amount_paid", "accept_assignment", "payer_claim_number")}
        initial.update({name: getattr(claim, f"{name}_id") for name in (
            "coverage", "billing_provider", "rendering_provider", "referring_provider", "facility")})
        super().__init__(*args, initial=initial, **kwargs)
        providers = list(providers_for(practice_id=claim.practice_id))
        none = [("", "—")]
        self.fields["billing_provider"].choices = none + [(p.pk, str(p)) for p in providers if p.is_billing or
                                                          p.is_rendering]
        self.fields["rendering_provider"].choices = none + [(p.pk, str(p)) for p in providers if p.is_rendering]
        self.fields["referring_provider"].choices = none + [(p.pk, str(p)) for p in providers]
        self.fields["facility"].choices = none + [(f.pk, f.name) for f in facilities_for(practice_id=claim.practice_id)]
        self.fields["coverage"].choices = none + [
            (c.pk, f"{c.get_order_display()}: {c.payer.name}") for c in claim.patient.coverages.select_related("payer")]
        if not claim.is_correction:
            del self.fields["payer_claim_number"]

    def clean_auto_accident_state(self):
        return (self.cleaned_data.get("auto_accident_state") or "").upper()
