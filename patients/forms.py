from django import forms

from patients.models import CoverageOrder, Relationship, Sex
from patients.selectors import PatientQuery, parse_patient_query
from patients.services import CoverageInput, Demographics

DATE_INPUT = forms.DateInput(attrs={"type": "date"})


class PatientSearchForm(forms.Form):
    """One box, the way billers type from a face sheet: "Smith, J, 1956-03-02", or an MRN or member id."""

    q = forms.CharField(max_length=200, label="Patient", widget=forms.TextInput(attrs={
        "placeholder": "Smith, J, 1956-03-02  ·  or MRN  ·  or member id", "autofocus": True, "autocomplete": "off",
        "spellcheck": "false"}))

    def clean(self) -> dict:
        data = super().clean()
        query = parse_patient_query(data.get("q", ""))
        if not query.is_complete:
            if query.family_name and not query.birth_date:
                raise forms.ValidationError("Add the birth date: search by family name, first initial and birth "
                                            "date (Smith, J, 1956-03-02), or by MRN or member id.")
            raise forms.ValidationError("Search by family name, first initial and birth date (Smith, J, 1956-03-02), "
                                        "or by MRN or member id.")
        data["query"] = query
        return data

    @property
    def query(self) -> PatientQuery:
        return self.cleaned_data["query"]


class PatientForm(forms.Form):
    family_name = forms.CharField(max_length=100)
    given_name = forms.CharField(max_length=100)
    middle_name = forms.CharField(max_length=100, required=False)
    birth_date = forms.DateField(widget=DATE_INPUT)
    sex = forms.ChoiceField(choices=Sex.choices)
    mrn = forms.CharField(required=False, max_length=64, label="MRN")
    address_line1 = forms.CharField(required=False, max_length=200, label="Address")
    address_line2 = forms.CharField(required=False, max_length=200, label="Address (line 2)")
    city = forms.CharField(required=False, max_length=100)
    state = forms.CharField(required=False, max_length=2, widget=forms.TextInput(attrs={"size": 3}))
    postal_code = forms.CharField(required=False, max_length=10, label="ZIP code")
    phone = forms.CharField(required=False, max_length=20)
    allow_duplicate = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def demographics(self) -> Demographics:
        data = {k: v for k, v in self.cleaned_data.items() if k != "allow_duplicate"}
        return Demographics(**data)

    @classmethod
    def for_patient(cls, patient, data=None) -> "PatientForm":
        initial = {name: getattr(patient, name) or "" for name in cls.base_fields if name != "allow_duplicate"}
        return cls(data, initial=initial)


class CoverageForm(forms.Form):
    payer = forms.TypedChoiceField(coerce=int, label="Payer")
    order = forms.TypedChoiceField(choices=CoverageOrder.choices, coerce=int, initial=CoverageOrder.PRIMARY)
    member_id = forms.CharField(required=False, max_length=80, label="Member id")
    group_number = forms.CharField(required=False, max_length=50, label="Group number")
    plan_name = forms.CharField(required=False, max_length=100, label="Plan")
    effective_from = forms.DateField(widget=DATE_INPUT, label="In force from")
    effective_to = forms.DateField(widget=DATE_INPUT, required=False, label="Until (blank: no end date)")
    relationship = forms.ChoiceField(choices=Relationship.choices, initial=Relationship.SELF,
                                     label="Patient is the subscriber's")
    subscriber_family_name = forms.CharField(required=False, max_length=100, label="Subscriber family name")
    subscriber_given_name = forms.CharField(required=False, max_length=100, label="Subscriber given name")
    subscriber_birth_date = forms.DateField(required=False, widget=DATE_INPUT, label="Subscriber birth date")
    subscriber_sex = forms.ChoiceField(required=False, choices=[("", "—"), *Sex.choices], label="Subscriber sex")
    subscriber_address_line1 = forms.CharField(required=False, max_length=200, label="Subscriber address")
    subscriber_city = forms.CharField(required=False, max_length=100, label="Subscriber city")
    subscriber_state = forms.CharField(required=False, max_length=2, label="Subscriber state")
    subscriber_postal_code = forms.CharField(required=False, max_length=10, label="Subscriber ZIP code")

    def __init__(self, *args, payers, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["payer"].choices = [("", "Choose a payer")] + [(p.pk, str(p)) for p in payers]

    def coverage_input(self) -> CoverageInput:
        data = dict(self.cleaned_data)
        data["payer_id"] = data.pop("payer")
        return CoverageInput(**{k: ("" if v is None and k not in ("effective_to", "subscriber_birth_date") else v)
                                for k, v in data.items()})

    @classmethod
    def for_coverage(cls, coverage, *, payers, data=None) -> "CoverageForm":
        initial = {name: getattr(coverage, name) for name in cls.base_fields if name != "payer"}
        initial = {k: ("" if v is None and k not in ("effective_to", "subscriber_birth_date") else v)
                   for k, v in initial.items()}
        initial["payer"] = coverage.payer_id
        return cls(data, initial=initial, payers=payers)


class CoverageEndForm(forms.Form):
    last_day = forms.DateField(widget=DATE_INPUT, label="Last day in force")
